# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False
"""Loops behind fastact.preprocessing: per-slice statistics (min/max, moments,
p-norms), their merges, and the affine transform that applies them.

Layout: the Python layer hands over C-contiguous (outer, n, inner) blocks,
the reduced axes (length n) between `outer` and `inner`, so every axis is
reduced without a transposed copy:

* inner == 1: each slice is a contiguous run, cut into chunks of
  FN_CHUNK_BYTES; a chunk is read as rows of FN_LANES elements, so its
  FN_LANES lanes are independent accumulators (what vectorizes) merged at
  the end of the chunk;
* inner > 1: a task takes a block of up to FN_COLS columns and the rows of
  one chunk, one accumulator per column, vectorized across the columns.

A task writes its partial statistics to slot (o, chunk, column) of a
partial array; the chunks of a slice are then merged in a fixed pairwise
order, so the result does not depend on the thread count.  The chunk size
depends only on the shape and dtype.

Numerics.  Everything accumulates in double.  Moments: deviations are
taken from one value of each slice's data (its first non-NaN, K), so a
constant slice gives exactly mean = K and m2 = 0, and an offset such as 1e8
cancels exactly.  For float32 input one pass suffices: with K a data value,
|K - mean| <= sqrt(k) * std over k values, so Q - S^2/k loses at most
log2(k) of double's 53 bits.  float64 input gets a second pass over the
chunk (still in cache) around the first-pass mean, with the
Kahan-compensated sum of squares and Bjorck's correction term.  The lanes
of a chunk share K and are summed; chunks merge by Chan et al.'s update on
means taken relative to K.
p-norms: sums of |x|^p in double (Kahan-compensated for float64 input);
where that sum could have overflowed or lost its terms to underflow (float64
input with p = 2, any input with p not in {1, 2, inf}) the chunk is redone
scaled by a power of two near its largest magnitude.

The arithmetic is C in the verbatim block (GCC vector extensions, as in
_rows.h: gcc does not vectorize floating-point reductions without
-ffast-math, whose -ffinite-math-only would break the NaN semantics), built
for AVX2 and the baseline by target_clones.
"""
from cython.parallel cimport prange

import numpy as np

cdef extern from *:
    """
    #include <math.h>
    #include <stdint.h>
    #include <string.h>
    #include <stddef.h>

    #if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && __GNUC__ >= 12 \\
        && !defined(FASTACT_NO_CLONES)
    #define FN_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
    #else
    #define FN_CLONES
    #endif
    /* the bodies take the dtype (and the norm's kind) as flags that are
     * constants after inlining: each clone and each branch gets its own loop */
    #if defined(__GNUC__)
    #define FN_INLINE static inline __attribute__((always_inline))
    #else
    #define FN_INLINE static inline
    #endif

    #define FN_COLS 256            /* columns per task when the axis is not the last */
    #define FN_LANES 16            /* independent accumulators along a contiguous run */
    /* input bytes per task: a float64 chunk read twice stays in L2 */
    #define FN_CHUNK_BYTES 131072

    typedef double fn_v4d __attribute__((vector_size(32)));
    typedef int64_t fn_v4i __attribute__((vector_size(32)));
    typedef float fn_v4f __attribute__((vector_size(16)));
    /* unaligned, aliasing views of memory */
    typedef double fn_v4du __attribute__((vector_size(32), aligned(8), may_alias));
    typedef float fn_v4fu __attribute__((vector_size(16), aligned(4), may_alias));

    #define FN_AT(p, i, isf) ((const char *)(p) + (ptrdiff_t)(i) * ((isf) ? 4 : 8))
    #define FN_ATW(p, i, isf) ((char *)(p) + (ptrdiff_t)(i) * ((isf) ? 4 : 8))

    FN_INLINE fn_v4d fn_splat(double v) { return (fn_v4d){v, v, v, v}; }
    FN_INLINE fn_v4d fn_sel(fn_v4i m, fn_v4d a, fn_v4d b)   /* m ? a : b, lanewise */
    {
        return (fn_v4d)((m & (fn_v4i)a) | (~m & (fn_v4i)b));
    }
    FN_INLINE fn_v4d fn_abs(fn_v4d v)
    {
        const fn_v4i M = {INT64_MAX, INT64_MAX, INT64_MAX, INT64_MAX};
        return (fn_v4d)((fn_v4i)v & M);
    }
    /* four elements at p as doubles */
    FN_INLINE fn_v4d fn_ld4(const char *p, int isf)
    {
        /* element by element: gcc makes this one vcvtps2pd, and the
         * __builtin_convertvector of a float vector crashes gcc 12 (expr.cc:333)
         * in the baseline clone */
        if (isf) {
            const float *f = (const float *)p;
            return (fn_v4d){f[0], f[1], f[2], f[3]};
        }
        return *(const fn_v4du *)p;
    }
    FN_INLINE void fn_st4(char *p, int isf, fn_v4d v)
    {
        if (isf) *(fn_v4fu *)p = __builtin_convertvector(v, fn_v4f);
        else *(fn_v4du *)p = v;
    }
    FN_INLINE fn_v4d fn_acc(const double *p) { return *(const fn_v4du *)p; }
    FN_INLINE void fn_put(double *p, fn_v4d v) { *(fn_v4du *)p = v; }
    /* k < 4 elements, the other lanes `pad` */
    FN_INLINE fn_v4d fn_ldk(const char *p, ptrdiff_t k, int isf, double pad)
    {
        fn_v4d v = fn_splat(pad);
        for (ptrdiff_t i = 0; i < k; i++)
            v[i] = isf ? (double)((const float *)p)[i] : ((const double *)p)[i];
        return v;
    }
    FN_INLINE void fn_stk(char *p, ptrdiff_t k, int isf, fn_v4d v)
    {
        for (ptrdiff_t i = 0; i < k; i++) {
            if (isf) ((float *)p)[i] = (float)v[i];
            else ((double *)p)[i] = v[i];
        }
    }

    /* s^(1/p): 1/p is rounded, which pow amplifies by |log s|; one Newton step
     * on r^p = s removes that */
    FN_INLINE double fn_root(double s, double p)
    {
        double r = pow(s, 1.0 / p);
        if (!(r > 0.0 && r < INFINITY)) return r;
        return r - r * (pow(r, p) - s) / (p * s);
    }

    /* ---------------------------------------------------------------------
     * One reduction driver for every statistic S.  It runs S's step over
     * `rows` rows of `w` columns (row r at x + r*stride), column j feeding
     * accumulator j: four columns per vector, the accumulators of a vector
     * loaded once per four rows (fn_S_load / fn_S_store between the arrays in
     * `acc` and registers); a last partial vector is padded with `pad`, a value
     * the step ignores.  A contiguous run of n elements is the case w = stride
     * = FN_LANES (plus one short row), so its FN_LANES accumulators are
     * independent lanes.  Every step has the signature
     * (state *, fn_v4d v, int isf, int mode, double p). */
    #define FN_REDUCE(S, x, rows, w, stride, isf, pad, acc, mode, p) do {                   \\
        ptrdiff_t w4_ = (w) & ~(ptrdiff_t)3, r_ = 0;                                        \\
        for (; r_ + 4 <= (rows); r_ += 4) {                                                 \\
            const char *x0_ = FN_AT(x, r_ * (stride), isf);                                 \\
            const char *x1_ = FN_AT(x0_, (stride), isf), *x2_ = FN_AT(x1_, (stride), isf);  \\
            const char *x3_ = FN_AT(x2_, (stride), isf);                                    \\
            for (ptrdiff_t j_ = 0; j_ < w4_; j_ += 4) {                                     \\
                fn_##S##_st s_ = fn_##S##_load(acc, j_);                                    \\
                fn_##S##_step(&s_, fn_ld4(FN_AT(x0_, j_, isf), isf), isf, mode, p);         \\
                fn_##S##_step(&s_, fn_ld4(FN_AT(x1_, j_, isf), isf), isf, mode, p);         \\
                fn_##S##_step(&s_, fn_ld4(FN_AT(x2_, j_, isf), isf), isf, mode, p);         \\
                fn_##S##_step(&s_, fn_ld4(FN_AT(x3_, j_, isf), isf), isf, mode, p);         \\
                fn_##S##_store(acc, j_, s_);                                                \\
            }                                                                               \\
        }                                                                                   \\
        for (; r_ < (rows); r_++) {                                                         \\
            const char *x0_ = FN_AT(x, r_ * (stride), isf);                                 \\
            for (ptrdiff_t j_ = 0; j_ < w4_; j_ += 4) {                                     \\
                fn_##S##_st s_ = fn_##S##_load(acc, j_);                                    \\
                fn_##S##_step(&s_, fn_ld4(FN_AT(x0_, j_, isf), isf), isf, mode, p);         \\
                fn_##S##_store(acc, j_, s_);                                                \\
            }                                                                               \\
        }                                                                                   \\
        if (w4_ < (w))                                                                      \\
            for (r_ = 0; r_ < (rows); r_++) {                                               \\
                fn_##S##_st s_ = fn_##S##_load(acc, w4_);                                   \\
                fn_##S##_step(&s_, fn_ldk(FN_AT(x, r_ * (stride) + w4_, isf), (w) - w4_,    \\
                                          isf, pad), isf, mode, p);                         \\
                fn_##S##_store(acc, w4_, s_);                                               \\
            }                                                                               \\
    } while (0)

    /* a run of n contiguous elements: rows of FN_LANES, then the tail as one
     * short row */
    #define FN_REDUCE_RUN(S, x, n, isf, pad, acc, mode, p) do {                             \\
        ptrdiff_t rows_ = (n) / FN_LANES;                                                   \\
        FN_REDUCE(S, x, rows_, FN_LANES, FN_LANES, isf, pad, acc, mode, p);                 \\
        FN_REDUCE(S, FN_AT(x, rows_ * FN_LANES, isf), (n) % FN_LANES > 0, (n) % FN_LANES,  \\
                  0, isf, pad, acc, mode, p);                                               \\
    } while (0)

    /* ------------------------------------------------------------ merges */

    /* Chan, Golub & LeVeque's pairwise update of (count, mean, m2).  Equal
     * means give delta = 0: constant slices stay exact.  An empty side
     * (count 0) leaves the other unchanged. */
    FN_INLINE void fn_chan(double na, double ma, double qa, double nb, double mb, double qb,
                           double *n, double *m, double *q)
    {
        double nn = na + nb, delta = mb - ma;
        double wb = nb / (nn > 0.0 ? nn : 1.0);
        double mm = ma + delta * wb, qq = qa + qb + delta * delta * na * wb;
        *n = nn;
        *m = na == 0.0 ? mb : (nb == 0.0 ? ma : mm);
        *q = (na == 0.0 || nb == 0.0) ? qa + qb : qq;
    }

    /* ||(a, b)||_p of two partial norms, without overflow or underflow */
    FN_INLINE double fn_norm_merge(double a, double b, double p)
    {
        if (a != a || b != b) return a + b;
        if (p == 1.0) return a + b;
        double m = a > b ? a : b;
        if (p == INFINITY || m == 0.0 || m == INFINITY) return m;
        if (p == 2.0) return hypot(a, b);
        return m * fn_root(pow(a / m, p) + pow(b / m, p), p);
    }

    /* ------------------------------------------------------------ min/max */
    /* NaN never wins a comparison, so it is left out; +inf/-inf start an
     * empty slice (lo > hi). */

    typedef struct { double *lo, *hi; } fn_mm_acc;
    typedef struct { fn_v4d l, h; } fn_mm_st;
    FN_INLINE fn_mm_st fn_mm_load(const fn_mm_acc *a, ptrdiff_t j)
    {
        return (fn_mm_st){fn_acc(a->lo + j), fn_acc(a->hi + j)};
    }
    FN_INLINE void fn_mm_store(const fn_mm_acc *a, ptrdiff_t j, fn_mm_st s)
    {
        fn_put(a->lo + j, s.l);
        fn_put(a->hi + j, s.h);
    }
    FN_INLINE void fn_mm_step(fn_mm_st *s, fn_v4d v, int isf, int mode, double p)
    {
        s->l = fn_sel(v < s->l, v, s->l);
        s->h = fn_sel(v > s->h, v, s->h);
    }
    FN_INLINE void fn_mm_init(double *lo, double *hi, ptrdiff_t w)
    {
        for (ptrdiff_t j = 0; j < w; j++) { lo[j] = INFINITY; hi[j] = -INFINITY; }
    }

    FN_INLINE void fn_mm_run_b(const void *x, ptrdiff_t n, int isf, double *lo, double *hi)
    {
        double l[FN_LANES], h[FN_LANES];
        fn_mm_acc a = {l, h};
        fn_mm_init(l, h, FN_LANES);
        FN_REDUCE_RUN(mm, x, n, isf, NAN, &a, 0, 0.0);
        double u = l[0], v = h[0];
        for (int j = 1; j < FN_LANES; j++) { u = l[j] < u ? l[j] : u; v = h[j] > v ? h[j] : v; }
        *lo = u;
        *hi = v;
    }
    FN_INLINE void fn_mm_cols_b(const void *x, ptrdiff_t rows, ptrdiff_t w, ptrdiff_t stride,
                                int isf, double *lo, double *hi)
    {
        double l[FN_COLS], h[FN_COLS];
        fn_mm_acc a = {l, h};
        fn_mm_init(l, h, FN_COLS);
        FN_REDUCE(mm, x, rows, w, stride, isf, NAN, &a, 0, 0.0);
        for (ptrdiff_t j = 0; j < w; j++) { lo[j] = l[j]; hi[j] = h[j]; }
    }
    FN_CLONES static void fn_mm_run(const void *x, ptrdiff_t n, int isf, double *lo, double *hi)
    {
        if (isf) fn_mm_run_b(x, n, 1, lo, hi); else fn_mm_run_b(x, n, 0, lo, hi);
    }
    FN_CLONES static void fn_mm_cols(const void *x, ptrdiff_t rows, ptrdiff_t w, ptrdiff_t stride,
                                     int isf, double *lo, double *hi)
    {
        if (isf) fn_mm_cols_b(x, rows, w, stride, 1, lo, hi);
        else fn_mm_cols_b(x, rows, w, stride, 0, lo, hi);
    }

    /* ------------------------------------------------------------ moments */

    /* Every slice has one shift K, a value of its data (its first non-NaN, from
     * fn_first_valid), and every partial result is taken relative to it: a
     * chunk gives (count, mu = mean - K, m2).  With K inside the data the
     * offset (1e8 in 1e8 + noise) cancels exactly in x - K, and merging chunks
     * by Chan's update works on deviations, not on rounded means.  A constant
     * slice has x - K = 0 throughout: mu = m2 = 0 exactly. */

    /* first non-NaN of each of `inner` columns down n rows (NaN if none) */
    static void fn_first_valid(const void *x, ptrdiff_t n, ptrdiff_t inner, int isf, double *K)
    {
        ptrdiff_t left = inner;
        for (ptrdiff_t j = 0; j < inner; j++) K[j] = NAN;
        for (ptrdiff_t r = 0; r < n && left > 0; r++)
            for (ptrdiff_t j = 0; j < inner; j++) {
                if (K[j] == K[j]) continue;
                const char *e = FN_AT(x, r * inner + j, isf);
                double v = isf ? (double)*(const float *)e : *(const double *)e;
                if (v == v) { K[j] = v; left--; }
            }
    }

    /* Accumulators per column (or lane): K the shift, S the sum of deviations,
     * Q the sum of their squares (E: its Kahan compensation), C the count. */
    typedef struct { double *K, *S, *Q, *E, *C; } fn_mom_acc;

    /* S = sum(x - K), Q = sum((x - K)^2) (float32 input: one pass; float64:
     * the pass that finds the mean), C = count; NaN left out.  For float32 input
     * one pass is exact enough: K is a data value, so |K - mean| <= sqrt(k) std
     * over k values and Q - S^2/k loses at most log2(k) of double's 53 bits. */
    typedef struct { fn_v4d k, s, q, c; } fn_m1_st;
    FN_INLINE fn_m1_st fn_m1_load(const fn_mom_acc *a, ptrdiff_t j)
    {
        return (fn_m1_st){fn_acc(a->K + j), fn_acc(a->S + j), fn_acc(a->Q + j), fn_acc(a->C + j)};
    }
    FN_INLINE void fn_m1_store(const fn_mom_acc *a, ptrdiff_t j, fn_m1_st s)
    {
        fn_put(a->S + j, s.s);
        fn_put(a->Q + j, s.q);
        fn_put(a->C + j, s.c);
    }
    FN_INLINE void fn_m1_step(fn_m1_st *s, fn_v4d v, int isf, int mode, double p)
    {
        fn_v4i ok = v == v;
        fn_v4d d = fn_sel(ok, v - s->k, fn_splat(0.0));
        s->s += d;
        if (isf) s->q += d * d;
        s->c += fn_sel(ok, fn_splat(1.0), fn_splat(0.0));
    }

    /* float64 pass 2, around the pass-1 mean m0 (in K): S = sum(x - m0) (the
     * correction term), Q = sum((x - m0)^2) with Kahan's compensation E.  x - m0
     * is exact wherever x is within a factor 2 of m0. */
    typedef fn_m1_st fn_m2_st;
    FN_INLINE fn_m2_st fn_m2_load(const fn_mom_acc *a, ptrdiff_t j)
    {
        return (fn_m2_st){fn_acc(a->K + j), fn_acc(a->S + j), fn_acc(a->Q + j), fn_acc(a->E + j)};
    }
    FN_INLINE void fn_m2_store(const fn_mom_acc *a, ptrdiff_t j, fn_m2_st s)
    {
        fn_put(a->S + j, s.s);
        fn_put(a->Q + j, s.q);
        fn_put(a->E + j, s.c);
    }
    FN_INLINE void fn_m2_step(fn_m2_st *s, fn_v4d v, int isf, int mode, double p)
    {
        fn_v4d d = fn_sel(v == v, v - s->k, fn_splat(0.0));
        s->s += d;
        fn_v4d y = d * d - s->c, t = s->q + y;       /* c holds E here */
        s->c = (t - s->q) - y;
        s->q = t;
    }

    FN_INLINE void fn_mom_clear(const fn_mom_acc *a, ptrdiff_t w)
    {
        for (ptrdiff_t j = 0; j < w; j++) { a->S[j] = 0.0; a->Q[j] = 0.0; a->E[j] = 0.0; }
    }
    /* (mu, m2) relative to the shift k0 from sums relative to the pass's own
     * shift k (k0 itself in pass 1; the pass-1 mean m0 in pass 2) */
    FN_INLINE void fn_mom_out(double k0, double k, double s, double q, double c, double *mu,
                              double *m2)
    {
        if (!(c > 0.0)) { *mu = 0.0; *m2 = 0.0; return; }
        double d = s / c, r = q - s * d;
        *mu = (k - k0) + d;
        *m2 = r < 0.0 ? 0.0 : r;        /* rounding only; NaN is kept */
    }

    FN_INLINE void fn_mom_run_b(const void *x, ptrdiff_t n, int isf, double k0, double *cnt,
                                double *mu, double *m2)
    {
        double K[FN_LANES], S[FN_LANES], Q[FN_LANES], E[FN_LANES], C[FN_LANES];
        fn_mom_acc a = {K, S, Q, E, C};
        double k = k0, s = 0.0, q = 0.0, c = 0.0;
        for (int j = 0; j < FN_LANES; j++) { K[j] = k; C[j] = 0.0; }
        fn_mom_clear(&a, FN_LANES);
        FN_REDUCE_RUN(m1, x, n, isf, NAN, &a, 0, 0.0);
        for (int j = 0; j < FN_LANES; j++) { s += S[j]; q += Q[j]; c += C[j]; }
        if (!isf && c > 0.0) {
            k = k0 + s / c;
            for (int j = 0; j < FN_LANES; j++) K[j] = k;
            fn_mom_clear(&a, FN_LANES);
            FN_REDUCE_RUN(m2, x, n, isf, NAN, &a, 0, 0.0);
            s = 0.0; q = 0.0;
            double e = 0.0;
            for (int j = 0; j < FN_LANES; j++) { s += S[j]; q += Q[j]; e += E[j]; }
            q -= e;
        }
        *cnt = c;
        fn_mom_out(k0, k, s, q, c, mu, m2);
    }
    FN_INLINE void fn_mom_cols_b(const void *x, ptrdiff_t rows, ptrdiff_t w, ptrdiff_t stride,
                                 int isf, const double *k0, double *cnt, double *mu, double *m2)
    {
        double K[FN_COLS], S[FN_COLS], Q[FN_COLS], E[FN_COLS], C[FN_COLS];
        fn_mom_acc a = {K, S, Q, E, C};
        ptrdiff_t w4 = (w + 3) & ~(ptrdiff_t)3;
        for (ptrdiff_t j = 0; j < w4; j++) { K[j] = j < w ? k0[j] : 0.0; C[j] = 0.0; }
        fn_mom_clear(&a, w4);
        FN_REDUCE(m1, x, rows, w, stride, isf, NAN, &a, 0, 0.0);
        if (!isf) {
            for (ptrdiff_t j = 0; j < w; j++)
                if (C[j] > 0.0) K[j] += S[j] / C[j];
            fn_mom_clear(&a, w4);
            FN_REDUCE(m2, x, rows, w, stride, isf, NAN, &a, 0, 0.0);
            for (ptrdiff_t j = 0; j < w; j++) Q[j] -= E[j];
        }
        for (ptrdiff_t j = 0; j < w; j++) {
            cnt[j] = C[j];
            fn_mom_out(k0[j], K[j], S[j], Q[j], C[j], mu + j, m2 + j);
        }
    }
    FN_CLONES static void fn_mom_run(const void *x, ptrdiff_t n, int isf, double k0, double *cnt,
                                     double *mu, double *m2)
    {
        if (isf) fn_mom_run_b(x, n, 1, k0, cnt, mu, m2);
        else fn_mom_run_b(x, n, 0, k0, cnt, mu, m2);
    }
    FN_CLONES static void fn_mom_cols(const void *x, ptrdiff_t rows, ptrdiff_t w, ptrdiff_t stride,
                                      int isf, const double *k0, double *cnt, double *mu,
                                      double *m2)
    {
        if (isf) fn_mom_cols_b(x, rows, w, stride, 1, k0, cnt, mu, m2);
        else fn_mom_cols_b(x, rows, w, stride, 0, k0, cnt, mu, m2);
    }

    /* ------------------------------------------------------------ p-norms */

    /* S = sum |x|^p (E: Kahan's compensation, float64 input); for p = inf
     * S = max |x| and E = NaN once a NaN was seen.  mode: 0 for p = inf, 1 and
     * 2 for those p, 3 for any other p. */
    typedef struct { double *S, *E; } fn_nr_acc;
    typedef struct { fn_v4d s, e; } fn_nr_st;
    FN_INLINE fn_nr_st fn_nr_load(const fn_nr_acc *a, ptrdiff_t j)
    {
        return (fn_nr_st){fn_acc(a->S + j), fn_acc(a->E + j)};
    }
    FN_INLINE void fn_nr_store(const fn_nr_acc *a, ptrdiff_t j, fn_nr_st s)
    {
        fn_put(a->S + j, s.s);
        fn_put(a->E + j, s.e);
    }
    FN_INLINE void fn_nr_step(fn_nr_st *s, fn_v4d v, int isf, int mode, double p)
    {
        fn_v4d a = fn_abs(v);
        if (mode == 0) {
            s->s = fn_sel(a > s->s, a, s->s);
            s->e = fn_sel(a != a, a, s->e);
            return;
        }
        if (mode == 2) a = a * a;
        if (mode == 3)
            for (int i = 0; i < 4; i++) a[i] = pow(a[i], p);
        if (isf) {
            s->s += a;
        } else {
            /* an infinite term or an overflowing sum makes the compensation
             * inf or NaN, which must not reach the next terms: the sum alone is
             * then the answer (or the signal to redo the chunk scaled) */
            fn_v4d y = a - s->e, t = s->s + y, e = (t - s->s) - y;
            s->e = fn_sel(fn_abs(e) < fn_splat(INFINITY), e, fn_splat(0.0));
            s->s = t;
        }
    }
    FN_INLINE int fn_nr_mode(double p) { return p == INFINITY ? 0 : p == 1.0 ? 1 : p == 2.0 ? 2 : 3; }

    /* the rare path: sum (|x| * 2^-e)^p, 2^e just above max |x|, so nothing
     * overflows and only negligible terms underflow */
    static double fn_norm_scaled(const void *x, ptrdiff_t rows, ptrdiff_t stride, int isf, double p)
    {
        double mx = 0.0;
        for (ptrdiff_t r = 0; r < rows; r++) {
            const char *e = FN_AT(x, r * stride, isf);
            double a = fabs(isf ? (double)*(const float *)e : *(const double *)e);
            mx = a > mx ? a : mx;
        }
        if (mx == 0.0 || mx == INFINITY) return mx;
        int ex;
        frexp(mx, &ex);
        double s = 0.0;
        for (ptrdiff_t r = 0; r < rows; r++) {
            const char *e = FN_AT(x, r * stride, isf);
            /* ldexp, not a product with 2^-ex, which overflows for subnormal mx */
            double a = ldexp(fabs(isf ? (double)*(const float *)e : *(const double *)e), -ex);
            s += p == 2.0 ? a * a : pow(a, p);
        }
        return ldexp(p == 2.0 ? sqrt(s) : fn_root(s, p), ex);
    }

    /* the norm from a column's (or run's) sum, redone scaled where the sum may
     * have overflowed or lost terms to underflow: float64 input with p = 2, any
     * input with p other than 1, 2 and inf (float32 squares cannot) */
    FN_INLINE double fn_nr_final(double s, const void *x, ptrdiff_t rows, ptrdiff_t stride, int isf,
                                 int mode, double p)
    {
        if (mode == 0) return s;
        int risky = mode == 3 || (mode == 2 && !isf);
        if (risky && s == s && !(s >= 0x1p-900 && s < INFINITY))
            return fn_norm_scaled(x, rows, stride, isf, p);
        return mode == 1 ? s : (mode == 2 ? sqrt(s) : fn_root(s, p));
    }

    FN_INLINE void fn_nr_run_b(const void *x, ptrdiff_t n, int isf, int mode, double p, double *out)
    {
        double S[FN_LANES], E[FN_LANES];
        fn_nr_acc a = {S, E};
        for (int j = 0; j < FN_LANES; j++) { S[j] = 0.0; E[j] = 0.0; }
        FN_REDUCE_RUN(nr, x, n, isf, 0.0, &a, mode, p);
        double s;
        if (mode == 0) {
            s = S[0];
            for (int j = 1; j < FN_LANES; j++) s = S[j] > s ? S[j] : s;
            for (int j = 0; j < FN_LANES; j++) s = E[j] != E[j] ? E[j] : s;
        } else {
            for (int j = 0; j < FN_LANES; j++) S[j] -= E[j];
            for (int k = 1; k < FN_LANES; k *= 2)
                for (int j = 0; j + k < FN_LANES; j += 2 * k) S[j] += S[j + k];
            s = S[0];
        }
        *out = fn_nr_final(s, x, n, 1, isf, mode, p);
    }
    FN_INLINE void fn_nr_cols_b(const void *x, ptrdiff_t rows, ptrdiff_t w, ptrdiff_t stride,
                                int isf, int mode, double p, double *out)
    {
        double S[FN_COLS], E[FN_COLS];
        fn_nr_acc a = {S, E};
        for (ptrdiff_t j = 0; j < FN_COLS; j++) { S[j] = 0.0; E[j] = 0.0; }
        FN_REDUCE(nr, x, rows, w, stride, isf, 0.0, &a, mode, p);
        for (ptrdiff_t j = 0; j < w; j++) {
            double s = mode == 0 ? (E[j] != E[j] ? E[j] : S[j]) : S[j] - E[j];
            out[j] = fn_nr_final(s, FN_AT(x, j, isf), rows, stride, isf, mode, p);
        }
    }
    /* every (dtype, kind of p) pair its own specialized loop */
    #define FN_NR_DISPATCH(CALL) do {                                                 \\
        int m_ = fn_nr_mode(p);                                                       \\
        if (isf) {                                                                    \\
            if (m_ == 0) CALL(1, 0); else if (m_ == 1) CALL(1, 1);                    \\
            else if (m_ == 2) CALL(1, 2); else CALL(1, 3);                            \\
        } else {                                                                      \\
            if (m_ == 0) CALL(0, 0); else if (m_ == 1) CALL(0, 1);                    \\
            else if (m_ == 2) CALL(0, 2); else CALL(0, 3);                            \\
        }                                                                             \\
    } while (0)
    FN_CLONES static void fn_nrm_run(const void *x, ptrdiff_t n, int isf, double p, double *out)
    {
    #define FN_NR_RUN_CALL(F, M) fn_nr_run_b(x, n, F, M, p, out)
        FN_NR_DISPATCH(FN_NR_RUN_CALL);
    }
    FN_CLONES static void fn_nrm_cols(const void *x, ptrdiff_t rows, ptrdiff_t w, ptrdiff_t stride,
                                      int isf, double p, double *out)
    {
    #define FN_NR_COLS_CALL(F, M) fn_nr_cols_b(x, rows, w, stride, F, M, p, out)
        FN_NR_DISPATCH(FN_NR_COLS_CALL);
    }

    /* ------------------------------------------------------------ apply */

    /* y = t or lo*(1 - t) + hi*t (exact at t = 0 and t = 1), t = (x - c)/den,
     * in double; den = inf gives t = 0 (NaN for NaN x).  float64 divides (one
     * rounding); float32 multiplies by r = 1/den (fn_recips), whose error
     * (2^-53) is far below the final rounding to float.  Element i is read
     * before it is written: y may be x. */
    FN_INLINE fn_v4d fn_ap(fn_v4d v, fn_v4d c, fn_v4d d, double lo, double hi, int lerp, int isf)
    {
        fn_v4d t = isf ? (v - c) * d : (v - c) / d;
        return lerp ? fn_splat(lo) * (1.0 - t) + fn_splat(hi) * t : t;
    }
    /* r = 1/den, DBL_MAX where that overflows (a subnormal eps): 0/den stays 0 */
    static void fn_recips(const double *d, ptrdiff_t n, double *r)
    {
        for (ptrdiff_t i = 0; i < n; i++) {
            double v = 1.0 / d[i];
            r[i] = v > 1.7976931348623157e308 ? 1.7976931348623157e308 : v;
        }
    }
    /* Streaming (non-temporal) stores of four results at p, 16-byte aligned:
     * a large output that is not the input is not read back soon, and a plain
     * store would first read each of its cache lines from memory. */
    #if defined(__SSE2__)
    #include <emmintrin.h>
    #define FN_HAVE_STREAM 1
    FN_INLINE void fn_st4_stream(char *p, int isf, fn_v4d v)
    {
        if (isf) {
            fn_v4f f = __builtin_convertvector(v, fn_v4f);
            _mm_stream_ps((float *)p, (__m128)f);
        } else {
            _mm_stream_pd((double *)p, (__m128d){v[0], v[1]});
            _mm_stream_pd((double *)p + 2, (__m128d){v[2], v[3]});
        }
    }
    #else
    #define FN_HAVE_STREAM 0
    #define fn_st4_stream fn_st4
    #endif

    /* rows x w elements (row r at x + r*stride); c, d (for float32: 1/den)
     * one per column, or (percol = 0) one for all; `stream`: store with
     * fn_st4_stream where the output is 16-byte aligned */
    FN_INLINE void fn_apply_b(const void *x, void *y, ptrdiff_t rows, ptrdiff_t w,
                              ptrdiff_t stride, const double *c, const double *d, int percol,
                              double lo, double hi, int lerp, int isf, int stream)
    {
        fn_v4d cs = fn_splat(c[0]), ds = fn_splat(d[0]);
        ptrdiff_t w4 = w & ~(ptrdiff_t)3, size = isf ? 4 : 8;
        for (ptrdiff_t r = 0; r < rows; r++) {
            const char *xr = FN_AT(x, r * stride, isf);
            char *yr = FN_ATW(y, r * stride, isf);
            ptrdiff_t j = 0;
            if (stream && ((uintptr_t)yr % size) == 0) {
                /* plain stores up to the first 16-byte boundary */
                ptrdiff_t head = (ptrdiff_t)((16 - (uintptr_t)yr % 16) % 16) / size;
                head = head < w ? head : w;
                if (head) {
                    fn_v4d cv = percol ? fn_ldk((const char *)c, head, 0, 0.0) : cs;
                    fn_v4d dv = percol ? fn_ldk((const char *)d, head, 0, 1.0) : ds;
                    fn_stk(yr, head, isf, fn_ap(fn_ldk(xr, head, isf, 0.0), cv, dv, lo, hi, lerp, isf));
                }
                for (j = head; j + 4 <= w; j += 4) {
                    fn_v4d cv = percol ? fn_acc(c + j) : cs, dv = percol ? fn_acc(d + j) : ds;
                    fn_st4_stream(FN_ATW(yr, j, isf), isf,
                                  fn_ap(fn_ld4(FN_AT(xr, j, isf), isf), cv, dv, lo, hi, lerp, isf));
                }
                w4 = j;
            }
            for (; j < w4; j += 4) {
                fn_v4d cv = percol ? fn_acc(c + j) : cs, dv = percol ? fn_acc(d + j) : ds;
                fn_st4(FN_ATW(yr, j, isf), isf,
                       fn_ap(fn_ld4(FN_AT(xr, j, isf), isf), cv, dv, lo, hi, lerp, isf));
            }
            if (j < w) {
                fn_v4d cv = percol ? fn_ldk((const char *)(c + j), w - j, 0, 0.0) : cs;
                fn_v4d dv = percol ? fn_ldk((const char *)(d + j), w - j, 0, 1.0) : ds;
                fn_stk(FN_ATW(yr, j, isf), w - j, isf,
                       fn_ap(fn_ldk(FN_AT(xr, j, isf), w - j, isf, 0.0), cv, dv, lo, hi, lerp, isf));
            }
        }
    }
    FN_CLONES static void fn_apply(const void *x, void *y, ptrdiff_t rows, ptrdiff_t w,
                                   ptrdiff_t stride, const double *c, const double *d, int percol,
                                   double lo, double hi, int lerp, int isf, int stream)
    {
        stream = stream && FN_HAVE_STREAM;
    #define FN_AP_CALL(L, F, S) fn_apply_b(x, y, rows, w, stride, c, d, percol, lo, hi, L, F, S)
        if (isf) {
            if (lerp) { if (stream) FN_AP_CALL(1, 1, 1); else FN_AP_CALL(1, 1, 0); }
            else { if (stream) FN_AP_CALL(0, 1, 1); else FN_AP_CALL(0, 1, 0); }
        } else {
            if (lerp) { if (stream) FN_AP_CALL(1, 0, 1); else FN_AP_CALL(1, 0, 0); }
            else { if (stream) FN_AP_CALL(0, 0, 1); else FN_AP_CALL(0, 0, 0); }
        }
    #if FN_HAVE_STREAM
        if (stream) _mm_sfence();       /* streamed stores are weakly ordered */
    #endif
    }

    /* ------------------------------------------------- coefficients (c, den) */
    /* Each returns the first slice whose statistics cannot be applied, or -1;
     * *why: 1 non-finite statistics, 2 the range or variance overflows,
     * 3 count <= ddof. */

    static ptrdiff_t fn_coef_minmax(const double *lo, const double *hi, ptrdiff_t n,
                                    double *c, double *den, int *why)
    {
        for (ptrdiff_t i = 0; i < n; i++) {
            double a = lo[i], b = hi[i];
            c[i] = 0.0;
            den[i] = INFINITY;
            if (!(a <= b)) continue;                      /* no value in the slice */
            if (!(fabs(a) < INFINITY && fabs(b) < INFINITY)) { *why = 1; return i; }
            double r = b - a;
            if (r == INFINITY) { *why = 2; return i; }
            c[i] = a;
            den[i] = r > 0.0 ? r : INFINITY;            /* constant: the low end */
        }
        return -1;
    }

    static ptrdiff_t fn_coef_std(const double *cnt, const double *mean, const double *m2,
                                 ptrdiff_t n, double ddof, double eps, double *c, double *den,
                                 int *why)
    {
        for (ptrdiff_t i = 0; i < n; i++) {
            c[i] = 0.0;
            den[i] = INFINITY;
            if (!(cnt[i] > 0.0)) continue;
            if (!(fabs(mean[i]) < INFINITY && fabs(m2[i]) < INFINITY)) { *why = 1; return i; }
            if (!(cnt[i] > ddof)) { *why = 3; return i; }
            double s = sqrt(m2[i] / (cnt[i] - ddof) + eps);
            if (s == INFINITY) { *why = 2; return i; }
            c[i] = mean[i];
            den[i] = s > 0.0 ? s : INFINITY;            /* constant: 0 */
        }
        return -1;
    }

    static void fn_coef_norm(const double *acc, ptrdiff_t n, double eps, double *c, double *den)
    {
        for (ptrdiff_t i = 0; i < n; i++) {
            c[i] = 0.0;
            den[i] = acc[i] < eps ? eps : acc[i];          /* NaN stays NaN */
        }
    }

    /* ------------------------------------------------- merging partials */
    /* partials of one outer slot: element (chunk i, column j) at i*inner + j;
     * merged pairwise into chunk 0 */

    static void fn_mm_merge(double *lo, double *hi, ptrdiff_t nch, ptrdiff_t inner)
    {
        for (ptrdiff_t s = 1; s < nch; s *= 2)
            for (ptrdiff_t i = 0; i + s < nch; i += 2 * s)
                for (ptrdiff_t j = 0; j < inner; j++) {
                    double *a = lo + i * inner + j, *b = lo + (i + s) * inner + j;
                    *a = *b < *a ? *b : *a;
                    a = hi + i * inner + j; b = hi + (i + s) * inner + j;
                    *a = *b > *a ? *b : *a;
                }
    }
    static void fn_mom_merge(double *n, double *m, double *q, ptrdiff_t nch, ptrdiff_t inner)
    {
        for (ptrdiff_t s = 1; s < nch; s *= 2)
            for (ptrdiff_t i = 0; i + s < nch; i += 2 * s)
                for (ptrdiff_t j = 0; j < inner; j++) {
                    ptrdiff_t a = i * inner + j, b = (i + s) * inner + j;
                    fn_chan(n[a], m[a], q[a], n[b], m[b], q[b], n + a, m + a, q + a);
                }
    }
    static void fn_nrm_merge(double *v, ptrdiff_t nch, ptrdiff_t inner, double p)
    {
        for (ptrdiff_t s = 1; s < nch; s *= 2)
            for (ptrdiff_t i = 0; i + s < nch; i += 2 * s)
                for (ptrdiff_t j = 0; j < inner; j++) {
                    ptrdiff_t a = i * inner + j, b = (i + s) * inner + j;
                    v[a] = fn_norm_merge(v[a], v[b], p);
                }
    }
    """
    const int FN_COLS
    const int FN_CHUNK_BYTES
    void fn_mm_run(const void* x, Py_ssize_t n, int isf, double* lo, double* hi) nogil
    void fn_mm_cols(const void* x, Py_ssize_t rows, Py_ssize_t w, Py_ssize_t stride, int isf,
                    double* lo, double* hi) nogil
    void fn_first_valid(const void* x, Py_ssize_t n, Py_ssize_t inner, int isf, double* K) nogil
    void fn_mom_run(const void* x, Py_ssize_t n, int isf, double k0, double* c, double* m,
                    double* q) nogil
    void fn_mom_cols(const void* x, Py_ssize_t rows, Py_ssize_t w, Py_ssize_t stride, int isf,
                     const double* k0, double* c, double* m, double* q) nogil
    void fn_nrm_run(const void* x, Py_ssize_t n, int isf, double p, double* out) nogil
    void fn_nrm_cols(const void* x, Py_ssize_t rows, Py_ssize_t w, Py_ssize_t stride, int isf,
                     double p, double* out) nogil
    void fn_apply(const void* x, void* y, Py_ssize_t rows, Py_ssize_t w, Py_ssize_t stride,
                  const double* c, const double* d, int percol, double lo, double hi,
                  int lerp, int isf, int stream) nogil
    Py_ssize_t fn_coef_minmax(const double* lo, const double* hi, Py_ssize_t n, double* c,
                              double* den, int* why) nogil
    Py_ssize_t fn_coef_std(const double* cnt, const double* mean, const double* m2,
                           Py_ssize_t n, double ddof, double eps, double* c, double* den,
                           int* why) nogil
    void fn_coef_norm(const double* acc, Py_ssize_t n, double eps, double* c,
                      double* den) nogil
    void fn_recips(const double* d, Py_ssize_t n, double* r) nogil
    void fn_mm_merge(double* lo, double* hi, Py_ssize_t nch, Py_ssize_t inner) nogil
    void fn_mom_merge(double* n, double* m, double* q, Py_ssize_t nch, Py_ssize_t inner) nogil
    void fn_nrm_merge(double* v, Py_ssize_t nch, Py_ssize_t inner, double p) nogil
    void fn_chan(double na, double ma, double qa, double nb, double mb, double qb,
                 double* n, double* m, double* q) nogil
    double fn_norm_merge(double a, double b, double p) nogil

cdef Py_ssize_t STREAM_BYTES = 16 << 20

ctypedef fused real:
    float
    double


# ------------------------------------------------------------ task grid
#
# A task is (outer slot o, chunk ci of the reduced axis, column block cb).
# inner == 1: a chunk is a run of R elements; inner > 1: R rows of a block of
# W <= FN_COLS columns.  Only the shape and the item size decide the grid.

cdef inline void _grid(Py_ssize_t n, Py_ssize_t inner, Py_ssize_t itemsize, Py_ssize_t* R,
                       Py_ssize_t* nch, Py_ssize_t* W, Py_ssize_t* ncb) noexcept nogil:
    cdef Py_ssize_t chunk = FN_CHUNK_BYTES // itemsize
    if inner == 1:
        W[0] = 1
        R[0] = chunk
    else:
        W[0] = max(<Py_ssize_t>1, min(inner, <Py_ssize_t>FN_COLS))   # inner == 0: no task
        R[0] = max(<Py_ssize_t>1, chunk // W[0])
    ncb[0] = (inner + W[0] - 1) // W[0]
    nch[0] = (n + R[0] - 1) // R[0]


cdef inline Py_ssize_t _per_grab(Py_ssize_t n, Py_ssize_t R, Py_ssize_t W,
                                 Py_ssize_t itemsize) noexcept nogil:
    # Tasks are handed out dynamically (a thread preempted on a shared
    # machine does not hold up the others), about a chunk's worth per grab.
    # Which task writes which slot is fixed, so the result is not affected.
    return max(<Py_ssize_t>1, FN_CHUNK_BYTES // (max(<Py_ssize_t>1, min(R, n)) * W * itemsize))


ctypedef struct Task:
    Py_ssize_t o, ci, r0, j0      # outer slot, chunk, its first row and first column


cdef inline Task _task(Py_ssize_t task, Py_ssize_t nch, Py_ssize_t ncb, Py_ssize_t R,
                       Py_ssize_t W) noexcept nogil:
    # returned, not written through pointers: a variable assigned in a prange
    # body is what Cython makes thread-private
    cdef Task t
    cdef Py_ssize_t r = task % (nch * ncb)
    t.o = task // (nch * ncb)
    t.ci = r // ncb
    t.r0 = t.ci * R
    t.j0 = (r % ncb) * W
    return t


def grid(Py_ssize_t n, Py_ssize_t inner, Py_ssize_t itemsize):
    """(chunks along the reduced axis, tasks per outer slot) of a (., n, inner) block."""
    cdef Py_ssize_t R, nch, W, ncb
    _grid(n, inner, itemsize, &R, &nch, &W, &ncb)
    return nch, nch * ncb


# ------------------------------------------------------------ statistics
#
# Each takes the input as (outer, n, inner) and partial arrays
# (outer, nch, inner); on return slot [:, 0, :] holds the merged statistics.

def minmax_stats(const real[:, :, ::1] x, double[:, :, ::1] lo, double[:, :, ::1] hi,
                 int nthreads):
    cdef Py_ssize_t outer = x.shape[0], n = x.shape[1], inner = x.shape[2]
    cdef Py_ssize_t R, nch, W, ncb, task, o, ci, r0, j0, cs
    cdef Task t
    cdef int isf = real is float
    if outer == 0 or n == 0 or inner == 0:
        return
    _grid(n, inner, sizeof(real), &R, &nch, &W, &ncb)
    cs = _per_grab(n, R, W, sizeof(real))
    for task in prange(outer * nch * ncb, nogil=True, schedule="dynamic", chunksize=cs,
                       num_threads=nthreads):
        t = _task(task, nch, ncb, R, W)
        o, ci, r0, j0 = t.o, t.ci, t.r0, t.j0
        if inner == 1:
            fn_mm_run(<const void*>&x[o, r0, 0], min(R, n - r0), isf, &lo[o, ci, 0],
                      &hi[o, ci, 0])
        else:
            fn_mm_cols(<const void*>&x[o, r0, j0], min(R, n - r0), min(W, inner - j0), inner,
                       isf, &lo[o, ci, j0], &hi[o, ci, j0])
    if nch > 1:
        # serial: a few merges per slice, and a second parallel region would
        # cost a thread wake-up (milliseconds on a loaded machine)
        with nogil:
            for o in range(outer):
                fn_mm_merge(&lo[o, 0, 0], &hi[o, 0, 0], nch, inner)


def moment_stats(const real[:, :, ::1] x, double[:, ::1] shift, double[:, :, ::1] cnt,
                 double[:, :, ::1] mu, double[:, :, ::1] m2, int nthreads):
    """Counts, means relative to `shift` and m2, with `shift` (outer, inner)
    set here to each slice's first non-NaN value (NaN if it has none)."""
    cdef Py_ssize_t outer = x.shape[0], n = x.shape[1], inner = x.shape[2]
    cdef Py_ssize_t R, nch, W, ncb, task, o, ci, r0, j0, cs
    cdef Task t
    cdef int isf = real is float
    if outer == 0 or n == 0 or inner == 0:
        return
    with nogil:     # usually one element or one row per slice: serial
        for o in range(outer):
            fn_first_valid(<const void*>&x[o, 0, 0], n, inner, isf, &shift[o, 0])
    _grid(n, inner, sizeof(real), &R, &nch, &W, &ncb)
    cs = _per_grab(n, R, W, sizeof(real))
    for task in prange(outer * nch * ncb, nogil=True, schedule="dynamic", chunksize=cs,
                       num_threads=nthreads):
        t = _task(task, nch, ncb, R, W)
        o, ci, r0, j0 = t.o, t.ci, t.r0, t.j0
        if inner == 1:
            fn_mom_run(<const void*>&x[o, r0, 0], min(R, n - r0), isf, shift[o, 0],
                       &cnt[o, ci, 0], &mu[o, ci, 0], &m2[o, ci, 0])
        else:
            fn_mom_cols(<const void*>&x[o, r0, j0], min(R, n - r0), min(W, inner - j0), inner,
                        isf, &shift[o, j0], &cnt[o, ci, j0], &mu[o, ci, j0], &m2[o, ci, j0])
    if nch > 1:
        # serial: a few merges per slice, and a second parallel region would
        # cost a thread wake-up (milliseconds on a loaded machine)
        with nogil:
            for o in range(outer):
                fn_mom_merge(&cnt[o, 0, 0], &mu[o, 0, 0], &m2[o, 0, 0], nch, inner)


def norm_stats(const real[:, :, ::1] x, double p, double[:, :, ::1] acc, int nthreads):
    cdef Py_ssize_t outer = x.shape[0], n = x.shape[1], inner = x.shape[2]
    cdef Py_ssize_t R, nch, W, ncb, task, o, ci, r0, j0, cs
    cdef Task t
    cdef int isf = real is float
    if outer == 0 or n == 0 or inner == 0:
        return
    _grid(n, inner, sizeof(real), &R, &nch, &W, &ncb)
    cs = _per_grab(n, R, W, sizeof(real))
    for task in prange(outer * nch * ncb, nogil=True, schedule="dynamic", chunksize=cs,
                       num_threads=nthreads):
        t = _task(task, nch, ncb, R, W)
        o, ci, r0, j0 = t.o, t.ci, t.r0, t.j0
        if inner == 1:
            fn_nrm_run(<const void*>&x[o, r0, 0], min(R, n - r0), isf, p, &acc[o, ci, 0])
        else:
            fn_nrm_cols(<const void*>&x[o, r0, j0], min(R, n - r0), min(W, inner - j0), inner,
                        isf, p, &acc[o, ci, j0])
    if nch > 1:
        # serial: a few merges per slice, and a second parallel region would
        # cost a thread wake-up (milliseconds on a loaded machine)
        with nogil:
            for o in range(outer):
                fn_nrm_merge(&acc[o, 0, 0], nch, inner, p)


# ------------------------------------------------------------ merges

def merge_moments(const double[::1] na, const double[::1] ma, const double[::1] qa,
                  const double[::1] nb, const double[::1] mb, const double[::1] qb,
                  double[::1] n, double[::1] m, double[::1] q):
    """Elementwise Chan merge of two flat (count, mean, m2) triples."""
    cdef Py_ssize_t i
    with nogil:
        for i in range(n.shape[0]):
            fn_chan(na[i], ma[i], qa[i], nb[i], mb[i], qb[i], &n[i], &m[i], &q[i])


def merge_norms(double p, const double[::1] a, const double[::1] b, double[::1] out):
    """Elementwise norm of two flat arrays of partial p-norms."""
    cdef Py_ssize_t i
    with nogil:
        for i in range(out.shape[0]):
            out[i] = fn_norm_merge(a[i], b[i], p)


# ------------------------------------------------------------ apply

def coef_minmax(const double[::1] lo, const double[::1] hi, double[::1] c, double[::1] den):
    """(first bad slice or -1, why) and c, den for minmax."""
    cdef int why = 0
    cdef Py_ssize_t bad
    with nogil:
        bad = fn_coef_minmax(&lo[0], &hi[0], lo.shape[0], &c[0], &den[0], &why)
    return bad, why


def coef_standardize(const double[::1] cnt, const double[::1] mean, const double[::1] m2,
                     double ddof, double eps, double[::1] c, double[::1] den):
    cdef int why = 0
    cdef Py_ssize_t bad
    with nogil:
        bad = fn_coef_std(&cnt[0], &mean[0], &m2[0], cnt.shape[0], ddof, eps, &c[0], &den[0],
                          &why)
    return bad, why


def coef_normalize(const double[::1] acc, double eps, double[::1] c, double[::1] den):
    with nogil:
        fn_coef_norm(&acc[0], acc.shape[0], eps, &c[0], &den[0])


cdef inline void _apply_grid(Py_ssize_t n, Py_ssize_t inner, Py_ssize_t itemsize,
                             Py_ssize_t* R, Py_ssize_t* nch, Py_ssize_t* W,
                             Py_ssize_t* ncb) noexcept nogil:
    # nothing to reduce: a task takes whole rows of `inner` (long contiguous
    # reads) unless a row alone exceeds a chunk
    cdef Py_ssize_t chunk = FN_CHUNK_BYTES // itemsize
    W[0] = max(<Py_ssize_t>1, min(inner, chunk))
    R[0] = max(<Py_ssize_t>1, chunk // W[0])
    ncb[0] = (inner + W[0] - 1) // W[0]
    nch[0] = (n + R[0] - 1) // R[0]


def apply_tasks(Py_ssize_t outer, Py_ssize_t n, Py_ssize_t inner, Py_ssize_t itemsize):
    cdef Py_ssize_t R, nch, W, ncb
    _apply_grid(n, inner, itemsize, &R, &nch, &W, &ncb)
    return outer * nch * ncb


def apply(const real[:, :, ::1] x, real[:, :, ::1] y, const double[:, ::1] c,
          const double[:, ::1] den, double lo, double hi, bint lerp, int nthreads):
    """y = t or lerp(lo, hi, t), t = (x - c) / den, c and den per (outer, inner) slot."""
    cdef Py_ssize_t outer = x.shape[0], n = x.shape[1], inner = x.shape[2]
    cdef Py_ssize_t R, nch, W, ncb, task, o, ci, r0, j0, cs, ntasks
    cdef Task t
    cdef int isf = real is float
    cdef double[::1] recips
    cdef const double* dp = &den[0, 0] if den.shape[0] * den.shape[1] else NULL
    if outer == 0 or n == 0 or inner == 0:
        return
    if real is float:
        # float32 multiplies by 1/den (see fn_ap)
        recips = np.empty(outer * inner)
        fn_recips(dp, outer * inner, &recips[0])
        dp = &recips[0]
    # streamed stores for an output much larger than the caches that is not
    # the input itself (in place, the lines are in cache already)
    cdef int stream = (outer * n * inner * sizeof(real) >= STREAM_BYTES
                       and <const void*>&x[0, 0, 0] != <void*>&y[0, 0, 0])
    _apply_grid(n, inner, sizeof(real), &R, &nch, &W, &ncb)
    cs = _per_grab(n, R, W, sizeof(real))
    ntasks = outer * nch * ncb
    for task in prange(ntasks, nogil=True, schedule="dynamic", chunksize=cs,
                       num_threads=nthreads):
        # last chunk first: the statistics pass that came before ended there,
        # so the first tasks here find their input still in cache
        t = _task(ntasks - 1 - task, nch, ncb, R, W)
        o, ci, r0, j0 = t.o, t.ci, t.r0, t.j0
        if inner == 1:
            fn_apply(<const void*>&x[o, r0, 0], <void*>&y[o, r0, 0], 1, min(R, n - r0), 0,
                     &c[o, 0], dp + o, 0, lo, hi, lerp, isf, stream)
        else:
            fn_apply(<const void*>&x[o, r0, j0], <void*>&y[o, r0, j0], min(R, n - r0),
                     min(W, inner - j0), inner, &c[o, j0], dp + o * inner + j0, 1, lo, hi,
                     lerp, isf, stream)


def row_limit(Py_ssize_t itemsize):
    """The longest slice that normalize_rows takes: one task, one chunk."""
    return FN_CHUNK_BYTES // itemsize


def normalize_rows(const real[:, :, ::1] x, real[:, :, ::1] y, double p, double eps,
                   int nthreads):
    """y = normalize_apply(x, norm_stats(x)) for (outer, n, 1) blocks with
    n <= row_limit: per row, the same norm (fn_nrm_run over one chunk, no
    merge), coefficient and apply calls as the two-phase path, while the row
    is in cache."""
    cdef Py_ssize_t outer = x.shape[0], n = x.shape[1], o
    cdef int isf = real is float
    cdef double acc, c, den, d
    cdef int stream = (outer * n * sizeof(real) >= STREAM_BYTES
                       and <const void*>&x[0, 0, 0] != <void*>&y[0, 0, 0])
    if outer == 0 or n == 0:
        return
    for o in prange(outer, nogil=True, schedule="dynamic",
                    chunksize=max(<Py_ssize_t>1, FN_CHUNK_BYTES // (n * sizeof(real))),
                    num_threads=nthreads):
        # assigned here so that Cython makes them thread-private (the calls
        # below write them through pointers)
        acc = 0.0
        c = 0.0
        den = 0.0
        fn_nrm_run(<const void*>&x[o, 0, 0], n, isf, p, &acc)
        fn_coef_norm(&acc, 1, eps, &c, &den)
        d = den
        if real is float:
            fn_recips(&den, 1, &d)
        fn_apply(<const void*>&x[o, 0, 0], <void*>&y[o, 0, 0], 1, n, 0, &c, &d, 0, 0.0, 1.0,
                 0, isf, stream)
