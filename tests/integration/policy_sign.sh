#!/bin/sh
# fusion-admin policy sign / verify: only a valid policy is signed; a signature holds for the
# exact bytes signed, with the region's authority, and for nothing else.
set -u
bin=${FUSION_BIN:?FUSION_BIN must name the directory of the built binaries}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0
check() { # name expected-exit command...
    name=$1 want=$2; shift 2
    "$@" >"$work/out" 2>&1
    got=$?
    if [ "$got" -ne "$want" ]; then
        echo "FAIL $name: exit $got, expected $want"; sed 's/^/    /' "$work/out"
        failures=$((failures + 1))
    fi
}

"$bin/fusion-admin" init "$work/region" >/dev/null
"$bin/fusion-admin" init "$work/other" >/dev/null
cp deploy/policy/bali-process.yaml "$work/policy.yaml"

check "verify without a signature is refused" 3 "$bin/fusion-admin" policy verify --region "$work/region" "$work/policy.yaml"
check "sign a valid policy" 0 "$bin/fusion-admin" policy sign --region "$work/region" "$work/policy.yaml"
check "verify it" 0 "$bin/fusion-admin" policy verify --region "$work/region" "$work/policy.yaml"
check "FUSION_REGION works too" 0 env FUSION_REGION="$work/region" "$bin/fusion-admin" policy verify "$work/policy.yaml"
check "another region's authority does not verify it" 3 "$bin/fusion-admin" policy verify --region "$work/other" "$work/policy.yaml"
printf '\n# an edit after signing\n' >>"$work/policy.yaml"
check "an edited policy does not verify" 3 "$bin/fusion-admin" policy verify --region "$work/region" "$work/policy.yaml"
grep -q "does not verify" "$work/out" || { echo "FAIL: the refusal does not say why"; failures=$((failures + 1)); }
printf 'fusion_policy: 1\ndefault: sometimes\n' >"$work/bad.yaml"
check "an invalid policy is not signed" 2 "$bin/fusion-admin" policy sign --region "$work/region" "$work/bad.yaml"
grep -q "bad.yaml:2:10" "$work/out" || { echo "FAIL: the error has no line:column"; cat "$work/out"; failures=$((failures + 1)); }
[ ! -e "$work/bad.yaml.sig" ] || { echo "FAIL: a signature was written for an invalid policy"; failures=$((failures + 1)); }
chmod 644 "$work/region/authority.key"
check "a readable authority key is refused" 3 "$bin/fusion-admin" policy sign --region "$work/region" "$work/policy.yaml"
grep -q "chmod 600" "$work/out" || { echo "FAIL: the refusal does not say how to fix it"; failures=$((failures + 1)); }
check "no region" 2 env -u FUSION_REGION "$bin/fusion-admin" policy sign "$work/policy.yaml"

[ "$failures" -eq 0 ] && echo "policy sign/verify: all checks passed"
[ "$failures" -eq 0 ]
