/* Per-slice statistics (min/max, moments, p-norms), their merges and the
 * affine transform that applies them: the C loops behind
 * cpu/preprocessing.pyx, whose docstring gives the layout and numerics.
 *
 * GCC vector extensions (vec.h), as in rows.h: gcc does not vectorize
 * floating-point reductions without -ffast-math, whose -ffinite-math-only
 * would break the NaN semantics.  The bodies take the dtype (and the norm's
 * kind) as flags that are constants after inlining: each clone and each
 * branch gets its own loop.
 */
#ifndef FASTACT_NORM_H
#define FASTACT_NORM_H

#include <math.h>
#include <stdint.h>
#include <string.h>
#include <stddef.h>

#include "vec.h"

#define FN_COLS 256            /* columns per task when the axis is not the last */
#define FN_LANES 16            /* independent accumulators along a contiguous run */
/* input bytes per task: a float64 chunk read twice stays in L2 */
#define FN_CHUNK_BYTES 131072

/* unaligned, aliasing views of memory */
typedef double fn_v4du __attribute__((vector_size(32), aligned(8), may_alias));
typedef float fn_v4fu __attribute__((vector_size(16), aligned(4), may_alias));

#define FN_AT(p, i, isf) ((const char *)(p) + (ptrdiff_t)(i) * ((isf) ? 4 : 8))
#define FN_ATW(p, i, isf) ((char *)(p) + (ptrdiff_t)(i) * ((isf) ? 4 : 8))

FA_INLINE v4d fn_abs(v4d v)
{
    const v4i M = {INT64_MAX, INT64_MAX, INT64_MAX, INT64_MAX};
    return (v4d)((v4i)v & M);
}
/* four elements at p as doubles */
FA_INLINE v4d fn_ld4(const char *p, int isf)
{
    /* element by element: gcc makes this one vcvtps2pd, and the
     * __builtin_convertvector of a float vector crashes gcc 12 (expr.cc:333)
     * in the baseline clone */
    if (isf) {
        const float *f = (const float *)p;
        return (v4d){f[0], f[1], f[2], f[3]};
    }
    return *(const fn_v4du *)p;
}
FA_INLINE void fn_st4(char *p, int isf, v4d v)
{
    if (isf) *(fn_v4fu *)p = __builtin_convertvector(v, v4f);
    else *(fn_v4du *)p = v;
}
FA_INLINE v4d fn_acc(const double *p) { return *(const fn_v4du *)p; }
FA_INLINE void fn_put(double *p, v4d v) { *(fn_v4du *)p = v; }
/* k < 4 elements, the other lanes `pad` */
FA_INLINE v4d fn_ldk(const char *p, ptrdiff_t k, int isf, double pad)
{
    v4d v = fa_splat(pad);
    for (ptrdiff_t i = 0; i < k; i++)
        v[i] = isf ? (double)((const float *)p)[i] : ((const double *)p)[i];
    return v;
}
FA_INLINE void fn_stk(char *p, ptrdiff_t k, int isf, v4d v)
{
    for (ptrdiff_t i = 0; i < k; i++) {
        if (isf) ((float *)p)[i] = (float)v[i];
        else ((double *)p)[i] = v[i];
    }
}

/* s^(1/p): 1/p is rounded, which pow amplifies by |log s|; one Newton step
 * on r^p = s removes that */
FA_INLINE double fn_root(double s, double p)
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
 * (state *, v4d v, int isf, int mode, double p). */
#define FN_REDUCE(S, x, rows, w, stride, isf, pad, acc, mode, p) do {                   \
    ptrdiff_t w4_ = (w) & ~(ptrdiff_t)3, r_ = 0;                                        \
    for (; r_ + 4 <= (rows); r_ += 4) {                                                 \
        const char *x0_ = FN_AT(x, r_ * (stride), isf);                                 \
        const char *x1_ = FN_AT(x0_, (stride), isf), *x2_ = FN_AT(x1_, (stride), isf);  \
        const char *x3_ = FN_AT(x2_, (stride), isf);                                    \
        for (ptrdiff_t j_ = 0; j_ < w4_; j_ += 4) {                                     \
            fn_##S##_st s_ = fn_##S##_load(acc, j_);                                    \
            fn_##S##_step(&s_, fn_ld4(FN_AT(x0_, j_, isf), isf), isf, mode, p);         \
            fn_##S##_step(&s_, fn_ld4(FN_AT(x1_, j_, isf), isf), isf, mode, p);         \
            fn_##S##_step(&s_, fn_ld4(FN_AT(x2_, j_, isf), isf), isf, mode, p);         \
            fn_##S##_step(&s_, fn_ld4(FN_AT(x3_, j_, isf), isf), isf, mode, p);         \
            fn_##S##_store(acc, j_, s_);                                                \
        }                                                                               \
    }                                                                                   \
    for (; r_ < (rows); r_++) {                                                         \
        const char *x0_ = FN_AT(x, r_ * (stride), isf);                                 \
        for (ptrdiff_t j_ = 0; j_ < w4_; j_ += 4) {                                     \
            fn_##S##_st s_ = fn_##S##_load(acc, j_);                                    \
            fn_##S##_step(&s_, fn_ld4(FN_AT(x0_, j_, isf), isf), isf, mode, p);         \
            fn_##S##_store(acc, j_, s_);                                                \
        }                                                                               \
    }                                                                                   \
    if (w4_ < (w))                                                                      \
        for (r_ = 0; r_ < (rows); r_++) {                                               \
            fn_##S##_st s_ = fn_##S##_load(acc, w4_);                                   \
            fn_##S##_step(&s_, fn_ldk(FN_AT(x, r_ * (stride) + w4_, isf), (w) - w4_,    \
                                      isf, pad), isf, mode, p);                         \
            fn_##S##_store(acc, w4_, s_);                                               \
        }                                                                               \
} while (0)

/* a run of n contiguous elements: rows of FN_LANES, then the tail as one
 * short row */
#define FN_REDUCE_RUN(S, x, n, isf, pad, acc, mode, p) do {                             \
    ptrdiff_t rows_ = (n) / FN_LANES;                                                   \
    FN_REDUCE(S, x, rows_, FN_LANES, FN_LANES, isf, pad, acc, mode, p);                 \
    FN_REDUCE(S, FN_AT(x, rows_ * FN_LANES, isf), (n) % FN_LANES > 0, (n) % FN_LANES,  \
              0, isf, pad, acc, mode, p);                                               \
} while (0)

/* ------------------------------------------------------------ merges */

/* Chan, Golub & LeVeque's pairwise update of (count, mean, m2).  Equal
 * means give delta = 0: constant slices stay exact.  An empty side
 * (count 0) leaves the other unchanged. */
FA_INLINE void fn_chan(double na, double ma, double qa, double nb, double mb, double qb,
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
FA_INLINE double fn_norm_merge(double a, double b, double p)
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
typedef struct { v4d l, h; } fn_mm_st;
FA_INLINE fn_mm_st fn_mm_load(const fn_mm_acc *a, ptrdiff_t j)
{
    return (fn_mm_st){fn_acc(a->lo + j), fn_acc(a->hi + j)};
}
FA_INLINE void fn_mm_store(const fn_mm_acc *a, ptrdiff_t j, fn_mm_st s)
{
    fn_put(a->lo + j, s.l);
    fn_put(a->hi + j, s.h);
}
FA_INLINE void fn_mm_step(fn_mm_st *s, v4d v, int isf, int mode, double p)
{
    s->l = fa_select(v < s->l, v, s->l);
    s->h = fa_select(v > s->h, v, s->h);
}
FA_INLINE void fn_mm_init(double *lo, double *hi, ptrdiff_t w)
{
    for (ptrdiff_t j = 0; j < w; j++) { lo[j] = INFINITY; hi[j] = -INFINITY; }
}

FA_INLINE void fn_mm_run_b(const void *x, ptrdiff_t n, int isf, double *lo, double *hi)
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
FA_INLINE void fn_mm_cols_b(const void *x, ptrdiff_t rows, ptrdiff_t w, ptrdiff_t stride,
                            int isf, double *lo, double *hi)
{
    double l[FN_COLS], h[FN_COLS];
    fn_mm_acc a = {l, h};
    fn_mm_init(l, h, FN_COLS);
    FN_REDUCE(mm, x, rows, w, stride, isf, NAN, &a, 0, 0.0);
    for (ptrdiff_t j = 0; j < w; j++) { lo[j] = l[j]; hi[j] = h[j]; }
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
typedef struct { v4d k, s, q, c; } fn_m1_st;
FA_INLINE fn_m1_st fn_m1_load(const fn_mom_acc *a, ptrdiff_t j)
{
    return (fn_m1_st){fn_acc(a->K + j), fn_acc(a->S + j), fn_acc(a->Q + j), fn_acc(a->C + j)};
}
FA_INLINE void fn_m1_store(const fn_mom_acc *a, ptrdiff_t j, fn_m1_st s)
{
    fn_put(a->S + j, s.s);
    fn_put(a->Q + j, s.q);
    fn_put(a->C + j, s.c);
}
FA_INLINE void fn_m1_step(fn_m1_st *s, v4d v, int isf, int mode, double p)
{
    v4i ok = v == v;
    v4d d = fa_select(ok, v - s->k, fa_splat(0.0));
    s->s += d;
    if (isf) s->q += d * d;
    s->c += fa_select(ok, fa_splat(1.0), fa_splat(0.0));
}

/* float64 pass 2, around the pass-1 mean m0 (in K): S = sum(x - m0) (the
 * correction term), Q = sum((x - m0)^2) with Kahan's compensation E.  x - m0
 * is exact wherever x is within a factor 2 of m0. */
typedef fn_m1_st fn_m2_st;
FA_INLINE fn_m2_st fn_m2_load(const fn_mom_acc *a, ptrdiff_t j)
{
    return (fn_m2_st){fn_acc(a->K + j), fn_acc(a->S + j), fn_acc(a->Q + j), fn_acc(a->E + j)};
}
FA_INLINE void fn_m2_store(const fn_mom_acc *a, ptrdiff_t j, fn_m2_st s)
{
    fn_put(a->S + j, s.s);
    fn_put(a->Q + j, s.q);
    fn_put(a->E + j, s.c);
}
FA_INLINE void fn_m2_step(fn_m2_st *s, v4d v, int isf, int mode, double p)
{
    v4d d = fa_select(v == v, v - s->k, fa_splat(0.0));
    s->s += d;
    v4d y = d * d - s->c, t = s->q + y;       /* c holds E here */
    s->c = (t - s->q) - y;
    s->q = t;
}

FA_INLINE void fn_mom_clear(const fn_mom_acc *a, ptrdiff_t w)
{
    for (ptrdiff_t j = 0; j < w; j++) { a->S[j] = 0.0; a->Q[j] = 0.0; a->E[j] = 0.0; }
}
/* (mu, m2) relative to the shift k0 from sums relative to the pass's own
 * shift k (k0 itself in pass 1; the pass-1 mean m0 in pass 2) */
FA_INLINE void fn_mom_out(double k0, double k, double s, double q, double c, double *mu,
                          double *m2)
{
    if (!(c > 0.0)) { *mu = 0.0; *m2 = 0.0; return; }
    double d = s / c, r = q - s * d;
    *mu = (k - k0) + d;
    *m2 = r < 0.0 ? 0.0 : r;        /* rounding only; NaN is kept */
}

FA_INLINE void fn_mom_run_b(const void *x, ptrdiff_t n, int isf, double k0, double *cnt,
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
FA_INLINE void fn_mom_cols_b(const void *x, ptrdiff_t rows, ptrdiff_t w, ptrdiff_t stride,
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

/* ------------------------------------------------------------ p-norms */

/* S = sum |x|^p (E: Kahan's compensation, float64 input); for p = inf
 * S = max |x| and E = NaN once a NaN was seen.  mode: 0 for p = inf, 1 and
 * 2 for those p, 3 for any other p. */
typedef struct { double *S, *E; } fn_nr_acc;
typedef struct { v4d s, e; } fn_nr_st;
FA_INLINE fn_nr_st fn_nr_load(const fn_nr_acc *a, ptrdiff_t j)
{
    return (fn_nr_st){fn_acc(a->S + j), fn_acc(a->E + j)};
}
FA_INLINE void fn_nr_store(const fn_nr_acc *a, ptrdiff_t j, fn_nr_st s)
{
    fn_put(a->S + j, s.s);
    fn_put(a->E + j, s.e);
}
FA_INLINE void fn_nr_step(fn_nr_st *s, v4d v, int isf, int mode, double p)
{
    v4d a = fn_abs(v);
    if (mode == 0) {
        s->s = fa_select(a > s->s, a, s->s);
        s->e = fa_select(a != a, a, s->e);
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
        v4d y = a - s->e, t = s->s + y, e = (t - s->s) - y;
        s->e = fa_select(fn_abs(e) < fa_splat(INFINITY), e, fa_splat(0.0));
        s->s = t;
    }
}
FA_INLINE int fn_nr_mode(double p) { return p == INFINITY ? 0 : p == 1.0 ? 1 : p == 2.0 ? 2 : 3; }

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
FA_INLINE double fn_nr_final(double s, const void *x, ptrdiff_t rows, ptrdiff_t stride, int isf,
                             int mode, double p)
{
    if (mode == 0) return s;
    int risky = mode == 3 || (mode == 2 && !isf);
    if (risky && s == s && !(s >= 0x1p-900 && s < INFINITY))
        return fn_norm_scaled(x, rows, stride, isf, p);
    return mode == 1 ? s : (mode == 2 ? sqrt(s) : fn_root(s, p));
}

FA_INLINE void fn_nr_run_b(const void *x, ptrdiff_t n, int isf, int mode, double p, double *out)
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
FA_INLINE void fn_nr_cols_b(const void *x, ptrdiff_t rows, ptrdiff_t w, ptrdiff_t stride,
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
#define FN_NR_DISPATCH(CALL) do {                                                 \
    int m_ = fn_nr_mode(p);                                                       \
    if (isf) {                                                                    \
        if (m_ == 0) CALL(1, 0); else if (m_ == 1) CALL(1, 1);                    \
        else if (m_ == 2) CALL(1, 2); else CALL(1, 3);                            \
    } else {                                                                      \
        if (m_ == 0) CALL(0, 0); else if (m_ == 1) CALL(0, 1);                    \
        else if (m_ == 2) CALL(0, 2); else CALL(0, 3);                            \
    }                                                                             \
} while (0)

/* ------------------------------------------------------------ apply */

/* y = t or lo*(1 - t) + hi*t (exact at t = 0 and t = 1), t = (x - c)/den,
 * in double; den = inf gives t = 0 (NaN for NaN x).  float64 divides (one
 * rounding); float32 multiplies by r = 1/den (fn_recips), whose error
 * (2^-53) is far below the final rounding to float.  Element i is read
 * before it is written: y may be x. */
FA_INLINE v4d fn_ap(v4d v, v4d c, v4d d, double lo, double hi, int lerp, int isf)
{
    v4d t = isf ? (v - c) * d : (v - c) / d;
    return lerp ? fa_splat(lo) * (1.0 - t) + fa_splat(hi) * t : t;
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
FA_INLINE void fn_st4_stream(char *p, int isf, v4d v)
{
    if (isf) {
        v4f f = __builtin_convertvector(v, v4f);
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
FA_INLINE void fn_apply_b(const void *x, void *y, ptrdiff_t rows, ptrdiff_t w,
                          ptrdiff_t stride, const double *c, const double *d, int percol,
                          double lo, double hi, int lerp, int isf, int stream)
{
    v4d cs = fa_splat(c[0]), ds = fa_splat(d[0]);
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
                v4d cv = percol ? fn_ldk((const char *)c, head, 0, 0.0) : cs;
                v4d dv = percol ? fn_ldk((const char *)d, head, 0, 1.0) : ds;
                fn_stk(yr, head, isf, fn_ap(fn_ldk(xr, head, isf, 0.0), cv, dv, lo, hi, lerp, isf));
            }
            for (j = head; j + 4 <= w; j += 4) {
                v4d cv = percol ? fn_acc(c + j) : cs, dv = percol ? fn_acc(d + j) : ds;
                fn_st4_stream(FN_ATW(yr, j, isf), isf,
                              fn_ap(fn_ld4(FN_AT(xr, j, isf), isf), cv, dv, lo, hi, lerp, isf));
            }
            w4 = j;
        }
        for (; j < w4; j += 4) {
            v4d cv = percol ? fn_acc(c + j) : cs, dv = percol ? fn_acc(d + j) : ds;
            fn_st4(FN_ATW(yr, j, isf), isf,
                   fn_ap(fn_ld4(FN_AT(xr, j, isf), isf), cv, dv, lo, hi, lerp, isf));
        }
        if (j < w) {
            v4d cv = percol ? fn_ldk((const char *)(c + j), w - j, 0, 0.0) : cs;
            v4d dv = percol ? fn_ldk((const char *)(d + j), w - j, 0, 1.0) : ds;
            fn_stk(FN_ATW(yr, j, isf), w - j, isf,
                   fn_ap(fn_ldk(FN_AT(xr, j, isf), w - j, isf, 0.0), cv, dv, lo, hi, lerp, isf));
        }
    }
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

/* --------------------------------------- the per-path entry points */

#define FA_BODY "norm_body.h"
#include "clones.h"

FA_DISPATCH(fn_mm_run, (const void *x, ptrdiff_t n, int isf, double *lo, double *hi),
            (x, n, isf, lo, hi))
FA_DISPATCH(fn_mm_cols, (const void *x, ptrdiff_t rows, ptrdiff_t w, ptrdiff_t stride, int isf,
                         double *lo, double *hi),
            (x, rows, w, stride, isf, lo, hi))
FA_DISPATCH(fn_mom_run, (const void *x, ptrdiff_t n, int isf, double k0, double *cnt,
                         double *mu, double *m2),
            (x, n, isf, k0, cnt, mu, m2))
FA_DISPATCH(fn_mom_cols, (const void *x, ptrdiff_t rows, ptrdiff_t w, ptrdiff_t stride,
                          int isf, const double *k0, double *cnt, double *mu, double *m2),
            (x, rows, w, stride, isf, k0, cnt, mu, m2))
FA_DISPATCH(fn_nrm_run, (const void *x, ptrdiff_t n, int isf, double p, double *out),
            (x, n, isf, p, out))
FA_DISPATCH(fn_nrm_cols, (const void *x, ptrdiff_t rows, ptrdiff_t w, ptrdiff_t stride,
                          int isf, double p, double *out),
            (x, rows, w, stride, isf, p, out))
FA_DISPATCH(fn_apply, (const void *x, void *y, ptrdiff_t rows, ptrdiff_t w, ptrdiff_t stride,
                       const double *c, const double *d, int percol, double lo, double hi,
                       int lerp, int isf, int stream),
            (x, y, rows, w, stride, c, d, percol, lo, hi, lerp, isf, stream))

#endif
