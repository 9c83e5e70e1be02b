#!/bin/sh
# Runs libFuzzer targets for SECONDS each over their seed corpus (tests/fuzz/corpus/NAME), with
# new inputs kept in BUILD/fuzz/corpus/NAME. A crash leaves its input in BUILD/fuzz/crashes.
# Usage: tests/fuzz/run.sh SECONDS TARGET...
seconds=$1; shift
status=0
for target in "$@"; do
    name=$(basename "$target")
    seeds=tests/fuzz/corpus/${name#fuzz_}
    out=$(dirname "$target")
    work=$out/corpus/${name#fuzz_}
    mkdir -p "$work" "$out/crashes"
    echo "fuzz: $name for ${seconds}s"
    if ! "$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="$out/crashes/$name-" -print_final_stats=1 \
        "$work" "$seeds" >"$out/$name.log" 2>&1 </dev/null; then
        status=1
        echo "fuzz: $name FAILED; input saved under $out/crashes (log: $out/$name.log)"
    fi
    tail -n 12 "$out/$name.log"
done
exit $status
