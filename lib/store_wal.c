/* The store's WAL checkpointer thread (lib/store_wal.h). SQLite allows a PASSIVE checkpoint on
 * one connection while another writes: it copies only frames no reader still needs and never
 * blocks the writer, which restarts the WAL from its beginning once everything was copied. */
#include "store_wal.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>

#include "fusion/store.h"
#include "fusion/util.h"

struct store_wal {
    sqlite3 *db; /* used by the thread only, once started */
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool requested, stopping; /* under lock */
    bool running;             /* under lock: the thread is copying */
    long runs, failures;      /* under lock */
};

/* Counts one checkpoint; under lock. SQLITE_BUSY is another checkpoint in progress. */
static void s_count(store_wal_t *self, int rc)
{
    self->runs++;
    if (rc != SQLITE_OK && rc != SQLITE_BUSY)
        self->failures++;
}

static void *s_run(void *arg)
{
    store_wal_t *self = arg;
    pthread_mutex_lock(&self->lock);
    for (;;) {
        while (!self->requested && !self->stopping)
            pthread_cond_wait(&self->wake, &self->lock);
        if (self->stopping)
            break;
        self->requested = false;
        self->running = true;
        pthread_mutex_unlock(&self->lock);
        int rc = sqlite3_wal_checkpoint_v2(self->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        pthread_mutex_lock(&self->lock);
        self->running = false;
        s_count(self, rc);
    }
    pthread_mutex_unlock(&self->lock);
    return NULL;
}

store_wal_t *store_wal_start(const char *path, const char *vfs, char *why)
{
    store_wal_t *self = fx_calloc(1, sizeof *self);
    int rc = sqlite3_open_v2(path, &self->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, vfs);
    if (rc != SQLITE_OK) {
        snprintf(why, FX_STORE_WHY_SIZE, "cannot open the checkpointer's connection: %s",
                 self->db ? sqlite3_errmsg(self->db) : sqlite3_errstr(rc));
        sqlite3_close_v2(self->db);
        free(self);
        return NULL;
    }
    /* Its own close must not checkpoint or delete the WAL under the store's connection; a
     * checkpoint copies frames without going through the page cache, so it keeps a small one. */
    sqlite3_db_config(self->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, (int *) NULL);
    sqlite3_exec(self->db, "PRAGMA cache_size = -64", NULL, NULL, NULL);
    pthread_mutex_init(&self->lock, NULL);
    pthread_cond_init(&self->wake, NULL);
    if (pthread_create(&self->thread, NULL, s_run, self) != 0) {
        snprintf(why, FX_STORE_WHY_SIZE, "cannot start the checkpointer thread");
        pthread_cond_destroy(&self->wake);
        pthread_mutex_destroy(&self->lock);
        sqlite3_close_v2(self->db);
        free(self);
        return NULL;
    }
    return self;
}

void store_wal_poke(store_wal_t *self)
{
    pthread_mutex_lock(&self->lock);
    if (!self->requested) {
        self->requested = true;
        pthread_cond_signal(&self->wake);
    }
    pthread_mutex_unlock(&self->lock);
}

void store_wal_catch_up(store_wal_t *self, sqlite3 *writer)
{
    pthread_mutex_lock(&self->lock);
    bool running = self->running;
    pthread_mutex_unlock(&self->lock);
    if (running)
        return;
    int rc = sqlite3_wal_checkpoint_v2(writer, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    pthread_mutex_lock(&self->lock);
    s_count(self, rc);
    pthread_mutex_unlock(&self->lock);
}

void store_wal_counts(store_wal_t *self, long *runs, long *failures)
{
    pthread_mutex_lock(&self->lock);
    *runs = self->runs;
    *failures = self->failures;
    pthread_mutex_unlock(&self->lock);
}

void store_wal_stop(store_wal_t **self_p)
{
    store_wal_t *self = self_p ? *self_p : NULL;
    if (!self)
        return;
    pthread_mutex_lock(&self->lock);
    self->stopping = true;
    pthread_cond_signal(&self->wake);
    pthread_mutex_unlock(&self->lock);
    pthread_join(self->thread, NULL);
    pthread_cond_destroy(&self->wake);
    pthread_mutex_destroy(&self->lock);
    sqlite3_close_v2(self->db);
    free(self);
    *self_p = NULL;
}
