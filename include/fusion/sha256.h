/* SHA-256 (FIPS 180-4) for the audit trail, whose leaves and Merkle nodes are the broker's
 * per-message hashing: on x86-64 processors with the SHA extensions it uses their instructions
 * (several times faster than libsodium's portable code), elsewhere a portable compression
 * function. The output is SHA-256's; tests/unit/test_sha256.c checks both ways against the
 * FIPS test vectors and against libsodium. */
#ifndef FUSION_SHA256_H
#define FUSION_SHA256_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FX_SHA256_BYTES 32

typedef struct {
    uint32_t h[8];     /* the chaining value */
    uint64_t length;   /* bytes hashed so far */
    uint8_t block[64]; /* the partial block */
    size_t used;       /* bytes in block */
} fx_sha256_t;

void fx_sha256_init(fx_sha256_t *self);
void fx_sha256_update(fx_sha256_t *self, const void *data, size_t len);
void fx_sha256_final(fx_sha256_t *self, uint8_t out[FX_SHA256_BYTES]);

/* SHA-256 of len bytes at data, in one call. */
void fx_sha256(const void *data, size_t len, uint8_t out[FX_SHA256_BYTES]);

/* Whether the SHA extensions are used. TESTS ONLY: fx_sha256_use_extensions(false) makes this
 * process use the portable code, to check it on a machine that has them; true goes back to the
 * extensions where the processor has them. */
bool fx_sha256_extensions(void);
void fx_sha256_use_extensions(bool use);

#endif
