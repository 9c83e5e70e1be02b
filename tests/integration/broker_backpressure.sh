#!/bin/sh
# Back-pressure: a consumer opens the widest window and then stops reading its socket while
# messages of half a megabyte keep coming. The broker holds at most its per-session byte budget
# in flight (its memory stays bounded: the rest waits in the store), and once a real listener
# drains the queue every message arrives, once. BACKPRESSURE_MESSAGES (default 200) sets the
# volume.
set -u
. "$(dirname "$0")/../lib/broker.sh"
messages=${BACKPRESSURE_MESSAGES:-200}
rogue=${FUSION_TOOLS:?FUSION_TOOLS must name the directory of the test tools}/rogue
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$broker_pid/status"; }

region_setup THA.RTP.fp1:focal_point,police IDN.POLRI.fp1:focal_point,police || exit 1
broker_start || exit 1
"$rogue" --endpoint "$endpoint" --key "$work/keys/IDN.POLRI.fp1.key" \
    --broker-cert "$work/region/directory/RSO.FUSION.broker.cert" \
    --authority "$work/region/authority.pub" hold 600 >"$work/hold.out" 2>&1 &
holder=$!
wait_for 10 grep -q "IDN.POLRI.fp1 connected" "$work/broker.log" || fail "the stalled consumer did not connect"
head -c 393216 /dev/urandom | base64 -w 0 >"$work/half-megabyte.txt"
cat >"$work/draft.yaml" <<'YAML'
kind: case_alert
audience: direct
recipients: [IDN.POLRI.fp1]
purpose: investigation
sections:
  - {id: 1, tlp: amber, categories: [operational], file: half-megabyte.txt}
YAML
rss_before=$(rss_kib)
i=1
while [ "$i" -le "$messages" ]; do
    agent THA.RTP.fp1 send "$work/draft.yaml" --yes --timeout 10 >>"$work/sent" 2>&1 || fail "send $i failed"
    i=$((i + 1))
done
rss_after=$(rss_kib)
grew=$(( (rss_after - rss_before) / 1024 ))
if [ -n "${FUSION_SANITIZED:-}" ]; then
    echo "broker memory not judged under sanitizers (grew by $grew MiB)"
else
    echo "broker resident memory grew by $grew MiB while $((messages / 2)) MiB went to a stalled consumer"
    [ "$grew" -lt 90 ] || fail "the broker's memory grew by $grew MiB: what a stalled consumer cannot take must wait in the store"
fi
kill "$holder" 2>/dev/null; wait "$holder" 2>/dev/null
agent IDN.POLRI.fp1 listen --json --count "$messages" --timeout 120 >"$work/got.json" 2>"$work/listen.err" ||
    fail "the listener did not receive all $messages messages: $(tail -n 3 "$work/listen.err")"
[ "$(jq -r .msg_id "$work/got.json" | sort -u | wc -l)" -eq "$messages" ] || fail "messages were lost or shown twice"
broker_stop || fail "the broker did not stop cleanly"
finish "back-pressure: a stalled consumer costs the broker a bounded amount of memory; nothing is lost"
