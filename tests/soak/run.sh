#!/bin/sh
# make soak: the long reliability run. SOAK_CYCLES SIGKILL cycles of the crash campaign (default
# 1000), then every fuzz target for SOAK_FUZZ_SECONDS (default 1800, 30 minutes), SOAK_FUZZ_JOBS
# targets at a time (default: one per core; each libFuzzer process uses one), then one summary of
# the figures: cycles, messages, losses, duplicates, crashes, and per fuzz target its runs and
# crashes. Usage: tests/soak/run.sh BUILD_DIR FUZZ_TARGET...
build=${1:?usage: tests/soak/run.sh BUILD_DIR FUZZ_TARGET...}
shift
cycles=${SOAK_CYCLES:-1000}
seconds=${SOAK_FUZZ_SECONDS:-1800}
jobs=${SOAK_FUZZ_JOBS:-$(nproc 2>/dev/null || echo 1)}
case $jobs in '' | *[!0-9]* | 0) echo "soak: SOAK_FUZZ_JOBS must be a positive number" >&2; exit 2 ;; esac
FUSION_BIN=$(cd "$build/bin" && pwd)
FUSION_TOOLS=$(cd "$build/tools" && pwd)
FUSION_TEST_DATA=$(pwd)/tests/data
export FUSION_BIN FUSION_TOOLS FUSION_TEST_DATA
log=$build/soak
rm -rf "$log" && mkdir -p "$log"
status=0
started=$(date -u +%Y-%m-%dT%H:%M:%SZ)

echo "soak: $cycles SIGKILL cycles (log: $log/crash.log)"
# Publishers paced at one message per 50 ms each, so a thousand cycles do not grow the store
# (and each restart's checks) without bound.
CRASH_INTERVAL=${CRASH_INTERVAL:-50} CRASH_CYCLES=$cycles CRASH_SUMMARY=$log/crash.summary \
    sh tests/integration/crash_campaign.sh \
    >"$log/crash.log" 2>&1 || status=1
tail -n 2 "$log/crash.log"

# Each target runs for its full time on a core of its own: the targets are started in batches of
# $jobs and a batch is waited for before the next starts.
fuzz_one() {
    if sh tests/fuzz/run.sh "$seconds" "$1" >"$log/$(basename "$1").log" 2>&1; then
        echo ok >"$log/$(basename "$1").verdict"
    else
        echo CRASHED >"$log/$(basename "$1").verdict"
    fi
}
[ $# -eq 0 ] || echo "soak: $# fuzz targets, ${seconds}s each, $jobs at a time"
running=0
for target in "$@"; do
    fuzz_one "$target" &
    running=$((running + 1))
    if [ "$running" -ge "$jobs" ]; then
        wait
        running=0
    fi
done
wait
fuzz_lines=""
for target in "$@"; do
    name=$(basename "$target")
    verdict=$(cat "$log/$name.verdict" 2>/dev/null || echo CRASHED)
    [ "$verdict" = ok ] || status=1
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$build/fuzz/$name.log" | tail -n 1)
    fuzz_lines="$fuzz_lines
  $name: ${seconds}s, ${runs:-?} runs, $verdict"
done

echo
echo "soak summary (started $started, ended $(date -u +%Y-%m-%dT%H:%M:%SZ))"
if [ -s "$log/crash.summary" ]; then
    sed 's/^/  /' "$log/crash.summary"
else
    echo "  crash campaign: FAILED before its summary (see $log/crash.log)"
fi
[ -z "$fuzz_lines" ] || echo "  fuzzing:$fuzz_lines"
[ "$status" -eq 0 ] && echo "soak: passed" || echo "soak: FAILED"
exit $status
