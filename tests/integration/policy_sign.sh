#!/bin/sh
# fusion-admin policy sign / verify: only a valid policy is signed; a signature holds for the
# exact bytes signed, with the region's authority, and for nothing else.
set -u
. "$(dirname "$0")/../lib/integration.sh"

"$admin" init "$work/region" >/dev/null
"$admin" init "$work/other" >/dev/null
cp deploy/policy/bali-process.yaml "$work/policy.yaml"

check "verify without a signature is refused" 3 "$admin" policy verify --region "$work/region" "$work/policy.yaml"
check "sign a valid policy" 0 "$admin" policy sign --region "$work/region" "$work/policy.yaml"
check "verify it" 0 "$admin" policy verify --region "$work/region" "$work/policy.yaml"
check "FUSION_REGION works too" 0 env FUSION_REGION="$work/region" "$admin" policy verify "$work/policy.yaml"
check "another region's authority does not verify it" 3 "$admin" policy verify --region "$work/other" "$work/policy.yaml"
printf '\n# an edit after signing\n' >>"$work/policy.yaml"
check "an edited policy does not verify" 3 "$admin" policy verify --region "$work/region" "$work/policy.yaml"
grep -q "does not verify" "$work/out.txt" "$work/err.txt" || fail "the refusal does not say why"
printf 'fusion_policy: 1\ndefault: sometimes\n' >"$work/bad.yaml"
check "an invalid policy is not signed" 2 "$admin" policy sign --region "$work/region" "$work/bad.yaml"
grep -q "bad.yaml:2:10" "$work/out.txt" "$work/err.txt" || { fail "the error has no line:column"; cat "$work/out.txt" "$work/err.txt"; }
[ ! -e "$work/bad.yaml.sig" ] || fail "a signature was written for an invalid policy"
chmod 644 "$work/region/authority.key"
check "a readable authority key is refused" 3 "$admin" policy sign --region "$work/region" "$work/policy.yaml"
grep -q "chmod 600" "$work/out.txt" "$work/err.txt" || fail "the refusal does not say how to fix it"
check "no region" 2 env -u FUSION_REGION "$admin" policy sign "$work/policy.yaml"
contains "$work/err.txt" "^fusion-admin: policy sign: no region given" "no region: one prefix"

# A policy file that cannot be read: one line with the tool's prefix, exit 2.
check "check a missing policy" 2 "$admin" policy check "$work/nothere.yaml"
contains "$work/err.txt" "^fusion-admin: policy check: $work/nothere.yaml: no such file$" \
    "missing policy: prefixed"
check "explain with a missing policy" 2 "$admin" policy explain --policy "$work/nothere.yaml" \
    "$FUSION_TEST_DATA/explain/01-victim-referral-tha-idn.json"
contains "$work/err.txt" "^fusion-admin: policy explain: $work/nothere.yaml: no such file$" \
    "explain, missing policy: prefixed"
check "check a directory" 2 "$admin" policy check "$work/region"
contains "$work/err.txt" "^fusion-admin: policy check: $work/region: is a directory, not a policy file$" \
    "a directory is named as such"
# A directory where a file is named is bad input (2) in every policy command, and a file that
# cannot be read is a system error (4) with the system's reason (it was "the file cannot be
# read" or "a file could not be read or written"; verify and explain's query exited 4 for a
# directory).
check "verify a directory" 2 "$admin" policy verify --region "$work/region" "$work/region"
contains "$work/err.txt" "^fusion-admin: policy verify: $work/region: is a directory$" \
    "verify: a directory is named as such"
check "explain a directory" 2 "$admin" policy explain --policy "$work/policy.yaml" "$work/region"
contains "$work/err.txt" "^fusion-admin: policy explain: cannot read the query $work/region: is a directory$" \
    "explain: a directory is named as such"
check "verify a missing policy" 2 "$admin" policy verify --region "$work/region" "$work/nothere.yaml"
contains "$work/err.txt" "^fusion-admin: policy verify: $work/nothere.yaml: no such file$" \
    "verify: a missing policy"
cp "$work/policy.yaml" "$work/unreadable.yaml"
chmod 000 "$work/unreadable.yaml"
as_nobody() { # runs as nobody when the tests run as root (root reads any file)
    if [ "$(id -u)" -eq 0 ]; then
        setpriv --reuid 65534 --regid 65534 --clear-groups "$@"
    else
        "$@"
    fi
}
[ "$(id -u)" -ne 0 ] || chmod 711 "$work" "$work/region" # nobody reaches them; region: for verify
for command in check "sign --region $work/region" "verify --region $work/region"; do
    # shellcheck disable=SC2086 # the command and its --region, split on purpose
    check "$command an unreadable policy" 4 as_nobody "$admin" policy $command \
        "$work/unreadable.yaml"
    contains "$work/err.txt" "^fusion-admin: policy ${command%% *}: $work/unreadable.yaml: Permission denied$" \
        "${command%% *}: the system's reason"
done
[ "$(id -u)" -ne 0 ] || chmod 700 "$work" "$work/region"
# An authority.pub whose fingerprint line does not match its key: a mistyped copy, said so.
cp -r "$work/region" "$work/mistyped"
sed -i 's/^fingerprint: ..../fingerprint: ZZZZ/' "$work/mistyped/authority.pub"
check "verify with a mistyped authority.pub" 2 "$admin" policy verify --region "$work/mistyped" \
    "$work/policy.yaml"
contains "$work/err.txt" "authority.pub: its fingerprint line does not match its key" \
    "a mistyped authority.pub is named as such"
check "an invalid policy" 2 "$admin" policy check "$work/bad.yaml"
contains "$work/err.txt" "^fusion-admin: policy check: $work/bad.yaml is not a valid policy (1 error)$" \
    "the closing line has one prefix"

finish "policy sign/verify"
