#!/bin/sh
# The referral workflow end to end, with the example policy signed with shortened urgent
# deadlines: a referral THA -> IDN under the Indonesia-Thailand agreement goes out, is delivered,
# acknowledged and accepted (the states show in `referrals` on both sides); an urgent one left
# unanswered escalates once, to its sender and the other focal points of IDN.POLRI and nobody
# else (a live notice is decided by the policy as any message: not to a focal point that is also
# `simulated` or a `trainer`, and the audit entry names them as denied), and not again after the broker is killed and restarted; the other focal point answers it with the
# command the notice gives (respond, from the notice in its inbox); respond to an unknown msg_id
# is a clear error and sends nothing.
# Usage: FUSION_BIN=build/bin sh tests/integration/referral_workflow.sh   (from the repository root)
set -u
command -v jq >/dev/null || { echo "FAIL: jq is needed"; exit 1; }
command -v sqlite3 >/dev/null || { echo "FAIL: sqlite3 is needed to read the audit trail"; exit 1; }
policy=$(mktemp "${TMPDIR:-/tmp}/fusion-referral-policy-XXXXXX.yaml") || exit 2
# Urgent referrals are due after 2 seconds; normal ones keep the example's 72 hours.
sed 's/^  urgent: 8h$/  urgent: 2s/' deploy/policy/bali-process.yaml >"$policy"
grep -q '^  urgent: 2s$' "$policy" || { echo "FAIL: could not shorten the urgent deadline"; exit 1; }
POLICY=$policy
. "$(dirname "$0")/../lib/broker.sh"
trap 'broker_kill; rm -rf "$work" "$policy"' EXIT

# run CODE NAME ID COMMAND ARGS...: fusion-agent as ID, output in $work/out and $work/err.
run() {
    want=$1 name=$2
    shift 2
    agent "$@" >"$work/out" 2>"$work/err"
    got=$?
    if grep -q -e 'Sanitizer' -e 'runtime error' "$work/err"; then
        fail "$name: sanitizer report"
        sed 's/^/    stderr: /' "$work/err"
    elif [ "$got" -ne "$want" ]; then
        fail "$name: exit $got, expected $want"
        sed 's/^/    stdout: /' "$work/out"
        sed 's/^/    stderr: /' "$work/err"
    fi
}

msg_id() { sed -n 's/^accepted: msg_id \([0-9a-f]*\).*/\1/p' "$1" | tail -n 1; }

# receive ID COUNT FILE: listens as ID until COUNT new messages arrived (JSON lines in FILE).
receive() {
    agent "$1" listen --json --count "$2" --timeout 20 >"$3" 2>"$work/listen.err" ||
        { fail "$1 did not receive $2 message(s)"; sed 's/^/    /' "$work/listen.err"; }
    grep -q -e 'Sanitizer' -e 'runtime error' "$work/listen.err" && fail "$1 listen: sanitizer report"
    return 0
}

nothing_for() { # ID NAME
    agent "$1" listen --json --count 1 --timeout 3 >"$work/none.json" 2>"$work/none.err"
    [ -s "$work/none.json" ] && { fail "$2: $1 received something"; cat "$work/none.json"; }
    grep -q "no connection" "$work/none.err" && fail "$2: $1 could not connect"
    return 0
}

# state ID MSGID AGENCY: the referral's state as ID's `referrals --json` shows it.
state() {
    agent "$1" referrals --json --all 2>/dev/null |
        jq -r --arg id "$2" --arg a "$3" '.[] | select(.msg_id == $id and .agency == $a) | .state'
}

state_is() { [ "$(state "$1" "$2" "$3")" = "$4" ]; } # ID MSGID AGENCY STATE

escalated() { # ID MSGID: true when ID's view of the referral says escalated
    [ "$(agent "$1" referrals --json --all 2>/dev/null |
        jq -r --arg id "$2" '.[] | select(.msg_id == $id) | .escalated')" = true ]
}

audit_count() { # EVENT MSGID: audit entries of that event for that msg_id
    sqlite3 -readonly "$work/state/broker.db" \
        "SELECT count(*) FROM audit WHERE event = '$1' AND lower(hex(msg_id)) = '$2'"
}

BROKER_EXTRA="metrics: 127.0.0.1:0" # the escalation counter of GET /metrics is checked too
region_setup THA.RTP.fp1:focal_point,police THA.RTP.fp2:focal_point,police \
    IDN.POLRI.fp1:focal_point,police IDN.POLRI.fp2:focal_point,police \
    IDN.POLRI.off1:police THA.RTP.off1:police MYS.RMP.fp1:focal_point,police \
    IDN.POLRI.sim1:focal_point,police,simulated IDN.POLRI.tr1:focal_point,police,trainer ||
    { echo "FAIL: region setup"; exit 1; }
broker_start || exit 1
drafts=$work/drafts
mkdir -p "$drafts"

# --- a referral under the Indonesia-Thailand agreement: delivered, acknowledged, accepted -----
sed 's/"recipients": \["IDN.POLRI"\]/"recipients": ["IDN.POLRI.fp1"]/' tests/data/drafts/referral.json \
    >"$drafts/referral.json"
run 0 "send the referral" THA.RTP.fp1 send "$drafts/referral.json" --yes
first=$(msg_id "$work/out")
[ -n "$first" ] || fail "send printed no msg_id"
[ "$(state THA.RTP.fp1 "$first" IDN.POLRI)" = sent ] || fail "the sender does not see it sent"
receive IDN.POLRI.fp1 1 "$work/first.json"
[ "$(jq -r .msg_id "$work/first.json")" = "$first" ] || fail "IDN got another message"
# The header's consent (the referral records the victim's) is shown to the recipient.
[ "$(jq -r .consent "$work/first.json")" = true ] || fail "listen --json does not give the header's consent"
run 0 "show the referral" IDN.POLRI.fp1 show "$first"
contains "$work/out" "purpose victim_protection, subject victim, consent recorded" "show says the consent is recorded"
# The listener acknowledged after committing; the broker marks the referral delivered then.
wait_for 10 state_is IDN.POLRI.fp1 "$first" IDN.POLRI delivered ||
    fail "a referral the recipient committed is not 'delivered': $(state IDN.POLRI.fp1 "$first" IDN.POLRI)"
# Unanswered, its acknowledgement is due: both sides see the time left.
run 0 "the sender lists its referrals as text" THA.RTP.fp1 referrals
contains "$work/out" "$first  sent" "the text list shows the referral as sent by THA"
contains "$work/out" "delivered" "the text list shows the state"
contains "$work/out" " left" "the text list shows the time left"
run 0 "the recipient lists them" IDN.POLRI.fp1 referrals --json
jq -e --arg id "$first" '.[] | select(.msg_id == $id) | .direction == "received" and .seconds_left > 0' \
    "$work/out" >/dev/null || fail "IDN's JSON list: $(cat "$work/out")"

run 0 "acknowledge" IDN.POLRI.fp1 respond "$first" acknowledge
contains "$work/out" "accepted: msg_id" "the acknowledgement is accepted by the broker"
[ "$(state THA.RTP.fp1 "$first" IDN.POLRI)" = acknowledged ] || fail "THA does not see it acknowledged"
[ "$(state IDN.POLRI.fp1 "$first" IDN.POLRI)" = acknowledged ] || fail "IDN does not see it acknowledged"
run 0 "accept" IDN.POLRI.fp1 respond "$first" accept --reason "A shelter place is reserved in Jakarta."
[ "$(state THA.RTP.fp1 "$first" IDN.POLRI)" = accepted ] || fail "THA does not see it accepted"
[ "$(state IDN.POLRI.fp2 "$first" IDN.POLRI)" = accepted ] ||
    fail "another focal point of IDN.POLRI does not see the referral to its agency accepted"
# Answered, nothing can escalate: no time left, the deadline kept.
run 0 "the sender lists its answered referral" THA.RTP.fp1 referrals
grep "^$first " "$work/out" >"$work/accepted.txt" || fail "the answered referral is not listed: $(cat "$work/out")"
contains "$work/accepted.txt" " accepted .* -$" "an accepted referral shows '-' for its time"
lacks "$work/accepted.txt" " left" "an accepted referral shows no time left"
run 0 "the recipient lists them" IDN.POLRI.fp1 referrals --json
jq -e --arg id "$first" '.[] | select(.msg_id == $id) | .state == "accepted" and .seconds_left == null
    and (.deadline | type) == "string"' "$work/out" >/dev/null || fail "IDN's JSON list: $(cat "$work/out")"
receive THA.RTP.fp1 2 "$work/responses.json"
[ "$(jq -r .kind "$work/responses.json" | sort -u)" = referral_response ] || fail "THA got other than responses"
[ "$(jq -r '.sections[0].referral_response.status' "$work/responses.json" | tr '\n' ' ')" = "acknowledged accepted " ] ||
    fail "the responses' content: $(cat "$work/responses.json")"
[ "$(jq -r .in_reply_to "$work/responses.json" | sort -u)" = "$first" ] || fail "responses are not in reply to the referral"
[ "$(audit_count referral_state "$first")" -eq 3 ] || fail "delivered, acknowledged, accepted are not 3 audit entries"
# Each names the referral with its header digest, as its accepted entry does (DESIGN.md).
[ "$(sqlite3 -readonly "$work/state/broker.db" "SELECT count(DISTINCT hex(header_digest)) || ' ' ||
    count(header_digest) || ' ' || count(*) FROM audit
    WHERE event IN ('accepted', 'referral_state', 'received')
    AND lower(hex(msg_id)) = '$first'")" = "1 5 5" ] ||
    fail "the referral's entries do not all carry its header digest"

# --- a response goes to the agency that sent the referral only: elsewhere it is refused -------
# (It would close the referral, and stop its escalation, without THA ever getting an answer.)
forge() { # AS TO STATUS: a referral_response to the first referral, from AS to TO only
    "$FUSION_TOOLS/forge_workflow" --endpoint "$endpoint" --key "$work/keys/$1.key" \
        --to "$work/keys/$2.key" --broker-cert "$work/region/directory/RSO.FUSION.broker.cert" \
        --authority "$work/region/authority.pub" --in-reply-to "$first" --status "$3" \
        referral_response >"$work/forged" 2>&1
}
states=$(audit_count referral_state "$first")
forge IDN.POLRI.off1 IDN.POLRI.fp2 5
grep -q "^REJECTED forbidden: a referral_response to referral $first goes only to the agency that sent it, THA.RTP (its sender THA.RTP.fp1, or when the sender cannot receive it, others of THA.RTP), not to IDN.POLRI.fp2$" \
    "$work/forged" || fail "a close addressed to a colleague is not refused: $(cat "$work/forged")"
forge IDN.POLRI.fp2 IDN.POLRI.fp2 2
grep -q "^REJECTED forbidden: .* goes only to the agency that sent it, THA.RTP .*, not to IDN.POLRI.fp2$" "$work/forged" ||
    fail "a response addressed to its own sender is not refused: $(cat "$work/forged")"
# With the agent, to the sender and another agency: the response is refused as a whole, nothing sent.
cat >"$drafts/close-cc.yaml" <<YAML
kind: referral_response
audience: direct
recipients: [THA.RTP.fp1, MYS.RMP.fp1]
in_reply_to: $first
purpose: victim_protection
sections:
  - id: 1
    tlp: amber
    categories: operational
    content:
      referral_response: {status: closed, outcome: Closed with a copy to a colleague.}
YAML
run 3 "a response to the sender and another agency" IDN.POLRI.fp2 send "$drafts/close-cc.yaml" --yes
contains "$work/err" "goes only to the agency that sent it, THA.RTP (its sender THA.RTP.fp1, or when the sender cannot receive it, others of THA.RTP), not to MYS.RMP.fp1" "the refusal names whom a response goes to"
[ "$(state THA.RTP.fp1 "$first" IDN.POLRI)" = accepted ] || fail "a refused response changed the referral's state"
[ "$(audit_count referral_state "$first")" = "$states" ] || fail "a refused response was recorded as a state change"
[ "$(sqlite3 -readonly "$work/state/broker.db" \
    "SELECT count(*) FROM messages WHERE lower(hex(in_reply_to)) = '$first'")" = 2 ] ||
    fail "a refused response was stored"
nothing_for MYS.RMP.fp1 "the refused response's other recipient"

# A sender who is no focal point cannot receive a response under the example policy (only focal
# points may): the sending agency's focal point can, and the referral is answered.
sed 's/"recipients": \["IDN.POLRI"\]/"recipients": ["IDN.POLRI.fp1"]/' tests/data/drafts/referral.json \
    >"$drafts/referral-off.json"
run 0 "an officer who is no focal point sends a referral" THA.RTP.off1 send "$drafts/referral-off.json" --yes
off=$(msg_id "$work/out")
receive IDN.POLRI.fp1 1 "$work/referral-off.json"
run 3 "respond to it: its sender may not receive a response" IDN.POLRI.fp1 respond "$off" accept --reason ok
contains "$work/err" "answer a focal point of its agency with a draft file" "respond says how to answer the agency"
cat >"$drafts/answer-agency.yaml" <<YAML
kind: referral_response
audience: direct
recipients: [THA.RTP.fp1]
in_reply_to: $off
purpose: victim_protection
sections:
  - id: 1
    tlp: amber
    categories: operational
    content:
      referral_response: {status: accepted, reason: Answered to the sending agency's focal point.}
YAML
run 0 "the response to the sending agency's focal point" IDN.POLRI.fp1 send "$drafts/answer-agency.yaml" --yes
[ "$(state THA.RTP.off1 "$off" IDN.POLRI)" = accepted ] ||
    fail "the response to the sending agency did not answer the referral: $(state THA.RTP.off1 "$off" IDN.POLRI)"
receive THA.RTP.fp1 1 "$work/answer-agency.json"
jq -e --arg id "$off" '.kind == "referral_response" and .in_reply_to == $id' "$work/answer-agency.json" \
    >/dev/null || fail "the sending agency's focal point got: $(cat "$work/answer-agency.json")"

# --- a response from a draft file (send) moves the state too; nothing follows 'closed' --------
cat >"$drafts/close.yaml" <<YAML
kind: referral_response
audience: direct
recipients: [THA.RTP.fp1]
in_reply_to: $first
purpose: victim_protection
sections:
  - id: 1
    tlp: amber
    categories: operational
    content:
      referral_response: {status: closed, outcome: The victim was certified and returned home.}
YAML
run 0 "another focal point of the agency closes it with send" IDN.POLRI.fp2 send "$drafts/close.yaml" --yes
[ "$(state THA.RTP.fp1 "$first" IDN.POLRI)" = closed ] || fail "THA does not see it closed"
run 3 "an answer after close is refused by the broker" IDN.POLRI.fp1 respond "$first" accept
contains "$work/err" "is closed already" "the refusal says the referral is closed"
run 0 "the open list leaves closed referrals out" THA.RTP.fp1 referrals --json
[ "$(jq --arg id "$first" '[.[] | select(.msg_id == $id)] | length' "$work/out")" -eq 0 ] ||
    fail "a closed referral is listed as open: $(cat "$work/out")"
# A closed referral is answered for good: --all lists it without time left.
run 0 "--all lists the closed referral" THA.RTP.fp1 referrals --all
grep "^$first " "$work/out" >"$work/closed.txt" || fail "--all does not list the closed referral: $(cat "$work/out")"
contains "$work/closed.txt" " closed .* -$" "the closed referral shows '-' for its time"
lacks "$work/closed.txt" " left" "a closed referral shows no time left"
lacks "$work/closed.txt" "overdue" "a closed referral is not overdue"
run 0 "--all --json" THA.RTP.fp1 referrals --all --json
jq -e --arg id "$first" '.[] | select(.msg_id == $id) | .state == "closed" and .seconds_left == null
    and (.deadline | type) == "string"' "$work/out" >/dev/null ||
    fail "--all --json: a closed referral has seconds_left null and keeps its deadline: $(cat "$work/out")"
run 0 "as MYS, no referral concerns me" MYS.RMP.fp1 referrals
contains "$work/out" "no open referrals" "an agency without referrals sees none"
receive THA.RTP.fp1 1 "$work/closed.json"
[ "$(jq -r .response_status "$work/closed.json")" = closed ] || fail "the closing response's header status"

# --- bad input: nothing is sent ---------------------------------------------------------------
outbox() { sqlite3 -readonly "$work/state/agent-IDN.POLRI.fp1/mailbox.db" "SELECT count(*) FROM outbox"; }
broker_events() { # anything but deliveries: a refused command must not even connect
    sqlite3 -readonly "$work/state/broker.db" \
        "SELECT count(*) FROM audit WHERE event NOT IN ('delivered', 'received')"
}
before=$(outbox) events=$(broker_events)
run 2 "respond to a msg_id that is not in the inbox" IDN.POLRI.fp1 respond 00112233445566778899aabbccddeeff accept
contains "$work/err" "no message 00112233445566778899aabbccddeeff in the inbox" "the error names the msg_id"
run 2 "respond with a malformed msg_id" IDN.POLRI.fp1 respond 0011 accept
contains "$work/err" "is not a msg_id" "a malformed msg_id is named"
run 2 "respond with an unknown answer" IDN.POLRI.fp1 respond "$first" maybe
contains "$work/err" "unknown answer 'maybe' (expected one of: acknowledge" "the unknown answer is named"
run 2 "decline without a reason" IDN.POLRI.fp1 respond "$first" decline
contains "$work/err" "needs --reason" "decline asks for a reason"
run 2 "acknowledge with an outcome" IDN.POLRI.fp1 respond "$first" acknowledge --outcome foo
contains "$work/err" "--outcome is only for close" "an option that does not apply is refused"
run 2 "accept with an outcome" IDN.POLRI.fp1 respond "$first" accept --reason ok --outcome foo
contains "$work/err" "--outcome is only for close" "accept takes no --outcome"
[ "$(outbox)" = "$before" ] || fail "a refused respond left something in the outbox"
[ "$(broker_events)" = "$events" ] || fail "a refused respond reached the broker"

# --- an urgent referral left unanswered escalates once ---------------------------------------
sed -e 's/"urgency": "normal"/"urgency": "urgent"/' "$drafts/referral.json" >"$drafts/urgent.json"
run 0 "send an urgent referral" THA.RTP.fp1 send "$drafts/urgent.json" --yes
second=$(msg_id "$work/out")
wait_for 20 escalated THA.RTP.fp1 "$second" || fail "the urgent referral was not escalated"
[ "$(state THA.RTP.fp1 "$second" IDN.POLRI)" = sent ] || fail "escalation changed the state"
receive THA.RTP.fp1 1 "$work/notice-tha.json"
jq -e --arg id "$second" '.kind == "notice" and .sender == "RSO.FUSION.broker" and .in_reply_to == $id' \
    "$work/notice-tha.json" >/dev/null || fail "the sender's escalation notice: $(cat "$work/notice-tha.json")"
jq -r '.sections[0].notice.text' "$work/notice-tha.json" | grep -q "not acknowledged by its deadline" ||
    fail "the notice does not say why"
receive IDN.POLRI.fp2 1 "$work/notice-fp2.json"
jq -e --arg id "$second" '.kind == "notice" and .in_reply_to == $id' "$work/notice-fp2.json" >/dev/null ||
    fail "the other focal point's notice: $(cat "$work/notice-fp2.json")"
receive IDN.POLRI.fp1 1 "$work/second.json"
[ "$(jq -r .msg_id "$work/second.json")" = "$second" ] || fail "IDN.POLRI.fp1 got more than the referral"
nothing_for IDN.POLRI.fp1 "the referral's own recipient gets no notice"
nothing_for IDN.POLRI.off1 "a police officer who is not a focal point"
nothing_for THA.RTP.fp2 "another focal point of the sender's agency"
nothing_for MYS.RMP.fp1 "a focal point of another agency"
# Live traffic never reaches a simulated principal (policy check 1), nor a trainer under the
# example policy's trainers-exercise-traffic-only: the live notice is not theirs.
nothing_for IDN.POLRI.sim1 "a simulated focal point (live notice)"
nothing_for IDN.POLRI.tr1 "a trainer focal point (live notice)"
[ "$(audit_count escalated "$second")" -eq 1 ] || fail "not exactly one escalation in the audit trail"
sqlite3 -readonly "$work/state/broker.db" \
    "SELECT details FROM audit WHERE event = 'escalated' AND lower(hex(msg_id)) = '$second'" >"$work/esc.json"
[ "$(jq -c '.notified | sort' "$work/esc.json")" = '["IDN.POLRI.fp2","THA.RTP.fp1"]' ] ||
    fail "the escalation names the wrong people: $(cat "$work/esc.json")"
[ "$(jq -c '[.denied[] | [.recipient, .code, .rule]] | sort' "$work/esc.json")" = \
    '[["IDN.POLRI.sim1","exercise_segregation",null],["IDN.POLRI.tr1","forbidden","trainers-exercise-traffic-only"]]' ] ||
    fail "the escalation does not record whom the policy denied the notice: $(cat "$work/esc.json")"
[ "$(audit_count escalated "$first")" -eq 0 ] || fail "the acknowledged referral was escalated"

# --- the notice can be acted on: the command it gives works for the focal point it reached ----
# IDN.POLRI.fp2 never received the referral, only the notice (its inbox holds it, committed by
# listen); the notice's own command answers the referral to its sender.
cmd=$(jq -r '.sections[0].notice.text' "$work/notice-fp2.json" |
    sed -n "s/.*'fusion-agent \(respond [0-9a-f]* acknowledge\)'.*/\1/p")
[ "$cmd" = "respond $second acknowledge" ] || fail "the notice gives no respond command: $cmd"
states=$(audit_count referral_state "$second")
# shellcheck disable=SC2086 # the command as the notice words it
run 0 "the notified focal point runs the notice's command" IDN.POLRI.fp2 $cmd
contains "$work/out" "answered referral $second from THA.RTP.fp1: acknowledged" "respond from the notice answers the referral's sender"
[ "$(state THA.RTP.fp1 "$second" IDN.POLRI)" = acknowledged ] ||
    fail "the response from the notice did not acknowledge the referral: $(state THA.RTP.fp1 "$second" IDN.POLRI)"
[ "$(audit_count referral_state "$second")" -eq $((states + 1)) ] || fail "the acknowledgement is not audited"
receive THA.RTP.fp1 1 "$work/notice-answer.json"
jq -e --arg id "$second" '.kind == "referral_response" and .sender == "IDN.POLRI.fp2" and
    .in_reply_to == $id and .response_status == "acknowledged"' "$work/notice-answer.json" >/dev/null ||
    fail "the referral's sender got: $(cat "$work/notice-answer.json")"
# respond given the notice's own msg_id points to the referral it is about.
notice_id=$(jq -r .msg_id "$work/notice-fp2.json")
run 2 "respond to the notice itself" IDN.POLRI.fp2 respond "$notice_id" acknowledge
contains "$work/err" "message $notice_id is of kind notice, not referral (it is about message $second: give that msg_id); nothing was sent" \
    "respond to the notice names the referral it is about"
# The sender holds the notice too, but the referral is not its to answer: nothing is sent.
run 2 "the sender runs the notice's command" THA.RTP.fp1 respond "$second" accept
contains "$work/err" "you sent referral $second: a focal point of IDN.POLRI answers it; nothing was sent" "the sender is told it is not its to answer"
[ "$(state THA.RTP.fp1 "$second" IDN.POLRI)" = acknowledged ] || fail "the sender's respond changed the state"
[ "$("$admin" status --config "$work/broker.yaml" --json | jq .referral_escalations)" = 1 ] ||
    fail "the metrics do not count the escalation"

# --- not again after a restart (after kill -9: the escalation was committed with its notice) ---
broker_kill
broker_start || exit 1
run 0 "send another urgent referral after the restart" THA.RTP.fp1 send "$drafts/urgent.json" --yes
third=$(msg_id "$work/out")
# Its escalation proves the broker's timer ran after the restart, past the second's deadline.
wait_for 20 escalated THA.RTP.fp1 "$third" || fail "the referral sent after the restart was not escalated"
[ "$(audit_count escalated "$second")" -eq 1 ] || fail "the referral escalated again after the restart"
receive THA.RTP.fp1 1 "$work/notice-third.json"
[ "$(jq -r .in_reply_to "$work/notice-third.json")" = "$third" ] ||
    fail "THA got another notice than the new one: $(cat "$work/notice-third.json")"
nothing_for THA.RTP.fp1 "no second notice for the escalated referral"

grep -q -e 'Sanitizer' -e 'runtime error' "$work/broker.log" && fail "sanitizer report in the broker log"
[ "$failures" -gt 0 ] && tail -n 30 "$work/broker.log"
finish referral_workflow
