/* The fork-join pool (lib/pool.c): inline runs, work shared across threads, many small batches
 * back to back, and real Ed25519 checks with good and forged signatures. */
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fusion/pool.h"
#include "testutil.h"

#define ITEMS 500

typedef struct {
    atomic_int runs[ITEMS];
    int written[ITEMS]; /* plain writes: visible to the caller only through the pool's hand-over */
    pthread_t thread[ITEMS];
    int sleep_us;
} counted_t;

static void s_count(void *arg, size_t index)
{
    counted_t *c = arg;
    atomic_fetch_add(&c->runs[index], 1);
    c->written[index] = (int) index + 1;
    c->thread[index] = pthread_self();
    if (c->sleep_us) {
        struct timespec ts = {0, c->sleep_us * 1000L};
        nanosleep(&ts, NULL);
    }
}

static void s_expect_once(counted_t *c, size_t count)
{
    for (size_t i = 0; i < ITEMS; i++) {
        assert_int_equal(atomic_load(&c->runs[i]), i < count ? 1 : 0);
        assert_int_equal(c->written[i], i < count ? (int) i + 1 : 0);
    }
}

static void test_inline(void **state)
{
    (void) state;
    for (size_t threads = 0; threads <= 4; threads++) {
        fx_pool_t *pool = fx_pool_new(threads);
        assert_int_equal(fx_pool_threads(pool), threads < 2 ? 1 : threads);
        /* Nothing to share, or a one-thread pool: the caller does it all. */
        for (size_t count = 0; count <= (threads < 2 ? 50u : 1u); count++) {
            counted_t *c = calloc(1, sizeof *c);
            fx_pool_run(pool, s_count, c, count);
            s_expect_once(c, count);
            for (size_t i = 0; i < count; i++)
                assert_true(pthread_equal(c->thread[i], pthread_self()));
            free(c);
        }
        fx_pool_destroy(&pool);
        assert_null(pool);
    }
    fx_pool_destroy(NULL);
}

static void test_shared(void **state)
{
    (void) state;
    fx_pool_t *pool = fx_pool_new(4);
    assert_int_equal(fx_pool_threads(pool), 4);
    counted_t *c = calloc(1, sizeof *c);
    c->sleep_us = 1000; /* long enough for the workers to wake and take some */
    fx_pool_run(pool, s_count, c, 40);
    s_expect_once(c, 40);
    size_t others = 0;
    for (size_t i = 0; i < 40; i++)
        others += !pthread_equal(c->thread[i], pthread_self());
    assert_true(others > 0);
    free(c);
    fx_pool_destroy(&pool);
}

/* Many small batches back to back: a worker that wakes late for one must never run items of
 * the next with the old batch's work and argument. */
static void test_back_to_back(void **state)
{
    (void) state;
    fx_pool_t *pool = fx_pool_new(3);
    counted_t *c = malloc(sizeof *c);
    for (int round = 0; round < 3000; round++) {
        memset(c, 0, sizeof *c);
        size_t count = 2 + (size_t) round % 9;
        fx_pool_run(pool, s_count, c, count);
        s_expect_once(c, count);
    }
    free(c);
    fx_pool_destroy(&pool);
}

typedef struct {
    uint8_t pk[crypto_sign_PUBLICKEYBYTES];
    uint8_t message[64];
    uint8_t sig[crypto_sign_BYTES];
    int forged;
    int verified; /* 0 good, -1 bad: set by the pool */
} signed_t;

static void s_verify(void *arg, size_t index)
{
    signed_t *items = arg;
    signed_t *s = &items[index];
    s->verified = crypto_sign_verify_detached(s->sig, s->message, sizeof s->message, s->pk);
}

static void test_signatures(void **state)
{
    (void) state;
    enum { SENDERS = 5, EACH = 40 };
    uint8_t pk[SENDERS][crypto_sign_PUBLICKEYBYTES], sk[SENDERS][crypto_sign_SECRETKEYBYTES];
    for (int s = 0; s < SENDERS; s++)
        crypto_sign_keypair(pk[s], sk[s]);
    signed_t *items = calloc(SENDERS * EACH, sizeof *items);
    for (int i = 0; i < SENDERS * EACH; i++) {
        signed_t *it = &items[i];
        int s = i % SENDERS; /* senders interleaved, as a batch arrives */
        memcpy(it->pk, pk[s], sizeof it->pk);
        randombytes_buf(it->message, sizeof it->message);
        crypto_sign_detached(it->sig, NULL, it->message, sizeof it->message, sk[s]);
        it->forged = (i * 7 + s) % 3 == 0;
        if (it->forged)
            it->sig[i % crypto_sign_BYTES] ^= 0x04;
        it->verified = 99;
    }
    fx_pool_t *pool = fx_pool_new(2);
    fx_pool_run(pool, s_verify, items, SENDERS * EACH);
    for (int i = 0; i < SENDERS * EACH; i++)
        assert_int_equal(items[i].verified, items[i].forged ? -1 : 0);
    fx_pool_destroy(&pool);
    free(items);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_inline),
        cmocka_unit_test(test_shared),
        cmocka_unit_test(test_back_to_back),
        cmocka_unit_test(test_signatures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
