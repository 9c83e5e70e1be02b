/* Fusion's error codes: one enum for the library, the wire (REJECTED codes) and the audit
 * trail, with a stable snake_case code and a plain sentence for each. */
#ifndef FUSION_ERR_H
#define FUSION_ERR_H

typedef enum {
    FX_OK = 0,
    FX_ERR_INVALID,         /* invalid argument or input */
    FX_ERR_MALFORMED,       /* bytes that do not decode as what they claim to be */
    FX_ERR_TOO_LARGE,       /* over the size cap for this kind of data */
    FX_ERR_UNKNOWN_FIELD,   /* a field this version does not know, where security depends on it */
    FX_ERR_LIMIT,           /* over a limit: sections, recipients, hops, string lengths */
    FX_ERR_IO,              /* a file could not be read or written */
    FX_ERR_NOT_FOUND,       /* no such file, principal or message */
    FX_ERR_EXISTS,          /* refusing to overwrite */
    FX_ERR_KEY_PERMISSIONS, /* a secret key file that group or others can read */
    FX_ERR_BAD_SIGNATURE,   /* a signature that does not verify */
    FX_ERR_BAD_HASH,        /* a ciphertext that does not match its signed hash */
    FX_ERR_DECRYPT,         /* authenticated decryption failed */
    FX_ERR_NOT_RECIPIENT,   /* no section key was wrapped for this principal */
    FX_ERR_UNTRUSTED,       /* not signed by the pinned authority */
    FX_ERR_CERT_EXPIRED,    /* certificate past its validity window */
    FX_ERR_CERT_NOT_YET_VALID,
    FX_ERR_REVOKED,           /* certificate on the revocation list */
    FX_ERR_UNAUTHENTICATED,   /* transport identity unknown or missing */
    FX_ERR_SENDER_MISMATCH,   /* header sender is not the authenticated principal */
    FX_ERR_REPLAY,            /* msg_id seen before */
    FX_ERR_STALE,             /* created_at outside the accepted window */
    FX_ERR_EXPIRED,           /* message past expires_at */
    FX_ERR_FORBIDDEN,         /* the sharing policy does not allow it */
    FX_ERR_POLICY,            /* the policy itself is invalid */
    FX_ERR_STORAGE,           /* the durable store failed; nothing was acknowledged */
    FX_ERR_UNAVAILABLE,       /* the broker cannot be reached */
    FX_ERR_UNKNOWN_RECIPIENT, /* a wrapped key for a principal the directory does not hold */
    FX_ERR_RATE_LIMITED,      /* the principal sent more frames than the broker's rate limit */
    FX_ERR_KEY_NOT_REGULAR,   /* a secret key file reached through a symbolic link, or no file */
    FX_ERR_COUNT_
} fx_err_t;

/* A plain sentence describing err. */
const char *fx_strerror(fx_err_t err);

/* A stable snake_case code for err, used on the wire and in the audit trail. */
const char *fx_err_code(fx_err_t err);

/* The command-line exit code for err (see FX_EXIT_*). */
int fx_err_exit(fx_err_t err);

/* Exit codes shared by every Fusion binary. */
enum {
    FX_EXIT_OK = 0,      /* success */
    FX_EXIT_NO = 1,      /* a check answered no (no match, verification failed) */
    FX_EXIT_USAGE = 2,   /* invalid arguments or invalid input (file, query, policy) */
    FX_EXIT_REFUSED = 3, /* refused for security: key permissions, signature, trust, revocation */
    FX_EXIT_SYSTEM = 4,  /* I/O, storage or resource failure */
    FX_EXIT_UNAVAILABLE = 5 /* the broker could not be reached */
};

#endif
