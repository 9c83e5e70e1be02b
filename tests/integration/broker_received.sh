#!/bin/sh
# A RECEIVED that names no delivery of its sender's (a msg_id that is not 16 bytes, one never
# published, another principal's message, or one of its own deliveries the broker has not sent it
# yet, which is not taken as received) is answered as before (ERROR malformed, or nothing) and
# logged: the principal, what was wrong, the msg_id in hex when it is one, nothing of any
# content. RECEIVED is not rate limited (it answers the broker's own deliveries), so a flood of
# them is bounded in the log as refused frames are: a principal's first of each second is a line,
# the rest a count. The broker keeps serving, and a real acknowledgement is not logged as one.
set -u
. "$(dirname "$0")/../lib/broker.sh"
rogue=${FUSION_TOOLS:?FUSION_TOOLS must name the directory of the test tools}/rogue

region_setup THA.RTP.fp1:focal_point,police IDN.POLRI.fp1:focal_point,police \
    AUS.ABF.fp1:focal_point,police NZL.NZP.fp1:focal_point,police \
    PHL.IACAT.fp1:focal_point,police KHM.NCCT.fp1:focal_point,police || exit 1
broker_start || exit 1
curve="--broker-cert $work/region/directory/RSO.FUSION.broker.cert --authority $work/region/authority.pub"
as() { # ID rogue-args...: rogue as that principal
    local id=$1
    shift
    "$rogue" --endpoint "$endpoint" --key "$work/keys/$id.key" $curve "$@" 2>&1
}
serving() { # the broker still answers a legitimate request
    as THA.RTP.fp1 directory | grep -q "^DIRECTORY" || fail "$1: the broker stopped answering"
}
received_frame() { # FILE HEX: a Frame (request_id 1) whose RECEIVED names the 16-byte msg_id HEX
    local hex=$2 bytes=
    while [ -n "$hex" ]; do
        bytes="$bytes\\0$(printf %03o "0x$(printf %.2s "$hex")")"
        hex=${hex#??}
    done
    { printf '\010\001\232\001\022\012\020' && printf '%b' "$bytes"; } >"$1"
}

# A message for IDN.POLRI.fp1 that another principal claims to have received.
got=$(as THA.RTP.fp1 --to "$work/keys/IDN.POLRI.fp1.key" publish)
case "$got" in ACCEPTED*) ;; *) fail "the publish was not accepted: $got" ;; esac
id=$(sed -n 's/.*accepted \([0-9a-f]\{32\}\) from THA.RTP.fp1.*/\1/p' "$work/broker.log" | tail -n 1)
[ ${#id} -eq 32 ] || fail "no msg_id in the log for the publish: $(tail -n 5 "$work/broker.log")"
received_frame "$work/others" "$id"
got=$(as AUS.ABF.fp1 --timeout 500 raw "$work/others")
[ "$got" = "no answer" ] || fail "another principal's RECEIVED was answered: $got"
wait_for 10 grep -q "AUS.ABF.fp1 sent a RECEIVED for msg_id $id, which names no delivery to it" \
    "$work/broker.log" || fail "a RECEIVED of another principal's message was not logged"
serving "another's msg_id"

# The recipient's own RECEIVED of a delivery the broker has not sent it yet (it opened no
# window: no CREDIT, so no DELIVER) is not taken as received, nor audited: it is logged as naming
# no delivery, and the message still reaches the recipient below.
got=$(as IDN.POLRI.fp1 --timeout 500 raw "$work/others")
[ "$got" = "no answer" ] || fail "a RECEIVED of a delivery not sent yet was answered: $got"
wait_for 10 grep -q "IDN.POLRI.fp1 sent a RECEIVED for msg_id $id, which names no delivery to it" \
    "$work/broker.log" || fail "a RECEIVED of a delivery not sent yet was not logged"
serving "a delivery not sent yet"
unsent_lines=$(grep -c . "$work/broker.log")

# A msg_id never published.
unknown=00112233445566778899aabbccddeeff
received_frame "$work/unknown" "$unknown"
got=$(as NZL.NZP.fp1 --timeout 500 raw "$work/unknown")
[ "$got" = "no answer" ] || fail "a RECEIVED of an unknown msg_id was answered: $got"
wait_for 10 grep -q "NZL.NZP.fp1 sent a RECEIVED for msg_id $unknown, which names no delivery to it" \
    "$work/broker.log" || fail "a RECEIVED of an unknown msg_id was not logged"
serving "an unknown msg_id"

# A msg_id of 3 bytes: ERROR malformed with the frame's request_id, logged without the bytes.
printf '\010\225\010\232\001\005\012\003\336\255\276' >"$work/short"
got=$(as KHM.NCCT.fp1 --show-request-id raw "$work/short")
case "$got" in "[rid 1045] ERROR malformed"*) ;; *) fail "a 3-byte msg_id: got '$got'" ;; esac
wait_for 10 grep -q "KHM.NCCT.fp1 sent a RECEIVED whose msg_id is 3 bytes, not 16: refused with malformed" \
    "$work/broker.log" || fail "a RECEIVED with a 3-byte msg_id was not logged"
grep "KHM.NCCT.fp1 sent a RECEIVED" "$work/broker.log" | grep -q -i "deadbe" &&
    fail "the malformed msg_id's bytes were logged"
serving "a malformed msg_id"

# 300 at once: none answered, all accounted for in the log, far fewer lines than frames.
got=$(as PHL.IACAT.fp1 --timeout 1000 flood 300 "$work/unknown")
case "$got" in "FLOOD 300: accepted 0, directory 0, rate_limited 0, other 0, no answer 300"*) ;;
*) fail "the flood of RECEIVED frames: $got" ;; esac
logged() {
    local lines more
    lines=$(grep -c "PHL.IACAT.fp1 sent a RECEIVED for msg_id $unknown" "$work/broker.log")
    more=$(sed -n 's/.*: \([0-9]*\) more RECEIVED frames of PHL.IACAT.fp1 named no delivery to it .*/\1/p' \
        "$work/broker.log" | awk '{ s += $1 } END { print s + 0 }')
    echo "$lines $more"
    [ $((lines + more)) -eq 300 ]
}
wait_for 10 logged || fail "the 300 RECEIVED frames are not all accounted for in the log (lines, counted): $(logged)"
set -- $(logged)
[ "$1" -lt 300 ] || fail "each of 300 RECEIVED frames was logged on a line of its own"
serving "a flood of RECEIVED frames"

# The recipient's own acknowledgement still counts, and is not logged as one naming nothing.
agent IDN.POLRI.fp1 listen --json --count 1 --timeout 5 >"$work/got.json" 2>"$work/listen.err" ||
    fail "the recipient did not get the message: $(cat "$work/listen.err")"
wait_for 10 sh -c "[ \"\$(sqlite3 '$work/state/broker.db' \"SELECT count(*) FROM deliveries WHERE recipient = 'IDN.POLRI.fp1' AND state = 2\")\" -eq 1 ]" ||
    fail "the recipient's RECEIVED was not recorded"
tail -n +$((unsent_lines + 1)) "$work/broker.log" | grep -q "IDN.POLRI.fp1 sent a RECEIVED" &&
    fail "a real acknowledgement was logged as naming no delivery"
# Audited once, when it was: delivered, then received (not received before it was delivered).
events=$(sqlite3 -readonly "$work/state/broker.db" "SELECT event FROM audit WHERE event IN ('delivered', 'received')
    AND 'IDN.POLRI.fp1' IN (actor, subject) ORDER BY seq" | tr '\n' ' ')
[ "$events" = "delivered received " ] || fail "the recipient's delivery was audited as: $events"
finish "received: RECEIVED frames naming no delivery logged, bounded; the broker kept serving"
