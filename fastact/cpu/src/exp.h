/* e^x and the sigmoid built on it, for the C kernels: the one definition of
 * the reduction constants, the polynomials of e^r on |r| <= ln2/2, and the
 * scalar exp and sigmoid of glu (grouped.h; gcc vectorizes its loops over
 * them).  rows.h builds its vector exps from the same constants and
 * polynomials.
 *
 * Every exp reduces x = n ln2 + r with n = rint(x log2(e)) by adding and
 * removing a magic number (1.5 * 2^52, or 2^23 for float), and r =
 * (x - n LN2_HI) - n LN2_LO (Cody-Waite), exact as long as n * LN2_HI is.
 * libm's exp is not used: gcc calls glibc's vector exp only under
 * -ffast-math, which would break the inf/NaN semantics. */
#ifndef FASTACT_EXP_H
#define FASTACT_EXP_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "vec.h"

#define FA_LOG2E 1.4426950408889634
#define FA_RINT_MAGIC 6755399441055744.0 /* 1.5 * 2^52: x + it - it = rint(x) */
/* LN2_HI has 32 significant bits: n * LN2_HI is exact for |n| < 2^21 */
#define FA_LN2_HI 0x1.62e42fee00000p-1
#define FA_LN2_LO 0x1.a39ef35793c76p-33
/* a second split of ln 2 (42 bits, exact for |n| < 2^11), the one glu's
 * results were built with */
#define FA_LN2_HI42 0x1.62e42fefa3800p-1
#define FA_LN2_LO42 0x1.ef35793c76730p-45

#define FA_LOG2E_F 1.44269504f
#define FA_RINT_MAGIC_F 12582912.0f /* 1.5 * 2^23 */
#define FA_RINT_MAGIC_F_BITS 0x4B400000 /* its bits as an int32 */
/* 13 significant bits: n * LN2_HI_F is exact for every float exponent */
#define FA_LN2_HI_F 0x1.62ep-1f
#define FA_LN2_LO_F 0x1.0bfbe8p-15f
/* ln 2 rounded to float (24 bits), for one-fma reductions where n ln 2's
 * error is known to cancel (rows_body.h: fa_vexp_row) */
#define FA_LN2_F 0x1.62e430p-1f

/* The Taylor polynomial of e^r in double.  P receives the polynomial; R is
 * the reduced argument, a double or a vector of doubles.  deg 13 is within
 * an ULP of double; deg 8 has relative error < 3e-10, plenty for a float
 * result. */
#define FA_EXP_TAYLOR(P, R, DEG) do {                                      \
    if ((DEG) >= 13) {                                                    \
        P = (R) * 0.0 + 1.0 / 6227020800.0;                               \
        P = P * (R) + 1.0 / 479001600.0;                                  \
        P = P * (R) + 1.0 / 39916800.0;                                   \
        P = P * (R) + 1.0 / 3628800.0;                                    \
        P = P * (R) + 1.0 / 362880.0;                                     \
        P = P * (R) + 1.0 / 40320.0;                                      \
    } else {                                                              \
        P = (R) * 0.0 + 1.0 / 40320.0;                                    \
    }                                                                     \
    P = P * (R) + 1.0 / 5040.0;                                           \
    P = P * (R) + 1.0 / 720.0;                                            \
    P = P * (R) + 1.0 / 120.0;                                            \
    P = P * (R) + 1.0 / 24.0;                                             \
    P = P * (R) + 1.0 / 6.0;                                              \
    P = P * (R) + 0.5;                                                    \
    P = P * (R) + 1.0;                                                    \
    P = P * (R) + 1.0;                                                    \
} while (0)

/* e^r = 1 + r + r^2 Q(r) on |r| <= ln2/2 (+1%) with Q of degree 4 in float
 * coefficients: relative error 3.9e-9 (a Lawson-weighted least-squares fit
 * to the minimax), one fma fewer than a degree-7 Taylor form; the exp of
 * the softmax rows and of glu, where that fma is a sixth of the work.
 * P receives e^r; R is a float vector. */
#define FA_EXPF_Q0 0x1.fffff8p-2f
#define FA_EXPF_Q1 0x1.555486p-3f
#define FA_EXPF_Q2 0x1.555b88p-5f
#define FA_EXPF_Q3 0x1.124198p-7f
#define FA_EXPF_Q4 0x1.68744ep-10f
#define FA_EXPF_POLY6(P, R) do {                                           \
    P = (R) * FA_EXPF_Q4 + FA_EXPF_Q3;                                    \
    P = P * (R) + FA_EXPF_Q2;                                             \
    P = P * (R) + FA_EXPF_Q1;                                             \
    P = P * (R) + FA_EXPF_Q0;                                             \
    P = P * (R) + 1.0f;                                                   \
    P = P * (R) + 1.0f;                                                   \
} while (0)

/* e^r = 1 + r + r^2 Q(r) as above with Q of degree 3: relative error
 * 1.2e-7 (about an ULP; a Lawson-weighted least-squares fit to the minimax),
 * one fma fewer.  For exps that are only summed, never results themselves:
 * log_softmax's normalizer, whose log-probabilities it moves by about an
 * ULP of 1 at most. */
#define FA_EXPF_P0 0x1.fffdc8p-2f
#define FA_EXPF_P1 0x1.5557a8p-3f
#define FA_EXPF_P2 0x1.573f84p-5f
#define FA_EXPF_P3 0x1.107e4p-7f
#define FA_EXPF_POLY5(P, R) do {                                           \
    P = (R) * FA_EXPF_P3 + FA_EXPF_P2;                                    \
    P = P * (R) + FA_EXPF_P1;                                             \
    P = P * (R) + FA_EXPF_P0;                                             \
    P = P * (R) + 1.0f;                                                   \
    P = P * (R) + 1.0f;                                                   \
} while (0)

/* BEGIN generated by tools/gen_exp_h.py */
/* EXPP_D of fastact.core.vmath: P in e^r - 1 - r = r^2 P(r), float64 */
#define FA_EXPP_D0 0x1.000000000000ap-1 /* 0.5000000000000011 */
#define FA_EXPP_D1 0x1.5555555555533p-3 /* 0.1666666666666657 */
#define FA_EXPP_D2 0x1.5555555550226p-5 /* 0.0416666666665189 */
#define FA_EXPP_D3 0x1.111111111687cp-7 /* 0.008333333333372155 */
#define FA_EXPP_D4 0x1.6c16c185dd991p-10 /* 0.0013888888947498383 */
#define FA_EXPP_D5 0x1.a01a0196b3c6bp-13 /* 0.0001984126981455532 */
#define FA_EXPP_D6 0x1.a01994d365bb8p-16 /* 2.4801488348904116e-05 */
#define FA_EXPP_D7 0x1.71de127b82873p-19 /* 2.7557273918387694e-06 */
#define FA_EXPP_D8 0x1.28b2b118cf9f4p-22 /* 2.7632155901241705e-07 */
#define FA_EXPP_D9 0x1.af642337af284p-26 /* 2.511027050068687e-08 */
/* END generated */

/* e^r on |r| <= ln2/2 (+ slack) from P = EXPP_D (tools/fit_vmath.py:
 * weighted minimax, 0.05 eps), ten terms where the Taylor form needs twelve,
 * evaluated by Estrin's scheme: a dependency chain of four fmas instead of
 * ten, which is what bounds the double row loops.  P receives e^r. */
#define FA_EXP_MINIMAX_D(P, R) do {                                        \
    __typeof__(R) r2_ = (R) * (R), r4_ = r2_ * r2_, r8_ = r4_ * r4_;      \
    __typeof__(R) q0_ = FA_EXPP_D0 + FA_EXPP_D1 * (R);                    \
    __typeof__(R) q1_ = FA_EXPP_D2 + FA_EXPP_D3 * (R);                    \
    __typeof__(R) q2_ = FA_EXPP_D4 + FA_EXPP_D5 * (R);                    \
    __typeof__(R) q3_ = FA_EXPP_D6 + FA_EXPP_D7 * (R);                    \
    __typeof__(R) q4_ = FA_EXPP_D8 + FA_EXPP_D9 * (R);                    \
    __typeof__(R) p_ = (q0_ + q1_ * r2_) + r4_ * (q2_ + q3_ * r2_) + r8_ * q4_; \
    P = 1.0 + ((R) + r2_ * p_);                                           \
} while (0)

/* ------------------------------------------------ scalar exp and sigmoid */

FA_INLINE double fa_from_bits(uint64_t u) { double d; memcpy(&d, &u, 8); return d; }
FA_INLINE uint64_t fa_to_bits(double d) { uint64_t u; memcpy(&u, &d, 8); return u; }

/* e^x = p * 2^n: the reduction and Taylor polynomial of degree `deg`
 * the two double exps below share; *n receives n.  Exact reduction for
 * |x| <= 1400 (n * LN2_HI42 exact for |n| < 2^11). */
FA_INLINE double fa_exp_parts(double x, int deg, int64_t *n)
{
    double t = x * FA_LOG2E + FA_RINT_MAGIC;
    double fn = t - FA_RINT_MAGIC;
    *n = (int64_t)(fa_to_bits(t) - fa_to_bits(FA_RINT_MAGIC));
    double r = (x - fn * FA_LN2_HI42) - fn * FA_LN2_LO42;
    double p;
    FA_EXP_TAYLOR(p, r, deg);
    return p;
}

/* e^x for x <= 0 (or NaN) as eh * s2, straight-line so that it vectorizes.
 * 2^n is split into two normal factors and the second, *s2, is returned
 * apart: e^x itself is eh * s2 (rounded once, also into the subnormals),
 * while a product c * e^x can be formed as (c * eh) * s2 and stay accurate
 * where e^x alone would be subnormal but c * e^x is not (glu's b-gradient
 * with a large a).  x < -1400 (e^x < 2^-2019) and -inf give eh = 0. */
FA_INLINE double fa_exp_neg(double x, int deg, double *s2)
{
    /* -1400 keeps n >= -2020, so both halves of 2^n are normal */
    double xc = x < -1400.0 ? -1400.0 : x;
    int64_t n;
    double p = fa_exp_parts(xc, deg, &n);
    int64_t n1 = n >> 1, n2 = n - n1;
    double f1 = fa_from_bits((uint64_t)(n1 + 1023) << 52);
    *s2 = fa_from_bits((uint64_t)(n2 + 1023) << 52);
    double eh = p * f1;
    eh = x < -1400.0 ? 0.0 : eh;
    return x != x ? x : eh;
}

/* The range where e^x is normal, so that one scale will do: n >= rint(-700
 * log2 e) = -1010 and p >= 2^-1/2 keep e^x above 2^-1011. */
#define FA_EXP_NORMAL_MIN -700.0

/* e^x for FA_EXP_NORMAL_MIN <= x <= 0 only: fa_exp_neg's eh * s2 with
 * neither the clamp, the NaN select nor the split (the same bits, as every
 * product involved is exact there).  For blocks known to lie in that range
 * (glu's common path). */
FA_INLINE double fa_exp_normal(double x, int deg)
{
    int64_t n;
    double p = fa_exp_parts(x, deg, &n);
    return p * fa_from_bits((uint64_t)(n + 1023) << 52);
}

/* sigmoid(b) as sh * ss and sigmoid'(b) as dsh * s2, from e = exp(-|b|):
 * no exp of a positive argument (no overflow), and sigmoid' = e/(1+e)^2 has
 * no 1 - s cancellation.  The split scale lets c * sigmoid(b) stay accurate
 * when sigmoid(b) alone is subnormal.  NaN gives NaN. */
FA_INLINE double fa_sigmoid(double b, int deg, double *ss, double *dsh, double *s2)
{
    double eh = fa_exp_neg(-fabs(b), deg, s2);
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

/* The float versions of the exps and sigmoid above, in float arithmetic
 * (twice the SIMD lanes, and int32 bit tricks, which AVX2 has: the double
 * version's int64 n >> 1 it has not).  In fa_expf_neg, x >= -174 keeps both
 * halves of 2^n normal; below, c * e^x is 0 for every float c. */
FA_INLINE float fa_expf_parts(float x, int32_t *n)
{
    float t = x * FA_LOG2E_F + FA_RINT_MAGIC_F;
    float fn = t - FA_RINT_MAGIC_F;
    int32_t tb;
    memcpy(&tb, &t, 4);
    *n = tb - FA_RINT_MAGIC_F_BITS;            /* bits(t) - bits(MAGIC) = n */
    float r = (x - fn * FA_LN2_HI_F) - fn * FA_LN2_LO_F;
    float p;
    FA_EXPF_POLY6(p, r);
    return p;
}
FA_INLINE float fa_expf_neg(float x, float *s2)
{
    float xc = x < -174.0f ? -174.0f : x;
    int32_t n;
    float p = fa_expf_parts(xc, &n);
    int32_t n1 = n >> 1, n2 = n - n1;
    int32_t b1 = (n1 + 127) << 23, b2 = (n2 + 127) << 23;
    float f1;
    memcpy(&f1, &b1, 4);
    memcpy(s2, &b2, 4);
    float eh = p * f1;
    eh = x < -174.0f ? 0.0f : eh;
    return x != x ? x : eh;
}
/* fa_exp_normal in float: n >= rint(-86 log2 e) = -124 and p >= 2^-1/2
 * keep e^x above 2^-125 */
#define FA_EXPF_NORMAL_MIN -86.0f
FA_INLINE float fa_expf_normal(float x)
{
    int32_t n;
    float p = fa_expf_parts(x, &n);
    int32_t bits = (n + 127) << 23;
    float f;
    memcpy(&f, &bits, 4);
    return p * f;
}
FA_INLINE float fa_sigmoidf(float b, float *ss, float *dsh, float *s2)
{
    float eh = fa_expf_neg(-fabsf(b), s2);
    float e = eh * *s2;
    float r = 1.0f / (1.0f + e);
    *dsh = eh * r * r;
    int pos = b >= 0.0f;
    *ss = pos ? 1.0f : *s2;
    float num = pos ? 1.0f : eh;
    return num * r;
}

#endif
