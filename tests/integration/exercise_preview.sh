#!/bin/sh
# What a live sender's preview (PREPARED) says about the simulated principals of an exercise,
# which stay enrolled after it: one the sender did not name, that came with an agency or the
# focal_points audience and is denied only because live traffic never reaches a simulated
# principal, is not listed (it takes no part in live traffic, as one outside a taskforce takes
# no part in it), and the audit trail still records the denial for the focal_points audience.
# Named by its id, it is listed with the denial; an agency with only simulated principals lists
# them, saying why nothing can go; a simulated sender's live draft is denied to everyone, and
# every denial is listed.
# Usage: FUSION_BIN=build/bin sh tests/integration/exercise_preview.sh   (from the repository root)
set -u
command -v jq >/dev/null || { echo "FAIL: jq is needed"; exit 1; }
command -v sqlite3 >/dev/null || { echo "FAIL: sqlite3 is needed to read the audit trail"; exit 1; }
. "$(dirname "$0")/../lib/broker.sh"

region_setup THA.RTP.fp1:focal_point,police IDN.POLRI.fp1:focal_point,police \
    IDN.POLRI.sim1:focal_point,police,simulated IDN.AGO.sim1:focal_point,prosecution,simulated ||
    { echo "FAIL: region setup"; exit 1; }
broker_start || exit 1
msg_id() { sed -n 's/^accepted: msg_id \([0-9a-f]*\).*/\1/p' "$1" | tail -n 1; }

# --- an agency: the simulated principal is not listed ---------------------------------------
jq '.sections = [.sections[0]]' tests/data/drafts/referral.json >"$work/agency.json" # to IDN.POLRI
check "a live referral to an agency" 0 agent THA.RTP.fp1 send "$work/agency.json" --yes
contains "$work/out.txt" "IDN.POLRI.fp1 (fingerprint" "the live officer is listed"
lacks "$work/out.txt" "sim1" "the preview of a referral to IDN.POLRI"
lacks "$work/out.txt" "will NOT receive" "the preview of a referral to IDN.POLRI"

# --- every focal point: not listed, and the audit trail keeps the denial --------------------------
cat >"$work/fp.yaml" <<'YAML'
kind: case_alert
audience: focal_points
purpose: prevention
sections:
  - {id: 1, tlp: green, categories: [operational], text: "Live alert to every focal point."}
YAML
check "a live alert to every focal point" 0 agent THA.RTP.fp1 send "$work/fp.yaml" --yes
fp=$(msg_id "$work/out.txt")
contains "$work/out.txt" "IDN.POLRI.fp1 (fingerprint" "the live focal point is listed"
lacks "$work/out.txt" "sim1" "the preview of an alert to every focal point"
[ -n "$fp" ] || fail "the alert printed no msg_id"
sqlite3 -readonly "$work/state/broker.db" \
    "SELECT details FROM audit WHERE event = 'accepted' AND lower(hex(msg_id)) = '$fp'" >"$work/accepted.json"
for sim in IDN.POLRI.sim1 IDN.AGO.sim1; do
    jq -e --arg r "$sim" '[.denied[] | select(.recipient == $r and .sections[0].code == "exercise_segregation")] | length == 1' \
        "$work/accepted.json" >/dev/null || fail "the audit trail does not keep the denial of $sim: $(cat "$work/accepted.json")"
done

# --- named by its id: listed with the denial ------------------------------------------------
direct_draft "$work/named.yaml" IDN.POLRI.sim1 "Live traffic must not reach a simulated principal."
check "a live alert to a simulated principal by its id" 3 agent THA.RTP.fp1 send "$work/named.yaml" --yes
contains "$work/out.txt" "IDN.POLRI.sim1: exercise_segregation" "the denial of the principal named"
direct_draft "$work/both.yaml" "IDN.POLRI, IDN.POLRI.sim1" "An agency and its simulated principal by id."
check "the agency and the simulated principal by its id" 0 agent THA.RTP.fp1 send "$work/both.yaml" --yes
contains "$work/out.txt" "IDN.POLRI.sim1: exercise_segregation" "the denial of the principal named beside its agency"

# --- an agency with only simulated principals: they say why nothing can go ----------------------
direct_draft "$work/ago.yaml" IDN.AGO "Live alert to an agency that has only simulated principals."
check "a live alert to an agency of simulated principals" 3 agent THA.RTP.fp1 send "$work/ago.yaml" --yes
contains "$work/out.txt" "IDN.AGO.sim1: exercise_segregation" "the denial that explains why nothing can go"
contains "$work/err.txt" "the policy allows no recipient" "the reason given"

# --- a simulated sender's live draft: every denial is listed ------------------------------------
direct_draft "$work/from-sim.yaml" "THA.RTP" "A simulated principal sends live traffic."
check "a live alert from a simulated principal" 3 agent IDN.POLRI.sim1 send "$work/from-sim.yaml" --yes
contains "$work/out.txt" "THA.RTP.fp1: exercise_segregation" "the denial of the simulated sender's live draft"
finish exercise_preview
