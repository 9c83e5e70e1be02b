#!/bin/sh
# Agents and the broker end to end, with the example policy (deploy/policy/bali-process.yaml):
# route alerts reach subscribed liaison officers only; a personal-data section reaches only the
# recipients allowed to see it; a referral under the Indonesia-Thailand agreement reaches the
# focal point; denied recipients get nothing while the sender sees code, rule and reason;
# store-and-forward across a broker restart; sending while the broker is down queues the
# message until a later flush or listen delivers it; a listener survives a broker restart.
# Usage: FUSION_BIN=build/bin sh tests/integration/broker_agents.sh   (from the repository root)
set -u
command -v jq >/dev/null || { echo "FAIL: jq is needed to read 'listen --json'"; exit 1; }
. "$(dirname "$0")/../lib/broker.sh"
background= # a listener running in the background, if any (reaped as soon as it is done with)
trap '[ -n "$background" ] && kill "$background" 2>/dev/null; broker_kill; rm -rf "$work"' EXIT

# expect CODE NAME ID COMMAND ARGS...: runs fusion-agent as ID, output in $work/out, $work/err.
expect() {
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

msg_id() { # the msg_id of the last 'accepted:' line of a file
    sed -n 's/^accepted: msg_id \([0-9a-f]*\).*/\1/p' "$1" | tail -n 1
}

# receive ID COUNT FILE: listens as ID until COUNT new messages arrived (JSON lines in FILE).
receive() {
    agent "$1" listen --json --count "$2" --timeout 20 >"$3" 2>"$work/listen.err" ||
        { fail "$1 did not receive $2 message(s)"; sed 's/^/    /' "$work/listen.err"; }
    grep -q -e 'Sanitizer' -e 'runtime error' "$work/listen.err" &&
        { fail "$1 listen: sanitizer report"; sed 's/^/    /' "$work/listen.err"; }
    return 0
}

# nothing_for ID NAME: ID has nothing waiting (a delivery is immediate once it can connect, so a
# short listen that connects and gets nothing means nothing is pending for it).
nothing_for() {
    agent "$1" listen --json --count 1 --timeout 3 >"$work/none.json" 2>"$work/none.err"
    [ -s "$work/none.json" ] && { fail "$2: $1 received something"; cat "$work/none.json"; }
    grep -q "no connection" "$work/none.err" && fail "$2: $1 could not connect"
    grep -q -e 'Sanitizer' -e 'runtime error' "$work/none.err" && fail "$2: sanitizer report"
    return 0
}

region_setup THA.RTP.fp1:focal_point,police THA.OAG.pros1:prosecution,focal_point \
    IDN.POLRI.fp1:focal_point,police IDN.IMI.lo2:liaison_officer,immigration \
    MYS.RMP.lo1:liaison_officer,police MYS.RMP.fp1:focal_point,police \
    AUS.ABF.pros1:prosecution || { echo "FAIL: region setup"; exit 1; }
broker_start || exit 1
drafts=$work/drafts
mkdir -p "$drafts"

# --- subscriptions --------------------------------------------------------------------------
expect 2 "an invalid pattern is refused locally" MYS.RMP.lo1 subscribe 'MMR>>MYS'
contains "$work/err" "hop 2" "invalid pattern names the hop"
expect 0 "LO subscribes to the Myanmar-Malaysia routes" MYS.RMP.lo1 subscribe 'mmr>**>mys' \
    --stage at_border,pre_travel --kind case_alert
contains "$work/out" "subscribed to MMR>\*\*>MYS" "subscribe normalises the pattern"
expect 0 "another LO follows Colombo departures" IDN.IMI.lo2 subscribe 'LKA:CMB>**'

# --- a route alert --------------------------------------------------------------------------
cat >"$drafts/route.yaml" <<'YAML'
kind: case_alert
audience: route
route: MMR>THA>MYS
stage: at_border
purpose: investigation
sections:
  - id: 1
    tlp: green
    categories: [operational, location]
    content:
      case_alert:
        summary: Groups of workers moved by minivan from Myawaddy through Mae Sot.
        location: Mae Sot bus station
YAML
expect 0 "send a route alert" THA.RTP.fp1 send "$drafts/route.yaml" --yes
contains "$work/out" "MYS.RMP.lo1 (fingerprint" "the route alert goes to the subscribed LO"
grep -q "IDN.IMI.lo2" "$work/out" && fail "the LO of another route was offered the route alert"
route_id=$(msg_id "$work/out")
[ -n "$route_id" ] || fail "send printed no msg_id"
receive MYS.RMP.lo1 1 "$work/lo1.json"
[ "$(jq -r .msg_id "$work/lo1.json")" = "$route_id" ] || fail "MYS.RMP.lo1 got another message"
[ "$(jq -r '.sections[0].case_alert.location' "$work/lo1.json")" = "Mae Sot bus station" ] ||
    fail "the route alert's content did not arrive intact"
enrolled=$("$FUSION_BIN/fusion-admin" directory --region "$work/region" | awk '$1 == "THA.RTP.fp1" { print $3 }')
[ -n "$enrolled" ] && [ "$(jq -r .fingerprint "$work/lo1.json")" = "$enrolled" ] ||
    fail "the sender's fingerprint shown is not the enrolled one ($enrolled)"
nothing_for IDN.IMI.lo2 "route alert"

# --- a personal-data section, only for the recipients allowed to see it ---------------------
cat >"$drafts/suspect.yaml" <<'YAML'
kind: case_alert
audience: direct
recipients: [MYS.RMP.fp1, IDN.POLRI.fp1]
purpose: investigation
subject_role: suspect
sections:
  - {id: 1, tlp: amber, categories: operational, text: "An escort moves groups to Sadao."}
  - id: 2
    tlp: amber
    categories: [operational, personal_identifiers]
    content:
      case_alert:
        summary: Identity of the escort.
        persons: [{role: suspect, name: Example Escort, nationality: MMR}]
YAML
expect 0 "send a case alert with a personal-data section" THA.RTP.fp1 send "$drafts/suspect.yaml" --yes
contains "$work/out" "IDN.POLRI.fp1: no_agreement" "the sender sees why IDN may not have section 2"
suspect_id=$(msg_id "$work/out")
receive MYS.RMP.fp1 1 "$work/mys.json"
[ "$(jq -c '[.sections[].id]' "$work/mys.json")" = "[1,2]" ] ||
    fail "MYS.RMP.fp1 (under MYS-THA-LE-2025) should hold both sections: $(cat "$work/mys.json")"
[ "$(jq -r '.sections[1].case_alert.persons[0].name' "$work/mys.json")" = "Example Escort" ] ||
    fail "MYS.RMP.fp1 cannot read the personal data it was allowed"
receive IDN.POLRI.fp1 1 "$work/idn.json"
[ "$(jq -r .msg_id "$work/idn.json")" = "$suspect_id" ] || fail "IDN got another message"
[ "$(jq -c '[.sections[].id]' "$work/idn.json")" = "[1]" ] ||
    fail "IDN.POLRI.fp1 must hold section 1 only: $(cat "$work/idn.json")"
[ "$(jq -c '[.withheld[].id]' "$work/idn.json")" = "[2]" ] ||
    fail "IDN.POLRI.fp1 is not told which section it was not given"
grep -q "Example Escort" "$work/idn.json" && fail "the personal data reached IDN.POLRI.fp1"

# --- a referral under the Indonesia-Thailand agreement ---------------------------------------
cp tests/data/drafts/referral.json "$drafts/referral.json"
expect 0 "send a referral to IDN.POLRI" THA.RTP.fp1 send "$drafts/referral.json" --yes
referral_id=$(msg_id "$work/out")
receive IDN.POLRI.fp1 1 "$work/referral.json"
[ "$(jq -r .msg_id "$work/referral.json")" = "$referral_id" ] || fail "IDN got another message"
[ "$(jq -r .agreement "$work/referral.json")" = "IDN-THA-NRM-2024" ] || fail "agreement missing"
[ "$(jq -r '.sections[1].referral.persons[0].role' "$work/referral.json")" = "victim" ] ||
    fail "the focal point cannot read the referral: $(cat "$work/referral.json")"

# --- denied recipients get nothing; the sender sees code, rule and reason ------------------
cat >"$drafts/denied.yaml" <<'YAML'
kind: referral
audience: direct
recipients: [THA.OAG.pros1, AUS.ABF.pros1]
purpose: investigation
subject_role: victim
sections:
  - id: 1
    tlp: red
    categories: [operational, personal_identifiers, victim_identity]
    content:
      referral:
        reason: Victim of forced criminality.
        persons: [{role: victim, name: Example Victim}]
YAML
expect 3 "nothing may go to prosecutors" THA.RTP.fp1 send "$drafts/denied.yaml" --yes
contains "$work/out" "THA.OAG.pros1: forbidden (rule nonpunishment-victim-data)" "forbidden rule shown"
contains "$work/out" "Non-Punishment" "the reason names the guideline"
contains "$work/out" "AUS.ABF.pros1: no_agreement" "no agreement shown"
contains "$work/err" "nothing can be sent" "the refusal is explained"
nothing_for THA.OAG.pros1 "forbidden referral"
nothing_for AUS.ABF.pros1 "referral without agreement"

# --- store and forward across a broker restart ---------------------------------------------
cat >"$drafts/notice.yaml" <<'YAML'
kind: notice
audience: direct
recipients: [IDN.POLRI.fp1]
sections:
  - {id: 1, tlp: green, categories: operational, text: "Stored while you were away."}
YAML
expect 0 "send to an offline recipient" THA.RTP.fp1 send "$drafts/notice.yaml" --yes
stored_id=$(msg_id "$work/out")
broker_stop || fail "the broker did not stop cleanly on SIGTERM"
broker_start || exit 1
receive IDN.POLRI.fp1 1 "$work/stored.json"
[ "$(jq -r .msg_id "$work/stored.json")" = "$stored_id" ] ||
    fail "the message stored before the restart did not arrive: $(cat "$work/stored.json")"
[ "$(jq -r .sections[0].text "$work/stored.json")" = "Stored while you were away." ] ||
    fail "the stored message's text changed"

# --- sending while the broker is down: queued, then delivered by flush or listen ------------
broker_stop
expect 5 "send while the broker is down" THA.RTP.fp1 send "$drafts/notice.yaml" --yes --timeout 1
contains "$work/err" "queued in the outbox as #" "the sender is told it is queued"
broker_start || exit 1
expect 0 "flush delivers it" THA.RTP.fp1 flush
queued_id=$(msg_id "$work/out")
[ -n "$queued_id" ] || fail "flush printed no accepted msg_id"
expect 0 "a second flush finds an empty outbox" THA.RTP.fp1 flush
contains "$work/out" "the outbox is empty" "second flush"
receive IDN.POLRI.fp1 1 "$work/queued.json"
[ "$(jq -r .msg_id "$work/queued.json")" = "$queued_id" ] || fail "the queued message did not arrive"

broker_stop
expect 5 "send again while the broker is down" THA.RTP.fp1 send "$drafts/notice.yaml" --yes --timeout 1
contains "$work/err" "the draft is queued in the outbox" "says the draft is queued"
# A listen that never reaches the broker says so and exits 5, with or without --json or --count.
expect 5 "listen while the broker is down" THA.RTP.fp1 listen --timeout 2
contains "$work/err" "the broker did not answer within 2 s" "listen says it never connected"
expect 5 "listen --json while the broker is down" THA.RTP.fp1 listen --json --timeout 2
[ -s "$work/out" ] && fail "listen --json printed something without a connection: $(cat "$work/out")"
expect 5 "listen --count while the broker is down" THA.RTP.fp1 listen --count 1 --timeout 2
# A flush stopped by Ctrl-C while it waits says so, not that the broker did not answer in time
# (the signal comes 5 s into a wait of 30: well after the start, well before the timeout).
timeout -s INT 5 "$FUSION_BIN/fusion-agent" flush --config "$work/agent-THA.RTP.fp1.yaml" \
    --timeout 30 >/dev/null 2>"$work/err"
contains "$work/err" "flush: stopped by a signal before the broker answered" "an interrupted flush says so"
lacks "$work/err" "did not answer within" "an interrupted flush is no timeout"
contains "$work/err" "1 message(s) stay in the outbox" "an interrupted flush keeps the message"
broker_start || exit 1
# fusion-agent itself in the background (not the agent function, whose subshell a kill would
# stop while fusion-agent ran on).
"$FUSION_BIN/fusion-agent" listen --config "$work/agent-THA.RTP.fp1.yaml" --timeout 60 \
    >"$work/tha-listen.out" 2>"$work/tha-listen.err" &
background=$!
wait_for 20 grep -q "^accepted: msg_id" "$work/tha-listen.err" ||
    fail "listen did not flush the outbox: $(cat "$work/tha-listen.err")"
# Stopped while it still runs, and reaped, so no later kill can reach a reused process id.
kill "$background"
wait "$background"
background=
listen_id=$(msg_id "$work/tha-listen.err")
receive IDN.POLRI.fp1 1 "$work/flushed.json"
[ "$(jq -r .msg_id "$work/flushed.json")" = "$listen_id" ] || fail "the message flushed by listen did not arrive"
nothing_for IDN.POLRI.fp1 "after everything was received"

# --- a listener stays with the broker across a restart (it reconnects and re-opens its window) --
"$FUSION_BIN/fusion-agent" listen --config "$work/agent-IDN.POLRI.fp1.yaml" --json --count 2 \
    --timeout 30 >"$work/across.json" 2>"$work/across.err" &
background=$!
expect 0 "send to a listening recipient" THA.RTP.fp1 send "$drafts/notice.yaml" --yes
wait_for 10 test -s "$work/across.json" || fail "the listener did not get the first message"
broker_stop
broker_start || exit 1
expect 0 "send after the restart" THA.RTP.fp1 send "$drafts/notice.yaml" --yes
wait "$background" || fail "the listener did not get a message after the restart: $(cat "$work/across.err")"
background=
[ "$(wc -l <"$work/across.json")" -eq 2 ] || fail "the listener got $(wc -l <"$work/across.json") messages, not 2"

if grep -q -e 'Sanitizer' -e 'runtime error' "$work/broker.log"; then
    fail "sanitizer report in the broker log"
fi
if [ "$failures" -gt 0 ]; then
    echo "--- broker log (last 30 lines)"
    tail -n 30 "$work/broker.log"
    echo "$failures failure(s)"
    exit 1
fi
echo "broker_agents: all checks passed"
