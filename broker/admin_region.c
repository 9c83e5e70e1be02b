/* fusion-admin init, enroll, revoke and directory: the registry authority's region on disk
 * (docs/region.md). Commands that change the region hold REGION/.lock so two operators cannot
 * hand out the same serial or lose each other's revocation. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <dirent.h>

#include "admin.h"
#include "fusion/cert.h"
#include "fusion/cli.h"
#include "fusion/directory.h"
#include "fusion/keys.h"
#include "fusion/util.h"
#include "fusion/vocab.h"

#define DEFAULT_AUTHORITY_ID "RSO.FUSION.authority"
#define DEFAULT_DAYS         365
#define MAX_DAYS             3650
#define DAY_MS               (24LL * 60 * 60 * 1000)
#define BACKDATE_MS          (5LL * 60 * 1000) /* tolerate clocks a few minutes behind */

/* ---------------------------------------------------------------------------------------------
 * Helpers */

static char *s_path(const char *region, const char *name)
{
    size_t len = strlen(region) + strlen(name) + 2;
    char *path = fx_malloc(len);
    snprintf(path, len, "%s/%s", region, name);
    return path;
}

static char *s_cert_path(const char *region, const char *id)
{
    size_t len = strlen(region) + strlen(FX_REGION_CERT_DIR) + strlen(id) +
                 strlen(FX_REGION_CERT_SUFFIX) + 3;
    char *path = fx_malloc(len);
    snprintf(path, len, "%s/%s/%s%s", region, FX_REGION_CERT_DIR, id, FX_REGION_CERT_SUFFIX);
    return path;
}

/* Reports a failed operation on a file and returns its exit code. */
static int s_fail(const char *command, const char *path, fx_err_t err)
{
    fx_cli_error(ADMIN_PROG, "%s: %s: %s", command, path, fx_strerror(err));
    return fx_err_exit(err);
}

int admin_read_failed(const char *command, const char *path, fx_err_t err)
{
    if (err != FX_ERR_IO && err != FX_ERR_NOT_FOUND)
        return s_fail(command, path, err);
    int status;
    const char *why = fx_cli_read_problem(path, &status);
    fx_cli_error(ADMIN_PROG, "%s: %s: %s", command, path, why ? why : fx_strerror(err));
    return status;
}

int admin_authority_failed(const char *command, const char *path, fx_err_t err)
{
    if (err != FX_ERR_MALFORMED)
        return admin_read_failed(command, path, err);
    fx_cli_error(ADMIN_PROG, "%s: %s: %s", command, path, fx_authority_key_strerror(path, err));
    return fx_err_exit(err);
}

int admin_unknown_option(const char *command, char **argv)
{
    fx_cli_error(ADMIN_PROG, "%s: unknown or incomplete option '%s' (try '%s %s --help')", command,
                 argv[optind - 1], ADMIN_PROG, command);
    return FX_EXIT_USAGE;
}

const char *admin_region(const char *command, const char *option)
{
    const char *region = option ? option : getenv("FUSION_REGION");
    if (!region || !*region) {
        fx_cli_error(ADMIN_PROG, "%s: no region given: use --region REGION or set FUSION_REGION",
                     command);
        return NULL;
    }
    return region;
}

/* Takes the region's lock for the rest of the process (released at exit). -1 on failure. */
static int s_lock_region(const char *command, const char *region)
{
    char *path = s_path(region, ".lock");
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0 || flock(fd, LOCK_EX) != 0) {
        fx_cli_error(ADMIN_PROG, "%s: %s: cannot lock the region: %s", command, path,
                     strerror(errno));
        free(path);
        if (fd >= 0)
            close(fd);
        return -1;
    }
    free(path);
    return fd;
}

int admin_load_authority(const char *command, const char *region, fx_keys_t **keys_p)
{
    char *key_path = s_path(region, "authority.key"), *pub_path = s_path(region, "authority.pub");
    uint8_t pub[FX_KEY_BYTES];
    int status = FX_EXIT_OK;
    fx_err_t rc = fx_keys_load(key_path, keys_p);
    if (rc == FX_ERR_NOT_FOUND) {
        fx_cli_error(ADMIN_PROG, "%s: %s: no authority key here; is %s a region made by '%s init'?",
                     command, key_path, region, ADMIN_PROG);
        status = fx_err_exit(rc);
    } else if (rc != FX_OK) {
        status = admin_read_failed(command, key_path, rc);
    } else if ((rc = fx_authority_key_load(pub_path, pub)) != FX_OK) {
        status = admin_authority_failed(command, pub_path, rc);
    } else if (memcmp(pub, fx_keys_sign_public(*keys_p), FX_KEY_BYTES) != 0) {
        fx_cli_error(ADMIN_PROG,
                     "%s: %s does not hold the public key of %s; the region is "
                     "inconsistent, so nothing was changed",
                     command, pub_path, key_path);
        status = FX_EXIT_REFUSED;
    }
    if (status != FX_EXIT_OK)
        fx_keys_destroy(keys_p);
    free(key_path);
    free(pub_path);
    return status;
}

/* Loads the region's directory, warning about every certificate file it skipped. */
static int s_load_directory(const char *command, const char *region, const uint8_t *authority_key,
                            fx_directory_t **dir_p)
{
    fx_err_t rc = fx_directory_load(region, authority_key, fx_now_ms(), dir_p);
    if (rc != FX_OK) {
        fx_cli_error(ADMIN_PROG,
                     "%s: %s: cannot load the directory: %s (it needs %s/ and a %s signed by "
                     "this region's authority)",
                     command, region, fx_strerror(rc), FX_REGION_CERT_DIR, FX_REGION_CRL_FILE);
        return fx_err_exit(rc);
    }
    for (size_t i = 0; i < fx_directory_problem_count(*dir_p); i++) {
        const char *source, *detail;
        (void) fx_directory_problem(*dir_p, i, &source, &detail);
        fx_cli_error(ADMIN_PROG, "warning: %s: %s; skipped (not trusted)", source, detail);
    }
    return FX_EXIT_OK;
}

static void s_roles_text(uint32_t mask, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int v = 1; v < 32; v++) {
        const char *name = (mask & (1u << v)) ? fx_vocab_name(FX_VOCAB_ROLE, v) : NULL;
        if (!name)
            continue;
        int n = snprintf(buf + used, size - used, "%s%s", used ? "," : "", name);
        if (n < 0 || (size_t) n >= size - used)
            break;
        used += (size_t) n;
    }
}

/* Signs and writes a new revocation list: previous's serials plus serial, sequence + 1. */
static int s_write_revocations(const char *command, const char *region, const fx_keys_t *authority,
                               const fx_revocations_t *previous, uint64_t serial,
                               uint64_t *sequence_p)
{
    fx_revocations_t *list = fx_revocations_new(previous);
    uint8_t *data = NULL;
    size_t len = 0;
    char *path = s_path(region, FX_REGION_CRL_FILE);
    fx_err_t rc = fx_revocations_add(list, serial);
    if (rc == FX_OK)
        rc = fx_revocations_sign(list, authority, fx_now_ms(), &data, &len);
    if (rc == FX_OK)
        rc = fx_file_write(path, data, len, 0644, 0);
    int status = rc == FX_OK ? FX_EXIT_OK : s_fail(command, path, rc);
    if (sequence_p)
        *sequence_p = fx_revocations_sequence(list);
    fx_revocations_destroy(&list);
    free(data);
    free(path);
    return status;
}

/* Reads REGION/serial and stores the one after it, before the serial is used, so a crash can
 * waste a serial but never hand one out twice. */
static int s_next_serial(const char *command, const char *region, uint64_t *serial_p)
{
    char *path = s_path(region, "serial");
    uint8_t *data = NULL;
    size_t len = 0;
    int status = FX_EXIT_OK;
    fx_err_t rc = fx_file_read(path, 64, &data, &len);
    if (rc != FX_OK) {
        status = admin_read_failed(command, path, rc);
        goto cleanup;
    }
    char *end = NULL;
    errno = 0;
    unsigned long long serial = strtoull((const char *) data, &end, 10);
    if (errno || serial == 0 || serial == UINT64_MAX || end == (char *) data ||
        (*end != '\n' && *end != '\0')) {
        fx_cli_error(ADMIN_PROG, "%s: %s: not a serial number (one positive decimal number)",
                     command, path);
        status = FX_EXIT_USAGE;
        goto cleanup;
    }
    char next[32];
    int n = snprintf(next, sizeof next, "%llu\n", serial + 1);
    rc = fx_file_write(path, next, (size_t) n, 0600, 0);
    if (rc != FX_OK) {
        status = s_fail(command, path, rc);
        goto cleanup;
    }
    *serial_p = serial;
cleanup:
    free(data);
    free(path);
    return status;
}

/* ---------------------------------------------------------------------------------------------
 * init */

static void s_init_help(void)
{
    printf(
        "Usage: %s init REGION [--authority-id ID]\n\n"
        "Creates a new region in the directory REGION (which must not exist or be empty):\n"
        "the registry authority's secret key (REGION/authority.key, mode 0600), its public\n"
        "key file to give to brokers and agents (REGION/authority.pub), an empty certificate\n"
        "directory, a signed empty revocation list and the serial counter. See docs/region.md.\n\n"
        "Options:\n"
        "  --authority-id ID  the authority's principal id (default %s)\n"
        "  -h, --help         this help\n",
        ADMIN_PROG, DEFAULT_AUTHORITY_ID);
    fx_cli_print_exit_codes();
}

/* 1 if path is a directory with no entries, 0 if it has some, -1 if it is not a directory. */
static int s_dir_empty(const char *path)
{
    DIR *dir = opendir(path);
    if (!dir)
        return -1;
    struct dirent *entry;
    int empty = 1;
    while ((entry = readdir(dir)))
        if (strcmp(entry->d_name, ".") != 0 && strcmp(entry->d_name, "..") != 0)
            empty = 0;
    closedir(dir);
    return empty;
}

int admin_init(int argc, char **argv)
{
    static const struct option options[] = {
        {"authority-id", required_argument, NULL, 'a'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *authority_id = DEFAULT_AUTHORITY_ID;
    int opt;
    opterr = 0;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        if (opt == 'a')
            authority_id = optarg;
        else if (opt == 'h') {
            s_init_help();
            return FX_EXIT_OK;
        } else
            return admin_unknown_option("init", argv);
    }
    if (argc - optind != 1) {
        fx_cli_error(ADMIN_PROG, "init: give exactly one REGION directory (try '%s init --help')",
                     ADMIN_PROG);
        return FX_EXIT_USAGE;
    }
    const char *region = argv[optind];
    if (region[0] == '\0') {
        fx_cli_error(ADMIN_PROG,
                     "init: the REGION directory is an empty name (try '%s init --help')",
                     ADMIN_PROG);
        return FX_EXIT_USAGE;
    }
    if (!fx_principal_id_valid(authority_id)) {
        fx_cli_error(ADMIN_PROG,
                     "init: '%s' is not a valid authority id (COUNTRY.AGENCY.UNIT, e.g. %s)",
                     authority_id, DEFAULT_AUTHORITY_ID);
        return FX_EXIT_USAGE;
    }
    struct stat st;
    if (stat(region, &st) == 0) {
        int empty = s_dir_empty(region);
        if (empty != 1) {
            fx_cli_error(ADMIN_PROG,
                         "init: %s: %s; refusing to create a region there (choose a new "
                         "directory)",
                         region, empty < 0 ? "exists and is not a directory" : "is not empty");
            return FX_EXIT_USAGE;
        }
    } else if (fx_mkdir_p(region) != 0) {
        fx_cli_error(ADMIN_PROG, "init: %s: cannot create the directory: %s", region,
                     strerror(errno));
        return FX_EXIT_SYSTEM;
    }

    int status = FX_EXIT_OK;
    fx_keys_t *authority = fx_keys_new(authority_id);
    char *key_path = s_path(region, "authority.key"), *pub_path = s_path(region, "authority.pub");
    char *cert_dir = s_path(region, FX_REGION_CERT_DIR), *serial_path = s_path(region, "serial");
    fx_err_t rc;
    if ((rc = fx_keys_save(authority, key_path)) != FX_OK) {
        status = s_fail("init", key_path, rc);
        goto cleanup;
    }
    if ((rc = fx_authority_key_save(pub_path, fx_keys_sign_public(authority))) != FX_OK) {
        status = s_fail("init", pub_path, rc);
        goto cleanup;
    }
    if (mkdir(cert_dir, 0755) != 0) {
        fx_cli_error(ADMIN_PROG, "init: %s: %s", cert_dir, strerror(errno));
        status = FX_EXIT_SYSTEM;
        goto cleanup;
    }
    {
        fx_revocations_t *empty = fx_revocations_new(NULL);
        uint8_t *data = NULL;
        size_t len = 0;
        char *crl_path = s_path(region, FX_REGION_CRL_FILE);
        rc = fx_revocations_sign(empty, authority, fx_now_ms(), &data, &len);
        if (rc == FX_OK)
            rc = fx_file_write(crl_path, data, len, 0644, 1);
        if (rc != FX_OK)
            status = s_fail("init", crl_path, rc);
        fx_revocations_destroy(&empty);
        free(data);
        free(crl_path);
        if (status != FX_EXIT_OK)
            goto cleanup;
    }
    if ((rc = fx_file_write(serial_path, "1\n", 2, 0600, 1)) != FX_OK) {
        status = s_fail("init", serial_path, rc);
        goto cleanup;
    }
    char fp[FX_FINGERPRINT_BUFSIZE];
    fx_fingerprint(fx_keys_sign_public(authority), fp);
    printf("Created region %s for authority %s\n"
           "  secret key:  %s (mode 0600; keep it off networked machines and back it up)\n"
           "  public key:  %s (give it to every broker and agent)\n"
           "  fingerprint: %s\n"
           "Publish the fingerprint through a second channel so agencies can check the public "
           "key file they receive.\n",
           region, authority_id, key_path, pub_path, fp);
cleanup:
    fx_keys_destroy(&authority);
    free(key_path);
    free(pub_path);
    free(cert_dir);
    free(serial_path);
    return status;
}

/* ---------------------------------------------------------------------------------------------
 * enroll */

static void s_enroll_help(void)
{
    char roles[512];
    fx_vocab_list(FX_VOCAB_ROLE, roles, sizeof roles);
    printf("Usage: %s enroll [--region REGION] REQUEST_FILE --roles ROLE[,ROLE...] [--days N]\n"
           "                    [--fingerprint FP] [--replace]\n\n"
           "Verifies an enrolment request (the .request file of 'fusion-agent keygen'), shows\n"
           "the requester's fingerprint, and issues a certificate signed by the region's\n"
           "authority into REGION/directory/ID.cert. Read the fingerprint back to the officer\n"
           "by telephone or in person: enrol only if it matches the one their keygen printed.\n\n"
           "Options:\n"
           "  --region REGION   the region (default: $FUSION_REGION)\n"
           "  --roles LIST      comma-separated roles, at least one of:\n"
           "                    %s\n"
           "  --days N          validity in days, 1 to %d (default %d)\n"
           "  --fingerprint FP  refuse unless the request's fingerprint is FP (as read aloud)\n"
           "  --replace         replace the certificate of an id already enrolled; the old\n"
           "                    certificate is revoked first\n"
           "  -h, --help        this help\n",
           ADMIN_PROG, roles, MAX_DAYS, DEFAULT_DAYS);
    fx_cli_print_exit_codes();
}

/* Compares fingerprints ignoring case, dashes and spaces, as people read them aloud. */
static int s_fingerprint_matches(const char *given, const char *actual)
{
    char a[64], b[64];
    size_t n = 0, m = 0;
    for (const char *p = given; *p && n < sizeof a - 1; p++)
        if (*p != '-' && *p != ' ')
            a[n++] = (char) ((*p >= 'a' && *p <= 'z') ? *p - 32 : *p);
    for (const char *p = actual; *p && m < sizeof b - 1; p++)
        if (*p != '-')
            b[m++] = *p;
    a[n] = b[m] = '\0';
    return strcmp(a, b) == 0;
}

static int s_parse_days(const char *text, int *days_p)
{
    char *end = NULL;
    errno = 0;
    long days = strtol(text, &end, 10);
    if (errno || end == text || *end || days < 1 || days > MAX_DAYS)
        return -1;
    *days_p = (int) days;
    return 0;
}

/* Reads and verifies the request file, with errors that say what the file should be. */
static int s_read_request(const char *path, fx_request_t **req_p)
{
    uint8_t *data = NULL;
    size_t len = 0;
    fx_err_t rc = fx_file_read(path, 64 << 10, &data, &len);
    if (rc == FX_ERR_NOT_FOUND) {
        fx_cli_error(ADMIN_PROG,
                     "enroll: %s: no such request file (expected the ID.request file written by "
                     "'fusion-agent keygen')",
                     path);
        return FX_EXIT_USAGE;
    }
    if (rc != FX_OK)
        return admin_read_failed("enroll", path, rc);
    rc = fx_request_verify(data, len, req_p);
    free(data);
    if (rc == FX_ERR_BAD_SIGNATURE) {
        fx_cli_error(ADMIN_PROG,
                     "enroll: %s: the request is not signed by the key it asks to certify (altered "
                     "or forged); do not enrol it",
                     path);
        return FX_EXIT_REFUSED;
    }
    if (rc != FX_OK) {
        fx_cli_error(ADMIN_PROG, "enroll: %s: not a valid enrolment request: %s", path,
                     fx_strerror(rc));
        return fx_err_exit(rc);
    }
    return FX_EXIT_OK;
}

int admin_enroll(int argc, char **argv)
{
    static const struct option options[] = {
        {"region", required_argument, NULL, 'r'},
        {"roles", required_argument, NULL, 'R'},
        {"days", required_argument, NULL, 'd'},
        {"fingerprint", required_argument, NULL, 'f'},
        {"replace", no_argument, NULL, 'x'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *region_opt = NULL, *roles_text = NULL, *days_text = NULL, *expect_fp = NULL;
    int replace = 0, opt;
    opterr = 0;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (opt) {
        case 'r':
            region_opt = optarg;
            break;
        case 'R':
            roles_text = optarg;
            break;
        case 'd':
            days_text = optarg;
            break;
        case 'f':
            expect_fp = optarg;
            break;
        case 'x':
            replace = 1;
            break;
        case 'h':
            s_enroll_help();
            return FX_EXIT_OK;
        default:
            return admin_unknown_option("enroll", argv);
        }
    }
    if (argc - optind != 1) {
        fx_cli_error(ADMIN_PROG, "enroll: give exactly one REQUEST_FILE (try '%s enroll --help')",
                     ADMIN_PROG);
        return FX_EXIT_USAGE;
    }
    const char *request_path = argv[optind];
    uint32_t roles = 0;
    char bad[64], valid[512];
    if (!roles_text) {
        fx_vocab_list(FX_VOCAB_ROLE, valid, sizeof valid);
        fx_cli_error(ADMIN_PROG, "enroll: --roles is required (one or more of: %s)", valid);
        return FX_EXIT_USAGE;
    }
    bad[0] = '\0';
    if (fx_vocab_parse_mask(FX_VOCAB_ROLE, roles_text, &roles, bad, sizeof bad) != 0 ||
        roles == 0) {
        fx_vocab_list(FX_VOCAB_ROLE, valid, sizeof valid);
        if (bad[0])
            fx_cli_error(ADMIN_PROG, "enroll: unknown role '%s' (expected one or more of: %s)", bad,
                         valid);
        else
            fx_cli_error(ADMIN_PROG,
                         "enroll: --roles '%s' has an empty role (expected a comma-separated "
                         "list of: %s)",
                         roles_text, valid);
        return FX_EXIT_USAGE;
    }
    int days = DEFAULT_DAYS;
    if (days_text && s_parse_days(days_text, &days) != 0) {
        fx_cli_error(ADMIN_PROG, "enroll: --days '%s' is not a whole number from 1 to %d",
                     days_text, MAX_DAYS);
        return FX_EXIT_USAGE;
    }
    const char *region = admin_region("enroll", region_opt);
    if (!region)
        return FX_EXIT_USAGE;

    fx_request_t *req = NULL;
    fx_keys_t *authority = NULL;
    fx_directory_t *dir = NULL;
    uint8_t *cert_data = NULL;
    size_t cert_len = 0;
    char *cert_path = NULL;
    int lock_fd = -1;
    int status = s_read_request(request_path, &req);
    if (status != FX_EXIT_OK)
        goto cleanup;
    const char *id = fx_request_id(req);
    char fp[FX_FINGERPRINT_BUFSIZE];
    fx_request_fingerprint(req, fp);
    printf("Request for %s, fingerprint %s\n"
           "  Confirm this fingerprint aloud with the officer; it must match theirs.\n",
           id, fp);
    fflush(stdout);
    if (expect_fp && !s_fingerprint_matches(expect_fp, fp)) {
        fx_cli_error(ADMIN_PROG,
                     "enroll: %s: the request's fingerprint is %s, not %s; the request may have "
                     "been substituted: nothing was enrolled",
                     request_path, fp, expect_fp);
        status = FX_EXIT_REFUSED;
        goto cleanup;
    }

    if ((lock_fd = s_lock_region("enroll", region)) < 0) {
        status = FX_EXIT_SYSTEM;
        goto cleanup;
    }
    if ((status = admin_load_authority("enroll", region, &authority)) != FX_EXIT_OK)
        goto cleanup;
    if ((status = s_load_directory("enroll", region, fx_keys_sign_public(authority), &dir)) !=
        FX_EXIT_OK)
        goto cleanup;

    const fx_cert_t *existing = NULL;
    fx_cert_status_t existing_status = fx_directory_status(dir, id, &existing);
    if (existing && !replace) {
        fx_cli_error(ADMIN_PROG,
                     "enroll: %s is already enrolled (serial %" PRIu64 ", %s); use --replace to "
                     "issue a new certificate and revoke the old one",
                     id, fx_cert_serial(existing), fx_cert_status_name(existing_status));
        status = fx_err_exit(FX_ERR_EXISTS);
        goto cleanup;
    }
    if (memcmp(fx_request_sign_key(req), fx_keys_sign_public(authority), FX_KEY_BYTES) == 0) {
        fx_cli_error(ADMIN_PROG, "enroll: %s: the request carries the authority's own key",
                     request_path);
        status = FX_EXIT_REFUSED;
        goto cleanup;
    }
    for (size_t i = 0; i < fx_directory_count(dir); i++) {
        const fx_cert_t *other = fx_directory_at(dir, i);
        if (strcmp(fx_cert_id(other), id) != 0 &&
            memcmp(fx_cert_sign_key(other), fx_request_sign_key(req), FX_KEY_BYTES) == 0) {
            fx_cli_error(ADMIN_PROG,
                         "enroll: %s: the request's signing key is already certified for %s; "
                         "each principal must generate its own keys",
                         request_path, fx_cert_id(other));
            status = FX_EXIT_REFUSED;
            goto cleanup;
        }
    }

    uint64_t serial = 0;
    if ((status = s_next_serial("enroll", region, &serial)) != FX_EXIT_OK)
        goto cleanup;
    /* A replaced certificate is revoked before the new one is written: if writing the new one
     * fails, the principal has no valid certificate, rather than two. */
    if (existing && existing_status != FX_CERT_STATUS_REVOKED &&
        (status = s_write_revocations("enroll", region, authority, fx_directory_revocations(dir),
                                      fx_cert_serial(existing), NULL)) != FX_EXIT_OK)
        goto cleanup;
    int64_t now = fx_now_ms();
    int64_t not_before = (now - BACKDATE_MS) / 1000 * 1000;
    int64_t not_after = (now + days * DAY_MS) / 1000 * 1000;
    fx_err_t rc =
        fx_cert_issue(authority, req, roles, serial, not_before, not_after, &cert_data, &cert_len);
    cert_path = s_cert_path(region, id);
    if (rc == FX_OK)
        rc = fx_file_write(cert_path, cert_data, cert_len, 0644, !existing && !replace);
    if (rc != FX_OK) {
        status = s_fail("enroll", cert_path, rc);
        goto cleanup;
    }
    char roles_buf[512], until[FX_TIME_BUFSIZE];
    s_roles_text(roles, roles_buf, sizeof roles_buf);
    fx_time_format(not_after, until);
    printf("Enrolled %s: serial %" PRIu64 ", roles %s, valid until %s, fingerprint %s%s -> %s\n",
           id, serial, roles_buf, until, fp,
           existing ? ", replacing the old certificate (revoked)" : "", cert_path);
cleanup:
    if (lock_fd >= 0)
        close(lock_fd);
    free(cert_path);
    free(cert_data);
    fx_directory_destroy(&dir);
    fx_keys_destroy(&authority);
    fx_request_destroy(&req);
    return status;
}

/* ---------------------------------------------------------------------------------------------
 * revoke */

static void s_revoke_help(void)
{
    printf("Usage: %s revoke [--region REGION] ID\n\n"
           "Revokes the certificate of principal ID: writes a new revocation list, signed by the\n"
           "authority, with the certificate's serial added and the sequence number raised by one.\n"
           "Brokers refuse the principal once they reload (SIGHUP).\n\n"
           "Options:\n"
           "  --region REGION  the region (default: $FUSION_REGION)\n"
           "  -h, --help       this help\n",
           ADMIN_PROG);
    fx_cli_print_exit_codes();
}

int admin_revoke(int argc, char **argv)
{
    static const struct option options[] = {
        {"region", required_argument, NULL, 'r'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *region_opt = NULL;
    int opt;
    opterr = 0;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        if (opt == 'r')
            region_opt = optarg;
        else if (opt == 'h') {
            s_revoke_help();
            return FX_EXIT_OK;
        } else
            return admin_unknown_option("revoke", argv);
    }
    if (argc - optind != 1) {
        fx_cli_error(ADMIN_PROG, "revoke: give exactly one principal ID (try '%s revoke --help')",
                     ADMIN_PROG);
        return FX_EXIT_USAGE;
    }
    const char *id = argv[optind];
    if (!fx_principal_id_valid(id)) {
        fx_cli_error(ADMIN_PROG, "revoke: '%s' is not a principal id (COUNTRY.AGENCY.UNIT)", id);
        return FX_EXIT_USAGE;
    }
    const char *region = admin_region("revoke", region_opt);
    if (!region)
        return FX_EXIT_USAGE;

    fx_keys_t *authority = NULL;
    fx_directory_t *dir = NULL;
    int status, lock_fd = s_lock_region("revoke", region);
    if (lock_fd < 0)
        return FX_EXIT_SYSTEM;
    if ((status = admin_load_authority("revoke", region, &authority)) != FX_EXIT_OK)
        goto cleanup;
    if ((status = s_load_directory("revoke", region, fx_keys_sign_public(authority), &dir)) !=
        FX_EXIT_OK)
        goto cleanup;
    const fx_cert_t *cert = NULL;
    fx_cert_status_t cert_status = fx_directory_status(dir, id, &cert);
    if (!cert) {
        fx_cli_error(ADMIN_PROG, "revoke: %s is not enrolled in %s (see '%s directory')", id,
                     region, ADMIN_PROG);
        status = fx_err_exit(FX_ERR_NOT_FOUND);
        goto cleanup;
    }
    if (cert_status == FX_CERT_STATUS_REVOKED) {
        printf("%s (serial %" PRIu64 ") is already revoked; nothing changed\n", id,
               fx_cert_serial(cert));
        goto cleanup;
    }
    uint64_t sequence = 0;
    status = s_write_revocations("revoke", region, authority, fx_directory_revocations(dir),
                                 fx_cert_serial(cert), &sequence);
    if (status == FX_EXIT_OK)
        printf("Revoked %s (serial %" PRIu64 "); revocation list sequence %" PRIu64
               ". Reload the brokers (SIGHUP) to refuse it at once.\n",
               id, fx_cert_serial(cert), sequence);
cleanup:
    close(lock_fd);
    fx_directory_destroy(&dir);
    fx_keys_destroy(&authority);
    return status;
}

/* ---------------------------------------------------------------------------------------------
 * directory */

static void s_directory_help(void)
{
    printf("Usage: %s directory [--region REGION] [--json]\n\n"
           "Lists the region's principals: id, roles, fingerprint, end of validity and status\n"
           "(valid, revoked, expired, not_yet_valid). Only REGION/authority.pub is needed, not\n"
           "the secret key. Certificate files that do not verify are reported on stderr, left\n"
           "out of the list, and make the exit code 1.\n\n"
           "Options:\n"
           "  --region REGION  the region (default: $FUSION_REGION)\n"
           "  --json           JSON: {\"authority\", \"revocations\", \"principals\": [...],\n"
           "                   \"problems\": [...]}\n"
           "  -h, --help       this help\n",
           ADMIN_PROG);
    fx_cli_print_exit_codes();
}

static json_t *s_directory_json(const fx_directory_t *dir, const uint8_t *authority_key)
{
    char fp[FX_FINGERPRINT_BUFSIZE], t[FX_TIME_BUFSIZE];
    json_t *root = json_object(), *principals = json_array(), *problems = json_array();
    fx_fingerprint(authority_key, fp);
    json_object_set_new(root, "authority", json_pack("{s:s}", "fingerprint", fp));
    const fx_revocations_t *crl = fx_directory_revocations(dir);
    fx_time_format(fx_revocations_issued_at(crl), t);
    json_object_set_new(root, "revocations",
                        json_pack("{s:I,s:s,s:I}", "sequence",
                                  (json_int_t) fx_revocations_sequence(crl), "issued_at", t,
                                  "count", (json_int_t) fx_revocations_count(crl)));
    for (size_t i = 0; i < fx_directory_count(dir); i++) {
        const fx_cert_t *cert = fx_directory_at(dir, i);
        json_t *roles = json_array();
        for (int v = 1; v < 32; v++)
            if (fx_cert_has_role(cert, v) && fx_vocab_name(FX_VOCAB_ROLE, v))
                json_array_append_new(roles, json_string(fx_vocab_name(FX_VOCAB_ROLE, v)));
        char before[FX_TIME_BUFSIZE], after[FX_TIME_BUFSIZE];
        fx_cert_fingerprint(cert, fp);
        fx_time_format(fx_cert_not_before(cert), before);
        fx_time_format(fx_cert_not_after(cert), after);
        json_array_append_new(
            principals, json_pack("{s:s,s:s,s:s,s:o,s:I,s:s,s:s,s:s,s:s}", "id", fx_cert_id(cert),
                                  "country", fx_cert_country(cert), "agency", fx_cert_agency(cert),
                                  "roles", roles, "serial", (json_int_t) fx_cert_serial(cert),
                                  "fingerprint", fp, "not_before", before, "not_after", after,
                                  "status", fx_cert_status_name(fx_directory_status_at(dir, i))));
    }
    for (size_t i = 0; i < fx_directory_problem_count(dir); i++) {
        const char *source, *detail;
        fx_err_t err = fx_directory_problem(dir, i, &source, &detail);
        json_array_append_new(problems, json_pack("{s:s,s:s,s:s}", "file", source, "code",
                                                  fx_err_code(err), "reason", detail));
    }
    json_object_set_new(root, "principals", principals);
    json_object_set_new(root, "problems", problems);
    return root;
}

static void s_directory_text(const fx_directory_t *dir)
{
    printf("%-28s %-32s %-19s %-20s %s\n", "ID", "ROLES", "FINGERPRINT", "VALID UNTIL", "STATUS");
    for (size_t i = 0; i < fx_directory_count(dir); i++) {
        const fx_cert_t *cert = fx_directory_at(dir, i);
        char roles[512], fp[FX_FINGERPRINT_BUFSIZE], until[FX_TIME_BUFSIZE];
        s_roles_text(fx_cert_roles(cert), roles, sizeof roles);
        fx_cert_fingerprint(cert, fp);
        fx_time_format(fx_cert_not_after(cert), until);
        printf("%-28s %-32s %-19s %-20s %s\n", fx_cert_id(cert), roles, fp, until,
               fx_cert_status_name(fx_directory_status_at(dir, i)));
    }
    if (fx_directory_count(dir) == 0)
        printf("(no principals enrolled)\n");
}

int admin_directory(int argc, char **argv)
{
    static const struct option options[] = {
        {"region", required_argument, NULL, 'r'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *region_opt = NULL;
    int json = 0, opt;
    opterr = 0;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        if (opt == 'r')
            region_opt = optarg;
        else if (opt == 'j')
            json = 1;
        else if (opt == 'h') {
            s_directory_help();
            return FX_EXIT_OK;
        } else
            return admin_unknown_option("directory", argv);
    }
    if (argc - optind != 0) {
        fx_cli_error(ADMIN_PROG, "directory: unexpected argument '%s' (try '%s directory --help')",
                     argv[optind], ADMIN_PROG);
        return FX_EXIT_USAGE;
    }
    const char *region = admin_region("directory", region_opt);
    if (!region)
        return FX_EXIT_USAGE;
    uint8_t key[FX_KEY_BYTES];
    char *pub_path = s_path(region, "authority.pub");
    fx_err_t rc = fx_authority_key_load(pub_path, key);
    if (rc != FX_OK) {
        int status = admin_authority_failed("directory", pub_path, rc);
        free(pub_path);
        return status;
    }
    free(pub_path);
    fx_directory_t *dir = NULL;
    int status = s_load_directory("directory", region, key, &dir);
    if (status != FX_EXIT_OK)
        return status;
    if (json) {
        json_t *root = s_directory_json(dir, key);
        json_dumpf(root, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        fputc('\n', stdout);
        json_decref(root);
    } else {
        s_directory_text(dir);
    }
    status = fx_directory_problem_count(dir) ? FX_EXIT_NO : FX_EXIT_OK;
    fx_directory_destroy(&dir);
    return status;
}
