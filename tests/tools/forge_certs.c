/* forge_certs: issues COUNT certificates signed by a region's authority, each with keys of its
 * own, into REGION/directory, for a directory as large as a big region's without enrolling each
 * principal with fusion-admin (which takes a process and a request file each). They expired
 * yesterday: the directory and its DIRECTORY answer hold them (every certificate that verified,
 * whatever its status), but none is admitted, so the broker writes no key for zauth. Ids are
 * ZZZ.<AGENCY>.<UNIT>NNNNNN, of 53 characters (the longest), serials from 10^9.
 * Usage: forge_certs REGION COUNT */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fusion/cert.h"
#include "fusion/keys.h"
#include "fusion/util.h"
#include "fusion/vocab.h"

#define AGENCY "BULKFORGEDAGENCYFORSIZES" /* 24 characters, the most a part of an id has */
#define UNIT   "forgedfordirectory"       /* 18 characters, then 6 digits */

int main(int argc, char **argv)
{
    if (argc != 3 || atol(argv[2]) <= 0 || atol(argv[2]) > 999999) {
        fprintf(stderr, "usage: forge_certs REGION COUNT (1 to 999999)\n");
        return 2;
    }
    if (sodium_init() < 0)
        return 4;
    const char *region = argv[1];
    long count = atol(argv[2]);
    char path[4096];
    snprintf(path, sizeof path, "%s/authority.key", region);
    fx_keys_t *authority = NULL;
    if (fx_keys_load(path, &authority) != FX_OK) {
        fprintf(stderr, "forge_certs: cannot load %s\n", path);
        return 4;
    }
    int64_t day = 24LL * 3600 * 1000, now = fx_now_ms();
    int status = 0;
    for (long i = 0; i < count && status == 0; i++) {
        char id[FX_ID_MAX];
        snprintf(id, sizeof id, "ZZZ." AGENCY "." UNIT "%06d", (int) i);
        fx_keys_t *keys = fx_keys_new(id);
        fx_request_t *req = NULL;
        uint8_t *request = NULL, *cert = NULL;
        size_t request_len = 0, cert_len = 0;
        if (fx_request_create(keys, &request, &request_len) != FX_OK ||
            fx_request_verify(request, request_len, &req) != FX_OK ||
            fx_cert_issue(authority, req, 1u << FX_ROLE_POLICE, 1000000000ULL + (uint64_t) i,
                          now - 2 * day, now - day, &cert, &cert_len) != FX_OK) {
            fprintf(stderr, "forge_certs: cannot issue a certificate for %s\n", id);
            status = 4;
        } else {
            snprintf(path, sizeof path, "%s/directory/%s.cert", region, id);
            FILE *f = fopen(path, "wb"); /* not fx_file_write: no fsync for each of thousands */
            int written = f && fwrite(cert, 1, cert_len, f) == cert_len;
            if (f && fclose(f) != 0)
                written = 0;
            if (!written) {
                fprintf(stderr, "forge_certs: cannot write %s\n", path);
                status = 4;
            }
        }
        free(cert);
        free(request);
        fx_request_destroy(&req);
        fx_keys_destroy(&keys);
    }
    fx_keys_destroy(&authority);
    return status;
}
