#!/bin/sh
# make demo: a throw-away Fusion region in BUILD/demo, narrated one line per step.
# What runs today (the broker daemon lands with its own issue): the fusion centre creates a
# region and enrols officers in four countries; the sharing policy is checked; the policy
# explains an allowed and a denied share; an alert is sealed end-to-end for two recipients and
# opened by each, while a third officer cannot open it.
# Usage: deploy/demo.sh BUILD_DIR
set -eu
build=${1:-build}
bin=$(cd "$build/bin" && pwd)
demo=$build/demo
rm -rf "$demo"
mkdir -p "$demo/keys" "$demo/queries"
region=$demo/region
policy=deploy/policy/bali-process.yaml
log=$demo/demo.log
: >"$log"

n=0
step() { n=$((n + 1)); printf '\n[%d] %s\n' "$n" "$*"; }
run() { echo "\$ $*" >>"$log"; "$@"; }

step "The fusion centre creates a region: an authority key and an empty directory"
run "$bin/fusion-admin" init "$region"

step "Officers in four countries generate their keys; only public halves leave their machines"
for id in THA.RTP.fp1 IDN.POLRI.fp1 MYS.RMP.lo1 AUS.ABF.pros1; do
    run "$bin/fusion-agent" keygen "$id" --dir "$demo/keys" >>"$log"
    echo "    $id: keys in $demo/keys/$id.key (mode 0600), request $demo/keys/$id.request"
done

step "The fusion centre enrols them with their roles (certificates signed by the authority)"
run "$bin/fusion-admin" enroll --region "$region" "$demo/keys/THA.RTP.fp1.request" --roles focal_point,police
run "$bin/fusion-admin" enroll --region "$region" "$demo/keys/IDN.POLRI.fp1.request" --roles focal_point,police
run "$bin/fusion-admin" enroll --region "$region" "$demo/keys/MYS.RMP.lo1.request" --roles liaison_officer,police
run "$bin/fusion-admin" enroll --region "$region" "$demo/keys/AUS.ABF.pros1.request" --roles prosecution
run "$bin/fusion-admin" directory --region "$region"

step "The sharing policy (modelled on the Bali Process Outcome Statement) is checked"
run "$bin/fusion-admin" policy check "$policy"

step "Can Thailand share a victim's identity with Indonesia's focal point for victim protection?"
cat >"$demo/queries/referral.json" <<'JSON'
{"at": "2026-11-28T00:00:00Z",
 "sender": {"id": "THA.RTP.fp1", "country": "THA", "agency": "THA.RTP", "roles": ["focal_point", "police"]},
 "recipients": [{"id": "IDN.POLRI.fp1", "country": "IDN", "agency": "IDN.POLRI", "roles": ["focal_point", "police"]},
                {"id": "AUS.ABF.pros1", "country": "AUS", "agency": "AUS.ABF", "roles": ["prosecution"]}],
 "message": {"kind": "referral", "audience": "direct", "route": null, "stage": null,
             "purpose": "victim_protection", "subject_role": "victim", "consent": true,
             "taskforce": null, "agreement": null, "exercise": null,
             "sections": [{"id": 1, "tlp": "amber", "categories": ["operational"]},
                          {"id": 2, "tlp": "red", "categories": ["victim_identity"]}]}}
JSON
run "$bin/fusion-admin" policy explain --policy "$policy" --text "$demo/queries/referral.json"

step "Thailand seals an alert: section 1 for both recipients, section 2 for Indonesia only"
printf 'Recruiter moving workers MMR>THA>MYS by minivan; pick-up at Mae Sot bus station.\n' >"$demo/section1.txt"
printf 'Victim: name and passport number as recorded by THA.RTP (demo data).\n' >"$demo/section2.txt"
run "$bin/fusion-agent" seal --key "$demo/keys/THA.RTP.fp1.key" --region "$region" \
    --kind case_alert --route 'MMR>THA>MYS' --purpose victim_protection \
    --section "tlp=green;categories=operational;file=$demo/section1.txt;to=IDN.POLRI.fp1,MYS.RMP.lo1" \
    --section "tlp=amber;categories=operational,personal_identifiers,travel_document;file=$demo/section2.txt;to=IDN.POLRI.fp1" \
    --out "$demo/alert.fx"

step "Indonesia's focal point verifies the signature and opens both sections"
run "$bin/fusion-agent" open --key "$demo/keys/IDN.POLRI.fp1.key" --region "$region" "$demo/alert.fx"

step "Malaysia's liaison officer opens section 1 and is told section 2 was not for them"
run "$bin/fusion-agent" open --key "$demo/keys/MYS.RMP.lo1.key" --region "$region" "$demo/alert.fx"

step "Australia's prosecutor was not a recipient: nothing opens"
if "$bin/fusion-agent" open --key "$demo/keys/AUS.ABF.pros1.key" --region "$region" "$demo/alert.fx" >>"$log" 2>&1; then
    echo "demo: a non-recipient opened the message" >&2
    exit 1
fi
echo "    refused, as it should be"

printf '\nDemo finished. Region, keys and the sealed alert are in %s; the commands run are in %s.\n' "$demo" "$log"
