#!/bin/sh
# The audit trail of a real broker run: agents subscribe, send a route alert (one section the
# route audience may not have) and a direct notice, receive them; the broker signs checkpoints
# every second and once more on SIGTERM. Then `fusion-admin audit verify` holds on the untouched
# database (which it does not change), export and show tell the history without content, and
# each kind of tampering, done with sqlite3 on a fresh copy of the file, is detected and named:
# a modified, deleted, inserted or swapped entry, a tail truncated below a checkpoint, an altered
# or rolled-back checkpoint, and a checkpoint signed by another key. The broker itself refuses to
# start on a trail that no longer matches its latest checkpoint.
# Usage: FUSION_BIN=build/bin FUSION_TOOLS=build/tools sh tests/integration/audit_verify.sh
set -u
command -v jq >/dev/null || { echo "FAIL: jq is needed"; exit 1; }
command -v sqlite3 >/dev/null || { echo "FAIL: the sqlite3 command is needed (Debian: sqlite3)"; exit 1; }
BROKER_EXTRA='audit: {checkpoint_interval: 1s}'
. "$(dirname "$0")/../lib/broker.sh"
admin() { "$FUSION_BIN/fusion-admin" "$@"; }
sign_checkpoint=${FUSION_TOOLS:-build/tools}/sign_checkpoint
[ -x "$sign_checkpoint" ] || { echo "FAIL: $sign_checkpoint is not built"; exit 1; }

msg_id() { sed -n 's/^accepted: msg_id \([0-9a-f]*\).*/\1/p' "$1" | tail -n 1; }

region_setup THA.RTP.fp1:focal_point,police MYS.RMP.lo1:liaison_officer,police \
    IDN.POLRI.fp1:focal_point,police IDN.IMI.lo2:liaison_officer,immigration || { echo "FAIL: region setup"; exit 1; }
broker_start || exit 1
db=$work/state/broker.db
cert=$work/region/directory/RSO.FUSION.broker.cert

agent MYS.RMP.lo1 subscribe 'MMR>**>MYS' >/dev/null 2>&1 || fail "subscribe"
agent IDN.IMI.lo2 subscribe '**>THA>**' >/dev/null 2>&1 || fail "subscribe"
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
agent THA.RTP.fp1 send "$work/route.yaml" --yes >"$work/out" 2>&1 || { fail "send route alert"; cat "$work/out"; }
route_id=$(msg_id "$work/out")
direct_draft "$work/notice.yaml" IDN.POLRI.fp1 "Secret words of the notice."
agent THA.RTP.fp1 send "$work/notice.yaml" --yes >"$work/out" 2>&1 || { fail "send notice"; cat "$work/out"; }
notice_id=$(msg_id "$work/out")
agent MYS.RMP.lo1 listen --json --count 1 --timeout 20 >/dev/null 2>&1 || fail "LO did not receive"
agent IDN.IMI.lo2 listen --json --count 1 --timeout 20 >/dev/null 2>&1 || fail "IDN LO did not receive"
agent IDN.POLRI.fp1 listen --json --count 1 --timeout 20 >/dev/null 2>&1 || fail "IDN did not receive"
# The periodic checkpoint, while the broker runs.
wait_for 15 sh -c "[ \$(sqlite3 '$db' 'SELECT count(*) FROM audit_checkpoints') -gt 0 ]" ||
    fail "no checkpoint was signed within 15 s at a 1 s interval"
# More entries after it, so the trail has at least two checkpoints (periodic or shutdown).
agent THA.RTP.fp1 send "$work/notice.yaml" --yes >"$work/out" 2>&1 || fail "send a second notice"
agent IDN.POLRI.fp1 listen --json --count 1 --timeout 20 >/dev/null 2>&1 || fail "IDN did not receive"
wait_for 10 sh -c "sqlite3 '$db' \"SELECT event FROM audit WHERE msg_id = x'$(msg_id "$work/out")'\" | grep -q received" ||
    fail "the second notice's RECEIVED was not audited"
broker_stop || fail "the broker did not stop cleanly"
entries=$(sqlite3 "$db" 'SELECT count(*) FROM audit')
latest=$(sqlite3 "$db" 'SELECT max(tree_size) FROM audit_checkpoints')
[ "$latest" = "$entries" ] || fail "the latest checkpoint covers $latest of $entries entries"
[ "$(sqlite3 "$db" 'SELECT count(*) FROM audit_checkpoints')" -ge 2 ] ||
    fail "expected at least two checkpoints"

# --- the untouched trail holds, and verify changes nothing ------------------------------------
before=$(sha256sum "$db" | cut -d' ' -f1)
ls -a "$work/state" >"$work/files.before"
admin audit verify "$db" --broker-cert "$cert" --region "$work/region" >"$work/out" 2>&1
[ $? -eq 0 ] || { fail "verify of an untouched trail"; cat "$work/out"; }
contains "$work/out" "audit trail holds: $entries entries" "verify summary"
admin audit verify "$db" --broker-cert "$cert" >"$work/out" 2>&1 ||
    { fail "verify with the region the certificate is in"; cat "$work/out"; }
cp "$cert" "$work/stray.cert"
admin audit verify "$db" --broker-cert "$work/stray.cert" >"$work/out" 2>&1
[ $? -eq 2 ] || fail "a certificate outside a region and no --region: no authority.pub (usage)"
contains "$work/out" "no region given, and $work/stray.cert is not in one .*use --region REGION or set FUSION_REGION" \
    "a certificate outside a region: the error says to name the region"
admin audit verify "$db" --broker-cert "$work/nothere.cert" >"$work/out" 2>&1
[ $? -eq 2 ] || fail "a broker certificate that is not there: usage"
contains "$work/out" "--broker-cert $work/nothere.cert: no such file" "the missing certificate is named"
admin audit verify "$db" --broker-cert "$work/region/directory/THA.RTP.fp1.cert" >"$work/out" 2>&1
[ $? -eq 1 ] || fail "verify with another principal's certificate must fail"
contains "$work/out" "signature does not verify" "another principal's certificate"
[ "$(sha256sum "$db" | cut -d' ' -f1)" = "$before" ] || fail "verify changed the database"
[ -e "$db-wal" ] && [ -s "$db-wal" ] && fail "verify left a write-ahead log"
key=$(sqlite3 "$db" 'SELECT hex(substr(body, length(body) - 31, 32)) FROM audit_checkpoints LIMIT 1')
admin audit verify "$db" --key "$key" >"$work/out" 2>&1 || { fail "verify --key"; cat "$work/out"; }
other=$(sqlite3 "$db" 'SELECT hex(randomblob(32))')
admin audit verify "$db" --key "$other" >"$work/out" 2>&1
[ $? -eq 1 ] || fail "verify with another broker key must fail"
contains "$work/out" "signature does not verify" "another key named"
# The broker's certificate from the broker's configuration (its id, region, authority and
# database); it was refused, "expected ... --broker-cert FILE or --key HEX". Never from the
# trail itself: --region alone is refused, naming what to give.
admin audit verify --config "$work/broker.yaml" >"$work/out" 2>&1 ||
    { fail "verify --config (its database)"; cat "$work/out"; }
contains "$work/out" "^broker: RSO.FUSION.broker, certificate .*RSO.FUSION.broker.cert (the broker's configuration)$" \
    "verify --config names the certificate it took"
contains "$work/out" "audit trail holds: $entries entries" "verify --config"
admin audit verify "$db" --config "$work/broker.yaml" >"$work/out" 2>&1 ||
    { fail "verify DB --config"; cat "$work/out"; }
admin audit verify "$db" --config "$work/broker.yaml" --key "$key" >"$work/out" 2>&1
[ $? -eq 2 ] || fail "verify --config with --key: usage"
contains "$work/out" "one of --broker-cert FILE, --key HEX or --config BROKER.yaml" \
    "verify --config with --key: what to give"
admin audit verify "$db" --region "$work/region" >"$work/out" 2>&1
[ $? -eq 2 ] || fail "verify --region alone: usage"
contains "$work/out" "name the broker to check the trail against: --broker-cert $work/region/directory/BROKER-ID.cert, or --config BROKER.yaml" \
    "verify --region alone says what to give"
# A copy whose latest checkpoint another principal signed (as whoever can write the database
# could, with any enrolled key): the configuration's broker finds it out.
root=$(sqlite3 "$db" "SELECT hex(root_hash) || ' ' || time_ms FROM audit_checkpoints WHERE tree_size = $latest")
"$sign_checkpoint" "$work/keys/THA.RTP.fp1.key" "$latest" $root >"$work/two" || fail "sign_checkpoint"
cp "$db" "$work/two.db"
sqlite3 "$work/two.db" "DROP TRIGGER audit_checkpoints_no_update; UPDATE audit_checkpoints SET
    body = x'$(sed -n 1p "$work/two")', signature = x'$(sed -n 2p "$work/two")'
    WHERE tree_size = $latest" || fail "a copy with a checkpoint of another signer"
admin audit verify "$work/two.db" --config "$work/broker.yaml" >"$work/out" 2>&1
[ $? -eq 1 ] || fail "verify --config of a trail with a checkpoint of another signer: exit 1"
admin audit verify >/dev/null 2>&1; [ $? -eq 2 ] || fail "verify without arguments: usage"
admin audit verify "$work/nothing.db" --key "$key" >/dev/null 2>&1
[ $? -eq 4 ] || fail "verify of a missing database: exit 4"
[ -e "$work/nothing.db" ] && fail "verify created a database"

# --- export and show: the history, never content ---------------------------------------------
admin audit export "$db" >"$work/export.jsonl" || fail "export"
admin audit export '' >/dev/null 2>&1
[ $? -eq 2 ] || fail "export of an empty database name: exit 2 (invalid argument)"
[ "$(wc -l <"$work/export.jsonl")" -eq "$entries" ] || fail "export: one line per entry"
jq -e . "$work/export.jsonl" >/dev/null || fail "export writes JSON lines"
grep -q -e "Mae Sot" -e "Secret words" -e "Example Driver" "$work/export.jsonl" && fail "export holds content"
admin audit show "$db" --msg "$route_id" --json >"$work/show.jsonl" || fail "show --json"
for event in accepted delivered received; do
    jq -s -e "map(select(.event == \"$event\")) | length > 0" "$work/show.jsonl" >/dev/null ||
        fail "the route alert's history has no '$event' entry"
done
# Every entry that names a message carries its header digest (DESIGN.md), the same in each.
jq -s -e 'map(select(.msg_id != null)) | length > 0 and all(.header_digest != null)' \
    "$work/export.jsonl" >/dev/null ||
    fail "entries name a message without its header digest: $(jq -r 'select(.msg_id != null and .header_digest == null) | .event' "$work/export.jsonl" | sort -u | tr '\n' ' ')"
[ "$(jq -r '.header_digest' "$work/show.jsonl" | sort -u | wc -l)" -eq 1 ] ||
    fail "the route alert's entries disagree on its header digest"
# The accepted entry names the recipients with their rules and the audience's denials.
[ "$(jq -r 'select(.event == "accepted") | [.details.allowed[] | "\(.recipient) \(.sections | map(.section) | join(","))"] | join("; ")' "$work/show.jsonl")" = "MYS.RMP.lo1 1,2; IDN.IMI.lo2 1" ] ||
    fail "the route alert's allowed recipient is not audited: $(grep accepted "$work/show.jsonl")"
[ "$(jq -r 'select(.event == "accepted") | .details.denied[] | "\(.recipient) \(.sections[0].section) \(.sections[0].code)"' "$work/show.jsonl")" = "IDN.IMI.lo2 2 no_agreement" ] ||
    fail "the route audience's denial of section 2 is not audited: $(grep accepted "$work/show.jsonl")"
admin audit show "$db" --msg "$notice_id" >"$work/out" || fail "show"
contains "$work/out" "received   IDN.POLRI.fp1" "show in words"
admin audit show "$db" --msg 00000000000000000000000000000000 >/dev/null 2>&1
[ $? -eq 1 ] || fail "show of an unknown message: exit 1"
# None of them left a file beside the stopped broker's database (a read-only SQLite connection
# makes a -wal and a -shm, and leaves them): the directory is as it was.
ls -a "$work/state" | diff "$work/files.before" - >"$work/files.diff" ||
    fail "verify, export and show left files beside the database: $(cat "$work/files.diff")"
[ "$(sha256sum "$db" | cut -d' ' -f1)" = "$before" ] || fail "export or show changed the database"

# --- tampering, each on a fresh copy ---------------------------------------------------------
# tamper NAME SQL EXPECTED: the copy's verify exits 1 and names EXPECTED.
tamper() {
    rm -f "$work/t.db" "$work/t.db-wal" "$work/t.db-shm"
    cp "$db" "$work/t.db"
    sqlite3 "$work/t.db" "$2" || { fail "$1: sqlite3 failed"; return; }
    admin audit verify "$work/t.db" --broker-cert "$cert" --region "$work/region" >"$work/out" 2>&1
    got=$?
    [ "$got" -eq 1 ] || { fail "$1: verify exited $got, not 1"; cat "$work/out"; return; }
    contains "$work/out" "$3" "$1"
}
unlock='DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete;'
unlock_cp='DROP TRIGGER audit_checkpoints_no_update; DROP TRIGGER audit_checkpoints_no_delete;'
tamper "a modified entry" "$unlock UPDATE audit SET subject = 'XXX.EVIL.x' WHERE seq = 5" \
    "entry 5 (.*) does not match its stored leaf hash"
tamper "a modified time" "$unlock UPDATE audit SET time_ms = time_ms + 1 WHERE seq = 7" \
    "entry 7 (.*) does not match"
tamper "a deleted entry" "$unlock DELETE FROM audit WHERE seq = 4" "entry 4 is missing"
tamper "an inserted entry" "$unlock UPDATE audit SET seq = -seq WHERE seq >= 6;
    UPDATE audit SET seq = 1 - seq WHERE seq < 0;
    INSERT INTO audit SELECT 6, time_ms, event, actor, subject, msg_id, header_digest, details,
    leaf_hash, message FROM audit WHERE seq = 5" "entry 6 (.*) does not match"
tamper "two swapped entries" "$unlock UPDATE audit SET seq = -1 WHERE seq = 3;
    UPDATE audit SET seq = 3 WHERE seq = 4; UPDATE audit SET seq = 4 WHERE seq = -1" \
    "entry 3 (.*) does not match"
# Rows before entry 1 are not entries of the trail: verify names them, and show and export
# agree (neither lists them).
notice_seq=$(sqlite3 "$db" "SELECT seq FROM audit WHERE msg_id = x'$notice_id' AND event = 'accepted'")
for seq in 0 -1; do
    tamper "a row inserted at seq $seq" "$unlock INSERT INTO audit SELECT $seq, time_ms, event,
        'EVIL.FORGED.x', subject, msg_id, header_digest, details, leaf_hash, message FROM audit
        WHERE seq = $notice_seq" "a row with seq $seq (accepted) is not an entry of the trail"
    admin audit show "$work/t.db" --msg "$notice_id" --json >"$work/show.jsonl" || fail "show seq $seq"
    admin audit export "$work/t.db" | jq -c "select(.msg_id == \"$notice_id\")" >"$work/export.jsonl"
    cmp -s "$work/show.jsonl" "$work/export.jsonl" ||
        fail "show and export disagree on a row at seq $seq: $(diff "$work/show.jsonl" "$work/export.jsonl")"
    grep -q EVIL "$work/show.jsonl" && fail "show lists the row at seq $seq"
done
# The links that file entries under a message are not hashed: show lists only the message's own
# entries whatever they say, and verify names a link that points elsewhere.
delivered_seq=$(sqlite3 "$db" "SELECT seq FROM audit WHERE msg_id = x'$notice_id' AND event = 'delivered'")
tamper "a delivery's links moved" "UPDATE deliveries SET received_entry = 2, delivered_entry = 1
    WHERE delivered_entry = $delivered_seq" "deliveries.delivered_entry of message $notice_id names entry 1"
admin audit show "$work/t.db" --msg "$notice_id" --json >"$work/show.jsonl" || fail "show, links moved"
[ "$(jq -r .msg_id "$work/show.jsonl" | sort -u)" = "$notice_id" ] ||
    fail "show lists entries of another message: $(jq -c '[.seq, .event]' "$work/show.jsonl")"
tamper "an entry filed under another message" "$unlock UPDATE audit SET message = (SELECT message
    FROM audit WHERE msg_id = x'$route_id' AND event = 'accepted') WHERE seq = $notice_seq" \
    "audit.message of entry $notice_seq (accepted) names message $route_id"
admin audit show "$work/t.db" --msg "$route_id" --json >"$work/show.jsonl" || fail "show, moved entry"
[ "$(jq -r .msg_id "$work/show.jsonl" | sort -u)" = "$route_id" ] ||
    fail "show lists another message's entry: $(jq -c '[.seq, .event]' "$work/show.jsonl")"
keep=$((entries - 3))
first_cut=$(sqlite3 "$db" "SELECT min(tree_size) FROM audit_checkpoints WHERE tree_size > $keep")
tamper "a truncated tail" "$unlock DELETE FROM audit WHERE seq > $keep" \
    "checkpoint of tree size $first_cut covers entries the trail no longer has: it ends at entry $keep"
tamper "an altered checkpoint root" "$unlock_cp UPDATE audit_checkpoints SET root_hash = randomblob(32)
    WHERE tree_size = $latest" "checkpoint of tree size $latest: its stored size, root or time differ"
tamper "a checkpoint rolled back to an older one" "$unlock_cp UPDATE audit_checkpoints SET
    (root_hash, time_ms, signature, body) = (SELECT root_hash, time_ms, signature, body
    FROM audit_checkpoints ORDER BY tree_size LIMIT 1) WHERE tree_size = $latest" \
    "checkpoint of tree size $latest: its stored size, root or time differ from what it signed"
tamper "a checkpoint body altered" "$unlock_cp UPDATE audit_checkpoints SET
    body = CAST(replace(CAST(body AS TEXT), 'RSO', 'RSX') AS BLOB) WHERE tree_size = $latest" \
    "checkpoint of tree size $latest: its signature does not verify"
root=$(sqlite3 "$db" "SELECT hex(root_hash) || ' ' || time_ms FROM audit_checkpoints WHERE tree_size = $latest")
"$sign_checkpoint" "$work/keys/THA.RTP.fp1.key" "$latest" $root >"$work/forged" ||
    fail "sign_checkpoint"
tamper "a checkpoint signed by another key" "$unlock_cp UPDATE audit_checkpoints SET
    body = x'$(sed -n 1p "$work/forged")', signature = x'$(sed -n 2p "$work/forged")'
    WHERE tree_size = $latest" "checkpoint of tree size $latest: its signature does not verify"

# --- the broker refuses to sign over a trail that no longer matches its checkpoint -----------
cp "$db" "$work/state/broker.db.orig"
sqlite3 "$db" "$unlock DELETE FROM audit WHERE seq > $keep" || fail "truncate for the restart"
"$FUSION_BIN/fusion-broker" --config "$work/broker.yaml" >"$work/refused.log" 2>&1
[ $? -ne 0 ] || fail "the broker started on a truncated audit trail"
contains "$work/refused.log" "does not match its latest signed checkpoint" "the broker says why"
cp "$work/state/broker.db.orig" "$db"
rm -f "$db-wal" "$db-shm"
# With an interval longer than the test, only the shutdown checkpoint can cover a new message.
sed -i 's/checkpoint_interval: 1s/checkpoint_interval: 1h/' "$work/broker.yaml"
broker_start || fail "the broker does not start again on the restored trail"
agent THA.RTP.fp1 send "$work/notice.yaml" --yes >"$work/out" 2>&1 || fail "send after restart"
# The tools read a running broker's database through its write-ahead log: the new message, not
# checkpointed into the file yet, is there.
running_id=$(msg_id "$work/out")
admin audit show "$db" --msg "$running_id" >"$work/out" 2>&1 ||
    { fail "show of a message on a running broker"; cat "$work/out"; }
contains "$work/out" "accepted" "show on a running broker"
admin audit export "$db" | jq -s -e "map(select(.msg_id == \"$running_id\")) | length > 0" >/dev/null ||
    fail "export on a running broker does not list the new message"
admin audit verify "$db" --broker-cert "$cert" --region "$work/region" >"$work/out" 2>&1 ||
    { fail "verify on a running broker"; cat "$work/out"; }
contains "$work/out" "come after the latest checkpoint and are not signed yet" "verify on a running broker"
broker_stop || fail "stop after restore"
[ "$(sqlite3 "$db" 'SELECT max(tree_size) FROM audit_checkpoints')" = \
    "$(sqlite3 "$db" 'SELECT count(*) FROM audit')" ] || fail "no checkpoint on shutdown"
admin audit verify "$db" --broker-cert "$cert" --region "$work/region" >"$work/out" 2>&1 ||
    { fail "the restored trail after a restart"; cat "$work/out"; }
finish audit_verify
