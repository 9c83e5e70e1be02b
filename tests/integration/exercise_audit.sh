#!/bin/sh
# Observing an exercise through the trainer's role and the audit trail: the runner plays only a
# simulated participant, while two trainees it does NOT play act with their own agents (here:
# this script). A trainee receives an exercise alert, another trainee's referral reaches it and
# it acknowledges the referral; the report shows those expectations met from the audit trail,
# with the audit entry's time. A trainee's alert to every focal point is denied to a focal point
# outside the exercise (exercise_segregation): the runner reads that denial, and that the officer
# was no recipient, from the `accepted` entry's `denied` and `allowed` lists, at once (not at the
# end of the expectation's 720 exercise hours, which the run waited for). The broker gives
# the exercise's audit entries (EXERCISE_AUDIT) only
# to a trainer listed in that exercise: a participant who is not a trainer and a trainer of
# another exercise are refused (forbidden, exit 3) and each refusal is audited; the entries are
# the exercise's own, never live traffic sent before or during the exercise, never content.
# Usage: FUSION_BIN=build/bin sh tests/integration/exercise_audit.sh   (from the repository root)
set -u
command -v jq >/dev/null || { echo "FAIL: jq is needed"; exit 1; }
command -v sqlite3 >/dev/null || { echo "FAIL: sqlite3 is needed to read the store"; exit 1; }
policy=$(mktemp "${TMPDIR:-/tmp}/fusion-exercise-audit-policy-XXXXXX.yaml") || exit 2
# A second trainer, AUS.ABF.tr2, takes part in the SMPU exercise only.
sed '/^  - id: EX-SMPU-VISIT-VISA$/,/participants:/ s/NZL.NZP.tr1/NZL.NZP.tr1, AUS.ABF.tr2/' \
    deploy/policy/bali-process.yaml >"$policy"
grep -q 'NZL.NZP.tr1, AUS.ABF.tr2' "$policy" || { echo "FAIL: could not add the second trainer"; exit 1; }
POLICY=$policy
. "$(dirname "$0")/../lib/broker.sh"
runner=
trap '[ -n "$runner" ] && kill "$runner" 2>/dev/null; broker_kill; rm -rf "$work" "$policy"' EXIT
speed=${EXERCISE_TEST_SPEED:-600}

region_setup THA.RTP.fp1:focal_point,police IDN.POLRI.fp1:focal_point,police \
    NZL.NZP.tr1:trainer AUS.ABF.tr2:trainer MYS.RMP.live1:liaison_officer,police \
    MYS.RMP.fp9:focal_point,police ||
    { echo "FAIL: region setup"; exit 1; }
broker_start || exit 1
trainer=$work/agent-NZL.NZP.tr1.yaml
agent NZL.NZP.tr1 flush >/dev/null 2>&1 # writes the trainer's configuration
# exaudit ID ARGS...: fusion-agent exercise audit as ID.
exaudit() {
    local id=$1
    shift
    [ -f "$work/agent-$id.yaml" ] || agent "$id" flush >/dev/null 2>&1 # writes its configuration
    "$agent" exercise audit --config "$work/agent-$id.yaml" "$@"
}
msg_id() { sed -n 's/^accepted: msg_id \([0-9a-f]*\).*/\1/p' "$1" | tail -n 1; }

# --- live traffic before the exercise: a subscription, a referral, its delivery ---------------
check "a live LO subscribes to every route" 0 agent MYS.RMP.live1 subscribe '**'
sed 's/"recipients": \["IDN.POLRI"\]/"recipients": ["IDN.POLRI.fp1"]/' tests/data/drafts/referral.json \
    >"$work/live-referral.json"
check "a live referral" 0 agent THA.RTP.fp1 send "$work/live-referral.json" --yes
live1=$(msg_id "$work/out.txt")
[ -n "$live1" ] || fail "the live referral printed no msg_id"
check "the live referral is received" 0 agent IDN.POLRI.fp1 listen --json --count 1 --timeout 20

# --- the exercise: the runner plays KHM.NCCT.sim1 only ------------------------------------------
cat >"$work/scenario.yaml" <<'YAML'
fusion_scenario: 1
exercise: EX-2026-11
title: Observing trainees through the audit trail
speed: 60
participants:
  - id: THA.RTP.fp1
    name: Thai focal point (trainee)
  - id: IDN.POLRI.fp1
    name: Indonesian focal point (trainee)
  - id: KHM.NCCT.sim1
    name: Cambodian focal point (simulated)
    simulated: true
    roles: [focal_point, police]
injects:
  - id: follow-thai-routes
    at: "+00:00"
    from: KHM.NCCT.sim1
    subscribe: {pattern: "THA>**"}
  - id: cambodian-alert
    at: "+00:01"
    from: KHM.NCCT.sim1
    send:
      kind: case_alert
      audience: direct
      recipients: [IDN.POLRI.fp1]
      purpose: investigation
      sections:
        - {id: 1, tlp: amber, categories: [operational], text: "Exercise alert for Indonesia."}
    expect:
      - delivered: IDN.POLRI.fp1
        within: 8h
  - id: thai-refers
    at: "+00:02"
    from: THA.RTP.fp1
    description: The Thai focal point refers a victim to the Indonesian focal point.
    send:
      kind: referral
      audience: direct
      recipients: [IDN.POLRI.fp1]
      purpose: victim_protection
      consent: true
      agreement: IDN-THA-NRM-2024
      sections:
        - {id: 1, tlp: amber, categories: [operational], text: "Exercise referral."}
    expect:
      - delivered: IDN.POLRI.fp1
        within: 8h
      - acknowledged: IDN.POLRI.fp1
        within: 8h
  - id: thai-alerts-focal-points
    at: "+00:03"
    from: THA.RTP.fp1
    description: The Thai focal point alerts every focal point; one outside the exercise is kept out.
    send:
      kind: case_alert
      audience: focal_points
      purpose: prevention
      sections:
        - {id: 1, tlp: green, categories: [operational], text: "Exercise alert to focal points."}
    expect:
      - delivered: IDN.POLRI.fp1
        within: 8h
      - denied: MYS.RMP.fp9
        code: exercise_segregation
      - not_delivered: MYS.RMP.fp9
        within: 720h
YAML
check "the scenario is valid" 0 "$agent" exercise validate "$work/scenario.yaml" --policy "$work/region/policy.yaml"
"$agent" exercise run "$work/scenario.yaml" --region "$work/region" --config "$trainer" \
    --speed "$speed" --state "$work/run" --wait 60 >"$work/run.out" 2>"$work/run.err" &
runner=$!
wait_for 30 grep -q -e "not yet loaded" -e "at speed" "$work/run.err" || fail "the runner did not get to enrolment"
grep -q "not yet loaded" "$work/run.err" && kill -HUP "$broker_pid"
# The wait says what a broker reading another copy of the region needs before its reload.
grep -q "not yet loaded" "$work/run.err" && ! grep -q \
    "if it reads another copy of the region, copy their certificates (directory/\*.cert) to it" \
    "$work/run.err" && fail "the runner's wait does not say to copy the certificates"
wait_for 30 grep -q "at speed" "$work/run.err" || { fail "the simulated participant was not admitted"; cat "$work/run.err"; }

# The trainee IDN.POLRI.fp1 takes the Cambodian alert.
agent IDN.POLRI.fp1 listen --json --count 1 --timeout 30 >"$work/alert.json" 2>"$work/listen.err" ||
    { fail "IDN.POLRI.fp1 did not receive the exercise alert"; cat "$work/listen.err"; }
[ "$(jq -r .exercise "$work/alert.json")" = EX-2026-11 ] || fail "the alert is not the exercise's"
# The trainee THA.RTP.fp1 refers, once the runner has announced that inject; live traffic too.
wait_for 30 grep -q "THA.RTP.fp1 (trainee) is to send" "$work/run.err" || fail "the trainee's inject is not announced"
jq '.exercise = "EX-2026-11" | .recipients = ["IDN.POLRI.fp1"] | .sections = [.sections[0]]' \
    tests/data/drafts/referral.json >"$work/ex-referral.json"
check "the trainee's exercise referral" 0 agent THA.RTP.fp1 send "$work/ex-referral.json" --yes
exref=$(msg_id "$work/out.txt")
direct_draft "$work/live-alert.yaml" IDN.POLRI.fp1 "Live alert during the exercise."
check "a live alert during the exercise" 0 agent THA.RTP.fp1 send "$work/live-alert.yaml" --yes
live2=$(msg_id "$work/out.txt")
wait_for 30 grep -q "THA.RTP.fp1 (trainee) is to send: The Thai focal point alerts" "$work/run.err" ||
    fail "the trainee's alert is not announced"
cat >"$work/fp-alert.yaml" <<'YAML'
kind: case_alert
audience: focal_points
purpose: prevention
exercise: EX-2026-11
sections:
  - {id: 1, tlp: green, categories: [operational], text: "Exercise alert to focal points."}
YAML
check "the trainee's alert to every focal point" 0 agent THA.RTP.fp1 send "$work/fp-alert.yaml" --yes
agent IDN.POLRI.fp1 listen --json --count 3 --timeout 30 >"$work/three.json" 2>"$work/listen.err" ||
    { fail "IDN.POLRI.fp1 did not receive the referral, the live alert and the alert to focal points"; cat "$work/listen.err"; }
check "the trainee acknowledges the referral" 0 agent IDN.POLRI.fp1 respond "$exref" acknowledge

wait_for 120 sh -c "! kill -0 $runner 2>/dev/null" || fail "the run did not end"
wait "$runner"
status=$?
runner=
grep -q -e 'Sanitizer' -e 'runtime error' "$work/run.err" && fail "runner: sanitizer report"
r=$work/run/report/report.json
[ "$status" -eq 0 ] || {
    fail "the run exited $status, expected 0"
    tail -n 20 "$work/run.err"
    [ -f "$r" ] && jq -r '.expectations[] | "    \(.inject) \(.kind) \(.principal): \(.outcome) \(.source) \(.detail // "")"' "$r"
}
[ -f "$r" ] || { fail "no report"; finish exercise_audit; }
jq -e '[.expectations[] | select(.principal == "IDN.POLRI.fp1" and .outcome == "met" and .source == "audit")] | length == 4' \
    "$r" >/dev/null || fail "the unplayed trainees' deliveries and acknowledgement are not met from the audit trail"
jq -e '[.expectations[] | select(.principal == "MYS.RMP.fp9" and .outcome == "met" and .source == "audit")] | length == 2' \
    "$r" >/dev/null || fail "the denial of a trainee's message is not met from the audit trail"
jq -e '[.denials[] | select(.recipient == "MYS.RMP.fp9" and .sender == "THA.RTP.fp1" and .code == "exercise_segregation")] | length == 1' \
    "$r" >/dev/null || fail "the denial read from the audit trail is not listed with the denials"
jq -e '[.events[] | select(.source == "audit" and .participant == "IDN.POLRI.fp1" and .type == "response" and .status == "acknowledged")] | length == 1' \
    "$r" >/dev/null || fail "no acknowledgement event from the audit trail"
jq -e --arg id "$exref" '.injects[] | select(.id == "thai-refers") | .msg_id == $id and .status == "trainee_action"' \
    "$r" >/dev/null || fail "the trainee's own referral is not matched to its inject"
jq -e '.summary.unobserved == 0 and .summary.segregation_breaches == 0' "$r" >/dev/null ||
    fail "something else was not observed: $(jq -c .summary "$r")"
grep -q "the exercise's audit trail" "$work/run/report/report.md" || fail "report.md does not say what came from the audit trail"
node tests/lib/json-schema-check.js docs/exercise-report.schema.json "$r" >"$work/schema.out" 2>&1 ||
    { fail "report.json does not validate"; cat "$work/schema.out"; }

# --- what the trainer reads: the exercise's entries only ------------------------------------------
check "the trainer reads the exercise's audit trail" 0 exaudit NZL.NZP.tr1 EX-2026-11 --json
cp "$work/out.txt" "$work/trail.json"
for event in subscribed accepted delivered received referral_state; do
    jq -s -e --arg e "$event" 'any(.[]; .event == $e)' "$work/trail.json" >/dev/null || fail "no $event entry in the exercise's trail"
done
jq -s -e 'any(.[]; .event == "subscribed" and .actor == "KHM.NCCT.sim1" and .details.exercise == "EX-2026-11")' \
    "$work/trail.json" >/dev/null || fail "the exercise's subscription is not in its trail"
for id in "$live1" "$live2"; do
    grep -q "$id" "$work/trail.json" && fail "live message $id appears in the exercise's trail"
done
grep -q "MYS.RMP.live1" "$work/trail.json" && fail "the live subscription appears in the exercise's trail"
# Every message an entry names is a stored message of the exercise.
for id in $(jq -r 'select(.msg_id != null) | .msg_id' "$work/trail.json" | sort -u); do
    ex=$(sqlite3 -readonly "$work/state/broker.db" "SELECT exercise FROM messages WHERE lower(hex(msg_id)) = '$id'")
    [ "$ex" = EX-2026-11 ] || fail "entry about $id, a message of exercise '$ex'"
done
# Incrementally: after the last seq there is nothing new; after an earlier one, only the rest.
last=$(jq -s 'map(.seq) | max' "$work/trail.json")
first=$(jq -s 'map(.seq) | min' "$work/trail.json")
check "nothing after the last entry" 0 exaudit NZL.NZP.tr1 EX-2026-11 --after "$last" --json
[ -s "$work/out.txt" ] && fail "entries after the last one: $(cat "$work/out.txt")"
check "after the first entry" 0 exaudit NZL.NZP.tr1 EX-2026-11 --after "$first" --json
[ "$(wc -l <"$work/out.txt")" -eq $(($(wc -l <"$work/trail.json") - 1)) ] || fail "--after does not skip exactly the entries before"

# --- refusals --------------------------------------------------------------------------------------
refused=$(sqlite3 -readonly "$work/state/broker.db" "SELECT count(*) FROM audit WHERE event = 'exercise_audit_refused'")
check "a participant who is not a trainer is refused" 3 exaudit THA.RTP.fp1 EX-2026-11
contains "$work/err.txt" "forbidden" "the refusal is typed"
[ -s "$work/out.txt" ] && fail "the refused participant got entries"
check "a trainer of another exercise is refused" 3 exaudit AUS.ABF.tr2 EX-2026-11
contains "$work/err.txt" "forbidden" "the refusal is typed"
check "an exercise the policy does not list is refused alike" 3 exaudit NZL.NZP.tr1 EX-NOPE
check "that trainer reads its own exercise" 0 exaudit AUS.ABF.tr2 EX-SMPU-VISIT-VISA
check "no exercise id" 2 exaudit NZL.NZP.tr1 ''
[ "$(sqlite3 -readonly "$work/state/broker.db" "SELECT count(*) FROM audit WHERE event = 'exercise_audit_refused'")" -eq $((refused + 3)) ] ||
    fail "the refusals are not audited"
sqlite3 -readonly "$work/state/broker.db" \
    "SELECT actor || ' ' || subject FROM audit WHERE event = 'exercise_audit_refused'" >"$work/refused.txt"
contains "$work/refused.txt" "AUS.ABF.tr2 EX-2026-11" "the refusal names who asked and for what"
finish exercise_audit
