#!/bin/sh
# An exercise run by a trainer away from the authority's machine (the operator's guide keeps the
# region off the network): without --region the runner asks the broker's directory who is
# enrolled, generates the simulated participants' keys in STATE/keys as with --region, and writes
# an enrolment bundle, STATE/enrol: a copy of each enrolment request (never a secret key) and
# enroll.sh, which the authority's machine runs as `sh enroll.sh REGION` (run again, it issues
# nothing for an id already enrolled with the request's key). The run waits for the
# broker to admit them (--wait), saves its progress when the wait runs out (exit 5), and
# --resume, still without --region, plays once the bundle is enrolled and the broker reloaded. A
# stale bundle is replaced, and removed when nobody is to be enrolled; a second run with the same
# state plays at once. A scenario giving the simulated participant other roles (re-enrolled, same
# keys) waits, without and with --region, until the broker has loaded the new certificate (its
# old one, not yet revoked there, certifies the same key), and then plays with the new roles. Refused, as with --region but against the broker's directory: a live
# principal named as simulated, a simulated id enrolled with keys the state does not hold (exit
# 2, no bundle). enroll.sh never replaces a live principal's certificate, nor a simulated one for
# another key unless written under --take-over, nor one whose holder fusion-admin directory
# cannot tell (exit 3); it runs by a relative path with CDPATH set. The broker unreachable: exit
# 5. Any refused run removes an older bundle (carried, it would take over an id another run now
# holds). Anything at STATE/enrol but a directory is refused (exit 2, naming it), as is a
# --state that is a file. (Before, a run without --region was refused at once, exit 2.)
# Usage: FUSION_BIN=build/bin sh tests/integration/exercise_offline.sh   (from the repository root)
set -u
. "$(dirname "$0")/../lib/broker.sh"

region_setup THA.RTP.fp1:focal_point,police IDN.POLRI.fp1:focal_point,police NZL.NZP.tr1:trainer ||
    { echo "FAIL: region setup"; exit 1; }
broker_start || exit 1
agent_config NZL.NZP.tr1 # sets $config: the trainer's configuration
trainer=$config

# A simulated Cambodian focal point alerts an Indonesian trainee, whom the runner plays too.
cat >"$work/scenario.yaml" <<'YAML'
fusion_scenario: 1
exercise: EX-2026-11
title: An exercise run away from the authority's machine
speed: 60
participants:
  - id: IDN.POLRI.fp1
  - id: KHM.NCCT.sim1
    simulated: true
    roles: [focal_point, police]
injects:
  - id: alert
    at: "+00:01"
    from: KHM.NCCT.sim1
    send:
      kind: case_alert
      audience: direct
      recipients: [IDN.POLRI.fp1]
      purpose: investigation
      sections:
        - {id: 1, tlp: amber, categories: [operational], text: "Exercise alert for Indonesia."}
    expect:
      - {delivered: IDN.POLRI.fp1, within: 10m}
YAML
state=$work/ex
bundle=$state/enrol
offline() { # ARGS...: the run without --region
    "$agent" exercise run "$work/scenario.yaml" --config "$trainer" --speed 300 \
        --play-trainees "$work/keys" "$@"
}

# --- the first run: a bundle, nothing enrolled, the wait runs out ------------------------------
check "a run without --region, not yet enrolled" 5 offline --state "$state" --wait 1
contains "$work/err.txt" "1 simulated participant(s) to enrol: carry $bundle" "the run says what to carry"
contains "$work/err.txt" "run 'sh enroll.sh REGION' there" "the run says what to run on the authority's machine"
contains "$work/err.txt" "not yet loaded by the broker" "the run waits for the broker"
contains "$work/err.txt" "progress saved in $state/progress.json" "the run saves its progress"
[ "$(grep -c "to enrol: carry" "$work/err.txt")" = 1 ] || fail "the instructions are not printed once"
[ -f "$bundle/enroll.sh" ] || fail "no $bundle/enroll.sh"
cmp -s "$bundle/KHM.NCCT.sim1.request" "$state/keys/KHM.NCCT.sim1.request" ||
    fail "the bundle does not hold the simulated participant's request"
[ -f "$state/keys/KHM.NCCT.sim1.key" ] || fail "no key generated in STATE/keys"
[ -z "$(find "$bundle" -name '*.key')" ] || fail "a secret key is in the bundle: $(ls "$bundle")"
[ ! -e "$work/region/directory/KHM.NCCT.sim1.cert" ] || fail "the run enrolled in the region itself"
jq -e '.complete == false and .elapsed_ms == 0' "$state/progress.json" >/dev/null 2>&1 ||
    fail "no progress saved before admission"

# Another state directory writes its own bundle for the same id, carried before the first is
# enrolled (two trainers preparing the same exercise).
check "another state's run, not yet enrolled" 5 offline --state "$work/stale" --wait 1
cp -r "$work/stale/enrol" "$work/stale-carried"

# --- a stale bundle is replaced --------------------------------------------------------------------
cp "$bundle/KHM.NCCT.sim1.request" "$bundle/AUS.ABF.sim9.request"
echo "enrol 'AUS.ABF.sim9' 'police,simulated'" >>"$bundle/enroll.sh"
check "a resumed run without --region, still not enrolled" 5 offline --state "$state" --wait 1 --resume
[ -e "$bundle/AUS.ABF.sim9.request" ] && fail "a stale request was left in the bundle"
grep -q "AUS.ABF.sim9" "$bundle/enroll.sh" && fail "enroll.sh still enrols what is no longer needed"
cmp -s "$bundle/KHM.NCCT.sim1.request" "$state/keys/KHM.NCCT.sim1.request" ||
    fail "the replaced bundle does not hold the request"

# --- enroll.sh never replaces a live principal's certificate --------------------------------------
mkdir "$work/hostile"
# A bundle for the live principal's id, with its request and fingerprint (as read from the region).
fp=$("$admin" directory --region "$work/region" | awk '$1 == "IDN.POLRI.fp1" { print $3 }')
sed -e 's/KHM\.NCCT\.sim1/IDN.POLRI.fp1/g' -e "s/^\(enrol .*\) '[^']*'\$/\1 '$fp'/" "$bundle/enroll.sh" \
    >"$work/hostile/enroll.sh"
grep -q "^enrol 'IDN.POLRI.fp1' '[a-z_,]*' '$fp'\$" "$work/hostile/enroll.sh" || fail "no bundle for IDN.POLRI.fp1 made"
cp "$work/keys/IDN.POLRI.fp1.request" "$work/hostile/"
cp "$work/region/directory/IDN.POLRI.fp1.cert" "$work/live.cert"
# A fusion-admin whose directory fails: enroll.sh cannot tell whose the certificate is, and refuses.
cat >"$work/admin-nodir" <<EOF
#!/bin/sh
if [ "\$1" = directory ]; then echo "fusion-admin: directory: failing on purpose" >&2; exit 4; fi
exec "$admin" "\$@"
EOF
chmod +x "$work/admin-nodir"
check "enroll.sh for a live principal's id, fusion-admin directory failing" 3 \
    env FUSION_ADMIN="$work/admin-nodir" sh "$work/hostile/enroll.sh" "$work/region"
contains "$work/err.txt" "IDN.POLRI.fp1.cert exists but whose it is cannot be read" "enroll.sh says why it refuses"
contains "$work/err.txt" "directory' failed, exit 4" "enroll.sh names the failing command"
cmp -s "$work/live.cert" "$work/region/directory/IDN.POLRI.fp1.cert" ||
    fail "enroll.sh replaced a live principal's certificate when fusion-admin directory failed"
check "enroll.sh for a live principal's id" 3 env FUSION_ADMIN="$admin" sh "$work/hostile/enroll.sh" "$work/region"
contains "$work/err.txt" "IDN.POLRI.fp1 is a live principal" "enroll.sh names the live principal"
cmp -s "$work/live.cert" "$work/region/directory/IDN.POLRI.fp1.cert" ||
    fail "enroll.sh replaced a live principal's certificate"

# --- the authority's machine runs the bundle; the broker reloads; --resume plays -----------------
check "enroll.sh without a region" 2 env PATH="$bin:$PATH" sh "$bundle/enroll.sh"
(cd "$work" && cp -r "$bundle" carried) # as carried to another machine
# Run by a relative path as the guide does, with CDPATH set: cd would print the directory.
check "enroll.sh on the authority's machine, CDPATH set" 0 env CDPATH="$work" PATH="$bin:$PATH" \
    sh -c 'cd "$1" && sh carried/enroll.sh "$1/region"' sh "$work"
contains "$work/out.txt" "1 simulated participant(s) enrolled in $work/region" "enroll.sh says what it enrolled"
contains "$work/out.txt" "revocations.crl to the broker" "enroll.sh says what to copy to the broker"
# Run again (the trainer asks for it, or the broker's copy was not made yet): the certificate
# is already the request's key's, so nothing is issued or revoked, and it says so per id.
region_state() { (cd "$work/region" && cksum serial revocations.crl directory/*); }
region_state >"$work/region-before.txt"
check "enroll.sh run again, everyone enrolled with these keys" 0 \
    env FUSION_ADMIN="$admin" sh "$work/carried/enroll.sh" "$work/region"
contains "$work/out.txt" "KHM.NCCT.sim1 is already enrolled with this key" "enroll.sh says the id is enrolled already"
contains "$work/out.txt" "0 simulated participant(s) enrolled in $work/region, 1 already enrolled" \
    "enroll.sh says it enrolled nothing"
lacks "$work/out.txt" "^Enrolled " "enroll.sh run again enrolled someone"
region_state | cmp -s - "$work/region-before.txt" ||
    fail "enroll.sh run again changed the region (serial, revocations or certificates)"
"$admin" directory --region "$work/region" >"$work/directory.txt"
contains "$work/directory.txt" "^KHM.NCCT.sim1 *focal_point,police,simulated " "the simulated participant is enrolled as simulated"
kill -HUP "$broker_pid"
check "the resumed run without --region, once enrolled" 0 offline --state "$state" --wait 30 --resume
contains "$work/err.txt" "(resumed)" "the run resumed"
lacks "$work/err.txt" "to enrol" "the enrolled run writes no bundle"
[ -e "$bundle" ] && fail "the stale bundle was left once nobody is to be enrolled: $(ls "$bundle")"
jq -e '.complete and ([.expectations[] | select(.outcome != "met")] | length == 0)' \
    "$state/results.json" >/dev/null 2>&1 || fail "the expectation was not met"

# --- a second run with the same state plays at once -------------------------------------------------
check "a second run without --region" 0 offline --state "$state" --wait 30
lacks "$work/err.txt" "to enrol" "the second run writes no bundle"
lacks "$work/err.txt" "not yet loaded" "the second run does not wait"
[ -e "$bundle" ] && fail "the second run wrote a bundle"

# --- other roles for a simulated participant: the run waits for the broker to load them ----------
# A scenario that gives KHM.NCCT.sim1 other roles re-enrols it with the same keys: a new
# certificate, the old one revoked. Until the broker reloads it still holds the old one (the
# revocation not loaded either), which certifies the same key: the run must wait for the new one,
# not play at once with the policy deciding on the old roles (it did: the key alone admitted it).
# The trainee sends KHM.NCCT.sim1 an alert the policy lets go to a focal point only.
roles_scenario() { # FILE ROLES EXPECTATION
    cat >"$1" <<YAML
fusion_scenario: 1
exercise: EX-2026-11
title: A simulated participant with other roles
speed: 60
participants:
  - id: IDN.POLRI.fp1
  - id: KHM.NCCT.sim1
    simulated: true
    roles: [$2]
injects:
  - id: to-sim1
    at: "+00:01"
    from: IDN.POLRI.fp1
    send:
      kind: case_alert
      audience: direct
      recipients: [KHM.NCCT.sim1]
      purpose: investigation
      sections:
        - {id: 1, tlp: amber, categories: [operational], text: "Exercise alert for Cambodia."}
    expect:
      - $3
YAML
}
roles_scenario "$work/police.yaml" police "{denied: KHM.NCCT.sim1, code: no_permit}"
roles_scenario "$work/fp.yaml" "focal_point, police" "{delivered: KHM.NCCT.sim1, within: 10m}"
# not_played FILE NAME: the run saved its progress with no inject played.
not_played() {
    jq -e '.complete == false and ([.injects[] | select(.status != "pending")] | length == 0)' \
        "$1" >/dev/null 2>&1 || fail "$2: an inject was played before the broker loaded the new certificate: $(jq -c '.injects' "$1")"
}
# Without --region: a bundle for the new roles. Enrolled on the authority's machine but the broker
# not reloaded, the run still waits: the broker's certificate has the old roles.
check "a run without --region, other roles" 5 "$agent" exercise run "$work/police.yaml" \
    --config "$trainer" --speed 300 --play-trainees "$work/keys" --state "$state" --wait 1
contains "$work/err.txt" "1 simulated participant(s) to enrol: carry $bundle" "other roles: a bundle"
contains "$work/err.txt" "not yet loaded by the broker" "other roles: the run waits for the broker"
not_played "$state/progress.json" "other roles, not enrolled"
check "enroll.sh for the other roles" 0 env FUSION_ADMIN="$admin" sh "$bundle/enroll.sh" "$work/region"
"$admin" directory --region "$work/region" >"$work/directory.txt"
contains "$work/directory.txt" "^KHM.NCCT.sim1 *police,simulated .* valid" "other roles: enrolled with the new roles"
check "other roles enrolled, the broker not reloaded" 5 "$agent" exercise run "$work/police.yaml" \
    --config "$trainer" --speed 300 --play-trainees "$work/keys" --state "$state" --wait 1 --resume
contains "$work/err.txt" "not yet loaded by the broker" "other roles, not reloaded: the run waits for the broker"
not_played "$state/progress.json" "other roles, not reloaded"
kill -HUP "$broker_pid"
check "other roles, the broker reloaded" 0 "$agent" exercise run "$work/police.yaml" \
    --config "$trainer" --speed 300 --play-trainees "$work/keys" --state "$state" --wait 30 --resume
jq -e '([.injects[] | select(.id == "to-sim1" and .status == "denied")] | length == 1) and
       ([.expectations[] | select(.outcome != "met")] | length == 0)' "$state/results.json" >/dev/null 2>&1 ||
    fail "other roles: the policy did not decide on the new roles: $(jq -c '[.injects, .expectations]' "$state/results.json")"
# The report's timeline marks the inject denied, as its heading says, with a hollow mark: not
# "inject (sent)", as every inject was, whatever became of it.
html=$state/report/report.html
contains "$html" "<title>+00:01[:0-9]* inject (denied: the policy allows no recipient for any section): IDN.POLRI.fp1 (to-sim1)</title><path [^>]*fill='#ffffff'" \
    "the timeline marks the denied inject denied"
lacks "$html" "inject (sent): IDN.POLRI.fp1" "the timeline calls the denied inject sent"
contains "$state/report/report.md" "to-sim1 (IDN.POLRI.fp1, case\\\\_alert; denied: the policy allows no recipient for any section)" \
    "report.md says the inject was denied"
# With --region the runner enrols the roles back itself (same keys, a new serial, the old
# certificate revoked in the region): it waits for the broker to load that certificate.
check "a run with --region, other roles, the broker not reloaded" 5 "$agent" exercise run "$work/fp.yaml" \
    --region "$work/region" --config "$trainer" --speed 300 --play-trainees "$work/keys" --state "$state" --wait 1
contains "$work/err.txt" "enrolled 1 simulated participant(s) in $work/region" "--region, other roles: enrolled"
contains "$work/err.txt" "not yet loaded by the broker" "--region, other roles: the run waits for the broker"
not_played "$state/progress.json" "--region, other roles"
kill -HUP "$broker_pid"
check "a run with --region, other roles, the broker reloaded" 0 "$agent" exercise run "$work/fp.yaml" \
    --region "$work/region" --config "$trainer" --speed 300 --play-trainees "$work/keys" --state "$state" \
    --wait 30 --resume
lacks "$work/err.txt" "enrolled 1" "--region, other roles: enrolled again on --resume"
jq -e '([.injects[] | select(.id == "to-sim1" and .status == "sent")] | length == 1) and
       ([.expectations[] | select(.outcome != "met")] | length == 0)' "$state/results.json" >/dev/null 2>&1 ||
    fail "--region, other roles: the policy did not decide on the new roles: $(jq -c '[.injects, .expectations]' "$state/results.json")"
contains "$state/report/report.html" "<title>+00:01[:0-9]* inject (sent): IDN.POLRI.fp1 (to-sim1)</title><path [^>]*fill='#1f5fa8'" \
    "the timeline marks the sent inject sent"

# --- a refused run leaves no older bundle; an older bundle never takes an id over ------------------
check "a resumed run whose simulated id another state now holds" 2 offline --state "$work/stale" --wait 5 --resume
contains "$work/err.txt" "KHM.NCCT.sim1 is enrolled at the broker with keys that $work/stale/keys does not hold" \
    "the refusal names the id held elsewhere"
[ -e "$work/stale/enrol" ] && fail "a refused run left its older bundle: $(ls "$work/stale/enrol")"
# Carried all the same (a copy made before), the older bundle refuses to replace the certificate
# that another run's key holds: only a bundle written under --take-over may.
cp "$work/region/directory/KHM.NCCT.sim1.cert" "$work/held.cert"
check "an older bundle for an id enrolled for another key" 3 \
    env FUSION_ADMIN="$admin" sh "$work/stale-carried/enroll.sh" "$work/region"
contains "$work/err.txt" "KHM.NCCT.sim1 is enrolled in $work/region for another key" "enroll.sh names the id held for another key"
contains "$work/err.txt" "with --take-over" "enroll.sh says how to take the id over"
cmp -s "$work/held.cert" "$work/region/directory/KHM.NCCT.sim1.cert" ||
    fail "an older bundle replaced the certificate another run's key holds"

# --- refusals against the broker's directory: no bundle --------------------------------------------
check "a run whose simulated id the broker holds with other keys" 2 offline --state "$work/other" --wait 5
contains "$work/err.txt" "KHM.NCCT.sim1 is enrolled at the broker with keys that $work/other/keys does not hold" \
    "the refusal names the id held elsewhere"
[ -e "$work/other/enrol" ] && fail "a refused run wrote a bundle"
[ -e "$work/other/keys/KHM.NCCT.sim1.key" ] && fail "keys were generated for a refused run"
# With --take-over its bundle enrols new keys for the id: enroll.sh replaces the simulated
# participant's certificate (--replace, as the region holds one).
check "a run without --region taking an id over" 5 offline --state "$work/other" --wait 1 --take-over
contains "$work/err.txt" "--take-over: KHM.NCCT.sim1 is to be enrolled with the keys of $work/other/keys" \
    "the run says which id it takes over"
cp "$work/region/directory/KHM.NCCT.sim1.cert" "$work/sim1.cert"
check "enroll.sh replacing a simulated participant's certificate" 0 \
    env FUSION_ADMIN="$admin" sh "$work/other/enrol/enroll.sh" "$work/region"
cmp -s "$work/sim1.cert" "$work/region/directory/KHM.NCCT.sim1.cert" && fail "enroll.sh did not replace the certificate"
contains "$work/out.txt" "--take-over: KHM.NCCT.sim1 was enrolled for another key" "enroll.sh says it takes the id over"
"$admin" directory --region "$work/region" >"$work/directory.txt"
contains "$work/directory.txt" "^KHM.NCCT.sim1 *focal_point,police,simulated " "the replaced certificate is a simulated one"
sed -e 's/KHM\.NCCT\.sim1/THA.RTP.fp1/g' "$work/scenario.yaml" >"$work/hijack.yaml"
mkdir -p "$work/hijack/enrol" && cp "$work/stale-carried/"* "$work/hijack/enrol/" # an older bundle
check "a run that would make a live principal simulated" 2 "$agent" exercise run "$work/hijack.yaml" \
    --config "$trainer" --state "$work/hijack" --wait 5
contains "$work/err.txt" "THA.RTP.fp1 is a live principal" "the refusal names the live principal"
[ -e "$work/hijack/enrol" ] && fail "a run refused for a live principal left a bundle: $(ls "$work/hijack/enrol")"
mkdir -p "$work/hijack/enrol" && cp "$work/stale-carried/"* "$work/hijack/enrol/"
check "a run of a scenario that does not exist" 2 "$agent" exercise run "$work/none.yaml" \
    --config "$trainer" --state "$work/hijack" --wait 5
[ -e "$work/hijack/enrol" ] && fail "a run refused for its scenario left a bundle: $(ls "$work/hijack/enrol")"

# --- STATE/enrol is the runner's: anything there but a directory is refused (exit 2) -----------------
mkdir -p "$work/fileenrol" && echo "not a bundle" >"$work/fileenrol/enrol"
check "a run whose STATE/enrol is a regular file" 2 offline --state "$work/fileenrol" --wait 5
contains "$work/err.txt" "$work/fileenrol/enrol is a regular file, not a directory" "the refusal names the path"
contains "$work/err.txt" "move it out of the state directory" "the refusal says what to do"
[ "$(cat "$work/fileenrol/enrol")" = "not a bundle" ] || fail "the run changed the file at STATE/enrol"
[ -e "$work/fileenrol/keys" ] && fail "a run refused for STATE/enrol generated keys"
mkdir -p "$work/linkenrol" "$work/elsewhere" && ln -s "$work/elsewhere" "$work/linkenrol/enrol"
check "a run whose STATE/enrol is a symbolic link" 2 offline --state "$work/linkenrol" --wait 5
contains "$work/err.txt" "$work/linkenrol/enrol is a symbolic link, not a directory" "the refusal names the link"
[ -L "$work/linkenrol/enrol" ] || fail "the run removed the symbolic link at STATE/enrol"
check "a run whose --state is a regular file" 2 offline --state "$work/fileenrol/enrol" --wait 5
contains "$work/err.txt" "--state $work/fileenrol/enrol is not a directory" "the refusal names --state"

# --- the broker unreachable ----------------------------------------------------------------------------
broker_stop || fail "the broker did not stop"
mkdir -p "$work/down/enrol" && cp "$work/stale-carried/"* "$work/down/enrol/" # an older bundle
check "a run without --region, the broker down" 5 offline --state "$work/down" --wait 5
contains "$work/err.txt" "the broker did not answer" "the run says the broker did not answer"
[ -e "$work/down/enrol" ] && fail "a run that reached no broker left a bundle: $(ls "$work/down/enrol")"

finish exercise_offline
