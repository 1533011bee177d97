/* The softmax family's kernels on vectors of FA_NF floats (the doubles'
 * are in rows_d_body.h, included below) and the entry points: compiled
 * once per instruction-set path by clones.h (included from rows.h, which
 * holds what every path shares and the dispatch).  No include guard.
 *
 * Every name defined here is suffixed with the path (FA_SFX), the helpers
 * by the #defines below, which are undone at the end. */
#define fa_vsplat FA_SFX(fa_vsplat)
#define fa_vexp_row FA_SFX(fa_vexp_row)
#define fa_vclamp FA_SFX(fa_vclamp)
#define fa_vmax FA_SFX(fa_vmax)
#define fa_vmin FA_SFX(fa_vmin)
#define fa_vsum FA_SFX(fa_vsum)
#define fa_vsplati FA_SFX(fa_vsplati)
#define fa_vsplatd FA_SFX(fa_vsplatd)
#define fa_vsel FA_SFX(fa_vsel)
#define fa_vhsum FA_SFX(fa_vhsum)
#define fa_vexp FA_SFX(fa_vexp)
#define fa_vload FA_SFX(fa_vload)
#define fa_vstore FA_SFX(fa_vstore)
#define fa_vlo FA_SFX(fa_vlo)
#define fa_vhi FA_SFX(fa_vhi)
#define fa_vjoin FA_SFX(fa_vjoin)
#define fa_vdiff_exp FA_SFX(fa_vdiff_exp)
#define fa_vunord FA_SFX(fa_vunord)
#define fa_row_max FA_SFX(fa_row_max)
#define fa_exps_sum FA_SFX(fa_exps_sum)
#define fa_row_forward_fk FA_SFX(fa_row_forward_fk)
#define fa_rows_forward_fk FA_SFX(fa_rows_forward_fk)
#define fa_rows_forward_f FA_SFX(fa_rows_forward_f)
#define fa_cols_forward_fk FA_SFX(fa_cols_forward_fk)
#define fa_cols_forward_f FA_SFX(fa_cols_forward_f)
#define fa_row_sum_f FA_SFX(fa_row_sum_f)
#define fa_row_backward_fk FA_SFX(fa_row_backward_fk)
#define fa_row_backward_f FA_SFX(fa_row_backward_f)
#define fa_rows_backward_f FA_SFX(fa_rows_backward_f)
#define fa_cols_backward_f FA_SFX(fa_cols_backward_f)
#define VF FA_SFX(VF)
#define VI FA_SFX(VI)
#define VD FA_SFX(VD)
#define FA_ND (FA_NF / 2)

typedef float VF __attribute__((vector_size(4 * FA_NF)));
typedef int32_t VI __attribute__((vector_size(4 * FA_NF)));
typedef double VD __attribute__((vector_size(4 * FA_NF)));     /* FA_ND doubles */

FA_INLINE VF fa_vsplat(float s)
{
    VF v;
    for (int i = 0; i < FA_NF; i++) v[i] = s;
    return v;
}
FA_INLINE VD fa_vsplatd(double s)
{
    VD v;
    for (int i = 0; i < FA_ND; i++) v[i] = s;
    return v;
}
FA_INLINE VI fa_vsplati(int32_t s)
{
    VI v;
    for (int i = 0; i < FA_NF; i++) v[i] = s;
    return v;
}
FA_INLINE VF fa_vsel(VI mask, VF a, VF b)       /* mask ? a : b, lanewise */
{
    return (VF)((mask & (VI)a) | (~mask & (VI)b));
}
/* Lanewise max / min of a and b (S: ps for VF, pd for VD) with the rule of
 * vmaxps / vminps: b where either is NaN.  One instruction where the path
 * has it (gcc makes a compare and a blend of the select). */
#if FA_NF == 16 && defined(__AVX512F__)
#define FA_VOP(OP, S, V, A, B) ((V)_mm512_##OP##_##S((FA_M512_##S)(A), (FA_M512_##S)(B)))
#elif FA_NF == 8 && defined(__AVX__)
#define FA_VOP(OP, S, V, A, B) ((V)_mm256_##OP##_##S((FA_M256_##S)(A), (FA_M256_##S)(B)))
#else
#define FA_VOP(OP, S, V, A, B) FA_SEL_##S((A) FA_CMP_##OP (B), A, B)
#endif
#define FA_M512_ps __m512
#define FA_M512_pd __m512d
#define FA_M256_ps __m256
#define FA_M256_pd __m256d
#define FA_CMP_max >
#define FA_CMP_min <
#define FA_SEL_ps fa_vsel
#define FA_SEL_pd fa_vseld

/* a below lo raised to lo; NaN stays NaN */
FA_INLINE VF fa_vclamp(VF a, VF lo) { return FA_VOP(max, ps, VF, lo, a); }
/* lanes where a or b is NaN (one vcmpunordps where the path has it) */
FA_INLINE VI fa_vunord(VF a, VF b)
{
#if FA_NF == 16 && defined(__AVX512F__)
    return (VI)_mm512_movm_epi32(_mm512_cmp_ps_mask((__m512)a, (__m512)b, _CMP_UNORD_Q));
#elif FA_NF == 8 && defined(__AVX__)
    return (VI)_mm256_cmp_ps((__m256)a, (__m256)b, _CMP_UNORD_Q);
#else
    return (a != a) | (b != b);
#endif
}
/* adjacent pairs first, then pairs of those: ((v0 + v1) + (v2 + v3)) + ... */
FA_INLINE double fa_vhsum(VD v)
{
    for (int w = FA_ND; w > 1; w /= 2)
        for (int i = 0; i < w / 2; i++) v[i] = v[2 * i] + v[2 * i + 1];
    return v[0];
}

/* e^x on FA_NF floats, float arithmetic only (twice the lanes of the double
 * version): Cody-Waite reduction to |r| <= ln2/2, exp.h's degree-6
 * polynomial (error 3.9e-9).  Within ~1 ULP; NaN -> NaN.
 *
 * neg (the softmax case): the caller guarantees x in [-110, 0] or NaN, so no
 * clamp is needed and 2^n is built as 2^(n+64) (normal for every such n) times
 * 2^-64: the product is exact where the result is normal and rounded once
 * where it is subnormal.  The bits of 2^(n+64) come straight from the
 * rounding sum t = x*log2(e) + 1.5*2^23, whose low bits hold n.
 * Otherwise x is clamped to [-104, 89] (-inf -> 0, overflow -> inf) and 2^n
 * is two normal factors. */
FA_INLINE VF fa_vexp(VF x, int neg)
{
    const VF LOG2E = fa_vsplat(FA_LOG2E_F), LN2_HI = fa_vsplat(FA_LN2_HI_F),
              LN2_LO = fa_vsplat(FA_LN2_LO_F), MAGIC = fa_vsplat(FA_RINT_MAGIC_F),
              LO = fa_vsplat(-104.0f), HI = fa_vsplat(89.0f);
    const VI MB = (VI)MAGIC;
    VF xc = neg ? x : fa_vsel(x < LO, LO, x);
    xc = neg ? xc : fa_vsel(xc > HI, HI, xc);
    VF t = xc * LOG2E + MAGIC, fn = t - MAGIC;
    VF r = (xc - fn * LN2_HI) - fn * LN2_LO;
    VF p;
    FA_EXPF_POLY6(p, r);
    if (neg)    /* bits(t) - bits(MAGIC) = n for |n| < 2^22 */
        return (p * (VF)(((VI)t - MB + (127 + 64)) << 23)) * 0x1p-64f;
    VF fn1 = (fn * 0.5f + MAGIC) - MAGIC, fn2 = fn - fn1;
    VF s1 = (VF)((((VI)(fn1 + MAGIC) - MB) + 127) << 23);
    VF s2 = (VF)((((VI)(fn2 + MAGIC) - MB) + 127) << 23);
    return fa_vsel(x != x, x, p * s1 * s2);
}

/* LOAD: N elements of type T at p as a vector V, k of them valid (k < N
 * pads with `pad`); STORE: the first k lanes of v to p */
#define FA_DEFINE_VIO(LOAD, STORE, T, V, N)                                  \
FA_INLINE V LOAD(const T *p, ptrdiff_t k, T pad)                             \
{                                                                            \
    V v;                                                                     \
    if (k >= (N)) { memcpy(&v, p, sizeof v); return v; }                     \
    T b[N];                                                                  \
    for (int i = 0; i < (N); i++) b[i] = i < k ? p[i] : pad;                 \
    memcpy(&v, b, sizeof v);                                                 \
    return v;                                                                \
}                                                                            \
FA_INLINE void STORE(T *p, ptrdiff_t k, V v)                                 \
{                                                                            \
    if (k >= (N)) { memcpy(p, &v, sizeof v); return; }                       \
    T b[N];                                                                  \
    memcpy(b, &v, sizeof v);                                                 \
    for (ptrdiff_t i = 0; i < k; i++) p[i] = b[i];                           \
}
FA_DEFINE_VIO(fa_vload, fa_vstore, float, VF, FA_NF)

/* the low and high halves of v, as doubles */
/* (written lane by lane: gcc 12 turns __builtin_convertvector of a shuffled
 * half into two 2-lane converts and an insert, this into one vcvtps2pd) */
FA_INLINE VD fa_vlo(VF v)
{
    VD d;
    for (int i = 0; i < FA_ND; i++) d[i] = v[i];
    return d;
}
FA_INLINE VD fa_vhi(VF v)
{
    VD d;
    for (int i = 0; i < FA_ND; i++) d[i] = v[FA_ND + i];
    return d;
}
/* lo and hi rounded to float, side by side */
FA_INLINE VF fa_vjoin(VD lo, VD hi)
{
    VF v;
    for (int i = 0; i < FA_ND; i++) { v[i] = (float)lo[i]; v[FA_ND + i] = (float)hi[i]; }
    return v;
}

/* the larger of a and m, m where a is NaN (m never is) */
FA_INLINE VF fa_vmax(VF a, VF m) { return FA_VOP(max, ps, VF, a, m); }
/* the smaller of a and m (only used where neither is NaN) */
FA_INLINE VF fa_vmin(VF a, VF m) { return FA_VOP(min, ps, VF, a, m); }
/* the sum of n floats at w in double, each pair summed in float first (one
 * rounding, relative to the pair: half the conversions); two sets of
 * accumulators, so that the adds do not wait on each other */
FA_INLINE double fa_vsum(const float *w, ptrdiff_t n)
{
    VD a0 = fa_vsplatd(0.0), a1 = a0, b0 = a0, b1 = a0;
    ptrdiff_t j = 0;
    for (; j + 4 * FA_NF <= n; j += 4 * FA_NF) {
        VF e = fa_vload(w + j, FA_NF, 0.0f) + fa_vload(w + j + FA_NF, FA_NF, 0.0f);
        VF f = fa_vload(w + j + 2 * FA_NF, FA_NF, 0.0f) + fa_vload(w + j + 3 * FA_NF, FA_NF, 0.0f);
        a0 += fa_vlo(e);
        a1 += fa_vhi(e);
        b0 += fa_vlo(f);
        b1 += fa_vhi(f);
    }
    for (; j < n; j += FA_NF) {
        VF e = fa_vload(w + j, n - j, 0.0f);
        a0 += fa_vlo(e);
        a1 += fa_vhi(e);
    }
    return fa_vhsum((a0 + b0) + (a1 + b1));
}
/* e^(v - m) for a float vector v and its (row or column) max m.  v - m is
 * carried as hi + lo (TwoSum) and applied to first order, since exp would
 * amplify its rounding by |v - m|. */
FA_INLINE VF fa_vdiff_exp(VF v, VF m, int fast)
{
    if (fast) {
        /* |max| < 1e9 (finite, and m - 110 is not absorbed): v below m - 110
         * gives 0 anyway, and raising it there keeps v - m in [-110, 0] or
         * NaN, so the exp needs no clamps and the error term no guard */
        const VF floor = m - 110.0f;
        v = fa_vsel(v < floor, floor, v);
    }
    VF hi, lo;
    FA_TWO_DIFF(hi, lo, v, m);
    if (!fast)                                  /* inf/NaN: no error term */
        lo = fa_vsel(hi - hi == 0.0f, lo, fa_vsplat(0.0f));
    VF e = fa_vexp(hi, fast);
    return e + e * lo;
}

/* e^a * 2^(64 - K) for a float row's a (the sign already applied) and
 * K = rint(m log2 e) rounded to an even integer, m the row's max: e^(a - m)
 * times a row constant, 2^64 e^(m - K ln2), which softmax's normalization
 * cancels.  Why: the exp
 * reduces a itself, n = rint(a log2 e), r = a - n ln2 (Cody-Waite, exact),
 * and the row's shift only enters as the integer K in the exponent: a - m
 * is never rounded (which exp would amplify by |a - m|), without the TwoSum
 * and error term that carrying a - m as hi + lo costs.  2^(n - K + 64) is
 * added to e^r's exponent bits (an integer add, not a multiply: the fma
 * units are what bound this loop).  The shift rides in the rounding
 * constant: `magic` is 1.5 * 2^23 + 64 - K (a float integer), so t =
 * a log2 e + magic is magic + n exactly, fn = t - magic is n, and the low
 * nine bits of t hold n - K + 64 (those of 1.5 * 2^23 are zero): bits(t)
 * << 23 is 2^(n - K + 64)'s exponent field, modulo 2^32 as the add needs.
 * (One integer add fewer than adding K to bits(t) on every vector; the
 * same n, so the same bits.)  Needs |m| <= 1000 (|n| < 2^11 keeps
 * n LN2_HI exact), a in [m - 110, m] (the caller clamps: e^-110 is 0 in
 * float after the normalization, and the exponent stays in 28..193) and no
 * NaN (the bit add would not keep it: the caller checks).  `deg` (a
 * constant): exp.h's polynomial of degree 6, or 5 for exps only summed.
 *
 * Exps only summed (deg 5, log_softmax's normalizer) also reduce in one
 * fma where the path has fma: r = a - n LN2_F, ln 2 rounded to float.  The
 * product is exact in the fma, so r is off by n (LN2_F - ln 2), 1.9e-9 n:
 * every exp of the row by the factor e^(1.9e-9 n).  With n = K + d, the K
 * part is common to the row and log_softmax measures the sum against the
 * max's own term computed the same way, so it cancels; what remains is
 * e^(1.9e-9 d), |d| <= 160, whose effect on the sum is weighted by each
 * term's share: the terms near the max (d ~ 0) dominate it, and a term
 * with d = -100 is e^-69 of the max's.  The log-sum moves by a few 1e-9 at
 * most, under an ULP of the log-probabilities.  One fma of eight in this
 * loop.  (Without fma, n LN2_F would round: the two-constant form stays.) */
FA_INLINE VF fa_vexp_row(VF a, VF magic, int deg)
{
    const VF LOG2E = fa_vsplat(FA_LOG2E_F), LN2_HI = fa_vsplat(FA_LN2_HI_F),
             LN2_LO = fa_vsplat(FA_LN2_LO_F);
    VF t = a * LOG2E + magic, fn = t - magic;
    VF r;
#ifdef __FMA__
    if (deg == 5)
        r = a - fn * fa_vsplat(FA_LN2_F);
    else
#endif
        r = (a - fn * LN2_HI) - fn * LN2_LO;
    VF p;
    if (deg == 5)
        FA_EXPF_POLY5(p, r);
    else
        FA_EXPF_POLY6(p, r);
    return (VF)((VI)p + ((VI)t << 23));
}

/* The largest of sg * x over a row of n floats (padded lanes -inf), and
 * whether any is NaN: four accumulators, so that the maxes do not wait on
 * each other.  (The max is exact whatever the order; only which zero a row
 * of +0 and -0 keeps could change, and no result depends on that sign.) */
FA_INLINE float fa_row_max(const float *x, ptrdiff_t n, VF sg, float pad, int *nan, float *mn)
{
    VF m0 = fa_vsplat(-INFINITY), m1 = m0, m2 = m0, m3 = m0;
    VF l0 = fa_vsplat(INFINITY), l1 = l0;
    VI bad = fa_vsplati(0);
    ptrdiff_t j = 0;
    for (; j + 4 * FA_NF <= n; j += 4 * FA_NF) {
        VF a0 = sg * fa_vload(x + j, FA_NF, pad), a1 = sg * fa_vload(x + j + FA_NF, FA_NF, pad);
        VF a2 = sg * fa_vload(x + j + 2 * FA_NF, FA_NF, pad);
        VF a3 = sg * fa_vload(x + j + 3 * FA_NF, FA_NF, pad);
        m0 = fa_vmax(a0, m0);
        m1 = fa_vmax(a1, m1);
        m2 = fa_vmax(a2, m2);
        m3 = fa_vmax(a3, m3);
        l0 = fa_vmin(fa_vmin(a0, a1), l0);
        l1 = fa_vmin(fa_vmin(a2, a3), l1);
        bad |= fa_vunord(a0, a1) | fa_vunord(a2, a3);
    }
    for (; j < n; j += FA_NF) {
        VF a = sg * fa_vload(x + j, n - j, pad);
        m0 = fa_vmax(a, m0);
        bad |= fa_vunord(a, a);
        l0 = fa_vmin(a, l0);    /* padded lanes -inf: such a row keeps the raise */
    }
    m0 = fa_vmax(fa_vmax(m2, m0), fa_vmax(m3, m1));
    l0 = fa_vmin(l0, l1);
    float mx = m0[0], lo = l0[0];
    int any = 0;
    for (int k = 0; k < FA_NF; k++) {
        mx = m0[k] > mx ? m0[k] : mx;
        lo = l0[k] < lo ? l0[k] : lo;
        any |= bad[k];
    }
    *nan = any != 0;
    *mn = lo;
    return mx;
}

/* A row's last pass, OP(j, k) on the k <= FA_NF elements from j, run
 * together with the max pass of the next row xn (fa_row_max's arithmetic
 * and result: the max and min are exact in any order), which it leaves in
 * *NMX, *NNAN and *NMN.  Both passes are light (a load or two, a store); together they
 * overlap, and the next row's reads prefetch it for its exp pass. */
#define FA_PASS_WITH_MAX(OP, N, XN, SG, PAD, NMX, NNAN, NMN) do {                  \
    VF m0_ = fa_vsplat(-INFINITY), m1_ = m0_, m2_ = m0_, m3_ = m0_;                \
    VF l0_ = fa_vsplat(INFINITY), l1_ = l0_;                                      \
    VI bad_ = fa_vsplati(0);                                                      \
    ptrdiff_t j_ = 0;                                                             \
    for (; j_ + 4 * FA_NF <= (N); j_ += 4 * FA_NF) {                              \
        VF a0_ = (SG) * fa_vload((XN) + j_, FA_NF, PAD);                          \
        VF a1_ = (SG) * fa_vload((XN) + j_ + FA_NF, FA_NF, PAD);                  \
        VF a2_ = (SG) * fa_vload((XN) + j_ + 2 * FA_NF, FA_NF, PAD);              \
        VF a3_ = (SG) * fa_vload((XN) + j_ + 3 * FA_NF, FA_NF, PAD);              \
        OP(j_, FA_NF);                                                            \
        OP(j_ + FA_NF, FA_NF);                                                    \
        OP(j_ + 2 * FA_NF, FA_NF);                                                \
        OP(j_ + 3 * FA_NF, FA_NF);                                                \
        m0_ = fa_vmax(a0_, m0_);                                                  \
        m1_ = fa_vmax(a1_, m1_);                                                  \
        m2_ = fa_vmax(a2_, m2_);                                                  \
        m3_ = fa_vmax(a3_, m3_);                                                  \
        l0_ = fa_vmin(fa_vmin(a0_, a1_), l0_);                                    \
        l1_ = fa_vmin(fa_vmin(a2_, a3_), l1_);                                    \
        bad_ |= fa_vunord(a0_, a1_) | fa_vunord(a2_, a3_);                        \
    }                                                                             \
    for (; j_ < (N); j_ += FA_NF) {                                               \
        VF a_ = (SG) * fa_vload((XN) + j_, (N) - j_, PAD);                        \
        OP(j_, (N) - j_);                                                         \
        m0_ = fa_vmax(a_, m0_);                                                   \
        bad_ |= fa_vunord(a_, a_);                                                \
        l0_ = fa_vmin(a_, l0_);                                                   \
    }                                                                             \
    m0_ = fa_vmax(fa_vmax(m2_, m0_), fa_vmax(m3_, m1_));                          \
    l0_ = fa_vmin(l0_, l1_);                                                      \
    float mx_ = m0_[0], lo_ = l0_[0];                                             \
    int any_ = 0;                                                                 \
    for (int k_ = 0; k_ < FA_NF; k_++) {                                          \
        mx_ = m0_[k_] > mx_ ? m0_[k_] : mx_;                                      \
        lo_ = l0_[k_] < lo_ ? l0_[k_] : lo_;                                      \
        any_ |= bad_[k_];                                                         \
    }                                                                             \
    *(NMX) = mx_;                                                                 \
    *(NNAN) = any_ != 0;                                                          \
    *(NMN) = lo_;                                                                 \
} while (0)

/* The exps of len floats at src (fa_vexp_row of sg * src raised to
 * `floor`, degree `deg`) stored at dst, and their sum in double.
 * `ahead`: where to prefetch from, relative to src (the next row).
 * `clamp` 0 (a constant): the caller knows no element is below floor, so
 * the full vectors skip the raise (a tenth of the exp's work).
 *
 * The sum: converting to double costs more than the exp's spare units
 * have (adding each pair of exps in double within the loop was slower
 * than a second pass summing them from L1).  So rows of at least
 * FA_SUM_BLOCK floats sum in the loop in float, per lane: each step's four
 * exps as a tree, then blocks of FA_SUM_BLOCK / FA_NF / 4 steps in
 * sequence (at most five roundings, relative to the block, of positive
 * terms), each block's sum added in double.  Shorter rows (where the
 * conversions are few anyway) store their exps and fa_vsum sums them, each
 * pair rounded once. */
#define FA_SUM_BLOCK (16 * FA_NF)
FA_INLINE double fa_exps_sum(const float *src, float *dst, ptrdiff_t len, ptrdiff_t ahead,
                             VF sg, float pad, VF floor, VF magic, int pairs, int clamp,
                             int deg)
{
#define FA_A(J) (sg * fa_vload(src + (J), FA_NF, pad))
#define FA_E(J) fa_vexp_row(clamp ? fa_vclamp(FA_A(J), floor) : FA_A(J), magic, deg)
    ptrdiff_t j = 0;
    VD a0 = fa_vsplatd(0.0), a1 = a0;
    const int blocks = len >= FA_SUM_BLOCK;
    if (blocks) {
        for (; j + FA_SUM_BLOCK <= len; j += FA_SUM_BLOCK) {
            VF acc = fa_vsplat(0.0f);
            for (ptrdiff_t i = j; i < j + FA_SUM_BLOCK; i += 4 * FA_NF) {
                for (int q = 0; q < 4 * FA_NF; q += 16)
                    __builtin_prefetch(src + ahead + i + q, 0, 3);
                VF e0 = FA_E(i), e1 = FA_E(i + FA_NF), e2 = FA_E(i + 2 * FA_NF);
                VF e3 = FA_E(i + 3 * FA_NF);
                fa_vstore(dst + i, FA_NF, e0);
                fa_vstore(dst + i + FA_NF, FA_NF, e1);
                fa_vstore(dst + i + 2 * FA_NF, FA_NF, e2);
                fa_vstore(dst + i + 3 * FA_NF, FA_NF, e3);
                acc += (e0 + e1) + (e2 + e3);
            }
            a0 += fa_vlo(acc);
            a1 += fa_vhi(acc);
        }
    } else if (pairs) {
        for (; j + 2 * FA_NF <= len; j += 2 * FA_NF) {
            for (int q = 0; q < 2 * FA_NF; q += 16) __builtin_prefetch(src + ahead + j + q, 0, 3);
            fa_vstore(dst + j, FA_NF, FA_E(j));
            fa_vstore(dst + j + FA_NF, FA_NF, FA_E(j + FA_NF));
        }
    }
    const ptrdiff_t j0 = j;
    for (; j + FA_NF <= len; j += FA_NF) {
        if ((j & 15) == 0) __builtin_prefetch(src + ahead + j, 0, 3);
        fa_vstore(dst + j, FA_NF, FA_E(j));
    }
#undef FA_E
#undef FA_A
    if (j < len)        /* padded lanes: -inf, raised */
        fa_vstore(dst + j, len - j,
                  fa_vexp_row(fa_vclamp(sg * fa_vload(src + j, len - j, pad), floor), magic, deg));
    if (!blocks)
        return fa_vsum(dst, len);
    /* the rest of a long row (under a block) from L1, as fa_vsum */
    return fa_vhsum(a0 + a1) + fa_vsum(dst + j0, len - j0);
}

/* One float row, FA_NF lanes along it, its max mx (whether it holds a
 * NaN, and its min mn) already found: the exps and their sum, kept in
 * double so that every output is within a couple of ULP, then the
 * normalization.  With a
 * next row xn, that row's max is found within this row's last pass and
 * left in *nmx, *nnan, *nmn.  Called with constant `negate` and `mode` (see
 * fa_rows_forward_f), so each combination is its own loop. */
FA_INLINE void fa_row_forward_fk(const float *x, float *y, ptrdiff_t n, int negate, int mode,
                                 int stream, float mx, int nan, float mn, const float *xn,
                                 float *nmx, int *nnan, float *nmn)
{
    const VF sg = fa_vsplat(negate ? -1.0f : 1.0f);
    const float pad = negate ? INFINITY : -INFINITY;     /* sg * pad = -inf: adds 0 */
    float *w = y;
    const VF m = fa_vsplat(mx);
    VD s0 = fa_vsplatd(0.0), s1 = fa_vsplatd(0.0);
    /* the exps: two vectors a step, their sum in float first (one rounding,
     * relative to the pair: half the conversions to double).  The exp pass
     * is compute-bound: fetch the next row (rows are consecutive in every
     * call that takes this path) meanwhile */
#define FA_ROW_PASS(EXP)                                                    \
    ptrdiff_t j = 0;                                                        \
    for (; j + 2 * FA_NF <= n; j += 2 * FA_NF) {                            \
        __builtin_prefetch(x + n + j, 0, 3);                                \
        VF e = EXP(sg * fa_vload(x + j, FA_NF, pad));                       \
        VF f = EXP(sg * fa_vload(x + j + FA_NF, FA_NF, pad));               \
        if (mode == 0) { fa_vstore(w + j, FA_NF, e); fa_vstore(w + j + FA_NF, FA_NF, f); } \
        e += f;                                                             \
        s0 += fa_vlo(e);                                                    \
        s1 += fa_vhi(e);                                                    \
    }                                                                       \
    for (; j < n; j += FA_NF) {                                             \
        VF e = EXP(sg * fa_vload(x + j, n - j, pad));                       \
        if (mode == 0) fa_vstore(w + j, n - j, e);                          \
        s0 += fa_vlo(e);                                                    \
        s1 += fa_vhi(e);                                                    \
    }
    if (fabsf(mx) <= 1000.0f && !nan) {
        /* K: rint(mx log2 e) to the nearest even integer, so that magic
         * keeps 1.5 * 2^23's parity and a product a log2 e that is a tie (an
         * unfused multiply-add rounds it first) rounds to the same n as
         * with 1.5 * 2^23 itself; all in float (exact: integers < 2^24) */
        const float kf = 2.0f * rintf(mx * (0.5f * FA_LOG2E_F));
        const VF floor = m - 110.0f;
        const VF magic = fa_vsplat((FA_RINT_MAGIC_F + 64.0f) - kf);
        /* rows spread over less than 110 (most) need no raising to floor */
        const int raise = !(mn >= floor[0]);
        /* A streamed row goes through a buffer in L1 (placed away from x
         * and y in the page, see fa_away_from), as do log_softmax's exps
         * where y is x itself (its last pass reads x).  Otherwise a row's
         * exps are stored in y, in the exp pass: a last pass that only
         * stored waited on each line's read for ownership, which the exp
         * pass hides (log_softmax's last pass then overwrites them). */
        const int streamed = stream && n <= FA_STREAM_ROW;
        const int inplace = mode == 1 && !(y + n <= x || x + n <= y);
        float space[streamed || inplace ? FA_STREAM_ROW + 1024 : 1] __attribute__((aligned(64)));
        float *buf = streamed || inplace ? fa_away_from(space, x, y) : y;
        if (mode == 0) {
            const double s = raise
                                 ? fa_exps_sum(x, buf, n, n, sg, pad, floor, magic, streamed, 1, 6)
                                 : fa_exps_sum(x, buf, n, n, sg, pad, floor, magic, streamed, 0, 6);
            const float inv = (float)(1.0 / s);
            if (xn) {
                const VF iv = fa_vsplat(inv);
#define FA_SCALE(J, K) fa_vstore(buf + (J), K, fa_vload(buf + (J), K, 0.0f) * iv)
                FA_PASS_WITH_MAX(FA_SCALE, n, xn, sg, pad, nmx, nnan, nmn);
#undef FA_SCALE
            } else {
                for (ptrdiff_t j = 0; j < n; j++) buf[j] *= inv;
            }
            if (streamed)       /* the caller fences once after its rows */
                fa_stream_out(y, buf, n * sizeof(float));
            return;
        }
        /* log_softmax: the exps by chunks of FA_ROW_CHUNK, the sum taken
         * relative to the max's own term as computed, so that it counts
         * exactly 1 (a dominant max gives log-probability 0, not the exp's
         * rounding); the others' ratios to it keep their few-ULP accuracy */
        double s = 0.0;
        for (ptrdiff_t j0 = 0; j0 < n; j0 += FA_ROW_CHUNK) {
            const ptrdiff_t len = n - j0 < FA_ROW_CHUNK ? n - j0 : FA_ROW_CHUNK;
            float *e = buf == y ? y + j0 : buf;
            s += raise ? fa_exps_sum(x + j0, e, len, n, sg, pad, floor, magic, 1, 1, 5)
                       : fa_exps_sum(x + j0, e, len, n, sg, pad, floor, magic, 1, 0, 5);
        }
        /* (a - m) - lse in float: both terms <= 0, so each rounding is
         * within half an ULP of the result */
        const VF lse = fa_vsplat((float)log(s / (double)fa_vexp_row(m, magic, 5)[0]));
        float *dst = streamed ? buf : y;
#define FA_LSM(J, K) fa_vstore(dst + (J), K, (sg * fa_vload(x + (J), K, 0.0f) - m) - lse)
        if (xn) {
            FA_PASS_WITH_MAX(FA_LSM, n, xn, sg, pad, nmx, nnan, nmn);
        } else {
            ptrdiff_t j = 0;
            for (; j + FA_NF <= n; j += FA_NF) FA_LSM(j, FA_NF);
            if (j < n) FA_LSM(j, n - j);
        }
#undef FA_LSM
        if (streamed)
            fa_stream_out(y, buf, n * sizeof(float));
        return;
    }
    /* otherwise a - m as hi + lo */
#define FA_EXP_HL(A) fa_vdiff_exp(A, m, fabsf(mx) < 1e9f)
    FA_ROW_PASS(FA_EXP_HL)
#undef FA_EXP_HL
#undef FA_ROW_PASS
    double s = fa_vhsum(s0 + s1);
    if (mode == 0) {
        const float inv = (float)(1.0 / s);
        for (ptrdiff_t j = 0; j < n; j++) w[j] *= inv;
    } else {
        /* (x - max) - log(sum): x - max in double is exact for floats */
        const double lse = log(s), md = mx;
        for (ptrdiff_t j = 0; j < n; j++)
            w[j] = (float)(((double)(negate ? -x[j] : x[j]) - md) - lse);
    }
    if (xn) *nmx = fa_row_max(xn, n, sg, pad, nnan, nmn);
}

/* `rows` consecutive float rows of n: each row's max pass runs within the
 * previous row's last pass (FA_PASS_WITH_MAX), the first on its own.  A
 * row's result does not depend on which rows it is called with. */
FA_INLINE void fa_rows_forward_fk(const float *x, float *y, ptrdiff_t rows, ptrdiff_t n,
                                  int negate, int mode, int stream)
{
    const VF sg = fa_vsplat(negate ? -1.0f : 1.0f);
    int nan;
    float mn;
    float mx = fa_row_max(x, n, sg, negate ? INFINITY : -INFINITY, &nan, &mn);
    for (ptrdiff_t r = 0; r < rows; r++) {
        const float *xn = r + 1 < rows ? x + (r + 1) * n : NULL;
        float nmx = 0.0f, nmn = 0.0f;
        int nnan = 0;
        fa_row_forward_fk(x + r * n, y + r * n, n, negate, mode, stream, mx, nan, mn, xn, &nmx,
                          &nnan, &nmn);
        mx = nmx;
        nan = nnan;
        mn = nmn;
    }
}

FA_INLINE void fa_rows_forward_f(const float *x, float *y, ptrdiff_t rows, ptrdiff_t n,
                                 int negate, int mode, int stream)
{
#define FA_K(NEG, MODE) fa_rows_forward_fk(x, y, rows, n, NEG, MODE, stream)
    FA_BY_MODE(FA_K, negate, mode);
#undef FA_K
}

/* `width` float columns of length n (element j of column t at x[j*stride+t]),
 * eight columns per vector: the same arithmetic as a row, lanes across
 * columns, so no horizontal reductions and no transposed copy. */
FA_INLINE void fa_cols_forward_fk(const float *x, float *y, ptrdiff_t n, ptrdiff_t width,
                                  ptrdiff_t stride, int negate, int mode)
{
    const VF sg = fa_vsplat(negate ? -1.0f : 1.0f);
    const ptrdiff_t nq = (width + FA_NF - 1) / FA_NF;
    VF m[FA_BLOCK / FA_NF];
    VD s0[FA_BLOCK / FA_NF], s1[FA_BLOCK / FA_NF];
    for (ptrdiff_t q = 0; q < nq; q++) {
        m[q] = fa_vsplat(-INFINITY);
        s0[q] = s1[q] = fa_vsplatd(0.0);
    }
    for (ptrdiff_t j = 0; j < n; j++) {
        fa_col_prefetch(x, j, n, width, stride, 0);
        for (ptrdiff_t q = 0; q < nq; q++) {
            VF a = sg * fa_vload(x + j * stride + FA_NF * q, width - FA_NF * q, 0.0f);
            m[q] = fa_vsel(a > m[q], a, m[q]);
        }
    }
    int fast = 1;
    for (ptrdiff_t q = 0; q < nq; q++)
        for (int k = 0; k < FA_NF; k++) fast &= fabsf(m[q][k]) < 1e9f;
#define FA_COLS_PASS(FAST)                                                   \
    for (ptrdiff_t j = 0; j < n; j++) {                                      \
        fa_col_prefetch(x, j, n, width, stride, 0);                          \
        if (mode == 0) fa_col_prefetch(y, j, n, width, stride, 1);           \
        for (ptrdiff_t q = 0; q < nq; q++) {                                 \
            const ptrdiff_t o = j * stride + FA_NF * q, k = width - FA_NF * q;       \
            VF e = fa_vdiff_exp(sg * fa_vload(x + o, k, 0.0f), m[q], FAST); \
            if (mode == 0) fa_vstore(y + o, k, e);                           \
            s0[q] += fa_vlo(e);                                              \
            s1[q] += fa_vhi(e);                                              \
        }                                                                    \
    }
    if (fast) { FA_COLS_PASS(1) } else { FA_COLS_PASS(0) }
#undef FA_COLS_PASS
    if (mode == 0) {
        VF inv[FA_BLOCK / FA_NF];
        for (ptrdiff_t q = 0; q < nq; q++) {
            VD a = 1.0 / s0[q], b = 1.0 / s1[q];
            inv[q] = fa_vjoin(a, b);
        }
        for (ptrdiff_t j = 0; j < n; j++)
            for (ptrdiff_t q = 0; q < nq; q++) {
                const ptrdiff_t o = j * stride + FA_NF * q, k = width - FA_NF * q;
                fa_vstore(y + o, k, fa_vload(y + o, k, 0.0f) * inv[q]);
            }
    } else {
        /* (x - max) - log(sum) in double: x - max is exact there */
        VD l0[FA_BLOCK / FA_NF], l1[FA_BLOCK / FA_NF], m0[FA_BLOCK / FA_NF], m1[FA_BLOCK / FA_NF];
        for (ptrdiff_t q = 0; q < nq; q++) {
            for (int k = 0; k < FA_ND; k++) { l0[q][k] = log(s0[q][k]); l1[q][k] = log(s1[q][k]); }
            m0[q] = fa_vlo(m[q]);
            m1[q] = fa_vhi(m[q]);
        }
        for (ptrdiff_t j = 0; j < n; j++) {
            fa_col_prefetch(x, j, n, width, stride, 0);
            fa_col_prefetch(y, j, n, width, stride, 1);
            for (ptrdiff_t q = 0; q < nq; q++) {
                const ptrdiff_t o = j * stride + FA_NF * q, k = width - FA_NF * q;
                VF v = sg * fa_vload(x + o, k, 0.0f);
                VD a = (fa_vlo(v) - m0[q]) - l0[q], b = (fa_vhi(v) - m1[q]) - l1[q];
                fa_vstore(y + o, k, fa_vjoin(a, b));
            }
        }
    }
}

FA_INLINE void fa_cols_forward_f(const float *x, float *y, ptrdiff_t n, ptrdiff_t width,
                                 ptrdiff_t stride, int negate, int mode)
{
#define FA_K(NEG, MODE) fa_cols_forward_fk(x, y, n, width, stride, NEG, MODE)
    FA_BY_MODE(FA_K, negate, mode);
#undef FA_K
}
/* The row sum of a float backward: sum(g*y) (mode 0) or sum(g), accumulated
 * in double; each product's float rounding is relative to that term, so the
 * sum's error stays within an ULP of sum |g*y| (what the subtraction after
 * it is accurate to anyway).  Mode 1 also finds the row's largest y (NaN
 * ignored, -inf for an empty row). */
FA_INLINE float fa_row_sum_f(const float *g, const float *y, ptrdiff_t n, int mode, float *ymax)
{
    VD s0 = fa_vsplatd(0.0), s1 = fa_vsplatd(0.0);
    VF m8 = fa_vsplat(-INFINITY);
    ptrdiff_t j = 0;
    /* four vectors a step, their terms summed in float first (two roundings,
     * relative to those four terms): a quarter of the conversions */
    for (; j + 4 * FA_NF <= n; j += 4 * FA_NF) {
        VF g0 = fa_vload(g + j, FA_NF, 0.0f), g1 = fa_vload(g + j + FA_NF, FA_NF, 0.0f);
        VF g2 = fa_vload(g + j + 2 * FA_NF, FA_NF, 0.0f);
        VF g3 = fa_vload(g + j + 3 * FA_NF, FA_NF, 0.0f);
        if (mode == 0) {
            g0 *= fa_vload(y + j, FA_NF, 0.0f);
            g1 *= fa_vload(y + j + FA_NF, FA_NF, 0.0f);
            g2 *= fa_vload(y + j + 2 * FA_NF, FA_NF, 0.0f);
            g3 *= fa_vload(y + j + 3 * FA_NF, FA_NF, 0.0f);
        } else {
            for (int q = 0; q < 4; q++)
                m8 = fa_vmax(fa_vload(y + j + q * FA_NF, FA_NF, 0.0f), m8);
        }
        VF t = (g0 + g1) + (g2 + g3);
        s0 += fa_vlo(t);
        s1 += fa_vhi(t);
    }
    for (; j < n; j += FA_NF) {
        /* (padding y with 0 leaves the test ymax <= 0 as it was) */
        VF gv = fa_vload(g + j, n - j, 0.0f), yv = fa_vload(y + j, n - j, 0.0f);
        if (mode == 0) gv *= yv;
        else m8 = fa_vmax(yv, m8);
        s0 += fa_vlo(gv);
        s1 += fa_vhi(gv);
    }
    float mx = m8[0];
    for (int k = 1; k < FA_NF; k++) mx = m8[k] > mx ? m8[k] : mx;
    *ymax = mx;
    return (float)fa_vhsum(s0 + s1);
}

/* A float row's backward, eight float lanes, the elementwise part in float
 * (one rounding per operation, as torch).  Called with constant mode,
 * negate, stream and `nonpos` (log_softmax whose row has no y > 0, as
 * log-probabilities: exp(y) then needs no overflow handling, only the
 * clamp that sends y < -104 to 0), so each combination is its own loop. */
FA_INLINE void fa_row_backward_fk(const float *g, const float *y, float *out, ptrdiff_t n,
                                  float total, int negate, int mode, int stream, int nonpos)
{
    float space[stream ? FA_STREAM_ROW + 1024 : 1] __attribute__((aligned(64)));
    float *buf = stream ? fa_away_from(space, g, y) : space;
    float *w = stream ? buf : out;
    const VF tot = fa_vsplat(total), lo = fa_vsplat(-104.0f);
#define FA_BWD_F(J, K) do {                                                 \
        VF gv = fa_vload(g + (J), K, 0.0f), yv = fa_vload(y + (J), K, 0.0f), v; \
        if (mode == 0)                                                      \
            v = negate ? -(yv * (gv - tot)) : yv * (gv - tot);              \
        else if (nonpos)                                                    \
            v = gv - fa_vexp(fa_vsel(yv < lo, lo, yv), 1) * tot;            \
        else                                                                \
            v = gv - fa_vexp(yv, 0) * tot;                                  \
        fa_vstore(w + (J), K, v);                                           \
    } while (0)
    /* full vectors, then the tail.  log_softmax's pass (an exp per element)
     * prefetches each input's next row (rows are consecutive on this path);
     * softmax's, which only moves bytes, goes faster without: on Zen 4
     * 1024x1024 on one thread 177 -> 155 us, 16384x1024 on two 5.98 ->
     * 5.69 ms (float64 12.96 -> 11.04 ms), alternating builds. */
    ptrdiff_t j = 0;
    for (; j + FA_NF <= n; j += FA_NF) {
        if (mode == 1 && (j & 15) == 0) {
            __builtin_prefetch(g + n + j, 0, 3);
            __builtin_prefetch(y + n + j, 0, 3);
        }
        FA_BWD_F(j, FA_NF);
    }
    for (; j < n; j += FA_NF) FA_BWD_F(j, n - j);
#undef FA_BWD_F
    if (stream)         /* the caller fences once after its rows */
        fa_stream_out(out, buf, n * sizeof(float));
}

/* One float row's backward, its sum (tot, and ymax for mode 1) already
 * taken. */
FA_INLINE void fa_row_backward_f(const float *g, const float *y, float *out, ptrdiff_t n,
                                 int negate, int mode, int stream, float tot, float ymax)
{
    stream = stream && n <= FA_STREAM_ROW;
#define FA_BWD(ST)                                                                        \
    if (mode == 0) {                                                                      \
        if (negate)                                                                       \
            fa_row_backward_fk(g, y, out, n, tot, 1, 0, ST, 0);                           \
        else                                                                              \
            fa_row_backward_fk(g, y, out, n, tot, 0, 0, ST, 0);                           \
    } else if (ymax <= 0.0f) {                                                            \
        fa_row_backward_fk(g, y, out, n, tot, 0, 1, ST, 1);                               \
    } else {                                                                              \
        fa_row_backward_fk(g, y, out, n, tot, 0, 1, ST, 0);                               \
    }
    if (stream) { FA_BWD(1) } else { FA_BWD(0) }
#undef FA_BWD
}

/* `rows` consecutive float rows of n: each row's sum pass, then its output
 * pass (the row in L1 by then).  Taking the next row's sum within this
 * row's output pass (one loop over four streams) was slower on Zen 4:
 * 1024x1024 float32, one thread, 198 against 174 us; 16384 rows on two
 * threads 5.3 against 4.4 ms; AVX2 and AVX-512 alike. */
FA_INLINE void fa_rows_backward_f(const float *g, const float *y, float *out, ptrdiff_t rows,
                                  ptrdiff_t n, int negate, int mode, int stream)
{
    for (ptrdiff_t r = 0; r < rows; r++) {
        const ptrdiff_t o = r * n;
        float ymax;
        const float tot = fa_row_sum_f(g + o, y + o, n, mode, &ymax);
        fa_row_backward_f(g + o, y + o, out + o, n, negate, mode, stream, tot, ymax);
    }
}

/* `width` float columns of length n (as fa_cols_forward_fk): the row
 * backward's arithmetic with the lanes across columns, so a non-last axis
 * gets eight float lanes too instead of the generic four double ones. */
FA_INLINE void fa_cols_backward_f(const float *g, const float *y, float *out, ptrdiff_t n,
                                  ptrdiff_t width, ptrdiff_t stride, int negate, int mode)
{
    const ptrdiff_t nq = (width + FA_NF - 1) / FA_NF;
    VD s0[FA_BLOCK / FA_NF], s1[FA_BLOCK / FA_NF];
    for (ptrdiff_t q = 0; q < nq; q++) s0[q] = s1[q] = fa_vsplatd(0.0);
    for (ptrdiff_t j = 0; j < n; j++) {
        fa_col_prefetch(g, j, n, width, stride, 0);
        if (mode == 0) fa_col_prefetch(y, j, n, width, stride, 0);
        for (ptrdiff_t q = 0; q < nq; q++) {
            const ptrdiff_t o = j * stride + FA_NF * q, k = width - FA_NF * q;
            VF gv = fa_vload(g + o, k, 0.0f);
            if (mode == 0) gv *= fa_vload(y + o, k, 0.0f);
            s0[q] += fa_vlo(gv);
            s1[q] += fa_vhi(gv);
        }
    }
    VF tot[FA_BLOCK / FA_NF];
    for (ptrdiff_t q = 0; q < nq; q++) {
        const VD a = s0[q], b = s1[q];
        tot[q] = fa_vjoin(a, b);
    }
    const VF sg = fa_vsplat(negate ? -1.0f : 1.0f);
    for (ptrdiff_t j = 0; j < n; j++) {
        fa_col_prefetch(g, j, n, width, stride, 0);
        fa_col_prefetch(y, j, n, width, stride, 0);
        fa_col_prefetch(out, j, n, width, stride, 1);
        for (ptrdiff_t q = 0; q < nq; q++) {
            const ptrdiff_t o = j * stride + FA_NF * q, k = width - FA_NF * q;
            VF gv = fa_vload(g + o, k, 0.0f), yv = fa_vload(y + o, k, 0.0f);
            VF v = mode == 0 ? sg * (yv * (gv - tot[q])) : gv - fa_vexp(yv, 0) * tot[q];
            fa_vstore(out + o, k, v);
        }
    }
}
#include "rows_d_body.h"

/* the entry points of this path, per dtype S (f, d) of type T.  mode 0:
 * softmax (negate: softmin), 1: log_softmax; a call is one row (width ==
 * stride == 1) or `width` columns a stride apart.  stream: rows along the
 * last axis may stream their output (see stream.h; the caller fences).
 * Backward, mode 0: out = sign * y * (g - sum(g*y)); mode 1:
 * out = g - exp(y) * sum(g). */
#define FA_ENTRIES(S, T)                                                                    \
FA_ENTRY void FA_SFX(fa_forward_##S)(const T *x, T *y, ptrdiff_t n, ptrdiff_t width,       \
                                     ptrdiff_t stride, int negate, int mode, int stream)   \
{                                                                                           \
    if (width == 1 && stride == 1)                                                          \
        fa_rows_forward_##S(x, y, 1, n, negate, mode, stream);                              \
    else                                                                                    \
        fa_cols_forward_##S(x, y, n, width, stride, negate, mode);                          \
}                                                                                           \
FA_ENTRY void FA_SFX(fa_backward_##S)(const T *g, const T *y, T *out, ptrdiff_t n,          \
                                      ptrdiff_t width, ptrdiff_t stride, int negate,        \
                                      int mode, int stream)                                 \
{                                                                                           \
    if (width == 1 && stride == 1)                                                          \
        fa_rows_backward_##S(g, y, out, 1, n, negate, mode, stream);                        \
    else                                                                                    \
        fa_cols_backward_##S(g, y, out, n, width, stride, negate, mode);                    \
}
FA_ENTRIES(f, float)
FA_ENTRIES(d, double)
#undef FA_ENTRIES

/* `rows` consecutive float rows of n along the last axis (fa_forward_f of
 * each, with the max passes overlapped: fa_rows_forward_fk) */
FA_ENTRY void FA_SFX(fa_forward_rows_f)(const float *x, float *y, ptrdiff_t rows, ptrdiff_t n,
                                        int negate, int mode, int stream)
{
    fa_rows_forward_f(x, y, rows, n, negate, mode, stream);
}

/* `rows` consecutive float rows of n along the last axis (fa_backward_f of
 * each: fa_rows_backward_f) */
FA_ENTRY void FA_SFX(fa_backward_rows_f)(const float *g, const float *y, float *out,
                                         ptrdiff_t rows, ptrdiff_t n, int negate, int mode,
                                         int stream)
{
    fa_rows_backward_f(g, y, out, rows, n, negate, mode, stream);
}

/* `rows` consecutive double rows of n along the last axis (fa_forward_d and
 * fa_backward_d of each) */
FA_ENTRY void FA_SFX(fa_forward_rows_d)(const double *x, double *y, ptrdiff_t rows,
                                        ptrdiff_t n, int negate, int mode, int stream)
{
    fa_rows_forward_d(x, y, rows, n, negate, mode, stream);
}
FA_ENTRY void FA_SFX(fa_backward_rows_d)(const double *g, const double *y, double *out,
                                         ptrdiff_t rows, ptrdiff_t n, int negate, int mode,
                                         int stream)
{
    fa_rows_backward_d(g, y, out, rows, n, negate, mode, stream);
}
#undef FA_ND
#undef FA_PASS_WITH_MAX
#undef FA_SUM_BLOCK
#undef fa_vsplat
#undef fa_vexp_row
#undef fa_vclamp
#undef fa_vmax
#undef fa_vmin
#undef fa_vsum
#undef fa_vsplati
#undef fa_vsplatd
#undef fa_vsel
#undef fa_vhsum
#undef fa_vexp
#undef fa_vload
#undef fa_vstore
#undef fa_vlo
#undef fa_vhi
#undef fa_vjoin
#undef fa_vdiff_exp
#undef fa_vunord
#undef fa_row_max
#undef fa_exps_sum
#undef fa_row_forward_fk
#undef fa_rows_forward_fk
#undef fa_rows_forward_f
#undef fa_cols_forward_fk
#undef fa_cols_forward_f
#undef fa_row_sum_f
#undef fa_row_backward_fk
#undef fa_row_backward_f
#undef fa_rows_backward_f
#undef fa_cols_backward_f
#undef VF
#undef VI
#undef VD
#undef FA_VOP
#undef FA_DEFINE_VIO
#undef FA_M512_ps
#undef FA_M512_pd
#undef FA_M256_ps
#undef FA_M256_pd
#undef FA_CMP_max
#undef FA_CMP_min
#undef FA_SEL_ps
#undef FA_SEL_pd
#undef fa_rows_forward_d
#undef fa_cols_forward_d
#undef fa_rows_backward_d
#undef fa_cols_backward_d
