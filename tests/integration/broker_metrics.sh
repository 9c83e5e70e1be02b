#!/bin/sh
# Metrics: the broker serves its figures in the Prometheus text format on a loopback port, and
# they move as messages flow (published, accepted, rejected by code, replayed, delivered,
# acknowledged, reloads, latency, connected principals: those heard from within the heartbeat
# timeout, so one whose command ended or that stopped answering leaves the count, and comes back
# to it with what was sent to it meanwhile); `fusion-admin status` shows the same
# figures as text and JSON; a metrics address that is not loopback is a configuration error.
# Usage: FUSION_BIN=build/bin sh tests/integration/broker_metrics.sh
set -u
command -v jq >/dev/null || { echo "FAIL: jq is needed"; exit 1; }
. "$(dirname "$0")/../lib/broker.sh"

region_setup THA.RTP.fp1:focal_point,police IDN.POLRI.fp1:focal_point,police \
    AUS.ABF.pros1:prosecution || { echo "FAIL: region setup"; exit 1; }

# Not loopback: refused with file:line:column.
cp "$work/broker.yaml" "$work/public.yaml"
echo "metrics: 0.0.0.0:9464" >>"$work/public.yaml"
check "a public metrics address is refused" 2 "$bin/fusion-broker" --config "$work/public.yaml" --check
contains "$work/err.txt" "public.yaml:.*: metrics '0.0.0.0:9464': not a loopback address (they are served on 127.0.0.1, \[::1\] or localhost only)$" \
    "the error names the file and the rule"

echo "metrics: 127.0.0.1:0" >>"$work/broker.yaml"
# Short heartbeats: a connection that stops answering is dropped, and uncounted, within 3 s.
printf 'transport:\n  heartbeat: 1s\n  heartbeat_timeout: 3s\n' >>"$work/broker.yaml"
broker_start || exit 1
status() { "$admin" status --config "$work/broker.yaml" "$@"; }
value() { status --json | jq -r "$1"; }

check "status --raw" 0 status --raw
cp "$work/out.txt" "$work/page0.txt"
# The text format: every sample line is NAME[{LABEL="VALUE"}] NUMBER, every name has HELP and TYPE.
grep -v '^#' "$work/page0.txt" | grep -Ev '^[a-z_]+(\{[a-z]+="[^"]*"\})? [-+0-9.e]+(Inf)?$' >"$work/bad" &&
    { fail "lines that are not in the Prometheus text format"; cat "$work/bad"; }
for name in $(grep -v '^#' "$work/page0.txt" | sed 's/[{ ].*//' | sed 's/_\(bucket\|sum\|count\)$//' | sort -u); do
    grep -q "^# HELP $name " "$work/page0.txt" || fail "no HELP for $name"
    grep -q "^# TYPE $name \(counter\|gauge\|histogram\)$" "$work/page0.txt" || fail "no TYPE for $name"
done
for name in fusion_messages_accepted_total fusion_deliveries_pending fusion_referral_escalations_total \
    fusion_policy_reloads_total fusion_publish_latency_seconds_bucket fusion_principals_connected \
    fusion_storage_errors_total fusion_deliveries_oldest_pending_seconds; do
    grep -q "^$name" "$work/page0.txt" || fail "the page lacks $name"
done
[ "$(value .accepted)" = 0 ] || fail "accepted before any message: $(value .accepted)"

# An allowed message, then one the policy refuses (a victim's identity to a prosecutor).
direct_draft "$work/ok.yaml" IDN.POLRI.fp1 "metrics test"
check "send an allowed message" 0 agent THA.RTP.fp1 send "$work/ok.yaml" --yes
# A stale message (created an hour ago) is rejected with the code stale.
"$FUSION_TOOLS/rogue" --endpoint "$endpoint" --key "$work/keys/THA.RTP.fp1.key" \
    --broker-cert "$work/region/directory/RSO.FUSION.broker.cert" \
    --authority "$work/region/authority.pub" --to "$work/keys/IDN.POLRI.fp1.key" stale \
    >"$work/stale.out" 2>&1
grep -q '^REJECTED stale' "$work/stale.out" || { fail "the stale message was not rejected"; cat "$work/stale.out"; }
[ "$(value '.rejected_by_code.stale')" = 1 ] || fail "rejected{code=stale} is $(value '.rejected_by_code.stale')"
[ "$(value .accepted)" = 1 ] || fail "accepted is $(value .accepted), expected 1"
[ "$(value .published)" = 2 ] || fail "published is $(value .published), expected 2"
[ "$(value .delivered)" = 0 ] || fail "delivered before the recipient connected"
[ "$(value .latency_samples)" -ge 1 ] || fail "no latency sample"

# The recipient receives and acknowledges: delivered and acknowledged move, pending goes to 0.
agent IDN.POLRI.fp1 listen --json --count 1 --timeout 20 >"$work/got.json" 2>"$work/listen.err" ||
    { fail "the recipient did not receive"; cat "$work/listen.err"; }
wait_for 10 sh -c "[ \"\$($admin status --config $work/broker.yaml --json | jq -r .acknowledged)\" = 1 ]" ||
    fail "acknowledged did not reach 1: $(value .acknowledged)"
[ "$(value .delivered)" -ge 1 ] || fail "delivered did not move"

# A reload counts; a refused reload too (a policy whose signature no longer verifies).
kill -HUP "$broker_pid"
wait_for 10 sh -c "[ \"\$($admin status --config $work/broker.yaml --json | jq -r .policy_reloads)\" = 1 ]" ||
    fail "policy_reloads did not reach 1"
echo "# changed" >>"$work/region/policy.yaml"
kill -HUP "$broker_pid"
wait_for 10 sh -c "[ \"\$($admin status --config $work/broker.yaml --json | jq -r .policy_reloads_refused)\" = 1 ]" ||
    fail "policy_reloads_refused did not reach 1"

# A replayed PUBLISH gets its first answer again: counted as a replay, not as another acceptance.
[ "$(value .replayed)" = 0 ] || fail "replayed before any replay: $(value .replayed)"
rogue_as_tha() {
    "$FUSION_TOOLS/rogue" --endpoint "$endpoint" --key "$work/keys/THA.RTP.fp1.key" \
        --broker-cert "$work/region/directory/RSO.FUSION.broker.cert" \
        --authority "$work/region/authority.pub" "$@" 2>&1
}
rogue_as_tha --to "$work/keys/IDN.POLRI.fp1.key" --save "$work/publish.frame" publish |
    grep -q '^ACCEPTED' || fail "the message to replay was not accepted"
rogue_as_tha raw "$work/publish.frame" | grep -q '^ACCEPTED' || fail "the replay was not answered ACCEPTED"
[ "$(value .replayed)" = 1 ] || fail "replayed is $(value .replayed), expected 1"
[ "$(value .accepted)" = 2 ] || fail "accepted is $(value .accepted) after a replay, expected 2"

# A frame refused unread (a message of two parts) is counted apart from handshakes refused.
[ "$(value .frames_refused)" = 0 ] || fail "frames_refused before any: $(value .frames_refused)"
printf '\010\222\010\272\001\000' >"$work/directory-1042"
rogue_as_tha multipart "$work/directory-1042" "$work/directory-1042" | grep -q 'ERROR malformed' ||
    fail "the message of two parts was not refused"
[ "$(value .frames_refused)" = 1 ] || fail "frames_refused is $(value .frames_refused), expected 1"

check "status as text" 0 status
contains "$work/out.txt" "accepted 2, rejected 1 (stale 1), replayed 1" "status text: accepted, rejected and replayed"
contains "$work/out.txt" "0 refused, 1 frames refused unread" "status text: frames refused"
contains "$work/out.txt" "storage      ok" "status text: storage"

# --- connected principals: those heard from within the heartbeat timeout -----------------------
# Every command above has ended: nobody is connected (a session used to be counted until it had
# been silent for 3 minutes). A listening agent re-sends CREDIT every 3 s: always counted.
connected_is() { [ "$(value .connected)" = "$1" ]; }
wait_for 10 connected_is 0 || fail "principals counted connected after every command ended: $(value .connected)"
agent_bg IDN.POLRI.fp1 listen --json --timeout 60 >/dev/null 2>"$work/listener.err"
listener=$!
wait_for 10 connected_is 1 || fail "a listening principal is not counted: $(value .connected)"
kill "$listener"
wait "$listener"
wait_for 10 connected_is 0 || fail "a listener that stopped is still counted: $(value .connected)"
# A listener that stops answering (its process stopped: the connection stays open, nothing comes
# from it) is uncounted after transport.heartbeat_timeout (6 s at least, two CREDIT intervals);
# what was sent to it meanwhile reaches it, once, when it comes back.
acknowledged=$(value .acknowledged)
agent_bg IDN.POLRI.fp1 listen --json --count 1 --timeout 60 >"$work/back.json" 2>"$work/listener.err"
listener=$!
wait_for 10 connected_is 1 || fail "the second listener is not counted: $(value .connected)"
kill -STOP "$listener"
direct_draft "$work/while-stopped.yaml" IDN.POLRI.fp1 "sent while the listener was stopped"
check "send to the stopped listener" 0 agent THA.RTP.fp1 send "$work/while-stopped.yaml" --yes
wait_for 15 connected_is 0 ||
    fail "a listener that stopped answering is still counted past the heartbeat timeout: $(value .connected)"
kill -CONT "$listener"
wait "$listener" || { fail "the listener that came back did not get the message"; cat "$work/listener.err"; }
[ "$(jq -r '.sections[0].text' "$work/back.json")" = "sent while the listener was stopped" ] ||
    fail "the listener that came back got: $(cat "$work/back.json")"
wait_for 10 sh -c "[ \"\$($admin status --config $work/broker.yaml --json | jq -r .acknowledged)\" = $((acknowledged + 1)) ]" ||
    fail "the message to the listener that came back was not acknowledged once: $(value .acknowledged)"
wait_for 10 connected_is 0 || fail "connected after the last listener ended: $(value .connected)"

# Unreachable: exit 5 with the reason.
broker_stop || fail "the broker did not stop"
check "status of a stopped broker" 5 status
contains "$work/err.txt" "cannot reach" "the error says the broker cannot be reached"
check "status needs --config or --metrics" 2 "$admin" status
finish broker_metrics
