#!/bin/sh
# Bursts of PUBLISHes from several principals at once, so the broker handles them in large groups
# and checks their signatures on its verify pool: valid messages, forged signatures and headers
# naming another sender, mixed. Each gets its own right answer, each sender's answers come back in
# the order it published, and the valid ones are delivered once. With workers: 2 (the pool) and
# workers: 1 (all inline), which must answer alike.
set -u
. "$(dirname "$0")/../lib/broker.sh"
burst=${FUSION_TOOLS:?FUSION_TOOLS must name the directory of the test tools}/burst

senders="THA.RTP.fp1 MYS.RMP.fp1 AUS.AFP.fp1 LKA.CID.fp1"
specs="IDN.POLRI.fp1:focal_point,police"
for id in $senders; do specs="$specs $id:focal_point,police"; done
BROKER_EXTRA="workers: 2" region_setup $specs || exit 1
keys=""
for id in $senders; do keys="$keys $work/keys/$id.key"; done
curve="--broker-cert $work/region/directory/RSO.FUSION.broker.cert --authority $work/region/authority.pub"
count=60

accepted=0
run_burst() { # label
    local out n logged
    out=$("$burst" --endpoint "$endpoint" $curve --to "$work/keys/IDN.POLRI.fp1.key" \
        --count $count $keys 2>&1) || fail "$1: $out"
    case "$out" in ok:*) ;; *) fail "$1: $out" ;; esac
    echo "$1: $out"
    # Each ACCEPTED comes after its commit, and the group's log lines are written before it: by
    # now the log names every message accepted so far, once.
    n=$(echo "$out" | sed -n 's/.* \([0-9]*\) accepted,.*/\1/p')
    accepted=$((accepted + n))
    logged=$(grep -c "accepted [0-9a-f]* from" "$work/broker.log")
    [ "$logged" -eq "$accepted" ] || fail "$1: the log names $logged accepted messages, not $accepted"
}

broker_start || exit 1
grep -q "verifying signatures on 2 threads" "$work/broker.log" || fail "workers: 2 was not applied"
run_burst "workers: 2"
run_burst "workers: 2, again"
broker_stop || fail "the broker did not stop cleanly"

sed -i 's/^workers: 2$/workers: 1/' "$work/broker.yaml"
broker_start || exit 1
grep -q "verifying signatures on 1 threads" "$work/broker.log" || fail "workers: 1 was not applied"
run_burst "workers: 1"

# Every valid message was stored once and reaches the recipient.
valid=$(grep -c "accepted [0-9a-f]* from" "$work/broker.log")
[ "$valid" -gt 0 ] || fail "nothing was accepted"
agent IDN.POLRI.fp1 listen --json --count "$valid" --timeout 20 >"$work/got.json" 2>/dev/null
got=$(grep -c . "$work/got.json")
[ "$got" -eq "$valid" ] || fail "the recipient got $got of $valid accepted messages"
broker_stop || fail "the broker did not stop cleanly"

# A workers value out of range is refused with its position.
sed -i 's/^workers: 1$/workers: 65/' "$work/broker.yaml"
"$FUSION_BIN/fusion-broker" --config "$work/broker.yaml" --check >"$work/check.out" 2>&1 &&
    fail "workers: 65 was accepted"
grep -q "broker.yaml:[0-9]*:[0-9]*:.*workers" "$work/check.out" || fail "no positioned error for workers: 65: $(cat "$work/check.out")"
finish "batch: mixed PUBLISH bursts from several senders answered right and in order, pool and inline"
