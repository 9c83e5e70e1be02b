/* The agent's mailbox: outbox states (queued -> sealed -> accepted / rejected, stale back to
 * queued), inbox deduplication by msg_id, persistence across reopening, file permissions. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fusion/envelope.h"
#include "fusion/mailbox.h"
#include "fusion/vocab.h"
#include "testutil.h"

typedef struct {
    char *dir;
    fx_keys_t *sender, *recipient;
} fixture_t;

static int s_setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    f->dir = tu_tempdir();
    f->sender = fx_keys_new("THA.RTP.fp1");
    f->recipient = fx_keys_new("IDN.POLRI.fp1");
    *state = f;
    return 0;
}

static int s_teardown(void **state)
{
    fixture_t *f = *state;
    tu_rmtree(f->dir);
    free(f->dir);
    fx_keys_destroy(&f->sender);
    fx_keys_destroy(&f->recipient);
    free(f);
    return 0;
}

static fx_envelope_t *s_envelope(const fixture_t *f, int tlp)
{
    Fusion__Header draft = FUSION__HEADER__INIT;
    draft.kind = FUSION__KIND__KIND_CASE_ALERT;
    draft.audience = FUSION__AUDIENCE__AUDIENCE_DIRECT;
    draft.urgency = FUSION__URGENCY__URGENCY_URGENT;
    draft.route = "MMR>THA";
    fx_recipient_t to = {fx_keys_id(f->recipient), fx_keys_box_public(f->recipient)};
    const uint8_t text[] = "hello";
    fx_section_draft_t sections[2] = {
        {1, FX_TLP_GREEN, 1u << FX_CATEGORY_OPERATIONAL, text, 5, &to, 1},
        {2, tlp, 1u << FX_CATEGORY_PERSONAL_IDENTIFIERS, text, 5, &to, 1},
    };
    fx_envelope_t *env = NULL;
    assert_int_equal(fx_envelope_seal(f->sender, &draft, sections, 2, &env), FX_OK);
    return env;
}

static fx_mailbox_t *s_open(const fixture_t *f, const char *id)
{
    fx_mailbox_t *mb = NULL;
    assert_int_equal(fx_mailbox_open(f->dir, id, &mb), FX_OK);
    return mb;
}

static const uint8_t s_draft[] = "a serialized draft";

static void test_outbox_states(void **state)
{
    fixture_t *f = *state;
    fx_mailbox_t *mb = s_open(f, "THA.RTP.fp1");
    int64_t a = 0, b = 0;
    assert_int_equal(
        fx_mailbox_outbox_add(mb, s_draft, sizeof s_draft, "alert.yaml", 5000, 1000, &a), FX_OK);
    assert_int_equal(
        fx_mailbox_outbox_add(mb, s_draft, sizeof s_draft, "second.yaml", 6000, 1001, &b), FX_OK);
    assert_true(b > a);

    int64_t *ids = NULL;
    size_t n = 0;
    assert_int_equal(fx_mailbox_outbox_pending(mb, 10, &ids, &n), FX_OK);
    assert_int_equal(n, 2);
    assert_int_equal(ids[0], a); /* oldest first */
    free(ids);

    fx_outbox_entry_t *e = NULL;
    assert_int_equal(fx_mailbox_outbox_get(mb, a, &e), FX_OK);
    assert_int_equal(fx_outbox_entry_state(e), FX_OUTBOX_QUEUED);
    assert_string_equal(fx_outbox_entry_label(e), "alert.yaml");
    assert_int_equal(fx_outbox_entry_expires_at(e), 5000);
    assert_int_equal(fx_outbox_entry_created_at(e), 1000);
    size_t len = 0;
    assert_memory_equal(fx_outbox_entry_draft(e, &len), s_draft, sizeof s_draft);
    assert_null(fx_outbox_entry_envelope(e, &len));
    assert_null(fx_outbox_entry_msg_id(e));
    fx_outbox_entry_destroy(&e);
    assert_null(e);

    /* A queued entry cannot be accepted, and nothing can happen to a missing one. */
    assert_int_equal(fx_mailbox_outbox_accept(mb, a, 1002), FX_ERR_NOT_FOUND);
    fx_envelope_t *env = s_envelope(f, FX_TLP_AMBER);
    assert_int_equal(fx_mailbox_outbox_seal(mb, 999, env, 1002), FX_ERR_NOT_FOUND);
    assert_int_equal(fx_mailbox_outbox_seal(mb, a, NULL, 1002), FX_ERR_INVALID);
    assert_int_equal(fx_mailbox_outbox_seal(mb, a, env, 1003), FX_OK);
    /* Sealing twice (another process got there first) is refused: the first envelope stays. */
    fx_envelope_t *other = s_envelope(f, FX_TLP_AMBER);
    assert_int_equal(fx_mailbox_outbox_seal(mb, a, other, 1004), FX_ERR_EXISTS);
    assert_int_equal(fx_mailbox_outbox_get(mb, a, &e), FX_OK);
    assert_int_equal(fx_outbox_entry_state(e), FX_OUTBOX_SEALED);
    assert_memory_equal(fx_outbox_entry_msg_id(e), fx_envelope_msg_id(env), FX_MSG_ID_BYTES);
    const uint8_t *bytes = fx_outbox_entry_envelope(e, &len);
    fx_envelope_t *stored = NULL;
    assert_int_equal(fx_envelope_decode(bytes, len, &stored), FX_OK);
    assert_memory_equal(fx_envelope_msg_id(stored), fx_envelope_msg_id(env), FX_MSG_ID_BYTES);
    fx_envelope_destroy(&stored);
    fx_outbox_entry_destroy(&e);

    assert_int_equal(fx_mailbox_outbox_attempt(mb, a, 1005), FX_OK);
    assert_int_equal(fx_mailbox_outbox_attempt(mb, a, 1006), FX_OK);
    assert_int_equal(fx_mailbox_outbox_accept(mb, a, 1007), FX_OK);
    assert_int_equal(fx_mailbox_outbox_get(mb, a, &e), FX_OK);
    assert_int_equal(fx_outbox_entry_state(e), FX_OUTBOX_ACCEPTED);
    assert_int_equal(fx_outbox_entry_attempts(e), 2);
    assert_int_equal(fx_outbox_entry_updated_at(e), 1007);
    assert_null(fx_outbox_entry_draft(e, &len)); /* the plaintext is forgotten */
    assert_non_null(fx_outbox_entry_envelope(e, &len));
    fx_outbox_entry_destroy(&e);
    /* Accepted is final. */
    assert_int_equal(fx_mailbox_outbox_reject(mb, a, "forbidden", "", "", 1008), FX_ERR_NOT_FOUND);

    /* The second: sealed, refused as stale (back to queued, envelope dropped), sealed again,
     * then rejected with code, rule and reason. */
    assert_int_equal(fx_mailbox_outbox_seal(mb, b, other, 1010), FX_OK);
    assert_int_equal(fx_mailbox_outbox_requeue(mb, b, 1011), FX_OK);
    assert_int_equal(fx_mailbox_outbox_get(mb, b, &e), FX_OK);
    assert_int_equal(fx_outbox_entry_state(e), FX_OUTBOX_QUEUED);
    assert_null(fx_outbox_entry_envelope(e, &len));
    fx_outbox_entry_destroy(&e);
    assert_int_equal(fx_mailbox_outbox_requeue(mb, b, 1012), FX_ERR_INVALID); /* not sealed */
    fx_envelope_t *third = s_envelope(f, FX_TLP_RED);
    assert_int_equal(fx_mailbox_outbox_seal(mb, b, third, 1013), FX_OK);
    assert_int_equal(fx_mailbox_outbox_reject(mb, b, "no_permit", "", "No rule permits it.", 1014),
                     FX_OK);
    assert_int_equal(fx_mailbox_outbox_get(mb, b, &e), FX_OK);
    assert_int_equal(fx_outbox_entry_state(e), FX_OUTBOX_REJECTED);
    assert_string_equal(fx_outbox_entry_code(e), "no_permit");
    assert_string_equal(fx_outbox_entry_rule(e), "");
    assert_string_equal(fx_outbox_entry_reason(e), "No rule permits it.");
    assert_null(fx_outbox_entry_draft(e, &len));
    fx_outbox_entry_destroy(&e);

    assert_int_equal(fx_mailbox_outbox_pending(mb, 10, &ids, &n), FX_OK);
    assert_int_equal(n, 0);
    free(ids);
    assert_int_equal(fx_mailbox_outbox_list(mb, 10, &ids, &n), FX_OK);
    assert_int_equal(n, 2);
    assert_int_equal(ids[0], b); /* newest first */
    free(ids);
    /* A queued draft can be refused locally (expired, nobody allowed) without an envelope. */
    int64_t c = 0;
    assert_int_equal(fx_mailbox_outbox_add(mb, s_draft, sizeof s_draft, "", 1, 1020, &c), FX_OK);
    assert_int_equal(fx_mailbox_outbox_reject(mb, c, "expired", NULL, NULL, 1021), FX_OK);
    assert_int_equal(fx_mailbox_outbox_add(mb, NULL, 0, "x", 1, 1, &c), FX_ERR_INVALID);

    assert_string_equal(fx_outbox_state_name(FX_OUTBOX_SEALED), "sealed");
    fx_envelope_destroy(&env);
    fx_envelope_destroy(&other);
    fx_envelope_destroy(&third);
    fx_mailbox_destroy(&mb);
    assert_null(mb);
    fx_mailbox_destroy(&mb);
}

static void test_inbox_dedup_and_reopen(void **state)
{
    fixture_t *f = *state;
    fx_mailbox_t *mb = s_open(f, "IDN.POLRI.fp1");
    fx_envelope_t *env = s_envelope(f, FX_TLP_RED);
    const uint8_t cert[] = "certificate bytes";
    int is_new = -1;
    assert_int_equal(fx_mailbox_inbox_store(mb, env, cert, sizeof cert, 2000, &is_new), FX_OK);
    assert_int_equal(is_new, 1);
    assert_int_equal(fx_mailbox_inbox_store(mb, env, cert, sizeof cert, 2001, &is_new), FX_OK);
    assert_int_equal(is_new, 0); /* the same msg_id again: not stored twice */
    size_t count = 0;
    assert_int_equal(fx_mailbox_inbox_count(mb, 0, &count), FX_OK);
    assert_int_equal(count, 1);
    assert_int_equal(fx_mailbox_inbox_count(mb, FX_INBOX_NEW, &count), FX_OK);
    assert_int_equal(count, 1);
    /* Listed oldest first, each once. */
    fx_envelope_t *later = s_envelope(f, FX_TLP_GREEN);
    assert_int_equal(fx_mailbox_inbox_store(mb, later, cert, sizeof cert, 1500, &is_new), FX_OK);
    uint8_t *listed = NULL;
    assert_int_equal(fx_mailbox_inbox_list(mb, 10, &listed, &count), FX_OK);
    assert_int_equal(count, 2);
    assert_memory_equal(listed, fx_envelope_msg_id(later), FX_MSG_ID_BYTES); /* received 1500 */
    assert_memory_equal(listed + FX_MSG_ID_BYTES, fx_envelope_msg_id(env), FX_MSG_ID_BYTES);
    free(listed);
    assert_int_equal(fx_mailbox_inbox_list(mb, 1, &listed, &count), FX_OK);
    assert_int_equal(count, 1);
    free(listed);
    fx_envelope_destroy(&later);

    fx_inbox_entry_t *e = NULL;
    assert_int_equal(fx_mailbox_inbox_get(mb, fx_envelope_msg_id(env), &e), FX_OK);
    assert_int_equal(fx_inbox_entry_state(e), FX_INBOX_NEW);
    assert_int_equal(fx_inbox_entry_received_at(e), 2000); /* the first arrival counts */
    assert_string_equal(fx_inbox_entry_kind(e), "case_alert");
    assert_string_equal(fx_inbox_entry_sender(e), "THA.RTP.fp1");
    assert_string_equal(fx_inbox_entry_tlp(e), "red"); /* the highest section */
    assert_string_equal(fx_inbox_entry_route(e), "MMR>THA");
    assert_string_equal(fx_inbox_entry_urgency(e), "urgent");
    size_t len = 0;
    assert_memory_equal(fx_inbox_entry_sender_cert(e, &len), cert, sizeof cert);
    const uint8_t *bytes = fx_inbox_entry_envelope(e, &len);
    fx_envelope_t *back = NULL;
    assert_int_equal(fx_envelope_decode(bytes, len, &back), FX_OK);
    assert_memory_equal(fx_envelope_msg_id(back), fx_envelope_msg_id(env), FX_MSG_ID_BYTES);
    fx_envelope_destroy(&back);
    fx_inbox_entry_destroy(&e);
    assert_int_equal(fx_mailbox_inbox_mark_read(mb, fx_envelope_msg_id(env)), FX_OK);
    uint8_t unknown[FX_MSG_ID_BYTES] = {0};
    assert_int_equal(fx_mailbox_inbox_mark_read(mb, unknown), FX_ERR_NOT_FOUND);
    assert_int_equal(fx_mailbox_inbox_get(mb, unknown, &e), FX_ERR_NOT_FOUND);

    uint64_t seq = 99;
    assert_int_equal(fx_mailbox_crl_sequence(mb, &seq), FX_OK);
    assert_int_equal(seq, 0);
    assert_int_equal(fx_mailbox_set_crl_sequence(mb, 7), FX_OK);
    assert_int_equal(fx_mailbox_set_crl_sequence(mb, 3), FX_OK); /* lower: ignored */
    fx_mailbox_destroy(&mb);

    /* Everything survives closing and reopening. */
    mb = s_open(f, "IDN.POLRI.fp1");
    assert_int_equal(fx_mailbox_inbox_store(mb, env, cert, sizeof cert, 3000, &is_new), FX_OK);
    assert_int_equal(is_new, 0);
    assert_int_equal(fx_mailbox_inbox_get(mb, fx_envelope_msg_id(env), &e), FX_OK);
    assert_int_equal(fx_inbox_entry_state(e), FX_INBOX_READ);
    fx_inbox_entry_destroy(&e);
    assert_int_equal(fx_mailbox_crl_sequence(mb, &seq), FX_OK);
    assert_int_equal(seq, 7);
    fx_mailbox_destroy(&mb);
    fx_envelope_destroy(&env);
}

/* The messages of one kind from one sender, newest first (how forward finds a grant). */
static void test_inbox_from(void **state)
{
    fixture_t *f = *state;
    fx_mailbox_t *mb = s_open(f, "IDN.POLRI.fp1");
    fx_envelope_t *a = s_envelope(f, FX_TLP_RED), *b = s_envelope(f, FX_TLP_AMBER);
    const uint8_t cert[] = "certificate bytes";
    int is_new = 0;
    assert_int_equal(fx_mailbox_inbox_store(mb, a, cert, sizeof cert, 1000, &is_new), FX_OK);
    assert_int_equal(fx_mailbox_inbox_store(mb, b, cert, sizeof cert, 2000, &is_new), FX_OK);
    uint8_t(*ids)[FX_MSG_ID_BYTES] = NULL;
    size_t count = 0;
    assert_int_equal(fx_mailbox_inbox_from(mb, "case_alert", "THA.RTP.fp1", 10, &ids, &count),
                     FX_OK);
    assert_int_equal(count, 2);
    assert_memory_equal(ids[0], fx_envelope_msg_id(b), FX_MSG_ID_BYTES);
    assert_memory_equal(ids[1], fx_envelope_msg_id(a), FX_MSG_ID_BYTES);
    free(ids);
    assert_int_equal(fx_mailbox_inbox_from(mb, "case_alert", "THA.RTP.fp1", 1, &ids, &count),
                     FX_OK);
    assert_int_equal(count, 1);
    free(ids);
    assert_int_equal(fx_mailbox_inbox_from(mb, "reshare_grant", "THA.RTP.fp1", 10, &ids, &count),
                     FX_OK);
    assert_int_equal(count, 0);
    free(ids);
    assert_int_equal(fx_mailbox_inbox_from(mb, "case_alert", "MYS.RMP.fp1", 10, &ids, &count),
                     FX_OK);
    assert_int_equal(count, 0);
    free(ids);
    fx_envelope_destroy(&a);
    fx_envelope_destroy(&b);
    fx_mailbox_destroy(&mb);
}

static void test_outbox_survives_reopen(void **state)
{
    fixture_t *f = *state;
    fx_mailbox_t *mb = s_open(f, "THA.RTP.fp1");
    fx_envelope_t *env = s_envelope(f, FX_TLP_AMBER);
    int64_t id = 0;
    assert_int_equal(fx_mailbox_outbox_add(mb, s_draft, sizeof s_draft, "a", 9999, 1, &id), FX_OK);
    assert_int_equal(fx_mailbox_outbox_seal(mb, id, env, 2), FX_OK);
    fx_mailbox_destroy(&mb);
    /* A retry after a restart sends the very same msg_id. */
    mb = s_open(f, "THA.RTP.fp1");
    fx_outbox_entry_t *e = NULL;
    assert_int_equal(fx_mailbox_outbox_get(mb, id, &e), FX_OK);
    assert_int_equal(fx_outbox_entry_state(e), FX_OUTBOX_SEALED);
    assert_memory_equal(fx_outbox_entry_msg_id(e), fx_envelope_msg_id(env), FX_MSG_ID_BYTES);
    fx_outbox_entry_destroy(&e);
    fx_mailbox_destroy(&mb);
    fx_envelope_destroy(&env);
}

static void test_files_and_owner(void **state)
{
    fixture_t *f = *state;
    char *sub = tu_path(f->dir, "state/deeper");
    fx_mailbox_t *mb = NULL;
    assert_int_equal(fx_mailbox_open(sub, "THA.RTP.fp1", &mb), FX_OK);
    char *path = fx_strdup(fx_mailbox_path(mb));
    fx_mailbox_destroy(&mb);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    /* Another principal's mailbox is refused. */
    assert_int_equal(fx_mailbox_open(sub, "IDN.POLRI.fp1", &mb), FX_ERR_INVALID);
    assert_null(mb);
    assert_int_equal(fx_mailbox_open(sub, "not an id", &mb), FX_ERR_INVALID);
    /* A mailbox others can read is refused, like a secret key file. */
    assert_int_equal(chmod(path, 0644), 0);
    assert_int_equal(fx_mailbox_open(sub, "THA.RTP.fp1", &mb), FX_ERR_KEY_PERMISSIONS);
    assert_int_equal(chmod(path, 0600), 0);
    assert_int_equal(fx_mailbox_open(sub, "THA.RTP.fp1", &mb), FX_OK);
    fx_mailbox_destroy(&mb);
    /* A file that is not a database. */
    tu_write(path, "not sqlite at all, just text that is long enough to be read as a header", 0600);
    char *wal = malloc(strlen(path) + 8), *shm = malloc(strlen(path) + 8);
    snprintf(wal, strlen(path) + 8, "%s-wal", path);
    snprintf(shm, strlen(path) + 8, "%s-shm", path);
    unlink(wal);
    unlink(shm);
    assert_int_equal(fx_mailbox_open(sub, "THA.RTP.fp1", &mb), FX_ERR_STORAGE);
    free(wal);
    free(shm);
    free(path);
    free(sub);
}

int main(void)
{
    fx_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_outbox_states, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_inbox_dedup_and_reopen, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_inbox_from, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_outbox_survives_reopen, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_files_and_owner, s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
