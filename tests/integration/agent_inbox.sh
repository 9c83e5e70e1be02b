#!/bin/sh
# Receiving: an agent that was offline while messages were sent (and while the broker crashed
# and restarted) receives every one on reconnect, in order, once; listen --exec runs a command
# per new message with msg_id and kind in its environment, and a failing command does not stop
# listening; inbox lists and filters what arrived (text and JSON); show prints one message under
# its TLP banner (colour only on a terminal without NO_COLOR), with the verified sender and its
# fingerprint, the handling restrictions, the sections given and the ones withheld; an unknown
# or malformed msg_id is a clear error.
# Usage: FUSION_BIN=build/bin sh tests/integration/agent_inbox.sh   (from the repository root)
set -u
command -v jq >/dev/null || { echo "FAIL: jq is needed"; exit 1; }
. "$(dirname "$0")/../lib/broker.sh"

expect() { # CODE NAME ID COMMAND ARGS...: output in $work/out, $work/err
    want=$1 name=$2
    shift 2
    agent "$@" >"$work/out" 2>"$work/err" </dev/null
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

region_setup THA.RTP.fp1:focal_point,police IDN.POLRI.fp1:focal_point,police \
    THA.OAG.pros1:prosecution,focal_point || { echo "FAIL: region setup"; exit 1; }
broker_start || exit 1

# --- IDN.POLRI.fp1 is offline: six messages go out --------------------------------------------
: >"$work/sent"
n=0
for tlp in green amber red amber_strict green; do
    n=$((n + 1))
    urgency="--urgency normal"
    [ "$n" -eq 5 ] && urgency= # none given: normal
    expect 0 "alert $n" THA.RTP.fp1 alert --to IDN.POLRI.fp1 --purpose investigation \
        $urgency --section $tlp --summary "Alert number $n" --yes
    sed -n 's/^accepted: msg_id \([0-9a-f]*\).*/\1/p' "$work/out" >>"$work/sent"
done
# The sixth: section 2 (a suspect's name) may not cross to Indonesia without an agreement, but
# goes to the Thai prosecutor; Indonesia sees that it existed.
expect 0 "alert 6, with a section withheld from IDN" THA.RTP.fp1 alert \
    --to IDN.POLRI.fp1,THA.OAG.pros1 --purpose investigation --subject-role suspect --urgency urgent \
    --handling no_onward_sharing_without_consent,crime_prevention_only --case-ref RTP-66 \
    --section amber --summary 'Alert number 6' \
    --section red --summary 'Who' --person role=suspect,name=S.Example --yes
sed -n 's/^accepted: msg_id \([0-9a-f]*\).*/\1/p' "$work/out" >>"$work/sent"
[ "$(wc -l <"$work/sent")" -eq 6 ] || fail "six messages accepted"

# A crash of the broker loses nothing that was accepted.
broker_kill
broker_start || exit 1

# --- reconnect: everything, in order, once; --exec per message --------------------------------
hook="echo \"\$FUSION_MSG_ID \$FUSION_KIND \$FUSION_SENDER \$FUSION_TLP \$FUSION_URGENCY\" >>'$work/hooks'; exit 7"
agent IDN.POLRI.fp1 listen --json --count 6 --timeout 30 --exec "$hook" \
    >"$work/got.json" 2>"$work/listen.err" ||
    { fail "IDN.POLRI.fp1 did not receive six messages"; cat "$work/listen.err"; }
jq -r .msg_id "$work/got.json" >"$work/got"
cmp -s "$work/sent" "$work/got" || { fail "delivered in the order sent, each once"; diff "$work/sent" "$work/got"; }
jq -e -s 'map(.sections[0].case_alert.summary) == ["Alert number 1", "Alert number 2",
    "Alert number 3", "Alert number 4", "Alert number 5", "Alert number 6"]' "$work/got.json" \
    >/dev/null || fail "the contents arrived in order"
[ "$(wc -l <"$work/hooks")" -eq 6 ] || { fail "--exec ran once per message"; cat "$work/hooks"; }
awk '{print $1}' "$work/hooks" | cmp -s - "$work/sent" || fail "--exec got each msg_id in order"
grep -q "^$(sed -n 3p "$work/sent") case_alert THA.RTP.fp1 red normal$" "$work/hooks" ||
    { fail "--exec environment"; cat "$work/hooks"; }
# The fifth has no urgency: normal, as inbox says, not empty.
grep -q "^$(sed -n 5p "$work/sent") case_alert THA.RTP.fp1 [a-z]* normal$" "$work/hooks" ||
    { fail "--exec: FUSION_URGENCY of a message without urgency is normal"; cat "$work/hooks"; }
grep -q "^$(sed -n 6p "$work/sent") .* urgent$" "$work/hooks" ||
    { fail "--exec: FUSION_URGENCY urgent"; cat "$work/hooks"; }
grep -q "Alert number" "$work/hooks" && fail "--exec must never see content"
# listen --json says it as inbox --json and --exec do: the fifth, without urgency, is normal.
jq -e -s 'map(.urgency) == ["normal", "normal", "normal", "normal", "normal", "urgent"]' \
    "$work/got.json" >/dev/null ||
    { fail "listen --json: urgency normal when the header has none"; jq -c -s 'map(.urgency)' "$work/got.json"; }
[ "$(grep -c "exec command failed" "$work/listen.err")" -eq 6 ] ||
    { fail "each failing command is logged and listening goes on"; cat "$work/listen.err"; }
# Nothing comes twice, even after a restart.
broker_stop || fail "broker stop"
broker_start || exit 1
agent IDN.POLRI.fp1 listen --json --count 1 --timeout 3 >"$work/again.json" 2>/dev/null
[ -s "$work/again.json" ] && { fail "a message came twice"; cat "$work/again.json"; }

# --- inbox ------------------------------------------------------------------------------------
expect 0 "inbox" IDN.POLRI.fp1 inbox
[ "$(grep -c ' case_alert ' "$work/out")" -eq 6 ] || { fail "inbox lists six"; cat "$work/out"; }
contains "$work/out" "MSG_ID.*KIND.*FROM.*TLP.*ROUTE.*URGENCY.*STATE" "inbox header"
contains "$work/out" "$(sed -n 3p "$work/sent") .* case_alert .* THA.RTP.fp1 .* red .* new" \
    "a row with kind, sender, TLP and state"
expect 0 "inbox --json" IDN.POLRI.fp1 inbox --json
jq -r '.messages[].msg_id' "$work/out" | cmp -s - "$work/sent" || fail "inbox --json in order"
jq -e '.messages | map(.tlp) == ["green", "amber", "red", "amber_strict", "green", "amber"]
    and (map(.state) | unique) == ["new"] and .[5].urgency == "urgent"
    and .[0].urgency == "normal" and .[4].urgency == "normal"
    and .[0].sender == "THA.RTP.fp1"' "$work/out" >/dev/null ||
    { fail "inbox --json fields"; cat "$work/out"; }
expect 0 "inbox --tlp red" IDN.POLRI.fp1 inbox --json --tlp red
jq -e '.messages | length == 1' "$work/out" >/dev/null || fail "--tlp filters"
expect 0 "inbox --from an agency" IDN.POLRI.fp1 inbox --json --from THA.RTP
jq -e '.messages | length == 6' "$work/out" >/dev/null || fail "--from an agency"
expect 0 "inbox --from another" IDN.POLRI.fp1 inbox --json --from THA.RT
jq -e '.messages | length == 0' "$work/out" >/dev/null || fail "--from matches whole ids"
expect 0 "inbox --from a country, in any case" IDN.POLRI.fp1 inbox --json --from tha
jq -e '.messages | length == 6' "$work/out" >/dev/null || fail "--from a country"
expect 0 "inbox --from a principal, its country in lower case" IDN.POLRI.fp1 inbox --json --from tha.RTP.fp1
jq -e '.messages | length == 6' "$work/out" >/dev/null || fail "--from a principal"
expect 0 "inbox --from another country" IDN.POLRI.fp1 inbox --json --from MYS
jq -e '.messages | length == 0' "$work/out" >/dev/null || fail "--from another country"
for from in '' '%' '*' 'THA.*' 'THA.RTP.fp1.x' 'TH' 'THAI'; do
    expect 2 "inbox --from '$from'" IDN.POLRI.fp1 inbox --from "$from"
    contains "$work/err" "is neither a principal (THA.RTP.fp1), an agency (THA.RTP) nor a country (THA)" \
        "--from '$from' is refused, saying what it may be"
done
expect 0 "inbox --kind referral" IDN.POLRI.fp1 inbox --kind referral
contains "$work/out" "no messages" "an empty listing says so"
expect 2 "inbox --tlp with an unknown word" IDN.POLRI.fp1 inbox --tlp white
contains "$work/err" "unknown TLP 'white'" "names the word"
expect 2 "inbox --route with a bad pattern" IDN.POLRI.fp1 inbox --route 'THA>*:BKK'
contains "$work/err" "hop 2" "names the hop"

# --- show -------------------------------------------------------------------------------------
fifth=$(sed -n 5p "$work/sent") sixth=$(sed -n 6p "$work/sent")
expect 0 "show" IDN.POLRI.fp1 show "$sixth"
contains "$work/out" "^\[ TLP:AMBER \] limited disclosure" "TLP banner, without colour in a file"
lacks "$work/out" "$(printf '\033')" "no escape sequences when not a terminal"
contains "$work/out" "verified: signed by THA.RTP.fp1" "verified sender"
contains "$work/out" "from THA.RTP.fp1 (fingerprint [0-9A-Z-]*)" "with the fingerprint"
contains "$work/out" "handling: no_onward_sharing_without_consent" "handling restriction 1"
contains "$work/out" "handling: crime_prevention_only" "handling restriction 2"
contains "$work/out" "^purpose investigation, subject suspect, no consent recorded$" \
    "the header's consent: a subject named without it"
contains "$work/out" "Summary: Alert number 6" "the section given"
contains "$work/out" "not given to you: section 2 (tlp red; operational, personal_identifiers)" \
    "the section withheld"
lacks "$work/out" "S.Example" "the withheld content is not there"
expect 0 "show a red message" IDN.POLRI.fp1 show "$(sed -n 3p "$work/sent")"
contains "$work/out" "^\[ TLP:RED \] for your eyes only" "the red banner"
expect 0 "show --json" IDN.POLRI.fp1 show "$sixth" --json
jq -e --arg id "$sixth" '.msg_id == $id and .sender == "THA.RTP.fp1" and (.fingerprint | length)
    > 0 and .case_ref == "RTP-66" and (.handling | length) == 2 and .withheld[0].id == 2
    and .sections[0].case_alert.summary == "Alert number 6" and .consent == false
    and .subject_role == "suspect"' "$work/out" >/dev/null ||
    { fail "show --json"; cat "$work/out"; }
expect 0 "shown messages are read" IDN.POLRI.fp1 inbox --json --unread
jq -e '.messages | length == 4' "$work/out" >/dev/null || fail "--unread after show"
expect 0 "show --json of the message without urgency" IDN.POLRI.fp1 show "$fifth" --json
jq -e '.urgency == "normal"' "$work/out" >/dev/null || fail "show --json: urgency normal when the header has none"
expect 0 "show of the message without urgency" IDN.POLRI.fp1 show "$fifth"
contains "$work/out" "^msg_id $fifth, sent [^,]*, normal, audience direct" "show: urgency normal when the header has none"
# On a terminal: colour, unless NO_COLOR is set.
cfg=$work/agent-IDN.POLRI.fp1.yaml
env -u NO_COLOR script -qec "'$FUSION_BIN/fusion-agent' show $sixth --config '$cfg'" /dev/null \
    </dev/null >"$work/tty.out" 2>&1
grep -q "$(printf '\033')\[1;33;40m TLP:AMBER" "$work/tty.out" ||
    { fail "amber banner in colour"; cat "$work/tty.out"; }
NO_COLOR=1 script -qec "'$FUSION_BIN/fusion-agent' show $sixth --config '$cfg'" /dev/null \
    </dev/null >"$work/tty.out" 2>&1
grep -q "$(printf '\033')" "$work/tty.out" && fail "NO_COLOR turns colour off"
contains "$work/tty.out" "\[ TLP:AMBER \]" "the banner is still there"

expect 1 "an unknown msg_id" IDN.POLRI.fp1 show 0123456789abcdef0123456789abcdef
contains "$work/err" "no message 0123456789abcdef0123456789abcdef in the inbox" "says so"
expect 2 "a malformed msg_id" IDN.POLRI.fp1 show 12345
contains "$work/err" "is not a msg_id" "says what a msg_id is"
expect 1 "another principal's message is not in its inbox" THA.OAG.pros1 show "$sixth"
contains "$work/err" "no message $sixth in the inbox of THA.OAG.pros1" "names the msg_id and the inbox"

# A stored section whose key wrap was altered (outside the signed bytes) cannot be opened: exit 3,
# saying so, in text and JSON.
third=$(sed -n 3p "$work/sent")
sqlite3 "$work/state/agent-IDN.POLRI.fp1/mailbox.db" "update inbox set envelope =
    substr(envelope, 1, length(envelope) - 5) || X'0102030405' where hex(msg_id) = upper('$third')" ||
    fail "cannot alter the stored envelope"
expect 3 "show a section that cannot be opened" IDN.POLRI.fp1 show "$third"
contains "$work/out" "cannot be opened" "the section says it cannot be opened"
contains "$work/err" "cannot be opened" "stderr says a section cannot be opened"
expect 3 "show --json a section that cannot be opened" IDN.POLRI.fp1 show "$third" --json

# --- listen stopped by a signal: 0 once connected, 5 if it never reached the broker ----------
# notify_sink plays systemd: READY=1 comes once listen runs its loop (its signal handler is in
# place); STATUS=receiving once it is connected.
"$FUSION_TOOLS/notify_sink" "$work/notify.sock" --timeout 60 >"$work/notify.log" 2>&1 &
sink=$!
wait_for 10 test -S "$work/notify.sock" || fail "notify_sink did not bind"
stopped_listen() { # SIGNAL READY-LINE: starts listen, waits for READY-LINE, signals it; its exit in $status
    : >"$work/notify.log"
    NOTIFY_SOCKET="$work/notify.sock" "$FUSION_BIN/fusion-agent" listen \
        --config "$work/agent-IDN.POLRI.fp1.yaml" >"$work/sig.out" 2>"$work/sig.err" &
    listener=$!
    wait_for 20 grep -q "$2" "$work/notify.log" || fail "listen did not say '$2': $(cat "$work/sig.err")"
    kill "-$1" "$listener"
    wait "$listener"
    status=$?
}
stopped_listen TERM '^STATUS=receiving for IDN.POLRI.fp1'
[ "$status" -eq 0 ] || fail "a connected listen stopped by SIGTERM exited $status, not 0: $(cat "$work/sig.err")"
broker_stop || fail "broker stop"
stopped_listen TERM '^READY=1'
[ "$status" -eq 5 ] || fail "a listen stopped by SIGTERM before it connected exited $status, not 5"
contains "$work/sig.err" "listen: stopped before it ever reached the broker" "says it never connected"
stopped_listen INT '^READY=1'
[ "$status" -eq 5 ] || fail "a listen stopped by SIGINT before it connected exited $status, not 5"
kill "$sink" 2>/dev/null
wait "$sink" 2>/dev/null
grep -q -e 'Sanitizer' -e 'runtime error' "$work/sig.err" && fail "listen: sanitizer report"

# --- listen --summary (the service's form): one line per message, never its content; the
# message stays new in the inbox ----------------------------------------------------------------
broker_start || exit 1
expect 0 "an alert for --summary" THA.RTP.fp1 alert --to IDN.POLRI.fp1 --purpose investigation \
    --section amber --summary 'Boat seen at dawn' --yes
id=$(sed -n 's/^accepted: msg_id \([0-9a-f]*\).*/\1/p' "$work/out")
expect 2 "--summary with --json" IDN.POLRI.fp1 listen --summary --json --count 1
contains "$work/err" "exclude each other" "--summary and --json are refused together"
agent IDN.POLRI.fp1 listen --summary --count 1 --timeout 30 >"$work/summary.out" 2>"$work/summary.err" ||
    fail "listen --summary: $(cat "$work/summary.err")"
[ "$(grep -c . "$work/summary.out")" -eq 1 ] || fail "--summary printed more than one line: $(cat "$work/summary.out")"
contains "$work/summary.out" "^new message $id: case_alert from THA.RTP.fp1, urgency normal, tlp amber; unread in the inbox (fusion-agent show $id)$" \
    "the summary line"
lacks "$work/summary.out" "Boat seen" "--summary prints no content"
lacks "$work/summary.err" "Boat seen" "--summary logs no content"
expect 0 "inbox after --summary" IDN.POLRI.fp1 inbox --json
jq -e --arg id "$id" '.messages[] | select(.msg_id == $id) | .state == "new"' "$work/out" >/dev/null ||
    fail "a message listed by --summary is not new in the inbox: $(cat "$work/out")"
broker_stop || fail "broker stop"

grep -q "Sanitizer\|runtime error" "$work/broker.log" && fail "broker sanitizer report"
finish agent_inbox
