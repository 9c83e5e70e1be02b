/* Small shared helpers: start-up, allocation, whole-file I/O, time, hex, binary search. */
#include "fusion/util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

void fx_init(void)
{
    if (sodium_init() < 0) {
        fprintf(stderr, "fusion: libsodium could not be initialised\n");
        abort();
    }
}

static void s_out_of_memory(size_t size)
{
    fprintf(stderr, "fusion: out of memory (%zu bytes)\n", size);
    abort();
}

void *fx_malloc(size_t size)
{
    void *ptr = malloc(size ? size : 1);
    if (!ptr)
        s_out_of_memory(size);
    return ptr;
}

void *fx_calloc(size_t count, size_t size)
{
    void *ptr = calloc(count ? count : 1, size ? size : 1);
    if (!ptr)
        s_out_of_memory(count * size);
    return ptr;
}

void *fx_realloc(void *ptr, size_t size)
{
    void *grown = realloc(ptr, size ? size : 1);
    if (!grown)
        s_out_of_memory(size);
    return grown;
}

char *fx_strdup(const char *text)
{
    return fx_strndup(text, strlen(text));
}

char *fx_strndup(const char *text, size_t len)
{
    char *copy = fx_malloc(len + 1);
    memcpy(copy, text, len);
    copy[len] = '\0';
    return copy;
}

/* Reads file to its end into a new buffer of at most max_bytes. What it held may be a secret
 * (a section's text, a key file named by mistake): every buffer given up is wiped first, the
 * smaller ones as it grows and the last one when the file is too large or a read fails. */
static fx_err_t s_read_stream(FILE *file, size_t max_bytes, uint8_t **data_p, size_t *len_p)
{
    size_t cap = 4096, len = 0;
    uint8_t *data = fx_malloc(cap);
    fx_err_t rc = FX_OK;
    for (;;) {
        if (len + 1 >= cap) { /* not realloc: it would free the old buffer as it is */
            uint8_t *grown = fx_malloc(2 * cap);
            memcpy(grown, data, len);
            sodium_memzero(data, cap);
            free(data);
            data = grown;
            cap *= 2;
        }
        size_t got = fread(data + len, 1, cap - len - 1, file);
        len += got;
        if (len > max_bytes) {
            rc = FX_ERR_TOO_LARGE;
            break;
        }
        if (got == 0) {
            if (ferror(file))
                rc = FX_ERR_IO;
            break;
        }
    }
    if (rc != FX_OK) {
        int saved = errno;
        sodium_memzero(data, cap);
        free(data);
        errno = saved;
        return rc;
    }
    data[len] = '\0';
    *data_p = data;
    *len_p = len;
    return FX_OK;
}

fx_err_t fx_file_read(const char *path, size_t max_bytes, uint8_t **data_p, size_t *len_p)
{
    *data_p = NULL;
    *len_p = 0;
    FILE *file = fopen(path, "rb");
    if (!file)
        return errno == ENOENT ? FX_ERR_NOT_FOUND : FX_ERR_IO;
    fx_err_t rc = s_read_stream(file, max_bytes, data_p, len_p);
    int saved = errno;
    fclose(file);
    errno = saved;
    return rc;
}

fx_err_t fx_stdin_read(size_t max_bytes, uint8_t **data_p, size_t *len_p)
{
    *data_p = NULL;
    *len_p = 0;
    return s_read_stream(stdin, max_bytes, data_p, len_p);
}

/* 1 if something other than a regular file is at path (not following a symbolic link). */
static int s_not_regular(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0 && !S_ISREG(st.st_mode);
}

fx_err_t fx_file_write(const char *path, const void *data, size_t len, mode_t mode, int exclusive)
{
    if (exclusive && access(path, F_OK) == 0)
        return FX_ERR_EXISTS;
    if (s_not_regular(path))
        return FX_ERR_EXISTS;
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long) getpid()) >= (int) sizeof tmp)
        return FX_ERR_INVALID;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0)
        return FX_ERR_IO;
    const uint8_t *bytes = data;
    size_t done = 0;
    while (done < len) {
        ssize_t wrote = write(fd, bytes + done, len - done);
        if (wrote < 0 && errno == EINTR)
            continue;
        if (wrote <= 0)
            break;
        done += (size_t) wrote;
    }
    int failed = done != len || fchmod(fd, mode) != 0 || fsync(fd) != 0;
    failed = close(fd) != 0 || failed;
    if (!failed && exclusive) {
        /* link() fails if path appeared meanwhile, so a concurrent writer is never clobbered. */
        failed = link(tmp, path) != 0;
        int existed = failed && errno == EEXIST;
        unlink(tmp);
        return existed ? FX_ERR_EXISTS : failed ? FX_ERR_IO : FX_OK;
    }
    if (failed || rename(tmp, path) != 0) {
        unlink(tmp);
        return FX_ERR_IO;
    }
    return FX_OK;
}

const char *fx_file_write_strerror(const char *path, fx_err_t err)
{
    if (err == FX_ERR_EXISTS && s_not_regular(path))
        return "not a regular file (a symbolic link, FIFO, device or directory); refusing to "
               "replace it";
    return fx_strerror(err);
}

int fx_mkdir_p(const char *path)
{
    char buf[PATH_MAX];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int) sizeof buf)
        return -1;
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0700) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    if (mkdir(buf, 0700) != 0 && errno != EEXIST)
        return -1;
    return 0;
}

int64_t fx_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Reads exactly n decimal digits. */
static int s_digits(const char **p, int n, int *value)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return -1;
        v = v * 10 + (c - '0');
    }
    *p += n;
    *value = v;
    return 0;
}

static int64_t s_days_from_civil(int y, int m, int d)
{
    /* Days since 1970-01-01 in the proleptic Gregorian calendar. */
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int s_days_in_month(int y, int m)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : days[m - 1];
}

int fx_time_parse(const char *text, int64_t *ms_p)
{
    const char *p = text;
    int y, mo, d, h = 0, mi = 0, s = 0, frac_ms = 0;
    if (s_digits(&p, 4, &y) || *p++ != '-' || s_digits(&p, 2, &mo) || *p++ != '-' ||
        s_digits(&p, 2, &d))
        return -1;
    if (mo < 1 || mo > 12 || d < 1 || d > s_days_in_month(y, mo))
        return -1;
    int64_t offset_min = 0;
    if (*p != '\0') {
        if (*p != 'T' && *p != 't')
            return -1;
        p++;
        if (s_digits(&p, 2, &h) || *p++ != ':' || s_digits(&p, 2, &mi) || *p++ != ':' ||
            s_digits(&p, 2, &s))
            return -1;
        if (h > 23 || mi > 59 || s > 60)
            return -1;
        if (*p == '.') {
            p++;
            int n = 0;
            while (*p >= '0' && *p <= '9') {
                if (n < 3)
                    frac_ms = frac_ms * 10 + (*p - '0');
                n++;
                p++;
            }
            if (n == 0)
                return -1;
            for (; n < 3; n++)
                frac_ms *= 10;
        }
        if (*p == 'Z' || *p == 'z') {
            p++;
        } else if (*p == '+' || *p == '-') {
            int sign = *p++ == '-' ? -1 : 1, oh, om;
            if (s_digits(&p, 2, &oh) || *p++ != ':' || s_digits(&p, 2, &om) || oh > 23 || om > 59)
                return -1;
            offset_min = sign * (oh * 60 + om);
        } else {
            return -1;
        }
        if (*p != '\0')
            return -1;
    }
    if (s == 60)
        s = 59; /* a leap second is read as the last second of its minute */
    int64_t secs = s_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s - offset_min * 60;
    *ms_p = secs * 1000 + frac_ms;
    return 0;
}

void fx_time_format(int64_t ms, char buf[FX_TIME_BUFSIZE])
{
    time_t secs = (time_t) (ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
    int rem = (int) (ms - (int64_t) secs * 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    size_t n = strftime(buf, FX_TIME_BUFSIZE, "%Y-%m-%dT%H:%M:%S", &tm);
    if (rem)
        snprintf(buf + n, FX_TIME_BUFSIZE - n, ".%03dZ", rem);
    else
        snprintf(buf + n, FX_TIME_BUFSIZE - n, "Z");
}

int fx_hex_digit(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

size_t fx_utf8_sequence(const uint8_t *s, size_t avail)
{
    if (avail == 0)
        return 0;
    uint8_t c = s[0];
    if (c < 0x80)
        return 1;
    size_t more;
    uint32_t code, min;
    if (c >= 0xC2 && c <= 0xDF)
        more = 1, code = c & 0x1F, min = 0x80;
    else if (c >= 0xE0 && c <= 0xEF)
        more = 2, code = c & 0x0F, min = 0x800;
    else if (c >= 0xF0 && c <= 0xF4)
        more = 3, code = c & 0x07, min = 0x10000;
    else
        return 0;
    if (avail <= more)
        return 0;
    for (size_t i = 1; i <= more; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        code = code << 6 | (s[i] & 0x3F);
    }
    if (code < min || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF))
        return 0;
    return more + 1;
}

bool fx_utf8_valid(const uint8_t *s, size_t len)
{
    for (size_t i = 0, n; i < len; i += n)
        if ((n = fx_utf8_sequence(s + i, len - i)) == 0)
            return false;
    return true;
}

char *fx_hex(const uint8_t *bytes, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[bytes[i] >> 4];
        out[2 * i + 1] = digits[bytes[i] & 15];
    }
    out[2 * len] = '\0';
    return out;
}

size_t fx_lower_bound_u64(const uint64_t *sorted, size_t count, uint64_t value)
{
    size_t lo = 0, hi = count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (sorted[mid] < value)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}
