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

#endif
