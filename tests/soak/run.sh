#!/bin/sh
# make soak: the long reliability run. SOAK_CYCLES SIGKILL cycles of the crash campaign (default
# 1000), then every fuzz target for SOAK_FUZZ_SECONDS (default 1800, 30 minutes), SOAK_FUZZ_JOBS
# targets at a time (default: one per core; each libFuzzer process uses one), then one summary of
# the figures: cycles, messages, losses, duplicates, crashes, and per fuzz target its runs and
# crashes. With SOAK_RESUME=1 an interrupted soak goes on where it stopped: a part whose result is
# newer than the binary it tested (the crash campaign's "ok" verdict than fusion-broker, a target's
# "ok" verdict than the target) is kept, as make keeps a target newer than its sources; a rebuilt binary is
# tested again. Usage: tests/soak/run.sh BUILD_DIR FUZZ_TARGET...
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
now() { date -u +%Y-%m-%dT%H:%M:%SZ; }
if [ "${SOAK_RESUME:-0}" = 1 ] && [ -d "$log" ]; then
    echo "resumed $(now)" >>"$log/started"
else
    rm -rf "$log" && mkdir -p "$log" && echo "started $(now)" >"$log/started"
fi
status=0

# kept VERDICT BINARY: true when a resumed soak keeps a passed part, whose VERDICT says ok and is
# newer than the BINARY it tested.
kept() {
    [ "${SOAK_RESUME:-0}" = 1 ] && [ "$(cat "$1" 2>/dev/null)" = ok ] && [ "$1" -nt "$2" ]
}

if kept "$log/crash.verdict" "$build/bin/fusion-broker" && [ -s "$log/crash.summary" ]; then
    echo "soak: crash campaign kept from the interrupted run ($log/crash.summary)"
else
    echo "soak: $cycles SIGKILL cycles (log: $log/crash.log)"
    rm -f "$log/crash.summary" "$log/crash.verdict"
    # Publishers paced at one message per 50 ms each, so a thousand cycles do not grow the store
    # (and each restart's checks) without bound.
    if CRASH_INTERVAL=${CRASH_INTERVAL:-50} CRASH_CYCLES=$cycles CRASH_SUMMARY=$log/crash.summary \
        sh tests/integration/crash_campaign.sh >"$log/crash.log" 2>&1; then
        echo ok >"$log/crash.verdict"
    else
        echo FAILED >"$log/crash.verdict"
        status=1
    fi
    tail -n 2 "$log/crash.log"
fi

# Each target runs for its full time on a core of its own: the targets are started in batches of
# $jobs and a batch is waited for before the next starts.
fuzz_one() {
    rm -f "$log/$(basename "$1").verdict"
    if sh tests/fuzz/run.sh "$seconds" "$1" >"$log/$(basename "$1").log" 2>&1; then
        echo ok >"$log/$(basename "$1").verdict"
    else
        echo CRASHED >"$log/$(basename "$1").verdict"
    fi
}
[ $# -eq 0 ] || echo "soak: $# fuzz targets, ${seconds}s each, $jobs at a time"
running=0
kept_targets=""
for target in "$@"; do
    if kept "$log/$(basename "$target").verdict" "$target"; then
        echo "soak: $(basename "$target") kept from the interrupted run"
        kept_targets="$kept_targets $(basename "$target") "
        continue
    fi
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
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$build/fuzz/$name.log" 2>/dev/null |
        tail -n 1)
    case $kept_targets in *" $name "*) verdict="$verdict (kept from the interrupted run)" ;; esac
    fuzz_lines="$fuzz_lines
  $name: ${seconds}s, ${runs:-?} runs, $verdict"
done

echo
echo "soak summary ($(tr '\n' ' ' <"$log/started")ended $(now))"
if [ -s "$log/crash.summary" ]; then
    sed 's/^/  /' "$log/crash.summary"
else
    echo "  crash campaign: FAILED before its summary (see $log/crash.log)"
fi
[ -z "$fuzz_lines" ] || echo "  fuzzing:$fuzz_lines"
[ "$status" -eq 0 ] && echo "soak: passed" || echo "soak: FAILED"
exit $status
