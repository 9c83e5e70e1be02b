#!/bin/sh
# Runs libFuzzer targets for SECONDS each over their seed corpus (tests/fuzz/corpus/NAME), with
# new inputs kept in build/fuzz/corpus/NAME. A crash leaves its input in build/fuzz/crashes.
# Usage: tests/fuzz/run.sh SECONDS TARGET...
seconds=$1; shift
status=0
for target in "$@"; do
    name=$(basename "$target")
    seeds=tests/fuzz/corpus/${name#fuzz_}
    work=build/fuzz/corpus/${name#fuzz_}
    mkdir -p "$work" build/fuzz/crashes
    echo "fuzz: $name for ${seconds}s"
    "$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix=build/fuzz/crashes/"$name"- -print_final_stats=1 \
        "$work" "$seeds" 2>&1 | tail -n 12 || status=1
done
exit $status
