/* GCC vector types and the helpers on them that rows.h (softmax family) and
 * norm.h (normalization statistics) share, with the clone and inline macros
 * of both.
 *
 * Why explicit vectors: gcc vectorizes neither floating-point reductions
 * nor the exp without -ffast-math, whose -ffinite-math-only would break the
 * -inf and NaN semantics the kernels promise.  The build stays portable: the
 * kernels are compiled twice (target_clones: x86-64-v3 = AVX2+FMA, and the
 * baseline, where gcc lowers the same vectors to SSE2) and the loader picks
 * one per CPU.
 *
 * Every function returning a vector here and in the headers that use these
 * types is static and inlined: no vector crosses a call between differently
 * built code, so the ABI gcc warns about (-Wpsabi, off in setup.py) is
 * never used. */
#ifndef FASTACT_VEC_H
#define FASTACT_VEC_H

#include <stdint.h>

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && __GNUC__ >= 12 \
    && !defined(FASTACT_NO_CLONES)
#define FA_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define FA_CLONES
#endif
/* helpers must be inlined into each clone to be compiled for its target;
 * the bodies take flags (dtype, mode) that are constants after inlining, so
 * each combination gets its own loop */
#if defined(__GNUC__)
#define FA_INLINE static inline __attribute__((always_inline))
#else
#define FA_INLINE static inline
#endif

typedef double v4d __attribute__((vector_size(32)));
typedef int64_t v4i __attribute__((vector_size(32)));
typedef float v4f __attribute__((vector_size(16)));
typedef float v8f __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));

FA_INLINE v4d fa_splat(double v) { return (v4d){v, v, v, v}; }
FA_INLINE v4d fa_select(v4i mask, v4d a, v4d b)      /* mask ? a : b, lanewise */
{
    return (v4d)((mask & (v4i)a) | (~mask & (v4i)b));
}

FA_INLINE v8f fa_splat8(float v) { return (v8f){v, v, v, v, v, v, v, v}; }
FA_INLINE v8f fa_select8(v8i mask, v8f a, v8f b)
{
    return (v8f)((mask & (v8i)a) | (~mask & (v8i)b));
}

#endif
