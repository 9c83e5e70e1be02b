#!/bin/sh
# Receipts and consistency proofs from a real broker: the sender of a route alert gets a receipt
# that verifies against the broker's pinned certificate and says who was allowed which section,
# who was denied (code), and who received it; the saved receipt verifies offline, and fails once
# altered in transit (an entry changed, the checkpoint's body changed, or the checkpoint signed
# by another key); a colleague of the sender's agency gets the same receipt, and a principal of
# another agency gets no receipt of a message its agency did not send. An auditor
# keeps checkpoints and checks each newer one is consistent with the one it kept, which fails
# once the broker's tree was rewritten between runs.
# Usage: FUSION_BIN=build/bin FUSION_TOOLS=build/tools sh tests/integration/audit_receipts.sh
set -u
command -v jq >/dev/null || { echo "FAIL: jq is needed"; exit 1; }
command -v sqlite3 >/dev/null || { echo "FAIL: the sqlite3 command is needed (Debian: sqlite3)"; exit 1; }
BROKER_EXTRA='audit: {checkpoint_interval: 1h}' # receipts ask for fresh checkpoints themselves
. "$(dirname "$0")/../lib/broker.sh"
sign_checkpoint=${FUSION_TOOLS:-build/tools}/sign_checkpoint
[ -x "$sign_checkpoint" ] || { echo "FAIL: $sign_checkpoint is not built"; exit 1; }

msg_id() { sed -n 's/^accepted: msg_id \([0-9a-f]*\).*/\1/p' "$1" | tail -n 1; }

# expect CODE NAME ID COMMAND ARGS...: fusion-agent as ID; output in $work/out and $work/err.
expect() {
    want=$1 name=$2
    shift 2
    agent "$@" >"$work/out" 2>"$work/err"
    got=$?
    if grep -q -e 'Sanitizer' -e 'runtime error' "$work/err"; then
        fail "$name: sanitizer report"; sed 's/^/    /' "$work/err"
    elif [ "$got" -ne "$want" ]; then
        fail "$name: exit $got, expected $want"
        sed 's/^/    stdout: /' "$work/out"; sed 's/^/    stderr: /' "$work/err"
    fi
}

region_setup THA.RTP.fp1:focal_point,police MYS.RMP.lo1:liaison_officer,police \
    IDN.IMI.lo2:liaison_officer,immigration RSO.AUDIT.a1:auditor THA.RTP.fp2:focal_point,police \
    THA.DSI.x1:focal_point,police ||
    { echo "FAIL: region setup"; exit 1; }
broker_start || exit 1
db=$work/state/broker.db

expect 0 "the auditor keeps a first checkpoint" RSO.AUDIT.a1 audit-consistency
contains "$work/out" "kept the broker's checkpoint of tree size" "first checkpoint kept"
expect 0 "subscribe" MYS.RMP.lo1 subscribe 'MMR>**>MYS'
expect 0 "subscribe" IDN.IMI.lo2 subscribe '**>THA>**'
cat >"$work/route.yaml" <<'YAML'
kind: case_alert
audience: route
route: MMR>THA>MYS
stage: at_border
purpose: investigation
subject_role: suspect
sections:
  - {id: 1, tlp: green, categories: [operational], text: "Minivans through Mae Sot."}
  - id: 2
    tlp: green
    categories: [operational, personal_identifiers]
    content:
      case_alert:
        summary: The driver.
        persons: [{role: suspect, name: Example Driver, nationality: MMR}]
YAML
expect 0 "send a route alert" THA.RTP.fp1 send "$work/route.yaml" --yes
id=$(msg_id "$work/out")
expect 0 "MYS LO receives" MYS.RMP.lo1 listen --json --count 1 --timeout 20
wait_for 10 sh -c "sqlite3 '$db' \"SELECT count(*) FROM audit WHERE msg_id = x'$id' AND event = 'received'\" | grep -qx 1" ||
    fail "the RECEIVED was not audited"

# --- the sender's receipt ---------------------------------------------------------------------
expect 0 "the sender's receipt verifies" THA.RTP.fp1 receipt "$id" --save "$work/receipt.bin"
contains "$work/out" "receipt of $id verified" "verified"
contains "$work/out" "allowed to MYS.RMP.lo1: section 1 (rule route-alerts-liaison-officers), section 2" "allowed with rules"
contains "$work/out" "denied for IDN.IMI.lo2: section 2 no_agreement" "the denial with its code"
contains "$work/out" "delivered to MYS.RMP.lo1" "delivered"
contains "$work/out" "received by MYS.RMP.lo1" "received"
grep -q "Example Driver" "$work/out" && fail "the receipt shows content"
expect 0 "receipt --json" THA.RTP.fp1 receipt "$id" --json
[ "$(jq -r .verified "$work/out")" = true ] || fail "--json: not verified"
[ "$(jq -r '.entries[] | select(.event == "received") | .actor' "$work/out")" = MYS.RMP.lo1 ] ||
    fail "--json: received by"
[ "$(jq -r '.checkpoint.broker' "$work/out")" = RSO.FUSION.broker ] || fail "--json: broker"
jq -c .entries "$work/out" >"$work/sender-entries.json"
# DESIGN.md: an agency checks the receipts of its own messages. A colleague of the sender (a
# focal point on the next shift) gets the same receipt, and it verifies for that colleague; it
# was told "not a message you sent". Another agency of the same country gets the refusal that an
# unknown msg_id gets.
expect 0 "a colleague of the sender gets the receipt" THA.RTP.fp2 receipt "$id" --json
[ "$(jq -r .verified "$work/out")" = true ] || fail "the colleague's receipt: not verified: $(cat "$work/out")"
jq -c .entries "$work/out" | cmp -s - "$work/sender-entries.json" ||
    fail "the colleague's receipt holds other entries than the sender's: $(cat "$work/out")"
expect 0 "the colleague's receipt in words" THA.RTP.fp2 receipt "$id" --save "$work/colleague.bin"
contains "$work/out" "receipt of $id verified" "the colleague's receipt verified"
contains "$work/out" "allowed to MYS.RMP.lo1: section 1" "the colleague's receipt: allowed"
expect 0 "the colleague's saved receipt verifies offline" THA.RTP.fp2 receipt "$id" --verify "$work/colleague.bin"
expect 0 "the sender verifies the colleague's saved receipt" THA.RTP.fp1 receipt "$id" --verify "$work/colleague.bin"
expect 1 "another Thai agency asks for the receipt" THA.DSI.x1 receipt "$id"
contains "$work/err" "no receipt: this is not a message your agency sent through this broker" \
    "another agency: the refusal"
cp "$work/err" "$work/other-agency.err"
expect 1 "another Thai agency asks for an unknown message" THA.DSI.x1 receipt 0123456789abcdef0123456789abcdef
sed 's/0123456789abcdef0123456789abcdef/MSGID/' "$work/err" >"$work/unknown.err"
sed "s/$id/MSGID/" "$work/other-agency.err" | cmp -s - "$work/unknown.err" ||
    fail "another agency's refusal differs from an unknown msg_id's: $(cat "$work/other-agency.err" "$work/unknown.err")"
expect 1 "the other agency cannot verify the sender's saved receipt as its own" THA.DSI.x1 receipt "$id" --verify "$work/receipt.bin"
contains "$work/out" "does NOT verify: the receipt does not show the message accepted or rejected from a principal of THA.DSI" \
    "another agency's --verify: says why"
expect 0 "the saved receipt verifies offline" THA.RTP.fp1 receipt "$id" --verify "$work/receipt.bin"
# Offline means no connection: one dropped mid-handshake would be an auth_refused entry. (Under
# AddressSanitizer, its leak check cannot run in a process strace already traces: it is off here.)
if command -v strace >/dev/null && strace -f -o /dev/null true 2>/dev/null; then
    ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
        strace -f -e trace=connect -o "$work/strace.out" "$FUSION_BIN/fusion-agent" receipt "$id" \
        --verify "$work/receipt.bin" --config "$work/agent-THA.RTP.fp1.yaml" >/dev/null 2>&1 ||
        fail "receipt --verify under strace"
    grep -q 'connect(.*AF_INET' "$work/strace.out" &&
        fail "receipt --verify connects to the broker: $(grep 'connect(.*AF_INET' "$work/strace.out")"
else
    echo "note: strace is not usable here; not checking that receipt --verify opens no connection"
fi

# Altered in transit: an entry, the checkpoint's body, a checkpoint signed by another key.
sed 's/MYS\.RMP\.lo1/MYS.RMP.lo9/g' "$work/receipt.bin" >"$work/altered.bin"
expect 1 "an altered entry" THA.RTP.fp1 receipt "$id" --verify "$work/altered.bin"
contains "$work/out" "does NOT verify: entry [0-9]* (accepted) is not in the broker's signed tree" "altered entry named"
sed 's/RSO\.FUSION\.broker/RSO.FUSION.brokex/' "$work/receipt.bin" >"$work/altered.bin"
expect 1 "an altered checkpoint" THA.RTP.fp1 receipt "$id" --verify "$work/altered.bin"
contains "$work/out" "checkpoint's signature does not verify" "altered checkpoint named"
"$sign_checkpoint" resign "$work/keys/THA.RTP.fp1.key" "$work/receipt.bin" "$work/forged.bin" ||
    fail "resign"
expect 1 "a checkpoint signed by another key" THA.RTP.fp1 receipt "$id" --verify "$work/forged.bin"
contains "$work/out" "checkpoint's signature does not verify" "another key named"
expect 1 "another message's receipt" THA.RTP.fp1 receipt 0123456789abcdef0123456789abcdef --verify "$work/receipt.bin"
contains "$work/out" "the receipt is for another message" "says why it does not verify"
expect 2 "a saved receipt that is not there" THA.RTP.fp1 receipt "$id" --verify "$work/nothere.bin"
contains "$work/err" "is not a saved receipt (not found)" "a missing receipt named"
# A file that is not a receipt at all is bad input (2), as a missing one is; 1 is only for a
# receipt that does not verify.
printf '{}' >"$work/notreceipt.bin"
expect 2 "a saved receipt that is not a receipt" THA.RTP.fp1 receipt "$id" --verify "$work/notreceipt.bin"
contains "$work/err" "is not a saved receipt" "a malformed receipt named"
: >"$work/empty.bin"
expect 2 "an empty saved receipt" THA.RTP.fp1 receipt "$id" --verify "$work/empty.bin"
contains "$work/err" "is not a saved receipt (another kind of frame)" "an empty file named"

# A rejected message is never stored, but its sender gets a receipt of the rejected entry.
{ cat "$work/route.yaml"; echo 'expires: 366d'; } >"$work/long.yaml"
expect 3 "a message living too long is rejected" THA.RTP.fp1 send "$work/long.yaml" --yes
grep -q "lives 8784 h, longer than the broker's maximum time to live (720 h)" "$work/out" "$work/err" ||
    fail "the rejection does not give the maximum time to live: $(cat "$work/out" "$work/err")"
rejected_id=$(sed -n 's/.*rejected: msg_id \([0-9a-f]\{32\}\).*/\1/p' "$work/out" "$work/err" | head -n 1)
[ -n "$rejected_id" ] || fail "no msg_id in the rejection: $(cat "$work/out" "$work/err")"
expect 0 "the sender's receipt of a rejected message" THA.RTP.fp1 receipt "$rejected_id" --json
[ "$(jq -r '.verified' "$work/out")" = true ] || fail "rejected: not verified"
[ "$(jq -r '[.entries[] | .event] | join(",")' "$work/out")" = rejected ] ||
    fail "rejected: the receipt does not hold the rejected entry: $(cat "$work/out")"
[ "$(jq -r '.entries[0].details.code' "$work/out")" = limit ] ||
    fail "rejected: the entry's code: $(cat "$work/out")"
expect 1 "no receipt of someone else's rejected message" MYS.RMP.lo1 receipt "$rejected_id"
expect 0 "a colleague's receipt of the rejected message" THA.RTP.fp2 receipt "$rejected_id" --json
[ "$(jq -r '[.entries[] | .event] | join(",")' "$work/out")" = rejected ] ||
    fail "rejected, the colleague: $(cat "$work/out")"

# A larger tree: the proof of an early entry then takes complete subtrees of 256 entries and
# more from the broker's memory (audit_tree.c, KEPT_LEVEL 8) and the rest from the stored leaves.
# The policy has no permit for these operational alerts: each refusal is an entry all the same.
"${FUSION_TOOLS:-build/tools}/stream" --endpoint "$endpoint" \
    --broker-cert "$work/region/directory/RSO.FUSION.broker.cert" \
    --authority "$work/region/authority.pub" --to "$work/keys/MYS.RMP.lo1.key" \
    --log "$work/stream.log" --count 600 "$work/keys/THA.RTP.fp1.key" 2>"$work/stream.err"
[ $? -le 1 ] || { fail "stream: 600 messages"; sed 's/^/    /' "$work/stream.err"; }
entries=$(sqlite3 "$db" "SELECT count(*) FROM audit")
[ "$entries" -ge 600 ] || fail "only $entries audit entries after 600 more messages"
expect 0 "the receipt of an early message in a tree of $entries entries" THA.RTP.fp1 receipt "$id"
contains "$work/out" "receipt of $id verified" "verified in the larger tree"

# Only the sender: a recipient and a stranger get the same refusal as for no message at all.
expect 1 "a recipient asks for the sender's receipt" MYS.RMP.lo1 receipt "$id"
contains "$work/err" "no receipt" "the refusal"
grep -q "THA.RTP.fp1" "$work/err" "$work/out" && fail "the refusal reveals the sender"
# A rejected entry is not a claim to a message: MYS publishes under THA's msg_id with a bad
# signature (checked before the msg_id is looked up, so it is audited under that msg_id); its
# receipt then gave MYS every entry of THA's message, the recipients among them.
got=$("${FUSION_TOOLS:-build/tools}/rogue" --endpoint "$endpoint" \
    --broker-cert "$work/region/directory/RSO.FUSION.broker.cert" \
    --authority "$work/region/authority.pub" --key "$work/keys/MYS.RMP.lo1.key" \
    --msg-id "$id" forged-signature 2>&1)
case $got in "REJECTED bad_signature"*) ;; *) fail "a forged PUBLISH under THA's msg_id: $got" ;; esac
expect 1 "a principal rejected under another's msg_id asks for its receipt" MYS.RMP.lo1 receipt "$id"
contains "$work/err" "no receipt" "the refusal"
expect 0 "the sender's receipt holds no other principal's rejection" THA.RTP.fp1 receipt "$id" --json
jq -e '[.entries[] | select(.event == "rejected")] | length == 0' "$work/out" >/dev/null ||
    fail "THA's receipt holds MYS's rejection: $(cat "$work/out")"
expect 1 "an unknown message" MYS.RMP.lo1 receipt 0123456789abcdef0123456789abcdef
contains "$work/err" "no receipt" "the same refusal"

# --- the auditor: consistent while the broker is honest, not after a rewrite ------------------
# A listening auditor keeps the checkpoints the broker pushes (the latest, on connecting).
agent_bg RSO.AUDIT.a1 listen --timeout 60 >/dev/null 2>"$work/auditor.err"
listener=$!
received=$work/state/agent-RSO.AUDIT.a1/audit-checkpoints-received
wait_for 30 test -s "$received" || fail "the listening auditor kept no pushed checkpoint"
kill "$listener" 2>/dev/null
wait "$listener" 2>/dev/null
grep -q -e 'Sanitizer' -e 'runtime error' "$work/auditor.err" && fail "auditor listen: sanitizer report"
expect 0 "the tree grew consistently" RSO.AUDIT.a1 audit-consistency
contains "$work/out" "consistent: the tree of [0-9]* entries" "consistency in words"
contains "$work/out" "checkpoint pushed on connecting (tree size [0-9]*) is part of the same history" \
    "the auditor got the latest checkpoint when it connected"
contains "$work/out" "1 checkpoints received while listening are part of the same history" \
    "the checkpoint kept while listening was proven"
[ -s "$received" ] && fail "proven checkpoints stay in the received file"
expect 0 "again, with nothing new" RSO.AUDIT.a1 audit-consistency --json
[ "$(jq -r .consistent "$work/out")" = true ] || fail "--json consistent"
broker_stop || fail "stop"
# A dishonest operator rewrites an early entry (and recomputes its leaf hash: the broker refuses
# to start on an entry after its latest checkpoint that does not match it) and drops the
# checkpoints that would betray it; the broker starts and signs the rewritten tree.
sqlite3 "$db" "DROP TRIGGER audit_no_update; DROP TRIGGER audit_checkpoints_no_delete;
    UPDATE audit SET subject = 'XXX.EVIL.x' WHERE seq = 3; DELETE FROM audit_checkpoints" ||
    fail "rewrite"
leaf=$("${FUSION_TOOLS:-build/tools}/dbstate" "$db" leaf-hash 3) || fail "dbstate leaf-hash"
sqlite3 "$db" "UPDATE audit SET leaf_hash = x'$leaf' WHERE seq = 3" || fail "rewrite the leaf hash"
broker_start || exit 1
expect 0 "send after the rewrite" THA.RTP.fp1 send "$work/route.yaml" --yes
expect 1 "the rewritten history is detected" RSO.AUDIT.a1 audit-consistency
contains "$work/out" "NOT consistent" "rewrite named"
contains "$work/out" "history was rewritten" "rewrite explained"
broker_stop || fail "stop"
finish audit_receipts
