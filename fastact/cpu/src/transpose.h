/* Tiles of a transposed operand gathered into rows (cpu/ufunc.pyx, tiled):
 * dst[r * ldd + c] = the element at src + r * itemsize + c * sj, for nr rows
 * and m columns, src's columns contiguous (the rows of the operand's own
 * C-ordered array).  4x4 (float32) or 2x2 (float64) blocks are transposed
 * in SSE2 registers, every x86-64 CPU's baseline: a tile's elements then
 * cost a quarter (a half) of the loads and stores of a copy element by
 * element (1024x1024 float32 x.T into a C-ordered out, relu on two threads:
 * the gather was about 0.27 ms of its 0.32).  Elsewhere, and for the edges,
 * the copy element by element. */
#ifndef FA_TRANSPOSE_H
#define FA_TRANSPOSE_H

#include <stddef.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* the columns from c on, element by element */
#define FA_GATHER_REST(T)                                                                      \
    for (; c < m; c++) {                                                                       \
        const T *s = (const T *)(src + c * sj);                                                \
        for (r = 0; r < nr; r++)                                                               \
            dst[r * ldd + c] = s[r];                                                           \
    }

static inline void fa_gather_f32(float *dst, const char *src, ptrdiff_t sj, ptrdiff_t nr,
                                 ptrdiff_t m, ptrdiff_t ldd) {
    ptrdiff_t c = 0, r;
#if defined(__SSE2__)
    for (; c + 4 <= m; c += 4) {
        const float *s0 = (const float *)(src + c * sj), *s1 = (const float *)(src + (c + 1) * sj),
                    *s2 = (const float *)(src + (c + 2) * sj),
                    *s3 = (const float *)(src + (c + 3) * sj);
        for (r = 0; r + 4 <= nr; r += 4) {
            __m128 a = _mm_loadu_ps(s0 + r), b = _mm_loadu_ps(s1 + r), e = _mm_loadu_ps(s2 + r),
                   d = _mm_loadu_ps(s3 + r);
            _MM_TRANSPOSE4_PS(a, b, e, d);
            _mm_storeu_ps(dst + r * ldd + c, a);
            _mm_storeu_ps(dst + (r + 1) * ldd + c, b);
            _mm_storeu_ps(dst + (r + 2) * ldd + c, e);
            _mm_storeu_ps(dst + (r + 3) * ldd + c, d);
        }
        for (; r < nr; r++) {
            dst[r * ldd + c] = s0[r];
            dst[r * ldd + c + 1] = s1[r];
            dst[r * ldd + c + 2] = s2[r];
            dst[r * ldd + c + 3] = s3[r];
        }
    }
#endif
    FA_GATHER_REST(float);
}

static inline void fa_gather_f64(double *dst, const char *src, ptrdiff_t sj, ptrdiff_t nr,
                                 ptrdiff_t m, ptrdiff_t ldd) {
    ptrdiff_t c = 0, r;
#if defined(__SSE2__)
    for (; c + 2 <= m; c += 2) {
        const double *s0 = (const double *)(src + c * sj),
                     *s1 = (const double *)(src + (c + 1) * sj);
        for (r = 0; r + 2 <= nr; r += 2) {
            __m128d a = _mm_loadu_pd(s0 + r), b = _mm_loadu_pd(s1 + r);
            _mm_storeu_pd(dst + r * ldd + c, _mm_unpacklo_pd(a, b));
            _mm_storeu_pd(dst + (r + 1) * ldd + c, _mm_unpackhi_pd(a, b));
        }
        for (; r < nr; r++) {
            dst[r * ldd + c] = s0[r];
            dst[r * ldd + c + 1] = s1[r];
        }
    }
#endif
    FA_GATHER_REST(double);
}

#endif
