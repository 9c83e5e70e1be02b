#!/bin/sh
# make demo, as a newcomer runs it: from a copy of the repository's files (with their times, so
# the binaries of this build are reused rather than rebuilt), twice in a row. It must exit 0,
# narrate its steps, write the exercise report and the audit verification it names, and leave
# no process running.
# Usage: FUSION_BIN=build/bin sh tests/integration/demo.sh   (from the repository root)
set -u
. "$(dirname "$0")/../lib/integration.sh"
build=$(cd "$(dirname "$FUSION_BIN")" && pwd)
copy=$work/fusion
mkdir -p "$copy"
git ls-files -z | xargs -0 tar -cf - | tar -xf - -C "$copy" ||
    { echo "FAIL: cannot copy the repository"; exit 1; }
for round in 1 2; do
    env -u MAKEFLAGS -u MAKELEVEL -u MFLAGS make --no-print-directory -C "$copy" demo \
        BUILD="$build" >"$work/demo$round.out" 2>&1
    status=$?
    [ "$status" -eq 0 ] || { fail "make demo (round $round) exited $status"; tail -n 30 "$work/demo$round.out"; }
    grep -q -e 'Sanitizer' -e 'runtime error' "$work/demo$round.out" && fail "round $round: sanitizer report"
    report=$(sed -n 's/^  report: //p' "$work/demo$round.out")
    audit=$(sed -n 's/^  audit:  //p' "$work/demo$round.out")
    [ -n "$report" ] && [ -s "$report" ] || fail "round $round: no report at '$report'"
    [ -n "$audit" ] && grep -q '^audit trail holds' "$audit" ||
        fail "round $round: no audit verification at '$audit'"
    tail -n 4 "$work/demo$round.out" | head -n 1 | grep -q '^Demo finished' ||
        fail "round $round: the last lines are not where the report and logs are"
    [ "$(grep -c '^\[[0-9]*\] ' "$work/demo$round.out")" -ge 10 ] || fail "round $round: too few steps narrated"
    for what in "route alert" "refers a victim" "acknowledges" "exercise" "audit trail verifies" \
        "says no"; do
        grep -q "^\[[0-9]*\] .*$what" "$work/demo$round.out" || fail "round $round: no step about '$what'"
    done
done
pgrep -f "$build/demo/broker.yaml" >/dev/null && fail "a broker of the demo is still running"
finish demo
