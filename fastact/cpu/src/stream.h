/* Streaming (non-temporal) stores for outputs too large to stay in cache.
 *
 * Why: an ordinary store to a line that is not cached first reads the line
 * from memory (read for ownership), then writes it back, so a kernel that
 * reads one array and writes another moves three arrays' worth of bytes
 * through the memory bus, not two.  When the output is larger than the last
 * level cache it will not be read back from cache anyway, and stores that
 * bypass the cache (movnt*) skip the read: a kernel at the bandwidth floor
 * moves a third fewer bytes.  glibc's memcpy does the same above a size
 * threshold; torch's kernels do not.
 *
 * fa_stream_copy writes `nbytes` from a cached buffer to `dst` with 16-byte
 * streaming stores (SSE2, part of the x86-64 baseline, so no CPU dispatch is
 * needed); elsewhere it is memcpy.  fa_stream_fence makes the stores visible
 * in program order before the loop returns to a caller that may hand the
 * result to another thread.
 */
#ifndef FASTACT_STREAM_H
#define FASTACT_STREAM_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) || defined(_M_X64)
#include <emmintrin.h>
#define FA_HAVE_STREAM 1

/* dst must be 16-byte aligned */
static inline void fa_stream_copy(char *dst, const char *src, size_t nbytes)
{
    size_t i = 0;
    for (; i + 64 <= nbytes; i += 64) {
        __m128i a = _mm_loadu_si128((const __m128i *)(src + i));
        __m128i b = _mm_loadu_si128((const __m128i *)(src + i + 16));
        __m128i c = _mm_loadu_si128((const __m128i *)(src + i + 32));
        __m128i d = _mm_loadu_si128((const __m128i *)(src + i + 48));
        _mm_stream_si128((__m128i *)(dst + i), a);
        _mm_stream_si128((__m128i *)(dst + i + 16), b);
        _mm_stream_si128((__m128i *)(dst + i + 32), c);
        _mm_stream_si128((__m128i *)(dst + i + 48), d);
    }
    for (; i + 16 <= nbytes; i += 16)
        _mm_stream_si128((__m128i *)(dst + i), _mm_loadu_si128((const __m128i *)(src + i)));
    if (i < nbytes)
        memcpy(dst + i, src + i, nbytes - i);
}

static inline void fa_stream_fence(void) { _mm_sfence(); }

#else
#define FA_HAVE_STREAM 0
static inline void fa_stream_copy(char *dst, const char *src, size_t nbytes)
{
    memcpy(dst, src, nbytes);
}
static inline void fa_stream_fence(void) {}
#endif

/* fa_stream_copy to any destination: the bytes before its first 16-byte
 * boundary are stored as usual */
static inline void fa_stream_out(void *dst, const void *src, size_t nbytes)
{
    size_t head = (size_t)(-(uintptr_t)dst) & 15;
    if (head > nbytes)
        head = nbytes;
    memcpy(dst, src, head);
    fa_stream_copy((char *)dst + head, (const char *)src + head, nbytes - head);
}

#endif
