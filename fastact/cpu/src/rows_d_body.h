/* The softmax family's double kernels on vectors of FA_ND doubles (8 on
 * avx512, 4 elsewhere): included by rows_body.h, which defines VD,
 * fa_vsplatd and fa_vhsum, once per instruction-set path.  No include
 * guard; every name is suffixed with the path (FA_SFX) by the #defines
 * below, undone at the end.
 *
 * Until these were written, the double rows ran on four-lane vectors on
 * every path and took each exp through x - max as hi + lo (TwoSum): on
 * Zen 4 (AVX-512) they were 0.74-0.92x torch at 1024x1024 and 16384x1024. */
#define VL FA_SFX(VL)
#define fa_vseld FA_SFX(fa_vseld)
#define fa_vmaxd FA_SFX(fa_vmaxd)
#define fa_vmind FA_SFX(fa_vmind)
#define fa_vunordd FA_SFX(fa_vunordd)
#define fa_vloadd FA_SFX(fa_vloadd)
#define fa_vstored FA_SFX(fa_vstored)
#define fa_vexpd FA_SFX(fa_vexpd)
#define fa_vexpd_row FA_SFX(fa_vexpd_row)
#define fa_vdiff_expd FA_SFX(fa_vdiff_expd)
#define fa_row_maxd FA_SFX(fa_row_maxd)
#define fa_exps_sumd FA_SFX(fa_exps_sumd)
#define fa_row_forward_dk FA_SFX(fa_row_forward_dk)
#define fa_rows_forward_d FA_SFX(fa_rows_forward_d)
#define fa_cols_forward_dk FA_SFX(fa_cols_forward_dk)
#define fa_cols_forward_d FA_SFX(fa_cols_forward_d)
#define fa_row_sumd FA_SFX(fa_row_sumd)
#define fa_row_backward_dk FA_SFX(fa_row_backward_dk)
#define fa_rows_backward_d FA_SFX(fa_rows_backward_d)
#define fa_cols_backward_d FA_SFX(fa_cols_backward_d)

typedef int64_t VL __attribute__((vector_size(4 * FA_NF)));    /* FA_ND int64 */

FA_INLINE VD fa_vseld(VL mask, VD a, VD b)      /* mask ? a : b, lanewise */
{
    return (VD)((mask & (VL)a) | (~mask & (VL)b));
}
/* the larger of a and m, m where a is NaN; the smaller (rows_body.h's FA_VOP) */
FA_INLINE VD fa_vmaxd(VD a, VD m) { return FA_VOP(max, pd, VD, a, m); }
FA_INLINE VD fa_vmind(VD a, VD m) { return FA_VOP(min, pd, VD, a, m); }
FA_INLINE VL fa_vunordd(VD a, VD b) { return (a != a) | (b != b); }

FA_DEFINE_VIO(fa_vloadd, fa_vstored, double, VD, FA_ND)

/* e^x lanewise, exp.h's minimax polynomial after reduction to |r| <= ln2/2:
 * within an ULP; -inf -> 0, NaN -> NaN, overflow -> inf, a subnormal result
 * rounded once.  le0 (a constant): the caller guarantees x <= 0 or NaN
 * (log-probabilities), so no overflow clamp.
 *
 * p * 2^n: vscalefpd on avx512 (one rounding, into the subnormals too);
 * elsewhere as two normal factors, whose product rounds once as well: the
 * same bits. */
FA_INLINE VD fa_vexpd(VD x, int le0)
{
    const VD LOG2E = fa_vsplatd(FA_LOG2E), LN2_HI = fa_vsplatd(FA_LN2_HI),
             LN2_LO = fa_vsplatd(FA_LN2_LO), MAGIC = fa_vsplatd(FA_RINT_MAGIC),
             LO = fa_vsplatd(-746.0), HI = fa_vsplatd(710.0);
    VD xc = fa_vseld(x < LO, LO, x);
    if (!le0) xc = fa_vseld(xc > HI, HI, xc);
    const VD fn = (xc * LOG2E + MAGIC) - MAGIC;
    const VD r = (xc - fn * LN2_HI) - fn * LN2_LO;
    VD p;
    FA_EXP_MINIMAX_D(p, r);
#if FA_NF == 16 && defined(__AVX512F__)
    p = (VD)_mm512_scalef_pd((__m512d)p, (__m512d)fn);
#else
    if (le0) {      /* 2^(n + 56) is normal for every n down to -1076 */
        p = (p * (VD)(((VL)(fn + MAGIC) + (1023 + 56)) << 52)) * 0x1p-56;
    } else {
        /* MAGIC's low 52 bits are zero, so (bits(k + MAGIC) + 1023) << 52
         * is the double 2^k: 64-bit adds and left shifts only, which AVX2
         * has (it has no 64-bit arithmetic right shift or int64 -> double) */
        const VD fn1 = (fn * 0.5 + MAGIC) - MAGIC, fn2 = fn - fn1;
        p = (p * (VD)(((VL)(fn1 + MAGIC) + 1023) << 52)) * (VD)(((VL)(fn2 + MAGIC) + 1023) << 52);
    }
#endif
    return fa_vseld(x != x, x, p);
}

/* e^(v - m) for a vector v and its (row or column) max m, in the general
 * case (m may be infinite): v - m as hi + lo (TwoSum), the exp of hi and
 * lo applied to first order, since exp would amplify the rounding of v - m
 * by |v - m|. */
FA_INLINE VD fa_vdiff_expd(VD v, VD m)
{
    VD hi, lo;
    FA_TWO_DIFF(hi, lo, v, m);
    lo = fa_vseld(hi - hi == 0.0, lo, fa_vsplatd(0.0));     /* inf/NaN: no error term */
    const VD e = fa_vexpd(hi, 1);
    return e + e * lo;
}

/* e^a * 2^(FA_ROW_SHIFT_D - K) for a double row's a (the sign applied) and
 * K = rint(m log2 e) rounded to an even integer, m the row's max: e^(a - m)
 * times a row constant that the normalization cancels (rows_body.h's
 * fa_vexp_row, in double: a - m is never rounded, so no TwoSum and error
 * term).  `magic` is 1.5 * 2^52 + FA_ROW_SHIFT_D - K: t = a log2 e + magic
 * is magic + n, and bits(t) << 52 is 2^(n - K + FA_ROW_SHIFT_D)'s exponent
 * field, added to e^r's (an integer add, not a multiply).  Needs
 * |m| <= FA_ROW_MAXD (n LN2_HI exact: |n| < 2^21), a in [m - 746, m] (the
 * caller raises smaller a: e^-746 is 0 after the normalization, and the
 * exponent field stays in 458..1537) and no NaN. */
#define FA_ROW_SHIFT_D 512
#define FA_ROW_MAXD 1e5
FA_INLINE VD fa_vexpd_row(VD a, VD magic)
{
    const VD LOG2E = fa_vsplatd(FA_LOG2E), LN2_HI = fa_vsplatd(FA_LN2_HI),
             LN2_LO = fa_vsplatd(FA_LN2_LO);
    const VD t = a * LOG2E + magic, fn = t - magic;
    const VD r = (a - fn * LN2_HI) - fn * LN2_LO;
    VD p;
    FA_EXP_MINIMAX_D(p, r);
    return (VD)((VL)p + ((VL)t << 52));
}

/* The largest of sg * x over a row of n doubles (padded lanes -inf, NaN
 * ignored), whether any is NaN, and the smallest (*mn): two accumulators
 * of each, so that the compares do not wait on each other. */
FA_INLINE double fa_row_maxd(const double *x, ptrdiff_t n, VD sg, double pad, int *nan,
                             double *mn)
{
    VD m0 = fa_vsplatd(-INFINITY), m1 = m0, l0 = fa_vsplatd(INFINITY), l1 = l0;
    VL bad = (VL)fa_vsplatd(0.0);
    ptrdiff_t j = 0;
    for (; j + 2 * FA_ND <= n; j += 2 * FA_ND) {
        const VD a0 = sg * fa_vloadd(x + j, FA_ND, pad);
        const VD a1 = sg * fa_vloadd(x + j + FA_ND, FA_ND, pad);
        m0 = fa_vmaxd(a0, m0);
        m1 = fa_vmaxd(a1, m1);
        l0 = fa_vmind(a0, l0);
        l1 = fa_vmind(a1, l1);
        bad |= fa_vunordd(a0, a1);
    }
    for (; j < n; j += FA_ND) {
        const VD a = sg * fa_vloadd(x + j, n - j, pad);
        m0 = fa_vmaxd(a, m0);
        l0 = fa_vmind(a, l0);   /* padded lanes -inf: such a row keeps the raise */
        bad |= fa_vunordd(a, a);
    }
    m0 = fa_vmaxd(m1, m0);
    l0 = fa_vmind(l1, l0);
    double mx = m0[0], lo = l0[0];
    int any = 0;
    for (int k = 0; k < FA_ND; k++) {
        mx = m0[k] > mx ? m0[k] : mx;
        lo = l0[k] < lo ? l0[k] : lo;
        any |= bad[k] != 0;
    }
    *nan = any;
    *mn = lo;
    return mx;
}

/* The exps of a row (fa_vexpd_row of sg * x raised to `floor`), stored at
 * dst where `store`, and their sum; `clamp` 0: no element is below floor,
 * so the full vectors skip the raise.  The next row (rows are consecutive
 * on this path) is prefetched meanwhile: this pass is compute-bound.
 * Padded lanes are raised to floor: their terms, 2^-1076 of the max's,
 * vanish in the sum. */
FA_INLINE double fa_exps_sumd(const double *x, double *dst, ptrdiff_t n, VD sg, double pad,
                              VD floor, VD magic, int store, int clamp)
{
    VD s0 = fa_vsplatd(0.0), s1 = s0;
    ptrdiff_t j = 0;
    for (; j + 2 * FA_ND <= n; j += 2 * FA_ND) {
        for (int q = 0; q < 2 * FA_ND; q += 8) __builtin_prefetch(x + n + j + q, 0, 3);
        VD a = sg * fa_vloadd(x + j, FA_ND, pad), b = sg * fa_vloadd(x + j + FA_ND, FA_ND, pad);
        if (clamp) {
            a = fa_vmaxd(a, floor);
            b = fa_vmaxd(b, floor);
        }
        const VD e = fa_vexpd_row(a, magic), f = fa_vexpd_row(b, magic);
        if (store) {
            fa_vstored(dst + j, FA_ND, e);
            fa_vstored(dst + j + FA_ND, FA_ND, f);
        }
        s0 += e;
        s1 += f;
    }
    for (; j < n; j += FA_ND) {
        const VD e = fa_vexpd_row(fa_vmaxd(sg * fa_vloadd(x + j, n - j, pad), floor), magic);
        if (store) fa_vstored(dst + j, n - j, e);
        s0 += e;
    }
    return fa_vhsum(s0 + s1);
}

/* One double row of n, FA_ND lanes along it: softmax (mode 0; negate:
 * softmin) or log_softmax (mode 1), called with constant negate and mode.
 * Max pass; the exps (stored for softmax) and their sum; the
 * normalization.  A streamed row (the caller fences) goes through a buffer
 * in L1 placed away from x and y in the page (fa_away_from). */
FA_INLINE void fa_row_forward_dk(const double *x, double *y, ptrdiff_t n, int negate, int mode,
                                 int stream)
{
    const VD sg = fa_vsplatd(negate ? -1.0 : 1.0);
    const double pad = negate ? INFINITY : -INFINITY;     /* sg * pad = -inf: adds 0 */
    int nan;
    double mn;
    const double mx = fa_row_maxd(x, n, sg, pad, &nan, &mn);
    const VD m = fa_vsplatd(mx);
    const int streamed = stream && n <= FA_STREAM_ROW / 2;
    float space[streamed ? FA_STREAM_ROW + 1024 : 1] __attribute__((aligned(64)));
    double *buf = streamed ? (double *)fa_away_from(space, x, y) : y;
    ptrdiff_t j;
    if (fabs(mx) <= FA_ROW_MAXD && !nan) {
        /* K even, as the float rows' (all exact: integers < 2^53) */
        const double kd = 2.0 * rint(mx * (0.5 * FA_LOG2E));
        const VD floor = m - 746.0;
        const VD magic = fa_vsplatd((FA_RINT_MAGIC + FA_ROW_SHIFT_D) - kd);
        const int raise = !(mn >= floor[0]);
        const double s = raise ? fa_exps_sumd(x, buf, n, sg, pad, floor, magic, mode == 0, 1)
                               : fa_exps_sumd(x, buf, n, sg, pad, floor, magic, mode == 0, 0);
        if (mode == 0) {
            const VD iv = fa_vsplatd(1.0 / s);
            for (j = 0; j + FA_ND <= n; j += FA_ND)
                fa_vstored(buf + j, FA_ND, fa_vloadd(buf + j, FA_ND, 0.0) * iv);
            if (j < n) fa_vstored(buf + j, n - j, fa_vloadd(buf + j, n - j, 0.0) * iv);
        } else {
            /* the sum relative to the max's own term as computed, so that
             * it counts exactly 1: (a - m) - lse, both terms <= 0, each
             * rounding within half an ULP of the result */
            const VD lse = fa_vsplatd(log(s / fa_vexpd_row(m, magic)[0]));
            for (j = 0; j < n; j += FA_ND)
                fa_vstored(buf + j, n - j, (sg * fa_vloadd(x + j, n - j, 0.0) - m) - lse);
        }
    } else {
        /* an infinite or huge max, or a NaN: x - max as hi + lo */
        VD s0 = fa_vsplatd(0.0);
        for (j = 0; j < n; j += FA_ND) {
            const VD e = fa_vdiff_expd(sg * fa_vloadd(x + j, n - j, pad), m);
            if (mode == 0) fa_vstored(buf + j, n - j, e);
            s0 += e;            /* padded lanes: exp(-inf) = 0 */
        }
        const double s = fa_vhsum(s0);
        if (mode == 0) {
            const double inv = 1.0 / s;
            for (j = 0; j < n; j++) buf[j] *= inv;
        } else {
            const VD lse = fa_vsplatd(log(s));
            for (j = 0; j < n; j += FA_ND)
                fa_vstored(buf + j, n - j, (sg * fa_vloadd(x + j, n - j, 0.0) - m) - lse);
        }
    }
    if (streamed)
        fa_stream_out(y, buf, (size_t)n * sizeof(double));
}

/* `rows` consecutive double rows of n along the last axis */
FA_INLINE void fa_rows_forward_d(const double *x, double *y, ptrdiff_t rows, ptrdiff_t n,
                                 int negate, int mode, int stream)
{
    for (ptrdiff_t r = 0; r < rows; r++) {
        const double *xr = x + r * n;
        double *yr = y + r * n;
#define FA_K(NEG, MODE) fa_row_forward_dk(xr, yr, n, NEG, MODE, stream)
        FA_BY_MODE(FA_K, negate, mode);
#undef FA_K
    }
}

/* `width` double columns of length n (element j of column t at
 * x[j*stride + t]), FA_ND columns per vector: the general row arithmetic
 * (hi + lo) with the lanes across columns, row by row across the block, so
 * every pass streams memory. */
FA_INLINE void fa_cols_forward_dk(const double *x, double *y, ptrdiff_t n, ptrdiff_t width,
                                  ptrdiff_t stride, int negate, int mode)
{
    const VD sg = fa_vsplatd(negate ? -1.0 : 1.0);
    const ptrdiff_t nq = (width + FA_ND - 1) / FA_ND;
    VD m[FA_BLOCK / FA_ND], s[FA_BLOCK / FA_ND];
    for (ptrdiff_t q = 0; q < nq; q++) {
        m[q] = fa_vsplatd(-INFINITY);
        s[q] = fa_vsplatd(0.0);
    }
    for (ptrdiff_t j = 0; j < n; j++)
        for (ptrdiff_t q = 0; q < nq; q++) {
            const VD a = sg * fa_vloadd(x + j * stride + FA_ND * q, width - FA_ND * q, 0.0);
            m[q] = fa_vmaxd(a, m[q]);
        }
    for (ptrdiff_t j = 0; j < n; j++)
        for (ptrdiff_t q = 0; q < nq; q++) {
            const ptrdiff_t o = j * stride + FA_ND * q, k = width - FA_ND * q;
            const VD e = fa_vdiff_expd(sg * fa_vloadd(x + o, k, 0.0), m[q]);
            if (mode == 0) fa_vstored(y + o, k, e);
            s[q] += e;
        }
    for (ptrdiff_t q = 0; q < nq; q++) {
        if (mode == 0)
            s[q] = 1.0 / s[q];
        else
            for (int k = 0; k < FA_ND; k++) s[q][k] = log(s[q][k]);
    }
    for (ptrdiff_t j = 0; j < n; j++)
        for (ptrdiff_t q = 0; q < nq; q++) {
            const ptrdiff_t o = j * stride + FA_ND * q, k = width - FA_ND * q;
            fa_vstored(y + o, k, mode == 0 ? fa_vloadd(y + o, k, 0.0) * s[q]
                                           : (sg * fa_vloadd(x + o, k, 0.0) - m[q]) - s[q]);
        }
}

FA_INLINE void fa_cols_forward_d(const double *x, double *y, ptrdiff_t n, ptrdiff_t width,
                                 ptrdiff_t stride, int negate, int mode)
{
#define FA_K(NEG, MODE) fa_cols_forward_dk(x, y, n, width, stride, NEG, MODE)
    FA_BY_MODE(FA_K, negate, mode);
#undef FA_K
}

/* The row sum of a double backward, sum(g*y) (mode 0) or sum(g) (mode 1,
 * which also finds the largest y, NaN ignored, -inf for an empty row), two
 * accumulators. */
FA_INLINE double fa_row_sumd(const double *g, const double *y, ptrdiff_t n, int mode,
                             double *ymax)
{
    VD s0 = fa_vsplatd(0.0), s1 = s0, m0 = fa_vsplatd(-INFINITY), m1 = m0;
    ptrdiff_t j = 0;
    for (; j + 2 * FA_ND <= n; j += 2 * FA_ND) {
        const VD g0 = fa_vloadd(g + j, FA_ND, 0.0), g1 = fa_vloadd(g + j + FA_ND, FA_ND, 0.0);
        const VD y0 = fa_vloadd(y + j, FA_ND, 0.0), y1 = fa_vloadd(y + j + FA_ND, FA_ND, 0.0);
        if (mode == 0) {
            s0 += g0 * y0;
            s1 += g1 * y1;
        } else {
            s0 += g0;
            s1 += g1;
            m0 = fa_vmaxd(y0, m0);
            m1 = fa_vmaxd(y1, m1);
        }
    }
    for (; j < n; j += FA_ND) {
        const VD g0 = fa_vloadd(g + j, n - j, 0.0);
        const VD y0 = fa_vloadd(y + j, n - j, mode == 0 ? 0.0 : -INFINITY);
        s0 += mode == 0 ? g0 * y0 : g0;
        m0 = fa_vmaxd(y0, m0);
    }
    m0 = fa_vmaxd(m1, m0);
    double mx = m0[0];
    for (int k = 1; k < FA_ND; k++) mx = m0[k] > mx ? m0[k] : mx;
    *ymax = mx;
    return fa_vhsum(s0 + s1);
}

/* A double row's output pass into w, called with constant negate, mode and
 * le0 (log_softmax whose row has no y > 0: the exp without overflow
 * handling).  log_softmax's pass prefetches the next row's inputs (rows
 * are consecutive on this path); softmax's is faster without (rows_body.h's
 * fa_row_backward_fk). */
FA_INLINE void fa_row_backward_dk(const double *g, const double *y, double *w, ptrdiff_t n,
                                  double total, int negate, int mode, int le0)
{
    const VD tot = fa_vsplatd(total);
#define FA_BWD_D(GV, YV) (mode == 0 ? (negate ? -((YV) * ((GV) - tot)) : (YV) * ((GV) - tot)) \
                          : (GV) - fa_vexpd(YV, le0) * tot)
    ptrdiff_t j = 0;
    for (; j + FA_ND <= n; j += FA_ND) {
        if (mode == 1 && (j & 7) == 0) {
            __builtin_prefetch(g + n + j, 0, 3);
            __builtin_prefetch(y + n + j, 0, 3);
        }
        const VD g0 = fa_vloadd(g + j, FA_ND, 0.0), y0 = fa_vloadd(y + j, FA_ND, 0.0);
        fa_vstored(w + j, FA_ND, FA_BWD_D(g0, y0));
    }
    if (j < n) {
        const VD g0 = fa_vloadd(g + j, n - j, 0.0), y0 = fa_vloadd(y + j, n - j, 0.0);
        fa_vstored(w + j, n - j, FA_BWD_D(g0, y0));
    }
#undef FA_BWD_D
}

/* `rows` consecutive double rows of n along the last axis: each row's sum
 * pass, then its output pass (fusing the next row's sum into this row's
 * output pass was slower on Zen 4: 1024x1024 on two threads 362 against
 * 264 us, 16384 rows 11.4 against 9.8 ms) */
FA_INLINE void fa_rows_backward_d(const double *g, const double *y, double *out, ptrdiff_t rows,
                                  ptrdiff_t n, int negate, int mode, int stream)
{
    stream = stream && n <= FA_STREAM_ROW / 2;
    float space[stream ? FA_STREAM_ROW + 1024 : 1] __attribute__((aligned(64)));
    for (ptrdiff_t r = 0; r < rows; r++) {
        const double *gr = g + r * n, *yr = y + r * n;
        double *o = out + r * n, *w = stream ? (double *)fa_away_from(space, gr, yr) : o;
        double ymax;
        const double tot = fa_row_sumd(gr, yr, n, mode, &ymax);
        if (mode == 0) {
            if (negate) fa_row_backward_dk(gr, yr, w, n, tot, 1, 0, 0);
            else fa_row_backward_dk(gr, yr, w, n, tot, 0, 0, 0);
        } else if (ymax <= 0.0) {
            fa_row_backward_dk(gr, yr, w, n, tot, 0, 1, 1);
        } else {
            fa_row_backward_dk(gr, yr, w, n, tot, 0, 1, 0);
        }
        if (stream)         /* the caller fences once after its rows */
            fa_stream_out(o, w, (size_t)n * sizeof(double));
    }
}

/* `width` double columns of length n (as fa_cols_forward_dk): the row
 * backward's arithmetic with the lanes across columns */
FA_INLINE void fa_cols_backward_d(const double *g, const double *y, double *out, ptrdiff_t n,
                                  ptrdiff_t width, ptrdiff_t stride, int negate, int mode)
{
    const VD sg = fa_vsplatd(negate ? -1.0 : 1.0);
    const ptrdiff_t nq = (width + FA_ND - 1) / FA_ND;
    VD acc[FA_BLOCK / FA_ND];
    /* the largest y of a log_softmax block: where it is <= 0
     * (log-probabilities, the normal case) the exp needs no overflow clamp */
    VD ymax = fa_vsplatd(-INFINITY);
    for (ptrdiff_t q = 0; q < nq; q++) acc[q] = fa_vsplatd(0.0);
    for (ptrdiff_t j = 0; j < n; j++)
        for (ptrdiff_t q = 0; q < nq; q++) {
            const ptrdiff_t o = j * stride + FA_ND * q, k = width - FA_ND * q;
            const VD gv = fa_vloadd(g + o, k, 0.0);
            if (mode == 1) {
                const VD yv = fa_vloadd(y + o, k, -INFINITY);
                ymax = fa_vseld((yv > ymax) | (yv != yv), yv, ymax);
            }
            acc[q] += mode == 0 ? gv * fa_vloadd(y + o, k, 0.0) : gv;
        }
    int le0 = mode == 1;
    for (int k = 0; k < FA_ND; k++) le0 &= ymax[k] <= 0;
#define FA_COLS_BWD_D(LE0)                                                                 \
    for (ptrdiff_t j = 0; j < n; j++)                                                      \
        for (ptrdiff_t q = 0; q < nq; q++) {                                               \
            const ptrdiff_t o = j * stride + FA_ND * q, k = width - FA_ND * q;             \
            const VD gv = fa_vloadd(g + o, k, 0.0), yv = fa_vloadd(y + o, k, 0.0);         \
            fa_vstored(out + o, k, mode == 0 ? sg * (yv * (gv - acc[q]))                   \
                                             : gv - fa_vexpd(yv, LE0) * acc[q]);           \
        }
    if (le0) { FA_COLS_BWD_D(1) } else { FA_COLS_BWD_D(0) }
#undef FA_COLS_BWD_D
}

#undef FA_ROW_SHIFT_D
#undef FA_ROW_MAXD
#undef VL
#undef fa_vseld
#undef fa_vmaxd
#undef fa_vmind
#undef fa_vunordd
#undef fa_vloadd
#undef fa_vstored
#undef fa_vexpd
#undef fa_vexpd_row
#undef fa_vdiff_expd
#undef fa_row_maxd
#undef fa_exps_sumd
#undef fa_row_forward_dk
#undef fa_cols_forward_dk
#undef fa_row_sumd
#undef fa_row_backward_dk
