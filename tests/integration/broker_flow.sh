#!/bin/sh
# Flow control: while a consumer grants no window, messages wait in the store, not in the
# broker's memory; once it opens a window of one, it receives every message, in the order sent,
# each once. FLOW_MESSAGES (default 150) sets the volume. A retry sends a delivery again within the
# window it holds.
set -u
. "$(dirname "$0")/../lib/broker.sh"
messages=${FLOW_MESSAGES:-150}
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$broker_pid/status"; }

region_setup THA.RTP.fp1:focal_point,police IDN.POLRI.fp1:focal_point,police || exit 1
broker_start || exit 1
# The consumer connects and grants nothing (it never sends CREDIT: a window of 0).
"${FUSION_TOOLS:?FUSION_TOOLS must name the directory of the test tools}/rogue" \
    --endpoint "$endpoint" --key "$work/keys/IDN.POLRI.fp1.key" \
    --broker-cert "$work/region/directory/RSO.FUSION.broker.cert" \
    --authority "$work/region/authority.pub" directory >"$work/paused.out" 2>&1
wait_for 10 grep -q "IDN.POLRI.fp1 connected" "$work/broker.log" || fail "the paused consumer did not connect"
rss_before=$(rss_kib)
i=1
while [ "$i" -le "$messages" ]; do
    printf 'kind: case_alert\naudience: direct\nrecipients: [IDN.POLRI.fp1]\npurpose: investigation\nsections:\n  - {id: 1, tlp: amber, categories: [operational], text: "message %d of the flow %s"}\n' \
        "$i" "$(head -c 700 /dev/zero | tr '\0' x)" >"$work/draft.yaml"
    agent THA.RTP.fp1 send "$work/draft.yaml" --yes --timeout 5 >>"$work/sent" 2>&1 || fail "send $i failed"
    i=$((i + 1))
done
rss_after=$(rss_kib)
grep -q "^DIRECTORY" "$work/paused.out" || fail "the paused consumer got something else than its answer: $(cat "$work/paused.out")"
grew=$(( (rss_after - rss_before) / 1024 ))
if [ -n "${FUSION_SANITIZED:-}" ]; then
    # AddressSanitizer's quarantine keeps freed memory resident: RSS says nothing there.
    echo "broker memory not judged under sanitizers (grew by $grew MiB)"
else
    echo "broker resident memory grew by $grew MiB while $messages messages waited"
    [ "$grew" -lt 32 ] || fail "the broker's memory grew by $grew MiB: waiting messages must stay in the store"
fi

agent IDN.POLRI.fp1 listen --json --window 1 --count "$messages" --timeout 60 >"$work/got.json" 2>"$work/listen.err" ||
    fail "the consumer did not receive all $messages messages: $(cat "$work/listen.err")"
jq -r '.sections[0].content.text // .sections[0].text // empty' "$work/got.json" 2>/dev/null |
    sed -n 's/^message \([0-9]*\) of the flow.*/\1/p' >"$work/order"
seq 1 "$messages" >"$work/expected"
cmp -s "$work/order" "$work/expected" || fail "messages did not arrive in the order sent, once each: $(head -c 300 "$work/order" | tr '\n' ' ')"
broker_stop || fail "the broker did not stop cleanly"

# The window holds across retries: with a window of 2 and the first delivery acknowledged 1.5 s
# late, the two in flight went out at different times, so a retry finds one due and not the
# other; the one due goes again in the slot it held. Forgetting every delivery in flight when one
# was due let the broker send new ones beside them: four unacknowledged in a window of 2.
echo 'delivery: {retry: 2s}' >>"$work/broker.yaml"
broker_start || exit 1
for i in 1 2 3 4 5 6; do
    direct_draft "$work/draft.yaml" IDN.POLRI.fp1 "window $i"
    agent THA.RTP.fp1 send "$work/draft.yaml" --yes --timeout 5 >>"$work/sent" 2>&1 || fail "send window $i failed"
done
"$FUSION_TOOLS/rogue" --endpoint "$endpoint" --key "$work/keys/IDN.POLRI.fp1.key" \
    --broker-cert "$work/region/directory/RSO.FUSION.broker.cert" \
    --authority "$work/region/authority.pub" window 2 7 >"$work/window.out" 2>&1
unacked=$(sed -n 's/^UNACKNOWLEDGED //p' "$work/window.out")
repeated=$(sed -n 's/^REPEATED //p' "$work/window.out")
echo "window 2: $unacked distinct deliveries unacknowledged, $repeated sent again"
[ "${repeated:-0}" -ge 1 ] || fail "no delivery was retried, so the window was not tested: $(cat "$work/window.out")"
[ "${unacked:-99}" -eq 2 ] || fail "with a window of 2, $unacked distinct deliveries were in flight unacknowledged: $(cat "$work/window.out")"
broker_stop || fail "the broker did not stop cleanly"
finish "flow: messages waited for a paused consumer and arrived in order, once each; the window held across retries"
