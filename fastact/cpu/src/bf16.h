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
 * Plain integer loops that gcc vectorizes.  Integer bit operations give the
 * same bits on every instruction set, so these are cloned by gcc's
 * target_clones (resolved by CPU) rather than through clones.h's
 * FASTACT_ISA-driven dispatch: which clone runs changes only the speed.
 */
#ifndef FASTACT_BF16_H
#define FASTACT_BF16_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "vec.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define FA_BF16_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define FA_BF16_CLONES
#endif

/* element access that tolerates any alignment and aliasing */
typedef uint16_t fa_u16 __attribute__((may_alias, aligned(1)));

FA_INLINE uint16_t fa_bf16_round(uint32_t u)
{
    uint32_t r = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
    uint32_t qnan = ((u >> 16) & 0x8000u) | 0x7fc0u;
    return (uint16_t)((u & 0x7fffffffu) > 0x7f800000u ? qnan : r);
}

/* n bfloat16 at src (byte stride step) -> float32 bits at dst */
FA_BF16_CLONES static void fa_bf16_widen(const char *src, ptrdiff_t step, uint32_t *dst, ptrdiff_t n)
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

typedef uint32_t fa_v8u __attribute__((vector_size(32)));
typedef uint16_t fa_v16h __attribute__((vector_size(32)));

/* fa_bf16_round on 8 lanes (NaN lanes: the sign, the all-ones exponent and
 * the quiet bit) */
FA_INLINE fa_v8u fa_bf16_round8(fa_v8u u)
{
    fa_v8u hi = u >> 16;
    fa_v8u r = (u + 0x7fffu + (hi & 1u)) >> 16;
    v8i nan = (v8i)(u & 0x7fffffffu) > 0x7f800000;
    fa_v8u q = (hi | 0x40u) & 0xffc0u;
    return (fa_v8u)(((v8i)q & nan) | ((v8i)r & ~nan));
}

/* n float32 bits at src -> bfloat16 at dst (byte stride step), rounded.
 * The contiguous case is written in vectors: gcc's own vectorization of the
 * scalar loop packs the halves back through 16-bit lanes, at about twice
 * the instructions. */
FA_BF16_CLONES static void fa_bf16_narrow(const uint32_t *src, char *dst, ptrdiff_t step, ptrdiff_t n)
{
    ptrdiff_t i = 0;
    if (step == 2) {
        const fa_v16h even = {0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30};
        fa_u16 *d = (fa_u16 *)dst;
        for (; i + 16 <= n; i += 16) {
            fa_v8u a, b;
            memcpy(&a, src + i, sizeof a);
            memcpy(&b, src + i + 8, sizeof b);
            fa_v16h h = __builtin_shuffle((fa_v16h)fa_bf16_round8(a), (fa_v16h)fa_bf16_round8(b), even);
            memcpy(dst + 2 * i, &h, sizeof h);
        }
        for (; i < n; i++)
            d[i] = fa_bf16_round(src[i]);
    } else {
        for (i = 0; i < n; i++)
            *(fa_u16 *)(dst + i * step) = fa_bf16_round(src[i]);
    }
}

#endif
