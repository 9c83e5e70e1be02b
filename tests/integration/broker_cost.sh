#!/bin/sh
# What one principal can make the broker's only thread do is bounded by its rate limit, charged
# by cost: an EXPLAIN by its (section, recipient) decisions, a PREPARE by the decisions its
# resolved audience will take, a PUBLISH by its wrapped keys (a section to a recipient), one
# token per 25 (server.c, DECISIONS_PER_TOKEN), each frame one at least. A principal past its budget is refused rate_limited (logged and audited as any
# frame over the limit), its cheap frames still go while its bucket holds them, and another
# principal is served throughout. A handler that holds the thread longer than
# limits.slow_frame is logged naming the principal and the frame's type.
# The bucket (rate 1/h: nothing refills while this runs, burst 700) goes:
#   EXPLAIN 1024x16 (16,384 decisions, 656 tokens)  700 -> 44   answered (and slow: over 1 ms)
#   PREPARE of THA.RTP, 16 sections x 10 candidates (160 decisions, 7 tokens)  44 -> 37  answered
#   EXPLAIN 20x16 (320 decisions, 13 tokens)        37 -> 24 -> 11, then refused (11 < 13)
#   EXPLAIN 5x16 (4 tokens)                         10 -> 6     answered
#   PREPARE of THA.RTP (7 tokens)                   refused (6 < 7)
#   EXPLAIN 1x1 (1 token)                           5 -> 4      answered
#   EXPLAIN 1024x16 (656 tokens)                    refused (4 < 350, half the burst): 3 left
#   PUBLISH 16 sections x 5 recipients (80 decisions, 4 tokens)  refused (3 < 4), not stored
#   PUBLISH 16 sections x 3 recipients (48 decisions, 2 tokens)  2 -> 0  accepted
# Counting frames alone, as the limiter did, every one of these was answered.
# A PUBLISH to the audience focal_points is charged for its candidates too (16 sections x the 15
# other focal points, resolved by the broker, plus its 16 wrapped keys: 256 decisions, 11
# tokens), from IDN.POLRI.u1's own bucket:
#   EXPLAIN 1024x16, 20x16 twice, 5x16             700 -> 14
#   PUBLISH focal_points, 16 sections, 1 key each   14 -> 3   accepted
#   the same again                                  refused (3 < 11): 2 left
#   PUBLISH direct, 16 sections, 1 key each (1 token)  2 -> 1  accepted
# Charging its wrapped keys alone (1 token), the second focal_points PUBLISH was accepted.
set -u
. "$(dirname "$0")/../lib/broker.sh"
tools=${FUSION_TOOLS:?FUSION_TOOLS must name the directory of the test tools}
rogue=$tools/rogue
BROKER_EXTRA="limits: {rate: 1/h, burst: 700, slow_frame: 1ms}"
units=""
for i in 1 2 3 4 5 6 7 8 9 10; do units="$units THA.RTP.u$i:focal_point,police"; done
region_setup THA.RTP.fp1:focal_point,police IDN.POLRI.fp1:focal_point,police $units \
    IDN.POLRI.u1:focal_point,police IDN.POLRI.u2:focal_point,police \
    IDN.POLRI.u3:focal_point,police IDN.POLRI.u4:focal_point,police || exit 1
broker_start || exit 1
curve="--broker-cert $work/region/directory/RSO.FUSION.broker.cert --authority $work/region/authority.pub"
tha="--key $work/keys/THA.RTP.fp1.key $curve"

serving() { # the broker answers another principal
    "$rogue" --endpoint "$endpoint" --key "$work/keys/IDN.POLRI.fp1.key" $curve directory |
        grep -q "^DIRECTORY" || fail "$1: the broker stopped serving IDN.POLRI.fp1"
}
ask() { # name expected-answer-prefix rogue-args...
    local name=$1 want=$2 got
    shift 2
    got=$("$rogue" --endpoint "$endpoint" --timeout 30000 "$@" 2>&1)
    case "$got" in
    "$want"*) echo "$name: $got" ;;
    *) fail "$name: got '$got', expected '$want...'" ;;
    esac
    serving "$name"
}

ask "the largest EXPLAIN" "EXPLAINED 16384 decisions" $tha explain 1024x16
ask "a PREPARE of the agency" "PREPARED 16 sections, " $tha prepare-agency 16
ask "an EXPLAIN of 320 decisions" "EXPLAINED 320 decisions" $tha explain 20x16
ask "another EXPLAIN of 320 decisions" "EXPLAINED 320 decisions" $tha explain 20x16
ask "an EXPLAIN over the budget left" "ERROR rate_limited" $tha explain 20x16
ask "a cheaper EXPLAIN within it" "EXPLAINED 80 decisions" $tha explain 5x16
ask "a PREPARE over the budget left" "ERROR rate_limited" $tha prepare-agency 16
ask "an EXPLAIN of one decision" "EXPLAINED 1 decisions" $tha explain 1x1
ask "the largest EXPLAIN, over budget" "ERROR rate_limited" $tha explain 1024x16
# A PUBLISH is charged by its wrapped keys before any is decided: over the budget left it is
# REJECTED rate_limited (counting one token, it was accepted), and nothing of it is stored.
idn_keys="--to $work/keys/IDN.POLRI.fp1.key --also $work/keys/IDN.POLRI.u1.key"
idn_keys="$idn_keys --also $work/keys/IDN.POLRI.u2.key"
ask "a PUBLISH of 16 sections to 5 over the budget left" "REJECTED rate_limited" $tha $idn_keys \
    --also "$work/keys/IDN.POLRI.u3.key" --also "$work/keys/IDN.POLRI.u4.key" --sections 16 publish
ask "a PUBLISH of 16 sections to 3 within it" "ACCEPTED" $tha $idn_keys --sections 16 publish

# The candidates of a focal_points audience are charged as well as the keys (a route or
# taskforce audience's the same way, prepare_audience resolving them).
u1="--key $work/keys/IDN.POLRI.u1.key $curve"
fp1="--to $work/keys/IDN.POLRI.fp1.key --sections 16"
ask "IDN.POLRI.u1: the largest EXPLAIN" "EXPLAINED 16384 decisions" $u1 explain 1024x16
ask "IDN.POLRI.u1: an EXPLAIN of 320 decisions" "EXPLAINED 320 decisions" $u1 explain 20x16
ask "IDN.POLRI.u1: another EXPLAIN of 320 decisions" "EXPLAINED 320 decisions" $u1 explain 20x16
ask "IDN.POLRI.u1: an EXPLAIN of 80 decisions" "EXPLAINED 80 decisions" $u1 explain 5x16
ask "a focal_points PUBLISH of 16 sections within the budget" "ACCEPTED" $u1 $fp1 --focal-points publish
ask "the same PUBLISH again, over the budget left by its candidates" "REJECTED rate_limited" \
    $u1 $fp1 --focal-points publish
ask "a direct PUBLISH of the same 16 keys" "ACCEPTED" $u1 $fp1 publish

contains "$work/broker.log" "THA.RTP.fp1 is over its rate limit" "the refusals by cost are logged as rate_limited"
[ "$(grep -c "THA.RTP.fp1 is over its rate limit" "$work/broker.log")" -le 3 ] ||
    fail "every refusal by cost was logged: $(grep -c "THA.RTP.fp1 is over its rate limit" "$work/broker.log") lines"
contains "$work/broker.log" "IDN.POLRI.u1 is over its rate limit" "the refused focal_points PUBLISH is logged"
# The slow frame: 16,384 decisions take far more than 1 ms. Logged with the principal and type.
# The time has one decimal, so it never reads as the limit itself ("took 1 ms" against 1 ms).
wait_for 10 grep -q "THA.RTP.fp1's EXPLAIN took [0-9]*\.[0-9] ms of the broker's thread" "$work/broker.log" ||
    fail "the slow EXPLAIN was not logged: $(grep -i slow "$work/broker.log")"
audit() { "$FUSION_BIN/fusion-admin" audit export "$work/state/broker.db"; }
audit >"$work/audit.jsonl" 2>"$work/err.txt" || fail "audit export: $(cat "$work/err.txt")"
grep -q '"rate_limited"' "$work/audit.jsonl" || fail "no rate_limited audit entry for the refusals by cost"
accepted=$(jq -s '[.[] | select(.event == "accepted" and .actor == "THA.RTP.fp1")] | length' "$work/audit.jsonl")
[ "$accepted" = 1 ] || fail "THA.RTP.fp1 has $accepted accepted entries, not 1 (the PUBLISH within the budget)"
rejected=$(jq -s '[.[] | select(.event == "rejected")] | length' "$work/audit.jsonl")
[ "$rejected" = 0 ] || fail "the PUBLISH refused rate_limited was audited as rejected (remembered)"

# Refused EXERCISE_AUDIT_REQUESTs grow the audit trail as refusals over the rate limit do: a
# principal's first of each second is an entry (and a log line), the rest one entry per second
# with their count. 1 + 100 sent at once by a principal that is no trainer (each answered
# forbidden) are counted in full, in a handful of entries, not 101.
idn="--key $work/keys/IDN.POLRI.fp1.key $curve"
got=$("$rogue" --endpoint "$endpoint" $idn --save "$work/audit-request" exercise-audit EX-2026-11 2>&1)
case "$got" in
"ERROR forbidden: only a trainer"*) ;;
*) fail "an exercise audit request of a non-trainer: got '$got'" ;;
esac
got=$("$rogue" --endpoint "$endpoint" $idn --timeout 10000 flood 100 "$work/audit-request" 2>&1)
[ "$got" = "FLOOD 100: accepted 0, directory 0, rate_limited 0, other 100, no answer 0" ] ||
    fail "100 exercise audit requests at once: got '$got'"
refused_counted() { # the refusals the exercise_audit_refused entries account for
    audit | jq -s '[.[] | select(.event == "exercise_audit_refused") |
        (.details | if type == "string" then fromjson else . end | .refused // 1)] | add' 2>/dev/null
}
tries=0 # the tick reports the count within a second: polled as wait_for does
while [ "$(refused_counted)" != 101 ] && [ "$tries" -lt 100 ]; do
    sleep 0.1
    tries=$((tries + 1))
done
[ "$(refused_counted)" = 101 ] || fail "the refusal entries count $(refused_counted) refusals, not 101"
entries=$(audit | jq -s '[.[] | select(.event == "exercise_audit_refused")] | length')
[ "$entries" -le 20 ] || fail "101 refused exercise audit requests made $entries audit entries"
lines=$(grep -c "IDN.POLRI.fp1 was refused the audit trail" "$work/broker.log")
[ "$lines" -le 20 ] || fail "101 refused exercise audit requests made $lines log lines"
echo "101 refused exercise audit requests: $entries audit entries, $lines log lines"
# A count entry names the exercises asked for, each with its refusals: all of one here.
audit | jq -s -e '[.[] | select(.event == "exercise_audit_refused" and .actor == "IDN.POLRI.fp1") |
    (.details | if type == "string" then fromjson else . end) | select(.refused != null)] |
    length > 0 and all(.exercises == {"EX-2026-11": .refused} and .unlisted == null)' >/dev/null ||
    fail "a count entry does not name the exercise asked for with its count"
# Asking for six exercises in turn, a count entry names at most three, with their refusals, and
# counts the refusals for the others in unlisted ("and N more"), so the entry stays small.
# 120 frames at once cover all six within a second's count unless they spread over 18 seconds.
u3="--key $work/keys/IDN.POLRI.u3.key $curve" # a bucket of its own
asks=""
for ex in EX-A EX-B EX-C EX-D EX-E EX-F; do
    "$rogue" --endpoint "$endpoint" $u3 --save "$work/audit-$ex" exercise-audit "$ex" >/dev/null 2>&1
    asks="$asks $work/audit-$ex"
done
got=$("$rogue" --endpoint "$endpoint" $u3 --timeout 10000 flood 120 $asks 2>&1)
[ "$got" = "FLOOD 120: accepted 0, directory 0, rate_limited 0, other 120, no answer 0" ] ||
    fail "120 exercise audit requests for six exercises at once: got '$got'"
u3_refusals() { # the refusals of IDN.POLRI.u3 the entries account for
    audit | jq -s '[.[] | select(.event == "exercise_audit_refused" and .actor == "IDN.POLRI.u3") |
        (.details | if type == "string" then fromjson else . end | .refused // 1)] | add' 2>/dev/null
}
tries=0
while [ "$(u3_refusals)" != 126 ] && [ "$tries" -lt 100 ]; do
    sleep 0.1
    tries=$((tries + 1))
done
[ "$(u3_refusals)" = 126 ] || fail "the refusal entries count $(u3_refusals) refusals of six exercises, not 126"
audit | jq -s '[.[] | select(.event == "exercise_audit_refused" and .actor == "IDN.POLRI.u3") |
    (.details | if type == "string" then fromjson else . end) | select(.refused != null)]' \
    >"$work/u3-counts.json"
jq -e 'length > 0 and all((.exercises | length) <= 3 and
        ([.exercises | to_entries[] | .value] | add // 0) + (.unlisted // 0) == .refused and
        all(.exercises | keys[]; test("^EX-[A-F]$")))' "$work/u3-counts.json" >/dev/null ||
    fail "a count entry names more than three exercises, another id, or does not add up: $(cat "$work/u3-counts.json")"
jq -e 'any((.exercises | length) == 3 and .unlisted > 0)' "$work/u3-counts.json" >/dev/null ||
    fail "no count entry says how many more were refused for exercises it does not name: $(cat "$work/u3-counts.json")"
broker_stop || fail "the broker did not stop cleanly"
finish "cost: EXPLAIN, PREPARE and PUBLISH charged by their decisions, refused rate_limited past the budget while another principal is served; slow frames logged"
