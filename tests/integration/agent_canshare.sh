#!/bin/sh
# fusion-agent can-share against a live broker with the example policy: an allowed and a denied
# case, in words and as the explain contract's JSON; a suggestion, when followed, turns the
# denial into an allowance; route audiences ask the broker for the recipients; bad input is
# refused before any network. Also route subscriptions: subscribe validates the pattern locally
# (naming the bad hop), subscriptions lists what the broker holds, unsubscribe removes it.
# Usage: FUSION_BIN=build/bin sh tests/integration/agent_canshare.sh   (from the repository root)
set -u
command -v jq >/dev/null || { echo "FAIL: jq is needed"; exit 1; }
. "$(dirname "$0")/../lib/broker.sh"

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

region_setup THA.RTP.fp1:focal_point,police IDN.POLRI.fp1:focal_point,police \
    THA.OAG.pros1:prosecution,focal_point MYS.RMP.lo1:liaison_officer,police \
    MYS.RMP.fp1:focal_point,police THA.DSDW.sw1:social_services ||
    { echo "FAIL: region setup"; exit 1; }

# --- bad input: refused before any network (the broker is not even running yet) ------------
expect 2 "unknown TLP word" THA.RTP.fp1 can-share --to IDN.POLRI.fp1 --section purple \
    --categories operational
contains "$work/err" "unknown TLP 'purple'" "the TLP error names the word"
expect 2 "malformed route" THA.RTP.fp1 can-share --route 'MMR>>THA' --section green \
    --categories operational
contains "$work/err" "hop 2" "the route error names the hop"
expect 2 "unknown category" THA.RTP.fp1 can-share --to IDN.POLRI.fp1 --section green \
    --categories operational,names
contains "$work/err" "unknown category 'names'" "the category error names the word"
expect 2 "a section option before --section" THA.RTP.fp1 can-share --to IDN.POLRI.fp1 \
    --categories operational
contains "$work/err" "start one with --section" "says to start a section"
expect 2 "--to and --taskforce without --audience" THA.RTP.fp1 can-share \
    --taskforce OP-MEKONG-SCAM --to MYS.RMP.fp1 --section green --categories operational
contains "$work/err" "give --to (named recipients, audience direct) or --taskforce" "says to pick one"
contains "$work/err" "add --audience taskforce" "says how to ask about a taskforce's member"
expect 2 "no message at all" THA.RTP.fp1 can-share
contains "$work/err" "describe the message with options or --draft FILE" "says what to give"
expect 2 "subscribe refuses a bad hop before any network" MYS.RMP.lo1 subscribe 'MMR>T*>MYS'
contains "$work/err" "hop 2" "the pattern error names the hop"

broker_start || exit 1

# --- allowed -------------------------------------------------------------------------------
expect 0 "an operational alert to a focal point may be shared" THA.RTP.fp1 can-share \
    --to IDN.POLRI.fp1 --purpose investigation --section amber --categories operational
contains "$work/out" "section 1 (tlp amber; operational): YES, rule focal-points-platform" \
    "allowed in words, with the rule"
contains "$work/out" "development of cross-border information sharing platforms" \
    "the guideline text is quoted"
contains "$work/out" "^Yes: every section" "the verdict is yes"
expect 0 "the same as JSON" THA.RTP.fp1 can-share --json \
    --to IDN.POLRI.fp1 --purpose investigation --section amber --categories operational
jq -e '.decisions | length == 1 and .[0].allow == true and .[0].recipient == "IDN.POLRI.fp1"
       and .[0].section == 1 and .[0].rule == "focal-points-platform"
       and (.[0].reason | type) == "string"' "$work/out" >/dev/null ||
    { fail "allowed JSON is the explain contract"; cat "$work/out"; }

# --- denied, with a suggestion that works ------------------------------------------------
set -- --kind referral --to IDN.POLRI.fp1 --subject-role victim \
    --section amber --categories personal_identifiers,victim_identity
expect 1 "victim data to Indonesia for an investigation is denied" THA.RTP.fp1 can-share "$@" \
    --purpose investigation
contains "$work/out" "NO (no_agreement)" "denied in words, with the code"
contains "$work/out" "To share it lawfully" "suggestions are offered"
contains "$work/out" "then agreement IDN-THA-NRM-2024 covers it" "the agreement is named"
contains "$work/out" "^No: 1 of 1" "the verdict is no"
suggested=$(grep -o -- '--purpose [a-z_]*' "$work/out" | head -n 1)
[ -n "$suggested" ] || fail "no --purpose suggestion in the answer"
expect 1 "the denial as JSON" THA.RTP.fp1 can-share --json "$@" --purpose investigation
jq -e '.decisions | length == 1 and .[0].allow == false and .[0].code == "no_agreement"
       and (.[0] | has("rule") | not) and (.[0].reason | length) > 0' "$work/out" >/dev/null ||
    { fail "denied JSON is the explain contract"; cat "$work/out"; }
# Following the suggestion: $suggested is "--purpose WORD", two words on purpose.
# shellcheck disable=SC2086
expect 0 "the suggested change makes it lawful" THA.RTP.fp1 can-share "$@" $suggested
contains "$work/out" "YES, rule focal-points-platform, under agreement IDN-THA-NRM-2024" \
    "allowed under the agreement"
# shellcheck disable=SC2086
expect 0 "and the JSON agrees" THA.RTP.fp1 can-share --json "$@" $suggested
jq -e '.decisions[0].allow == true and .decisions[0].agreement == "IDN-THA-NRM-2024"' \
    "$work/out" >/dev/null || { fail "JSON after the suggestion"; cat "$work/out"; }

# A forbid rule (non-punishment: no victim data to prosecutors for an investigation): only
# changes that the policy then allows are offered.
expect 1 "victim data to a prosecutor is forbidden" THA.RTP.fp1 can-share "$@" \
    --purpose investigation --to THA.OAG.pros1
contains "$work/out" "NO (forbidden, rule nonpunishment-victim-data)" "forbid rule named"
lacks "$work/out" "purpose really is investigation" "never suggests what was asked"

# From a draft file, to an agency (every principal of it in the directory).
cat >"$work/draft.yaml" <<'YAML'
kind: referral
audience: direct
recipients: [IDN.POLRI]
purpose: return_reintegration
subject_role: victim
sections:
  - id: 1
    tlp: amber
    content: {referral: {reason: r, persons: [{role: victim, name: A}]}}
YAML
expect 0 "a draft file, to an agency" THA.RTP.fp1 can-share --draft "$work/draft.yaml"
contains "$work/out" "^IDN.POLRI.fp1:" "the agency's principal is asked about"
contains "$work/out" "personal_identifiers, victim_identity): YES" "derived labels are asked"
expect 2 "a draft file and options" THA.RTP.fp1 can-share --draft "$work/draft.yaml" --consent
contains "$work/err" "give either --draft FILE or the message's options, not both" "says why"
# --to says whom to ask about for any audience: a taskforce message to a member, and to an
# officer outside the taskforce.
expect 0 "a taskforce message, asked about a member" THA.RTP.fp1 can-share --audience taskforce \
    --taskforce OP-MEKONG-SCAM --to IDN.POLRI.fp1 --section green --categories operational
contains "$work/out" "(audience taskforce)" "the audience is the taskforce's"
contains "$work/out" "YES, rule taskforce-members" "a member may receive it"
expect 1 "a taskforce message, asked about an outsider" THA.RTP.fp1 can-share \
    --audience taskforce --taskforce BKK-LIAISON-CELL --to MYS.RMP.fp1 --section green \
    --categories operational
contains "$work/out" "NO (audience_mismatch)" "an outsider may not"
expect 2 "an agency nobody is in" THA.RTP.fp1 can-share --to NZL.NZP --section green \
    --categories operational
contains "$work/err" "NZL.NZP is not a principal or agency of the directory" "unknown recipient"
expect 2 "a principal the directory does not hold (as send and alert: exit 2)" THA.RTP.fp1 \
    can-share --to XXX.NOPE.fp1 --section green --categories operational
contains "$work/err" "can-share: XXX.NOPE.fp1 is not a principal or agency of the directory" \
    "the unknown principal is named"

# Consent: victim data to social services needs the victim's recorded consent.
set -- --kind referral --to THA.DSDW.sw1 --purpose victim_protection --subject-role victim \
    --section amber --categories victim_identity
expect 1 "victim data to social services without consent" THA.RTP.fp1 can-share "$@"
contains "$work/out" "NO (forbidden, rule victim-consent-ngo-social-services)" "consent rule named"
contains "$work/out" "record the subject's consent, if it has been given: --consent" \
    "recording consent is suggested"
expect 0 "with consent recorded it may go" THA.RTP.fp1 can-share "$@" --consent
contains "$work/out" "YES, rule victim-protection-services" "allowed with consent"

# --- route audience: the broker finds the recipients --------------------------------------
expect 0 "a liaison officer follows the route" MYS.RMP.lo1 subscribe 'mmr>**>mys' \
    --stage at_border --kind case_alert
expect 0 "a second subscription" MYS.RMP.lo1 subscribe 'LKA:CMB>**'
expect 2 "an empty --stage is not 'all stages'" MYS.RMP.lo1 subscribe 'LKA:CMB>**' --stage ''
contains "$work/err" "--stage names no stage" "the empty limit is named"
expect 0 "a focal point follows the route too" MYS.RMP.fp1 subscribe 'MMR>**'
expect 0 "subscriptions lists them" MYS.RMP.lo1 subscriptions
contains "$work/out" "MMR>\*\*>MYS" "the first pattern is listed"
contains "$work/out" "at_border" "with its stage"
expect 0 "subscriptions as JSON" MYS.RMP.lo1 subscriptions --json
jq -e '.subscriptions | length == 2 and .[0].pattern == "MMR>**>MYS"
       and .[0].stages == ["at_border"] and .[0].kinds == ["case_alert"]
       and .[1].pattern == "LKA:CMB>**" and .[1].stages == []' "$work/out" >/dev/null ||
    { fail "subscriptions JSON"; cat "$work/out"; }
expect 0 "another principal has none" IDN.POLRI.fp1 subscriptions --json
jq -e '.subscriptions == []' "$work/out" >/dev/null || fail "subscriptions are per principal"

expect 1 "an amber section on a route is denied to the liaison officer" THA.RTP.fp1 can-share \
    --route 'MMR>THA>MYS' --stage at_border --section green --categories operational \
    --section amber --categories operational
contains "$work/out" "MYS.RMP.lo1:" "the route follower is asked about"
contains "$work/out" "section 1 (tlp green; operational): YES, rule route-alerts-liaison-officers" \
    "green goes on the route"
contains "$work/out" "section 2 (tlp amber; operational): NO (tlp_audience)" "amber does not"
contains "$work/out" "address it directly to this recipient: --to MYS.RMP.fp1" \
    "the focal point may get it directly"
# The TLP reason points to named recipients, a taskforce or focal points; for the liaison officer
# none of those it can ask about helps, and the verdict says so instead of contradicting it.
contains "$work/out" "nor addressing it to MYS.RMP.lo1 by name (denied too: no_permit), nor to the focal points (denied too: audience_mismatch); leave section 2 out for this recipient" \
    "the verdict says what the other audiences leave"
contains "$work/out" "A taskforce message was not asked about: --audience taskforce --taskforce ID --to MYS.RMP.lo1" \
    "and how to ask about a taskforce"
lacks "$work/out" "No change of agreement, consent, audience or purpose" "no verdict the reason contradicts"
expect 0 "addressed directly, the focal point may get the amber section" THA.RTP.fp1 can-share \
    --to MYS.RMP.fp1 --route 'MMR>THA>MYS' --stage at_border --section amber \
    --categories operational
contains "$work/out" "(audience direct)" "--to makes it direct"

expect 0 "unsubscribe" MYS.RMP.lo1 unsubscribe 'LKA:CMB>**'
expect 0 "the list follows" MYS.RMP.lo1 subscriptions --json
jq -e '.subscriptions | length == 1' "$work/out" >/dev/null || fail "unsubscribe is listed"
expect 1 "unsubscribing again: no such subscription" MYS.RMP.lo1 unsubscribe 'LKA:CMB>**'
contains "$work/err" "no such subscription" "the broker's reason is shown"

# --- an exercise's route: its subscribers are not shown to a sender outside it -------------
# IDN.POLRI and THA.RTP take part in EX-2026-11, MYS.RMP does not. A non-participant's PREPARE
# for the exercise's route lists no one (its subscriber was listed as denied for
# exercise_segregation, which named it); a participant's lists the subscriber (denied here by the
# route rules, which only liaison officers follow: no_permit); one named by its
# id is listed with its denial, as the contract says.
expect 0 "a participant follows a route in the exercise" IDN.POLRI.fp1 subscribe 'MMR>**' \
    --exercise EX-2026-11
expect 1 "a non-participant asks about the exercise's route" MYS.RMP.fp1 can-share \
    --route 'MMR>THA>MYS' --exercise EX-2026-11 --section green --categories operational
lacks "$work/out" "IDN.POLRI.fp1" "the exercise's subscriber shown to a non-participant"
lacks "$work/err" "IDN.POLRI.fp1" "the exercise's subscriber shown to a non-participant"
expect 1 "the same as JSON" MYS.RMP.fp1 can-share --json \
    --route 'MMR>THA>MYS' --exercise EX-2026-11 --section green --categories operational
lacks "$work/out" "IDN.POLRI.fp1" "the exercise's subscriber shown to a non-participant (JSON)"
expect 1 "a participant asks about the exercise's route" THA.RTP.fp1 can-share \
    --route 'MMR>THA>MYS' --exercise EX-2026-11 --section green --categories operational
contains "$work/out" "IDN.POLRI.fp1:" "the exercise's subscriber is shown to a participant"
expect 1 "a non-participant names the subscriber itself" MYS.RMP.fp1 can-share \
    --to IDN.POLRI.fp1 --exercise EX-2026-11 --section green --categories operational
contains "$work/out" "exercise_segregation" "a recipient named by its id is listed with its code"

grep -q "Sanitizer\|runtime error" "$work/broker.log" && fail "broker sanitizer report"
finish agent_canshare
