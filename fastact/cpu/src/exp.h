/* The Taylor polynomial of e^r on |r| <= ln2/2 shared by the C kernels of
 * _rows.h (vector form) and _grouped_kernels.pyx (scalar form, vectorized by
 * gcc).  P receives the polynomial; R is the reduced argument, a double or a
 * vector of doubles.  deg 13 is within an ULP of double; deg 8 has relative
 * error < 3e-10, plenty for a float result. */
#ifndef FASTACT_EXP_H
#define FASTACT_EXP_H

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

/* e^r - 1 - r = r^2 P(r) on |r| <= ln2/2 (+ slack): P is EXPP_D of
 * fastact/_vmath.py (tools/fit_vmath.py: weighted minimax, 0.05 eps), ten
 * terms where the Taylor form needs twelve, evaluated by Estrin's scheme:
 * a dependency chain of four fmas instead of ten, which is what bounds the
 * double row loops.  P receives e^r. */
#define FA_EXP_MINIMAX_D(P, R) do {                                        \
    __typeof__(R) r2_ = (R) * (R), r4_ = r2_ * r2_, r8_ = r4_ * r4_;      \
    __typeof__(R) q0_ = 0.5000000000000011 + 0.1666666666666657 * (R);    \
    __typeof__(R) q1_ = 0.0416666666665189 + 0.008333333333372155 * (R);  \
    __typeof__(R) q2_ = 0.0013888888947498383 + 0.0001984126981455532 * (R); \
    __typeof__(R) q3_ = 2.4801488348904116e-05 + 2.7557273918387694e-06 * (R); \
    __typeof__(R) q4_ = 2.7632155901241705e-07 + 2.511027050068687e-08 * (R); \
    __typeof__(R) p_ = (q0_ + q1_ * r2_) + r4_ * (q2_ + q3_ * r2_) + r8_ * q4_; \
    P = 1.0 + ((R) + r2_ * p_);                                           \
} while (0)

#endif
