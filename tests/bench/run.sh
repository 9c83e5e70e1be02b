#!/bin/sh
# Runs every benchmark; prints a table and writes build/bench/report.json.
# Usage: tests/bench/run.sh BUILD_DIR BENCH...
build=$1; shift
mkdir -p build/bench
FUSION_BENCH_REPORT=$(pwd)/build/bench/report.json
FUSION_BIN=$(cd "$build/bin" && pwd)
# The bench-only broker without audit appends (Makefile), to measure what the audit costs.
FUSION_BENCH_NOAUDIT=$(pwd)/$build/bench/fusion-broker-noaudit
# The forwarder of the bare ZeroMQ hop, and the Mosquitto peer (built only with libmosquitto).
FUSION_BENCH_HOP=$(pwd)/$build/bench/hop_forwarder
FUSION_BENCH_MOSQUITTO=
[ -x "$build/bench/peer_mosquitto" ] && FUSION_BENCH_MOSQUITTO=$(pwd)/$build/bench/peer_mosquitto
export FUSION_BENCH_REPORT FUSION_BIN FUSION_BENCH_NOAUDIT FUSION_BENCH_HOP FUSION_BENCH_MOSQUITTO
echo '[]' >"$FUSION_BENCH_REPORT"
status=0
for b in "$@"; do
    echo "== $(basename "$b")"
    "$b" || status=1
done
echo "report: $FUSION_BENCH_REPORT"
exit $status
