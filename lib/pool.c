/* The fork-join pool (fusion/pool.h). One mutex and two condition variables carry the
 * hand-over; the items themselves are claimed through one atomic index, so threads never wait on
 * each other while a batch runs. */
#include "fusion/pool.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "fusion/util.h"

struct fx_pool {
    pthread_mutex_t lock;
    pthread_cond_t wake; /* workers: a new batch, or stop */
    pthread_cond_t idle; /* the caller: the last busy worker left the batch */
    pthread_t *workers;
    size_t started; /* worker threads running (the caller is not one) */
    /* The batch, written under lock before workers may join it. */
    fx_pool_work_fn *work;
    void *arg;
    size_t count;
    uint64_t generation; /* one per batch, so a worker joins each batch at most once */
    bool open;           /* workers may still join the current batch */
    size_t busy;         /* workers inside the current batch */
    bool stop;
    atomic_size_t next; /* the next unclaimed item */
};

/* Claims and runs items until none is left. */
static void s_drain(fx_pool_t *self, fx_pool_work_fn *work, void *arg, size_t count)
{
    size_t i;
    while ((i = atomic_fetch_add_explicit(&self->next, 1, memory_order_relaxed)) < count)
        work(arg, i);
}

static void *s_worker(void *arg)
{
    fx_pool_t *self = arg;
    uint64_t seen = 0;
    pthread_mutex_lock(&self->lock);
    while (!self->stop) {
        /* A worker that wakes after the caller closed the batch stays out of it: the caller may
         * already be back with the next batch, and its work and arg must not be mixed up. */
        if (self->open && self->generation != seen) {
            seen = self->generation;
            fx_pool_work_fn *work = self->work;
            void *work_arg = self->arg;
            size_t count = self->count;
            self->busy++;
            pthread_mutex_unlock(&self->lock);
            s_drain(self, work, work_arg, count);
            pthread_mutex_lock(&self->lock);
            /* Unlocking after our writes is what makes them visible to the caller. */
            if (--self->busy == 0)
                pthread_cond_signal(&self->idle);
            continue;
        }
        pthread_cond_wait(&self->wake, &self->lock);
    }
    pthread_mutex_unlock(&self->lock);
    return NULL;
}

fx_pool_t *fx_pool_new(size_t threads)
{
    fx_pool_t *self = fx_calloc(1, sizeof *self);
    pthread_mutex_init(&self->lock, NULL);
    pthread_cond_init(&self->wake, NULL);
    pthread_cond_init(&self->idle, NULL);
    atomic_init(&self->next, 0);
    if (threads < 2)
        return self;
    self->workers = fx_calloc(threads - 1, sizeof *self->workers);
    /* Workers block every signal, so SIGHUP and SIGTERM keep reaching the threads that act on
     * them (a new thread inherits the mask of the one that creates it). */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    for (size_t i = 0; i < threads - 1; i++) {
        int rc = pthread_create(&self->workers[i], NULL, s_worker, self);
        if (rc != 0) {
            /* Fewer workers is slower, never wrong: the caller does what is left. */
            fprintf(stderr, "fusion: started %zu of %zu worker threads\n", i, threads - 1);
            break;
        }
        self->started++;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return self;
}

void fx_pool_run(fx_pool_t *self, fx_pool_work_fn *work, void *arg, size_t count)
{
    if (self->started == 0 || count < 2) {
        for (size_t i = 0; i < count; i++)
            work(arg, i);
        return;
    }
    pthread_mutex_lock(&self->lock);
    self->work = work;
    self->arg = arg;
    self->count = count;
    atomic_store_explicit(&self->next, 0, memory_order_relaxed);
    self->generation++;
    self->open = true;
    pthread_cond_broadcast(&self->wake); /* the batch's one wake-up */
    pthread_mutex_unlock(&self->lock);

    s_drain(self, work, arg, count);

    /* Every item is claimed; the ones workers claimed are done once no worker is busy. */
    pthread_mutex_lock(&self->lock);
    self->open = false;
    while (self->busy > 0)
        pthread_cond_wait(&self->idle, &self->lock);
    pthread_mutex_unlock(&self->lock);
}

size_t fx_pool_threads(const fx_pool_t *self)
{
    return self->started + 1;
}

void fx_pool_destroy(fx_pool_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fx_pool_t *self = *self_p;
    pthread_mutex_lock(&self->lock);
    self->stop = true;
    pthread_cond_broadcast(&self->wake);
    pthread_mutex_unlock(&self->lock);
    for (size_t i = 0; i < self->started; i++)
        pthread_join(self->workers[i], NULL);
    free(self->workers);
    pthread_cond_destroy(&self->idle);
    pthread_cond_destroy(&self->wake);
    pthread_mutex_destroy(&self->lock);
    free(self);
    *self_p = NULL;
}
