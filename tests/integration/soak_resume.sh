#!/bin/sh
# make soak SOAK_RESUME=1 (tests/soak/run.sh): an interrupted soak goes on where it stopped. A
# part that passed, its verdict newer than the binary it tested, is kept (the crash campaign, a
# fuzz target); a crashed target, a rebuilt one and one never run are run again, and
# the summary says which results were kept. The fuzz targets here are stand-ins that note each
# run; the crash campaign is always kept (the real one is tests/integration/crash_campaign.sh).
set -u
. "$(dirname "$0")/../lib/integration.sh"

b=$work/build
mkdir -p "$b/bin" "$b/tools" "$b/fuzz" "$b/soak"
for name in a b c d; do
    cat >"$b/fuzz/fuzz_$name" <<STUB
#!/bin/sh
echo fuzz_$name >>"$work/ran"
echo "stat::number_of_executed_units: 100$name"
[ ! -e "$work/crash_$name" ]
STUB
    chmod +x "$b/fuzz/fuzz_$name"
done
touch "$b/bin/fusion-broker"
echo "crash campaign: cycles=1000 losses=0 (the interrupted run's)" >"$b/soak/crash.summary"
echo ok >"$b/soak/crash.verdict"
echo "stat::number_of_executed_units: 1234" >"$b/fuzz/fuzz_a.log"
echo ok >"$b/soak/fuzz_a.verdict"
echo CRASHED >"$b/soak/fuzz_b.verdict"
echo ok >"$b/soak/fuzz_c.verdict"
echo "started 2026-01-01T00:00:00Z" >"$b/soak/started"
# Binaries built on day 1, results of day 2; fuzz_c rebuilt on day 3.
touch -d "2026-01-01 00:00" "$b/bin/fusion-broker" "$b"/fuzz/fuzz_?
touch -d "2026-01-02 00:00" "$b"/soak/*.verdict
touch -d "2026-01-03 00:00" "$b/fuzz/fuzz_c"
targets="$b/fuzz/fuzz_a $b/fuzz/fuzz_b $b/fuzz/fuzz_c $b/fuzz/fuzz_d"

# shellcheck disable=SC2086
check "a resumed soak" 0 env SOAK_RESUME=1 SOAK_FUZZ_SECONDS=1 SOAK_FUZZ_JOBS=2 \
    sh tests/soak/run.sh "$b" $targets
cp "$work/out.txt" "$work/first.txt"
[ "$(sort "$work/ran" | tr '\n' ' ')" = "fuzz_b fuzz_c fuzz_d " ] ||
    fail "the targets run again are $(sort "$work/ran" | tr '\n' ' '), expected fuzz_b fuzz_c fuzz_d"
contains "$work/first.txt" "crash campaign kept from the interrupted run" "the crash part"
contains "$work/first.txt" "cycles=1000 losses=0 (the interrupted run's)" "the kept crash figures"
contains "$work/first.txt" "fuzz_a: 1s, 1234 runs, ok (kept from the interrupted run)" "fuzz_a"
contains "$work/first.txt" "fuzz_b: 1s, 100b runs, ok$" "fuzz_b, crashed before"
contains "$work/first.txt" "fuzz_c: 1s, 100c runs, ok$" "fuzz_c, rebuilt"
contains "$work/first.txt" "fuzz_d: 1s, 100d runs, ok$" "fuzz_d, never run"
contains "$work/first.txt" "started 2026-01-01T00:00:00Z resumed" "the run's start"
contains "$work/first.txt" "soak: passed" "the verdict"

# Everything is kept now, but a target rebuilt after it ran runs again, and its crash fails the
# soak.
rm -f "$work/ran"
touch "$work/crash_d"
touch -d "2099-01-01 00:00" "$b/fuzz/fuzz_d"
# shellcheck disable=SC2086
check "a resumed soak whose rebuilt target crashes" 1 env SOAK_RESUME=1 SOAK_FUZZ_SECONDS=1 \
    sh tests/soak/run.sh "$b" $targets
[ "$(cat "$work/ran" 2>/dev/null)" = fuzz_d ] || fail "only fuzz_d should run again"
contains "$work/out.txt" "fuzz_d: 1s, 100d runs, CRASHED" "the crashed target"
contains "$work/out.txt" "soak: FAILED" "the verdict"

# An unusable SOAK_FUZZ_JOBS stops the run before it touches the log.
check "a bad SOAK_FUZZ_JOBS" 2 env SOAK_FUZZ_JOBS=x sh tests/soak/run.sh "$b" $targets
[ -s "$b/soak/crash.summary" ] || fail "a refused run removed the log"

# A crash campaign that failed is not kept, though it left its summary: it runs again (and, the
# binaries here being stand-ins, fails again), and the soak fails.
echo FAILED >"$b/soak/crash.verdict"
# shellcheck disable=SC2086
check "a resumed soak after a failed crash campaign" 1 env SOAK_RESUME=1 SOAK_CYCLES=1 \
    SOAK_FUZZ_SECONDS=1 sh tests/soak/run.sh "$b" $targets
lacks "$work/out.txt" "crash campaign kept" "the failed crash campaign"
contains "$work/out.txt" "soak: 1 SIGKILL cycles" "the crash campaign run again"
contains "$work/out.txt" "soak: FAILED" "the verdict"
[ "$(cat "$b/soak/crash.verdict")" = FAILED ] || fail "the crash campaign's verdict is not FAILED"

finish "soak resume"
