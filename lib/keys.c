/* A principal's key pairs, its secret key file, signatures, sealed section keys, fingerprints. */
#include "fusion/keys.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define KEY_FILE_MAX 4096

typedef struct {
    uint8_t sign[crypto_sign_SECRETKEYBYTES]; /* seed || public key */
    uint8_t box[crypto_box_SECRETKEYBYTES];
    uint8_t curve[crypto_box_SECRETKEYBYTES];
} secrets_t;

struct fx_keys {
    char id[FX_ID_MAX];
    uint8_t sign_public[FX_KEY_BYTES];
    uint8_t box_public[FX_KEY_BYTES];
    uint8_t curve_public[FX_KEY_BYTES];
    secrets_t *secret; /* sodium_malloc: guarded, locked, wiped on free */
};

static fx_keys_t *s_keys_alloc(const char *id)
{
    if (!fx_principal_id_valid(id))
        return NULL;
    fx_keys_t *self = fx_calloc(1, sizeof *self);
    snprintf(self->id, sizeof self->id, "%s", id);
    self->secret = sodium_malloc(sizeof(secrets_t));
    if (!self->secret) {
        fprintf(stderr, "fusion: cannot allocate secure memory\n");
        abort();
    }
    sodium_memzero(self->secret, sizeof(secrets_t));
    return self;
}

fx_keys_t *fx_keys_new(const char *id)
{
    fx_keys_t *self = s_keys_alloc(id);
    if (!self)
        return NULL;
    crypto_sign_keypair(self->sign_public, self->secret->sign);
    crypto_box_keypair(self->box_public, self->secret->box);
    crypto_box_keypair(self->curve_public, self->secret->curve);
    return self;
}

void fx_keys_destroy(fx_keys_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fx_keys_t *self = *self_p;
    sodium_free(self->secret); /* sodium_free wipes before freeing */
    free(self);
    *self_p = NULL;
}

const char *fx_keys_id(const fx_keys_t *self)
{
    return self->id;
}

const uint8_t *fx_keys_sign_public(const fx_keys_t *self)
{
    return self->sign_public;
}

const uint8_t *fx_keys_box_public(const fx_keys_t *self)
{
    return self->box_public;
}

const uint8_t *fx_keys_curve_public(const fx_keys_t *self)
{
    return self->curve_public;
}

const uint8_t *fx_keys_curve_secret(const fx_keys_t *self)
{
    return self->secret->curve;
}

/* The key file is text so an operator can see what it is; secrets are hex. The whole file is
 * read into and formatted in sodium_malloc memory and wiped afterwards. */
static const char s_magic[] = "fusion-secret-keys: 1";

fx_err_t fx_keys_save(const fx_keys_t *self, const char *path)
{
    char *text = sodium_malloc(KEY_FILE_MAX);
    if (!text)
        abort();
    char sign_hex[65], box_hex[65], curve_hex[65];
    sodium_bin2hex(sign_hex, sizeof sign_hex, self->secret->sign, crypto_sign_SEEDBYTES);
    sodium_bin2hex(box_hex, sizeof box_hex, self->secret->box, sizeof self->secret->box);
    sodium_bin2hex(curve_hex, sizeof curve_hex, self->secret->curve, sizeof self->secret->curve);
    int len = snprintf(text, KEY_FILE_MAX,
                       "# Fusion secret keys of %s. Keep this file private (mode 0600);\n"
                       "# never send it anywhere. Its public half is in the enrolment request.\n"
                       "%s\nid: %s\nsign-seed: %s\nbox-secret: %s\ncurve-secret: %s\n",
                       self->id, s_magic, self->id, sign_hex, box_hex, curve_hex);
    sodium_memzero(sign_hex, sizeof sign_hex);
    sodium_memzero(box_hex, sizeof box_hex);
    sodium_memzero(curve_hex, sizeof curve_hex);
    fx_err_t rc = fx_file_write(path, text, (size_t) len, 0600, 1);
    sodium_free(text);
    return rc;
}

/* Finds "name: value" on its own line and decodes a 32-byte hex value into out. */
static int s_hex_field(const char *text, const char *name, uint8_t out[32])
{
    size_t name_len = strlen(name);
    for (const char *line = text; line && *line;
         line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
        if (strncmp(line, name, name_len) != 0 || line[name_len] != ':' ||
            line[name_len + 1] != ' ')
            continue;
        const char *hex = line + name_len + 2;
        size_t bin_len = 0;
        const char *end = NULL;
        if (sodium_hex2bin(out, 32, hex, 64, NULL, &bin_len, &end) != 0 || bin_len != 32)
            return -1;
        return *end == '\n' || *end == '\0' ? 0 : -1;
    }
    return -1;
}

static int s_id_field(const char *text, char id[FX_ID_MAX])
{
    const char *line = strstr(text, "\nid: ");
    if (!line)
        return -1;
    line += 5;
    size_t len = strcspn(line, "\n");
    if (len == 0 || len >= FX_ID_MAX)
        return -1;
    memcpy(id, line, len);
    id[len] = '\0';
    return fx_principal_id_valid(id) ? 0 : -1;
}

fx_err_t fx_keys_load(const char *path, fx_keys_t **keys_p)
{
    *keys_p = NULL;
    /* O_NOFOLLOW: a link could hand over another key than the file named. O_NONBLOCK: a FIFO
     * put in the key's place is refused below instead of waiting for a writer. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0) {
        int error = errno;
        struct stat link;
        if (error == ELOOP && lstat(path, &link) == 0 && S_ISLNK(link.st_mode))
            return FX_ERR_KEY_NOT_REGULAR;
        errno = error; /* the system's reason, for the caller's message */
        return error == ENOENT ? FX_ERR_NOT_FOUND : FX_ERR_IO;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int error = errno;
        close(fd);
        errno = error;
        return FX_ERR_IO;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return FX_ERR_KEY_NOT_REGULAR;
    }
    if (st.st_mode & (S_IRWXG | S_IRWXO)) {
        close(fd);
        return FX_ERR_KEY_PERMISSIONS;
    }
    if (st.st_size >= KEY_FILE_MAX) {
        close(fd);
        return FX_ERR_MALFORMED;
    }
    char *text = sodium_malloc(KEY_FILE_MAX);
    if (!text)
        abort();
    size_t len = 0;
    ssize_t got;
    while (len < KEY_FILE_MAX - 1 && (got = read(fd, text + len, KEY_FILE_MAX - 1 - len)) > 0)
        len += (size_t) got;
    close(fd);
    text[len] = '\0';

    fx_err_t rc = FX_ERR_MALFORMED;
    char id[FX_ID_MAX];
    fx_keys_t *self = NULL;
    uint8_t *seed = sodium_malloc(crypto_sign_SEEDBYTES);
    if (!seed)
        abort();
    if (!strstr(text, s_magic) || s_id_field(text, id) != 0)
        goto cleanup;
    self = s_keys_alloc(id);
    if (!self || s_hex_field(text, "sign-seed", seed) != 0 ||
        s_hex_field(text, "box-secret", self->secret->box) != 0 ||
        s_hex_field(text, "curve-secret", self->secret->curve) != 0)
        goto cleanup;
    crypto_sign_seed_keypair(self->sign_public, self->secret->sign, seed);
    if (crypto_scalarmult_base(self->box_public, self->secret->box) != 0 ||
        crypto_scalarmult_base(self->curve_public, self->secret->curve) != 0)
        goto cleanup;
    *keys_p = self;
    self = NULL;
    rc = FX_OK;
cleanup:
    fx_keys_destroy(&self);
    sodium_free(seed);
    sodium_free(text);
    return rc;
}

/* Builds "<domain>\0" + msg in one buffer: Ed25519 signs a single contiguous message. */
static uint8_t *s_domain_message(const char *domain, const uint8_t *msg, size_t len,
                                 size_t *out_len)
{
    size_t dlen = strlen(domain) + 1;
    uint8_t *buf = fx_malloc(dlen + len);
    memcpy(buf, domain, dlen);
    if (len)
        memcpy(buf + dlen, msg, len);
    *out_len = dlen + len;
    return buf;
}

void fx_keys_sign(const fx_keys_t *self, const char *domain, const uint8_t *msg, size_t len,
                  uint8_t sig[FX_SIGNATURE_BYTES])
{
    size_t buf_len;
    uint8_t *buf = s_domain_message(domain, msg, len, &buf_len);
    crypto_sign_detached(sig, NULL, buf, buf_len, self->secret->sign);
    free(buf);
}

int fx_signature_verify(const uint8_t public_key[FX_KEY_BYTES], const char *domain,
                        const uint8_t *msg, size_t len, const uint8_t sig[FX_SIGNATURE_BYTES])
{
    size_t buf_len;
    uint8_t *buf = s_domain_message(domain, msg, len, &buf_len);
    int rc = crypto_sign_verify_detached(sig, buf, buf_len, public_key);
    free(buf);
    return rc == 0 ? 0 : -1;
}

void fx_section_key_seal(const uint8_t box_public[FX_KEY_BYTES],
                         const uint8_t key[FX_SECTION_KEY_BYTES],
                         uint8_t sealed[FX_SEALED_KEY_BYTES])
{
    crypto_box_seal(sealed, key, FX_SECTION_KEY_BYTES, box_public);
}

int fx_keys_unseal(const fx_keys_t *self, const uint8_t *sealed, size_t sealed_len,
                   uint8_t key[FX_SECTION_KEY_BYTES])
{
    if (sealed_len != FX_SEALED_KEY_BYTES)
        return -1;
    return crypto_box_seal_open(key, sealed, sealed_len, self->box_public, self->secret->box) == 0
               ? 0
               : -1;
}

void fx_fingerprint(const uint8_t sign_public[FX_KEY_BYTES], char out[FX_FINGERPRINT_BUFSIZE])
{
    static const char alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"; /* Crockford base32 */
    uint8_t hash[10];
    crypto_generichash(hash, sizeof hash, sign_public, FX_KEY_BYTES, NULL, 0);
    int o = 0;
    for (int i = 0; i < 16; i++) {
        int bit = i * 5, value = 0;
        for (int b = 0; b < 5; b++, bit++)
            value = (value << 1) | ((hash[bit / 8] >> (7 - bit % 8)) & 1);
        if (i && i % 4 == 0)
            out[o++] = '-';
        out[o++] = alphabet[value];
    }
    out[o] = '\0';
}

static int s_name_part(const char *p, size_t len)
{
    if (len < 1 || len > 24)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = p[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return 0;
    }
    return 1;
}

int fx_principal_id_valid(const char *id)
{
    if (!id || strlen(id) >= FX_ID_MAX)
        return 0;
    for (int i = 0; i < 3; i++)
        if (id[i] < 'A' || id[i] > 'Z')
            return 0;
    if (id[3] != '.')
        return 0;
    const char *agency = id + 4, *dot = strchr(agency, '.');
    if (!dot || !s_name_part(agency, (size_t) (dot - agency)))
        return 0;
    return s_name_part(dot + 1, strlen(dot + 1));
}

int fx_agency_id_valid(const char *id)
{
    if (!id || strlen(id) + 3 > FX_ID_MAX || strchr(id, '.') == NULL)
        return 0;
    char probe[FX_ID_MAX];
    snprintf(probe, sizeof probe, "%s.x", id); /* an agency is a principal id without its unit */
    return fx_principal_id_valid(probe) && strchr(strchr(id, '.') + 1, '.') == NULL;
}

int fx_recipient_id_valid(const char *id)
{
    return fx_principal_id_valid(id) || fx_agency_id_valid(id);
}

void fx_party_country_upper(char *id)
{
    for (int i = 0; i < 3; i++)
        if (!((id[i] >= 'A' && id[i] <= 'Z') || (id[i] >= 'a' && id[i] <= 'z')))
            return;
    if (id[3] != '.')
        return;
    for (int i = 0; i < 3; i++)
        if (id[i] >= 'a')
            id[i] = (char) (id[i] - 'a' + 'A');
}

void fx_principal_agency(const char *id, char agency[FX_ID_MAX])
{
    const char *dot = strchr(id + 4, '.');
    size_t len = dot ? (size_t) (dot - id) : strlen(id);
    if (len >= FX_ID_MAX)
        len = FX_ID_MAX - 1;
    memcpy(agency, id, len);
    agency[len] = '\0';
}

bool fx_principal_of_agency(const char *id, const char *agency)
{
    size_t n = strlen(agency);
    return n > 0 && strncmp(id, agency, n) == 0 && id[n] == '.';
}
