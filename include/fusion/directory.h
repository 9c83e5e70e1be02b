/* The directory: every principal's certificate and the revocation list, verified against the
 * pinned authority key, loaded from a region on disk or from a Directory frame, and looked up by
 * principal id. Only valid, unrevoked certificates are ever returned by fx_directory_find. */
#ifndef FUSION_DIRECTORY_H
#define FUSION_DIRECTORY_H

#include <stddef.h>
#include <stdint.h>

#include "fusion/cert.h"
#include "fusion/util.h"

/* Files in a region (docs/region.md). */
#define FX_REGION_CERT_DIR    "directory"
#define FX_REGION_CERT_SUFFIX ".cert"
#define FX_REGION_CRL_FILE    "revocations.crl"

/* Most certificates one directory holds. */
#define FX_DIRECTORY_MAX_CERTS 100000

typedef struct fx_directory fx_directory_t;

typedef enum {
    FX_CERT_STATUS_VALID,         /* signed, inside its window, not revoked */
    FX_CERT_STATUS_REVOKED,       /* its serial is on the revocation list */
    FX_CERT_STATUS_EXPIRED,       /* past not_after */
    FX_CERT_STATUS_NOT_YET_VALID, /* before not_before */
    FX_CERT_STATUS_UNKNOWN        /* no certificate for that id */
} fx_cert_status_t;

/* The lower-case word of a status ("valid", "revoked", "expired", "not_yet_valid", "unknown"). */
const char *fx_cert_status_name(fx_cert_status_t status);

/* Loads a directory from a region (REGION/directory/<ID>.cert and REGION/revocations.crl) or from
 * a directory of .cert files (with revocations.crl inside it or in its parent), statuses as of
 * now_ms. The revocation list must exist and verify, or the load fails: without it nobody can
 * tell who is revoked. A certificate file that does not verify (malformed, not signed by this
 * authority, or named for another id) is skipped and reported through fx_directory_problem:
 * skipping can only remove principals, never add one, and failing the whole load would let one
 * stray file keep a reloading broker on an older revocation list. *dir_p is new. */
fx_err_t fx_directory_load(const char *region_or_dir, const uint8_t authority_key[FX_KEY_BYTES],
                           int64_t now_ms, fx_directory_t **dir_p) FX_WUR;

/* Builds a directory from a serialized Directory message (as the broker sends it), with the same
 * rules as fx_directory_load: its revocation list must verify; certificates that do not verify are
 * skipped and reported. Compare fx_directory_revocations_sequence with the last one seen to refuse
 * a rollback. *dir_p is new. */
fx_err_t fx_directory_from_bytes(const uint8_t *data, size_t len,
                                 const uint8_t authority_key[FX_KEY_BYTES], int64_t now_ms,
                                 fx_directory_t **dir_p) FX_WUR;

/* The certificates of self that *newer_p also holds (same id and serial), under newer's
 * revocation list, statuses as of newer's time: what a reload installs when newer's new or
 * changed certificates must wait but its revocations and removals must not. Takes *newer_p (its
 * revocation list moves, the rest is freed; *newer_p is NULL after) and returns a new directory;
 * the caller has checked that newer's list is not older. */
fx_directory_t *fx_directory_revoked_by(const fx_directory_t *self, fx_directory_t **newer_p);

/* Serializes the directory as a Directory message: every certificate that verified (whatever its
 * status; the receiver recomputes statuses) and the revocation list. *data_p is new. */
void fx_directory_encode(const fx_directory_t *self, uint8_t **data_p, size_t *len_p);

/* Frees a directory and its certificates; sets *self_p to NULL. Accepts NULL. */
void fx_directory_destroy(fx_directory_t **self_p);

/* The valid, unrevoked certificate of a principal, or NULL. Owned by the directory. */
const fx_cert_t *fx_directory_find(const fx_directory_t *self, const char *id);

/* The status of a principal. When cert_p is not NULL it receives the certificate the status is
 * about (NULL for unknown): for display only; never trust one whose status is not valid. */
fx_cert_status_t fx_directory_status(const fx_directory_t *self, const char *id,
                                     const fx_cert_t **cert_p);

/* Every certificate that verified, in order of id then serial, with its status. */
size_t fx_directory_count(const fx_directory_t *self);
const fx_cert_t *fx_directory_at(const fx_directory_t *self, size_t index);
fx_cert_status_t fx_directory_status_at(const fx_directory_t *self, size_t index);

/* The verified revocation list (owned by the directory) and its sequence. */
const fx_revocations_t *fx_directory_revocations(const fx_directory_t *self);
uint64_t fx_directory_revocations_sequence(const fx_directory_t *self);

/* The time the statuses were computed for. */
int64_t fx_directory_now(const fx_directory_t *self);

/* Certificates skipped while loading: the file (or "certificate #N" in a frame), the error and a
 * sentence. Returns the error; source_p and detail_p may be NULL. Owned by the directory. */
size_t fx_directory_problem_count(const fx_directory_t *self);
fx_err_t fx_directory_problem(const fx_directory_t *self, size_t index, const char **source_p,
                              const char **detail_p);

#endif
