/* norm.h's entry points, compiled once per instruction-set path by
 * clones.h (no include guard): thin wrappers that give each combination of
 * flags its own inlined loop, on the helpers norm.h defines before it. */

FA_ENTRY void FA_SFX(fn_mm_run)(const void *x, ptrdiff_t n, int isf, double *lo, double *hi)
{
    if (isf) fn_mm_run_b(x, n, 1, lo, hi); else fn_mm_run_b(x, n, 0, lo, hi);
}

FA_ENTRY void FA_SFX(fn_mm_cols)(const void *x, ptrdiff_t rows, ptrdiff_t w, ptrdiff_t stride,
                                 int isf, double *lo, double *hi)
{
    if (isf) fn_mm_cols_b(x, rows, w, stride, 1, lo, hi);
    else fn_mm_cols_b(x, rows, w, stride, 0, lo, hi);
}

FA_ENTRY void FA_SFX(fn_mom_run)(const void *x, ptrdiff_t n, int isf, double k0, double *cnt,
                                 double *mu, double *m2)
{
    if (isf) fn_mom_run_b(x, n, 1, k0, cnt, mu, m2);
    else fn_mom_run_b(x, n, 0, k0, cnt, mu, m2);
}

FA_ENTRY void FA_SFX(fn_mom_cols)(const void *x, ptrdiff_t rows, ptrdiff_t w, ptrdiff_t stride,
                                  int isf, const double *k0, double *cnt, double *mu,
                                  double *m2)
{
    if (isf) fn_mom_cols_b(x, rows, w, stride, 1, k0, cnt, mu, m2);
    else fn_mom_cols_b(x, rows, w, stride, 0, k0, cnt, mu, m2);
}

FA_ENTRY void FA_SFX(fn_nrm_run)(const void *x, ptrdiff_t n, int isf, double p, double *out)
{
#define FN_NR_RUN_CALL(F, M) fn_nr_run_b(x, n, F, M, p, out)
    FN_NR_DISPATCH(FN_NR_RUN_CALL);
}

FA_ENTRY void FA_SFX(fn_nrm_cols)(const void *x, ptrdiff_t rows, ptrdiff_t w, ptrdiff_t stride,
                                  int isf, double p, double *out)
{
#define FN_NR_COLS_CALL(F, M) fn_nr_cols_b(x, rows, w, stride, F, M, p, out)
    FN_NR_DISPATCH(FN_NR_COLS_CALL);
}

FA_ENTRY void FA_SFX(fn_apply)(const void *x, void *y, ptrdiff_t rows, ptrdiff_t w,
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
