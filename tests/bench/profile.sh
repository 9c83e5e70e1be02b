#!/bin/sh
# Where the broker's time goes: runs bench_broker's delivered-message phase alone (BENCH_MESSAGES
# messages from pipelined publishers to one consumer; no hop, peer, latency, audit or memory
# phase) and records the traffic broker with perf from its start to its exit, then prints the
# top symbols (self time), the broker's functions with their callees (DWARF call graphs, so no
# frame pointers are needed) and the shares of each library. Needs perf (Debian: linux-perf).
# Usage: tests/bench/profile.sh BUILD_DIR [MESSAGES]   (make bench-build first); PROFILE_HZ sets
# the sampling rate (default 499 a second).
build=${1:?usage: tests/bench/profile.sh BUILD_DIR [MESSAGES]}
messages=${2:-50000}
out=build/bench/profile
command -v perf >/dev/null 2>&1 || { echo "profile: perf is not installed (Debian: linux-perf)" >&2; exit 5; }
[ -x "$build/bench/bench_broker" ] || { echo "profile: no $build/bench/bench_broker (make BUILD=$build bench-build)" >&2; exit 2; }
mkdir -p "$out"
rm -f "$out/bench.log" "$out/perf.data"
. "$(dirname "$0")/phase.sh"
phase_start "$build" "$messages" "$out" ||
    { echo "profile: the bench did not start a broker" >&2; exit 4; }
pid=$broker
# perf stops by itself when the broker exits at the end of the phase.
perf record -q -F ${PROFILE_HZ:-499} --call-graph dwarf,16384 -o "$out/perf.data" -p "$pid" >"$out/perf.log" 2>&1
wait "$bench"
status=$?
grep -E '^broker: CPU per 1 KiB msg accepted|^floor: CPU time of one Ed25519 verification' "$out/bench.log"
echo "== top symbols (self), broker pid $pid, $messages messages"
perf report -i "$out/perf.data" --stdio --no-children --sort symbol -g none --percent-limit 0.7 2>/dev/null |
    grep -v '^#' | grep -v '^$' | head -n 40
echo "== inclusive (self + callees), named functions of 3% and more"
perf report -i "$out/perf.data" --stdio --children --sort symbol -g none --percent-limit 3 2>/dev/null |
    grep -v '^#' | grep -v '^$' | grep -v ' 0x[0-9a-f]* ' | head -n 60
echo "== by library"
perf report -i "$out/perf.data" --stdio --no-children --sort dso -g none --percent-limit 0.5 2>/dev/null |
    grep -v '^#' | grep -v '^$' | head -n 15
echo "profile: $out/perf.data (perf report -i $out/perf.data for call graphs)"
exit $status
