/* glu and maxout over (outer, n, inner) blocks, and their backward passes:
 * the C loops behind cpu/grouped.pyx, which hands each call one task.
 *
 * C rather than Cython expressions for two reasons: gcc vectorizes plain C
 * loops over pointers reliably, and clones.h builds each kernel once per
 * instruction-set path (the 512-bit one included: gcc vectorizes these loops
 * at the path's width), one chosen at import, so the build stays portable.  The loops are scalar C that gcc vectorizes; the sigmoid and
 * its exp are exp.h's.  (Built with -fno-trapping-math, see setup.py, so
 * that gcc if-converts the sigmoid's and the NaN handling's selects.)
 */
#ifndef FASTACT_GROUPED_H
#define FASTACT_GROUPED_H

#include <math.h>
#include <stdint.h>
#include <string.h>
#include <stddef.h>

#include "exp.h"
#include "stream.h"
#if defined(__x86_64__)
#include <immintrin.h>
#endif

/* (the helpers are FA_INLINE, always inlined: gcc's heuristics decline
 * fa_sigmoid, and the loops do not vectorize around a call) */

/* elements per glu task and input elements per maxout task: large
 * enough that a task amortizes its scheduling, small enough that a
 * modest array still splits over the threads */
#define FG_GLU_CHUNK 16384
#define FG_MAX_CHUNK 32768
/* columns per maxout task when inner > 1: the running maxima of a block
 * stay in L1 */
#define FG_COLS 1024
/* prelu backward: elements per task (a run longer than this is split),
 * running sums per task (8: a ymm of floats) */
#define FG_PRELU_CHUNK 32768
#define FG_PRELU_LANES 8
/* prelu backward: elements per streamed block (a multiple of FG_PRELU_LANES) */
#define FG_PRELU_BLOCK 1024
/* groups per zeroed chunk of the inner == 1 maxout backward (a few KiB) */
#define FG_MAX_BWD_CHUNK 256
/* groups per index scratch block in the inner == 1 maxout loop */
#define FG_ID_BLOCK 1024

/* glu and its backward on one contiguous run of each half: float with
 * the float helpers, double with the double ones and the long
 * polynomial.  The split scale (ss, s2) keeps c * sigmoid(b) accurate
 * where sigmoid(b) alone would be subnormal.
 *
 * The forward takes the run in blocks of FG_GLU_BLOCK: a block whose gates
 * all have |b| <= -NORMAL_MIN (the common case; NaN and inf fail the test)
 * has e = e^-|b| normal, so it needs no split, no clamp and no NaN select
 * (fg_exp_normal_*): at 16M float32 those operations were what kept glu
 * off the memory's pace (10-15% of its time).  Its bits are the careful loop's
 * wherever no product is subnormal; where one is, the result is within an
 * ULP of the subnormal range.  Blocks are fixed by the run, not by the
 * threads, so the results still do not depend on the thread count. */
#define FG_GLU_BLOCK 256
FA_INLINE double fg_exp_normal_d(double x) { return fa_exp_normal(x, 13); }
#define fg_exp_normal_f fa_expf_normal
#define FG_GLU(SUF, T, SIG, EXPNEG, NORMAL_MIN, FABS, ...)                        \
FA_ENTRY void FA_SFX(fg_glu_##SUF)(const T *a, const T *b, T *y, ptrdiff_t len)  \
{                                                                                  \
    for (ptrdiff_t i0 = 0; i0 < len; i0 += FG_GLU_BLOCK) {                         \
        ptrdiff_t w = len - i0 < FG_GLU_BLOCK ? len - i0 : FG_GLU_BLOCK;           \
        const T *ab = a + i0, *bb = b + i0;                                        \
        T *yb = y + i0;                                                            \
        int rare = 0;                                                              \
        for (ptrdiff_t i = 0; i < w; i++)                                          \
            rare |= !(FABS(bb[i]) <= -(NORMAL_MIN));                               \
        if (!rare) {                                                               \
            for (ptrdiff_t i = 0; i < w; i++) {                                    \
                T bi = bb[i];                                                      \
                T e = fg_exp_normal_##SUF(-FABS(bi));                              \
                T num = ab[i] * (bi >= 0 ? (T)1 : e);                              \
                yb[i] = num / ((T)1 + e);                                          \
            }                                                                      \
            continue;                                                              \
        }                                                                          \
        /* a e/(1 + e) (b < 0) or a/(1 + e) as one division: the division is   \
         * the last rounding but the split scale's */                             \
        for (ptrdiff_t i = 0; i < w; i++) {                                        \
            T s2, bi = bb[i], ai = ab[i];                                          \
            T eh = EXPNEG(-FABS(bi), __VA_ARGS__ &s2);                             \
            int pos = bi >= 0;                                                     \
            T num = ai * (pos ? (T)1 : eh);                                        \
            T ss = pos ? (T)1 : s2;                                                \
            yb[i] = (num / ((T)1 + eh * s2)) * ss;                                 \
        }                                                                          \
    }                                                                              \
}                                                                                  \
/* ga, gb may be a, b themselves (in place): element i is read before written */  \
FA_ENTRY void FA_SFX(fg_glu_bwd_##SUF)(const T *g, const T *a, const T *b,       \
                                       T *ga, T *gb, ptrdiff_t len)                \
{                                                                                  \
    for (ptrdiff_t i = 0; i < len; i++) {                                          \
        T ss, dsh, s2, gi = g[i], ai = a[i];                                       \
        T sh = SIG(b[i], __VA_ARGS__ &ss, &dsh, &s2);                              \
        ga[i] = (gi * sh) * ss;                                                    \
        gb[i] = ((gi * ai) * dsh) * s2;                                            \
    }                                                                              \
}

/* The scans run j DOWN from k-1 to 0 with single-compare selects, which
 * gcc vectorizes (a compound "v > m, or v is the first NaN" condition it
 * does not):  m = v >= m ? v : m  ends at the lowest j holding the
 * maximum -- the first on ties, so max(-0.0, +0.0) is -0.0 -- and
 * nv = v != v ? v : nv  ends at the first NaN, which wins if there is one
 * (its value and position, as torch.max). */

/* ---- maxout, inner == 1: ng groups of k adjacent elements ----
 * IT: the within-group index while scanning, as wide as T so that the
 * value and index selects vectorize together (int32 only for small
 * constant k) */
#define FG_MAX_ROW_K(SUF, T, IT)                                                   \
FA_INLINE void fg_max_row_k_##SUF(const T *x, T *y, int64_t *ix, ptrdiff_t ng,     \
                                  ptrdiff_t k, int64_t base)                       \
{                                                                                  \
    if (ix) {                                                                      \
        /* the ids go to a scratch block of IT first and are widened after:  */   \
        /* one loop mixing T and int64 vectorizes badly without AVX2         */   \
        IT tmp[FG_ID_BLOCK];                                                       \
        for (ptrdiff_t g0 = 0; g0 < ng; g0 += FG_ID_BLOCK) {                       \
            ptrdiff_t nb = ng - g0 < FG_ID_BLOCK ? ng - g0 : FG_ID_BLOCK;          \
            for (ptrdiff_t g = 0; g < nb; g++) {                                   \
                const T *xg = x + (g0 + g) * k;                                    \
                T m = xg[k - 1], nv = m != m ? m : (T)0;                           \
                IT id = (IT)(k - 1), nid = (IT)(k - 1);                            \
                for (ptrdiff_t j = k - 2; j >= 0; j--) {                           \
                    T v = xg[j];                                                   \
                    id = v >= m ? (IT)j : id;                                      \
                    m = v >= m ? v : m;                                            \
                    nid = v != v ? (IT)j : nid;                                    \
                    nv = v != v ? v : nv;                                          \
                }                                                                  \
                y[g0 + g] = nv != nv ? nv : m;                                     \
                tmp[g] = nv != nv ? nid : id;                                      \
            }                                                                      \
            for (ptrdiff_t g = 0; g < nb; g++)                                     \
                ix[g0 + g] = base + (g0 + g) * k + tmp[g];                         \
        }                                                                          \
    } else {                                                                       \
        for (ptrdiff_t g = 0; g < ng; g++) {                                       \
            const T *xg = x + g * k;                                               \
            T m = xg[k - 1], nv = m != m ? m : (T)0;                               \
            for (ptrdiff_t j = k - 2; j >= 0; j--) {                               \
                T v = xg[j];                                                       \
                m = v >= m ? v : m;                                                \
                nv = v != v ? v : nv;                                              \
            }                                                                      \
            y[g] = nv != nv ? nv : m;                                              \
        }                                                                          \
    }                                                                              \
}
FG_MAX_ROW_K(f_wide, float, int64_t)
FG_MAX_ROW_K(f, float, int32_t)
FG_MAX_ROW_K(d, double, int64_t)
#define fg_max_row_k_d_wide fg_max_row_k_d

#define FG_MAX(SUF, T)                                                             \
/* k as a constant for the common group sizes: the inner loop unrolls and   */   \
/* gcc vectorizes across groups with interleaved loads                       */   \
FA_ENTRY void FA_SFX(fg_max_row_##SUF)(const T *x, T *y, int64_t *ix, ptrdiff_t ng,\
                                      ptrdiff_t k, int64_t base)                   \
{                                                                                  \
    switch (k) {                                                                   \
    case 2: fg_max_row_k_##SUF(x, y, ix, ng, 2, base); break;                      \
    case 3: fg_max_row_k_##SUF(x, y, ix, ng, 3, base); break;                      \
    case 4: fg_max_row_k_##SUF(x, y, ix, ng, 4, base); break;                      \
    case 8: fg_max_row_k_##SUF(x, y, ix, ng, 8, base); break;                      \
    default: fg_max_row_k_##SUF##_wide(x, y, ix, ng, k, base);                     \
    }                                                                              \
}                                                                                  \
/* ---- maxout, inner > 1: group g is rows g*k .. g*k+k-1 of `stride`   */        \
/* elements; w <= FG_COLS columns of them, vectorized along the columns */        \
/* with the running maximum and index kept in y and ix themselves.      */        \
/* k == 1 with y == x (in place) reads each element before writing it.  */        \
FA_ENTRY void FA_SFX(fg_max_cols_##SUF)(const T *x, T *y, int64_t *ix, ptrdiff_t ng, \
                                       ptrdiff_t k, ptrdiff_t w, ptrdiff_t stride,  \
                                       int64_t base)                              \
{                                                                                  \
    T nv[FG_COLS];                                                                 \
    int64_t nid[FG_COLS];                                                          \
    for (ptrdiff_t g = 0; g < ng; g++) {                                           \
        const T *xl = x + (g * k + k - 1) * stride;                                \
        T *yg = y + g * stride;                                                    \
        int64_t *ig = ix ? ix + g * stride : NULL;                                 \
        int64_t p0 = base + g * k;                                                 \
        for (ptrdiff_t t = 0; t < w; t++) {                                        \
            T v = xl[t];                                                           \
            yg[t] = v;                                                             \
            nv[t] = v != v ? v : (T)0;                                             \
        }                                                                          \
        if (ig) for (ptrdiff_t t = 0; t < w; t++) ig[t] = nid[t] = p0 + k - 1;     \
        for (ptrdiff_t j = k - 2; j >= 0; j--) {                                   \
            const T *xr = x + (g * k + j) * stride;                                \
            if (ig) {                                                              \
                for (ptrdiff_t t = 0; t < w; t++) {                                \
                    T v = xr[t], m = yg[t];                                        \
                    ig[t] = v >= m ? p0 + j : ig[t];                               \
                    yg[t] = v >= m ? v : m;                                        \
                    nid[t] = v != v ? p0 + j : nid[t];                             \
                    nv[t] = v != v ? v : nv[t];                                    \
                }                                                                  \
            } else {                                                               \
                for (ptrdiff_t t = 0; t < w; t++) {                                \
                    T v = xr[t], m = yg[t];                                        \
                    yg[t] = v >= m ? v : m;                                        \
                    nv[t] = v != v ? v : nv[t];                                    \
                }                                                                  \
            }                                                                      \
        }                                                                          \
        if (ig) for (ptrdiff_t t = 0; t < w; t++) ig[t] = nv[t] != nv[t] ? nid[t] : ig[t]; \
        for (ptrdiff_t t = 0; t < w; t++) yg[t] = nv[t] != nv[t] ? nv[t] : yg[t];  \
    }                                                                              \
}                                                                                  \
/* ---- maxout backward: out[g*k + j] = g_out[g] where j is the argmax ---- */    \
/* (indices already validated), zero elsewhere; each position written once. */   \
/* With k == 1 out may be go itself: element t is read before it is written. */   \
/* k > 1: each chunk of groups is zeroed (vector stores), then every group's */   \
/* gradient is stored at its argmax while the chunk is in L1: a select per   */   \
/* output element compiled to branchy scalar code, 5x slower (both paths). */    \
FA_INLINE void FA_SFX(fg_max_bwd_row_k_##SUF)(const T *go, const int64_t *ix, T *out,  \
                                          ptrdiff_t ng, ptrdiff_t k, int64_t base) \
{                                                                                  \
    if (k == 1) {                                                                  \
        for (ptrdiff_t g = 0; g < ng; g++) out[g] = go[g];                         \
        return;                                                                    \
    }                                                                              \
    for (ptrdiff_t g0 = 0; g0 < ng; g0 += FG_MAX_BWD_CHUNK) {                      \
        const ptrdiff_t g1 = ng - g0 < FG_MAX_BWD_CHUNK ? ng : g0 + FG_MAX_BWD_CHUNK; \
        T *o = out + g0 * k;                                                       \
        for (ptrdiff_t i = 0; i < (g1 - g0) * k; i++) o[i] = (T)0;                 \
        for (ptrdiff_t g = g0; g < g1; g++) out[ix[g] - base] = go[g];             \
    }                                                                              \
}                                                                                  \
FA_ENTRY void FA_SFX(fg_max_bwd_##SUF)(const T *go, const int64_t *ix, T *out,     \
                                      ptrdiff_t ng, ptrdiff_t k, ptrdiff_t w,      \
                                      ptrdiff_t stride, int64_t base)              \
{                                                                                  \
    if (stride == 1) {                                                             \
        switch (k) {                                                               \
        case 2: FA_SFX(fg_max_bwd_row_k_##SUF)(go, ix, out, ng, 2, base); break;           \
        case 4: FA_SFX(fg_max_bwd_row_k_##SUF)(go, ix, out, ng, 4, base); break;           \
        default: FA_SFX(fg_max_bwd_row_k_##SUF)(go, ix, out, ng, k, base);                 \
        }                                                                          \
        return;                                                                    \
    }                                                                              \
    for (ptrdiff_t g = 0; g < ng; g++) {                                           \
        const T *gg = go + g * stride;                                             \
        const int64_t *ig = ix + g * stride;                                       \
        T *og = out + g * k * stride;                                              \
        int64_t p0 = base + g * k;                                                 \
        for (ptrdiff_t j = 0; j < k; j++) {                                        \
            T *orow = og + j * stride;                                             \
            for (ptrdiff_t t = 0; t < w; t++)                                      \
                orow[t] = ig[t] == p0 + j ? gg[t] : (T)0;                          \
        }                                                                          \
    }                                                                              \
}

/* ---- prelu backward on a run of len elements sharing one weight w ----------
 * (already rounded to T): gi = g where x > 0, else g w, as leaky_relu's
 * backward kernel computes it, and *sum = the sum in double of the weight's
 * terms g x (rounded to T) where x <= 0 or NaN, kept in FG_PRELU_LANES running
 * sums: a fixed order, so a total built from fixed runs does not depend on
 * how the runs were spread over threads.  gi may be g or x itself: each block
 * is read whole before it is written.  `stream`: gi is written with
 * streaming stores (the caller fences), for outputs far larger than the
 * caches: the kernel is bound by memory, and a plain store would first read
 * each line of gi.  Straight from the registers where gi is 16-byte aligned
 * on a path with AVX, else each block through a cached buffer (stream.h).  Blocks start at
 * multiples of FG_PRELU_LANES, so the sums take the same order either way.
 * The groups of 8 (FG_PRELU_GROUPS, in grouped_body.h) are explicit vectors
 * where the path has AVX: gcc vectorizes the sums in double poorly or not at
 * all, and its generic vectors convert float to double through xmm halves. */
#define FG_PRELU(SUF, T)                                                           \
FA_ENTRY void FA_SFX(fg_prelu_bwd_##SUF)(const T *g, const T *x, T *gi, T w,      \
                                        ptrdiff_t len, int stream, double *sum)   \
{                                                                                  \
    double s[FG_PRELU_LANES] = {0};                                                \
    /* streamed from the registers where the path can and gi allows it */        \
    int nt = stream && FG_PRELU_NT && (uintptr_t)gi % 16 == 0;                     \
    int buffered = stream && !nt;                                                  \
    T buf[buffered ? FG_PRELU_BLOCK : 1] __attribute__((aligned(64)));            \
    for (ptrdiff_t i0 = 0; i0 < len; i0 += FG_PRELU_BLOCK) {                       \
        ptrdiff_t m = len - i0 < FG_PRELU_BLOCK ? len - i0 : FG_PRELU_BLOCK;       \
        ptrdiff_t i = m - m % FG_PRELU_LANES;                                      \
        T *ob = buffered ? buf : gi + i0;                                          \
        FA_SFX(fg_prelu_groups_##SUF)(g + i0, x + i0, ob, w, i, s, nt);            \
        /* the tail (last block only: blocks hold whole groups) */                 \
        for (int k = 0; i < m; i++, k++) {                                         \
            T gk = g[i0 + i], xk = x[i0 + i];                                      \
            int pos = xk > 0;                                                      \
            ob[i] = pos ? gk : gk * w;                                             \
            s[k] += pos ? 0.0 : (double)(gk * xk);                                 \
        }                                                                          \
        if (buffered)                                                              \
            fa_stream_out(gi + i0, buf, (size_t)m * sizeof(T));                    \
    }                                                                              \
    for (int h = FG_PRELU_LANES / 2; h; h /= 2)                                    \
        for (int k = 0; k < h; k++)                                                \
            s[k] += s[k + h];                                                      \
    *sum = s[0];                                                                   \
}

#define FA_BODY "grouped_body.h"
#include "clones.h"

#define FG_DISPATCH(SUF, T)                                                        \
FA_DISPATCH(fg_glu_##SUF, (const T *a, const T *b, T *y, ptrdiff_t len), (a, b, y, len)) \
FA_DISPATCH(fg_glu_bwd_##SUF, (const T *g, const T *a, const T *b, T *ga, T *gb,   \
                               ptrdiff_t len), (g, a, b, ga, gb, len))             \
FA_DISPATCH(fg_max_row_##SUF, (const T *x, T *y, int64_t *ix, ptrdiff_t ng,        \
                               ptrdiff_t k, int64_t base), (x, y, ix, ng, k, base)) \
FA_DISPATCH(fg_max_cols_##SUF, (const T *x, T *y, int64_t *ix, ptrdiff_t ng,       \
                                ptrdiff_t k, ptrdiff_t w, ptrdiff_t stride,        \
                                int64_t base), (x, y, ix, ng, k, w, stride, base)) \
FA_DISPATCH(fg_max_bwd_##SUF, (const T *go, const int64_t *ix, T *out, ptrdiff_t ng, \
                               ptrdiff_t k, ptrdiff_t w, ptrdiff_t stride,         \
                               int64_t base), (go, ix, out, ng, k, w, stride, base)) \
FA_DISPATCH(fg_prelu_bwd_##SUF, (const T *g, const T *x, T *gi, T w, ptrdiff_t len, \
                                 int stream, double *sum), (g, x, gi, w, len, stream, sum))
FG_DISPATCH(f, float)
FG_DISPATCH(d, double)
#undef FG_DISPATCH
FA_DISPATCH(fg_check_idx, (const int64_t *ix, ptrdiff_t ng, ptrdiff_t k, ptrdiff_t w,
                           ptrdiff_t stride, int64_t base, ptrdiff_t *first),
            (ix, ng, k, w, stride, base, first))

#endif
