/* The store's write-ahead-log checkpointer: a thread with its own connection to the database
 * that copies the WAL back into the database file (a PASSIVE checkpoint) when the store's
 * connection says the WAL has grown, so that the thread that commits never waits for it.
 * Internal to lib/store.c. */
#ifndef FUSION_STORE_WAL_H
#define FUSION_STORE_WAL_H

#include <sqlite3.h>
#include <stdbool.h>

typedef struct store_wal store_wal_t;

/* Opens a second connection to path (through vfs, may be NULL) and starts the thread; NULL
 * (with why, FX_STORE_WHY_SIZE bytes) if either fails, and the caller checkpoints itself. */
store_wal_t *store_wal_start(const char *path, const char *vfs, char *why);

/* Asks for a checkpoint; returns at once (a checkpoint in progress absorbs the request). */
void store_wal_poke(store_wal_t *self);

/* Copies, on the writer's own connection and in its thread, what the thread has not copied yet,
 * unless the thread is copying (the writer then tries again after a later commit). SQLite starts
 * the WAL again from its beginning only if, when a transaction begins, every frame was copied:
 * a thread that copies what was committed before it started never gets there while the writer
 * commits without pause, and the WAL would grow for as long as the load lasts. The writer,
 * copying between two of its transactions, does get there. */
void store_wal_catch_up(store_wal_t *self, sqlite3 *writer);

/* How many checkpoints ran and how many of them failed (a failure is retried at the next
 * request: the WAL keeps every committed frame until a checkpoint copies it). */
void store_wal_counts(store_wal_t *self, long *runs, long *failures);

/* Stops the thread (waiting for a checkpoint in progress), closes its connection, frees it and
 * sets *self_p to NULL. Accepts NULL. */
void store_wal_stop(store_wal_t **self_p);

#endif
