/* sign_checkpoint: signs an audit checkpoint with any principal's key, so the tests can plant a
 * checkpoint the broker never signed. Prints the body and the signature in hex, one per line.
 * Usage: sign_checkpoint KEYFILE TREE_SIZE ROOT_HEX TIME_MS */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fusion/audit.h"
#include "fusion/keys.h"

int main(int argc, char **argv)
{
    if (sodium_init() < 0)
        return 4;
    uint8_t root[FX_MERKLE_HASH_BYTES];
    size_t len = 0;
    if (argc != 5 ||
        sodium_hex2bin(root, sizeof root, argv[3], strlen(argv[3]), NULL, &len, NULL) != 0 ||
        len != sizeof root) {
        fprintf(stderr, "usage: sign_checkpoint KEYFILE TREE_SIZE ROOT_HEX TIME_MS\n");
        return 2;
    }
    fx_keys_t *keys = NULL;
    if (fx_keys_load(argv[1], &keys) != FX_OK) {
        fprintf(stderr, "sign_checkpoint: cannot load %s\n", argv[1]);
        return 4;
    }
    fx_store_checkpoint_t cp;
    fx_audit_checkpoint_sign(keys, strtoull(argv[2], NULL, 10), root, strtoll(argv[4], NULL, 10),
                             &cp);
    char hex[2 * FX_STORE_CHECKPOINT_BODY_MAX + 1];
    printf("%s\n", sodium_bin2hex(hex, sizeof hex, cp.body, cp.body_len));
    printf("%s\n", sodium_bin2hex(hex, sizeof hex, cp.signature, FX_SIGNATURE_BYTES));
    fx_keys_destroy(&keys);
    return 0;
}
