/* GCC vector types and the helpers on them that rows.h (softmax family) and
 * norm.h (normalization statistics) share, the inline macro, and the
 * per-path clones' names and dispatch (clones.h compiles a body once per
 * instruction-set path; see there).
 *
 * Why explicit vectors: gcc vectorizes neither floating-point reductions
 * nor the exp without -ffast-math, whose -ffinite-math-only would break the
 * -inf and NaN semantics the kernels promise.
 *
 * Every function returning a vector here and in the headers that use these
 * types is static and inlined: no vector crosses a call between differently
 * built code, so the ABI gcc warns about (-Wpsabi, off in setup.py) is
 * never used. */
#ifndef FASTACT_VEC_H
#define FASTACT_VEC_H

#include <stdint.h>

/* x86-64 gcc builds every kernel body three times (clones.h): avx512
 * (x86-64-v4, 512-bit vectors), avx2 (x86-64-v3) and baseline (SSE2), and
 * calls the one fa_set_isa chose.  Not target_clones: its resolver picks by
 * CPU alone, and a path must be forceable (FASTACT_ISA, cpu/isa.py) for
 * tests and users.  Other compilers and architectures build one plain copy
 * with the compiler's default target. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && __GNUC__ >= 12 \
    && !defined(FASTACT_NO_CLONES)
#define FA_HAVE_CLONES 1
#else
#define FA_HAVE_CLONES 0
#endif
/* NAME with the suffix of the path being compiled (FA_PATH, set by clones.h) */
#define FA_CAT_(a, b) a##_##b
#define FA_CAT(a, b) FA_CAT_(a, b)
#define FA_SFX(name) FA_CAT(name, FA_PATH)
/* a path's entry point: kept out of line (the dispatcher calls it; gcc
 * could not inline it into a caller of another target anyway) and
 * unspecialized, so that it keeps its name for the objdump test */
#if defined(__GNUC__) && !defined(__clang__)
#define FA_ENTRY static __attribute__((noinline, noclone))
#else
#define FA_ENTRY static
#endif

/* The path this translation unit dispatches to: 2 avx512, 1 avx2, 0
 * baseline; -1 where only the plain copy was built.  Each extension sets
 * it once at import from cpu/isa.py's choice. */
static int fa_isa = FA_HAVE_CLONES ? 0 : -1;

static inline void fa_set_isa(int level)
{
#if FA_HAVE_CLONES
    /* isa.py never asks for a path the CPU lacks; this keeps a wrong call
     * from ending in SIGILL */
    __builtin_cpu_init();
    if (level >= 2 && !__builtin_cpu_supports("x86-64-v4")) level = 1;
    if (level >= 1 && !__builtin_cpu_supports("x86-64-v3")) level = 0;
    fa_isa = level < 0 ? 0 : level;
#else
    (void)level;
#endif
}
static inline int fa_isa_level(void) { return fa_isa; }

/* void NAME PARAMS: calls the clone of the chosen path with ARGS */
#if FA_HAVE_CLONES
#define FA_DISPATCH(NAME, PARAMS, ARGS)                                    \
    static void NAME PARAMS                                               \
    {                                                                     \
        if (fa_isa == 2) NAME##_avx512 ARGS;                              \
        else if (fa_isa == 1) NAME##_avx2 ARGS;                           \
        else NAME##_baseline ARGS;                                        \
    }
#else
#define FA_DISPATCH(NAME, PARAMS, ARGS) static void NAME PARAMS { NAME##_plain ARGS; }
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
