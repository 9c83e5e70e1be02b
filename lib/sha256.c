/* SHA-256 (FIPS 180-4): one buffering layer over two compression functions, the portable one
 * below and, on x86-64 processors that have them, the SHA extensions (SHA256RNDS2 does two
 * rounds, SHA256MSG1/MSG2 the message schedule). */
#include "fusion/sha256.h"

#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define HAVE_SHA_EXTENSIONS 1
#include <cpuid.h>
#include <immintrin.h>
#endif

static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

static const uint32_t H0[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                               0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};

typedef void (*compress_fn)(uint32_t h[8], const uint8_t *blocks, size_t count);

static uint32_t s_ror(uint32_t x, unsigned n)
{
    return (x >> n) | (x << (32 - n));
}

static uint32_t s_be32(const uint8_t *p)
{
    return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | p[3];
}

/* FIPS 180-4 section 6.2.2, with the message schedule kept as a ring of 16 words. */
static void s_compress_portable(uint32_t state[8], const uint8_t *blocks, size_t count)
{
    for (; count > 0; count--, blocks += 64) {
        uint32_t w[16];
        for (int t = 0; t < 16; t++)
            w[t] = s_be32(blocks + 4 * t);
        uint32_t a = state[0], b = state[1], c = state[2], d = state[3];
        uint32_t e = state[4], f = state[5], g = state[6], h = state[7];
#pragma GCC unroll 64
        for (int t = 0; t < 64; t++) {
            if (t >= 16) {
                uint32_t w15 = w[(t - 15) & 15], w2 = w[(t - 2) & 15];
                uint32_t s0 = s_ror(w15, 7) ^ s_ror(w15, 18) ^ (w15 >> 3);
                uint32_t s1 = s_ror(w2, 17) ^ s_ror(w2, 19) ^ (w2 >> 10);
                w[t & 15] += s0 + w[(t - 7) & 15] + s1;
            }
            uint32_t t1 = h + (s_ror(e, 6) ^ s_ror(e, 11) ^ s_ror(e, 25)) + ((e & f) ^ (~e & g)) +
                          K[t] + w[t & 15];
            uint32_t t2 =
                (s_ror(a, 2) ^ s_ror(a, 13) ^ s_ror(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
            h = g, g = f, f = e, e = d + t1;
            d = c, c = b, b = a, a = t1 + t2;
        }
        state[0] += a, state[1] += b, state[2] += c, state[3] += d;
        state[4] += e, state[5] += f, state[6] += g, state[7] += h;
    }
}

#ifdef HAVE_SHA_EXTENSIONS
/* The state lives in two registers as the instructions want it: ABEF (A in the highest lane)
 * and CDGH. SHA256RNDS2(CDGH, ABEF, WK) does two rounds and returns the new ABEF, and the old
 * ABEF is then the new CDGH, so the two registers swap roles every two rounds (lanes are
 * listed from the lowest below: "F E B A" is ABEF). The message
 * words are kept four to a register, m[i % 4] holding W[4i .. 4i+3]. */
__attribute__((target("sha,sse4.1,ssse3"))) static void
s_compress_extensions(uint32_t h[8], const uint8_t *blocks, size_t count)
{
    const __m128i byteswap = _mm_set_epi64x(0x0c0d0e0f08090a0bLL, 0x0405060700010203LL);
    /* Lanes from the lowest: h[0..3] = A B C D -> B A D C; h[4..7] = E F G H -> H G F E. */
    __m128i badc = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *) &h[0]), 0xB1);
    __m128i hgfe = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *) &h[4]), 0x1B);
    __m128i abef = _mm_alignr_epi8(badc, hgfe, 8);    /* F E B A */
    __m128i cdgh = _mm_blend_epi16(hgfe, badc, 0xF0); /* H G D C */
    for (; count > 0; count--, blocks += 64) {
        __m128i m[4], saved_abef = abef, saved_cdgh = cdgh;
#pragma GCC unroll 16
        for (int i = 0; i < 16; i++) {
            if (i < 4) {
                m[i] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *) (blocks + 16 * i)),
                                        byteswap);
            } else {
                /* W[t] = s1(W[t-2]) + W[t-7] + s0(W[t-15]) + W[t-16] for t = 4i .. 4i+3:
                 * MSG1 adds s0 to W[t-16]; W[t-7] comes from the two previous registers;
                 * MSG2 adds s1, from W[t-2] and W[t-1] or the words it has just made. */
                __m128i x = _mm_sha256msg1_epu32(m[i & 3], m[(i + 1) & 3]);
                x = _mm_add_epi32(x, _mm_alignr_epi8(m[(i + 3) & 3], m[(i + 2) & 3], 4));
                m[i & 3] = _mm_sha256msg2_epu32(x, m[(i + 3) & 3]);
            }
            __m128i wk = _mm_add_epi32(m[i & 3], _mm_loadu_si128((const __m128i *) &K[4 * i]));
            cdgh = _mm_sha256rnds2_epu32(cdgh, abef, wk); /* now ABEF */
            abef = _mm_sha256rnds2_epu32(abef, cdgh, _mm_shuffle_epi32(wk, 0x0E));
        }
        abef = _mm_add_epi32(abef, saved_abef);
        cdgh = _mm_add_epi32(cdgh, saved_cdgh);
    }
    __m128i abef_up = _mm_shuffle_epi32(abef, 0x1B); /* A B E F */
    __m128i ghcd = _mm_shuffle_epi32(cdgh, 0xB1);    /* G H C D */
    _mm_storeu_si128((__m128i *) &h[0], _mm_blend_epi16(abef_up, ghcd, 0xF0));
    _mm_storeu_si128((__m128i *) &h[4], _mm_alignr_epi8(ghcd, abef_up, 8));
}

/* SHA (CPUID 7.0:EBX bit 29), SSSE3 (1:ECX bit 9) and SSE4.1 (1:ECX bit 19). */
static bool s_cpu_has_extensions(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 9)) || !(c & (1u << 19)))
        return false;
    return __get_cpuid_count(7, 0, &a, &b, &c, &d) && (b & (1u << 29));
}
#else
static bool s_cpu_has_extensions(void)
{
    return false;
}
#endif

/* 0: not chosen yet, 1: portable, 2: extensions. Relaxed atomics: every thread that chooses
 * chooses the same. */
static int s_choice;

static compress_fn s_compress(void)
{
    int choice = __atomic_load_n(&s_choice, __ATOMIC_RELAXED);
    if (choice == 0) {
        choice = s_cpu_has_extensions() ? 2 : 1;
        __atomic_store_n(&s_choice, choice, __ATOMIC_RELAXED);
    }
#ifdef HAVE_SHA_EXTENSIONS
    if (choice == 2)
        return s_compress_extensions;
#endif
    return s_compress_portable;
}

bool fx_sha256_extensions(void)
{
    return s_compress() != s_compress_portable;
}

void fx_sha256_use_extensions(bool use)
{
    __atomic_store_n(&s_choice, use && s_cpu_has_extensions() ? 2 : 1, __ATOMIC_RELAXED);
}

void fx_sha256_init(fx_sha256_t *self)
{
    memcpy(self->h, H0, sizeof self->h);
    self->length = 0;
    self->used = 0;
}

void fx_sha256_update(fx_sha256_t *self, const void *data, size_t len)
{
    if (len == 0)
        return;
    const uint8_t *p = data;
    compress_fn compress = s_compress();
    self->length += len;
    if (self->used > 0) {
        size_t take = len < 64 - self->used ? len : 64 - self->used;
        memcpy(self->block + self->used, p, take);
        self->used += take;
        p += take;
        len -= take;
        if (self->used < 64)
            return;
        compress(self->h, self->block, 1);
        self->used = 0;
    }
    if (len >= 64) {
        compress(self->h, p, len / 64);
        p += len - len % 64;
        len %= 64;
    }
    if (len > 0) {
        memcpy(self->block, p, len);
        self->used = len;
    }
}

void fx_sha256_final(fx_sha256_t *self, uint8_t out[FX_SHA256_BYTES])
{
    compress_fn compress = s_compress();
    uint64_t bits = self->length * 8;
    self->block[self->used++] = 0x80;
    if (self->used > 56) {
        memset(self->block + self->used, 0, 64 - self->used);
        compress(self->h, self->block, 1);
        self->used = 0;
    }
    memset(self->block + self->used, 0, 56 - self->used);
    for (int i = 0; i < 8; i++)
        self->block[56 + i] = (uint8_t) (bits >> (56 - 8 * i));
    compress(self->h, self->block, 1);
    for (int i = 0; i < 8; i++) {
        out[4 * i] = (uint8_t) (self->h[i] >> 24);
        out[4 * i + 1] = (uint8_t) (self->h[i] >> 16);
        out[4 * i + 2] = (uint8_t) (self->h[i] >> 8);
        out[4 * i + 3] = (uint8_t) self->h[i];
    }
}

void fx_sha256(const void *data, size_t len, uint8_t out[FX_SHA256_BYTES])
{
    fx_sha256_t h;
    fx_sha256_init(&h);
    fx_sha256_update(&h, data, len);
    fx_sha256_final(&h, out);
}
