/* Small shared helpers: library start-up, allocation that aborts on exhaustion, whole-file I/O,
 * time in milliseconds since the Unix epoch (UTC), hex, and binary search. */
#ifndef FUSION_UTIL_H
#define FUSION_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "fusion/err.h"

#define FX_WUR __attribute__((warn_unused_result))

/* Initialises libsodium; aborts if it cannot. Call once at the start of every program. */
void fx_init(void);

/* Allocation that aborts the process when memory is exhausted. */
void *fx_malloc(size_t size);
void *fx_calloc(size_t count, size_t size);
void *fx_realloc(void *ptr, size_t size);
char *fx_strdup(const char *text);
char *fx_strndup(const char *text, size_t len);

/* Reads a whole file of at most max_bytes into a new buffer (NUL-terminated, caller frees).
 * FX_ERR_NOT_FOUND, FX_ERR_IO (errno says why), or FX_ERR_TOO_LARGE. The path "-" is a file of
 * that name: a caller that takes "-" for standard input says so (fx_stdin_read). Buffers it gives
 * up (growing, or on an error) are wiped first: the file may hold a secret. */
fx_err_t fx_file_read(const char *path, size_t max_bytes, uint8_t **data_p, size_t *len_p) FX_WUR;

/* fx_file_read of standard input, to its end. */
fx_err_t fx_stdin_read(size_t max_bytes, uint8_t **data_p, size_t *len_p) FX_WUR;

/* Writes a whole file atomically (temporary file, fsync, rename) with the given mode. With
 * exclusive set, refuses (FX_ERR_EXISTS) if path exists. Without, it replaces a regular file
 * and refuses (FX_ERR_EXISTS) anything else at path: a symbolic link, FIFO, device or
 * directory, which the rename would replace rather than write into. */
fx_err_t fx_file_write(const char *path, const void *data, size_t len, mode_t mode,
                       int exclusive) FX_WUR;

/* What to say of a failed fx_file_write to path: fx_strerror(err), or for something at path that
 * is not a regular file, that it is refused. */
const char *fx_file_write_strerror(const char *path, fx_err_t err);

/* Creates a directory and its parents (mode 0700 for new ones); 0 or -1. */
int fx_mkdir_p(const char *path);

/* Milliseconds since the Unix epoch, from the real-time clock. */
int64_t fx_now_ms(void);

/* Parses YYYY-MM-DD (00:00 UTC) or an RFC 3339 timestamp into milliseconds. 0 or -1. */
int fx_time_parse(const char *text, int64_t *ms_p) FX_WUR;

/* Formats ms as RFC 3339 UTC (2026-11-28T00:00:00Z, with .mmm when not whole seconds). */
#define FX_TIME_BUFSIZE 32
void fx_time_format(int64_t ms, char buf[FX_TIME_BUFSIZE]);

/* Lower-case hex of len bytes into out (2*len+1 bytes). Returns out. */
char *fx_hex(const uint8_t *bytes, size_t len, char *out);
/* The value of one hex digit (either case), or -1. */
int fx_hex_digit(int c);

/* The length of the UTF-8 sequence at s, of at most avail bytes: the shortest form of a code
 * point up to U+10FFFF that is not a surrogate; 0 when it is not one. */
size_t fx_utf8_sequence(const uint8_t *s, size_t avail);
/* Whether len bytes are well-formed UTF-8 (fx_utf8_sequence throughout). */
bool fx_utf8_valid(const uint8_t *s, size_t len);

/* The index of the first value >= value in an ascending array of count values (count if none). */
size_t fx_lower_bound_u64(const uint64_t *sorted, size_t count, uint64_t value);

#endif
