#!/bin/sh
# Runs every route-match case through the real fusion-admin: the shared conformance cases
# ($FUSION_SHARED/conformance/route-cases.tsv, or the vendored copy in tests/data/conformance when
# the shared folder is absent) and this project's own cases (tests/data/route-cases-extra.tsv).
# Each line is PATTERN<TAB>ROUTE<TAB>match|no|error; lines starting with '#' are comments.
# Env: FUSION_BIN (directory of the built binaries), FUSION_SHARED, FUSION_TEST_DATA.
here=$(cd "$(dirname "$0")" && pwd)
: "${FUSION_BIN:=$here/../../build/bin}"
. "$here/../lib/integration.sh"
shared=${FUSION_SHARED:-$here/../../../shared}
data=${FUSION_TEST_DATA:-$here/../data}

if [ ! -x "$admin" ]; then
    echo "FAIL: $admin is not built"
    exit 1
fi
if [ -d "$shared/conformance" ]; then
    cases=$shared/conformance/route-cases.tsv
else
    cases=$data/conformance/route-cases.tsv
    echo "note: $shared/conformance does not exist; using the vendored copy $cases"
fi
extra=$data/route-cases-extra.tsv

tab=$(printf '\t')
cr=$(printf '\r')
out=$work/out
err=$work/err
total=0

run_file() { # file
    file=$1
    n=0
    if [ ! -f "$file" ]; then
        fail "$file:$n: missing case file"
        return
    fi
    while IFS= read -r line || [ -n "$line" ]; do
        n=$((n + 1))
        line=${line%"$cr"}
        case $line in
        '' | '#'*) continue ;;
        esac
        # cut keeps empty fields and spaces inside fields, which read with IFS=tab would not.
        pattern=$(printf '%s\n' "$line" | cut -f1)
        route=$(printf '%s\n' "$line" | cut -f2)
        expected=$(printf '%s\n' "$line" | cut -f3)
        case $line in
        *"$tab"*"$tab"*) ;;
        *)
            fail "$file:$n: not three tab-separated columns: $line"
            continue
            ;;
        esac
        total=$((total + 1))
        "$admin" route match "$pattern" "$route" </dev/null >"$out" 2>"$err"
        rc=$?
        got=$(cat "$out")
        what="route match '$pattern' '$route'"
        case $expected in
        match)
            if [ "$rc" -ne 0 ] || [ "$got" != "match" ]; then
                fail "$file:$n: $what: expected 'match' exit 0, got '$got' exit $rc $(cat "$err")"
            fi
            ;;
        no)
            if [ "$rc" -ne 1 ] || [ "$got" != "no match" ]; then
                fail "$file:$n: $what: expected 'no match' exit 1, got '$got' exit $rc $(cat "$err")"
            fi
            ;;
        error)
            if [ "$rc" -ne 2 ] || [ ! -s "$err" ]; then
                fail "$file:$n: $what: expected an error on stderr and exit 2, got '$got' exit $rc"
            fi
            ;;
        *)
            fail "$file:$n: unknown expectation '$expected' (match, no or error)"
            ;;
        esac
    done <"$file"
}

run_file "$cases"
run_file "$extra"
echo "route cases: $total run, $failures failed ($cases, $extra)"
[ "$total" -gt 0 ] || fail "no route cases ran"
finish "route conformance"
