#!/bin/sh
# The example policy deploy/policy/bali-process.yaml: `fusion-admin policy check` accepts it, and
# `fusion-admin policy explain` answers each query in tests/data/explain/ as its .expect.json says.
# The expectations were derived by hand from the decision order of DESIGN.md.
#
# Usage (from the repository root): FUSION_BIN=build/bin sh tests/integration/example_policy.sh
# Needs jq. Prints each failure by name; exits non-zero if any check fails.
set -u
. "$(dirname "$0")/../lib/integration.sh"
policy=deploy/policy/bali-process.yaml
data=${FUSION_TEST_DATA:-tests/data}/explain

command -v jq >/dev/null 2>&1 || { echo "example_policy: jq is required" >&2; exit 2; }
[ -x "$admin" ] || { echo "example_policy: $admin not found or not executable" >&2; exit 2; }

checks=0

# 1. The policy is valid.
checks=$((checks + 1))
if "$admin" policy check "$policy" >"$work/check.out" 2>&1; then
    echo "ok   policy check $policy"
else
    fail "policy-check: fusion-admin policy check $policy exited non-zero:"
    sed 's/^/    /' "$work/check.out"
fi

# 2. Each query gets the expected decisions.
found=0
for query in "$data"/*.json; do
    case $query in *.expect.json) continue ;; esac
    [ -f "$query" ] || continue
    found=$((found + 1))
    name=$(basename "$query" .json)
    expect=${query%.json}.expect.json
    checks=$((checks + 1))
    if [ ! -f "$expect" ]; then
        fail "$name: missing $expect"
        continue
    fi
    status=0
    "$admin" policy explain --policy "$policy" "$query" >"$work/$name.out" 2>"$work/$name.err" \
        || status=$?
    if [ "$status" -ne 0 ]; then
        fail "$name: policy explain exited $status: $(head -c 400 "$work/$name.err")"
        continue
    fi
    if ! jq -e '.decisions | type == "array"' "$work/$name.out" >/dev/null 2>&1; then
        fail "$name: answer is not JSON with a decisions array: $(head -c 400 "$work/$name.out")"
        continue
    fi
    want=$(jq 'length' "$expect")
    got=$(jq '.decisions | length' "$work/$name.out")
    count=""
    [ "$want" = "$got" ] || count="expected $want decisions, got $got"
    # Compare decision i with expectation i: recipient, section and allow always; code, rule and
    # agreement when the expectation gives them. Each mismatch is one line.
    mismatches=$(jq -r --slurpfile got "$work/$name.out" '
        . as $exp
        | range(0; $exp | length) as $i
        | $exp[$i] as $e
        | ($got[0].decisions[$i] // {}) as $d
        | ["recipient", "section", "allow", "code", "rule", "agreement"][] as $k
        | select($e | has($k))
        | select($d[$k] != $e[$k])
        | "decision \($i) (\($e.recipient) section \($e.section)): \($k) expected \($e[$k] | tojson), got \($d[$k] | tojson)"
          + (if $d.reason then " (reason: \($d.reason))" else "" end)
        ' "$expect") || mismatches="could not compare (jq failed)"
    mismatches=$(printf '%s\n%s\n' "$count" "$mismatches" | sed '/^$/d')
    if [ -n "$mismatches" ]; then
        fail "$name: $(printf '%s\n' "$mismatches" | sed '2,$s/^/      /')"
    else
        echo "ok   $name ($got decisions)"
    fi
done
if [ "$found" -lt 1 ]; then
    fail "queries: no query files in $data"
fi

# 3. QUERY may be the query's JSON itself (DESIGN.md: policy explain --policy FILE [QUERY|-]):
# an argument whose first non-blank character is '{'. It was read as a file name only ("File
# name too long", exit 2). The answer is the file's; a file whose name starts with '{' is still
# read as ./{...; errors name "the query argument".
query=$data/03-route-alert-green.json
checks=$((checks + 1))
"$admin" policy explain --policy "$policy" "$query" >"$work/inline.want" 2>&1
check "an inline query" 0 "$admin" policy explain --policy "$policy" " $(cat "$query")"
cmp -s "$work/out.txt" "$work/inline.want" || fail "an inline query: not the file's answer"
check "an inline query, --text" 0 "$admin" policy explain --policy "$policy" --text \
    "$(jq -c . "$query")"
contains "$work/out.txt" "^MYS.RMP.lo1, section 1: allowed by rule" "an inline query, --text"
cp "$query" "$work/{q}.json"
check "a file named {q}.json, as ./{q}.json" 0 sh -c 'cd "$1" && shift && "$@"' sh "$work" \
    "$admin" policy explain --policy "$PWD/$policy" "./{q}.json"
cmp -s "$work/out.txt" "$work/inline.want" || fail "./{q}.json: not the file's answer"
check "an inline query that is not JSON" 2 "$admin" policy explain --policy "$policy" '{"at": '
contains "$work/err.txt" "^fusion-admin: policy explain: invalid query in the query argument: not JSON (line 1" \
    "an inline query that is not JSON"
check "an inline query with an unknown key" 2 "$admin" policy explain --policy "$policy" \
    "$(jq -c '.colour = "red"' "$query")"
contains "$work/err.txt" "^fusion-admin: policy explain: invalid query in the query argument: unknown key 'colour' in the query$" \
    "an inline query with an unknown key"
jq '.colour = "red"' "$query" >"$work/bad.json"
check "a query file with an unknown key" 2 "$admin" policy explain --policy "$policy" "$work/bad.json"
contains "$work/err.txt" "^fusion-admin: policy explain: invalid query in $work/bad.json: unknown key 'colour' in the query$" \
    "a query file with an unknown key names the file"
check "a query on standard input with an unknown key" 2 sh -c '"$1" policy explain --policy "$2" - <"$3"' \
    sh "$admin" "$policy" "$work/bad.json"
contains "$work/err.txt" "invalid query in standard input: unknown key" \
    "a query on standard input names standard input"

# 4. A query without a key DESIGN.md shows and does not let be null is invalid, exit 2, named
# with its path; it was evaluated with a default (no kind, no audience, no categories).
check "a query without message.kind" 2 "$admin" policy explain --policy "$policy" \
    "$(jq -c 'del(.message.kind)' "$query")"
contains "$work/err.txt" "^fusion-admin: policy explain: invalid query in the query argument: message has no kind$" \
    "a query without message.kind"
check "a query without a section's categories" 2 "$admin" policy explain --policy "$policy" \
    "$(jq -c 'del(.message.sections[0].categories)' "$query")"
contains "$work/err.txt" "message.sections\[0\] has no categories (write \[\] for none)$" \
    "a query without a section's categories"

echo "$((checks - failures)) of $checks checks passed"
finish example_policy
