#!/bin/sh
# The broker's escalation notice needs no permit rule: under the public conformance policy
# (default forbid, no rule that permits kind notice), an urgent referral left unanswered still
# escalates to its sender and the recipient agency's other focal points (DESIGN.md, Client
# protocol: RESPOND), while what the policy refuses outright still keeps it from someone: a
# focal point that is also `simulated` gets no live notice (exercise_segregation).
# Usage: FUSION_BIN=build/bin FUSION_SHARED=../shared sh tests/integration/referral_notice_policy.sh
set -u
command -v jq >/dev/null || { echo "FAIL: jq is needed"; exit 1; }
shared=${FUSION_SHARED:-../shared}
policy=$(mktemp "${TMPDIR:-/tmp}/fusion-notice-policy-XXXXXX.yaml") || exit 2
# Urgent referrals are due after 2 seconds.
sed 's/urgent: 8h/urgent: 2s/' "$shared/conformance/policy.yaml" >"$policy"
grep -q 'urgent: 2s' "$policy" || { echo "FAIL: could not shorten the urgent deadline"; exit 1; }
grep -q 'notice' "$policy" && { echo "FAIL: the conformance policy names notices now; this test assumes it does not"; exit 1; }
POLICY=$policy
. "$(dirname "$0")/../lib/broker.sh"
trap 'broker_kill; rm -rf "$work" "$policy"' EXIT

region_setup THA.RTP.fp1:focal_point,police IDN.POLRI.fp1:focal_point,police \
    IDN.POLRI.fp2:focal_point,police IDN.POLRI.sim1:focal_point,police,simulated ||
    { echo "FAIL: region setup"; exit 1; }
broker_start || exit 1

sed -e 's/"recipients": \["IDN.POLRI"\]/"recipients": ["IDN.POLRI.fp1"]/' \
    -e 's/"urgency": "normal"/"urgency": "urgent"/' tests/data/drafts/referral.json >"$work/urgent.json"
agent THA.RTP.fp1 send "$work/urgent.json" --yes >"$work/out" 2>"$work/err" ||
    { fail "send the urgent referral"; cat "$work/err"; }
id=$(sed -n 's/^accepted: msg_id \([0-9a-f]*\).*/\1/p' "$work/out" | tail -n 1)
[ -n "$id" ] || fail "no msg_id for the referral: $(cat "$work/out")"

escalated() {
    [ "$(agent THA.RTP.fp1 referrals --json --all 2>/dev/null |
        jq -r --arg id "$id" '.[] | select(.msg_id == $id) | .escalated')" = true ]
}
wait_for 20 escalated || fail "the urgent referral was not escalated"

for who in THA.RTP.fp1 IDN.POLRI.fp2; do
    agent "$who" listen --json --count 1 --timeout 20 >"$work/notice.json" 2>"$work/listen.err" ||
        { fail "$who got no escalation notice under a policy with no permit rule for notices"; cat "$work/listen.err"; }
    jq -e --arg id "$id" '.kind == "notice" and .sender == "RSO.FUSION.broker" and .in_reply_to == $id' \
        "$work/notice.json" >/dev/null || fail "$who's notice: $(cat "$work/notice.json")"
done
agent IDN.POLRI.sim1 listen --json --count 1 --timeout 3 >"$work/none.json" 2>/dev/null
[ -s "$work/none.json" ] && fail "a simulated focal point got the live notice: $(cat "$work/none.json")"

"$FUSION_BIN/fusion-admin" audit export "$work/state/broker.db" >"$work/audit.jsonl" 2>"$work/err" ||
    fail "audit export: $(cat "$work/err")"
jq -s -e '[.[] | select(.event == "escalated") | (.details | if type == "string" then fromjson else . end)]
    | length == 1 and (.[0].notified | sort) == ["IDN.POLRI.fp2", "THA.RTP.fp1"]
    and (.[0].denied | map(.recipient + ":" + .code)) == ["IDN.POLRI.sim1:exercise_segregation"]' \
    "$work/audit.jsonl" >/dev/null ||
    fail "the escalated entry: $(grep escalated "$work/audit.jsonl")"

grep -q -e 'Sanitizer' -e 'runtime error' "$work/broker.log" && fail "sanitizer report in the broker log"
finish referral_notice_policy
