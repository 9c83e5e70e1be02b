#!/bin/sh
# Hostile clients: no CURVE, an unknown key, a revoked key, a header whose sender is not the
# authenticated principal, a forged signature, a stale or expired message, a replayed msg_id, an
# oversized frame, malformed protobuf. Each is refused (a typed answer, or no connection at all)
# or, for the replay, answered as the first time and stored once (to the sender that published it
# first only: another sender's PUBLISH of a known msg_id is REJECTED replay, telling it nothing of
# the first message); each is logged, none changes what the recipients get, and the broker keeps
# serving throughout.
set -u
. "$(dirname "$0")/../lib/broker.sh"
rogue=${FUSION_TOOLS:?FUSION_TOOLS must name the directory of the test tools}/rogue

BROKER_EXTRA="metrics: 127.0.0.1:0"
region_setup THA.RTP.fp1:focal_point,police IDN.POLRI.fp1:focal_point,police \
    MYS.RMP.fp1:focal_point,police PHL.IACAT.fp1:focal_point,police \
    AUS.ABF.fp1:focal_point,police NZL.NZP.fp1:focal_point,police \
    KHM.NCCT.fp1:focal_point,police || exit 1
"$FUSION_BIN/fusion-admin" revoke --region "$work/region" MYS.RMP.fp1 >/dev/null || exit 1
broker_start || exit 1
curve="--broker-cert $work/region/directory/RSO.FUSION.broker.cert --authority $work/region/authority.pub"

expect() { # name expected-answer-prefix rogue-args...
    local name=$1 want=$2 got
    shift 2
    got=$("$rogue" --endpoint "$endpoint" --timeout 1500 "$@" 2>&1)
    case "$got" in
    "$want"*) ;;
    *) fail "$name: got '$got', expected '$want...'" ;;
    esac
    # The broker keeps serving after each attack: a legitimate request is answered.
    "$rogue" --endpoint "$endpoint" --key "$work/keys/THA.RTP.fp1.key" $curve directory |
        grep -q "^DIRECTORY" || fail "$name: the broker stopped answering afterwards"
}

expect "control: a valid principal" "DIRECTORY" --key "$work/keys/THA.RTP.fp1.key" $curve directory
expect "no CURVE" "no answer" --no-curve directory
expect "an unknown CURVE key" "no answer" --unknown-key $curve directory
expect "a revoked key" "no answer" --key "$work/keys/MYS.RMP.fp1.key" $curve directory
expect "a sender that is not the authenticated principal" "REJECTED sender_mismatch" \
    --key "$work/keys/THA.RTP.fp1.key" $curve sender IDN.POLRI.fp1
expect "a forged signature" "REJECTED bad_signature" --key "$work/keys/THA.RTP.fp1.key" $curve forged-signature
expect "an oversized frame" "no answer" --key "$work/keys/THA.RTP.fp1.key" $curve oversized 9000000
expect "malformed protobuf" "ERROR malformed" --key "$work/keys/THA.RTP.fp1.key" $curve malformed
expect "a stale created_at" "REJECTED stale" --key "$work/keys/THA.RTP.fp1.key" $curve \
    --to "$work/keys/IDN.POLRI.fp1.key" stale
expect "an expired message" "REJECTED expired" --key "$work/keys/THA.RTP.fp1.key" $curve \
    --to "$work/keys/IDN.POLRI.fp1.key" expired
# A replayed msg_id gets the first answer again, and is stored (and delivered) once.
expect "a first publish" "ACCEPTED" --key "$work/keys/THA.RTP.fp1.key" $curve \
    --to "$work/keys/IDN.POLRI.fp1.key" --save "$work/publish.frame" publish
first=$(grep -o 'accepted [0-9a-f]*' "$work/broker.log" | tail -n 1)
expect "the same PUBLISH replayed" "ACCEPTED" --key "$work/keys/THA.RTP.fp1.key" $curve raw "$work/publish.frame"
[ "$(grep -c "$first" "$work/broker.log")" -eq 1 ] || fail "a replayed msg_id was accepted (stored) twice"
printf '\377\377\377\377' >"$work/garbage"
expect "raw garbage" "ERROR malformed" --key "$work/keys/THA.RTP.fp1.key" $curve raw "$work/garbage"

# An ERROR echoes the request_id whenever the frame's outer level could be read, so an agent that
# matches answers by request id gets the typed refusal, not a timeout: an unknown enumeration
# value (SUBSCRIBE stages [9], kinds [42]), a trailing unknown field, a RECEIVED without a 16-byte
# msg_id. Bytes that are not a frame get request_id 0.
printf '\010\206\010\172\006\012\001a\022\001\011' >"$work/stage9"
printf '\010\206\010\172\006\012\001a\032\001\052' >"$work/kind42"
printf '\010\207\010\272\001\000\230\006\001' >"$work/unknown-field"
printf '\010\210\010\232\001\000' >"$work/received-empty"
expect "SUBSCRIBE stages [9]" "[rid 1030] ERROR malformed" --show-request-id \
    --key "$work/keys/THA.RTP.fp1.key" $curve raw "$work/stage9"
expect "SUBSCRIBE kinds [42]" "[rid 1030] ERROR malformed" --show-request-id \
    --key "$work/keys/THA.RTP.fp1.key" $curve raw "$work/kind42"
# An exercise id that is not UTF-8 text is not echoed into the answer (a protobuf string).
printf '\010\223\010\172\012\012\002**\042\004EX-\377' >"$work/exercise-ff"
expect "SUBSCRIBE for exercise 'EX-\\xff'" "[rid 1043] ERROR invalid: the policy lists no exercise of that id (not text" \
    --show-request-id --key "$work/keys/THA.RTP.fp1.key" $curve raw "$work/exercise-ff"
expect "a trailing unknown field" "[rid 1031] ERROR unknown_field" --show-request-id \
    --key "$work/keys/THA.RTP.fp1.key" $curve raw "$work/unknown-field"
expect "RECEIVED without a msg_id" "[rid 1032] ERROR malformed" --show-request-id \
    --key "$work/keys/THA.RTP.fp1.key" $curve raw "$work/received-empty"
expect "raw garbage, its request_id" "[rid 0] ERROR malformed" --show-request-id \
    --key "$work/keys/THA.RTP.fp1.key" $curve raw "$work/garbage"
# A principal revoked mid-session: its next frame gets ERROR revoked with that frame's request_id.
printf '\010\211\010\272\001\000' >"$work/directory-1033"
"$rogue" --endpoint "$endpoint" --timeout 5000 --show-request-id --after "$work/go" \
    --key "$work/keys/PHL.IACAT.fp1.key" $curve raw "$work/directory-1033" >"$work/revoked.out" 2>&1 &
revoked_client=$!
wait_for 10 grep -q "^connected" "$work/revoked.out" || fail "the principal to revoke did not connect: $(cat "$work/revoked.out")"
"$FUSION_BIN/fusion-admin" revoke --region "$work/region" PHL.IACAT.fp1 >/dev/null || fail "revoke failed"
lines_before=$(grep -c . "$work/broker.log")
kill -HUP "$broker_pid"
wait_for 10 sh -c "tail -n +$lines_before '$work/broker.log' | grep -q 'reloaded policy'" || fail "the revocation was not reloaded"
touch "$work/go"
wait "$revoked_client"
grep -q "^\[rid 1033\] ERROR revoked" "$work/revoked.out" || fail "the revoked principal's frame was not answered ERROR revoked with its request_id: $(cat "$work/revoked.out")"
# A revoked principal that keeps its connection and floods it: every frame is answered ERROR
# revoked, but only the connection's first refused frame is a log line and an audit entry (it is
# no principal any more, so no rate limit holds it); the rest are counted, in the tick's report.
# An agent left running re-sends CREDIT every few seconds: one entry per frame grew the trail
# by about 28,800 entries a day for each.
auth_refused() { # [ACTOR]: the broker's auth_refused entries (of ACTOR)
    "$FUSION_BIN/fusion-admin" audit export "$work/state/broker.db" |
        jq -s --arg a "${1:-}" '[.[] | select(.event == "auth_refused" and ($a == "" or .actor == $a))] | length'
}
"$rogue" --endpoint "$endpoint" --timeout 10000 --after "$work/go2" \
    --key "$work/keys/KHM.NCCT.fp1.key" $curve flood 400 >"$work/flood-revoked.out" 2>&1 &
flood_client=$!
wait_for 10 grep -q "^connected" "$work/flood-revoked.out" || fail "the flooder did not connect: $(cat "$work/flood-revoked.out")"
"$FUSION_BIN/fusion-admin" revoke --region "$work/region" KHM.NCCT.fp1 >/dev/null || fail "revoke failed"
lines_before=$(grep -c . "$work/broker.log")
kill -HUP "$broker_pid"
wait_for 10 sh -c "tail -n +$lines_before '$work/broker.log' | grep -q 'reloaded policy'" || fail "the second revocation was not reloaded"
refused_before=$(auth_refused)
touch "$work/go2"
wait "$flood_client"
grep -q "^FLOOD 400: accepted 0, directory 0, rate_limited 0, other 400, no answer 0" "$work/flood-revoked.out" ||
    fail "the revoked flooder's frames were not each answered: $(cat "$work/flood-revoked.out")"
wait_for 10 grep -q "refused [0-9]* more frames of KHM.NCCT.fp1 on a connection refused before (revoked;" "$work/broker.log" ||
    fail "no count of the revoked connection's refusals not logged one by one"
[ "$(grep -c "refused a frame from KHM.NCCT.fp1: the certificate has been revoked" "$work/broker.log")" -eq 1 ] ||
    fail "the revoked connection's refusals are not logged once: $(grep "KHM.NCCT.fp1" "$work/broker.log")"
[ "$(auth_refused KHM.NCCT.fp1)" -eq 1 ] ||
    fail "a revoked principal's 400 frames on one connection made $(auth_refused KHM.NCCT.fp1) auth_refused entries naming it, not 1"
refused_after=$(auth_refused)
[ $((refused_after - refused_before)) -le 2 ] ||
    fail "a revoked principal's 400 frames made $((refused_after - refused_before)) auth_refused entries"

# A message of more than one part is refused unread, ERROR malformed with the first part's
# request_id, and logged naming the principal (it was dropped silently).
printf '\010\222\010\272\001\000' >"$work/directory-1042"
expect "a message of two parts" "[rid 1042] ERROR malformed" --show-request-id \
    --key "$work/keys/AUS.ABF.fp1.key" $curve multipart "$work/directory-1042" "$work/directory-1042"
grep -q "AUS.ABF.fp1 sent a message of 2 parts (every message is one part): refused with malformed" \
    "$work/broker.log" || fail "the two-part message was not logged"
# A body the broker does not take from agents (DELIVER) is refused and logged.
printf '\010\220\010\222\001\000' >"$work/deliver-1040"
expect "a DELIVER from an agent" "[rid 1040] ERROR invalid" --show-request-id \
    --key "$work/keys/NZL.NZP.fp1.key" $curve raw "$work/deliver-1040"
grep -q "NZL.NZP.fp1 sent a DELIVER frame, which the broker does not take from agents: refused with invalid" \
    "$work/broker.log" || fail "the DELIVER from an agent was not logged"
# 50 empty messages at once: each is answered ERROR invalid and accounted for in the log, but a
# principal's first refusal of each second only is a line of its own, the rest a count.
: >"$work/empty"
"$rogue" --endpoint "$endpoint" --key "$work/keys/IDN.POLRI.fp1.key" $curve flood 50 "$work/empty" >"$work/flood.out" 2>&1
grep -q "^FLOOD 50: accepted 0, directory 0, rate_limited 0, other 50, no answer 0" "$work/flood.out" ||
    fail "50 empty messages were not each answered: $(cat "$work/flood.out")"
logged() {
    local lines more
    lines=$(grep -c "IDN.POLRI.fp1 sent a frame without a body (an empty message, or a request_id alone), which the broker does not take from agents: refused with invalid" "$work/broker.log")
    more=$(sed -n 's/.*refused \([0-9]*\) more frames of IDN.POLRI.fp1 .*/\1/p' "$work/broker.log" | awk '{ s += $1 } END { print s + 0 }')
    echo "$lines $more"
    [ $((lines + more)) -eq 50 ]
}
wait_for 10 logged || fail "the 50 refused empty messages are not all accounted for in the log (lines, counted): $(logged)"
set -- $(logged)
[ "$1" -lt 50 ] || fail "each of 50 refused empty messages was logged on a line of its own"

# Each refusal is in the log.
for what in "its CURVE key is not an enrolled" "did not complete a CURVE handshake" \
    "sender_mismatch" "bad_signature" "does not decode" ": stale" ": expired"; do
    grep -q "$what" "$work/broker.log" || fail "no log line for: $what"
done
# Nothing reached a recipient, and the broker still delivers real traffic afterwards.
direct_draft "$work/draft.yaml" IDN.POLRI.fp1 "after the attacks"
agent THA.RTP.fp1 send "$work/draft.yaml" --yes --timeout 5 >"$work/out" 2>&1 || fail "a real send failed after the attacks: $(cat "$work/out")"
agent IDN.POLRI.fp1 listen --json --count 3 --timeout 3 >"$work/got.json" 2>/dev/null
[ "$(grep -c . "$work/got.json")" -eq 2 ] || fail "the recipient should see the published (not replayed twice) and the real message: $(cat "$work/got.json")"
grep -q "after the attacks" "$work/got.json" || fail "the real message did not arrive intact"

# A replay is logged as one and counted as a replay, not as another acceptance.
page() { "$FUSION_BIN/fusion-admin" status --raw --config "$work/broker.yaml"; }
metric() { page | sed -n "s/^$1 //p"; }
accepted=$(metric fusion_messages_accepted_total) replayed=$(metric fusion_messages_replayed_total)
expect "the same PUBLISH replayed again" "ACCEPTED" --key "$work/keys/THA.RTP.fp1.key" $curve raw "$work/publish.frame"
id=${first#accepted }
grep -q " ${id%????????????????}\.\.\. from THA.RTP.fp1: replay: the first answer again (accepted)$" "$work/broker.log" ||
    fail "no log line for the replay: $(grep -c "$id" "$work/broker.log") lines name it"
[ "$(metric fusion_messages_accepted_total)" = "$accepted" ] || fail "a replay was counted as accepted"
[ "$(metric fusion_messages_replayed_total)" = $((replayed + 1)) ] || fail "the replay was not counted"

# Another sender's message under a msg_id answered before: REJECTED replay, not the first sender's
# ACCEPTED (its own message would never be stored) nor its REJECTED (whose reason names the first
# sender's recipient); nothing of it is stored or remembered.
expect "another sender, an accepted msg_id" "REJECTED replay" --key "$work/keys/IDN.POLRI.fp1.key" $curve \
    --to "$work/keys/THA.RTP.fp1.key" --msg-id "$id" publish
[ "$(grep -c "accepted $id" "$work/broker.log")" -eq 1 ] || fail "another sender's message was stored under $id"
grep -q "rejected $id from IDN.POLRI.fp1: replay" "$work/broker.log" || fail "the cross-sender replay is not logged"
expect "a message to a revoked principal" "REJECTED unknown_recipient" --key "$work/keys/THA.RTP.fp1.key" \
    $curve --to "$work/keys/MYS.RMP.fp1.key" --save "$work/revoked.frame" publish
refused=$(sed -n 's/.*rejected \([0-9a-f]*\) from THA.RTP.fp1: unknown_recipient.*/\1/p' "$work/broker.log" | tail -n 1)
got=$("$rogue" --endpoint "$endpoint" --key "$work/keys/IDN.POLRI.fp1.key" $curve \
    --to "$work/keys/THA.RTP.fp1.key" --msg-id "$refused" publish 2>&1)
case "$got" in "REJECTED replay"*) ;; *) fail "another sender, a rejected msg_id: got '$got'" ;; esac
case "$got" in *MYS*) fail "the replay refusal tells of the first message: $got" ;; esac
expect "the first sender's rejected PUBLISH replayed" "REJECTED unknown_recipient" \
    --key "$work/keys/THA.RTP.fp1.key" $curve raw "$work/revoked.frame"
# Two senders with one fresh msg_id at once: one is accepted, the other refused the same way.
fresh=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
"$rogue" --endpoint "$endpoint" --key "$work/keys/THA.RTP.fp1.key" $curve \
    --to "$work/keys/IDN.POLRI.fp1.key" --msg-id "$fresh" publish >"$work/race1" 2>&1 &
race=$!
"$rogue" --endpoint "$endpoint" --key "$work/keys/IDN.POLRI.fp1.key" $curve \
    --to "$work/keys/THA.RTP.fp1.key" --msg-id "$fresh" publish >"$work/race2" 2>&1
wait $race
[ "$(cat "$work/race1" "$work/race2" | grep -c '^ACCEPTED')" -eq 1 ] &&
    [ "$(cat "$work/race1" "$work/race2" | grep -c '^REJECTED replay')" -eq 1 ] ||
    fail "two senders, one msg_id: $(cat "$work/race1" "$work/race2")"
[ "$(grep -c "accepted $fresh" "$work/broker.log")" -eq 1 ] || fail "the shared msg_id was not stored once"
broker_stop || fail "the broker did not stop cleanly"
# A refused handshake is audited with an unknown actor and the endpoint it came in on (the peer's
# address is not known); a refused frame with the key or principal that sent it.
"$FUSION_BIN/fusion-admin" audit export "$work/state/broker.db" >"$work/audit.jsonl" || fail "audit export"
jq -s -e --arg ep "$endpoint" 'any(.[]; .event == "auth_refused" and .actor == "?" and .subject == $ep)' \
    "$work/audit.jsonl" >/dev/null || fail "no auth_refused entry naming the endpoint: $(grep auth_refused "$work/audit.jsonl" | head -3)"
grep -q "refused a connection to $endpoint" "$work/broker.log" || fail "the refused handshake's log line does not name the endpoint"
finish "refusals: every hostile client refused and logged; the broker kept serving"
