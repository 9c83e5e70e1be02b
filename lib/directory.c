/* The directory of certificates and the revocation list, from a region on disk or a Directory
 * frame. Certificates that do not verify are skipped and reported; the revocation list must verify
 * or nothing loads, so a lost or forged list can never bring a revoked principal back. */
#include "fusion/directory.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cert_private.h"
#include "fusion/codec.h"

typedef struct {
    fx_cert_t *cert;
    fx_cert_status_t status;
} entry_t;

typedef struct {
    char *source;
    char *detail;
    fx_err_t err;
} problem_t;

struct fx_directory {
    int64_t now;
    fx_revocations_t *revocations;
    entry_t *entries; /* sorted by id, then serial */
    size_t count;
    size_t capacity;
    problem_t *problems;
    size_t problem_count;
};

const char *fx_cert_status_name(fx_cert_status_t status)
{
    switch (status) {
    case FX_CERT_STATUS_VALID:
        return "valid";
    case FX_CERT_STATUS_REVOKED:
        return "revoked";
    case FX_CERT_STATUS_EXPIRED:
        return "expired";
    case FX_CERT_STATUS_NOT_YET_VALID:
        return "not_yet_valid";
    case FX_CERT_STATUS_UNKNOWN:
        break;
    }
    return "unknown";
}

static fx_directory_t *s_directory_new(int64_t now_ms)
{
    fx_directory_t *self = fx_calloc(1, sizeof *self);
    self->now = now_ms;
    return self;
}

void fx_directory_destroy(fx_directory_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fx_directory_t *self = *self_p;
    for (size_t i = 0; i < self->count; i++)
        fx_cert_destroy(&self->entries[i].cert);
    free(self->entries);
    for (size_t i = 0; i < self->problem_count; i++) {
        free(self->problems[i].source);
        free(self->problems[i].detail);
    }
    free(self->problems);
    fx_revocations_destroy(&self->revocations);
    free(self);
    *self_p = NULL;
}

static void s_problem(fx_directory_t *self, const char *source, fx_err_t err, const char *detail)
{
    self->problems = fx_realloc(self->problems, (self->problem_count + 1) * sizeof *self->problems);
    problem_t *p = &self->problems[self->problem_count++];
    p->source = fx_strdup(source);
    p->detail = fx_strdup(detail ? detail : fx_strerror(err));
    p->err = err;
}

/* Takes ownership of *cert_p. */
static void s_add(fx_directory_t *self, fx_cert_t **cert_p)
{
    if (self->count == self->capacity) {
        self->capacity = self->capacity ? self->capacity * 2 : 16;
        self->entries = fx_realloc(self->entries, self->capacity * sizeof *self->entries);
    }
    self->entries[self->count].cert = *cert_p;
    self->entries[self->count].status = FX_CERT_STATUS_UNKNOWN;
    self->count++;
    *cert_p = NULL;
}

static int s_entry_compare(const void *a, const void *b)
{
    const fx_cert_t *x = ((const entry_t *) a)->cert, *y = ((const entry_t *) b)->cert;
    int c = strcmp(fx_cert_id(x), fx_cert_id(y));
    if (c)
        return c;
    return fx_cert_serial(x) < fx_cert_serial(y) ? -1 : fx_cert_serial(x) > fx_cert_serial(y);
}

/* Sorts, drops exact duplicates (same id and serial) and computes every status. */
static void s_finish(fx_directory_t *self)
{
    if (self->count > 1)
        qsort(self->entries, self->count, sizeof *self->entries, s_entry_compare);
    size_t kept = 0;
    for (size_t i = 0; i < self->count; i++) {
        if (kept && s_entry_compare(&self->entries[kept - 1], &self->entries[i]) == 0) {
            fx_cert_destroy(&self->entries[i].cert);
            continue;
        }
        self->entries[kept++] = self->entries[i];
    }
    self->count = kept;
    for (size_t i = 0; i < self->count; i++) {
        entry_t *e = &self->entries[i];
        if (fx_revocations_contains(self->revocations, fx_cert_serial(e->cert))) {
            e->status = FX_CERT_STATUS_REVOKED;
            continue;
        }
        fx_err_t rc = fx_cert_check_time(e->cert, self->now);
        e->status = rc == FX_OK                       ? FX_CERT_STATUS_VALID
                    : rc == FX_ERR_CERT_NOT_YET_VALID ? FX_CERT_STATUS_NOT_YET_VALID
                                                      : FX_CERT_STATUS_EXPIRED;
    }
}

/* Verifies one serialized certificate; on failure records a problem under source. When
 * expected_id is set, the certificate must be for that id (its file name). */
static void s_add_bytes(fx_directory_t *self, const uint8_t *data, size_t len,
                        const uint8_t authority_key[FX_KEY_BYTES], const char *source,
                        const char *expected_id)
{
    fx_cert_t *cert = NULL;
    fx_err_t rc = fx_cert_verify_any_time_(data, len, authority_key, &cert);
    if (rc != FX_OK) {
        s_problem(self, source, rc, NULL);
        return;
    }
    if (expected_id && strcmp(expected_id, fx_cert_id(cert)) != 0) {
        char detail[160];
        snprintf(detail, sizeof detail, "the file holds the certificate of %s, not of %s",
                 fx_cert_id(cert), expected_id);
        s_problem(self, source, FX_ERR_INVALID, detail);
        fx_cert_destroy(&cert);
        return;
    }
    s_add(self, &cert);
}

static int s_is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static char *s_join(const char *dir, const char *name)
{
    size_t len = strlen(dir) + strlen(name) + 2;
    char *path = fx_malloc(len);
    snprintf(path, len, "%s/%s", dir, name);
    return path;
}

/* A certificate file is <ID>.cert, ID a valid principal id; everything else (temporary files of
 * an atomic write, editor backups, READMEs) is not a certificate file and is ignored. */
static int s_cert_file_id(const char *name, char id[FX_ID_MAX])
{
    size_t len = strlen(name), suffix = strlen(FX_REGION_CERT_SUFFIX);
    if (name[0] == '.' || len <= suffix || strcmp(name + len - suffix, FX_REGION_CERT_SUFFIX) != 0)
        return -1;
    id[0] = '\0'; /* too long to be an id: left empty, and reported as a bad name */
    if (len - suffix < FX_ID_MAX) {
        memcpy(id, name, len - suffix);
        id[len - suffix] = '\0';
    }
    return 0;
}

static fx_err_t s_load_certs(fx_directory_t *self, const char *cert_dir,
                             const uint8_t authority_key[FX_KEY_BYTES])
{
    struct dirent **names = NULL;
    int n = scandir(cert_dir, &names, NULL, alphasort);
    if (n < 0)
        return errno == ENOENT ? FX_ERR_NOT_FOUND : FX_ERR_IO;
    fx_err_t rc = FX_OK;
    size_t files = 0;
    for (int i = 0; i < n; i++) {
        char id[FX_ID_MAX];
        if (rc != FX_OK || s_cert_file_id(names[i]->d_name, id) != 0)
            continue;
        if (++files > FX_DIRECTORY_MAX_CERTS) {
            rc = FX_ERR_LIMIT;
            continue;
        }
        char *path = s_join(cert_dir, names[i]->d_name);
        uint8_t *data = NULL;
        size_t len = 0;
        fx_err_t read_rc = fx_file_read(path, FX_MAX_CERT_BYTES, &data, &len);
        if (read_rc != FX_OK)
            s_problem(self, path, read_rc, NULL);
        else if (!fx_principal_id_valid(id))
            s_problem(self, path, FX_ERR_INVALID,
                      "the file name is not <ID>.cert for a valid principal id");
        else
            s_add_bytes(self, data, len, authority_key, path, id);
        free(data);
        free(path);
    }
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return rc;
}

static fx_err_t s_load_revocations(fx_directory_t *self, const char *path,
                                   const uint8_t authority_key[FX_KEY_BYTES])
{
    uint8_t *data = NULL;
    size_t len = 0;
    fx_err_t rc = fx_file_read(path, fx_codec_max(FX_MSG_REVOCATION_LIST), &data, &len);
    if (rc == FX_OK)
        rc = fx_revocations_verify(data, len, authority_key, 0, &self->revocations);
    free(data);
    return rc;
}

fx_err_t fx_directory_load(const char *region_or_dir, const uint8_t authority_key[FX_KEY_BYTES],
                           int64_t now_ms, fx_directory_t **dir_p)
{
    *dir_p = NULL;
    if (!region_or_dir || !s_is_dir(region_or_dir))
        return FX_ERR_NOT_FOUND;
    char *cert_dir = s_join(region_or_dir, FX_REGION_CERT_DIR);
    char *crl = s_join(region_or_dir, FX_REGION_CRL_FILE);
    fx_directory_t *self = s_directory_new(now_ms);
    fx_err_t rc;
    if (!s_is_dir(cert_dir)) {
        /* Not a region: the path is itself the directory of certificates. */
        free(cert_dir);
        cert_dir = fx_strdup(region_or_dir);
        struct stat st;
        if (stat(crl, &st) != 0) {
            free(crl);
            crl = s_join(region_or_dir, "../" FX_REGION_CRL_FILE);
        }
    }
    rc = s_load_revocations(self, crl, authority_key);
    if (rc != FX_OK)
        goto cleanup;
    rc = s_load_certs(self, cert_dir, authority_key);
    if (rc != FX_OK)
        goto cleanup;
    s_finish(self);
    *dir_p = self;
    self = NULL;
cleanup:
    fx_directory_destroy(&self);
    free(cert_dir);
    free(crl);
    return rc;
}

fx_err_t fx_directory_from_bytes(const uint8_t *data, size_t len,
                                 const uint8_t authority_key[FX_KEY_BYTES], int64_t now_ms,
                                 fx_directory_t **dir_p)
{
    *dir_p = NULL;
    Fusion__Directory *msg = NULL;
    fx_directory_t *self = NULL;
    uint8_t *bytes = NULL;
    size_t bytes_len = 0;
    fx_err_t rc = fx_codec_decode(FX_MSG_DIRECTORY, data, len, (void **) &msg);
    if (rc != FX_OK)
        goto cleanup;
    rc = FX_ERR_MALFORMED;
    if (!msg->revocations)
        goto cleanup;
    rc = FX_ERR_LIMIT;
    if (msg->n_certificates > FX_DIRECTORY_MAX_CERTS)
        goto cleanup;
    self = s_directory_new(now_ms);
    /* Signatures cover only the bodies, so re-encoding the {body, signature} wrapper is safe. */
    fx_codec_encode(msg->revocations, &bytes, &bytes_len);
    rc = fx_revocations_verify(bytes, bytes_len, authority_key, 0, &self->revocations);
    free(bytes);
    bytes = NULL;
    if (rc != FX_OK)
        goto cleanup;
    for (size_t i = 0; i < msg->n_certificates; i++) {
        char source[48];
        snprintf(source, sizeof source, "certificate #%zu", i + 1);
        fx_codec_encode(msg->certificates[i], &bytes, &bytes_len);
        s_add_bytes(self, bytes, bytes_len, authority_key, source, NULL);
        free(bytes);
        bytes = NULL;
    }
    s_finish(self);
    *dir_p = self;
    self = NULL;
    rc = FX_OK;
cleanup:
    fx_directory_destroy(&self);
    fx_codec_free(msg);
    return rc;
}

fx_directory_t *fx_directory_revoked_by(const fx_directory_t *self, fx_directory_t **newer_p)
{
    fx_directory_t *newer = *newer_p;
    fx_directory_t *out = s_directory_new(newer->now);
    out->revocations = newer->revocations;
    newer->revocations = NULL;
    for (size_t i = 0; i < self->count; i++) {
        if (!bsearch(&self->entries[i], newer->entries, newer->count, sizeof *newer->entries,
                     s_entry_compare))
            continue; /* gone from newer, or replaced by another serial: out as well */
        fx_cert_t *cert = fx_cert_dup(self->entries[i].cert);
        s_add(out, &cert);
    }
    fx_directory_destroy(newer_p);
    s_finish(out);
    return out;
}

void fx_directory_encode(const fx_directory_t *self, uint8_t **data_p, size_t *len_p)
{
    Fusion__Directory msg = FUSION__DIRECTORY__INIT;
    Fusion__RevocationList crl = FUSION__REVOCATION_LIST__INIT;
    Fusion__Certificate *certs = fx_calloc(self->count, sizeof *certs);
    Fusion__Certificate **cert_ptrs = fx_calloc(self->count, sizeof *cert_ptrs);
    for (size_t i = 0; i < self->count; i++) {
        Fusion__Certificate init = FUSION__CERTIFICATE__INIT;
        const fx_cert_t *cert = self->entries[i].cert;
        certs[i] = init;
        certs[i].body.data = (uint8_t *) fx_cert_body(cert, &certs[i].body.len);
        certs[i].signature.data = (uint8_t *) fx_cert_signature(cert);
        certs[i].signature.len = FX_SIGNATURE_BYTES;
        cert_ptrs[i] = &certs[i];
    }
    crl.body.data = (uint8_t *) fx_revocations_body(self->revocations, &crl.body.len);
    crl.signature.data = (uint8_t *) fx_revocations_signature(self->revocations);
    crl.signature.len = FX_SIGNATURE_BYTES;
    msg.n_certificates = self->count;
    msg.certificates = cert_ptrs;
    msg.revocations = &crl;
    fx_codec_encode(&msg, data_p, len_p);
    free(cert_ptrs);
    free(certs);
}

/* Index of the first entry whose id is >= id. */
static size_t s_first(const fx_directory_t *self, const char *id)
{
    size_t lo = 0, hi = self->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(fx_cert_id(self->entries[mid].cert), id) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

fx_cert_status_t fx_directory_status(const fx_directory_t *self, const char *id,
                                     const fx_cert_t **cert_p)
{
    if (cert_p)
        *cert_p = NULL;
    if (!self || !id)
        return FX_CERT_STATUS_UNKNOWN;
    size_t first = s_first(self, id), last = first;
    while (last < self->count && strcmp(fx_cert_id(self->entries[last].cert), id) == 0)
        last++;
    if (first == last)
        return FX_CERT_STATUS_UNKNOWN;
    /* Several certificates for one id (a frame may carry a replaced one): a valid one wins, the
     * newest (highest serial) of them; otherwise the newest one's status is reported. */
    for (size_t i = last; i-- > first;) {
        if (self->entries[i].status == FX_CERT_STATUS_VALID) {
            if (cert_p)
                *cert_p = self->entries[i].cert;
            return FX_CERT_STATUS_VALID;
        }
    }
    if (cert_p)
        *cert_p = self->entries[last - 1].cert;
    return self->entries[last - 1].status;
}

const fx_cert_t *fx_directory_find(const fx_directory_t *self, const char *id)
{
    const fx_cert_t *cert = NULL;
    return fx_directory_status(self, id, &cert) == FX_CERT_STATUS_VALID ? cert : NULL;
}

size_t fx_directory_count(const fx_directory_t *self)
{
    return self->count;
}

const fx_cert_t *fx_directory_at(const fx_directory_t *self, size_t index)
{
    return index < self->count ? self->entries[index].cert : NULL;
}

fx_cert_status_t fx_directory_status_at(const fx_directory_t *self, size_t index)
{
    return index < self->count ? self->entries[index].status : FX_CERT_STATUS_UNKNOWN;
}

const fx_revocations_t *fx_directory_revocations(const fx_directory_t *self)
{
    return self->revocations;
}

uint64_t fx_directory_revocations_sequence(const fx_directory_t *self)
{
    return fx_revocations_sequence(self->revocations);
}

int64_t fx_directory_now(const fx_directory_t *self)
{
    return self->now;
}

size_t fx_directory_problem_count(const fx_directory_t *self)
{
    return self->problem_count;
}

fx_err_t fx_directory_problem(const fx_directory_t *self, size_t index, const char **source_p,
                              const char **detail_p)
{
    if (index >= self->problem_count)
        return FX_OK;
    if (source_p)
        *source_p = self->problems[index].source;
    if (detail_p)
        *detail_p = self->problems[index].detail;
    return self->problems[index].err;
}
