/* libFuzzer target: the message-draft loader (YAML or JSON, lib/draft.c) over arbitrary bytes,
 * with `file:` paths relative to tests/data/drafts; and the outbox's serialized form read back
 * from the same bytes. A draft that loads must serialize, read back and serialize again to the
 * same bytes; one that does not must say why, named as the caller named it. Seeds:
 * tests/fuzz/corpus/draft (the drafts of tests/data/drafts and docs/drafts.md). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fusion/draft.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fx_init();
    fx_diag_t *diag = fx_diag_new("fuzz.yaml");
    fx_draft_t *draft = NULL;
    fx_err_t rc = fx_draft_parse(data, size, "tests/data/drafts", 1795000000000LL, diag, &draft);
    if (rc == FX_OK) {
        if (!draft || !fx_draft_header(draft) || fx_draft_section_count(draft) == 0)
            abort();
        uint8_t *first = NULL, *second = NULL;
        size_t first_len = 0, second_len = 0;
        fx_draft_serialize(draft, &first, &first_len);
        fx_draft_t *again = NULL;
        if (fx_draft_deserialize(first, first_len, &again) != FX_OK)
            abort(); /* what the outbox stored must read back */
        fx_draft_serialize(again, &second, &second_len);
        if (first_len != second_len || memcmp(first, second, first_len) != 0)
            abort();
        free(first);
        free(second);
        fx_draft_destroy(&again);
    } else {
        if (draft || fx_diag_count(diag) == 0)
            abort(); /* a refused draft always says why */
        for (size_t i = 0; i < fx_diag_count(diag); i++)
            if (strncmp(fx_diag_text(diag, i), "fuzz.yaml", 9) != 0)
                abort();
    }
    fx_draft_destroy(&draft);
    fx_diag_destroy(&diag);
    /* The same bytes as an outbox entry: refused or read, never a crash. */
    fx_draft_t *stored = NULL;
    if (fx_draft_deserialize(data, size, &stored) == FX_OK && fx_draft_section_count(stored) == 0)
        abort();
    fx_draft_destroy(&stored);
    return 0;
}
