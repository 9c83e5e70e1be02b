/* A small fork-join pool of worker threads for pure per-item CPU work (the broker decodes
 * envelopes and verifies their signatures on it). The caller hands it one batch at a time, works
 * on the batch too, and gets control back only when every item is done, so whatever the caller
 * owns (the broker's sockets and store) never leaves its thread. */
#ifndef FUSION_POOL_H
#define FUSION_POOL_H

#include <stddef.h>

typedef struct fx_pool fx_pool_t;

/* Work on item index of a batch; arg is what fx_pool_run was given. Called on any thread,
 * at most once per index, so it may touch only item index and what nobody writes meanwhile. */
typedef void(fx_pool_work_fn)(void *arg, size_t index);

/* A pool of threads threads in all, the caller of fx_pool_run included: threads - 1 workers
 * are started (none for 0 or 1, when everything runs inline). Caller destroys it. */
fx_pool_t *fx_pool_new(size_t threads);

/* Runs work(arg, i) for every i in [0, count), on the workers and the calling thread, and returns
 * when all are done; whatever the items wrote is then visible to the caller. One wake-up per
 * call; a batch of fewer than two items runs inline. Not reentrant: one caller at a time. */
void fx_pool_run(fx_pool_t *self, fx_pool_work_fn *work, void *arg, size_t count);

/* The number of threads that work on a batch, the caller included (1: inline). */
size_t fx_pool_threads(const fx_pool_t *self);

/* Stops and joins the workers, frees the pool; sets *self_p to NULL. Accepts NULL. */
void fx_pool_destroy(fx_pool_t **self_p);

#endif
