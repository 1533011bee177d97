# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False
"""Fused-type (float32/float64) loops for glu and maxout and their backward
passes, OpenMP over independent tasks with the GIL released.

(The module is ``_grouped_kernels`` because ``_grouped`` is the public
Python layer's name: an extension module of the same name would shadow it.)

Layout: the Python layer (``_grouped.py``) hands over C-contiguous
(outer, n, inner) blocks -- the working axis of length n sits between
`outer` and `inner` -- so the last axis is inner == 1 and any other axis
needs no transposed copy:

* glu splits each outer row into halves that are themselves contiguous runs
  of h*inner elements (h = n/2), so the kernel is a flat elementwise loop
  ``out[i] = a[i] * sigmoid(b[i])`` over each row, whatever the axis.
* maxout reads groups of k consecutive rows of width `inner`.  For
  inner == 1 the groups sit side by side in memory and the loop runs across
  groups (k a compile-time constant for common k, so gcc vectorizes the
  strided loads); for inner > 1 the loop runs along the contiguous columns.

The arithmetic is C in the verbatim block below (not Cython expressions)
for two reasons: gcc vectorizes plain C loops over pointers reliably, and
target_clones builds each kernel for AVX2 and the baseline, the loader
picking one per CPU, so the build stays portable.
"""
from cython.parallel cimport prange
from libc.stdint cimport int64_t

cdef extern from *:
    """
    #include <math.h>
    #include <stdint.h>
    #include <string.h>
    #include <stddef.h>
    #include "exp.h"

    #if defined(__GNUC__) && !defined(__clang__) && (defined(__x86_64__) || defined(__i386__)) \
        && !defined(FASTACT_NO_CLONES)
    /* x86-64-v3 (AVX2, FMA) is chosen by CPU features; "arch=haswell" would
     * test the CPU model and fall back to the baseline on AMD */
    #define FG_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
    #else
    #define FG_CLONES
    #endif
    /* the helpers must inline into the loops (gcc's heuristics decline
     * fg_sigmoid), or the loops do not vectorize */
    #if defined(__GNUC__)
    #define FG_INLINE static inline __attribute__((always_inline))
    #else
    #define FG_INLINE static inline
    #endif

    /* elements per glu task and input elements per maxout task: large
     * enough that a task amortizes its scheduling, small enough that a
     * modest array still splits over the threads */
    #define FG_GLU_CHUNK 16384
    #define FG_MAX_CHUNK 32768
    /* columns per maxout task when inner > 1: the running maxima of a block
     * stay in L1 */
    #define FG_COLS 1024
    /* groups per index scratch block in the inner == 1 maxout loop */
    #define FG_ID_BLOCK 1024

    FG_INLINE double fg_from_bits(uint64_t u) { double d; memcpy(&d, &u, 8); return d; }
    FG_INLINE uint64_t fg_to_bits(double d) { uint64_t u; memcpy(&u, &d, 8); return u; }

    /* e^x for x <= 0 (or NaN) as eh * s2, straight-line so that it
     * vectorizes.  libm's exp is not used: gcc only calls glibc's vector exp
     * under -ffast-math, which would break the inf/NaN semantics.  Reduction
     * x = n ln2 + r, |r| <= ln2/2, by a magic-number rint; Taylor polynomial
     * of degree `deg` (13: within an ULP of double; 8: relative error
     * < 3e-10, plenty for a float result).  2^n is split into two normal
     * factors and the second, *s2, is returned apart: e^x itself is
     * eh * s2 (rounded once, also into the subnormals), while a product
     * c * e^x can be formed as (c * eh) * s2 and stay accurate where e^x
     * alone would be subnormal but c * e^x is not (glu's b-gradient with a
     * large a).  x < -1400 (e^x < 2^-2019) and -inf give eh = 0. */
    FG_INLINE double fg_exp_neg(double x, int deg, double *s2)
    {
        const double LOG2E = 1.4426950408889634, LN2_HI = 0.6931471805598903,
                     LN2_LO = 5.497923018708371e-14, MAGIC = 6755399441055744.0;
        /* -1400 keeps n >= -2020, so both halves of 2^n are normal */
        double xc = x < -1400.0 ? -1400.0 : x;
        double t = xc * LOG2E + MAGIC;
        double fn = t - MAGIC;
        int64_t n = (int64_t)(fg_to_bits(t) - fg_to_bits(MAGIC));
        double r = (xc - fn * LN2_HI) - fn * LN2_LO;
        double p;
        FA_EXP_TAYLOR(p, r, deg);
        int64_t n1 = n >> 1, n2 = n - n1;
        double f1 = fg_from_bits((uint64_t)(n1 + 1023) << 52);
        *s2 = fg_from_bits((uint64_t)(n2 + 1023) << 52);
        double eh = p * f1;
        eh = x < -1400.0 ? 0.0 : eh;
        return x != x ? x : eh;
    }

    /* sigmoid(b) as sh * ss and sigmoid'(b) as dsh * s2, from
     * e = exp(-|b|): no exp of a positive argument (no overflow), and
     * sigmoid' = e/(1+e)^2 has no 1 - s cancellation.  The split scale lets
     * c * sigmoid(b) stay accurate when sigmoid(b) alone is subnormal.
     * NaN gives NaN. */
    FG_INLINE double fg_sigmoid(double b, int deg, double *ss, double *dsh, double *s2)
    {
        double eh = fg_exp_neg(-fabs(b), deg, s2);
        double e = eh * *s2;
        double r = 1.0 / (1.0 + e);
        *dsh = eh * r * r;
        /* selects between values, not operations: under the default
         * -ftrapping-math gcc will not if-convert (so not vectorize) a
         * floating-point operation inside a conditional */
        int pos = b >= 0.0;
        *ss = pos ? 1.0 : *s2;
        double num = pos ? 1.0 : eh;
        return num * r;
    }

    /* The float versions of the two helpers above, in float arithmetic
     * (twice the SIMD lanes, and int32 bit tricks, which AVX2 has: the
     * double version's int64 n >> 1 it has not).  x >= -174 keeps both
     * halves of 2^n normal; below, c * e^x is 0 for every float c.  Taylor
     * to degree 7 on |r| <= ln2/2: truncation 5e-9, within an ULP. */
    FG_INLINE float fg_expf_neg(float x, float *s2)
    {
        const float LOG2E = 1.44269504f, LN2_HI = 0x1.62ep-1f, LN2_LO = 0x1.0bfbe8p-15f,
                    MAGIC = 12582912.0f;
        float xc = x < -174.0f ? -174.0f : x;
        float t = xc * LOG2E + MAGIC;
        float fn = t - MAGIC;
        int32_t tb, mb;
        memcpy(&tb, &t, 4);
        memcpy(&mb, &MAGIC, 4);
        int32_t n = tb - mb;                       /* bits(t) - bits(MAGIC) = n */
        float r = (xc - fn * LN2_HI) - fn * LN2_LO;
        float p = 1.0f / 5040.0f;
        p = p * r + 1.0f / 720.0f;
        p = p * r + 1.0f / 120.0f;
        p = p * r + 1.0f / 24.0f;
        p = p * r + 1.0f / 6.0f;
        p = p * r + 0.5f;
        p = p * r + 1.0f;
        p = p * r + 1.0f;
        int32_t n1 = n >> 1, n2 = n - n1;
        int32_t b1 = (n1 + 127) << 23, b2 = (n2 + 127) << 23;
        float f1;
        memcpy(&f1, &b1, 4);
        memcpy(s2, &b2, 4);
        float eh = p * f1;
        eh = x < -174.0f ? 0.0f : eh;
        return x != x ? x : eh;
    }
    FG_INLINE float fg_sigmoidf(float b, float *ss, float *dsh, float *s2)
    {
        float eh = fg_expf_neg(-fabsf(b), s2);
        float e = eh * *s2;
        float r = 1.0f / (1.0f + e);
        *dsh = eh * r * r;
        int pos = b >= 0.0f;
        *ss = pos ? 1.0f : *s2;
        float num = pos ? 1.0f : eh;
        return num * r;
    }

    /* glu and its backward on one contiguous run of each half: float with
     * the float helpers, double with the double ones and the long
     * polynomial.  The split scale (ss, s2) keeps c * sigmoid(b) accurate
     * where sigmoid(b) alone would be subnormal. */
    #define FG_GLU(SUF, T, SIG, ...)                                                   \\
    FG_CLONES static void fg_glu_##SUF(const T *a, const T *b, T *y, ptrdiff_t len)    \\
    {                                                                                  \\
        for (ptrdiff_t i = 0; i < len; i++) {                                          \\
            T ss, dsh, s2;                                                             \\
            T sh = SIG(b[i], __VA_ARGS__ &ss, &dsh, &s2);                              \\
            y[i] = (a[i] * sh) * ss;                                                   \\
        }                                                                              \\
    }                                                                                  \\
    /* ga, gb may be a, b themselves (in place): element i is read before written */  \\
    FG_CLONES static void fg_glu_bwd_##SUF(const T *g, const T *a, const T *b,         \\
                                           T *ga, T *gb, ptrdiff_t len)                \\
    {                                                                                  \\
        for (ptrdiff_t i = 0; i < len; i++) {                                          \\
            T ss, dsh, s2, gi = g[i], ai = a[i];                                       \\
            T sh = SIG(b[i], __VA_ARGS__ &ss, &dsh, &s2);                              \\
            ga[i] = (gi * sh) * ss;                                                    \\
            gb[i] = ((gi * ai) * dsh) * s2;                                            \\
        }                                                                              \\
    }
    FG_GLU(f, float, fg_sigmoidf)
    FG_GLU(d, double, fg_sigmoid, 13,)

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
    #define FG_MAX_ROW_K(SUF, T, IT)                                                   \\
    FG_INLINE void fg_max_row_k_##SUF(const T *x, T *y, int64_t *ix, ptrdiff_t ng,     \\
                                      ptrdiff_t k, int64_t base)                       \\
    {                                                                                  \\
        if (ix) {                                                                      \\
            /* the ids go to a scratch block of IT first and are widened after:  */   \\
            /* one loop mixing T and int64 vectorizes badly without AVX2         */   \\
            IT tmp[FG_ID_BLOCK];                                                       \\
            for (ptrdiff_t g0 = 0; g0 < ng; g0 += FG_ID_BLOCK) {                       \\
                ptrdiff_t nb = ng - g0 < FG_ID_BLOCK ? ng - g0 : FG_ID_BLOCK;          \\
                for (ptrdiff_t g = 0; g < nb; g++) {                                   \\
                    const T *xg = x + (g0 + g) * k;                                    \\
                    T m = xg[k - 1], nv = m != m ? m : (T)0;                           \\
                    IT id = (IT)(k - 1), nid = (IT)(k - 1);                            \\
                    for (ptrdiff_t j = k - 2; j >= 0; j--) {                           \\
                        T v = xg[j];                                                   \\
                        id = v >= m ? (IT)j : id;                                      \\
                        m = v >= m ? v : m;                                            \\
                        nid = v != v ? (IT)j : nid;                                    \\
                        nv = v != v ? v : nv;                                          \\
                    }                                                                  \\
                    y[g0 + g] = nv != nv ? nv : m;                                     \\
                    tmp[g] = nv != nv ? nid : id;                                      \\
                }                                                                      \\
                for (ptrdiff_t g = 0; g < nb; g++)                                     \\
                    ix[g0 + g] = base + (g0 + g) * k + tmp[g];                         \\
            }                                                                          \\
        } else {                                                                       \\
            for (ptrdiff_t g = 0; g < ng; g++) {                                       \\
                const T *xg = x + g * k;                                               \\
                T m = xg[k - 1], nv = m != m ? m : (T)0;                               \\
                for (ptrdiff_t j = k - 2; j >= 0; j--) {                               \\
                    T v = xg[j];                                                       \\
                    m = v >= m ? v : m;                                                \\
                    nv = v != v ? v : nv;                                              \\
                }                                                                      \\
                y[g] = nv != nv ? nv : m;                                              \\
            }                                                                          \\
        }                                                                              \\
    }
    FG_MAX_ROW_K(f_wide, float, int64_t)
    FG_MAX_ROW_K(f, float, int32_t)
    FG_MAX_ROW_K(d, double, int64_t)
    #define fg_max_row_k_d_wide fg_max_row_k_d

    #define FG_MAX(SUF, T)                                                             \\
    /* k as a constant for the common group sizes: the inner loop unrolls and   */   \\
    /* gcc vectorizes across groups with interleaved loads                       */   \\
    FG_CLONES static void fg_max_row_##SUF(const T *x, T *y, int64_t *ix, ptrdiff_t ng,\\
                                          ptrdiff_t k, int64_t base)                   \\
    {                                                                                  \\
        switch (k) {                                                                   \\
        case 2: fg_max_row_k_##SUF(x, y, ix, ng, 2, base); break;                      \\
        case 3: fg_max_row_k_##SUF(x, y, ix, ng, 3, base); break;                      \\
        case 4: fg_max_row_k_##SUF(x, y, ix, ng, 4, base); break;                      \\
        case 8: fg_max_row_k_##SUF(x, y, ix, ng, 8, base); break;                      \\
        default: fg_max_row_k_##SUF##_wide(x, y, ix, ng, k, base);                     \\
        }                                                                              \\
    }                                                                                  \\
    /* ---- maxout, inner > 1: group g is rows g*k .. g*k+k-1 of `stride`   */        \\
    /* elements; w <= FG_COLS columns of them, vectorized along the columns */        \\
    /* with the running maximum and index kept in y and ix themselves.      */        \\
    /* k == 1 with y == x (in place) reads each element before writing it.  */        \\
    FG_CLONES static void fg_max_cols_##SUF(const T *x, T *y, int64_t *ix, ptrdiff_t ng, \\
                                           ptrdiff_t k, ptrdiff_t w, ptrdiff_t stride,  \\
                                           int64_t base)                              \\
    {                                                                                  \\
        T nv[FG_COLS];                                                                 \\
        int64_t nid[FG_COLS];                                                          \\
        for (ptrdiff_t g = 0; g < ng; g++) {                                           \\
            const T *xl = x + (g * k + k - 1) * stride;                                \\
            T *yg = y + g * stride;                                                    \\
            int64_t *ig = ix ? ix + g * stride : NULL;                                 \\
            int64_t p0 = base + g * k;                                                 \\
            for (ptrdiff_t t = 0; t < w; t++) {                                        \\
                T v = xl[t];                                                           \\
                yg[t] = v;                                                             \\
                nv[t] = v != v ? v : (T)0;                                             \\
            }                                                                          \\
            if (ig) for (ptrdiff_t t = 0; t < w; t++) ig[t] = nid[t] = p0 + k - 1;     \\
            for (ptrdiff_t j = k - 2; j >= 0; j--) {                                   \\
                const T *xr = x + (g * k + j) * stride;                                \\
                if (ig) {                                                              \\
                    for (ptrdiff_t t = 0; t < w; t++) {                                \\
                        T v = xr[t], m = yg[t];                                        \\
                        ig[t] = v >= m ? p0 + j : ig[t];                               \\
                        yg[t] = v >= m ? v : m;                                        \\
                        nid[t] = v != v ? p0 + j : nid[t];                             \\
                        nv[t] = v != v ? v : nv[t];                                    \\
                    }                                                                  \\
                } else {                                                               \\
                    for (ptrdiff_t t = 0; t < w; t++) {                                \\
                        T v = xr[t], m = yg[t];                                        \\
                        yg[t] = v >= m ? v : m;                                        \\
                        nv[t] = v != v ? v : nv[t];                                    \\
                    }                                                                  \\
                }                                                                      \\
            }                                                                          \\
            if (ig) for (ptrdiff_t t = 0; t < w; t++) ig[t] = nv[t] != nv[t] ? nid[t] : ig[t]; \\
            for (ptrdiff_t t = 0; t < w; t++) yg[t] = nv[t] != nv[t] ? nv[t] : yg[t];  \\
        }                                                                              \\
    }                                                                                  \\
    /* ---- maxout backward: out[g*k + j] = g_out[g] where j is the argmax ---- */    \\
    /* (indices already validated), zero elsewhere; each position written once. */   \\
    /* With k == 1 out may be go itself: element t is read before it is written. */   \\
    FG_INLINE void fg_max_bwd_row_k_##SUF(const T *go, const int64_t *ix, T *out,  \\
                                              ptrdiff_t ng, ptrdiff_t k, int64_t base) \\
    {                                                                                  \\
        for (ptrdiff_t g = 0; g < ng; g++) {                                           \\
            T gv = go[g];                                                              \\
            int64_t id = ix[g] - (base + g * k);                                       \\
            for (ptrdiff_t j = 0; j < k; j++) out[g * k + j] = j == id ? gv : (T)0;    \\
        }                                                                              \\
    }                                                                                  \\
    FG_CLONES static void fg_max_bwd_##SUF(const T *go, const int64_t *ix, T *out,     \\
                                          ptrdiff_t ng, ptrdiff_t k, ptrdiff_t w,      \\
                                          ptrdiff_t stride, int64_t base)              \\
    {                                                                                  \\
        if (stride == 1) {                                                             \\
            switch (k) {                                                               \\
            case 2: fg_max_bwd_row_k_##SUF(go, ix, out, ng, 2, base); break;           \\
            case 4: fg_max_bwd_row_k_##SUF(go, ix, out, ng, 4, base); break;           \\
            default: fg_max_bwd_row_k_##SUF(go, ix, out, ng, k, base);                 \\
            }                                                                          \\
            return;                                                                    \\
        }                                                                              \\
        for (ptrdiff_t g = 0; g < ng; g++) {                                           \\
            const T *gg = go + g * stride;                                             \\
            const int64_t *ig = ix + g * stride;                                       \\
            T *og = out + g * k * stride;                                              \\
            int64_t p0 = base + g * k;                                                 \\
            for (ptrdiff_t j = 0; j < k; j++) {                                        \\
                T *orow = og + j * stride;                                             \\
                for (ptrdiff_t t = 0; t < w; t++)                                      \\
                    orow[t] = ig[t] == p0 + j ? gg[t] : (T)0;                          \\
            }                                                                          \\
        }                                                                              \\
    }
    FG_MAX(f, float)
    FG_MAX(d, double)

    /* first position (in the ng*w block) whose index lies outside its group,
     * or -1.  Unsigned compare: also catches negatives. */
    static ptrdiff_t fg_check_idx(const int64_t *ix, ptrdiff_t ng, ptrdiff_t k, ptrdiff_t w,
                                  ptrdiff_t stride, int64_t base)
    {
        for (ptrdiff_t g = 0; g < ng; g++) {
            const int64_t *ig = ix + g * stride;
            int64_t p0 = base + g * k;
            int bad = 0;
            for (ptrdiff_t t = 0; t < w; t++)
                bad |= (uint64_t)(ig[t] - p0) >= (uint64_t)k;
            if (bad)
                for (ptrdiff_t t = 0; t < w; t++)
                    if ((uint64_t)(ig[t] - p0) >= (uint64_t)k) return g * stride + t;
        }
        return -1;
    }
    """
    const int FG_GLU_CHUNK
    const int FG_MAX_CHUNK
    const int FG_COLS
    void fg_glu_f(const float* a, const float* b, float* y, Py_ssize_t n) nogil
    void fg_glu_d(const double* a, const double* b, double* y, Py_ssize_t n) nogil
    void fg_glu_bwd_f(const float* g, const float* a, const float* b, float* ga, float* gb,
                      Py_ssize_t n) nogil
    void fg_glu_bwd_d(const double* g, const double* a, const double* b, double* ga,
                      double* gb, Py_ssize_t n) nogil
    void fg_max_row_f(const float* x, float* y, int64_t* ix, Py_ssize_t ng, Py_ssize_t k,
                      int64_t base) nogil
    void fg_max_row_d(const double* x, double* y, int64_t* ix, Py_ssize_t ng, Py_ssize_t k,
                      int64_t base) nogil
    void fg_max_cols_f(const float* x, float* y, int64_t* ix, Py_ssize_t ng, Py_ssize_t k,
                       Py_ssize_t w, Py_ssize_t stride, int64_t base) nogil
    void fg_max_cols_d(const double* x, double* y, int64_t* ix, Py_ssize_t ng, Py_ssize_t k,
                       Py_ssize_t w, Py_ssize_t stride, int64_t base) nogil
    void fg_max_bwd_f(const float* go, const int64_t* ix, float* out, Py_ssize_t ng,
                      Py_ssize_t k, Py_ssize_t w, Py_ssize_t stride, int64_t base) nogil
    void fg_max_bwd_d(const double* go, const int64_t* ix, double* out, Py_ssize_t ng,
                      Py_ssize_t k, Py_ssize_t w, Py_ssize_t stride, int64_t base) nogil
    Py_ssize_t fg_check_idx(const int64_t* ix, Py_ssize_t ng, Py_ssize_t k, Py_ssize_t w,
                            Py_ssize_t stride, int64_t base) nogil

ctypedef fused real:
    float
    double


# ------------------------------------------------------------------ glu

def glu_tasks(Py_ssize_t outer, Py_ssize_t half_len):
    """Tasks of a glu call over (outer, 2*h, inner) with half_len = h*inner."""
    return outer * ((half_len + FG_GLU_CHUNK - 1) // FG_GLU_CHUNK)


cdef void _glu_tasks(const real[:, ::1] g, const real[:, ::1] x, real[:, ::1] out,
                     Py_ssize_t L, bint backward, int nthreads) noexcept:
    """The task loop of both directions: chunks of FG_GLU_CHUNK elements of
    each half-row pair, OpenMP-parallel without the GIL."""
    cdef Py_ssize_t outer = x.shape[0]
    cdef Py_ssize_t nc = (L + FG_GLU_CHUNK - 1) // FG_GLU_CHUNK, k, o, i0, w
    if outer == 0 or L == 0:
        return
    for k in prange(outer * nc, nogil=True, schedule="static", num_threads=nthreads):
        o = k // nc
        i0 = (k % nc) * FG_GLU_CHUNK
        w = min(<Py_ssize_t>FG_GLU_CHUNK, L - i0)
        if backward:
            if real is float:
                fg_glu_bwd_f(&g[o, i0], &x[o, i0], &x[o, L + i0], &out[o, i0], &out[o, L + i0], w)
            else:
                fg_glu_bwd_d(&g[o, i0], &x[o, i0], &x[o, L + i0], &out[o, i0], &out[o, L + i0], w)
        elif real is float:
            fg_glu_f(&x[o, i0], &x[o, L + i0], &out[o, i0], w)
        else:
            fg_glu_d(&x[o, i0], &x[o, L + i0], &out[o, i0], w)


def glu(const real[:, ::1] x, real[:, ::1] out, int nthreads):
    """out[o] = a * sigmoid(b), a = x[o, :L], b = x[o, L:], L = out.shape[1]."""
    _glu_tasks(x, x, out, out.shape[1], False, nthreads)


def glu_backward(const real[:, ::1] g, const real[:, ::1] x, real[:, ::1] out, int nthreads):
    """out[o, :L] = g*s(b), out[o, L:] = g*a*s'(b); out may be x itself."""
    _glu_tasks(g, x, out, g.shape[1], True, nthreads)


# --------------------------------------------------------------- maxout
#
# A maxout task is (outer row o, a range of G groups, a block of columns).
# inner == 1: one "column", G groups of k adjacent elements; inner > 1:
# blocks of FG_COLS columns.  G makes a task about FG_MAX_CHUNK input
# elements.

cdef inline void _plan(Py_ssize_t m, Py_ssize_t k, Py_ssize_t inner, Py_ssize_t* G,
                       Py_ssize_t* ngc, Py_ssize_t* cw, Py_ssize_t* ncc) noexcept nogil:
    cw[0] = inner if inner <= FG_COLS else FG_COLS
    ncc[0] = (inner + cw[0] - 1) // cw[0]
    G[0] = max(<Py_ssize_t>1, FG_MAX_CHUNK // (k * cw[0]))
    ngc[0] = (m + G[0] - 1) // G[0]


def maxout_tasks(Py_ssize_t outer, Py_ssize_t m, Py_ssize_t k, Py_ssize_t inner):
    """Tasks of a maxout call over (outer, m*k, inner)."""
    cdef Py_ssize_t G, ngc, cw, ncc
    if m == 0 or inner == 0:
        return 0
    _plan(m, k, inner, &G, &ngc, &cw, &ncc)
    return outer * ngc * ncc


def maxout(const real[:, :, ::1] x, real[:, :, ::1] y, int64_t[:, :, ::1] idx,
           Py_ssize_t k, int nthreads):
    """y[o, g, t] = max_j x[o, g*k + j, t] (NaN wins, first on ties); idx (may be
    None) the argmax as a position along axis 1 of x."""
    cdef Py_ssize_t outer = y.shape[0], m = y.shape[1], inner = y.shape[2]
    cdef Py_ssize_t G, ngc, cw, ncc, task, o, r, gi, ci, g0, ng, t0, w
    cdef int64_t* ip
    cdef int with_idx = idx is not None
    if outer == 0 or m == 0 or inner == 0:
        return
    _plan(m, k, inner, &G, &ngc, &cw, &ncc)
    for task in prange(outer * ngc * ncc, nogil=True, schedule="static", num_threads=nthreads):
        o = task // (ngc * ncc)
        r = task % (ngc * ncc)
        gi = r // ncc
        ci = r % ncc
        g0 = gi * G
        ng = min(G, m - g0)
        t0 = ci * cw
        w = min(cw, inner - t0)
        ip = &idx[o, g0, t0] if with_idx else NULL
        if inner == 1:
            if real is float:
                fg_max_row_f(&x[o, g0 * k, 0], &y[o, g0, 0], ip, ng, k, g0 * k)
            else:
                fg_max_row_d(&x[o, g0 * k, 0], &y[o, g0, 0], ip, ng, k, g0 * k)
        else:
            if real is float:
                fg_max_cols_f(&x[o, g0 * k, t0], &y[o, g0, t0], ip, ng, k, w, inner, g0 * k)
            else:
                fg_max_cols_d(&x[o, g0 * k, t0], &y[o, g0, t0], ip, ng, k, w, inner, g0 * k)


cdef Py_ssize_t[::1] _filled(Py_ssize_t n):
    import numpy as np
    return np.full(n, -1, dtype=np.intp)


def maxout_check_indices(const int64_t[:, :, ::1] idx, Py_ssize_t k, int nthreads):
    """The first (o, g, t) whose index is not in [g*k, g*k + k), or None."""
    cdef Py_ssize_t outer = idx.shape[0], m = idx.shape[1], inner = idx.shape[2]
    cdef Py_ssize_t G, ngc, cw, ncc, task, o, r, gi, ci, g0, t0, p, ntasks
    if outer == 0 or m == 0 or inner == 0:
        return None
    _plan(m, k, inner, &G, &ngc, &cw, &ncc)
    ntasks = outer * ngc * ncc
    # one slot per task; the first bad task in order gives the first bad index
    cdef Py_ssize_t[::1] first = _filled(ntasks)
    for task in prange(ntasks, nogil=True, schedule="static", num_threads=nthreads):
        o = task // (ngc * ncc)
        r = task % (ngc * ncc)
        gi = r // ncc
        ci = r % ncc
        g0 = gi * G
        t0 = ci * cw
        first[task] = fg_check_idx(&idx[o, g0, t0], min(G, m - g0), k, min(cw, inner - t0),
                                   inner, g0 * k)
    for task in range(ntasks):
        p = first[task]
        if p >= 0:
            o = task // (ngc * ncc)
            r = task % (ngc * ncc)
            return (o, (r // ncc) * G + p // inner, (r % ncc) * cw + p % inner)
    return None


def maxout_backward(const real[:, :, ::1] go, const int64_t[:, :, ::1] idx,
                    real[:, :, ::1] out, Py_ssize_t k, int nthreads):
    """out[o, i, t] = go[o, i // k, t] if idx[o, i // k, t] == i else 0."""
    cdef Py_ssize_t outer = go.shape[0], m = go.shape[1], inner = go.shape[2]
    cdef Py_ssize_t G, ngc, cw, ncc, task, o, r, gi, ci, g0, t0
    if outer == 0 or m == 0 or inner == 0:
        return
    _plan(m, k, inner, &G, &ngc, &cw, &ncc)
    for task in prange(outer * ngc * ncc, nogil=True, schedule="static", num_threads=nthreads):
        o = task // (ngc * ncc)
        r = task % (ngc * ncc)
        gi = r // ncc
        ci = r % ncc
        g0 = gi * G
        t0 = ci * cw
        if real is float:
            fg_max_bwd_f(&go[o, g0, t0], &idx[o, g0, t0], &out[o, g0 * k, t0], min(G, m - g0),
                         k, min(cw, inner - t0), inner, g0 * k)
        else:
            fg_max_bwd_d(&go[o, g0, t0], &idx[o, g0, t0], &out[o, g0 * k, t0], min(G, m - g0),
                         k, min(cw, inner - t0), inner, g0 * k)
