#!/bin/sh
# A full disk: the broker's database lives on a 3 MiB tmpfs (made here, as root) and fills up.
# The broker answers REJECTED with the storage code from the first failed commit on, keeps
# refusing, says so in its log, and stays up; once space returns (the tmpfs grows) and it is
# restarted, it accepts again, and what it accepted before is exactly what is delivered; what it
# refused stayed in the sender's outbox and goes through on the next flush, once. Needs
# root (mount); otherwise it says it cannot run and fails, since a green run must mean the
# behaviour was seen.
set -u
. "$(dirname "$0")/../lib/broker.sh"
[ "$(id -u)" -eq 0 ] || { fail "this test mounts a small tmpfs and needs root"; finish "storage"; }
small=$work/small
mkdir -p "$small"
mount -t tmpfs -o size=3m tmpfs "$small" || { fail "cannot mount a tmpfs"; finish "storage"; }
trap 'broker_kill; umount "$small" 2>/dev/null; rm -rf "$work"' EXIT

region_setup THA.RTP.fp1:focal_point,police IDN.POLRI.fp1:focal_point,police || exit 1
sed -i "s|^database: .*|database: $small/broker.db|" "$work/broker.yaml"
broker_start || exit 1
head -c 196608 /dev/urandom | base64 -w 0 >"$work/quarter-megabyte.txt"
cat >"$work/draft.yaml" <<'YAML'
kind: case_alert
audience: direct
recipients: [IDN.POLRI.fp1]
purpose: investigation
sections:
  - {id: 1, tlp: amber, categories: [operational], file: quarter-megabyte.txt}
YAML
: >"$work/accepted"
: >"$work/queued"
refused=0
i=1
while [ "$i" -le 40 ] && [ "$refused" -lt 2 ]; do
    agent THA.RTP.fp1 send "$work/draft.yaml" --yes --timeout 10 >"$work/send.out" 2>&1
    status=$?
    sed -n 's/^accepted: msg_id \([0-9a-f]*\).*/\1/p' "$work/send.out" >>"$work/accepted"
    if [ "$status" -ne 0 ]; then
        grep -q "storage" "$work/send.out" || fail "send $i failed without the storage code: $(cat "$work/send.out")"
        [ "$status" -eq 5 ] || fail "send $i refused for storage exited $status, not 5 (kept for later)"
        sed -n 's/.*msg_id \([0-9a-f]*\) stays in the outbox.*/\1/p' "$work/send.out" >>"$work/queued"
        refused=$((refused + 1))
    fi
    i=$((i + 1))
done
accepted=$(wc -l <"$work/accepted")
echo "$accepted accepted before the disk was full, then $refused refused"
[ "$accepted" -gt 0 ] || fail "nothing was accepted before the disk filled"
[ "$refused" -eq 2 ] || fail "the broker did not refuse once its disk was full"
grep -q "STORAGE FAILURE" "$work/broker.log" || fail "the log does not report the storage failure"
# Still up: it answers requests that need no writing.
"$FUSION_TOOLS/rogue" --endpoint "$endpoint" --key "$work/keys/THA.RTP.fp1.key" \
    --broker-cert "$work/region/directory/RSO.FUSION.broker.cert" \
    --authority "$work/region/authority.pub" directory | grep -q "^DIRECTORY" ||
    fail "the broker stopped serving after the storage failure"
broker_stop || fail "the broker did not stop cleanly after the storage failure"

# Space returns on the same filesystem (the tmpfs grows); after a restart the broker accepts
# again, and what it accepted before is exactly what is delivered, once.
mount -o remount,size=64m "$small" || fail "cannot grow the tmpfs"
broker_start || exit 1
agent IDN.POLRI.fp1 listen --json --count "$accepted" --timeout 60 >"$work/got.json" 2>"$work/listen.err" ||
    fail "the accepted messages were not all delivered: $(tail -n 2 "$work/listen.err")"
jq -r .msg_id "$work/got.json" | sort >"$work/got"
sort "$work/accepted" | cmp -s - "$work/got" || fail "delivered messages differ from the accepted ones"
agent IDN.POLRI.fp1 listen --json --count 1 --timeout 2 >"$work/more.json" 2>/dev/null
[ ! -s "$work/more.json" ] || fail "a message that was refused for storage was delivered before it was sent again"
# What was refused for storage stayed in the sender's outbox: a flush now sends it, once.
sort -u -o "$work/queued" "$work/queued"
[ -s "$work/queued" ] || fail "no refused message was kept in the outbox"
agent THA.RTP.fp1 flush --timeout 10 >"$work/flush.out" 2>&1 ||
    fail "the flush after the space came back failed: $(cat "$work/flush.out")"
sed -n 's/^accepted: msg_id \([0-9a-f]*\).*/\1/p' "$work/flush.out" | sort >"$work/flushed"
flushed=$(wc -l <"$work/flushed")
comm -23 "$work/queued" "$work/flushed" | grep -q . && fail "a message kept for later was not sent by the flush"
agent IDN.POLRI.fp1 listen --json --count "$flushed" --timeout 20 >"$work/queued.json" 2>/dev/null ||
    fail "the messages kept in the outbox were not delivered after the repair"
jq -r .msg_id "$work/queued.json" | sort >"$work/queued-got"
cmp -s "$work/flushed" "$work/queued-got" || fail "delivered after the repair: not what the flush sent"
direct_draft "$work/small.yaml" IDN.POLRI.fp1 "after the space came back"
agent THA.RTP.fp1 send "$work/small.yaml" --yes --timeout 10 >"$work/send.out" 2>&1 ||
    fail "a send after the space came back failed: $(cat "$work/send.out")"
agent IDN.POLRI.fp1 listen --json --count 1 --timeout 10 >"$work/after.json" 2>/dev/null
grep -q "after the space came back" "$work/after.json" || fail "the message sent after recovery was not delivered"
broker_stop || fail "the broker did not stop cleanly"
finish "storage: a full disk stops accepting at once; nothing accepted is lost; it recovers when space returns"
