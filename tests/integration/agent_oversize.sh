#!/bin/sh
# A message larger than the broker takes (limits: max_message_bytes, here 65536) against a live
# broker: libzmq drops the connection on such a frame without an answer, so the broker tells each
# agent in the handshake the largest frame it takes (max_message_bytes less 33 bytes of CURVE
# framing) and the agent refuses a larger message itself, naming both sizes: `alert` exits 2
# with nothing sent or queued; a frame of exactly the limit is accepted and delivered, one byte
# more is refused. A draft queued while the broker was down, and a message sealed while the
# broker took more, are rejected (too_large) by the next `flush` (exit 3) and leave the outbox;
# neither waits for an answer that cannot come (before, each try timed out: exit 5, for ever).
# With the default limit, what a recipient can take bounds it: before, a PUBLISH of up to 8 MiB
# less 33 was accepted, and one in its last few hundred bytes was never delivered (its DELIVER,
# with the sender's certificate, is over the 8 MiB an agent decodes).
# Usage: FUSION_BIN=build/bin sh tests/integration/agent_oversize.sh   (from the repository root)
set -u
command -v sqlite3 >/dev/null || { echo "FAIL: sqlite3 is needed to read the outbox"; exit 1; }
BROKER_EXTRA='limits: {max_message_bytes: 65536}'
. "$(dirname "$0")/../lib/broker.sh"

max=65503 # 65536 less the 33 bytes CURVE adds to a frame

text_file() { # FILE BYTES: that many bytes of text
    head -c "$2" /dev/zero | tr '\0' x >"$1"
}

alert() { # EXIT NAME FILE: an amber alert to IDN.POLRI.fp1 with FILE as its only section
    check "$2" "$1" agent THA.RTP.fp1 alert --to IDN.POLRI.fp1 --section amber \
        --categories operational --file "$3" --yes --timeout 5
}

outbox_empty() { # NAME
    check "$1: flush" 0 agent THA.RTP.fp1 flush --timeout 5
    contains "$work/out.txt" "the outbox is empty" "$1: the outbox is empty"
}

region_setup THA.RTP.fp1:focal_point,police IDN.POLRI.fp1:focal_point,police \
    MYS.RMP.fp1:focal_point,police ||
    { echo "FAIL: region setup"; exit 1; }
broker_start || exit 1

# --- Too large: refused before PUBLISH, both sizes named, nothing sent or queued -------------
text_file "$work/big.txt" 100000
alert 2 "a message larger than the broker takes" "$work/big.txt"
contains "$work/err.txt" "larger than the $max bytes the broker takes (its max_message_bytes, less 33 bytes of CURVE framing); nothing was sent: send its sections as several messages, or shorten them" \
    "the broker's limit is named"
lacks "$work/err.txt" "did not answer" "not reported as an unreachable broker"
frame=$(sed -n 's/.*the sealed message is a frame of \([0-9]*\) bytes.*/\1/p' "$work/err.txt")
[ -n "$frame" ] || fail "the message's size is not named"
outbox_empty "nothing queued"

# --- The limit is the transport's own: a frame of exactly $max bytes goes, one more does not ---
# The frame is the file's size plus a constant (every length on the way takes 3 bytes of varint
# from 16 KiB to 2 MiB), so the size above gives the file that makes a frame of exactly $max.
fits=$((max - (frame - 100000)))
text_file "$work/fits.txt" "$fits"
text_file "$work/over.txt" $((fits + 1))
alert 2 "a frame one byte over the limit" "$work/over.txt"
contains "$work/err.txt" "the sealed message is a frame of $((max + 1)) bytes, larger than the $max bytes" \
    "one byte over is refused"
alert 0 "a frame of exactly the limit" "$work/fits.txt"
contains "$work/out.txt" "accepted: msg_id" "a frame of exactly the limit is accepted"
msg_id=$(sed -n 's/^accepted: msg_id \([0-9a-f]*\).*/\1/p' "$work/out.txt")
agent IDN.POLRI.fp1 listen --json --count 1 --timeout 20 >"$work/got.json" 2>"$work/listen.err" ||
    { fail "the message of exactly the limit was not delivered"; cat "$work/listen.err"; }
contains "$work/got.json" "\"msg_id\":\"${msg_id:-none}\"" "the message of exactly the limit arrived"

# --- Queued while the broker was down: rejected at the next flush, and gone -----------------
broker_stop || fail "broker stop"
alert 5 "a message queued while the broker is down" "$work/big.txt"
contains "$work/err.txt" "queued in the outbox as #" "the draft is queued"
broker_start || exit 1
check "flush of the queued message" 3 agent THA.RTP.fp1 flush --timeout 5
contains "$work/out.txt" "rejected: outbox #" "the queued message is rejected"
contains "$work/out.txt" "too_large" "with the code too_large"
contains "$work/out.txt" "larger than the $max bytes the broker takes" "the limit is named at flush"
lacks "$work/err.txt" "did not answer" "flush does not report an unreachable broker"
outbox_empty "the rejected message left the outbox"

# --- Sealed while the broker took more (its PUBLISH rate limited: it stays sealed), flushed
# after the broker restarted with the lower limit: it is not sent, it is rejected -------------
broker_stop || fail "broker stop"
sed -i 's/^limits: .*/limits: {rate: 1\/h, burst: 2}/' "$work/broker.yaml"
broker_start || exit 1
alert 5 "a sealed message over the rate limit" "$work/big.txt" # DIRECTORY, PREPARE, PUBLISH
contains "$work/err.txt" "the sealed message waits in the outbox" "the message stays sealed"
broker_stop || fail "broker stop"
sed -i 's/^limits: .*/limits: {max_message_bytes: 65536}/' "$work/broker.yaml"
broker_start || exit 1
check "flush of the sealed message" 3 agent THA.RTP.fp1 flush --timeout 5
contains "$work/out.txt" "rejected: msg_id" "the sealed message is rejected"
contains "$work/out.txt" "too_large" "with the code too_large"
contains "$work/out.txt" "the sealed message is a frame of $frame bytes, larger than the $max bytes" \
    "both sizes are named for the sealed message"
outbox_empty "the rejected sealed message left the outbox"
agent IDN.POLRI.fp1 listen --json --count 1 --timeout 3 >"$work/none.json" 2>/dev/null
[ -s "$work/none.json" ] && fail "IDN.POLRI.fp1 received a message that was refused"

# --- respond, feedback, forward and reshare-request (reshare-grant too: one path, workflow_send)
# build their message and check it as send does: one larger than the broker takes is refused
# before anything is sent or queued, both sizes named, exit 2 (it was queued, rejected too_large
# and reported with exit 3). What they answer or pass on arrives while the broker takes 64 KiB;
# then it takes 8 KiB, and each carries a 12000-byte text (or the 20000-byte alert it forwards).
# A grant's text is fixed and small: no grant is over even the lowest limit.
sed 's/"recipients": \["IDN.POLRI"\]/"recipients": ["IDN.POLRI.fp1"]/' \
    "${FUSION_TEST_DATA:?}/drafts/referral.json" >"$work/referral.json"
check "a referral" 0 agent THA.RTP.fp1 send "$work/referral.json" --yes --timeout 5
referral=$(sed -n 's/^accepted: msg_id \([0-9a-f]*\).*/\1/p' "$work/out.txt")
text_file "$work/mid.txt" 20000
alert 0 "an alert of 20000 bytes" "$work/mid.txt"
big_alert=$(sed -n 's/^accepted: msg_id \([0-9a-f]*\).*/\1/p' "$work/out.txt")
agent IDN.POLRI.fp1 listen --json --count 2 --timeout 20 >"$work/got.json" 2>"$work/listen.err" ||
    { fail "the referral and the alert were not delivered"; cat "$work/listen.err"; }
broker_stop || fail "broker stop"
sed -i 's/^limits: .*/limits: {max_message_bytes: 8192}/' "$work/broker.yaml"
broker_start || exit 1
long=$(head -c 12000 /dev/zero | tr '\0' x)
rows() { sqlite3 -readonly "$work/state/agent-$1/mailbox.db" "SELECT count(*) FROM outbox"; }
# Each says what its user can do: a forward passes on what its sender did not write, so not
# "send its sections as several messages" (which every command said), but fewer recipients or
# the sender; the others name the options that hold their text.
workflow_too_large() { # NAME ADVICE ID COMMAND ARGS...: refused before anything is sent or queued
    local name=$1 advice=$2 id=$3 before
    shift 3
    before=$(rows "$id")
    check "$name" 2 agent "$id" "$@" --timeout 5
    contains "$work/err.txt" "$1: the sealed message is a frame of [0-9]* bytes, larger than the 8159 bytes the broker takes (its max_message_bytes, less 33 bytes of CURVE framing); nothing was sent: $advice" \
        "$name: both sizes are named, and what to do"
    lacks "$work/err.txt" "refused" "$name: not reported as refused"
    lacks "$work/out.txt" "msg_id" "$name: nothing went to the broker"
    [ "$(rows "$id")" = "$before" ] || fail "$name: something was left in the outbox"
}
workflow_too_large "a response too large" "shorten its text (respond's --reason or --outcome)" \
    IDN.POLRI.fp1 respond "$referral" accept --reason "$long"
workflow_too_large "feedback too large" \
    "shorten its text (feedback's --observation or --location)" \
    IDN.POLRI.fp1 feedback "$big_alert" --observation "$long"
workflow_too_large "a forward too large" \
    "a forward passes on the sections of the message you can read as they are, with a key for each recipient in each: forward it to fewer recipients at a time, or, if it is too large even for one, it cannot be forwarded through this broker: ask its sender to share it in smaller messages" \
    IDN.POLRI.fp1 forward "$big_alert" --to MYS.RMP.fp1
lacks "$work/err.txt" "several messages" "a forward is not told to send its sections as several messages"
workflow_too_large "a reshare request too large" "shorten its text (reshare-request's --reason)" \
    IDN.POLRI.fp1 reshare-request "$big_alert" --to MYS.RMP.fp1 --reason "$long"
# What fits still goes (a short answer), through the outbox as before.
check "a response that fits" 0 agent IDN.POLRI.fp1 respond "$referral" acknowledge --timeout 5
contains "$work/out.txt" "accepted: msg_id" "a response that fits is accepted"
broker_stop || fail "broker stop"
sed -i 's/^limits: .*/limits: {max_message_bytes: 65536}/' "$work/broker.yaml"
broker_start || exit 1

# --- With the default max_message_bytes (8 MiB) the limit is what a recipient can take: its
# DELIVER adds the sender's certificate (at most 4 KiB), and an agent decodes frames of at most
# 8 MiB. A message over it is refused (it was accepted), one of exactly the limit is delivered --
broker_stop || fail "broker stop"
sed -i 's/^limits: .*//' "$work/broker.yaml"
broker_start || exit 1
deliverable=8384496 # 8 MiB less 4 KiB (a certificate at most) and 16 bytes
text_file "$work/half.txt" 4193280
cp "$work/half.txt" "$work/rest.txt"
two_sections() { # EXIT NAME
    check "$2" "$1" agent THA.RTP.fp1 alert --to IDN.POLRI.fp1 --section amber \
        --categories operational --file "$work/half.txt" --section amber \
        --categories operational --file "$work/rest.txt" --yes --timeout 20
}
two_sections 2 "a message just under 8 MiB"
contains "$work/err.txt" "larger than the $deliverable bytes the broker takes (8 MiB less 4 KiB and 16 bytes: what a recipient can take with the sender's certificate)" \
    "the limit by default is what a recipient can take"
frame=$(sed -n 's/.*the sealed message is a frame of \([0-9]*\) bytes.*/\1/p' "$work/err.txt")
[ -n "$frame" ] || fail "the size of the message just under 8 MiB is not named"
text_file "$work/rest.txt" $((4193280 - (frame - deliverable)))
two_sections 0 "a message of exactly the default limit"
msg_id=$(sed -n 's/^accepted: msg_id \([0-9a-f]*\).*/\1/p' "$work/out.txt")
agent IDN.POLRI.fp1 listen --json --count 1 --timeout 30 >"$work/got.json" 2>"$work/listen.err" ||
    { fail "the message of exactly the default limit was not delivered"; cat "$work/listen.err"; }
contains "$work/got.json" "\"msg_id\":\"${msg_id:-none}\"" "the message of exactly the default limit arrived"

# An agent that does not check (an older one, or a hand-made client) may still send a message
# the transport lets through (up to 8 MiB less 33 bytes) but no recipient could take: the broker
# rejects it, too_large, naming both sizes (it was accepted, and its DELIVER never decoded).
got=$("${FUSION_TOOLS:?}/rogue" --endpoint "$endpoint" --timeout 30000 \
    --broker-cert "$work/region/directory/RSO.FUSION.broker.cert" \
    --authority "$work/region/authority.pub" --key "$work/keys/THA.RTP.fp1.key" \
    --to "$work/keys/IDN.POLRI.fp1.key" --pad $((deliverable - 200)) publish 2>&1)
case $got in
"REJECTED too_large"*"more than the $deliverable a recipient's copy of it can be delivered in"*) ;;
*) fail "a message over what a recipient can take, from a client that does not check: $got" ;;
esac

broker_stop || fail "broker stop"
finish agent_oversize
