#!/bin/sh
# Policy conformance: runs every case of policy-cases.json through
# `fusion-admin policy explain --policy FILE -` and checks the answer against the expectation
# and the contract of DESIGN.md (which fields must be present, and which must be absent).
# Env: FUSION_BIN (directory of the built binaries), FUSION_SHARED (normally ../shared; the
# vendored copy in tests/data/conformance is used when $FUSION_SHARED/conformance is missing).
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
: "${FUSION_BIN:=$top/build/bin}"
. "$top/tests/lib/integration.sh"
dir=${FUSION_SHARED:-../shared}/conformance
if [ ! -f "$dir/policy-cases.json" ]; then
    echo "conformance_policy: $dir/policy-cases.json is missing; using the vendored copy in" \
        "tests/data/conformance"
    dir=$top/tests/data/conformance
fi
cases=$dir/policy-cases.json
command -v jq >/dev/null 2>&1 || { echo "conformance_policy: jq is required"; exit 2; }
[ -x "$admin" ] || { echo "conformance_policy: no $admin"; exit 2; }

# Problems with one answer ($a) against its expectation ($e), one line each; none when it passes.
check='
($a[0].decisions // null) as $d | $e[0] as $x |
if ($d | type) != "array" then "the answer has no decisions list" else
  (if ($d | length) != ($x | length)
   then "expected \($x | length) decisions, got \($d | length)" else empty end),
  (range(0; [($d | length), ($x | length)] | min) as $k | $d[$k] as $g | $x[$k] as $w |
   "decision \($k + 1) (\($w.recipient), section \($w.section))" as $at |
   (("recipient", "section", "allow") as $f |
      if $g[$f] != $w[$f] then "\($at): \($f) is \($g[$f] | tojson), expected \($w[$f] | tojson)"
      else empty end),
   (("code", "rule", "agreement") as $f |
      if ($w | has($f)) and $g[$f] != $w[$f]
      then "\($at): \($f) is \($g[$f] | tojson), expected \($w[$f] | tojson)" else empty end),
   (if ($g.allow | type) != "boolean" then "\($at): allow is not a boolean" else empty end),
   (if $g.allow == true and ($g | has("code")) then "\($at): an allowance carries a code"
    else empty end),
   (if $g.allow == false and (($g | has("code")) | not) then "\($at): a denial has no code"
    else empty end),
   (if $g.allow == true and (($g | has("rule")) | not) then "\($at): an allowance has no rule"
    else empty end),
   (if $g.allow == false and $g.code != "forbidden" and ($g | has("rule"))
    then "\($at): a \($g.code) denial carries a rule" else empty end),
   (if $g.code == "forbidden" and (($g | has("rule")) | not)
    then "\($at): a forbidden denial has no rule" else empty end),
   (if (($w | has("agreement")) | not) and ($g | has("agreement"))
    then "\($at): carries agreement \($g.agreement | tojson), but none satisfied check 4"
    else empty end),
   (if ($g.reason | type) != "string" or $g.reason == ""
    then "\($at): reason is missing or empty" else empty end))
end'

count=$(jq length "$cases")
passed=0
i=0
while [ "$i" -lt "$count" ]; do
    name=$(jq -r ".[$i].name" "$cases")
    policy=$dir/$(jq -r ".[$i].policy" "$cases")
    jq ".[$i].query" "$cases" >"$work/query.json"
    jq ".[$i].expect" "$cases" >"$work/expect.json"
    problems=""
    "$admin" policy explain --policy "$policy" - <"$work/query.json" \
        >"$work/answer.json" 2>"$work/stderr"
    status=$?
    if [ "$status" -ne 0 ]; then
        problems="exit status $status, expected 0: $(cat "$work/stderr")"
    elif ! jq -e . "$work/answer.json" >/dev/null 2>&1; then
        problems="the answer is not JSON"
    else
        problems=$(jq -rn --slurpfile a "$work/answer.json" --slurpfile e "$work/expect.json" \
            "$check")
    fi
    if [ -z "$problems" ]; then
        passed=$((passed + 1))
    else
        fail "$name"
        echo "$problems" | sed 's/^/    /'
    fi
    i=$((i + 1))
done
echo "policy conformance: $passed passed, $failures failed ($cases)"
finish "policy conformance"
