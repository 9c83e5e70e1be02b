#!/bin/sh
# Agent commands that stop on what they decide locally open no connection to the broker: a
# connection closed before its CURVE handshake completes is, for the broker, a refused one (a
# "did not complete a CURVE handshake" line, an auth_refused audit entry, fusion-admin status
# "N refused"), a false alarm for the operators who watch refusals (operator-guide §6, §8). Each
# command below stops so (flush of an empty outbox, or of an expired entry only; reshare-request
# and a second reshare-grant refused by the agent's checks; audit-consistency on a kept checkpoint
# that does not verify; exercise run refused before it starts), then one deliberately refused
# key (an unknown CURVE key) is the only refusal the broker logs, audits and counts.
# Usage: FUSION_BIN=build/bin FUSION_TOOLS=build/tools sh tests/integration/agent_handshakes.sh
set -u
command -v jq >/dev/null || { echo "FAIL: jq is needed"; exit 1; }
command -v sqlite3 >/dev/null || { echo "FAIL: sqlite3 is needed to read the audit trail"; exit 1; }
. "$(dirname "$0")/../lib/broker.sh"
rogue=${FUSION_TOOLS:?FUSION_TOOLS must name the directory of the test tools}/rogue

BROKER_EXTRA="metrics: 127.0.0.1:0"
region_setup THA.RTP.fp1:focal_point,police IDN.POLRI.fp1:focal_point,police \
    MYS.RMP.fp1:focal_point,police NZL.NZP.tr1:trainer || { echo "FAIL: region setup"; exit 1; }
broker_start || exit 1

msg_id() { sed -n 's/^accepted: msg_id \([0-9a-f]*\).*/\1/p' "$work/out.txt" | tail -n 1; }
receive() { # ID: one message arrives
    agent "$1" listen --count 1 --timeout 20 >/dev/null 2>"$work/listen.err" ||
        { fail "$1 did not receive the message"; sed 's/^/    /' "$work/listen.err"; }
}

# --- flush: an empty outbox ------------------------------------------------------------------
check "flush of an empty outbox" 0 agent THA.RTP.fp1 flush
contains "$work/out.txt" "the outbox is empty" "flush says the outbox is empty"

# --- reshare-request and reshare-grant refused by the agent ------------------------------------
cat >"$work/red.yaml" <<'YAML'
kind: case_alert
audience: direct
recipients: [IDN.POLRI.fp1]
purpose: investigation
sections:
  - {id: 1, tlp: red, categories: operational, text: "The next group leaves on Friday."}
YAML
check "send a TLP:RED alert" 0 agent THA.RTP.fp1 send "$work/red.yaml" --yes
red=$(msg_id)
receive IDN.POLRI.fp1
check "a request for the originator" 2 agent IDN.POLRI.fp1 reshare-request "$red" --to THA.RTP.fp1
contains "$work/err.txt" "the originator of message $red" "the request for the originator: why"
check "a request for the requester" 2 agent IDN.POLRI.fp1 reshare-request "$red" --to IDN.POLRI.fp1
contains "$work/err.txt" "the requester itself" "the request for the requester: why"
check "a request" 0 agent IDN.POLRI.fp1 reshare-request "$red" --to MYS.RMP.fp1
request=$(msg_id)
receive THA.RTP.fp1
check "the grant" 0 agent THA.RTP.fp1 reshare-grant "$request"
check "the same grant again" 2 agent THA.RTP.fp1 reshare-grant "$request"
contains "$work/err.txt" "was granted already" "the second grant: why"

# --- flush: only an entry that expired in the outbox --------------------------------------------
# Queued while the broker cannot be reached (a configuration naming a port nobody listens on),
# then expired in the mailbox: the flush refuses it here, with nothing to send.
check "flush of another empty outbox" 0 agent MYS.RMP.fp1 flush # writes its configuration
sed 's|^broker: .*|broker: tcp://127.0.0.1:1|' "$work/agent-MYS.RMP.fp1.yaml" >"$work/nowhere.yaml"
direct_draft "$work/queued.yaml" THA.RTP.fp1 "Queued, then expired."
check "a send that queues" 5 "$agent" send "$work/queued.yaml" --yes --timeout 1 --config "$work/nowhere.yaml"
sqlite3 "$work/state/agent-MYS.RMP.fp1/mailbox.db" "UPDATE outbox SET expires_at = 1 WHERE state = 'queued'" ||
    fail "could not expire the queued entry"
check "flush of an expired entry" 3 agent MYS.RMP.fp1 flush
contains "$work/out.txt" "rejected: .*expired" "the flush rejects the expired entry"

# --- audit-consistency on a kept checkpoint that does not verify --------------------------------
mkdir -p "$work/state/agent-THA.RTP.fp1"
echo "00 00" >"$work/state/agent-THA.RTP.fp1/audit-checkpoints"
check "audit-consistency on a damaged kept checkpoint" 1 agent THA.RTP.fp1 audit-consistency
contains "$work/err.txt" "does not verify" "audit-consistency: why"

# --- exercise run refused before it starts ------------------------------------------------------
agent NZL.NZP.tr1 flush >/dev/null 2>&1 # writes the trainer's configuration
check "exercise run --resume without progress" 2 "$agent" exercise run deploy/exercises/lao-route-shift.yaml \
    --region "$work/region" --config "$work/agent-NZL.NZP.tr1.yaml" --state "$work/ex" --resume --wait 5
sed 's/EX-LAO-ROUTE-SHIFT/EX-NOT-LISTED/' deploy/exercises/lao-route-shift.yaml >"$work/unlisted.yaml"
check "exercise run of an exercise the policy does not list" 2 "$agent" exercise run "$work/unlisted.yaml" \
    --region "$work/region" --config "$work/agent-NZL.NZP.tr1.yaml" --state "$work/ex2" --wait 5
contains "$work/err.txt" "is not listed in the policy" "the unlisted exercise: why"

# --- what the broker saw -------------------------------------------------------------------------
# One refusal on purpose, after all of the above: once the broker has logged it, it has seen
# every connection before it, and it is the only refusal there may be.
"$rogue" --endpoint "$endpoint" --timeout 1500 --unknown-key \
    --broker-cert "$work/region/directory/RSO.FUSION.broker.cert" \
    --authority "$work/region/authority.pub" directory >/dev/null 2>&1
wait_for 10 grep -q "its CURVE key is not an enrolled, valid principal" "$work/broker.log" ||
    fail "the broker did not log the unknown key's refusal"
if grep -q "did not complete a CURVE handshake" "$work/broker.log"; then
    fail "an agent command closed a connection before its handshake completed:"
    grep "refused a connection" "$work/broker.log" | sed 's/^/    /'
fi
refused=$(sqlite3 -readonly "$work/state/broker.db" "SELECT count(*) FROM audit WHERE event = 'auth_refused'")
[ "$refused" = 1 ] || fail "$refused auth_refused entries in the audit trail, expected 1 (the unknown key's)"
check "fusion-admin status" 0 "$admin" status --config "$work/broker.yaml" --json
counted=$(jq -r '.. | objects | .auth_refused? // empty' "$work/out.txt" | head -n 1)
[ "$counted" = 1 ] || fail "fusion-admin status counts $counted refused, expected 1: $(cat "$work/out.txt")"

finish agent_handshakes
