/* EXPLAIN (the live policy's answer to a query, as fusion-admin policy explain gives it) and
 * DIRECTORY (every certificate and the signed revocation list). Neither stores anything. */
#include <jansson.h>
#include <string.h>

#include "frame_limit.h"
#include "fusion/explain.h"
#include "server_internal.h"

#define EXPLAIN_MAX_BYTES (1024 * 1024)

void handle_explain(server_t *self, session_t *session, uint64_t request_id,
                    const Fusion__Explain *explain)
{
    size_t len = strlen(explain->query_json);
    if (len > EXPLAIN_MAX_BYTES) {
        char why[128];
        snprintf(why, sizeof why, "the query is %zu bytes; at most %d are taken", len,
                 EXPLAIN_MAX_BYTES);
        server_error(self, session, request_id, FX_ERR_TOO_LARGE, why);
        return;
    }
    json_error_t error;
    json_t *query = json_loadb(explain->query_json, len, JSON_REJECT_DUPLICATES, &error);
    if (!query) {
        char why[320];
        snprintf(why, sizeof why, "the query is not valid JSON: %s (line %d, column %d)",
                 error.text, error.line, error.column);
        server_error(self, session, request_id, FX_ERR_INVALID, why);
        return;
    }
    /* Refused before any decision: a query is at most the sections and recipients one message
     * may have (16 x 1024 decisions), not the 255 x 100,000 the offline explain takes. What is
     * not a list is left to fx_explain to name. */
    const json_t *message = json_object_get(query, "message");
    const json_t *sections = json_is_object(message) ? json_object_get(message, "sections") : NULL;
    const json_t *recipients = json_is_object(query) ? json_object_get(query, "recipients") : NULL;
    char why[FX_EXPLAIN_WHY_SIZE];
    if (!server_within_message_limits(json_is_array(sections) ? json_array_size(sections) : 0,
                                      json_is_array(recipients) ? json_array_size(recipients) : 0,
                                      "the query", why, sizeof why)) {
        server_error(self, session, request_id, FX_ERR_LIMIT, why);
        json_decref(query);
        return;
    }
    /* Charged by its decisions before it makes them (server_charge): within one frame's limits
     * an EXPLAIN costs up to 0.3 s of the thread every principal waits on. */
    size_t decisions = (json_is_array(sections) ? json_array_size(sections) : 0) *
                       (json_is_array(recipients) ? json_array_size(recipients) : 0);
    if (!server_charge(self, session, request_id, decisions)) {
        json_decref(query);
        return;
    }
    json_t *answer = NULL;
    if (fx_explain(self->policy, query, fx_now_ms(), &answer, why, sizeof why) != FX_OK) {
        server_error(self, session, request_id, FX_ERR_INVALID, why);
        json_decref(query);
        return;
    }
    char *text = json_dumps(answer, JSON_COMPACT);
    Fusion__Frame frame = FUSION__FRAME__INIT;
    Fusion__Explained explained = FUSION__EXPLAINED__INIT;
    frame.request_id = request_id;
    frame.body_case = FUSION__FRAME__BODY_EXPLAINED;
    frame.explained = &explained;
    explained.answer_json = text;
    server_answer_within_frame(self, session, &frame,
                               "ask about fewer recipients or sections at once");
    free(text);
    json_decref(answer);
    json_decref(query);
}

void handle_directory(server_t *self, session_t *session, uint64_t request_id)
{
    /* A region's directory grows with its principals: past what an agent reads in one frame,
     * an ERROR it can read says so, instead of a frame it cannot. Sized before it is decoded:
     * the codec decodes no directory over 8 MiB, which was answered ERROR invalid. The broker
     * warned its operator when it installed it (s_warn_directory_size). */
    char why[320];
    if (!broker_directory_within(self->directory_frame_len, request_id,
                                 BROKER_DIRECTORY_TOO_LARGE_HINT, why, sizeof why)) {
        server_error(self, session, request_id, FX_ERR_TOO_LARGE, why);
        return;
    }
    Fusion__Directory *directory = NULL;
    if (fx_codec_decode(FX_MSG_DIRECTORY, self->directory_frame, self->directory_frame_len,
                        (void **) &directory) != FX_OK) {
        server_error(self, session, request_id, FX_ERR_INVALID, "the directory cannot be sent");
        return;
    }
    Fusion__Frame frame = FUSION__FRAME__INIT;
    frame.request_id = request_id;
    frame.body_case = FUSION__FRAME__BODY_DIRECTORY;
    frame.directory = directory;
    server_answer_within_frame(self, session, &frame, BROKER_DIRECTORY_TOO_LARGE_HINT);
    fx_codec_free(directory);
}
