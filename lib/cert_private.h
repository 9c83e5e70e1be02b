/* Shared by lib/cert.c and lib/directory.c only; not part of libfusion's public API. */
#ifndef FUSION_CERT_PRIVATE_H
#define FUSION_CERT_PRIVATE_H

#include "fusion/cert.h"

/* fx_cert_verify without the validity window: the directory keeps expired and not-yet-valid
 * certificates to report their status, and never hands them out as valid. */
fx_err_t fx_cert_verify_any_time_(const uint8_t *data, size_t len,
                                  const uint8_t authority_key[FX_KEY_BYTES], fx_cert_t **cert_p);

#endif
