#!/bin/sh
# Retry: an agent that stays connected and keeps its window open but never acknowledges a
# delivery gets it again once the retry interval has passed (each delivery by its own last
# attempt, so a live agent cannot hold a window slot forever); a real listener then receives it
# once.
set -u
BROKER_EXTRA='delivery: {retry: 2s}'
. "$(dirname "$0")/../lib/broker.sh"
rogue=${FUSION_TOOLS:?FUSION_TOOLS must name the directory of the test tools}/rogue

region_setup THA.RTP.fp1:focal_point,police IDN.POLRI.fp1:focal_point,police || exit 1
broker_start || exit 1
direct_draft "$work/draft.yaml" IDN.POLRI.fp1 "retry test"
agent THA.RTP.fp1 send "$work/draft.yaml" --yes --timeout 5 >"$work/sent" 2>&1 || fail "send failed: $(cat "$work/sent")"
id=$(sed -n 's/^accepted: msg_id \([0-9a-f]*\).*/\1/p' "$work/sent")
"$rogue" --endpoint "$endpoint" --key "$work/keys/IDN.POLRI.fp1.key" \
    --broker-cert "$work/region/directory/RSO.FUSION.broker.cert" \
    --authority "$work/region/authority.pub" drain 7 >"$work/drain.out" 2>&1
times=$(grep -c "^DELIVER $id" "$work/drain.out")
echo "an unacknowledged delivery was sent $times times in 7 s with a 2 s retry"
[ "$times" -ge 2 ] || fail "the unacknowledged delivery was not sent again: $(cat "$work/drain.out")"
agent IDN.POLRI.fp1 listen --json --count 1 --timeout 10 >"$work/got.json" 2>/dev/null ||
    fail "the listener did not receive the message"
grep -q "$id" "$work/got.json" || fail "the listener received something else"
agent IDN.POLRI.fp1 listen --json --count 1 --timeout 3 >"$work/again.json" 2>/dev/null
[ ! -s "$work/again.json" ] || fail "the acknowledged message came again"
broker_stop || fail "the broker did not stop cleanly"
finish "retry: an unacknowledged delivery is sent again while its agent stays connected"
