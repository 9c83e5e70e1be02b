#!/bin/sh
# A database corrupted between runs. Bytes flipped inside a stored envelope: the broker starts
# (the file's structure is sound), but the row fails the hash stored with it, so the recipient
# gets nothing corrupted, the broker logs a STORAGE FAILURE and refuses every PUBLISH with the
# storage code while it still answers reads. A b-tree page of the messages table overwritten, or
# the file truncated, an audit row inserted below entry 1, an audit trail that no longer matches
# its checkpoint, an entry after the latest checkpoint that does not match its leaf hash or its
# links (the next checkpoint would sign over it), a stored row that cannot be read: the broker
# refuses to start (exit 4), naming the problem. A second broker on a database in use is refused, and the first one goes on
# serving.
set -u
. "$(dirname "$0")/../lib/broker.sh"
tools=${FUSION_TOOLS:?FUSION_TOOLS must name the directory of the test tools}
rogue=$tools/rogue
db=$work/state/broker.db
region_setup THA.RTP.fp1:focal_point,police IDN.POLRI.fp1:focal_point,police || exit 1
broker_start || exit 1
curve="--broker-cert $work/region/directory/RSO.FUSION.broker.cert --authority $work/region/authority.pub"
tha="--key $work/keys/THA.RTP.fp1.key $curve"
for i in 1 2 3; do
    "$rogue" --endpoint "$endpoint" $tha --to "$work/keys/IDN.POLRI.fp1.key" publish | grep -q "^ACCEPTED" ||
        fail "publish $i was not accepted"
done
broker_stop || fail "the broker did not stop cleanly"
cp "$db" "$work/clean.db"
[ ! -e "$db-wal" ] || [ ! -s "$db-wal" ] || fail "the write-ahead log was not checkpointed on a clean stop"

flip() { # FILE OFFSET COUNT: invert COUNT bytes at OFFSET, in place
    od -An -v -tu1 -j "$2" -N "$3" "$1" |
        awk '{ for (i = 1; i <= NF; i++) printf "%c", 255 - $i }' LC_ALL=C |
        dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

# 1. Bytes of a stored envelope.
offset=$("$tools/dbstate" "$db" envelope-offset) || { fail "cannot find an envelope in the file"; finish "corrupt"; }
flip "$db" "$offset" 16
cmp -s "$db" "$work/clean.db" && fail "the flip did not change the file"
broker_start || exit 1
agent IDN.POLRI.fp1 listen --json --count 3 --timeout 5 >"$work/got.json" 2>"$work/listen.err"
[ ! -s "$work/got.json" ] || fail "a corrupted store served records: $(cat "$work/got.json")"
wait_for 10 grep -q "STORAGE FAILURE" "$work/broker.log" || fail "no STORAGE FAILURE line for a corrupt row"
grep "STORAGE FAILURE" "$work/broker.log" | head -n 1
got=$("$rogue" --endpoint "$endpoint" $tha --to "$work/keys/IDN.POLRI.fp1.key" publish)
case "$got" in "REJECTED storage"*) ;; *) fail "a PUBLISH to a corrupt store was answered '$got'" ;; esac
"$rogue" --endpoint "$endpoint" $tha directory | grep -q "^DIRECTORY" || fail "the broker stopped answering reads"
broker_stop || fail "the broker did not stop cleanly"

# 2. The root page of the messages table overwritten: refused at start.
cp "$work/clean.db" "$db"
rm -f "$db-wal" "$db-shm"
root=$("$tools/dbstate" "$db" root-offset messages) || { fail "cannot find the messages table"; finish "corrupt"; }
flip "$db" "$root" 12
: >"$work/broker.log"
check "a broken b-tree page" 4 "$FUSION_BIN/fusion-broker" --config "$work/broker.yaml"
grep -q "cannot open the store" "$work/err.txt" || fail "no clear line for a broken page: $(cat "$work/err.txt")"
grep "cannot open the store" "$work/err.txt"

# 3. The file truncated to half its size: refused at start.
cp "$work/clean.db" "$db"
rm -f "$db-wal" "$db-shm"
truncate -s $(($(stat -c %s "$db") / 2)) "$db"
check "a truncated database" 4 "$FUSION_BIN/fusion-broker" --config "$work/broker.yaml"
grep -q "cannot open the store" "$work/err.txt" || fail "no clear line for a truncated file: $(cat "$work/err.txt")"
grep "cannot open the store" "$work/err.txt"

# 4. A row inserted into the audit table below entry 1: the Merkle tree is built from entry 1, so
# the broker never read it and started; now it refuses (exit 4, a damaged store), pointing to
# fusion-admin audit verify, and writes nothing (its start appends audit entries).
for seq in 0 -2; do
    cp "$work/clean.db" "$db"
    rm -f "$db-wal" "$db-shm"
    sqlite3 "$db" "INSERT INTO audit SELECT $seq, time_ms, event, actor, 'XXX.EVIL.x', msg_id,
        header_digest, details, leaf_hash, message FROM audit WHERE seq = 2" ||
        fail "sqlite3: insert an audit row at seq $seq"
    rows=$(sqlite3 "$db" "SELECT count(*), max(seq) FROM audit")
    check "an audit row at seq $seq" 4 timeout 30 "$FUSION_BIN/fusion-broker" --config "$work/broker.yaml"
    contains "$work/err.txt" "the audit trail has a row with seq $seq" "the refusal names the row"
    contains "$work/err.txt" "fusion-admin audit verify .*broker.db" "the refusal says what to run"
    [ "$(sqlite3 "$db" "SELECT count(*), max(seq) FROM audit")" = "$rows" ] ||
        fail "the refused start on an audit row at seq $seq wrote audit entries"
done

# 5. Read failures after the store opened are storage errors too (exit 4, with the reason), not
# an invalid configuration (exit 2): a trail that no longer matches its latest signed checkpoint,
# and a stored subscription that cannot be what was written.
cp "$work/clean.db" "$db"
rm -f "$db-wal" "$db-shm"
sqlite3 "$db" "DROP TRIGGER audit_no_delete; DELETE FROM audit WHERE seq = (SELECT max(seq) FROM audit)" ||
    fail "sqlite3: delete the last audit entry"
check "an audit trail shorter than its checkpoint" 4 "$FUSION_BIN/fusion-broker" --config "$work/broker.yaml"
contains "$work/err.txt" "does not match its latest signed checkpoint" "the refusal says why"
cp "$work/clean.db" "$db"
rm -f "$db-wal" "$db-shm"
sqlite3 "$db" "INSERT INTO subscriptions (principal, pattern, stages, kinds, exercise, created_at)
    VALUES ('IDN.POLRI.fp1', replace(hex(zeroblob(300)), '0', 'A'), 0, 0, '', 0)" ||
    fail "sqlite3: insert a subscription"
check "a stored subscription over the pattern limit" 4 "$FUSION_BIN/fusion-broker" --config "$work/broker.yaml"
contains "$work/err.txt" "cannot read subscriptions from the store .*broker.db: .*subscriptions.pattern" \
    "the refusal gives the store's reason"

# 6. Entries after the latest signed checkpoint: the next checkpoint would sign over them, so the
# start checks them as fusion-admin audit verify does. A broker killed after a PUBLISH leaves its
# entries after the checkpoint (with an interval longer than the test, only its shutdown
# checkpoint, which it never signs, could cover them); they hold, and it starts on them.
echo "audit: {checkpoint_interval: 1d}" >>"$work/broker.yaml"
cp "$work/clean.db" "$db"
rm -f "$db-wal" "$db-shm"
broker_start || exit 1
"$rogue" --endpoint "$endpoint" $tha --to "$work/keys/IDN.POLRI.fp1.key" publish | grep -q "^ACCEPTED" ||
    fail "the publish before the crash was not accepted"
broker_kill
sqlite3 "$db" "PRAGMA wal_checkpoint(TRUNCATE)" >/dev/null || fail "sqlite3: fold the log into the file"
rm -f "$db-wal" "$db-shm"
cp "$db" "$work/crashed.db"
signed=$(sqlite3 "$db" "SELECT max(tree_size) FROM audit_checkpoints")
accepted=$(sqlite3 "$db" "SELECT max(seq) FROM audit WHERE event = 'accepted'")
[ "$accepted" -gt "$signed" ] || fail "the crash left no accepted entry after the checkpoint ($accepted <= $signed)"
first=$(sqlite3 "$db" "SELECT hex(msg_id) FROM messages ORDER BY id LIMIT 1")
# after_checkpoint NAME SQL EXPECTED [SEQ]: the crashed copy altered by SQL (and entry SEQ's leaf
# hash then recomputed from its fields) is refused (exit 4), naming EXPECTED and the command to
# run, and nothing is written to it.
after_checkpoint() {
    cp "$work/crashed.db" "$db"
    rm -f "$db-wal" "$db-shm"
    sqlite3 "$db" "DROP TRIGGER audit_no_update; $2" || fail "$1: sqlite3"
    if [ $# -ge 4 ]; then
        leaf=$("$tools/dbstate" "$db" leaf-hash "$4") || fail "$1: dbstate leaf-hash"
        sqlite3 "$db" "UPDATE audit SET leaf_hash = x'$leaf' WHERE seq = $4" || fail "$1: sqlite3 rehash"
    fi
    rows=$(sqlite3 "$db" "SELECT count(*), max(seq) FROM audit")
    check "$1" 4 timeout 30 "$FUSION_BIN/fusion-broker" --config "$work/broker.yaml"
    contains "$work/err.txt" "does not hold after its latest signed checkpoint (tree size $signed)" "$1: the refusal says why"
    contains "$work/err.txt" "$3" "$1: the refusal names the entry"
    contains "$work/err.txt" "fusion-admin audit verify .*broker.db" "$1: the refusal says what to run"
    [ "$(sqlite3 "$db" "SELECT count(*), max(seq) FROM audit")" = "$rows" ] ||
        fail "$1: the refused start wrote audit entries"
}
# A field changed, its leaf hash left as it was.
after_checkpoint "an entry after the checkpoint altered" \
    "UPDATE audit SET subject = 'XXX.EVIL.x' WHERE seq = $accepted" \
    "entry $accepted (accepted) does not match its stored leaf hash"
# The leaf hash covers the entry's fields but not the link that files it under its stored
# message (audit.message): the entry moved to another message, its leaf hash recomputed, holds on
# its own, and its link no longer names its message.
after_checkpoint "an entry after the checkpoint moved to another message, its leaf hash recomputed" \
    "UPDATE audit SET msg_id = x'$first' WHERE seq = $accepted" \
    "audit.message of entry $accepted (accepted) names message" "$accepted"
after_checkpoint "an entry after the checkpoint filed under another message" \
    "UPDATE audit SET message = (SELECT min(id) FROM messages) WHERE seq = $accepted" \
    "audit.message of entry $accepted (accepted) names message $(echo "$first" | tr A-F a-f)"
# The crashed copy itself starts.
cp "$work/crashed.db" "$db"
rm -f "$db-wal" "$db-shm"
broker_start || fail "the broker does not start on the entries a crash left after its checkpoint"
broker_stop || fail "the broker did not stop cleanly"

# The clean copy still serves everything it held.
cp "$work/clean.db" "$db"
rm -f "$db-wal" "$db-shm"
broker_start || exit 1

# A second broker on the same database is refused before it writes anything, and the first one
# is not disturbed (it used to take the write lock between the first one's transactions, whose
# next commit then failed).
sed -e 's|^endpoint: .*|endpoint: tcp://127.0.0.1:0|' \
    -e "s|^endpoint_file: .*|endpoint_file: $work/second-endpoint|" "$work/broker.yaml" >"$work/second.yaml"
logged=$(wc -l <"$work/broker.log")
check "a second broker on the same database" 4 timeout 30 "$FUSION_BIN/fusion-broker" --config "$work/second.yaml"
grep -q "is in use by another process" "$work/err.txt" ||
    fail "the second broker does not say the database is in use: $(cat "$work/err.txt")"
[ ! -e "$work/second-endpoint" ] || fail "the second broker got as far as binding"
agent IDN.POLRI.fp1 listen --json --count 3 --timeout 10 >"$work/got.json" 2>"$work/listen.err" ||
    fail "the intact database did not deliver its 3 messages: $(cat "$work/listen.err")"
broker_stop || fail "the broker did not stop cleanly"
tail -n +"$((logged + 1))" "$work/broker.log" | grep -q "STORAGE FAILURE" &&
    fail "the first broker's store failed after the second start"
! grep -q -e 'Sanitizer' -e 'runtime error' "$work/broker.log" || fail "the broker's log has a sanitizer report"
finish "corrupt: a damaged store is refused at start or stops accepting; nothing corrupt is served"
