#!/bin/sh
# make demo: a throw-away Fusion region in BUILD/demo on loopback, narrated one line per step.
# The fusion centre enrols officers of four countries and signs the sharing policy; the broker
# starts; a Malaysian liaison officer follows a route; Thailand sends a route alert and a victim
# referral under the Indonesia-Thailand agreement; a section the policy does not allow is never
# sealed for that recipient, and the policy explains why in one sentence.
# Usage: deploy/demo.sh BUILD_DIR
set -eu
build=${1:-build}
bin=$(cd "$build/bin" && pwd)
demo=$(mkdir -p "$build/demo" && cd "$build/demo" && pwd)
# A broker left running by an interrupted demo holds the database: stop it first.
[ -f "$demo/broker.pid" ] && kill "$(cat "$demo/broker.pid")" 2>/dev/null || true
rm -rf "${demo:?}"/*
mkdir -p "$demo/keys" "$demo/state" "$demo/drafts"
log=$demo/demo.log
broker_pid=
cleanup() { [ -n "$broker_pid" ] && kill "$broker_pid" 2>/dev/null; wait 2>/dev/null; rm -f "$demo/broker.pid"; }
trap cleanup EXIT

n=0
step() { n=$((n + 1)); printf '\n[%d] %s\n' "$n" "$*"; }
run() { echo "\$ $*" >>"$log"; "$@"; }
quiet() { echo "\$ $*" >>"$log"; "$@" >>"$log" 2>&1; }
agent() { id=$1; cmd=$2; shift 2; run "$bin/fusion-agent" "$cmd" --config "$demo/$id.yaml" "$@"; }

step "The fusion centre creates a region: an authority key and an empty directory"
quiet "$bin/fusion-admin" init "$demo/region"

step "The broker and officers of four countries generate keys; only public halves leave their machines"
for spec in RSO.FUSION.broker:auditor THA.RTP.fp1:focal_point,police IDN.POLRI.fp1:focal_point,police \
    MYS.RMP.lo1:liaison_officer,police AUS.ABF.pros1:prosecution,focal_point; do
    id=${spec%%:*}
    quiet "$bin/fusion-agent" keygen "$id" --dir "$demo/keys"
    quiet "$bin/fusion-admin" enroll --region "$demo/region" "$demo/keys/$id.request" --roles "${spec#*:}"
done
run "$bin/fusion-admin" directory --region "$demo/region"

step "The operator checks and signs the sharing policy (modelled on the Bali Process Outcome Statement)"
cp deploy/policy/bali-process.yaml "$demo/region/policy.yaml"
run "$bin/fusion-admin" policy sign --region "$demo/region" "$demo/region/policy.yaml"

step "The broker starts on loopback (CURVE, only enrolled keys admitted)"
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
YAML
"$bin/fusion-broker" --config "$demo/broker.yaml" >"$demo/broker.log" 2>&1 &
broker_pid=$!
echo "$broker_pid" >"$demo/broker.pid"
i=0
while [ ! -s "$demo/state/endpoint" ]; do
    i=$((i + 1))
    if [ "$i" -gt 100 ] || ! kill -0 "$broker_pid" 2>/dev/null; then
        echo "demo: the broker did not start; see $demo/broker.log" >&2
        exit 1
    fi
    sleep 0.1
done
echo "    listening on $(cat "$demo/state/endpoint")"
for id in THA.RTP.fp1 IDN.POLRI.fp1 MYS.RMP.lo1 AUS.ABF.pros1; do
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

step "Thailand sends a route alert: a green summary for route followers, identities for no one on the route"
cat >"$demo/drafts/alert.yaml" <<'YAML'
kind: case_alert
audience: route
route: MMR>THA>MYS
stage: at_border
purpose: investigation
subject_role: suspect
sections:
  - id: 1
    tlp: green
    categories: [operational]
    text: "Recruiter moving workers MMR>THA>MYS by minivan; pick-up at Mae Sot bus station."
YAML
agent THA.RTP.fp1 send "$demo/drafts/alert.yaml" --yes

step "The liaison officer receives it, verified end to end"
agent MYS.RMP.lo1 listen --count 1 --timeout 10

step "Thailand refers a victim to Indonesia under the IDN-THA victim-centred NRM agreement, copying Australia's prosecutor"
cat >"$demo/drafts/referral.yaml" <<'YAML'
kind: referral
audience: direct
recipients: [IDN.POLRI.fp1, AUS.ABF.pros1]
purpose: victim_protection
subject_role: victim
consent: true
urgency: urgent
sections:
  - id: 1
    tlp: amber
    categories: [operational]
    text: "Referral for victim identification through Thailand's National Referral Mechanism."
  - id: 2
    tlp: red
    categories: [operational, victim_identity, personal_identifiers]
    text: "Victim (demo data): name and date of birth as recorded by THA.RTP."
YAML
agent THA.RTP.fp1 send "$demo/drafts/referral.yaml" --yes

step "Indonesia's focal point receives both sections"
agent IDN.POLRI.fp1 listen --count 1 --timeout 10

step "Australia's prosecutor receives the operational section only; the victim's identity was never sealed for it"
agent AUS.ABF.pros1 listen --count 1 --timeout 10

step "Why? The policy explains each decision in one sentence"
cat >"$demo/drafts/query.json" <<'JSON'
{"at": "2026-11-28T00:00:00Z",
 "sender": {"id": "THA.RTP.fp1", "country": "THA", "agency": "THA.RTP", "roles": ["focal_point", "police"]},
 "recipients": [{"id": "IDN.POLRI.fp1", "country": "IDN", "agency": "IDN.POLRI", "roles": ["focal_point", "police"]},
                {"id": "AUS.ABF.pros1", "country": "AUS", "agency": "AUS.ABF", "roles": ["prosecution", "focal_point"]}],
 "message": {"kind": "referral", "audience": "direct", "route": null, "stage": null,
             "purpose": "victim_protection", "subject_role": "victim", "consent": true,
             "taskforce": null, "agreement": null, "exercise": null,
             "sections": [{"id": 1, "tlp": "amber", "categories": ["operational"]},
                          {"id": 2, "tlp": "red", "categories": ["victim_identity", "personal_identifiers"]}]}}
JSON
run "$bin/fusion-admin" policy explain --policy "$demo/region/policy.yaml" --text "$demo/drafts/query.json"

step "The broker stops cleanly (SIGTERM: the commit in flight finishes)"
kill -TERM "$broker_pid"
wait "$broker_pid"
broker_pid=

printf '\nDemo finished in %s: the broker log is %s, the commands run are in %s.\n' "$demo" \
    "$demo/broker.log" "$log"
