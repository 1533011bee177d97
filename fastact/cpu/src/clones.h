/* Compiles the header named by FA_BODY once per instruction-set path, each
 * copy's names suffixed by FA_SFX (vec.h), with FA_NF float lanes per
 * vector for the bodies written on vectors of that width.  No include
 * guard: every kernel header includes it once with its own FA_BODY.
 *
 * x86-64 gcc: avx512 (x86-64-v4; gcc tunes it for 256-bit vectors unless
 * told otherwise, and the kernels are arithmetic chains with no
 * frequency-licence cost worth halving the lanes for), avx2 (x86-64-v3:
 * AVX2 + FMA) and baseline (the build's default target, SSE2).  Helpers
 * outside the body are always inlined into each copy, so they too are
 * compiled for its target.  Elsewhere: one plain copy. */
#ifndef FA_BODY
#error "clones.h: define FA_BODY (the header to compile per path) first"
#endif

#if FA_HAVE_CLONES
#pragma GCC push_options
#pragma GCC target("arch=x86-64-v4,prefer-vector-width=512")
#define FA_PATH avx512
#define FA_NF 16
#include FA_BODY
#undef FA_PATH
#undef FA_NF
#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("arch=x86-64-v3")
#define FA_PATH avx2
#define FA_NF 8
#include FA_BODY
#undef FA_PATH
#undef FA_NF
#pragma GCC pop_options

#define FA_PATH baseline
#define FA_NF 8
#include FA_BODY
#undef FA_PATH
#undef FA_NF
#else
#define FA_PATH plain
#define FA_NF 8
#include FA_BODY
#undef FA_PATH
#undef FA_NF
#endif

#undef FA_BODY
