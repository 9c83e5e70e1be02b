#!/bin/sh
# Crash campaign: two publishers stream while the broker is killed with SIGKILL at random moments
# (some while it is still recovering from the last kill) and restarted, CRASH_CYCLES times
# (default 20; make soak runs 1000). The publishers log every ACCEPTED they get; a recipient
# agent listens throughout, deduplicating by msg_id as an agent does. After each restart: every
# message accepted so far is in the store, the recipient application has seen no message twice,
# and the audit trail verifies. At the end every accepted message has
# reached the recipient exactly once. CRASH_INTERVAL (ms, default 5) paces each publisher, so a
# long campaign does not grow the store without bound; CRASH_SUMMARY=FILE writes the figures.
set -u
. "$(dirname "$0")/../lib/broker.sh"
tools=${FUSION_TOOLS:?FUSION_TOOLS must name the directory of the test tools}
cycles=${CRASH_CYCLES:-20}
db=$work/state/broker.db
publishers="THA.RTP.fp1 THA.RTP.fp2"

region_setup THA.RTP.fp1:focal_point,police THA.RTP.fp2:focal_point,police \
    IDN.POLRI.fp1:focal_point,police || exit 1
broker_start || exit 1
stream_pids=
for p in $publishers; do
    "$tools/stream" --endpoint "$endpoint" --broker-cert "$work/region/directory/RSO.FUSION.broker.cert" \
        --authority "$work/region/authority.pub" --to "$work/keys/IDN.POLRI.fp1.key" \
        --log "$work/answers-$p" --timeout 1000 --interval "${CRASH_INTERVAL:-5}" "$work/keys/$p.key" 2>>"$work/stream.err" &
    stream_pids="$stream_pids $!"
done
# The listener runs as its own process (not in a shell function's subshell), so $! is the agent
# itself and stopping it stops the agent.
agent IDN.POLRI.fp1 listen --help >/dev/null # writes its configuration
"$agent" listen --config "$work/agent-IDN.POLRI.fp1.yaml" --json --window 64 \
    >"$work/received.json" 2>"$work/listen.err" &
listener=$!
trap 'kill $stream_pids $listener 2>/dev/null; broker_kill; rm -rf "$work"' EXIT

accepted_ids() { cat "$work"/answers-* 2>/dev/null | sed -n 's/^ACCEPTED \([0-9a-f]*\)$/\1/p' | sort -u; }
accepted_count() { accepted_ids | wc -l; }
received_ids() { sed -n 's/.*"msg_id": *"\([0-9a-f]*\)".*/\1/p' "$work/received.json"; }
at_least() { [ "$(accepted_count)" -ge "$1" ]; }

# After each restart the audit trail still verifies: every entry, the tree and every checkpoint
# the broker signed before it was killed (fusion-admin audit verify, docs/audit.md).
audit_check() { # cycle
    audit_checked=$((audit_checked + 1))
    "$admin" audit verify "$db" --broker-cert "$work/region/directory/RSO.FUSION.broker.cert" \
        >"$work/audit.out" 2>&1 ||
        fail "cycle $1: the audit trail does not verify after the restart: $(tail -n 3 "$work/audit.out")"
}

# After each restart: nothing accepted is missing from the store, the application saw no
# duplicate.
restart_check() { # cycle
    accepted_ids >"$work/accepted.now"
    "$tools/dbstate" "$db" ids >"$work/stored.now" || { fail "cycle $1: cannot read the store"; return; }
    missing=$(comm -23 "$work/accepted.now" "$work/stored.now")
    if [ -n "$missing" ]; then
        lost=$((lost + $(echo "$missing" | wc -l)))
        fail "cycle $1: accepted but not in the store after the restart: $(echo "$missing" | tr '\n' ' ')"
    fi
    dups=$(received_ids | sort | uniq -d)
    if [ -n "$dups" ]; then
        fail "cycle $1: the recipient application saw a message twice: $dups"
    fi
    audit_check "$1"
}

lost=0 crashes=0 audit_checked=0 early=0
cycle=1
while [ "$cycle" -le "$cycles" ]; do
    # Most kills come once the publishers are streaming again; every fifth comes at once,
    # while the broker may still be recovering.
    if [ $((cycle % 5)) -ne 0 ]; then
        target=$(($(accepted_count) + 3))
        wait_for 30 at_least "$target" || {
            fail "cycle $cycle: no progress (accepted stays at $(accepted_count)): $(tail -n 3 "$work/stream.err")"
            tail -n 20 "$work/broker.log"
            break
        }
    else
        early=$((early + 1))
    fi
    sleep "$(awk -v s="$cycle$$" 'BEGIN { srand(s); printf "0.%03d", int(rand() * 250) }')"
    if ! kill -0 "$broker_pid" 2>/dev/null; then
        crashes=$((crashes + 1))
        fail "cycle $cycle: the broker died on its own: $(tail -n 5 "$work/broker.log")"
    fi
    broker_kill
    broker_start || { fail "cycle $cycle: the broker did not restart"; break; }
    restart_check "$cycle"
    cycle=$((cycle + 1))
done
cycles_run=$((cycle - 1))

# Let the publishers finish the message they are on, then the recipient gets every accepted one.
kill -TERM $stream_pids 2>/dev/null
for pid in $stream_pids; do
    wait "$pid" || fail "a publisher reported a rejected message: $(grep REJECTED "$work"/answers-* | head -n 3)"
done
stream_pids=
accepted_ids >"$work/accepted"
accepted=$(wc -l <"$work/accepted")
all_received() { received_ids | sort -u | comm -23 "$work/accepted" - | grep -q . && return 1; return 0; }
wait_for 60 all_received || true
received_ids | sort >"$work/received"
missing=$(sort -u "$work/received" | comm -23 "$work/accepted" -)
[ -z "$missing" ] || {
    lost=$((lost + $(echo "$missing" | wc -l)))
    fail "accepted but never delivered: $(echo "$missing" | head -n 5 | tr '\n' ' ')"
    tail -n 5 "$work/listen.err"
}
duplicates=$(uniq -d "$work/received" | wc -l)
[ "$duplicates" -eq 0 ] || fail "the recipient application saw $duplicates message(s) twice"
kill -TERM "$listener" 2>/dev/null
wait "$listener"
listener=
[ "$accepted" -ge "$cycles_run" ] || fail "only $accepted messages were accepted in $cycles_run cycles"
broker_stop || fail "the broker did not stop cleanly on SIGTERM"
summary="crash campaign: cycles=$cycles_run (early=$early) messages=$accepted accepted, received=$(wc -l <"$work/received") losses=$lost duplicates=$duplicates crashes=$crashes audit_checks=$audit_checked"
echo "$summary"
[ -z "${CRASH_SUMMARY:-}" ] || echo "$summary" >"$CRASH_SUMMARY"
! grep -q -e 'Sanitizer' -e 'runtime error' "$work/broker.log" || fail "the broker's log has a sanitizer report"
finish "crash campaign (every accepted message stored across SIGKILL and delivered once)"
