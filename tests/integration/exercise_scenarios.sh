#!/bin/sh
# Exercises end to end on a real broker: each shipped scenario in deploy/exercises/ runs to
# completion at high clock speed (the runner plays the trainees too, as in a rehearsal), and its
# after-action report lists every expectation with the outcome the scenario designed, including
# the designed-to-fail ones; a run stopped by SIGTERM resumes with --resume; the report is
# regenerated from the results; the HTML report is one file without external references, its
# timeline marking each inject as what became of it (sent, rejected, skipped); the
# JSON report validates against docs/exercise-report.schema.json. Segregation: during an
# exercise a live liaison officer subscribed to every route ('**') receives nothing of it, and a
# live message reaches no simulated principal. Escalation on the exercise's clock: the test's
# policy shortens the urgent deadline to 45 minutes and gives EX-SCAM-RETURN the run's speed, so
# the scam scenario's unanswered urgent referral escalates within the run (its `escalated`
# expectation is met), while a live urgent referral sent before it, on real time, does not. The
# progress line says what the run waits for (the next inject, the escalation) and until when.
# Usage: FUSION_BIN=build/bin sh tests/integration/exercise_scenarios.sh   (from the repository root)
set -u
command -v jq >/dev/null || { echo "FAIL: jq is needed"; exit 1; }
command -v node >/dev/null || { echo "FAIL: node is needed for the JSON Schema check"; exit 1; }
. "$(dirname "$0")/../lib/broker.sh"
runner= # the exercise runner in the background, if any
trap '[ -n "$runner" ] && kill "$runner" 2>/dev/null; broker_kill; rm -rf "$work"' EXIT
speed=${EXERCISE_TEST_SPEED:-300}
[ -n "${FUSION_SANITIZED:-}" ] && speed=${EXERCISE_TEST_SPEED:-120} # slower binaries: wider real windows
# The policy the region signs: urgent referrals due after 45 minutes (8 hours in the example), and
# the scam exercise's clock at the speed its run goes.
POLICY=$work/policy.yaml
sed -e 's/^  urgent: 8h$/  urgent: 45m/' -e "/^  - id: EX-SCAM-RETURN$/,/speed:/ s/^    speed: 60$/    speed: $speed/" \
    deploy/policy/bali-process.yaml >"$POLICY"
grep -q '^  urgent: 45m$' "$POLICY" && grep -q "^    speed: $speed\$" "$POLICY" ||
    { echo "FAIL: could not shorten the deadline and set the exercise's speed"; exit 1; }

# The command line: valid scenarios against the policy; an invalid one names FILE:LINE:COLUMN.
for scenario in deploy/exercises/*.yaml; do
    check "validate $scenario" 0 "$agent" exercise validate "$scenario" --policy deploy/policy/bali-process.yaml
done
check "validate an invalid scenario" 2 "$agent" exercise validate tests/fuzz/corpus/scenario/errors.yaml
contains "$work/err.txt" "errors.yaml:1:18: fusion_scenario must be 1" "validate names the line and column"
contains "$work/err.txt" "errors.yaml:5:17: at must be" "validate reports every problem"
# An `escalated` expectation under a policy without a deadline for the referral's urgency can
# never be met (the broker escalates after that deadline): named at the expectation.
sed '/^  urgent: 8h$/d' deploy/policy/bali-process.yaml >"$work/no-urgent.yaml"
check "validate an escalation the policy never makes" 2 "$agent" exercise validate \
    deploy/exercises/scam-compound-repatriation.yaml --policy "$work/no-urgent.yaml"
contains "$work/err.txt" "scam-compound-repatriation.yaml:219:9: the policy .* sets no referral deadline for urgent referrals" \
    "validate names the escalated expectation the policy never meets"
# Run from another working directory, where the default state directory would go: a refused
# run leaves none behind.
mkdir "$work/cwd"
check "run with a configuration that does not exist" 2 sh -c 'cd "$1" && shift && exec "$@"' sh \
    "$work/cwd" "$agent" exercise run "$PWD/deploy/exercises/lao-route-shift.yaml" --config /nonexistent
[ -z "$(ls -A "$work/cwd")" ] || fail "a refused run left $(ls -A "$work/cwd") in the working directory"
contains "$work/err.txt" "/nonexistent" "the missing configuration is named"

region_setup THA.RTP.fp1:focal_point,police LKA.DIE.smpu1:focal_point,immigration \
    NZL.NZP.tr1:trainer MYS.RMP.live1:liaison_officer,police IDN.POLRI.fp1:focal_point,police ||
    { echo "FAIL: region setup"; exit 1; }
broker_start || exit 1
trainer=$work/agent-NZL.NZP.tr1.yaml
agent NZL.NZP.tr1 flush >/dev/null 2>&1 # writes the trainer's configuration
[ -f "$trainer" ] || { echo "FAIL: no trainer configuration"; exit 1; }

# The live liaison officer follows every route, live traffic only.
check "live LO subscribes to every route" 0 agent MYS.RMP.live1 subscribe '**'

# A run never takes over a live principal: a scenario that declares one simulated is refused
# before any enrolment (it used to re-enrol the id, revoking the officer's certificate). Nor does
# it play an exercise the region's policy does not list.
sed -e 's/EX-LAO-ROUTE-SHIFT/EX-2026-11/' -e 's/MYS.RMP.sim3/IDN.POLRI.fp1/g' \
    -e 's/AUS.ABF.sim3/KHM.NCCT.sim1/g' deploy/exercises/lao-route-shift.yaml >"$work/hijack.yaml"
cp "$work/region/directory/IDN.POLRI.fp1.cert" "$work/live.cert"
check "a run that would make a live principal simulated" 2 "$agent" exercise run "$work/hijack.yaml" \
    --region "$work/region" --config "$trainer" --state "$work/hijack" --wait 5
contains "$work/err.txt" "IDN.POLRI.fp1 is a live principal" "the refusal names the live principal"
cmp -s "$work/live.cert" "$work/region/directory/IDN.POLRI.fp1.cert" ||
    fail "the live principal's certificate was replaced"
sed -e 's/EX-LAO-ROUTE-SHIFT/EX-NOT-LISTED/' deploy/exercises/lao-route-shift.yaml >"$work/unlisted.yaml"
check "a run of an exercise the policy does not list" 2 "$agent" exercise run "$work/unlisted.yaml" \
    --region "$work/region" --config "$trainer" --state "$work/unlisted" --wait 5
contains "$work/err.txt" "exercise EX-NOT-LISTED is not listed in the policy" "the refusal names the exercise"
[ ! -e "$work/region/directory/MYS.RMP.sim3.cert" ] || fail "the unlisted exercise's participants were enrolled"

# start_run NAME SCENARIO SPEED [ARGS...]: the runner in the background, output in $work/NAME.*
start_run() {
    local name=$1 scenario=$2 run_speed=$3
    shift 3
    "$agent" exercise run "$scenario" --region "$work/region" --config "$trainer" \
        --speed "$run_speed" --state "$work/$name" --play-trainees "$work/keys" --wait 60 "$@" \
        >"$work/$name.out" 2>"$work/$name.err" &
    runner=$!
}

# admit NAME: once the runner waits for the broker to load its simulated participants, reload it.
admit() {
    wait_for 30 grep -q -e "not yet loaded" -e "at speed" "$work/$1.err" ||
        { fail "$1: the runner did not get to enrolment"; cat "$work/$1.err"; return 1; }
    grep -q "not yet loaded" "$work/$1.err" && kill -HUP "$broker_pid"
    wait_for 30 grep -q "at speed" "$work/$1.err" ||
        { fail "$1: the broker did not admit the simulated participants"; cat "$work/$1.err"; return 1; }
}

# finish_run NAME WANT: waits for the runner to exit and checks its exit status.
finish_run() {
    local status
    wait_for 180 sh -c "! kill -0 $runner 2>/dev/null" || fail "$1: the run did not end"
    wait "$runner"
    status=$?
    runner=
    grep -q -e 'Sanitizer' -e 'runtime error' "$work/$1.err" && fail "$1: sanitizer report"
    if [ "$status" -ne "$2" ]; then
        fail "$1: exit $status, expected $2"
        sed 's/^/    out: /' "$work/$1.out"
        sed 's/^/    err: /' "$work/$1.err" | tail -n 30
        [ -f "$work/$1/report/report.json" ] &&
            jq -r '.expectations[] | select(.as_designed | not) | "    \(.inject) \(.kind) \(.principal): \(.outcome) \(.detail // "")"' "$work/$1/report/report.json"
    fi
}

# check_report NAME SCENARIO: every expectation of the scenario is in the report, as designed.
check_report() {
    local dir=$work/$1/report want
    want=$("$agent" exercise validate "$2" | sed -n 's/.*inject(s), \([0-9]*\) expectation.*/\1/p')
    [ -f "$dir/report.json" ] || { fail "$1: no report.json"; return; }
    [ "$(jq '.expectations | length' "$dir/report.json")" = "$want" ] ||
        fail "$1: the report lists $(jq '.expectations | length' "$dir/report.json") expectations, the scenario $want"
    jq -e '.complete and ([.expectations[] | select(.as_designed | not)] | length == 0)' \
        "$dir/report.json" >/dev/null || fail "$1: not every expectation came out as designed"
    [ "$(jq '.summary.segregation_breaches' "$dir/report.json")" = 0 ] ||
        fail "$1: live traffic reached an exercise participant"
    node tests/lib/json-schema-check.js docs/exercise-report.schema.json "$dir/report.json" \
        >"$work/schema.out" 2>&1 || { fail "$1: report.json does not validate"; cat "$work/schema.out"; }
    [ -s "$dir/report.md" ] || fail "$1: no report.md"
    for x in $(jq -r '.expectations[].inject' "$dir/report.json" | sort -u); do
        grep -q "$x" "$dir/report.md" || fail "$1: report.md does not mention inject $x"
    done
    # One self-contained page: no external reference of any kind.
    [ -s "$dir/report.html" ] || fail "$1: no report.html"
    if grep -qiE 'src=|href=|<link|url\(|@import|https?:|<script|<iframe|<object|<embed' "$dir/report.html"; then
        fail "$1: report.html refers to something outside itself"
        grep -oiE '.{0,40}(src=|href=|<link|url\(|@import|https?:|<script).{0,40}' "$dir/report.html" | head
    fi
    grep -q '<svg' "$dir/report.html" || fail "$1: report.html has no SVG timeline"
}

# --- (a) repatriation from a cyber-scam compound -------------------------------------------------
# A live urgent referral first: live traffic keeps real-time deadlines whatever an exercise's speed.
jq '.recipients = ["IDN.POLRI.fp1"] | .urgency = "urgent" | .sections = [.sections[0]]' \
    tests/data/drafts/referral.json >"$work/live-referral.json"
check "a live urgent referral" 0 agent THA.RTP.fp1 send "$work/live-referral.json" --yes
live_referral=$(sed -n 's/^accepted: msg_id \([0-9a-f]*\).*/\1/p' "$work/out.txt" | tail -n 1)
[ -n "$live_referral" ] || fail "the live referral printed no msg_id"
start_run scam deploy/exercises/scam-compound-repatriation.yaml "$speed"
admit scam
# During the exercise, a live message to a simulated principal is refused (exercise segregation).
direct_draft "$work/live.yaml" IDN.POLRI.sim1 "Live traffic must not reach a simulated principal."
check "a live message to a simulated principal is refused" 3 agent IDN.POLRI.fp1 send "$work/live.yaml" --yes
contains "$work/out.txt" "IDN.POLRI.sim1: exercise_segregation" "the sender sees the segregation denial"
finish_run scam 0
check_report scam deploy/exercises/scam-compound-repatriation.yaml
# The progress (a line per change, standard error not being a terminal) says what the run waits
# for and until when: the first inject, and, after the last, the unanswered referral's escalation.
contains "$work/scam.err" "inject 0 of 7  .*  waiting for inject 1, at +00:05$" "scam: the progress waits for the first inject"
contains "$work/scam.err" "inject 7 of 7  .*  waiting for the escalation of inject 7 to IDN.POLRI.sim1, due +10:20" \
    "scam: the progress waits for the escalation"
r=$work/scam/report/report.json
jq -e '[.expectations[] | select(.designed_to_fail and .outcome == "missed_as_designed")] | length >= 1' "$r" >/dev/null ||
    fail "scam: the designed-to-fail expectation is not reported as missed as designed"
jq -e '[.denials[] | select(.recipient == "THA.OAG.sim1" and .rule == "nonpunishment-victim-data" and (.guideline // "" | test("Non-Punishment")))] | length >= 1' "$r" >/dev/null ||
    fail "scam: the non-punishment denial is not reported with its guideline"
jq -e '[.denials[] | select(.recipient == "IDN.AGO.sim1" and .code == "no_agreement")] | length >= 1' "$r" >/dev/null ||
    fail "scam: the no_agreement denial is not reported"
jq -e '.statistics.delivery.count >= 1 and .statistics.response.count >= 1' "$r" >/dev/null ||
    fail "scam: no delivery or response statistics"
jq -e '[.expectations[] | select(.kind == "escalated" and .inject == "indonesia-follow-up" and .outcome == "met")] | length == 1' \
    "$r" >/dev/null || fail "scam: the unanswered urgent referral did not escalate on the exercise's clock"
jq -e '.summary.escalations >= 1' "$r" >/dev/null || fail "scam: no escalation counted"
agent THA.RTP.fp1 referrals --json --all >"$work/live-referrals.json" 2>/dev/null
[ "$(jq -r --arg id "$live_referral" '.[] | select(.msg_id == $id) | .escalated' "$work/live-referrals.json")" = false ] ||
    fail "the live urgent referral escalated on an exercise's clock: $(cat "$work/live-referrals.json")"

# The report is regenerated from the kept results, identically.
check "exercise report regenerates the report" 0 "$agent" exercise report "$work/scam/results.json" --out "$work/again"
cmp -s "$work/again/report.json" "$r" || fail "the regenerated report.json differs"
cmp -s "$work/again/report.html" "$work/scam/report/report.html" || fail "the regenerated report.html differs"
# Text from the scenario is escaped: a hostile title and note stay text in the HTML page...
jq '.title = "<script>alert(1)</script><img src=http://example.org/x.png>" |
    .expectations[0].note = "<a href=\"https://example.org\">x</a> | *md*"' \
    "$work/scam/results.json" >"$work/hostile.json"
check "exercise report of hostile text" 0 "$agent" exercise report "$work/hostile.json" --out "$work/hostile"
grep -qiE '<script|<img|<a ' "$work/hostile/report.html" && fail "hostile text became markup in report.html"
contains "$work/hostile/report.html" "&lt;script&gt;alert(1)&lt;/script&gt;" "the hostile title is shown as text"
# ... and in the Markdown, where the markup and the note's '|' (a table cell's end) are escaped.
contains "$work/hostile/report.md" '\\<script\\>alert(1)\\</script\\>' "the hostile title is escaped in report.md"
contains "$work/hostile/report.md" '\\| \\[*]md\\[*]' "the hostile note is escaped in report.md"
# The timeline marks an inject as what became of it, as its heading says (every inject was
# "inject (sent)", a filled mark, skipped or denied alike): here one made skipped.
jq '.injects[1] |= (.status = "skipped" | .detail = "the message it answers was not sent or not seen, so it has no msg_id")' \
    "$work/scam/results.json" >"$work/skipped.json"
skipped=$(jq -r '.injects[1] | "\(.from) (\(.id))"' "$work/skipped.json")
check "exercise report of a skipped inject" 0 "$agent" exercise report "$work/skipped.json" --out "$work/skipped"
contains "$work/skipped/report.html" "<title>+[0-9:]* inject (skipped: the message it answers was not sent or not seen, so it has no msg_id): $skipped</title><path [^>]*fill='#ffffff'" \
    "the timeline marks the skipped inject skipped"
lacks "$work/skipped/report.html" "inject (sent): $skipped" "the timeline calls the skipped inject sent"
contains "$work/skipped/report.md" "; skipped: the message it answers was not sent or not seen, so it has no msg\\\\_id)" \
    "report.md says the inject was skipped"
echo '{"fusion_exercise_results": 2}' >"$work/bad.json"
check "exercise report refuses what is not results" 2 "$agent" exercise report "$work/bad.json" --out "$work/bad"
# A report file that is a symbolic link is refused and left alone, not replaced or written through.
mkdir "$work/linked" && printf 'mine\n' >"$work/mine.md" && ln -s ../mine.md "$work/linked/report.md"
check "exercise report over a symlink" 2 "$agent" exercise report "$work/scam/results.json" --out "$work/linked"
contains "$work/err.txt" "report.md: not a regular file" "exercise report over a symlink: why"
[ -L "$work/linked/report.md" ] && [ "$(cat "$work/mine.md")" = mine ] ||
    fail "exercise report replaced or wrote through a symlink"

# --- (b) the Colombo airport SMPU alert ------------------------------------------------------------
start_run smpu deploy/exercises/smpu-visit-visa-alert.yaml "$speed"
admit smpu
finish_run smpu 0
check_report smpu deploy/exercises/smpu-visit-visa-alert.yaml
jq -e '[.expectations[] | select(.designed_to_fail and .outcome == "missed_as_designed")] | length >= 1' \
    "$work/smpu/report/report.json" >/dev/null || fail "smpu: no missed-as-designed expectation"

# The same scenario with the trainee left to act on their own (no --play-trainees), nobody
# acting: the runner announces the trainee's injects, cannot see the trainee's own PREPARE
# answer (not observed) and finds the trainee's deliveries missing.
"$agent" exercise run deploy/exercises/smpu-visit-visa-alert.yaml --region "$work/region" \
    --config "$trainer" --speed 600 --state "$work/smpu" --report "$work/smpu-alone" --wait 60 \
    >"$work/alone.out" 2>"$work/alone.err"
status=$?
[ "$status" -eq 1 ] || { fail "smpu without trainees: exit $status, expected 1"; tail -n 20 "$work/alone.err"; }
grep -q "LKA.DIE.smpu1 (trainee) is to send" "$work/alone.err" || fail "the trainee's inject is not announced"
jq -e '.complete and .summary.unobserved >= 1 and
       ([.expectations[] | select(.kind == "denied")][0].outcome == "unobserved") and
       ([.expectations[] | select(.inject == "visit-visa-alert" and .kind == "delivered")][0].outcome == "missed")' \
    "$work/smpu-alone/report.json" >/dev/null || fail "smpu without trainees: wrong outcomes"

# --- (c) the Lao route shift, stopped and resumed; live traffic on the same route meanwhile ------
start_run route deploy/exercises/lao-route-shift.yaml 60
admit route
wait_for 60 grep -q "inject 2 of 4" "$work/route.err" || fail "route: the run did not reach inject 2"
# A live route alert on the old route: the live LO gets it, the simulated LO on it does not.
cat >"$work/live-route.yaml" <<'YAML'
kind: case_alert
audience: route
route: LAO:VTE>THA:NKP>MYS
stage: at_border
purpose: investigation
sections:
  - {id: 1, tlp: green, categories: [operational], text: "Live alert on the Vientiane route."}
YAML
check "a live route alert during the exercise" 0 agent THA.RTP.fp1 send "$work/live-route.yaml" --yes
lacks "$work/out.txt" "MYS.RMP.sim3 (fingerprint" "the live alert is not offered to the simulated LO"
kill -TERM "$runner"
finish_run route 5
grep -q "continue with --resume" "$work/route.err" || fail "route: the stopped run does not say how to resume"
jq -e '.complete == false' "$work/route/progress.json" >/dev/null || fail "route: progress not saved as incomplete"
# While the run is stopped, a live message for the trainee it plays (THA.RTP.fp1, a real officer):
# the resumed run gets it on its connection as THA.RTP.fp1, and must leave it for the officer's
# own agent (it acknowledged it, so the officer never got it).
direct_draft "$work/live-for-trainee.yaml" THA.RTP.fp1 "Live alert for the Thai focal point."
check "a live message for the played trainee" 0 agent IDN.POLRI.fp1 send "$work/live-for-trainee.yaml" --yes
live_for_trainee=$(sed -n 's/^accepted: msg_id \([0-9a-f]*\).*/\1/p' "$work/out.txt" | tail -n 1)
[ -n "$live_for_trainee" ] || fail "the live message for the trainee printed no msg_id"
start_run route2 deploy/exercises/lao-route-shift.yaml "$speed" --resume
finish_run route2 2 # a different state dir: nothing to resume
[ -f "$work/route2/progress.json" ] && fail "route2: --resume without progress started a run"
"$agent" exercise run deploy/exercises/lao-route-shift.yaml --region "$work/region" --config "$trainer" \
    --speed "$speed" --state "$work/route" --play-trainees "$work/keys" --wait 60 --resume \
    >"$work/route.out" 2>"$work/route.err"
status=$?
[ "$status" -eq 0 ] || { fail "route: the resumed run exited $status"; tail -n 20 "$work/route.err"; }
grep -q "(resumed)" "$work/route.err" || fail "route: the run did not say it resumed"
check_report route deploy/exercises/lao-route-shift.yaml
# The live message was left for the officer: the run says so, the report counts it (not as a
# breach) without naming it, and the officer's own agent receives it now.
r=$work/route/report/report.json
contains "$work/route.err" "live traffic for THA.RTP.fp1 left for the officer's own agent" \
    "the run says it left the trainee's live traffic"
jq -e '[.events[] | select(.type == "traffic_left" and .participant == "THA.RTP.fp1" and (.exercise == null))] | length == 1' \
    "$r" >/dev/null || fail "route: the live message left for the trainee is not one traffic_left event"
jq -e '[.strengths[] | select(startswith("Live traffic for THA.RTP.fp1 (1 message(s))") and
        contains("was left for the officer'"'"'s own agent"))] | length == 1' \
    "$r" >/dev/null || fail "route: the report does not say the live traffic was left"
grep -q "$live_for_trainee" "$r" "$work/route/results.json" && fail "route: the live message's msg_id is in the exercise's results"
left=$(jq '.summary.traffic_left' "$r")
agent THA.RTP.fp1 listen --json --count "$left" --timeout 30 >"$work/officer.json" 2>"$work/officer.err" ||
    { fail "the officer's agent did not get the $left message(s) the run left"; cat "$work/officer.err"; }
jq -e -s --arg id "$live_for_trainee" 'any(.[]; .msg_id == $id)' "$work/officer.json" >/dev/null ||
    fail "the live message for the played trainee did not reach the officer's own agent"
check "the officer's inbox" 0 agent THA.RTP.fp1 inbox --json
contains "$work/out.txt" "$live_for_trainee" "the live message is in the officer's inbox"

# --- (d) the four-country taskforce ------------------------------------------------------------------
start_run taskforce deploy/exercises/mekong-taskforce.yaml "$speed"
admit taskforce
finish_run taskforce 0
check_report taskforce deploy/exercises/mekong-taskforce.yaml
jq -e '[.expectations[] | select(.principal == "NZL.INZ.sim4" and .kind == "not_delivered" and .outcome == "met")] | length == 4' \
    "$work/taskforce/report/report.json" >/dev/null || fail "taskforce: the non-member received something"

# --- expectations about a principal a message was not sealed for -----------------------------------
# The sender's PREPARE answer names every recipient: one outside it is decided at once (delivered:
# missed, not_delivered: met), not at the end of a window of 720 exercise hours (2.4 real hours at
# speed 300), which the run waited for.
cat >"$work/unsealed.yaml" <<'YAML'
fusion_scenario: 1
exercise: EX-2026-11
title: Expectations about a principal who is not a recipient
speed: 60
participants:
  - id: IDN.POLRI.fp1
  - id: THA.RTP.fp1
  - id: KHM.NCCT.sim1
    simulated: true
    roles: [focal_point, police]
injects:
  - id: alert-1
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
      - {delivered: IDN.POLRI.fp1, within: 10m}
      - {delivered: THA.RTP.fp1, within: 720h, designed_to_fail: true}
  - id: alert-2
    at: "+00:02"
    from: KHM.NCCT.sim1
    send:
      kind: case_alert
      audience: direct
      recipients: [IDN.POLRI.fp1]
      purpose: investigation
      sections:
        - {id: 1, tlp: amber, categories: [operational], text: "Another exercise alert."}
    expect:
      - {not_delivered: THA.RTP.fp1, within: 720h}
YAML
start_run unsealed "$work/unsealed.yaml" "$speed"
admit unsealed
finish_run unsealed 0
jq -e '[.expectations[] | select(.principal == "THA.RTP.fp1" and .source == "prepare" and
        ((.kind == "delivered" and .outcome == "missed_as_designed") or (.kind == "not_delivered" and .outcome == "met")))] | length == 2' \
    "$work/unsealed/report/report.json" >/dev/null ||
    fail "unsealed: the expectations about a principal outside the recipients were not decided from PREPARE: $(jq -c '[.expectations[] | {kind, principal, outcome, source, detail}]' "$work/unsealed/report/report.json")"

# --- (e) the route exercise again from another state directory ----------------------------------
# Its simulated participants are enrolled with the keys $work/route holds: a run with another state
# directory is refused, naming them, before it generates or enrols anything (it re-enrolled them
# with new keys, silently revoking those of a run stopped and waiting for --resume).
cp "$work/region/directory/MYS.RMP.sim3.cert" "$work/sim3.cert"
check "a run whose simulated ids another state directory holds" 2 "$agent" exercise run \
    deploy/exercises/lao-route-shift.yaml --region "$work/region" --config "$trainer" \
    --state "$work/other" --play-trainees "$work/keys" --wait 5
contains "$work/err.txt" "MYS.RMP.sim3, AUS.ABF.sim3 are enrolled in $work/region with keys that $work/other/keys does not hold" \
    "the refusal names every simulated id held elsewhere"
contains "$work/err.txt" "add --take-over" "the refusal says how to take them over"
cmp -s "$work/sim3.cert" "$work/region/directory/MYS.RMP.sim3.cert" ||
    fail "the certificate of the other state directory's keys was replaced"
[ -e "$work/other/keys/MYS.RMP.sim3.key" ] && fail "keys were generated for a refused run"
# With --take-over it enrols its own keys for them and says so. Stopped while it enrols them, as
# a terminal stops a job (the signal goes to its whole process group: here from a fusion-admin
# that signals the group before it enrols), the enrolments finish (they ran in the runner's group
# and died half-way, exit 4 'enroll failed'), and then, while it would wait for the broker to
# admit them, it saves its progress and says so (it exited 5 with neither, and --resume then
# found no progress); --resume continues from there, and the run completes.
cat >"$work/admin-stop" <<SH
#!/bin/sh
kill -TERM -\$PPID
exec "$bin/fusion-admin" "\$@"
SH
chmod +x "$work/admin-stop"
# setsid: the runner leads a process group of its own, apart from this script's.
FUSION_ADMIN="$work/admin-stop" setsid "$agent" exercise run deploy/exercises/lao-route-shift.yaml \
    --region "$work/region" --config "$trainer" --speed "$speed" --state "$work/other" \
    --play-trainees "$work/keys" --wait 60 --take-over >"$work/other.out" 2>"$work/other.err" &
runner=$!
finish_run other 5
lacks "$work/other.err" "enroll.*failed" "an enrolment was stopped by the signal meant for the runner"
contains "$work/other.err" "--take-over: MYS.RMP.sim3, AUS.ABF.sim3 are enrolled with the keys of $work/other/keys" \
    "the run says which ids it took over"
cmp -s "$work/sim3.cert" "$work/region/directory/MYS.RMP.sim3.cert" && fail "--take-over did not enrol new keys"
contains "$work/other.err" "stopped while waiting for the broker to admit the simulated participants; progress saved in $work/other/progress.json" \
    "a run stopped before admission says it saved its progress"
jq -e '.complete == false and .elapsed_ms == 0 and ([.injects[] | select(.status != "pending")] | length == 0)' \
    "$work/other/progress.json" >/dev/null || fail "other: no progress saved before admission"
start_run other deploy/exercises/lao-route-shift.yaml "$speed" --resume
admit other
finish_run other 0
grep -q "(resumed)" "$work/other.err" || fail "other: the run did not say it resumed"
check_report other deploy/exercises/lao-route-shift.yaml

# --- (f) an inject larger than the broker takes ----------------------------------------------------
# With the broker taking 8 KiB, the runner does not send an inject of 12000 bytes (the transport
# would drop it): its report labels it too_large, naming both sizes, as the agent and the broker
# say it (it said "unavailable", as if the broker had not answered). The next inject still goes.
long=$(head -c 12000 /dev/zero | tr '\0' x)
cat >"$work/too-large.yaml" <<YAML
fusion_scenario: 1
exercise: EX-2026-11
title: An inject larger than the broker takes
speed: 60
participants:
  - id: IDN.POLRI.fp1
  - id: THA.RTP.fp1
  - id: KHM.NCCT.sim1
    simulated: true
    roles: [focal_point, police]
injects:
  - id: too-large
    at: "+00:01"
    from: KHM.NCCT.sim1
    send:
      kind: case_alert
      audience: direct
      recipients: [IDN.POLRI.fp1]
      purpose: investigation
      sections:
        - {id: 1, tlp: amber, categories: [operational], text: "$long"}
    expect:
      - {delivered: IDN.POLRI.fp1, within: 10m, designed_to_fail: true}
  - id: fits
    at: "+00:02"
    from: KHM.NCCT.sim1
    send:
      kind: case_alert
      audience: direct
      recipients: [IDN.POLRI.fp1]
      purpose: investigation
      sections:
        - {id: 1, tlp: amber, categories: [operational], text: "An exercise alert that fits."}
    expect:
      - {delivered: IDN.POLRI.fp1, within: 10m}
YAML
# First the broker is not reloaded: when --wait runs out before it admits KHM.NCCT.sim1 (enrolled
# anew, --take-over), the run saves its progress and says so, as a run stopped by a signal there
# does, (e) above (it exited 5 with neither, and --resume found no progress); a restart, with the
# lower limit, loads the new certificate, and --resume continues from there.
start_run limit "$work/too-large.yaml" "$speed" --take-over --wait 2
finish_run limit 5
contains "$work/limit.err" "did not load the exercise's participants within 2 s" "limit: the run says it gave up"
contains "$work/limit.err" "gave up while waiting for the broker to admit the simulated participants; progress saved in $work/limit/progress.json (continue with --resume once the broker is reloaded)" \
    "a run that gave up before admission says it saved its progress"
jq -e '.complete == false and .elapsed_ms == 0 and ([.injects[] | select(.status != "pending")] | length == 0)' \
    "$work/limit/progress.json" >/dev/null || fail "limit: no progress saved when the wait for admission ran out"
broker_stop || fail "broker stop"
echo 'limits: {max_message_bytes: 8192}' >>"$work/broker.yaml"
broker_start || exit 1
start_run limit "$work/too-large.yaml" "$speed" --resume
admit limit
finish_run limit 0
grep -q "(resumed)" "$work/limit.err" || fail "limit: the run did not say it resumed"
r=$work/limit/report/report.json
jq -e '[.events[] | select(.type == "rejection" and .inject == "too-large" and .code == "too_large" and
        (.reason | test("the sealed message is a frame of [0-9]+ bytes, larger than the 8159 bytes the broker takes")))] | length == 1' \
    "$r" >/dev/null || fail "limit: the inject larger than the broker takes is not labelled too_large: $(jq -c '[.events[] | select(.type == "rejection")]' "$r")"
jq -e '[.injects[] | select(.id == "too-large" and .status == "rejected" and (.detail | startswith("too_large: ")))] | length == 1' \
    "$r" >/dev/null || fail "limit: the inject's status does not say too_large: $(jq -c '.injects' "$r")"
jq -e '[.injects[] | select(.id == "too-large" and (.detail | endswith("nothing was sent: shorten the inject'"'"'s sections in the scenario, or split them over several injects")))] | length == 1' \
    "$r" >/dev/null || fail "limit: the trainer is not told what to change in the scenario: $(jq -c '.injects' "$r")"
grep -q unavailable "$r" && fail "limit: the report still says unavailable"
# Its mark in the timeline says rejected, as its heading does; the next one's says sent.
contains "$work/limit/report/report.html" "inject (rejected: too_large: [^<]*): KHM.NCCT.sim1 (too-large)</title><path [^>]*fill='#ffffff'" \
    "limit: the timeline marks the inject too large rejected"
lacks "$work/limit/report/report.html" "inject (sent): KHM.NCCT.sim1 (too-large)" "limit: the timeline calls the rejected inject sent"
contains "$work/limit/report/report.html" "inject (sent): KHM.NCCT.sim1 (fits)</title><path [^>]*fill='#1f5fa8'" \
    "limit: the timeline marks the inject that fits sent"
jq -e '[.expectations[] | select(.inject == "fits" and .outcome == "met")] | length == 1' "$r" >/dev/null ||
    fail "limit: the inject after the one too large was not delivered"
node tests/lib/json-schema-check.js docs/exercise-report.schema.json "$r" >"$work/schema.out" 2>&1 ||
    { fail "limit: report.json does not validate"; cat "$work/schema.out"; }

# --- segregation: the live LO following '**' got the live alert and nothing of the exercises ----
agent MYS.RMP.live1 listen --json --count 5 --timeout 3 >"$work/live.json" 2>"$work/live.err"
[ "$(jq -s 'length' "$work/live.json")" = 1 ] ||
    { fail "the live LO should hold exactly the one live alert"; cat "$work/live.json"; }
jq -e -s 'all(.[]; (.exercise // "") == "")' "$work/live.json" >/dev/null ||
    fail "exercise traffic reached the live LO"
# EXERCISE_TEST_KEEP=DIR keeps the reports (to look at them).
if [ -n "${EXERCISE_TEST_KEEP:-}" ]; then
    for name in scam smpu route taskforce; do
        mkdir -p "$EXERCISE_TEST_KEEP/$name" && cp -r "$work/$name/report/." "$work/$name/results.json" "$EXERCISE_TEST_KEEP/$name/"
    done
fi
finish exercise_scenarios
