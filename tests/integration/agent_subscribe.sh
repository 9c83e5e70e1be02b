#!/bin/sh
# Route subscriptions against a real broker with the example policy: subscribing again to a
# pattern replaces its stages and kinds, and subscribe says what they were and what they are now
# (or that nothing changed); a subscription for an exercise is refused (exit 3, one line: the
# code, then the broker's reason) for a principal that takes no part in it, with the same answer
# for an exercise the policy does not list, and nothing is stored then; a participant subscribes for it, apart
# from its live subscription to the same pattern.
# Usage: FUSION_BIN=build/bin sh tests/integration/agent_subscribe.sh   (from the repository root)
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

one_line() { # NAME: stderr is exactly one line
    [ "$(wc -l <"$work/err")" -eq 1 ] || { fail "$1: the error is not one line"; sed 's/^/    /' "$work/err"; }
}

# A principal holds at most limits.max_subscriptions (3 here).
BROKER_EXTRA='limits: {max_subscriptions: 3}'
region_setup MYS.RMP.lo1:liaison_officer,police THA.RTP.fp1:focal_point,police ||
    { echo "FAIL: region setup"; exit 1; }
broker_start || exit 1

# --- re-subscribing replaces the stages and kinds, and says so ------------------------------
expect 0 "subscribe with limits" MYS.RMP.lo1 subscribe 'mmr>**>mys' --stage at_border --kind case_alert
contains "$work/out" "^subscribed to MMR>\*\*>MYS$" "the first subscription"
lacks "$work/out" "replaced" "a new subscription replaces nothing"
expect 0 "subscribe again with other limits" MYS.RMP.lo1 subscribe 'MMR>**>MYS' --stage pre_travel
contains "$work/out" "^subscribed to MMR>\*\*>MYS$" "the subscription"
contains "$work/out" "replaced the subscription to the same pattern: it was stages at_border, kinds case_alert; it is now stages pre_travel, kinds all" \
    "subscribe says what it replaced"
expect 0 "subscriptions" MYS.RMP.lo1 subscriptions --json
jq -e '.subscriptions == [{"pattern": "MMR>**>MYS", "stages": ["pre_travel"], "kinds": [], "exercise": null}]' \
    "$work/out" >/dev/null || fail "the broker holds the new limits only: $(cat "$work/out")"
expect 0 "subscribe again with the same limits" MYS.RMP.lo1 subscribe 'MMR>**>MYS' --stage pre_travel
contains "$work/out" "unchanged: it was subscribed to already, with stages pre_travel, kinds all" \
    "subscribe says nothing changed"
# A subscription held already, as asked, changes nothing: no audit entry (the first and the
# replacement have one each), however often it is repeated.
entries() { # EVENT: the audit entries of MYS.RMP.lo1 for it
    "$FUSION_BIN/fusion-admin" audit export "$work/state/broker.db" |
        jq -s --arg e "$1" '[.[] | select(.event == $e and .actor == "MYS.RMP.lo1")] | length'
}
expect 0 "subscribe a third time with the same limits" MYS.RMP.lo1 subscribe 'MMR>**>MYS' --stage pre_travel
contains "$work/out" "unchanged" "subscribe says nothing changed, again"
[ "$(entries subscribed)" -eq 2 ] ||
    fail "a subscription repeated unchanged was audited: $(entries subscribed) subscribed entries, not 2"

# --- exercises: only one the policy lists, only for its participants -------------------------
expect 3 "a non-participant subscribes for an exercise" MYS.RMP.lo1 subscribe 'MMR>**>MYS' --exercise EX-2026-11
contains "$work/err" "subscribe: the broker refused the subscription: forbidden: MYS.RMP.lo1 is not a participant of exercise 'EX-2026-11'" \
    "the refusal names the principal and the exercise"
one_line "a non-participant"
expect 3 "an exercise the policy does not list" MYS.RMP.lo1 subscribe 'MMR>**>MYS' --exercise EX-NOPE
# The same answer as for an exercise the policy lists: it does not tell which exercises exist.
contains "$work/err" "subscribe: the broker refused the subscription: forbidden: MYS.RMP.lo1 is not a participant of exercise 'EX-NOPE' (the policy lists each exercise's participants; its traffic goes only between them)" \
    "the refusal of an unknown exercise is a non-participant's"
cp "$work/err" "$work/err-unknown"
expect 3 "a non-participant subscribes for a listed exercise, again" MYS.RMP.lo1 subscribe 'MMR>**>MYS' --exercise EX-2026-11
[ "$(sed 's/EX-2026-11/EX-NOPE/' "$work/err")" = "$(cat "$work/err-unknown")" ] ||
    fail "a listed and an unlisted exercise are refused differently: $(cat "$work/err") / $(cat "$work/err-unknown")"
one_line "an unknown exercise"
expect 0 "subscriptions after the refusals" MYS.RMP.lo1 subscriptions --json
jq -e '.subscriptions | length == 1 and .[0].exercise == null' "$work/out" >/dev/null ||
    fail "a refused subscription was stored: $(cat "$work/out")"
expect 0 "a participant subscribes for the exercise" THA.RTP.fp1 subscribe 'MMR>**' --exercise EX-2026-11 \
    --kind case_alert
contains "$work/out" "^subscribed to MMR>\*\* for exercise EX-2026-11$" "the exercise subscription"
expect 0 "the same pattern for live traffic" THA.RTP.fp1 subscribe 'MMR>**'
lacks "$work/out" "replaced" "a live subscription does not replace the exercise's"
expect 0 "both are held" THA.RTP.fp1 subscriptions --json
jq -e '.subscriptions | length == 2 and (map(.exercise) | sort) == [null, "EX-2026-11"]' "$work/out" \
    >/dev/null || fail "the exercise and the live subscription: $(cat "$work/out")"
expect 1 "unsubscribe from a pattern not subscribed to" MYS.RMP.lo1 unsubscribe 'LKA>**'
contains "$work/err" "unsubscribe: the broker refused to unsubscribe: not_found: no such subscription" \
    "the refusal in one line"
[ "$(entries unsubscribed)" -eq 0 ] ||
    fail "an unsubscribe from a pattern not held was audited: $(entries unsubscribed) entries"
one_line "no such subscription"

# --- at most max_subscriptions for one principal; a held pattern can still change -------------
expect 0 "a second subscription" MYS.RMP.lo1 subscribe 'LKA>**>MYS'
expect 0 "a third" MYS.RMP.lo1 subscribe 'BGD>**>MYS'
expect 3 "a fourth, over limits.max_subscriptions" MYS.RMP.lo1 subscribe 'NPL>**>MYS'
contains "$work/err" "limit: MYS.RMP.lo1 holds 3 route subscriptions, the most this broker keeps for one principal (limits: max_subscriptions)" \
    "the refusal names the limit"
one_line "over the limit"
expect 0 "a held pattern at the limit changes its stages" MYS.RMP.lo1 subscribe 'LKA>**>MYS' --stage at_border
contains "$work/out" "replaced the subscription to the same pattern" "a held pattern is replaced at the limit"
expect 0 "another principal is not counted with MYS" THA.RTP.fp1 subscribe 'NPL>**'
expect 0 "subscriptions at the limit" MYS.RMP.lo1 subscriptions --json
jq -e '.subscriptions | length == 3' "$work/out" >/dev/null || fail "over the limit: $(cat "$work/out")"
expect 0 "unsubscribe makes room" MYS.RMP.lo1 unsubscribe 'BGD>**>MYS'
expect 0 "then a new one is taken" MYS.RMP.lo1 subscribe 'NPL>**>MYS'

# --- a principal drops its own exercise subscription after the policy took it out ------------
# THA.RTP is no longer a participant of EX-2026-11: its subscription there never matches again,
# and it can still remove it (it used to be refused as a non-participant's, and stayed forever).
sed 's/participants: \[THA.RTP, /participants: [/' deploy/policy/bali-process.yaml >"$work/region/policy.yaml"
"$FUSION_BIN/fusion-admin" policy sign --region "$work/region" "$work/region/policy.yaml" >/dev/null ||
    fail "signing the policy without THA.RTP in EX-2026-11"
reloads=$(grep -c "reloaded policy" "$work/broker.log")
kill -HUP "$broker_pid"
wait_for 30 sh -c "[ \$(grep -c 'reloaded policy' '$work/broker.log') -gt $reloads ]" ||
    fail "the policy without THA.RTP in EX-2026-11 was not reloaded"
expect 3 "a former participant cannot subscribe again" THA.RTP.fp1 subscribe 'MYS>**' --exercise EX-2026-11
expect 0 "a former participant drops its exercise subscription" THA.RTP.fp1 unsubscribe 'MMR>**' --exercise EX-2026-11
expect 0 "its subscriptions" THA.RTP.fp1 subscriptions --json
jq -e '[.subscriptions[] | select(.exercise == "EX-2026-11")] | length == 0' "$work/out" >/dev/null ||
    fail "the exercise subscription is still held: $(cat "$work/out")"
expect 1 "dropping it again: no such subscription" THA.RTP.fp1 unsubscribe 'MMR>**' --exercise EX-2026-11
expect 1 "an exercise the policy does not list holds nothing either" THA.RTP.fp1 unsubscribe 'MMR>**' --exercise EX-NOPE
contains "$work/err" "not_found: no such subscription" "not_found, whatever the exercise"

grep -q -e 'Sanitizer' -e 'runtime error' "$work/broker.log" && fail "sanitizer report in the broker log"
finish agent_subscribe
