#!/bin/sh
# Feedback and onward sharing with the example policy: alert_feedback goes back to the alert's
# originator; a forward of a TLP:RED message is refused with the reason; after a reshare request
# and the originator's grant it goes through, to the granted recipient only, and the request, the
# grant and the forward are in the broker's audit trail; a message without restrictions is
# forwarded at once; forward and feedback of an unknown msg_id are clear errors and send nothing;
# a request or grant for someone not in the directory, the requester or the originator, and a
# second grant of one request, are refused by the agent and the broker; a feedback, request,
# grant or forward about a held message one was not addressed to is refused exactly as one about
# a random msg_id.
# Usage: FUSION_BIN=build/bin sh tests/integration/referral_reshare.sh   (from the repository root)
set -u
command -v jq >/dev/null || { echo "FAIL: jq is needed"; exit 1; }
command -v sqlite3 >/dev/null || { echo "FAIL: sqlite3 is needed to read the audit trail"; exit 1; }
. "$(dirname "$0")/../lib/broker.sh"

run() { # CODE NAME ID COMMAND ARGS...: output in $work/out and $work/err
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

receive() { # ID COUNT FILE
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

audit() { # SQL WHERE clause on the audit table: the matching entries' details, one per line
    sqlite3 -readonly "$work/state/broker.db" "SELECT details FROM audit WHERE $1 ORDER BY seq"
}

outbox() { sqlite3 -readonly "$work/state/agent-$1/mailbox.db" "SELECT count(*) FROM outbox"; }
# What the broker records of anything but deliveries: a refused command must not even connect.
broker_events() {
    sqlite3 -readonly "$work/state/broker.db" \
        "SELECT count(*) FROM audit WHERE event NOT IN ('delivered', 'received')"
}

# forge AS TO KIND OPTIONS...: a message the agent would never send, straight to the broker,
# whose answer ("ACCEPTED ..." or "REJECTED code: reason") goes to $work/forged.
forge() {
    local as=$1 to=$2
    shift 2
    "$FUSION_TOOLS/forge_workflow" --endpoint "$endpoint" --key "$work/keys/$as.key" \
        --to "$work/keys/$to.key" --broker-cert "$work/region/directory/RSO.FUSION.broker.cert" \
        --authority "$work/region/authority.pub" "$@" >"$work/forged" 2>&1
}
forged() { # NAME TEXT: the forged message was rejected with TEXT in the answer
    grep -q "^REJECTED" "$work/forged" && grep -q -- "$2" "$work/forged" ||
        fail "$1: the broker did not refuse it with '$2': $(cat "$work/forged")"
}

region_setup THA.RTP.fp1:focal_point,police IDN.POLRI.fp1:focal_point,police \
    MYS.RMP.fp1:focal_point,police MYS.RMP.fp2:focal_point,police \
    IDN.IMI.lo2:liaison_officer,immigration \
    || { echo "FAIL: region setup"; exit 1; }
broker_start || exit 1
drafts=$work/drafts
mkdir -p "$drafts"

# --- feedback on an alert goes to its originator ----------------------------------------------
cat >"$drafts/alert.yaml" <<'YAML'
kind: case_alert
audience: direct
recipients: [IDN.POLRI.fp1]
purpose: investigation
case_ref: RTP-2026-0200
sections:
  - {id: 1, tlp: amber, categories: operational, text: "Watch for a minivan with Thai plates at the ferry."}
YAML
run 0 "send an alert" THA.RTP.fp1 send "$drafts/alert.yaml" --yes
alert=$(msg_id "$work/out")
receive IDN.POLRI.fp1 1 "$work/alert.json"
run 0 "feedback on the alert" IDN.POLRI.fp1 feedback "$alert" \
    --observation "The minivan was seen boarding the 06:00 ferry." --location "Port of Dumai"
feedback=$(msg_id "$work/out")
receive THA.RTP.fp1 1 "$work/feedback.json"
jq -e --arg a "$alert" '.kind == "alert_feedback" and .in_reply_to == $a and .sender == "IDN.POLRI.fp1"
    and .sections[0].alert_feedback.location == "Port of Dumai"' "$work/feedback.json" >/dev/null ||
    fail "the originator's feedback: $(cat "$work/feedback.json")"
[ "$(audit "event = 'alert_feedback' AND lower(hex(msg_id)) = '$feedback'" | jq -r .in_reply_to)" = "$alert" ] ||
    fail "the feedback is not in the audit trail with the alert it answers"
before=$(outbox IDN.POLRI.fp1) events=$(broker_events)
run 2 "feedback on an unknown msg_id" IDN.POLRI.fp1 feedback ffeeddccbbaa99887766554433221100 --observation seen
contains "$work/err" "no message ffeeddccbbaa99887766554433221100 in the inbox" "the error names the msg_id"
run 2 "feedback observed in the future" IDN.POLRI.fp1 feedback "$alert" --observation seen \
    --observed-at 2099-01-01
contains "$work/err" "--observed-at '2099-01-01' is in the future (more than 5 minutes ahead" \
    "a future observation is refused"
run 2 "feedback observed an hour from now" IDN.POLRI.fp1 feedback "$alert" --observation seen \
    --observed-at "$(jq -nr 'now + 3600 | strftime("%Y-%m-%dT%H:%M:%SZ")')"
contains "$work/err" "is in the future" "an observation an hour ahead is refused"
run 2 "feedback on something that is not an alert" THA.RTP.fp1 feedback "$feedback" --observation seen
contains "$work/err" "is of kind alert_feedback, not case_alert" "feedback says what the message is"
run 2 "a response to something that is not a referral" IDN.POLRI.fp1 respond "$alert" acknowledge
contains "$work/err" "is of kind case_alert, not referral" "respond says what the message is"
[ "$(outbox IDN.POLRI.fp1)" = "$before" ] || fail "a refused feedback left something in the outbox"
[ "$(broker_events)" = "$events" ] || fail "a refused feedback reached the broker"

# --- an unrestricted message is forwarded at once, linked to its original ---------------------
run 0 "forward the amber alert" IDN.POLRI.fp1 forward "$alert" --to MYS.RMP.fp1
forward_plain=$(msg_id "$work/out")
receive MYS.RMP.fp1 1 "$work/plain.json"
[ "$(jq -r .consent "$work/plain.json")" = false ] || fail "listen --json: a message without consent"
[ "$(jq -r '.sections[0].text' "$work/plain.json")" = "Watch for a minivan with Thai plates at the ferry." ] ||
    fail "the forwarded content: $(cat "$work/plain.json")"
[ "$(jq -r .sender "$work/plain.json")" = IDN.POLRI.fp1 ] || fail "the forward is not signed by its sender"
[ "$(jq -r .forwarded_from "$work/plain.json")" = "$alert" ] || fail "the recipient is not shown the original"
[ "$(audit "event = 'forwarded' AND lower(hex(msg_id)) = '$forward_plain'" | jq -r .forwarded_from)" = "$alert" ] ||
    fail "the forward is not audited with its original"
# A grant the forward names is checked although the original needs none: recipients are told
# it is the originator's consent. Refused as for a restricted original; nothing stored.
run 3 "a forward naming a made-up grant" IDN.POLRI.fp1 forward "$alert" --to MYS.RMP.fp1 \
    --grant 11111111111111111111111111111111
contains "$work/err" "forbidden.*message 11111111111111111111111111111111 is not held by the broker for IDN.POLRI.fp1" \
    "a made-up grant is refused"
run 3 "a forward naming its original as the grant" IDN.POLRI.fp1 forward "$alert" --to MYS.RMP.fp1 \
    --grant "$alert"
contains "$work/err" "forbidden.*message $alert is not a reshare_grant of THA.RTP.fp1" \
    "a message that is not a grant is refused"
[ -z "$(audit "event = 'forwarded' AND details LIKE '%reshare_grant%'")" ] ||
    fail "a forward with a made-up grant was stored: $(audit "event = 'forwarded'")"
nothing_for MYS.RMP.fp1 "forwards naming a made-up grant"

# --- TLP:RED: refused, then requested, granted, forwarded --------------------------------------
cat >"$drafts/red.yaml" <<'YAML'
kind: case_alert
audience: direct
recipients: [IDN.POLRI.fp1]
purpose: investigation
sections:
  - {id: 1, tlp: green, categories: operational, text: "A recruiter is active in Medan."}
  - {id: 2, tlp: red, categories: operational, text: "Our source inside the network says the next group leaves on Friday."}
YAML
run 0 "send a TLP:RED alert" THA.RTP.fp1 send "$drafts/red.yaml" --yes
red=$(msg_id "$work/out")
receive IDN.POLRI.fp1 1 "$work/red.json"
before=$(outbox IDN.POLRI.fp1) events=$(broker_events)
run 3 "forward of a TLP:RED message" IDN.POLRI.fp1 forward "$red" --to MYS.RMP.fp1
contains "$work/err" "section 2 is TLP:RED" "the refusal gives the reason"
contains "$work/err" "reshare-request" "the refusal says how to ask the originator"
[ "$(outbox IDN.POLRI.fp1)" = "$before" ] || fail "the refused forward left something in the outbox"
run 2 "forward of an unknown msg_id" IDN.POLRI.fp1 forward 0123456789abcdef0123456789abcdef --to MYS.RMP.fp1
contains "$work/err" "no message 0123456789abcdef0123456789abcdef in the inbox" "forward names the msg_id"
[ "$(outbox IDN.POLRI.fp1)" = "$before" ] || fail "the forward of an unknown message left something in the outbox"
[ "$(broker_events)" = "$events" ] || fail "a refused forward reached the broker"

# The broker checks the same links itself: a client that skips the agent's checks gets nowhere.
forge IDN.POLRI.fp1 MYS.RMP.fp1 --forwarded-from "$red" --tlp red case_alert
forged "a forward of TLP:RED without a grant" "forbidden: message $red may not be passed on"
forge IDN.POLRI.fp1 MYS.RMP.fp1 --forwarded-from "$red" --tlp green case_alert
forged "a forward that lowers the TLP" "keeps the TLP and categories"
forge IDN.POLRI.fp1 MYS.RMP.fp1 --in-reply-to "$alert" alert_feedback
forged "feedback to someone else than the originator" "goes only to the originator"
forge MYS.RMP.fp1 THA.RTP.fp1 --in-reply-to "$alert" alert_feedback
forged "feedback on an alert one did not receive" \
    "forbidden: message $alert is not held by the broker for MYS.RMP.fp1 (unknown, expired, or not addressed to it)"
forge IDN.POLRI.fp1 THA.RTP.fp1 --in-reply-to "$alert" --status 2 referral_response
forged "a response to something that is not a referral to one's agency" "is not a referral sent to your agency"
nothing_for MYS.RMP.fp1 "refused forwards"

# A request names who would receive the information: principals or agencies of the directory,
# not the requester or the originator, who hold it already. The agent sends nothing otherwise.
before=$(outbox IDN.POLRI.fp1)
run 2 "a request for a principal not in the directory" IDN.POLRI.fp1 reshare-request "$red" --to XXX.NOPE.fp1
contains "$work/err" "reshare-request: reshare_to names XXX.NOPE.fp1, which is not a principal or agency of the directory (or its certificate is revoked or expired); nothing was sent" \
    "an unknown recipient is refused"
run 2 "a request for an agency not in the directory" IDN.POLRI.fp1 reshare-request "$red" --to MYS.RMP,XXX.NOPE
contains "$work/err" "reshare_to names XXX.NOPE, which is not a principal or agency" "an unknown agency is refused"
run 2 "a request for the requester itself" IDN.POLRI.fp1 reshare-request "$red" --to IDN.POLRI.fp1
contains "$work/err" "reshare_to names IDN.POLRI.fp1, the requester itself, which holds message $red already" \
    "the requester is refused"
run 2 "a request for the originator" IDN.POLRI.fp1 reshare-request "$red" --to MYS.RMP.fp1,THA.RTP.fp1
contains "$work/err" "reshare_to names THA.RTP.fp1, the originator of message $red, who holds it already" \
    "the originator is refused"
[ "$(outbox IDN.POLRI.fp1)" = "$before" ] || fail "a refused reshare-request left something in the outbox"
# The broker refuses the same sentences to a client that skips the agent's checks.
forge IDN.POLRI.fp1 THA.RTP.fp1 --in-reply-to "$red" --reshare-to XXX.NOPE.fp1 reshare_request
forged "a forged request for someone not in the directory" \
    "invalid: reshare_to names XXX.NOPE.fp1, which is not a principal or agency of the directory"
forge IDN.POLRI.fp1 THA.RTP.fp1 --in-reply-to "$red" --reshare-to IDN.POLRI.fp1 reshare_request
forged "a forged request for the requester" "invalid: reshare_to names IDN.POLRI.fp1, the requester itself"
forge IDN.POLRI.fp1 THA.RTP.fp1 --in-reply-to "$red" --reshare-to MYS.RMP.fp1 --reshare-to THA.RTP.fp1 \
    reshare_request
forged "a forged request for the originator" "invalid: reshare_to names THA.RTP.fp1, the originator of message $red"
forge IDN.POLRI.fp1 THA.RTP.fp1 --in-reply-to "$red" --reshare-to MYS.RMP.fp1 --reshare-to MYS.RMP.fp1 \
    reshare_request
forged "a forged request naming one twice" "invalid: reshare_to names MYS.RMP.fp1 twice"
forge IDN.POLRI.fp1 MYS.RMP.fp1 --in-reply-to "$red" --reshare-to MYS.RMP.fp2 reshare_request
forged "a request to someone else than the originator" \
    "forbidden: reshare_request goes only to the originator of message $red (THA.RTP.fp1), not to MYS.RMP.fp1"
[ -z "$(audit "event = 'reshare_requested'")" ] || fail "a refused request is in the audit trail"

run 0 "ask the originator" IDN.POLRI.fp1 reshare-request "$red" --to MYS.RMP.fp1 \
    --reason "The group transits Malaysia."
request=$(msg_id "$work/out")
receive THA.RTP.fp1 1 "$work/request.json"
jq -e --arg r "$red" '.kind == "reshare_request" and .in_reply_to == $r' "$work/request.json" >/dev/null ||
    fail "the originator's request: $(cat "$work/request.json")"
jq -r '.sections[0].notice.text' "$work/request.json" | grep -q "The group transits Malaysia." ||
    fail "the request does not carry the reason"
run 2 "a grant of something that is not a request" THA.RTP.fp1 reshare-grant "$feedback"
contains "$work/err" "is of kind alert_feedback, not reshare_request" "reshare-grant says what the message is"
run 0 "the originator grants it" THA.RTP.fp1 reshare-grant "$request"
grant=$(msg_id "$work/out")
run 2 "the same grant again" THA.RTP.fp1 reshare-grant "$request"
contains "$work/err" "reshare_request $request was granted already (the grant is #[0-9]* in the outbox, accepted)" \
    "a second grant of one request is refused"
# The broker refuses it too, to a client that skips the agent's check: a request is granted once.
forge THA.RTP.fp1 IDN.POLRI.fp1 --in-reply-to "$request" --reshare-to MYS.RMP.fp1 reshare_grant
forged "a forged second grant of one request" \
    "invalid: reshare_request $request was granted already (reshare_grant $grant): a request is granted once"
[ "$(audit "event = 'reshare_granted'" | wc -l)" -eq 1 ] || fail "the request was granted twice"
receive IDN.POLRI.fp1 1 "$work/grant.json"
jq -e --arg r "$request" '.kind == "reshare_grant" and .in_reply_to == $r and .sender == "THA.RTP.fp1"
    and .reshare_to == ["MYS.RMP.fp1"]' \
    "$work/grant.json" >/dev/null || fail "the requester's grant: $(cat "$work/grant.json")"

run 3 "the grant does not cover another recipient" IDN.POLRI.fp1 forward "$red" --to IDN.IMI.lo2 --grant "$grant"
contains "$work/err" "does not cover IDN.IMI.lo2" "the refusal names the recipient not granted"
run 3 "no grant in the inbox covers another recipient" IDN.POLRI.fp1 forward "$red" --to MYS.RMP.fp2
contains "$work/err" "no reshare_grant of the originator in your inbox covers" "the refusal says no grant covers it"
run 0 "forward, finding the grant in the inbox" IDN.POLRI.fp1 forward "$red" --to MYS.RMP.fp1
contains "$work/out" "using the reshare_grant $grant of THA.RTP.fp1" "forward says which grant it relies on"
forward_red=$(msg_id "$work/out")
receive MYS.RMP.fp1 1 "$work/forwarded.json"
[ "$(jq -r .msg_id "$work/forwarded.json")" = "$forward_red" ] || fail "MYS got another message"
[ "$(jq -c '[.sections[] | [.id, .tlp]]' "$work/forwarded.json")" = '[[1,"green"],[2,"red"]]' ] ||
    fail "the forward does not keep the sections' ids and markings: $(cat "$work/forwarded.json")"
[ "$(jq -r '.sections[1].text' "$work/forwarded.json")" = "Our source inside the network says the next group leaves on Friday." ] ||
    fail "the forwarded RED section does not arrive intact"
nothing_for IDN.IMI.lo2 "the recipient the grant does not cover"
forge IDN.POLRI.fp1 MYS.RMP.fp2 --forwarded-from "$red" --grant "$grant" --tlp red case_alert
forged "a forward beyond the grant" "does not cover MYS.RMP.fp2"
forge MYS.RMP.fp1 MYS.RMP.fp2 --forwarded-from "$forward_red" --grant "$grant" --tlp red case_alert
forged "restricted information forwarded onwards again" "is itself a forward of restricted information"
run 3 "restricted information forwarded onwards by the agent" MYS.RMP.fp1 forward "$forward_red" --to MYS.RMP.fp2
contains "$work/err" "is itself a forward of restricted information" "the agent says why"
nothing_for MYS.RMP.fp2 "forged forwards"

# --- a refusal tells nobody which msg_ids the broker holds ------------------------------------
# A message one was not addressed to is refused as one the broker does not hold: the same code
# and reason (the msg_id aside) for a held message and for a random msg_id, whatever its kind.
random=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
# unseen NAME HELD AS TO OPTIONS... (MSGID in the options stands for the msg_id asked about)
unseen() {
    local name=$1 held=$2 as=$3 to=$4 id
    shift 4
    for id in "$held" "$random"; do
        # shellcheck disable=SC2046 # the options hold no spaces
        forge "$as" "$to" $(printf '%s\n' "$*" | sed "s/MSGID/$id/g")
        sed "s/$id/MSGID/g" "$work/forged" >"$work/unseen.$id"
    done
    grep -q "^REJECTED forbidden: message MSGID is not held by the broker for $as " "$work/unseen.$random" ||
        fail "$name: a random msg_id: $(cat "$work/unseen.$random")"
    cmp -s "$work/unseen.$held" "$work/unseen.$random" ||
        fail "$name: the broker answers a held message otherwise than a random msg_id:
    held:   $(cat "$work/unseen.$held")
    random: $(cat "$work/unseen.$random")"
}
unseen "feedback on an alert one did not receive" "$alert" MYS.RMP.fp1 THA.RTP.fp1 \
    --in-reply-to MSGID alert_feedback
unseen "a request about a message one did not receive" "$red" MYS.RMP.fp1 THA.RTP.fp1 \
    --in-reply-to MSGID --reshare-to MYS.RMP.fp2 reshare_request
unseen "a grant of a request made to someone else" "$request" MYS.RMP.fp1 IDN.POLRI.fp1 \
    --in-reply-to MSGID --reshare-to MYS.RMP.fp2 reshare_grant
unseen "a grant of a message one did not receive (not a request)" "$alert" MYS.RMP.fp1 IDN.POLRI.fp1 \
    --in-reply-to MSGID --reshare-to MYS.RMP.fp2 reshare_grant
unseen "a forward of a message one did not receive" "$alert" MYS.RMP.fp1 IDN.POLRI.fp1 \
    --forwarded-from MSGID --tlp amber case_alert
unseen "a forward naming a message one did not receive as its grant" "$request" IDN.POLRI.fp1 MYS.RMP.fp1 \
    --forwarded-from "$red" --grant MSGID --tlp red case_alert
nothing_for MYS.RMP.fp1 "refusals about messages one did not receive"

# --- the audit trail ---------------------------------------------------------------------------
[ "$(audit "event = 'reshare_requested' AND lower(hex(msg_id)) = '$request'" | jq -r '.in_reply_to')" = "$red" ] ||
    fail "the reshare request is not in the audit trail with the message it is about"
[ "$(audit "event = 'reshare_requested' AND lower(hex(msg_id)) = '$request'" | jq -c '.reshare_to')" = '["MYS.RMP.fp1"]' ] ||
    fail "the audited request does not name the recipients asked for"
[ "$(audit "event = 'reshare_granted' AND lower(hex(msg_id)) = '$grant'" | jq -r '.in_reply_to')" = "$request" ] ||
    fail "the grant is not in the audit trail with the request it answers"
audit "event = 'forwarded' AND lower(hex(msg_id)) = '$forward_red'" >"$work/fwd.json"
[ "$(jq -r .forwarded_from "$work/fwd.json")" = "$red" ] && [ "$(jq -r .reshare_grant "$work/fwd.json")" = "$grant" ] ||
    fail "the forward is not audited with its original and grant: $(cat "$work/fwd.json")"
[ "$(sqlite3 -readonly "$work/state/broker.db" "SELECT actor || ' ' || subject FROM audit WHERE event = 'reshare_granted'")" = "THA.RTP.fp1 IDN.POLRI.fp1" ] ||
    fail "the grant's audit entry does not name the originator and the requester"

# --- a recipient revoked between the request and the grant is not granted --------------------
run 0 "ask for IDN.IMI.lo2" IDN.POLRI.fp1 reshare-request "$red" --to IDN.IMI.lo2
late=$(msg_id "$work/out")
receive THA.RTP.fp1 1 "$work/late.json"
[ "$(jq -r .msg_id "$work/late.json")" = "$late" ] || fail "THA got another message than the request"
"$FUSION_BIN/fusion-admin" revoke --region "$work/region" IDN.IMI.lo2 >/dev/null || fail "revoke failed"
lines_before=$(grep -c . "$work/broker.log")
kill -HUP "$broker_pid"
wait_for 10 sh -c "tail -n +$lines_before '$work/broker.log' | grep -q 'reloaded policy'" ||
    fail "the revocation was not reloaded"
before=$(outbox THA.RTP.fp1)
run 2 "a grant for a recipient revoked since" THA.RTP.fp1 reshare-grant "$late"
contains "$work/err" "reshare-grant: reshare_to names IDN.IMI.lo2, which is not a principal or agency of the directory" \
    "the agent does not grant a revoked recipient"
[ "$(outbox THA.RTP.fp1)" = "$before" ] || fail "a refused grant left something in the outbox"
forge THA.RTP.fp1 IDN.POLRI.fp1 --in-reply-to "$late" --reshare-to IDN.IMI.lo2 reshare_grant
forged "a forged grant for a revoked recipient" "invalid: reshare_to names IDN.IMI.lo2, which is not a principal"

# Without the broker the directory cannot be asked: the request waits in the outbox (exit 5), and
# the broker checks its recipients when it goes.
broker_stop || fail "broker stop"
before=$(outbox IDN.POLRI.fp1)
run 5 "a request while the broker is down" IDN.POLRI.fp1 reshare-request "$red" --to MYS.RMP.fp2 --timeout 1
contains "$work/err" "the message waits in the outbox as #" "the request is queued"
[ "$(outbox IDN.POLRI.fp1)" -eq $((before + 1)) ] || fail "the queued request is not in the outbox"

grep -q -e 'Sanitizer' -e 'runtime error' "$work/broker.log" && fail "sanitizer report in the broker log"
[ "$failures" -gt 0 ] && tail -n 30 "$work/broker.log"
finish referral_reshare
