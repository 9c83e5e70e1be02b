# Sourced by profile.sh and wal_pages.sh: starts bench_broker's delivered-message phase alone
# (MESSAGES messages from pipelined publishers to one consumer; no hop, peer, latency, audit or
# memory phase) in the background, its output in OUT/bench.log, and waits for the traffic
# broker it starts. Sets bench (the bench's pid), broker (the broker's pid) and region (the
# bench's directory, the broker's database in region/traffic); returns 4 if no broker started.
phase_start() { # BUILD MESSAGES OUT
    unset FUSION_BENCH_REPORT # this run's figures go to its log, not to the report
    FUSION_BIN=$(cd "$1/bin" && pwd) BENCH_MESSAGES=$2 BENCH_LATENCY_SECONDS=0 \
        BENCH_AGENTS=0 BENCH_STORED=0 BENCH_AUDIT_MESSAGES=0 BENCH_HOP_MESSAGES=0 \
        "$1/bench/bench_broker" >"$3/bench.log" 2>&1 &
    bench=$!
    broker=
    # The first broker the bench starts is the traffic broker: poll its log line for the pid.
    while [ -z "$broker" ] && kill -0 "$bench" 2>/dev/null; do
        broker=$(sed -n 's/.*broker (pid \([0-9]*\)) listening.*/\1/p' "$3/bench.log" | head -n 1)
        [ -n "$broker" ] || sleep 0.05
    done
    region=$(sed -n 's/.*region in \(.*\)$/\1/p' "$3/bench.log" | head -n 1)
    [ -n "$broker" ] && [ -n "$region" ] && return 0
    cat "$3/bench.log" >&2
    return 4
}
