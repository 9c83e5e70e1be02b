/* The store's VFS (lib/store_vfs.h): every call goes to the base VFS's file, except that the
 * writes to a WAL file, and to a database file in WAL mode (those are a checkpoint's: the pages
 * it copies back, in the order of their page numbers, mostly one after another), are held in a
 * buffer while each continues the one before, and the buffer goes to the file in one write:
 *
 *   - before the file is synced (a commit under synchronous = FULL, or the end of a
 *     checkpoint), read where the buffer holds, sized or truncated, or given a file control;
 *   - before a write that does not continue it, and when it is full;
 *   - before any lock of the file or of the database's shared memory changes, and before the
 *     database's shared-memory barrier. SQLite passes the barrier between the two copies of the
 *     WAL-index header it writes when it publishes a commit to other connections, and a
 *     checkpoint says how far it copied while it holds a lock that keeps readers off the
 *     database file: so no connection can be told of a frame or a copied page that is not in
 *     its file, whatever the synchronous setting;
 *   - when the file is closed.
 *
 * A write inside what the buffer holds (SQLite rewriting a frame of the same transaction) is
 * copied into it. A failed write of the buffer is answered to the call that caused it, or, when
 * that was a barrier or a lock, which cannot answer for it, to the next write, read or sync. A
 * database file is a WAL-mode one once it maps the shared memory (the store never leaves WAL
 * mode): before that, as while SQLite switches it to WAL, its writes go straight through. */
#include "store_vfs.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What one buffer holds: 31 WAL frames of 4 KiB pages, under the 128 KiB that SQLite's unix VFS
 * writes at most in one call (it masks the length with 0x1ffff: a longer write comes out short,
 * which it reports as a full disk). */
#define BATCH_BYTES (31 * (4096 + 24))
_Static_assert(BATCH_BYTES <= 0x1ffff, "one write of the unix VFS takes the whole buffer");
/* Enough for SQLite's default VFS and one a caller names (the tests' fault injection). */
#define MAX_BASES 4

typedef struct batch_file batch_file_t;
struct batch_file {
    sqlite3_file base;  /* pMethods: s_io; SQLite's handle on this file */
    sqlite3_file *real; /* the base VFS's file, stored right after this struct */
    batch_file_t *wal;  /* a main database: its WAL while that is open, or NULL */
    batch_file_t *db;   /* a WAL: its main database, or NULL */
    uint8_t *buf;       /* the held writes (allocated at the first), or NULL */
    size_t len;         /* bytes held */
    sqlite3_int64 at;   /* the file offset of buf[0] */
    int deferred;       /* a failed write of the buffer that no call could answer yet */
    int batching;       /* a WAL, or a database file in WAL mode */
};

/* Where the base's file starts in SQLite's allocation of szOsFile bytes. */
#define REAL_OFFSET ((sizeof(batch_file_t) + 15) & ~(size_t) 15)

typedef struct {
    sqlite3_vfs vfs;
    char base[48]; /* the base's name, "" for the default */
    char name[64];
} batching_t;

static batching_t s_batchings[MAX_BASES];
static int s_registered;
static pthread_mutex_t s_lock = PTHREAD_MUTEX_INITIALIZER;

static sqlite3_vfs *s_base(sqlite3_vfs *vfs)
{
    return vfs->pAppData;
}

/* Writes what the buffer holds and empties it, whatever the outcome. */
static int s_flush(batch_file_t *f)
{
    if (f->len == 0)
        return SQLITE_OK;
    int rc = f->real->pMethods->xWrite(f->real, f->buf, (int) f->len, f->at);
    f->len = 0;
    return rc;
}

/* A deferred failure, once, or what writing the buffer now gives. */
static int s_flush_answer(batch_file_t *f)
{
    int rc = s_flush(f);
    if (rc == SQLITE_OK && f->deferred != SQLITE_OK)
        rc = f->deferred;
    f->deferred = SQLITE_OK;
    return rc;
}

/* Writes the buffer where the caller cannot answer for a failure: kept for the next call. */
static void s_flush_deferring(batch_file_t *f)
{
    int rc = s_flush(f);
    if (rc != SQLITE_OK && f->deferred == SQLITE_OK)
        f->deferred = rc;
}

static int s_close(sqlite3_file *file)
{
    batch_file_t *f = (batch_file_t *) file;
    int flushed = s_flush_answer(f);
    if (f->db && f->db->wal == f)
        f->db->wal = NULL;
    if (f->wal && f->wal->db == f)
        f->wal->db = NULL;
    free(f->buf);
    f->buf = NULL;
    int rc = f->real->pMethods->xClose(f->real);
    return rc != SQLITE_OK ? rc : flushed;
}

static int s_read(sqlite3_file *file, void *out, int n, sqlite3_int64 offset)
{
    batch_file_t *f = (batch_file_t *) file;
    if (f->deferred != SQLITE_OK ||
        (f->len > 0 && offset < f->at + (sqlite3_int64) f->len && offset + n > f->at)) {
        int rc = s_flush_answer(f);
        if (rc != SQLITE_OK)
            return rc;
    }
    return f->real->pMethods->xRead(f->real, out, n, offset);
}

static int s_write(sqlite3_file *file, const void *data, int n, sqlite3_int64 offset)
{
    batch_file_t *f = (batch_file_t *) file;
    if (!f->batching || n <= 0)
        return f->real->pMethods->xWrite(f->real, data, n, offset);
    if (f->deferred != SQLITE_OK)
        return s_flush_answer(f);
    sqlite3_int64 end = f->at + (sqlite3_int64) f->len;
    if (f->len > 0 && offset >= f->at && offset + n <= end) {
        memcpy(f->buf + (offset - f->at), data, (size_t) n);
        return SQLITE_OK;
    }
    if (f->len > 0 && offset == end && f->len + (size_t) n <= BATCH_BYTES) {
        memcpy(f->buf + f->len, data, (size_t) n);
        f->len += (size_t) n;
        return SQLITE_OK;
    }
    int rc = s_flush(f);
    if (rc != SQLITE_OK)
        return rc;
    if (!f->buf)
        f->buf = malloc(BATCH_BYTES);
    if (!f->buf || (size_t) n > BATCH_BYTES)
        return f->real->pMethods->xWrite(f->real, data, n, offset);
    memcpy(f->buf, data, (size_t) n);
    f->len = (size_t) n;
    f->at = offset;
    return SQLITE_OK;
}

static int s_truncate(sqlite3_file *file, sqlite3_int64 size)
{
    batch_file_t *f = (batch_file_t *) file;
    int rc = s_flush_answer(f);
    return rc != SQLITE_OK ? rc : f->real->pMethods->xTruncate(f->real, size);
}

static int s_sync(sqlite3_file *file, int flags)
{
    batch_file_t *f = (batch_file_t *) file;
    int rc = s_flush_answer(f);
    return rc != SQLITE_OK ? rc : f->real->pMethods->xSync(f->real, flags);
}

static int s_size(sqlite3_file *file, sqlite3_int64 *size)
{
    batch_file_t *f = (batch_file_t *) file;
    int rc = s_flush_answer(f);
    return rc != SQLITE_OK ? rc : f->real->pMethods->xFileSize(f->real, size);
}

static int s_lock_file(sqlite3_file *file, int lock)
{
    batch_file_t *f = (batch_file_t *) file;
    s_flush_deferring(f);
    return f->real->pMethods->xLock(f->real, lock);
}

static int s_unlock_file(sqlite3_file *file, int lock)
{
    batch_file_t *f = (batch_file_t *) file;
    s_flush_deferring(f);
    return f->real->pMethods->xUnlock(f->real, lock);
}

static int s_reserved(sqlite3_file *file, int *out)
{
    sqlite3_file *real = ((batch_file_t *) file)->real;
    return real->pMethods->xCheckReservedLock(real, out);
}

static int s_control(sqlite3_file *file, int op, void *arg)
{
    batch_file_t *f = (batch_file_t *) file;
    s_flush_deferring(f);
    return f->real->pMethods->xFileControl(f->real, op, arg);
}

static int s_sector(sqlite3_file *file)
{
    sqlite3_file *real = ((batch_file_t *) file)->real;
    return real->pMethods->xSectorSize(real);
}

static int s_device(sqlite3_file *file)
{
    sqlite3_file *real = ((batch_file_t *) file)->real;
    return real->pMethods->xDeviceCharacteristics(real);
}

/* A database file that maps the shared memory is in WAL mode: its writes are a checkpoint's. */
static int s_shm_map(sqlite3_file *file, int page, int size, int extend, void volatile **out)
{
    batch_file_t *f = (batch_file_t *) file;
    if (f->real->pMethods->iVersion < 2)
        return SQLITE_IOERR_SHMMAP;
    int rc = f->real->pMethods->xShmMap(f->real, page, size, extend, out);
    if (rc == SQLITE_OK && *out)
        f->batching = 1;
    return rc;
}

/* What this connection wrote, to the database and to its WAL, is in the files before another
 * connection can be told of it. */
static void s_flush_both(batch_file_t *f)
{
    s_flush_deferring(f);
    if (f->wal)
        s_flush_deferring(f->wal);
}

static int s_shm_lock(sqlite3_file *file, int offset, int n, int flags)
{
    batch_file_t *f = (batch_file_t *) file;
    if (f->real->pMethods->iVersion < 2)
        return SQLITE_IOERR_SHMLOCK;
    s_flush_both(f);
    return f->real->pMethods->xShmLock(f->real, offset, n, flags);
}

static void s_shm_barrier(sqlite3_file *file)
{
    batch_file_t *f = (batch_file_t *) file;
    s_flush_both(f);
    if (f->real->pMethods->iVersion >= 2)
        f->real->pMethods->xShmBarrier(f->real);
}

static int s_shm_unmap(sqlite3_file *file, int delete_flag)
{
    batch_file_t *f = (batch_file_t *) file;
    if (f->real->pMethods->iVersion < 2)
        return SQLITE_OK;
    s_flush_both(f);
    return f->real->pMethods->xShmUnmap(f->real, delete_flag);
}

static int s_fetch(sqlite3_file *file, sqlite3_int64 offset, int n, void **out)
{
    sqlite3_file *real = ((batch_file_t *) file)->real;
    *out = NULL;
    if (real->pMethods->iVersion < 3)
        return SQLITE_OK; /* no memory map: SQLite reads instead */
    return real->pMethods->xFetch(real, offset, n, out);
}

static int s_unfetch(sqlite3_file *file, sqlite3_int64 offset, void *p)
{
    sqlite3_file *real = ((batch_file_t *) file)->real;
    if (real->pMethods->iVersion < 3)
        return SQLITE_OK;
    return real->pMethods->xUnfetch(real, offset, p);
}

static const sqlite3_io_methods s_io = {
    .iVersion = 3,
    .xClose = s_close,
    .xRead = s_read,
    .xWrite = s_write,
    .xTruncate = s_truncate,
    .xSync = s_sync,
    .xFileSize = s_size,
    .xLock = s_lock_file,
    .xUnlock = s_unlock_file,
    .xCheckReservedLock = s_reserved,
    .xFileControl = s_control,
    .xSectorSize = s_sector,
    .xDeviceCharacteristics = s_device,
    .xShmMap = s_shm_map,
    .xShmLock = s_shm_lock,
    .xShmBarrier = s_shm_barrier,
    .xShmUnmap = s_shm_unmap,
    .xFetch = s_fetch,
    .xUnfetch = s_unfetch,
};

static int s_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *file, int flags, int *out_flags)
{
    batch_file_t *f = (batch_file_t *) file;
    memset(f, 0, sizeof *f);
    f->real = (sqlite3_file *) ((char *) file + REAL_OFFSET);
    int rc = s_base(vfs)->xOpen(s_base(vfs), name, f->real, flags, out_flags);
    /* SQLite closes a file whose open failed only if its methods are set. */
    f->base.pMethods = f->real->pMethods ? &s_io : NULL;
    if (rc != SQLITE_OK || !f->real->pMethods || !(flags & SQLITE_OPEN_WAL))
        return rc;
    f->batching = 1;
    /* The main database was opened through this VFS too: it is one of ours. */
    sqlite3_file *db = sqlite3_database_file_object(name);
    if (db && db->pMethods == &s_io) {
        f->db = (batch_file_t *) db;
        f->db->wal = f;
    }
    return rc;
}

static int s_delete(sqlite3_vfs *vfs, const char *name, int sync_dir)
{
    return s_base(vfs)->xDelete(s_base(vfs), name, sync_dir);
}

static int s_access(sqlite3_vfs *vfs, const char *name, int flags, int *out)
{
    return s_base(vfs)->xAccess(s_base(vfs), name, flags, out);
}

static int s_full_pathname(sqlite3_vfs *vfs, const char *name, int n, char *out)
{
    return s_base(vfs)->xFullPathname(s_base(vfs), name, n, out);
}

static int s_randomness(sqlite3_vfs *vfs, int n, char *out)
{
    return s_base(vfs)->xRandomness(s_base(vfs), n, out);
}

static int s_sleep(sqlite3_vfs *vfs, int microseconds)
{
    return s_base(vfs)->xSleep(s_base(vfs), microseconds);
}

static int s_current_time(sqlite3_vfs *vfs, double *now)
{
    return s_base(vfs)->xCurrentTime(s_base(vfs), now);
}

static int s_last_error(sqlite3_vfs *vfs, int n, char *out)
{
    return s_base(vfs)->xGetLastError(s_base(vfs), n, out);
}

static int s_current_time_int64(sqlite3_vfs *vfs, sqlite3_int64 *now)
{
    sqlite3_vfs *base = s_base(vfs);
    if (base->iVersion >= 2 && base->xCurrentTimeInt64)
        return base->xCurrentTimeInt64(base, now);
    double days;
    int rc = base->xCurrentTime(base, &days);
    *now = (sqlite3_int64) (days * 86400000.0);
    return rc;
}

const char *store_vfs_batching(const char *base_name)
{
    const char *key = base_name ? base_name : "";
    const char *found = NULL;
    pthread_mutex_lock(&s_lock);
    sqlite3_vfs *base = sqlite3_vfs_find(base_name);
    for (int i = 0; i < s_registered && base && !found; i++)
        if (s_batchings[i].vfs.pAppData == base && strcmp(s_batchings[i].base, key) == 0)
            found = s_batchings[i].name;
    if (base && !found && s_registered < MAX_BASES && strlen(key) < sizeof s_batchings[0].base) {
        batching_t *b = &s_batchings[s_registered];
        snprintf(b->base, sizeof b->base, "%s", key);
        snprintf(b->name, sizeof b->name, "fx-batch%s%s", base_name ? ":" : "", key);
        /* No xDlOpen and the like: the store loads no extensions. */
        b->vfs = (sqlite3_vfs){.iVersion = 2,
                               .szOsFile = (int) (REAL_OFFSET + (size_t) base->szOsFile),
                               .mxPathname = base->mxPathname,
                               .zName = b->name,
                               .pAppData = base,
                               .xOpen = s_open,
                               .xDelete = s_delete,
                               .xAccess = s_access,
                               .xFullPathname = s_full_pathname,
                               .xRandomness = s_randomness,
                               .xSleep = s_sleep,
                               .xCurrentTime = s_current_time,
                               .xGetLastError = s_last_error,
                               .xCurrentTimeInt64 = s_current_time_int64};
        if (sqlite3_vfs_register(&b->vfs, 0) == SQLITE_OK) {
            s_registered++;
            found = b->name;
        }
    }
    pthread_mutex_unlock(&s_lock);
    return found;
}
