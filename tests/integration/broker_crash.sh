#!/bin/sh
# Crash campaign: a publisher streams while the broker is killed with SIGKILL at random moments
# and restarted. Against the publisher's own log of ACCEPTED answers: every accepted message is
# delivered after the restarts, and the recipient application sees no duplicate.
# CRASH_MESSAGES (default 40) and CRASH_EVERY (default 5) size the campaign; make soak runs longer.
set -u
. "$(dirname "$0")/../lib/broker.sh"
messages=${CRASH_MESSAGES:-40}
every=${CRASH_EVERY:-5}

region_setup THA.RTP.fp1:focal_point,police IDN.POLRI.fp1:focal_point,police || exit 1
broker_start || exit 1
direct_draft "$work/draft.yaml" IDN.POLRI.fp1 "crash campaign message"
: >"$work/accepted"
kills=0
i=1
while [ "$i" -le "$messages" ]; do
    agent THA.RTP.fp1 send "$work/draft.yaml" --yes --timeout 2 >"$work/send.out" 2>&1 &
    sender=$!
    if [ $((i % every)) -eq 0 ]; then
        # Kill somewhere inside the publish: before, during or after the commit.
        sleep "$(awk -v s="$i" 'BEGIN { srand(s); printf "0.%03d", int(rand() * 25) }')"
        broker_kill
        kills=$((kills + 1))
        wait "$sender"
        broker_start || exit 1
    else
        wait "$sender"
    fi
    sed -n 's/^accepted: msg_id \([0-9a-f]*\).*/\1/p' "$work/send.out" >>"$work/accepted"
    i=$((i + 1))
done
# What was queued while the broker was down, or whose answer was lost, goes now: a message the
# broker had committed gets its first answer again and is not stored twice.
direct=$(wc -l <"$work/accepted")
agent THA.RTP.fp1 flush --timeout 5 >"$work/flush.out" 2>&1
sed -n 's/^accepted: msg_id \([0-9a-f]*\).*/\1/p' "$work/flush.out" >>"$work/accepted"
sort -u "$work/accepted" >"$work/accepted.sorted"
expected=$(wc -l <"$work/accepted.sorted")
echo "published $messages, $kills broker kills, $expected accepted ($direct at once, the rest from the outbox after a kill)"
if [ "$expected" -lt $((messages / 2)) ]; then
    echo "FAIL: too few messages were accepted for the campaign to mean anything"
    cat "$work/flush.out"; tail -n 20 "$work/broker.log"
    exit 1
fi
agent IDN.POLRI.fp1 listen --json --count "$expected" --timeout 30 >"$work/received.json" 2>"$work/listen.err"
jq -r .msg_id "$work/received.json" | sort >"$work/received"
if [ "$(sort -u "$work/received" | wc -l)" -ne "$(wc -l <"$work/received")" ]; then
    fail "the recipient saw a message twice: $(uniq -d "$work/received" | tr '\n' ' ')"
fi
missing=$(comm -23 "$work/accepted.sorted" "$work/received")
if [ -n "$missing" ]; then
    fail "accepted but never delivered: $(echo "$missing" | tr '\n' ' ') $(cat "$work/listen.err")"
fi
# A second listener run delivers nothing again: everything was acknowledged.
agent IDN.POLRI.fp1 listen --json --count 1 --timeout 2 >"$work/again.json" 2>/dev/null
if [ -s "$work/again.json" ]; then
    fail "acknowledged messages were shown again: $(cat "$work/again.json")"
fi
broker_stop || fail "the broker did not stop cleanly on SIGTERM"
finish "crash campaign (every accepted message delivered once)"
