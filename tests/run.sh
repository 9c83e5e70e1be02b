#!/bin/sh
# Runs every test against one build directory: the cmocka unit tests, the integration scripts
# (real binaries), the shared conformance cases, and a short run of each fuzz target.
# Usage: tests/run.sh BUILD_DIR SHARED_DIR   (FUZZ_SECONDS=0 skips the fuzz runs)
build=${1:-build}
shared=${2:-../shared}
FUSION_BIN=$(cd "$build/bin" && pwd)
FUSION_TOOLS=$(pwd)/$build/tools
FUSION_TEST_DATA=$(pwd)/tests/data
FUSION_SHARED=$shared
export FUSION_BIN FUSION_TOOLS FUSION_TEST_DATA FUSION_SHARED
log=$build/test-logs
rm -rf "$log" && mkdir -p "$log/unit" "$log/integration" "$log/fuzz"
passed=0
failed=0
failures=""

# Every test has a hard time limit, so a hang fails that test instead of the whole run.
limit=${TEST_TIMEOUT:-600}
run() { # name command...
    name=$1; shift
    printf '%-44s ' "$name"
    if timeout --kill-after=10 "$limit" "$@" >"$log/$name.log" 2>&1; then
        passed=$((passed + 1)); echo ok
    else
        failed=$((failed + 1)); failures="$failures $name"; echo FAILED
        sed 's/^/    /' "$log/$name.log" | tail -n 40
    fi
}

for t in "$build"/tests/test_*; do
    [ -x "$t" ] && run "unit/$(basename "$t")" "$t"
done
for t in tests/integration/*.sh; do
    [ -f "$t" ] && run "integration/$(basename "$t" .sh)" sh "$t"
done
if [ "${FUZZ_SECONDS:-0}" -gt 0 ]; then
    for t in "$build"/fuzz/fuzz_*; do
        [ -x "$t" ] && run "fuzz/$(basename "$t")" sh tests/fuzz/run.sh "$FUZZ_SECONDS" "$t"
    done
fi
echo
[ -z "$failures" ] || echo "failed:$failures (logs in $log)"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
