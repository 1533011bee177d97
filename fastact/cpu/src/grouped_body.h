/* grouped.h's kernels, compiled once per instruction-set path by clones.h
 * (no include guard): the macros are grouped.h's. */

FG_GLU(f, float, fa_sigmoidf, fa_expf_neg, FA_EXPF_NORMAL_MIN, fabsf)
FG_GLU(d, double, fa_sigmoid, fa_exp_neg, FA_EXP_NORMAL_MIN, fabs, 13,)
FG_MAX(f, float)
FG_MAX(d, double)

/* *first: the first position (in the ng*w block) whose index lies outside
 * its group, or -1.  Unsigned compare: also catches negatives.  Per path:
 * the flat loop's 64-bit compares vectorize from AVX2 on. */
FA_ENTRY void FA_SFX(fg_check_idx)(const int64_t *ix, ptrdiff_t ng, ptrdiff_t k, ptrdiff_t w,
                                   ptrdiff_t stride, int64_t base, ptrdiff_t *first)
{
    *first = -1;
    if (stride == 1) {  /* one index per group: a flat loop */
        int bad = 0;
        for (ptrdiff_t g = 0; g < ng; g++) bad |= (uint64_t)(ix[g] - (base + g * k)) >= (uint64_t)k;
        if (!bad) return;
    }
    for (ptrdiff_t g = 0; g < ng; g++) {
        const int64_t *ig = ix + g * stride;
        int64_t p0 = base + g * k;
        int bad = 0;
        for (ptrdiff_t t = 0; t < w; t++)
            bad |= (uint64_t)(ig[t] - p0) >= (uint64_t)k;
        if (bad)
            for (ptrdiff_t t = 0; t < w; t++)
                if ((uint64_t)(ig[t] - p0) >= (uint64_t)k) {
                    *first = g * stride + t;
                    return;
                }
    }
}
/* prelu backward's groups of FG_PRELU_LANES (8) elements: n (a multiple of
 * 8) from g and x to o, their terms into the running sums s[8]; `nt`: o is
 * 16-byte aligned and written with streaming stores (FG_PRELU_NT: the path
 * can; else the caller streams through its buffer) */
#if defined(__AVX__)
#define FG_PRELU_NT 1
#define FG_ST4(p, v) _mm_stream_ps(p, v)
#define FG_ST2(p, v) _mm_stream_pd(p, v)
/* the loop of fg_prelu_groups_f with ST8 storing 8 floats */
#define FG_PRELU_LOOP_F(ST8)                                                       \
    for (ptrdiff_t i = 0; i < n; i += 8) {                                         \
        __m256 gv = _mm256_loadu_ps(g + i), xv = _mm256_loadu_ps(x + i);           \
        __m256 pos = _mm256_cmp_ps(xv, z, _CMP_GT_OQ);                             \
        ST8(o + i, _mm256_blendv_ps(_mm256_mul_ps(gv, wv), gv, pos));              \
        __m256 t = _mm256_andnot_ps(pos, _mm256_mul_ps(gv, xv)); /* +0: x > 0 */   \
        s0 = _mm256_add_pd(s0, _mm256_cvtps_pd(_mm256_castps256_ps128(t)));        \
        s1 = _mm256_add_pd(s1, _mm256_cvtps_pd(_mm256_extractf128_ps(t, 1)));      \
    }
#define FG_ST8F(p, v) (FG_ST4(p, _mm256_castps256_ps128(v)), FG_ST4((p) + 4, _mm256_extractf128_ps(v, 1)))
/* the loop of fg_prelu_groups_d with ST4 storing 4 doubles */
#define FG_PRELU_LOOP_D(ST4)                                                       \
    for (ptrdiff_t i = 0; i < n; i += 8) {                                         \
        __m256d g0 = _mm256_loadu_pd(g + i), x0 = _mm256_loadu_pd(x + i);          \
        __m256d g1 = _mm256_loadu_pd(g + i + 4), x1 = _mm256_loadu_pd(x + i + 4);  \
        __m256d p0 = _mm256_cmp_pd(x0, z, _CMP_GT_OQ);                             \
        __m256d p1 = _mm256_cmp_pd(x1, z, _CMP_GT_OQ);                             \
        ST4(o + i, _mm256_blendv_pd(_mm256_mul_pd(g0, wv), g0, p0));               \
        ST4(o + i + 4, _mm256_blendv_pd(_mm256_mul_pd(g1, wv), g1, p1));           \
        s0 = _mm256_add_pd(s0, _mm256_andnot_pd(p0, _mm256_mul_pd(g0, x0)));       \
        s1 = _mm256_add_pd(s1, _mm256_andnot_pd(p1, _mm256_mul_pd(g1, x1)));       \
    }
#define FG_ST4D(p, v) (FG_ST2(p, _mm256_castpd256_pd128(v)), FG_ST2((p) + 2, _mm256_extractf128_pd(v, 1)))

FA_INLINE void FA_SFX(fg_prelu_groups_f)(const float *g, const float *x, float *o, float w,
                                         ptrdiff_t n, double *s, int nt)
{
    __m256d s0 = _mm256_loadu_pd(s), s1 = _mm256_loadu_pd(s + 4);
    const __m256 wv = _mm256_set1_ps(w), z = _mm256_setzero_ps();
    if (nt)
        FG_PRELU_LOOP_F(FG_ST8F)
    else
        FG_PRELU_LOOP_F(_mm256_storeu_ps)
    _mm256_storeu_pd(s, s0);
    _mm256_storeu_pd(s + 4, s1);
}

FA_INLINE void FA_SFX(fg_prelu_groups_d)(const double *g, const double *x, double *o, double w,
                                         ptrdiff_t n, double *s, int nt)
{
    __m256d s0 = _mm256_loadu_pd(s), s1 = _mm256_loadu_pd(s + 4);
    const __m256d wv = _mm256_set1_pd(w), z = _mm256_setzero_pd();
    if (nt)
        FG_PRELU_LOOP_D(FG_ST4D)
    else
        FG_PRELU_LOOP_D(_mm256_storeu_pd)
    _mm256_storeu_pd(s, s0);
    _mm256_storeu_pd(s + 4, s1);
}
#undef FG_PRELU_LOOP_F
#undef FG_PRELU_LOOP_D
#undef FG_ST8F
#undef FG_ST4D
#undef FG_ST4
#undef FG_ST2
#else
#define FG_PRELU_NT 0
#define FG_PRELU_GROUPS(SUF, T)                                                    \
FA_INLINE void FA_SFX(fg_prelu_groups_##SUF)(const T *g, const T *x, T *o, T w,    \
                                             ptrdiff_t n, double *s, int nt)       \
{                                                                                  \
    (void)nt;                                                                      \
    for (ptrdiff_t i = 0; i < n; i += FG_PRELU_LANES)                              \
        for (int k = 0; k < FG_PRELU_LANES; k++) {                                 \
            T gk = g[i + k], xk = x[i + k];                                        \
            int pos = xk > 0;                                                      \
            o[i + k] = pos ? gk : gk * w;                                          \
            s[k] += pos ? 0.0 : (double)(gk * xk);                                 \
        }                                                                          \
}
FG_PRELU_GROUPS(f, float)
FG_PRELU_GROUPS(d, double)
#undef FG_PRELU_GROUPS
#endif
FG_PRELU(f, float)
FG_PRELU(d, double)
#undef FG_PRELU_NT
