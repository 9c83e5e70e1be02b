/* EXPLAIN (the live policy's answer to a query, as fusion-admin policy explain gives it) and
 * DIRECTORY (every certificate and the signed revocation list). Neither stores anything. */
#include <jansson.h>
#include <string.h>

#include "fusion/explain.h"
#include "server_internal.h"

#define EXPLAIN_MAX_BYTES (1024 * 1024)

void handle_explain(server_t *self, session_t *session, uint64_t request_id,
                    const Fusion__Explain *explain)
{
    size_t len = strlen(explain->query_json);
    if (len > EXPLAIN_MAX_BYTES) {
        server_error(self, session, request_id, FX_ERR_TOO_LARGE, "the query is too large");
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
    json_t *answer = NULL;
    char why[FX_EXPLAIN_WHY_SIZE];
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
    server_answer(self, session, &frame);
    free(text);
    json_decref(answer);
    json_decref(query);
}

void handle_directory(server_t *self, session_t *session, uint64_t request_id)
{
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
    server_answer(self, session, &frame);
    fx_codec_free(directory);
}
