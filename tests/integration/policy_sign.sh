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
check "an invalid policy" 2 "$admin" policy check "$work/bad.yaml"
contains "$work/err.txt" "^fusion-admin: policy check: $work/bad.yaml is not a valid policy (1 error)$" \
    "the closing line has one prefix"

finish "policy sign/verify"
