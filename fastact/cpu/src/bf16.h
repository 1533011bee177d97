/* bfloat16 <-> float32 for the bfloat16 ufunc loops (cpu/ufunc.pyx).
 *
 * A bfloat16 is the high half of a float32, so widening is a shift and
 * narrowing is a rounding of the low half: round to nearest, ties to even,
 * done on the bits (adding 0x7fff plus the lowest kept bit carries into the
 * kept half exactly when the dropped half is above one half, or equal to it
 * with the kept half odd; a carry out of the largest finite value gives
 * inf, as it should).  NaN becomes the quiet NaN of its sign, as ml_dtypes'
 * own cast makes it, so a result is bit for bit what float32 computation
 * followed by ``astype(bfloat16)`` gives.
 *
 * Plain integer loops that gcc vectorizes; built for x86-64-v3 and the
 * baseline (vec.h's FA_CLONES) like the other kernels.
 */
#ifndef FASTACT_BF16_H
#define FASTACT_BF16_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "vec.h"

/* element access that tolerates any alignment and aliasing */
typedef uint16_t fa_u16 __attribute__((may_alias, aligned(1)));

FA_INLINE uint16_t fa_bf16_round(uint32_t u)
{
    uint32_t r = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
    uint32_t qnan = ((u >> 16) & 0x8000u) | 0x7fc0u;
    return (uint16_t)((u & 0x7fffffffu) > 0x7f800000u ? qnan : r);
}

/* n bfloat16 at src (byte stride step) -> float32 bits at dst */
FA_CLONES static void fa_bf16_widen(const char *src, ptrdiff_t step, uint32_t *dst, ptrdiff_t n)
{
    ptrdiff_t i;
    if (step == 2) {
        const fa_u16 *s = (const fa_u16 *)src;
        for (i = 0; i < n; i++)
            dst[i] = (uint32_t)s[i] << 16;
    } else {
        for (i = 0; i < n; i++)
            dst[i] = (uint32_t)(*(const fa_u16 *)(src + i * step)) << 16;
    }
}

/* n float32 bits at src -> bfloat16 at dst (byte stride step), rounded */
FA_CLONES static void fa_bf16_narrow(const uint32_t *src, char *dst, ptrdiff_t step, ptrdiff_t n)
{
    ptrdiff_t i;
    if (step == 2) {
        fa_u16 *d = (fa_u16 *)dst;
        for (i = 0; i < n; i++)
            d[i] = fa_bf16_round(src[i]);
    } else {
        for (i = 0; i < n; i++)
            *(fa_u16 *)(dst + i * step) = fa_bf16_round(src[i]);
    }
}

#endif
