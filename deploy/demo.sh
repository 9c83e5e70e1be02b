#!/bin/sh
# make demo: a throw-away Fusion region in BUILD/demo on loopback, narrated one line per step.
# The fusion centre enrols officers of six countries and signs the sharing policy; the broker
# starts; a Malaysian liaison officer follows a route; Thailand sends a route alert and a victim
# referral under the Indonesia-Thailand agreement; a disclosure the policy forbids is explained
# with the guideline and what would make it lawful; Indonesia acknowledges the referral; a trainer
# runs a short exercise on the same broker and gets its after-action report; the broker stops and
# its audit trail is verified.
# Usage: deploy/demo.sh BUILD_DIR
set -eu
build=${1:-build}
bin=$(cd "$build/bin" && pwd)
demo=$(mkdir -p "$build/demo" && cd "$build/demo" && pwd)
# A broker left running by an interrupted demo holds the database: stop it first.
[ -f "$demo/broker.pid" ] && kill "$(cat "$demo/broker.pid")" 2>/dev/null || true
rm -rf "${demo:?}"/*
mkdir -p "$demo/keys" "$demo/state"
log=$demo/demo.log
broker_pid=
runner_pid=
cleanup() {
    [ -n "$runner_pid" ] && kill "$runner_pid" 2>/dev/null
    [ -n "$broker_pid" ] && kill "$broker_pid" 2>/dev/null
    wait 2>/dev/null
    rm -f "$demo/broker.pid"
}
trap cleanup EXIT

n=0
step() { n=$((n + 1)); printf '\n[%d] %s\n' "$n" "$*"; }
run() { echo "\$ $*" >>"$log"; "$@"; }
quiet() { echo "\$ $*" >>"$log"; "$@" >>"$log" 2>&1; }
agent() { id=$1; cmd=$2; shift 2; run "$bin/fusion-agent" "$cmd" --config "$demo/$id.yaml" "$@"; }
die() { echo "demo: $*" >&2; exit 1; }
# wait_for SECONDS COMMAND...: polls every 0.1 s.
wait_for() {
    limit=$(($1 * 10)) tick=0
    shift
    until "$@" >/dev/null 2>&1; do
        tick=$((tick + 1))
        [ "$tick" -ge "$limit" ] && return 1
        sleep 0.1
    done
}
msg_id() { sed -n 's/^accepted: msg_id \([0-9a-f]*\).*/\1/p' "$1" | tail -n 1; }

step "The fusion centre creates a region: an authority key and an empty directory"
quiet "$bin/fusion-admin" init "$demo/region"

step "The broker and officers of six countries generate keys; only public halves leave their machines"
for spec in RSO.FUSION.broker:auditor THA.RTP.fp1:focal_point,police IDN.POLRI.fp1:focal_point,police \
    MYS.RMP.lo1:liaison_officer,police AUS.ABF.pros1:prosecution,focal_point \
    LKA.DIE.smpu1:focal_point,immigration NZL.NZP.tr1:trainer; do
    id=${spec%%:*}
    quiet "$bin/fusion-agent" keygen "$id" --dir "$demo/keys"
    quiet "$bin/fusion-admin" enroll --region "$demo/region" "$demo/keys/$id.request" --roles "${spec#*:}"
done
run "$bin/fusion-admin" directory --region "$demo/region"

step "The operator checks and signs the sharing policy (modelled on the Bali Process Outcome Statement)"
cp deploy/policy/bali-process.yaml "$demo/region/policy.yaml"
run "$bin/fusion-admin" policy sign --region "$demo/region" "$demo/region/policy.yaml"

step "The broker starts on loopback (CURVE, only enrolled keys admitted; metrics on a loopback port)"
port=$((20000 + $(od -An -N2 -tu2 /dev/urandom) % 10000))
cat >"$demo/broker.yaml" <<YAML
id: RSO.FUSION.broker
key: keys/RSO.FUSION.broker.key
region: region
policy: region/policy.yaml
database: state/broker.db
endpoint: tcp://127.0.0.1:$port
endpoint_file: state/endpoint
state_dir: state
metrics: 127.0.0.1:0
audit:
  checkpoint_interval: 5s
YAML
"$bin/fusion-broker" --config "$demo/broker.yaml" >"$demo/broker.log" 2>&1 &
broker_pid=$!
echo "$broker_pid" >"$demo/broker.pid"
wait_for 10 test -s "$demo/state/endpoint" || die "the broker did not start; see $demo/broker.log"
echo "    listening on $(cat "$demo/state/endpoint")"
for id in THA.RTP.fp1 IDN.POLRI.fp1 MYS.RMP.lo1 AUS.ABF.pros1 LKA.DIE.smpu1 NZL.NZP.tr1; do
    cat >"$demo/$id.yaml" <<YAML
id: $id
key: keys/$id.key
authority: region/authority.pub
broker: $(cat "$demo/state/endpoint")
broker_cert: region/directory/RSO.FUSION.broker.cert
state: state/$id
YAML
done

step "Malaysia's liaison officer follows every route from Myanmar to Malaysia"
agent MYS.RMP.lo1 subscribe 'MMR>**>MYS' --stage at_border,post_arrival

step "Thailand sends a route alert: a green summary for everyone following the route"
agent THA.RTP.fp1 alert --route 'MMR>THA>MYS' --stage at_border --purpose investigation \
    --subject-role suspect --section green \
    --summary "Recruiter moving workers MMR>THA>MYS by minivan; pick-up at Mae Sot bus station." \
    --indicator "groups of 6-10 young adults with one escort" --reliability B --accuracy 2 --yes

step "The liaison officer receives it, verified end to end"
agent MYS.RMP.lo1 listen --count 1 --timeout 10

step "Can Thailand send a victim's identity to Australia's prosecutor? The live policy says no, and why"
agent THA.RTP.fp1 can-share --kind referral --to AUS.ABF.pros1 --purpose prosecution \
    --subject-role victim --section red --categories operational,victim_identity,personal_identifiers ||
    true # can-share exits 1 when the answer is no

step "Thailand refers a victim to Indonesia under the IDN-THA victim-centred NRM agreement"
agent THA.RTP.fp1 refer --to IDN.POLRI.fp1 --purpose victim_protection --subject-role victim \
    --consent --agreement IDN-THA-NRM-2024 --urgency urgent \
    --section amber --reason "Indicators of trafficking for forced criminality at a scam compound" \
    --action "victim identification through Thailand's National Referral Mechanism" \
    --section red --reason "Identity of the victim (demo data)" \
    --person role=victim,name=Demo\ Person,nationality=IDN --yes | tee "$demo/referral.out"
referral=$(msg_id "$demo/referral.out")
[ -n "$referral" ] || die "the referral was not accepted"

step "Indonesia's focal point receives it and acknowledges it; the broker tracks the referral"
agent IDN.POLRI.fp1 listen --count 1 --timeout 10 >/dev/null
agent IDN.POLRI.fp1 respond "$referral" acknowledge
agent THA.RTP.fp1 listen --count 1 --timeout 10 >/dev/null
agent THA.RTP.fp1 referrals

step "A trainer runs a short exercise on the same broker: an at-border alert from Sri Lanka's airport SMPU"
"$bin/fusion-agent" exercise run deploy/exercises/smpu-visit-visa-alert.yaml --region "$demo/region" \
    --config "$demo/NZL.NZP.tr1.yaml" --speed 600 --state "$demo/exercise" \
    --play-trainees "$demo/keys" --wait 60 >"$demo/exercise.out" 2>"$demo/exercise.log" &
runner_pid=$!
# The runner enrols its simulated participants; the broker admits them when it reloads (SIGHUP).
wait_for 30 grep -q -e "not yet loaded" -e "at speed" "$demo/exercise.log" ||
    die "the exercise did not start; see $demo/exercise.log"
if grep -q "not yet loaded" "$demo/exercise.log"; then
    kill -HUP "$broker_pid"
fi
status=0
wait "$runner_pid" || status=$?
runner_pid=
[ "$status" -le 1 ] || die "the exercise run failed (exit $status); see $demo/exercise.log"
tail -n 12 "$demo/exercise.out"

step "The broker stops cleanly (SIGTERM: the commit in flight finishes, the audit tree is signed)"
kill -TERM "$broker_pid"
wait "$broker_pid"
broker_pid=

step "The audit trail verifies: every entry, the Merkle tree and every signed checkpoint"
run "$bin/fusion-admin" audit verify "$demo/state/broker.db" \
    --broker-cert "$demo/region/directory/RSO.FUSION.broker.cert" | tee "$demo/audit-verify.txt"

printf '\nDemo finished in %s.\n' "$demo"
printf '  logs:   %s (broker), %s (commands), %s (exercise)\n' "$demo/broker.log" "$log" \
    "$demo/exercise.log"
printf '  audit:  %s\n' "$demo/audit-verify.txt"
printf '  report: %s\n' "$demo/exercise/report/report.html"
