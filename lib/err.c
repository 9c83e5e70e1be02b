/* Fusion's error codes, their stable codes and sentences, and their exit codes. */
#include "fusion/err.h"

static const struct {
    const char *code;
    const char *text;
    int exit;
} s_errors[FX_ERR_COUNT_] = {
    [FX_OK] = {"ok", "success", FX_EXIT_OK},
    [FX_ERR_INVALID] = {"invalid", "invalid input", FX_EXIT_USAGE},
    [FX_ERR_MALFORMED] = {"malformed", "the data is malformed and cannot be decoded",
                          FX_EXIT_USAGE},
    [FX_ERR_TOO_LARGE] = {"too_large", "the data is larger than allowed", FX_EXIT_USAGE},
    [FX_ERR_UNKNOWN_FIELD] = {"unknown_field",
                              "the data carries a field this version does not know", FX_EXIT_USAGE},
    [FX_ERR_LIMIT] = {"limit", "over a limit (sections, recipients, hops or string length)",
                      FX_EXIT_USAGE},
    [FX_ERR_IO] = {"io", "a file could not be read or written", FX_EXIT_SYSTEM},
    [FX_ERR_NOT_FOUND] = {"not_found", "not found", FX_EXIT_USAGE},
    [FX_ERR_EXISTS] = {"exists", "already exists; refusing to overwrite it", FX_EXIT_USAGE},
    [FX_ERR_KEY_PERMISSIONS] = {"key_permissions",
                                "the secret key file can be read by group or others; make it "
                                "private with 'chmod 600' and check who may have copied it",
                                FX_EXIT_REFUSED},
    [FX_ERR_BAD_SIGNATURE] = {"bad_signature", "the signature does not verify", FX_EXIT_REFUSED},
    [FX_ERR_BAD_HASH] = {"bad_hash", "a section does not match the hash its sender signed",
                         FX_EXIT_REFUSED},
    [FX_ERR_DECRYPT] = {"decrypt", "the section could not be decrypted (altered or wrong key)",
                        FX_EXIT_REFUSED},
    [FX_ERR_NOT_RECIPIENT] = {"not_recipient",
                              "no key in the message is addressed to this principal",
                              FX_EXIT_REFUSED},
    [FX_ERR_UNTRUSTED] = {"untrusted", "the certificate is not signed by the pinned authority",
                          FX_EXIT_REFUSED},
    [FX_ERR_CERT_EXPIRED] = {"cert_expired", "the certificate has expired", FX_EXIT_REFUSED},
    [FX_ERR_CERT_NOT_YET_VALID] = {"cert_not_yet_valid", "the certificate is not valid yet",
                                   FX_EXIT_REFUSED},
    [FX_ERR_REVOKED] = {"revoked", "the certificate has been revoked", FX_EXIT_REFUSED},
    [FX_ERR_UNAUTHENTICATED] = {"unauthenticated", "the sender is not authenticated",
                                FX_EXIT_REFUSED},
    [FX_ERR_SENDER_MISMATCH] = {"sender_mismatch",
                                "the message's sender is not the authenticated principal",
                                FX_EXIT_REFUSED},
    [FX_ERR_REPLAY] = {"replay", "this message was received before", FX_EXIT_REFUSED},
    [FX_ERR_STALE] = {"stale", "the message's creation time is outside the accepted window",
                      FX_EXIT_REFUSED},
    [FX_ERR_EXPIRED] = {"expired", "the message has expired", FX_EXIT_REFUSED},
    [FX_ERR_FORBIDDEN] = {"forbidden", "the sharing policy does not allow this", FX_EXIT_REFUSED},
    [FX_ERR_POLICY] = {"policy", "the sharing policy is invalid", FX_EXIT_USAGE},
    [FX_ERR_STORAGE] = {"storage", "the durable store failed; nothing was acknowledged",
                        FX_EXIT_SYSTEM},
    [FX_ERR_UNAVAILABLE] = {"unavailable", "the broker cannot be reached", FX_EXIT_UNAVAILABLE},
    [FX_ERR_UNKNOWN_RECIPIENT] =
        {"unknown_recipient", "a recipient is not a valid, unrevoked principal of the directory",
         FX_EXIT_REFUSED},
    [FX_ERR_RATE_LIMITED] = {"rate_limited",
                             "this principal sent more than the broker's rate limit allows; "
                             "try again later",
                             FX_EXIT_UNAVAILABLE},
    /* Refused as key_permissions is: a link could hand the tool another key than the one named. */
    [FX_ERR_KEY_NOT_REGULAR] = {"key_not_regular",
                                "secret keys are read only from a regular file, not through a "
                                "symbolic link (nor from a directory, FIFO or device); name the "
                                "key file itself",
                                FX_EXIT_REFUSED},
};

const char *fx_strerror(fx_err_t err)
{
    if ((unsigned) err >= FX_ERR_COUNT_)
        return "unknown error";
    return s_errors[err].text;
}

const char *fx_err_code(fx_err_t err)
{
    if ((unsigned) err >= FX_ERR_COUNT_)
        return "unknown";
    return s_errors[err].code;
}

int fx_err_exit(fx_err_t err)
{
    if ((unsigned) err >= FX_ERR_COUNT_)
        return FX_EXIT_SYSTEM;
    return s_errors[err].exit;
}
