#!/bin/sh
# Which tables and indexes the broker's commits write: runs bench_broker's delivered-message
# phase alone (as profile.sh does), copies the traffic broker's database and WAL a few times a
# second while it runs, and prints, for the copy whose WAL holds the most committed frames, how
# many of them each table and index wrote (wal_pages.c). A frame is a page written to the log by
# a commit, and copied again into the database by a checkpoint.
# Usage: tests/bench/wal_pages.sh BUILD_DIR [MESSAGES]   (make bench-build first)
build=${1:?usage: tests/bench/wal_pages.sh BUILD_DIR [MESSAGES]}
messages=${2:-50000}
out=build/bench/wal-copies
[ -x "$build/bench/bench_broker" ] && [ -f "$build/bench/wal_pages" ] ||
    { echo "wal_pages: no $build/bench/bench_broker or wal_pages (make BUILD=$build bench-build)" >&2; exit 2; }
rm -rf "$out"
mkdir -p "$out"
. "$(dirname "$0")/phase.sh"
phase_start "$build" "$messages" "$out" ||
    { echo "wal_pages: the bench did not start a broker" >&2; exit 4; }
db=$region/traffic/broker.db
# Copies of a live WAL: frames still being written are past its last commit frame, which
# wal_pages ignores.
i=0
while kill -0 "$bench" 2>/dev/null; do
    sleep 0.25
    mkdir -p "$out/$i"
    cp "$db" "$out/$i/broker.db" 2>/dev/null && cp "$db-wal" "$out/$i/broker.db-wal" 2>/dev/null ||
        rm -rf "${out:?}/$i"
    i=$((i + 1))
done
wait "$bench"
status=$?
grep -E '^broker: CPU per 1 KiB msg accepted' "$out/bench.log"
best= most=0
for copy in "$out"/[0-9]*; do
    [ -f "$copy/broker.db-wal" ] || continue
    "$build/bench/wal_pages" "$copy/broker.db" >"$copy/pages.txt" 2>&1 || continue
    n=$(sed -n 's/^\([0-9]*\) frames in .*/\1/p' "$copy/pages.txt")
    [ "${n:-0}" -gt "$most" ] && { most=$n; best=$copy; }
done
[ -n "$best" ] || { echo "wal_pages: no copy of the WAL held a commit" >&2; exit 4; }
echo "== the WAL of $best ($messages messages in the phase)"
cat "$best/pages.txt"
exit $status
