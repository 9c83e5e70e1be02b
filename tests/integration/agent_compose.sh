#!/bin/sh
# fusion-agent alert and refer against a live broker with the example policy: a route alert and
# a referral under the Indonesia-Thailand agreement, composed from options and sent with --yes,
# reach exactly the recipients the preview lists as allowed; the preview names the denied ones
# with code and reason; categories are derived from structured fields and an under-labelled
# section is refused; the guided prompt on a terminal (a pty through script(1)) composes and
# sends; bad input is refused with a clear error and exit 2, and nothing is sent (the outbox
# stays empty and nobody receives anything); a broker that is down leaves the alert queued.
# Usage: FUSION_BIN=build/bin sh tests/integration/agent_compose.sh   (from the repository root)
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

receive() { # ID COUNT FILE: JSON lines of COUNT new messages
    agent "$1" listen --json --count "$2" --timeout 20 >"$3" 2>"$work/listen.err" ||
        { fail "$1 did not receive $2 message(s)"; sed 's/^/    /' "$work/listen.err"; }
    return 0
}

nothing_for() { # ID NAME: a listen that connects and gets nothing
    agent "$1" listen --json --count 1 --timeout 3 >"$work/none.json" 2>"$work/none.err"
    [ -s "$work/none.json" ] && { fail "$2: $1 received something"; cat "$work/none.json"; }
    grep -q "no connection" "$work/none.err" && fail "$2: $1 could not connect"
    return 0
}

outbox_empty() { # ID NAME
    agent "$1" flush >"$work/flush.out" 2>&1
    grep -q "the outbox is empty" "$work/flush.out" ||
        { fail "$2: the outbox of $1 is not empty"; cat "$work/flush.out"; }
}

region_setup THA.RTP.fp1:focal_point,police IDN.POLRI.fp1:focal_point,police \
    IDN.POLRI.lo1:liaison_officer,police MYS.RMP.lo1:liaison_officer,police \
    THA.OAG.pros1:prosecution,focal_point || { echo "FAIL: region setup"; exit 1; }
broker_start || exit 1
agent MYS.RMP.lo1 subscribe 'MMR>**>MYS' >/dev/null || fail "subscribe"
agent IDN.POLRI.lo1 subscribe '**>THA>**' >/dev/null || fail "subscribe"

# --- bad input: a clear error, exit 2, nothing sent -----------------------------------------
expect 2 "unknown TLP word" THA.RTP.fp1 alert --to IDN.POLRI.fp1 --section purple \
    --summary s --yes
contains "$work/err" "unknown TLP 'purple' (expected one of: clear, green" "TLP word named"
contains "$work/err" "nothing was sent" "says nothing was sent"
expect 2 "a blank summary" THA.RTP.fp1 alert --to IDN.POLRI.fp1 --section green --summary '  ' --yes
contains "$work/err" "'summary' of a case_alert is empty" "a blank summary is named"
# An empty item of a list is refused wherever its comma is (a trailing one passed).
for cats in 'operational,' ',operational'; do
    expect 2 "--categories '$cats'" THA.RTP.fp1 alert --to IDN.POLRI.fp1 --section green \
        --categories "$cats" --text t --yes
    contains "$work/err" "unknown category '$cats'" "--categories '$cats'"
done
expect 2 "--stage with a trailing comma" THA.OAG.pros1 subscribe 'LKA>**' --stage at_border,
contains "$work/err" "unknown stage ''" "--stage with a trailing comma"
# --file - is a file named '-' (relative to where the agent runs), not standard input.
printf 'Read from standard input by mistake.\n' >"$work/stdin.txt"
agent THA.RTP.fp1 alert --to IDN.POLRI.fp1 --section green --categories operational --file - \
    --yes <"$work/stdin.txt" >"$work/out" 2>"$work/err"
got=$?
[ "$got" -eq 2 ] || { fail "--file - read standard input: exit $got, expected 2"; cat "$work/out" "$work/err"; }
contains "$work/err" "file -: no such file" "--file - is a file named '-'"
# An agent configuration pinning an authority.pub whose fingerprint line does not match its key
# (a mistyped copy) is told so, as fusion-admin and the broker say it (it was "malformed").
sed 's/^fingerprint: ..../fingerprint: ZZZZ/' "$work/region/authority.pub" >"$work/mistyped.pub"
sed "s|^authority: .*|authority: $work/mistyped.pub|" "$work/agent-THA.RTP.fp1.yaml" >"$work/mistyped.yaml"
"$FUSION_BIN/fusion-agent" subscribe --config "$work/mistyped.yaml" 'LKA>**' >"$work/out" 2>"$work/err"
got=$?
[ "$got" -eq 2 ] || fail "a mistyped authority.pub: exit $got, expected 2"
contains "$work/err" "authority $work/mistyped.pub: its fingerprint line does not match its key" \
    "a mistyped authority.pub"
expect 2 "malformed route" THA.RTP.fp1 alert --route 'MMR>TH>MYS' --section green \
    --summary s --yes
contains "$work/err" "hop 2 'TH'" "the bad hop is named"
echo "free text" >"$work/note.txt"
expect 2 "missing section file" THA.RTP.fp1 alert --to IDN.POLRI.fp1 --section amber \
    --categories operational --file "$work/no-such-note.txt" --yes
contains "$work/err" "no-such-note.txt: no such file" "the missing file is named"
# A section's file may hold at most 4 MiB less 1 KiB: the error states the limit and the size.
head -c 4193281 /dev/zero | tr '\0' x >"$work/big.txt"
expect 2 "a section file over the limit" THA.RTP.fp1 alert --to IDN.POLRI.fp1 --section amber \
    --categories operational --file "$work/big.txt" --yes
contains "$work/err" "big.txt is 4193281 bytes, larger than a section's file may be (at most 4193280 bytes: 4 MiB less 1 KiB)" \
    "the limit and the file's size are stated"
expect 2 "under-labelled section" THA.RTP.fp1 refer --to IDN.POLRI.fp1 --section red \
    --categories operational --reason r --person role=victim,name=A --yes
contains "$work/err" "also carries personal_identifiers, victim_identity" "labels checked"
# An infant under one year is recorded with age 0, and is a minor.
expect 2 "an infant labelled as an adult" THA.RTP.fp1 refer --to IDN.POLRI.fp1 --section red \
    --categories operational,victim_identity --reason r --person role=victim,age=0 --yes
contains "$work/err" "also carries minor: add it" "age 0 is a minor"
expect 2 "free text without categories" THA.RTP.fp1 alert --to IDN.POLRI.fp1 --section amber \
    --file "$work/note.txt" --yes
contains "$work/err" "needs 'categories'" "free text must be labelled"
expect 2 "a bad person spec" THA.RTP.fp1 alert --to IDN.POLRI.fp1 --section amber --summary s \
    --person 'name' --yes
contains "$work/err" "--person: 'name' is not key=value" "the bad spec is named"
expect 2 "text that is not UTF-8" THA.RTP.fp1 alert --to IDN.POLRI.fp1 --section amber \
    --summary "$(printf 'caf\351')" --yes
contains "$work/err" "not valid UTF-8" "says what is wrong with the text"
expect 2 "no audience" THA.RTP.fp1 alert --section green --summary s --yes
contains "$work/err" "say who receives it" "asks for recipients"
# Named recipients and a taskforce are two audiences: the policy reads the taskforce only for
# audience taskforce, so the pair is refused instead of one of them deciding nothing.
expect 2 "--to and --taskforce together" THA.RTP.fp1 alert --taskforce OP-MEKONG-SCAM \
    --to IDN.POLRI.fp1 --section green --summary s --yes
contains "$work/err" "give --to (named recipients, audience direct) or --taskforce (the taskforce's members), not both" \
    "says to pick one audience"
expect 2 "--taskforce with another audience" THA.RTP.fp1 alert --audience route \
    --route 'MMR>THA' --taskforce OP-MEKONG-SCAM --section green --summary s --yes
contains "$work/err" "--taskforce is only for audience taskforce" "says the taskforce needs its audience"
cat >"$work/both.yaml" <<'YAML'
kind: case_alert
audience: direct
recipients: [IDN.POLRI.fp1]
taskforce: OP-MEKONG-SCAM
sections:
  - {id: 1, tlp: green, categories: operational, text: x}
YAML
expect 2 "a draft with recipients and a taskforce" THA.RTP.fp1 send "$work/both.yaml" --yes
contains "$work/err" "both.yaml:4:12: a taskforce is only for audience taskforce" \
    "the draft's taskforce is refused at its line:column"
expect 2 "no terminal and no --yes" THA.RTP.fp1 alert --to IDN.POLRI.fp1 --section amber \
    --summary s
contains "$work/err" "no terminal to confirm" "explains --yes"
expect 2 "no options and no terminal" THA.RTP.fp1 alert
contains "$work/err" "no message given" "says what is missing"
# A recipient the directory does not hold is bad input (exit 2), as can-share says, not a
# refusal (3): the officer typed an id wrong, and nothing goes, not even to the others named.
expect 2 "an unknown principal" THA.RTP.fp1 alert --to XXX.NOPE.fp1 --section green \
    --summary s --yes
contains "$work/err" "alert: XXX.NOPE.fp1 is not a principal or agency of the directory (or its certificate is revoked or expired); nothing was sent" \
    "the unknown principal is named"
expect 2 "an agency nobody is in" THA.RTP.fp1 alert --to XXX.NOPE --section green --summary s --yes
contains "$work/err" "XXX.NOPE is not a principal or agency of the directory" "the agency is named"
direct_draft "$work/typo.yaml" "IDN.POLRI.fp1, IDN.POLRI.fpl" "to two, one of them mistyped"
expect 2 "a draft with one unknown recipient among known ones" THA.RTP.fp1 send "$work/typo.yaml" --yes
contains "$work/err" "send: IDN.POLRI.fpl is not a principal or agency of the directory" \
    "the mistyped one is named"
outbox_empty THA.RTP.fp1 "after bad input"
for who in IDN.POLRI.fp1 IDN.POLRI.lo1 MYS.RMP.lo1; do nothing_for $who "after bad input"; done

# --- nobody may receive it: exit 3 and the real reason, not "see the reasons above" --------
expect 3 "a message to oneself" THA.RTP.fp1 alert --to THA.RTP.fp1 --section green --summary s --yes
contains "$work/err" "you cannot send to yourself" "says one cannot send to oneself"
contains "$work/err" "fusion-agent: alert: nothing can be sent" "alert speaks as alert, not send"
expect 3 "a taskforce the policy does not list" THA.RTP.fp1 alert --taskforce NOPE \
    --section green --summary s --yes
contains "$work/err" "taskforce NOPE is not listed in the sharing policy" "says the taskforce is unknown"
expect 3 "a route nobody follows" THA.RTP.fp1 alert --route 'VNM>KHM' --section green \
    --summary s --yes
contains "$work/err" "nobody follows this route (VNM>KHM)" "says nobody follows the route"
grep -q "see the reasons above" "$work/err" && fail "points to reasons that were not shown"
outbox_empty THA.RTP.fp1 "after nothing could be sent"

# --- a route alert: green section to the route, amber section to nobody on it -------------
expect 0 "a route alert with --yes" THA.RTP.fp1 alert --route 'mmr>tha>mys' --stage at_border \
    --purpose investigation --urgency urgent \
    --section green --summary 'Minivan groups via Mae Sot' --indicator 'groups of 6-10' \
    --location 'Mae Sot' --reliability B --accuracy 2 \
    --section amber --summary 'The escort' --person role=suspect,name=E.Example --yes
contains "$work/out" "route MMR>THA>MYS" "the route is normalised"
contains "$work/out" "Section 1 (tlp green; operational, location)" "derived categories shown"
contains "$work/out" "Section 2 (tlp amber; operational, personal_identifiers)" \
    "personal identifiers derived from the name"
contains "$work/out" "MYS.RMP.lo1 (fingerprint" "allowed recipient listed with fingerprint"
contains "$work/out" "MYS.RMP.lo1: tlp_audience" "denied recipient listed with its code"
contains "$work/out" "may not go to everyone following a route" "denial reason shown"
contains "$work/out" "Section 2 dropped" "the section nobody may receive is dropped"
contains "$work/out" "^accepted: msg_id" "accepted"
alert_id=$(sed -n 's/^accepted: msg_id \([0-9a-f]*\).*/\1/p' "$work/out")
for lo in MYS.RMP.lo1 IDN.POLRI.lo1; do
    receive $lo 1 "$work/$lo.json"
    jq -e --arg id "$alert_id" '.msg_id == $id and .kind == "case_alert" and .urgency == "urgent"
        and (.sections | length) == 1 and .sections[0].case_alert.grading.source_reliability == "B"
        and (.sections[0].categories | index("location"))' "$work/$lo.json" >/dev/null ||
        { fail "$lo got the green section"; cat "$work/$lo.json"; }
done
nothing_for IDN.POLRI.fp1 "the route alert goes to route followers only"

# --- a referral under the Indonesia-Thailand agreement -------------------------------------
expect 0 "a referral with --yes" THA.RTP.fp1 refer --to IDN.POLRI --purpose victim_protection \
    --subject-role victim --consent --agreement IDN-THA-NRM-2024 --urgency urgent \
    --handling no_onward_sharing_without_consent \
    --section amber --reason 'Recruited for a scam compound' \
    --action 'victim identification through the NRM' --consent-recorded \
    --person role=victim,name=A.Example,nationality=IDN \
    --document type=passport,number=0012345,issuing_country=IDN --yes
contains "$work/out" \
    "Section 1 (tlp amber; operational, personal_identifiers, travel_document, victim_identity)" \
    "victim identity and travel document derived"
contains "$work/out" "IDN.POLRI.fp1 (fingerprint" "the focal point is allowed"
contains "$work/out" "IDN.POLRI.lo1: no_permit" "the liaison officer is not, with the code"
contains "$work/out" "^accepted: msg_id" "referral accepted"
referral_id=$(sed -n 's/^accepted: msg_id \([0-9a-f]*\).*/\1/p' "$work/out")
receive IDN.POLRI.fp1 1 "$work/fp1.json"
jq -e --arg id "$referral_id" '.msg_id == $id and .kind == "referral" and .agreement ==
    "IDN-THA-NRM-2024" and .handling == ["no_onward_sharing_without_consent"] and .consent
    and .sections[0].referral.persons[0].role == "victim"
    and .sections[0].referral.documents[0].number == "0012345"' "$work/fp1.json" >/dev/null ||
    { fail "the focal point got the referral"; cat "$work/fp1.json"; }
nothing_for IDN.POLRI.lo1 "the referral's denied recipient"

# --- consent: one answer in the signed header and the referral ------------------------------
# agent.md's example gives --consent only, and drafts.md's JSON example "consent": true without
# the referral's consent_recorded: the referral records the header's consent, and the recipient
# reads "consent recorded" in the header and in the referral (it read "Consent recorded: no").
expect 0 "agent.md's referral (--consent only)" THA.RTP.fp1 refer --to IDN.POLRI.fp1 \
    --purpose victim_protection --subject-role victim --consent --agreement IDN-THA-NRM-2024 \
    --urgency urgent --section amber --reason 'Recruited for a scam compound' \
    --action 'victim identification through the NRM' \
    --person role=victim,name='A. Example',nationality=IDN --yes
consent_id=$(sed -n 's/^accepted: msg_id \([0-9a-f]*\).*/\1/p' "$work/out")
cat >"$work/consent.json" <<'JSON'
{
  "kind": "referral", "audience": "direct", "recipients": ["IDN.POLRI.fp1"],
  "purpose": "victim_protection", "subject_role": "victim", "consent": true,
  "agreement": "IDN-THA-NRM-2024",
  "sections": [
    {"id": 1, "tlp": "amber", "categories": ["operational"],
     "text": "Referral of an Indonesian national identified at a scam compound raid."},
    {"id": 2, "tlp": "red",
     "categories": ["operational", "personal_identifiers", "victim_identity", "location"],
     "content": {"referral": {"reason": "Indicators of trafficking for forced criminality.",
                              "persons": [{"role": "victim", "name": "Example Victim"}],
                              "location": "Shelter, Bangkok"}}}
  ]
}
JSON
expect 0 "drafts.md's JSON referral" THA.RTP.fp1 send "$work/consent.json" --yes
draft_id=$(sed -n 's/^accepted: msg_id \([0-9a-f]*\).*/\1/p' "$work/out")
receive IDN.POLRI.fp1 2 "$work/consent-in.json"
for id in "$consent_id" "$draft_id"; do
    jq -e -s --arg id "$id" '.[] | select(.msg_id == $id) | .consent and ([.sections[] | .referral |
        select(.) | .consent_recorded] == [true])' "$work/consent-in.json" >/dev/null ||
        { fail "referral $id: the header's consent is not the referral's"; cat "$work/consent-in.json"; }
    expect 0 "show $id" IDN.POLRI.fp1 show "$id"
    contains "$work/out" "subject victim, consent recorded$" "show $id: the header's consent"
    contains "$work/out" "Consent recorded: yes$" "show $id: the referral's consent, the same"
    lacks "$work/out" "Consent recorded: no" "show $id: no contradiction"
done
# Told apart, the two are refused with both named (exit 2), and nothing is sent.
expect 2 "--consent-recorded without --consent" THA.RTP.fp1 refer --to IDN.POLRI.fp1 \
    --purpose victim_protection --subject-role victim --section amber --reason r \
    --consent-recorded --yes
contains "$work/err" "refer: --consent-recorded says the referral records the subject's consent, but --consent is not given" \
    "--consent-recorded alone: both named"
contains "$work/err" "nothing was sent" "--consent-recorded alone: nothing sent"
sed 's/"location": "Shelter, Bangkok"}/"location": "Shelter, Bangkok", "consent_recorded": false}/' \
    "$work/consent.json" >"$work/consent-no.json"
expect 2 "a draft whose referral says no consent, its header yes" THA.RTP.fp1 send \
    "$work/consent-no.json" --yes
contains "$work/err" "consent-no.json:12:[0-9]*: consent_recorded is false, but the draft's consent is true" \
    "the draft's contradiction named with its place"
nothing_for IDN.POLRI.fp1 "the refused referrals"
outbox_empty THA.RTP.fp1 "after the refused referrals"
# From an older agent, a referral that leaves consent_recorded out (false on the wire) with the
# header's consent is shown with the header's answer, never as "no"; one whose referral records
# consent that its header does not is shown as that.
forge() { # OPTIONS...: forge_workflow THA.RTP.fp1 -> IDN.POLRI.fp1, a referral
    "$FUSION_TOOLS/forge_workflow" --endpoint "$endpoint" --key "$work/keys/THA.RTP.fp1.key" \
        --to "$work/keys/IDN.POLRI.fp1.key" \
        --broker-cert "$work/region/directory/RSO.FUSION.broker.cert" \
        --authority "$work/region/authority.pub" --referral-content "$@" referral >"$work/forged" 2>&1
    sed -n 's/^ACCEPTED \([0-9a-f]*\)$/\1/p' "$work/forged"
}
older=$(forge --consent)
[ -n "$older" ] || fail "the older agent's referral was not accepted: $(cat "$work/forged")"
referral_only=$(forge --consent-recorded)
[ -n "$referral_only" ] || fail "the referral-only consent was not accepted: $(cat "$work/forged")"
receive IDN.POLRI.fp1 2 "$work/older.json"
jq -e -s --arg id "$older" '.[] | select(.msg_id == $id) | .consent and
    .sections[0].referral.consent_recorded' "$work/older.json" >/dev/null ||
    { fail "listen --json: an older referral's consent"; cat "$work/older.json"; }
jq -e -s --arg id "$referral_only" '.[] | select(.msg_id == $id) | (.consent | not) and
    .sections[0].referral.consent_recorded' "$work/older.json" >/dev/null ||
    { fail "listen --json: a referral-only consent"; cat "$work/older.json"; }
expect 0 "show an older agent's referral" IDN.POLRI.fp1 show "$older"
contains "$work/out" "Consent recorded: yes$" "an older referral: the header's answer"
lacks "$work/out" "Consent recorded: no" "an older referral: never 'no' against the header"
expect 0 "show a referral-only consent" IDN.POLRI.fp1 show "$referral_only"
contains "$work/out" "Consent recorded: yes in this referral, but not in the signed header" \
    "a referral-only consent is said to be that"

# --- a draft file with alert, and the wrong kind ----------------------------------------------
cat >"$work/ref.yaml" <<'YAML'
kind: referral
audience: direct
recipients: [IDN.POLRI.fp1]
purpose: victim_protection
sections:
  - {id: 1, tlp: amber, categories: [operational], text: "see the phone call"}
YAML
expect 2 "alert refuses a referral draft" THA.RTP.fp1 alert --draft "$work/ref.yaml" --yes
contains "$work/err" "holds a referral, not a case_alert" "kind mismatch explained"
expect 2 "--draft and options together" THA.RTP.fp1 refer --draft "$work/ref.yaml" \
    --urgency urgent --yes
contains "$work/err" "give either --draft FILE or the message's options, not both" "says why"

# A JSON draft as Python's json.dumps writes it: the escaped surrogate pair arrives as the
# character; half a pair is refused at its line:column.
printf '%s\n' '{"kind": "case_alert", "audience": "direct", "recipients": ["IDN.POLRI.fp1"],' \
    ' "sections": [{"id": 1, "tlp": "green", "content": {"case_alert": {"summary": "van \ud83d\ude90 at Sadao"}}}]}' \
    >"$work/emoji.json"
expect 0 "a JSON draft with an escaped surrogate pair" THA.RTP.fp1 send "$work/emoji.json" --yes
receive IDN.POLRI.fp1 1 "$work/emoji.out"
jq -e '.sections[0].case_alert.summary == "van \ud83d\ude90 at Sadao"' "$work/emoji.out" >/dev/null ||
    { fail "the character arrived"; cat "$work/emoji.out"; }
sed 's/\\ude90//' "$work/emoji.json" >"$work/half.json"
expect 2 "a JSON draft with half a surrogate pair" THA.RTP.fp1 send "$work/half.json" --yes
contains "$work/err" "half.json:2:84: the escape \\\\ud83d is half of a surrogate pair" \
    "half a pair is named at its line:column"
# In a YAML draft the same pair is no character (YAML reads no surrogates): named at its
# line:column with what to write instead, exit 2, nothing queued.
printf '%s\n' 'kind: case_alert' 'audience: direct' 'recipients: [IDN.POLRI.fp1]' 'sections:' \
    '  - {id: 1, tlp: green, content: {case_alert: {summary: "van \ud83d\ude90 at Sadao"}}}' \
    >"$work/emoji.yaml"
expect 2 "a YAML draft with an escaped surrogate pair" THA.RTP.fp1 send "$work/emoji.yaml" --yes
contains "$work/err" "emoji.yaml:5:62: the escape \\\\ud83d\\\\ude90 is a UTF-16 surrogate pair" \
    "the pair is named at its line:column"
contains "$work/err" "write the character itself or \\\\U0001F690" "the YAML escape is given"
outbox_empty THA.RTP.fp1 "a YAML draft with an escaped surrogate pair"
# A ': ' far into a long text makes a key longer than YAML allows (1024 characters): named at
# the key, not libyaml's "could not find expected ':'" at the end of it.
long=$(printf '%01100d' 0 | tr 0 x)
printf '%s\n' 'kind: case_alert' 'audience: direct' 'recipients: [IDN.POLRI.fp1]' 'sections:' \
    '  - id: 1' '    tlp: green' '    content:' '      case_alert:' '        summary: s' \
    '        indicators:' "          - $long: and more" >"$work/longkey.yaml"
expect 2 "a draft with a key longer than 1024 characters" THA.RTP.fp1 send "$work/longkey.yaml" --yes
contains "$work/err" "longkey.yaml:11:13: a key longer than 1024 characters: 1100 from here to its ':' at line 11, column 1113" \
    "the long key is named at its line:column"
outbox_empty THA.RTP.fp1 "a draft with a key longer than 1024 characters"

# --- the guided prompt on a terminal ---------------------------------------------------------
# Answers: audience, recipients (a wrong list, then a right one), route, stage, purpose, subject role, consent, agreement, urgency,
# handling, case ref; section: a wrong TLP then amber, summary, an indicator and the end of them,
# action, location, no person, no document, reliability, a wrong accuracy then 2, categories;
# no other section; and the confirmation.
printf '%s\n' direct 'IDN.POLRI.fp1,no id' IDN.POLRI.fp1 '' '' investigation suspect n '' normal \
    '' RTP-7 \
    purple amber 'Prompted summary' 'an indicator' '' '' 'Sadao' '' '' A 9 2 '' n y \
    >"$work/answers"
script -qec "'$FUSION_BIN/fusion-agent' alert --config '$work/agent-THA.RTP.fp1.yaml'" \
    /dev/null <"$work/answers" >"$work/prompt.out" 2>&1
contains "$work/prompt.out" "'no id' is neither a principal id" "a wrong recipient is explained"
contains "$work/prompt.out" "unknown TLP 'purple'" "a wrong answer is explained"
contains "$work/prompt.out" "accuracy must be 1" "and asked again"
contains "$work/prompt.out" "IDN.POLRI.fp1 (fingerprint" "the preview is shown"
contains "$work/prompt.out" "accepted: msg_id" "the prompted alert is sent"
receive IDN.POLRI.fp1 1 "$work/prompted.json"
jq -e '.sections[0].case_alert.summary == "Prompted summary" and .case_ref == "RTP-7"
    and .sections[0].case_alert.grading.information_accuracy == 2' "$work/prompted.json" \
    >/dev/null || { fail "the prompted alert arrived"; cat "$work/prompted.json"; }
# Declining at the confirmation sends nothing.
printf '%s\n' direct IDN.POLRI.fp1 '' '' '' '' n '' '' '' '' green 'Not to send' '' '' '' '' '' \
    '' '' '' n n >"$work/answers"
script -qec "'$FUSION_BIN/fusion-agent' alert --config '$work/agent-THA.RTP.fp1.yaml'" \
    /dev/null <"$work/answers" >"$work/prompt.out" 2>&1
contains "$work/prompt.out" "Not sent." "declining is acknowledged"
outbox_empty THA.RTP.fp1 "after declining"
nothing_for IDN.POLRI.fp1 "after declining"

# --- the broker is down: the alert waits in the outbox --------------------------------------
broker_stop || fail "broker stop"
expect 5 "queued while the broker is down" THA.RTP.fp1 alert --to IDN.POLRI.fp1 --timeout 2 \
    --section amber --summary 'Queued alert' --yes
contains "$work/err" "queued in the outbox" "says it is queued"
broker_start || exit 1
expect 0 "flush sends it" THA.RTP.fp1 flush
receive IDN.POLRI.fp1 1 "$work/queued.json"
jq -e '.sections[0].case_alert.summary == "Queued alert"' "$work/queued.json" >/dev/null ||
    fail "the queued alert arrived"

# Four flushes at once: each queued alert arrives once, and no flush calls another's entry
# damaged or missing (they used to, while the messages still arrived once).
broker_stop || fail "broker stop"
for n in 1 2 3 4 5 6; do
    expect 5 "queued alert $n" THA.RTP.fp1 alert --to IDN.POLRI.fp1 --timeout 1 \
        --section amber --summary "Queued alert $n" --yes
done
broker_start || exit 1
pids=
for n in 1 2 3 4; do
    agent THA.RTP.fp1 flush >"$work/flush$n.out" 2>"$work/flush$n.err" &
    pids="$pids $!"
done
for pid in $pids; do
    wait "$pid" || fail "a concurrent flush failed: $(cat "$work"/flush*.err)"
done
cat "$work"/flush*.err >"$work/flushes.err"
[ -s "$work/flushes.err" ] && fail "concurrent flushes complained: $(cat "$work/flushes.err")"
receive IDN.POLRI.fp1 6 "$work/six.json"
[ "$(jq -r '.sections[0].case_alert.summary' "$work/six.json" | sort -u | wc -l)" -eq 6 ] ||
    fail "the six queued alerts did not arrive once each"
nothing_for IDN.POLRI.fp1 "after the concurrent flushes"
outbox_empty THA.RTP.fp1 "after the concurrent flushes"

grep -q "Sanitizer\|runtime error" "$work/broker.log" && fail "broker sanitizer report"
finish agent_compose
