#!/bin/sh
# The REFERRALS answer carries at most 1000 referrals: those awaiting an answer come first, so a
# flood of closed referrals to an agency, all changed after it, never hides a genuine referral
# that still waits for one, and the agent says when the list was cut ('showing the first 1000 of
# more referrals', on stderr with --json). Sending 1000 real referrals takes about 40 s: the flood
# is written into the stopped broker's store with sqlite3, as rows the broker tracks like any
# other (a referral's row outlives its message, so rows without a message are ordinary).
# Usage: FUSION_BIN=build/bin sh tests/integration/referral_list_limit.sh   (from the repository root)
set -u
command -v jq >/dev/null || { echo "FAIL: jq is needed"; exit 1; }
command -v sqlite3 >/dev/null || { echo "FAIL: sqlite3 is needed to write the flood"; exit 1; }
. "$(dirname "$0")/../lib/broker.sh"

region_setup THA.RTP.fp1:focal_point,police IDN.POLRI.fp1:focal_point,police \
    MYS.RMP.fp1:focal_point,police || { echo "FAIL: region setup"; exit 1; }
broker_start || exit 1

sed 's/"recipients": \["IDN.POLRI"\]/"recipients": ["IDN.POLRI.fp1"]/' tests/data/drafts/referral.json \
    >"$work/referral.json"
agent THA.RTP.fp1 send "$work/referral.json" --yes >"$work/send.out" 2>&1 || fail "send: $(cat "$work/send.out")"
genuine=$(sed -n 's/^accepted: msg_id \([0-9a-f]*\).*/\1/p' "$work/send.out" | tail -n 1)
[ -n "$genuine" ] || fail "send printed no msg_id"

# Under the limit, nothing is said about a cut.
agent IDN.POLRI.fp1 referrals --all >"$work/few.txt" 2>&1 || fail "referrals: $(cat "$work/few.txt")"
contains "$work/few.txt" "^$genuine " "the genuine referral is listed"
lacks "$work/few.txt" "showing the first" "a list that was not cut"

# The flood: 1000 referrals from MYS.RMP.fp1 to IDN.POLRI, closed, each changed after the genuine.
broker_stop || fail "the broker did not stop"
now=$(($(date +%s) * 1000))
sqlite3 "$work/state/broker.db" "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000)
    INSERT INTO referrals (msg_id, agency, sender, urgency, state, deadline, escalated, updated_at, exercise)
    SELECT randomblob(16), 'IDN.POLRI', 'MYS.RMP.fp1', 2, 7, $now + 3600000, 0, $now + 60000 + i, '' FROM n" ||
    fail "could not write the flood"
broker_start || exit 1

agent IDN.POLRI.fp1 referrals --all --json >"$work/all.json" 2>"$work/all.err" ||
    fail "referrals --all --json: $(cat "$work/all.err")"
[ "$(jq length "$work/all.json")" = 1000 ] || fail "the answer is not cut at 1000: $(jq length "$work/all.json")"
[ "$(jq -r '.[0].msg_id' "$work/all.json")" = "$genuine" ] ||
    fail "the genuine referral awaiting an answer is not first: $(jq -c '.[0]' "$work/all.json")"
contains "$work/all.err" "showing the first 1000 of more referrals" "--json says on stderr that the list was cut"
agent IDN.POLRI.fp1 referrals >"$work/open.txt" 2>&1 || fail "referrals: $(cat "$work/open.txt")"
contains "$work/open.txt" "^$genuine  received" "the open list shows the genuine referral"
contains "$work/open.txt" "^showing the first 1000 of more referrals: the broker answers at most 1000" \
    "the open list says it was cut"
[ "$(grep -c '^[0-9a-f]\{32\} ' "$work/open.txt")" = 1 ] || fail "the open list: $(head -n 5 "$work/open.txt")"
# The sender sees only its own referral: nothing cut.
agent THA.RTP.fp1 referrals --all --json >"$work/tha.json" 2>"$work/tha.err" || fail "THA referrals"
[ "$(jq length "$work/tha.json")" = 1 ] || fail "THA's list: $(cat "$work/tha.json")"
lacks "$work/tha.err" "showing the first" "THA's list that was not cut"

grep -q -e 'Sanitizer' -e 'runtime error' "$work/broker.log" && fail "sanitizer report in the broker log"
[ "$failures" -gt 0 ] && tail -n 30 "$work/broker.log"
finish referral_list_limit
