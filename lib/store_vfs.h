/* The store's VFS: SQLite's own (or the one a caller names), with the writes to a write-ahead
 * log, and a checkpoint's to the database file, gathered in memory and written together when
 * SQLite syncs the file, reads back what is held, learns its size, truncates it, changes a lock
 * or publishes a commit to other connections (lib/store_vfs.c says exactly when). SQLite writes
 * each frame of a commit with two system calls (the frame's header, then its page), and each
 * page a checkpoint copies with one: a commit of a few hundred pages made about seven hundred;
 * it now makes a handful. Nothing is lost that SQLite counts as written: a commit is durable
 * only after the log's sync, and the sync comes after the writes it covers, in the order SQLite
 * made them. Internal to lib/store.c. */
#ifndef FUSION_STORE_VFS_H
#define FUSION_STORE_VFS_H

/* The name of the batching VFS over base (NULL: SQLite's default), registered on first use;
 * NULL if there is no VFS called base. Safe from any thread; the name lives as long as the
 * process. */
const char *store_vfs_batching(const char *base);

#endif
