#!/bin/sh
# The exercise segregation of the referral list (REFERRALS): a trainee of Thai police refers a
# victim to an Indonesian trainee in exercise EX-2026-11, and again in live traffic. Another
# Indonesian focal point, live and no participant of the exercise, lists the referrals to its
# agency: the live one only, nothing of the exercise's (not its msg_id). The trainees, recipient
# and sender, see both, the exercise's marked (a line 'exercise EX-2026-11', "exercise" in
# --json, null for the live one). A simulated principal of the agency sees neither (live traffic
# never reaches it, and it takes no part in the exercise). A live referral_response from the
# outsider to the exercise's referral is refused as for an unknown referral and changes nothing;
# one from the trainee outside the exercise is refused, naming both. An older agent, which does
# not ask for the exercise (its codec refuses a field it does not know), gets the same referrals
# without it.
# Usage: FUSION_BIN=build/bin sh tests/integration/exercise_referrals.sh   (from the repository root)
set -u
command -v jq >/dev/null || { echo "FAIL: jq is needed"; exit 1; }
command -v sqlite3 >/dev/null || { echo "FAIL: sqlite3 is needed to read the store"; exit 1; }
policy=$(mktemp "${TMPDIR:-/tmp}/fusion-exercise-referrals-policy-XXXXXX.yaml") || exit 2
# EX-2026-11 lists Indonesian police as a whole agency; here only its trainee takes part.
sed '/^  - id: EX-2026-11$/,/participants:/ s/\[THA.RTP, IDN.POLRI, /[THA.RTP, IDN.POLRI.fp1, /' \
    deploy/policy/bali-process.yaml >"$policy"
grep -q '\[THA.RTP, IDN.POLRI.fp1, ' "$policy" || { echo "FAIL: could not narrow the exercise"; exit 1; }
POLICY=$policy
. "$(dirname "$0")/../lib/broker.sh"
trap 'broker_kill; rm -rf "$work" "$policy"' EXIT

region_setup THA.RTP.fp1:focal_point,police IDN.POLRI.fp1:focal_point,police \
    IDN.POLRI.fp2:focal_point,police IDN.POLRI.sim5:focal_point,police,simulated ||
    { echo "FAIL: region setup"; exit 1; }
broker_start || exit 1
msg_id() { sed -n 's/^accepted: msg_id \([0-9a-f]*\).*/\1/p' "$1" | tail -n 1; }
# listed ID FILE: `referrals --all --json` as ID into FILE
listed() { check "$1 lists referrals" 0 agent "$1" referrals --all --json && cp "$work/out.txt" "$2"; }
# exercise_of FILE MSGID: the "exercise" of that referral in FILE ("absent" if not listed)
exercise_of() {
    jq -r --arg id "$2" '[.[] | select(.msg_id == $id)] | if length == 0 then "absent" else .[0].exercise end' "$1"
}
state_of() { sqlite3 -readonly "$work/state/broker.db" "SELECT state FROM referrals WHERE lower(hex(msg_id)) = '$1'"; }

jq '.recipients = ["IDN.POLRI.fp1"] | .sections = [.sections[0]]' tests/data/drafts/referral.json \
    >"$work/live.json"
jq '.exercise = "EX-2026-11"' "$work/live.json" >"$work/ex.json"
check "a live referral" 0 agent THA.RTP.fp1 send "$work/live.json" --yes
live=$(msg_id "$work/out.txt")
check "an exercise referral" 0 agent THA.RTP.fp1 send "$work/ex.json" --yes
ex=$(msg_id "$work/out.txt")
[ -n "$live" ] && [ -n "$ex" ] || { fail "the referrals printed no msg_id"; finish exercise_referrals; }
[ "$(sqlite3 -readonly "$work/state/broker.db" "SELECT exercise FROM referrals WHERE lower(hex(msg_id)) = '$ex'")" = EX-2026-11 ] ||
    fail "the broker does not track the referral's exercise"

# --- the outsider: the live referral, nothing of the exercise ---------------------------------
listed IDN.POLRI.fp2 "$work/fp2.json"
[ "$(exercise_of "$work/fp2.json" "$live")" = null ] || fail "the outsider does not see the live referral: $(cat "$work/fp2.json")"
[ "$(exercise_of "$work/fp2.json" "$ex")" = absent ] || fail "the outsider sees the exercise's referral: $(cat "$work/fp2.json")"
check "the outsider's table" 0 agent IDN.POLRI.fp2 referrals --all
contains "$work/out.txt" "^$live " "the outsider's table lists the live referral"
lacks "$work/out.txt" "$ex" "the outsider's table"
lacks "$work/out.txt" "EX-2026-11" "the outsider's table"

# --- the trainees: both, the exercise's marked ----------------------------------------------------
for who in IDN.POLRI.fp1 THA.RTP.fp1; do
    listed "$who" "$work/$who.json"
    [ "$(exercise_of "$work/$who.json" "$ex")" = EX-2026-11 ] ||
        fail "$who: the exercise referral is not listed as the exercise's: $(cat "$work/$who.json")"
    [ "$(exercise_of "$work/$who.json" "$live")" = null ] ||
        fail "$who: the live referral is not listed as live: $(cat "$work/$who.json")"
    check "$who's table" 0 agent "$who" referrals --all
    sed -n "/^$ex /{n;p}" "$work/out.txt" >"$work/marker.txt"
    contains "$work/marker.txt" "exercise EX-2026-11: not live traffic" "$who: the line under the exercise's referral"
    sed -n "/^$live /{n;p}" "$work/out.txt" >"$work/marker.txt"
    lacks "$work/marker.txt" "exercise" "$who: the line under the live referral"
done

# --- an older agent: its request does not ask for the exercise, which its codec would refuse -------
# (a REFERRALS_REQUEST frame, request_id 1, without and with with_exercise)
rogue() { # ID FRAME-BYTES (printf format)
    printf "$2" >"$work/request.bin"
    "$FUSION_TOOLS/rogue" --endpoint "$endpoint" --key "$work/keys/$1.key" \
        --broker-cert "$work/region/directory/RSO.FUSION.broker.cert" \
        --authority "$work/region/authority.pub" raw "$work/request.bin" 2>&1
}
[ "$(rogue IDN.POLRI.fp1 '\010\001\212\002\000')" = "REFERRALS 2 referrals, 0 marked with an exercise" ] ||
    fail "an older agent's answer: $(rogue IDN.POLRI.fp1 '\010\001\212\002\000')"
[ "$(rogue IDN.POLRI.fp1 '\010\001\212\002\002\010\001')" = "REFERRALS 2 referrals, 1 marked with an exercise" ] ||
    fail "a newer agent's answer: $(rogue IDN.POLRI.fp1 '\010\001\212\002\002\010\001')"
[ "$(rogue IDN.POLRI.fp2 '\010\001\212\002\000')" = "REFERRALS 1 referrals, 0 marked with an exercise" ] ||
    fail "an older agent's answer to the outsider: $(rogue IDN.POLRI.fp2 '\010\001\212\002\000')"

# --- a simulated principal of the agency: neither ------------------------------------------------
listed IDN.POLRI.sim5 "$work/sim5.json"
[ "$(jq length "$work/sim5.json")" -eq 0 ] || fail "the simulated principal sees referrals: $(cat "$work/sim5.json")"

# --- a response from outside the exercise changes nothing ------------------------------------------
forge() { # AS: a live referral_response (acknowledged) to the exercise's referral, to its sender
    "$FUSION_TOOLS/forge_workflow" --endpoint "$endpoint" --key "$work/keys/$1.key" \
        --to "$work/keys/THA.RTP.fp1.key" --broker-cert "$work/region/directory/RSO.FUSION.broker.cert" \
        --authority "$work/region/authority.pub" --in-reply-to "$ex" --status 2 referral_response \
        >"$work/forged" 2>&1
}
before=$(state_of "$ex")
forge IDN.POLRI.fp2
grep -q "^REJECTED invalid: message $ex is not a referral sent to your agency IDN.POLRI" "$work/forged" ||
    fail "the outsider's response is not refused as for an unknown referral: $(cat "$work/forged")"
lacks "$work/forged" "EX-2026-11" "the refusal to the outsider"
forge IDN.POLRI.fp1
grep -q "^REJECTED invalid: referral $ex is in exercise 'EX-2026-11', and this referral_response is live traffic" \
    "$work/forged" || fail "the trainee's live response is not refused naming both: $(cat "$work/forged")"
[ "$(state_of "$ex")" = "$before" ] || fail "a refused response changed the referral: $before -> $(state_of "$ex")"
# Nor does a live reshare_request about the exercise's referral leave the exercise.
"$FUSION_TOOLS/forge_workflow" --endpoint "$endpoint" --key "$work/keys/IDN.POLRI.fp1.key" \
    --to "$work/keys/THA.RTP.fp1.key" --broker-cert "$work/region/directory/RSO.FUSION.broker.cert" \
    --authority "$work/region/authority.pub" --in-reply-to "$ex" --reshare-to IDN.POLRI.fp2 \
    reshare_request >"$work/forged" 2>&1
grep -q "^REJECTED invalid: a reshare_request stays in the exercise of message $ex" "$work/forged" ||
    fail "a live reshare_request about an exercise's referral was not refused: $(cat "$work/forged")"
finish exercise_referrals
