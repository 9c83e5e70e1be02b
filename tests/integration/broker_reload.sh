#!/bin/sh
# SIGHUP reloads the signed policy and the directory, each atomically: an unsigned or invalid policy
# is refused (logged) and the old one stays in force; a principal revoked and reloaded is refused
# from its next frame on, mid-session too, and a policy refused in the same reload does not hold
# the revocation up, nor does a directory that also adds a principal (its revocations apply, the
# principal waits for a policy that loads; the log names the policy's mistake at its
# line:column); a refused directory (an older or unreadable revocation list) keeps the one in
# force beside a new valid policy, which is installed. SIGTERM exits 0.
set -u
. "$(dirname "$0")/../lib/broker.sh"

region_setup THA.RTP.fp1:focal_point,police IDN.POLRI.fp1:focal_point,police \
    MYS.RMP.fp1:focal_point,police LKA.CID.fp1:focal_point,police || exit 1
broker_start || exit 1
direct_draft "$work/draft.yaml" IDN.POLRI.fp1 "reload test"
agent THA.RTP.fp1 send "$work/draft.yaml" --yes --timeout 5 >"$work/out" 2>&1 || fail "a send before any reload was not accepted: $(cat "$work/out")"

# 1. An edited policy that nobody signed: refused, the old one stays.
printf '\n# edited after signing\n' >>"$work/region/policy.yaml"
kill -HUP "$broker_pid"
wait_for 10 grep -q "reload refused" "$work/broker.log" || fail "an unsigned policy was not refused on reload"
grep -q "does not verify" "$work/broker.log" || fail "the log does not say the signature does not verify"
agent THA.RTP.fp1 send "$work/draft.yaml" --yes --timeout 5 >"$work/out" 2>&1 || fail "the old policy is not in force after a refused reload: $(cat "$work/out")"

# 2. A signed but invalid policy cannot exist (sign refuses it); a valid re-signed one loads.
"$FUSION_BIN/fusion-admin" policy sign --region "$work/region" "$work/region/policy.yaml" >/dev/null || fail "re-signing failed"
kill -HUP "$broker_pid"
wait_for 10 grep -q "reloaded policy" "$work/broker.log" || fail "a valid signed policy was not reloaded"

# 3. Revocation, mid-session: IDN listens; THA's alert reaches it; then IDN is revoked.
agent_bg IDN.POLRI.fp1 listen --json --timeout 30 >"$work/idn.json" 2>"$work/idn.err"
listener=$!
wait_for 10 grep -q "IDN.POLRI.fp1 connected" "$work/broker.log" || fail "the listener did not connect"
agent THA.RTP.fp1 send "$work/draft.yaml" --yes --timeout 5 >/dev/null 2>&1 || fail "send to IDN failed"
wait_for 10 test -s "$work/idn.json" || fail "IDN did not receive the alert before its revocation"
"$FUSION_BIN/fusion-admin" revoke --region "$work/region" IDN.POLRI.fp1 >/dev/null || fail "revoke failed"
lines_before=$(grep -c . "$work/broker.log")
kill -HUP "$broker_pid"
wait_for 10 sh -c "tail -n +$lines_before '$work/broker.log' | grep -q 'reloaded policy'" || fail "the revocation was not reloaded"
wait_for 15 grep -q "refused a frame from IDN.POLRI.fp1" "$work/broker.log" || fail "the revoked listener's next frame was not refused"
# The listener learns it from the broker's ERROR revoked (to the CREDIT it re-sends) and stops:
# exit 3 and one line naming the reason, not a silent 0 at its --timeout (never, under systemd).
wait "$listener"
status=$?
[ "$status" -eq 3 ] || fail "the revoked listener exited $status, not 3: $(cat "$work/idn.err")"
grep -q "^fusion-agent: listen: the broker at .* refused this principal on its open connection: revoked (the certificate has been revoked)$" "$work/idn.err" ||
    fail "the revoked listener does not say why it stopped: $(cat "$work/idn.err")"
[ "$(grep -c . "$work/idn.err")" -eq 1 ] || fail "the revoked listener said more than one line: $(cat "$work/idn.err")"
agent IDN.POLRI.fp1 listen --count 1 --timeout 3 >"$work/out" 2>&1 && fail "a revoked principal could still listen"
# A listen without --count is refused in the handshake too: exit 3, saying so, not a silent 0.
agent IDN.POLRI.fp1 listen --timeout 3 >"$work/out" 2>&1
status=$?
[ "$status" -eq 3 ] || fail "a revoked principal's listen exited $status, not 3: $(cat "$work/out")"
grep -q "refused this principal's key" "$work/out" || fail "listen does not say the key was refused: $(cat "$work/out")"
# A request from the revoked principal is refused in the handshake: exit 3 (refused for
# security), saying so, not 5 (unreachable).
agent IDN.POLRI.fp1 subscribe 'THA>MYS' --timeout 3 >"$work/out" 2>&1
status=$?
[ "$status" -eq 3 ] || fail "a revoked principal's request exited $status, not 3: $(cat "$work/out")"
grep -q "refused this principal's key" "$work/out" || fail "the refusal of the key is not said: $(cat "$work/out")"
# Nothing can be addressed to the revoked principal any more.
agent THA.RTP.fp1 send "$work/draft.yaml" --yes --timeout 5 >"$work/out" 2>&1 && fail "a message to a revoked principal was accepted"
grep -q "IDN.POLRI.fp1" "$work/out" || fail "the sender is not told why IDN.POLRI.fp1 cannot receive: $(cat "$work/out")"
grep -q "auth_refused\|refused a frame" "$work/broker.log" || fail "the refusal is not logged"

# 4. A revocation is not held up by a policy that does not load: MYS is revoked and the policy
# edited without signing; the reload installs the revocation list (MYS refused at once) and keeps
# the policy in force, logged and audited as a refusal of the policy.
rogue() { "$FUSION_TOOLS/rogue" --endpoint "$endpoint" --timeout 1500 --key "$work/keys/$1.key" \
    --broker-cert "$work/region/directory/RSO.FUSION.broker.cert" --authority "$work/region/authority.pub" directory; }
rogue MYS.RMP.fp1 | grep -q "^DIRECTORY" || fail "MYS is not admitted before its revocation"
"$FUSION_BIN/fusion-admin" revoke --region "$work/region" MYS.RMP.fp1 >/dev/null || fail "revoke MYS failed"
printf '\n# edited again after signing\n' >>"$work/region/policy.yaml"
lines_before=$(grep -c . "$work/broker.log")
kill -HUP "$broker_pid"
wait_for 10 sh -c "tail -n +$lines_before '$work/broker.log' | grep -q 'reload refused in part: the policy in force stays'" ||
    fail "a refused policy held up the revocation: $(tail -n +$lines_before "$work/broker.log")"
tail -n +"$lines_before" "$work/broker.log" | grep -q "reloaded directory" || fail "the new directory was not installed"
rogue MYS.RMP.fp1 | grep -q "^no answer" || fail "the revoked MYS is still admitted"
rogue THA.RTP.fp1 | grep -q "^DIRECTORY" || fail "THA is no longer admitted"
tail -n +"$lines_before" "$work/broker.log" | grep -q "reloaded policy" && fail "the unsigned policy was installed"

# 5. Nor by a directory that also adds a principal: PHL is enrolled and LKA revoked, with the
# policy still unsigned. LKA is refused at once; PHL waits for a policy that loads, then is in.
rogue LKA.CID.fp1 | grep -q "^DIRECTORY" || fail "LKA is not admitted before its revocation"
"$FUSION_BIN/fusion-agent" keygen PHL.PNP.fp1 --dir "$work/keys" >/dev/null &&
    "$FUSION_BIN/fusion-admin" enroll --region "$work/region" "$work/keys/PHL.PNP.fp1.request" \
        --roles focal_point,police >/dev/null || fail "enrolling PHL failed"
"$FUSION_BIN/fusion-admin" revoke --region "$work/region" LKA.CID.fp1 >/dev/null || fail "revoke LKA failed"
lines_before=$(grep -c . "$work/broker.log")
kill -HUP "$broker_pid"
wait_for 10 sh -c "tail -n +$lines_before '$work/broker.log' | grep -q 'only its revocations and removals are installed'" ||
    fail "a directory that adds a principal held up a revocation: $(tail -n +$lines_before "$work/broker.log")"
rogue LKA.CID.fp1 | grep -q "^no answer" || fail "the revoked LKA is still admitted"
rogue PHL.PNP.fp1 | grep -q "^no answer" || fail "a principal added beside a refused policy was admitted"
rogue THA.RTP.fp1 | grep -q "^DIRECTORY" || fail "THA is no longer admitted after a partial reload"
"$FUSION_BIN/fusion-admin" policy sign --region "$work/region" "$work/region/policy.yaml" >/dev/null || fail "re-signing failed"
lines_before=$(grep -c . "$work/broker.log")
kill -HUP "$broker_pid"
wait_for 10 sh -c "tail -n +$lines_before '$work/broker.log' | grep -q 'reloaded policy'" || fail "the signed policy was not reloaded"
rogue PHL.PNP.fp1 | grep -q "^DIRECTORY" || fail "PHL is not admitted once the policy loads"
rogue LKA.CID.fp1 | grep -q "^no answer" || fail "the revoked LKA came back with the full directory"

# 6. A new directory that adds a principal (VNM) beside a policy that does not load (signed, so
# it is read, but invalid): the policy in force was never asked about the new principal, so it
# waits for a policy that loads (docs/operator-guide.md): the policy in force stays, the log
# names the policy's mistake at its file:line:column and says why the principal waits.
# Once the policy is fixed and signed, a reload installs both.
"$FUSION_BIN/fusion-agent" keygen VNM.MPS.fp1 --dir "$work/keys" >/dev/null &&
    "$FUSION_BIN/fusion-admin" enroll --region "$work/region" "$work/keys/VNM.MPS.fp1.request" \
        --roles focal_point,police >/dev/null || fail "enrolling VNM failed"
bad_line=$(($(wc -l <"$work/region/policy.yaml") + 1))
printf 'colour: red\n' >>"$work/region/policy.yaml"
"$FUSION_TOOLS/sign_checkpoint" file "$work/region/authority.key" fusion/v1/policy "$work/region/policy.yaml" ||
    fail "signing the invalid policy failed"
lines_before=$(grep -c . "$work/broker.log")
kill -HUP "$broker_pid"
wait_for 10 sh -c "tail -n +$lines_before '$work/broker.log' | grep -q 'of the new directory only its revocations and removals are installed'" ||
    fail "a directory adding a principal beside a refused policy: $(tail -n +$lines_before "$work/broker.log")"
tail -n +"$lines_before" "$work/broker.log" >"$work/reload6.log"
grep -q "policy.yaml:$bad_line:1: unknown key 'colour' in the policy" "$work/reload6.log" ||
    fail "the log does not name the policy's mistake at its line:column: $(cat "$work/reload6.log")"
grep -q "the new directory adds or changes principals; they wait for a policy that loads" "$work/reload6.log" ||
    fail "the log does not say why the directory waits: $(cat "$work/reload6.log")"
grep -q "reloaded policy" "$work/reload6.log" && fail "the invalid policy was installed: $(cat "$work/reload6.log")"
rogue VNM.MPS.fp1 | grep -q "^no answer" || fail "VNM was admitted under the policy in force"
rogue THA.RTP.fp1 | grep -q "^DIRECTORY" || fail "THA is no longer admitted"
rogue MYS.RMP.fp1 | grep -q "^no answer" || fail "the revoked MYS is admitted again"
sed -i '$d' "$work/region/policy.yaml"
"$FUSION_BIN/fusion-admin" policy sign --region "$work/region" "$work/region/policy.yaml" >/dev/null || fail "re-signing failed"
lines_before=$(grep -c . "$work/broker.log")
kill -HUP "$broker_pid"
wait_for 10 sh -c "tail -n +$lines_before '$work/broker.log' | grep -q 'reloaded policy'" ||
    fail "the fixed policy was not reloaded: $(tail -n +$lines_before "$work/broker.log")"
tail -n +"$lines_before" "$work/broker.log" | grep -q "reloaded directory" || fail "the waiting directory was not installed"
rogue VNM.MPS.fp1 | grep -q "^DIRECTORY" || fail "VNM is not admitted once the policy loads"

# 7. A directory refused beside a valid new policy: the policy is installed, the directory in
# force stays (its revocations with it), and the log says so. Refused for a revocation list older
# than the one in force (a rollback that would admit VNM again), then for one that does not load.
cp "$work/region/revocations.crl" "$work/revocations.old"
"$FUSION_BIN/fusion-admin" revoke --region "$work/region" VNM.MPS.fp1 >/dev/null || fail "revoke VNM failed"
lines_before=$(grep -c . "$work/broker.log")
kill -HUP "$broker_pid"
wait_for 10 sh -c "tail -n +$lines_before '$work/broker.log' | grep -q 'reloaded directory'" || fail "the revocation of VNM was not reloaded"
rogue VNM.MPS.fp1 | grep -q "^no answer" || fail "the revoked VNM is still admitted"
directory_refused() { # WHAT LOG-LINE: a new signed policy and the directory as it is now
    printf '# amended: %s\n' "$1" >>"$work/region/policy.yaml"
    "$FUSION_BIN/fusion-admin" policy sign --region "$work/region" "$work/region/policy.yaml" >/dev/null || fail "$1: signing failed"
    lines_before=$(grep -c . "$work/broker.log")
    kill -HUP "$broker_pid"
    wait_for 10 sh -c "tail -n +$lines_before '$work/broker.log' | grep -q 'reload refused in part: the directory in force stays; the new policy is installed'" ||
        fail "$1: $(tail -n +$lines_before "$work/broker.log")"
    tail -n +"$lines_before" "$work/broker.log" >"$work/reload7.log"
    grep -q "$2" "$work/reload7.log" || fail "$1: the log does not say why: $(cat "$work/reload7.log")"
    grep -q "reloaded policy" "$work/reload7.log" || fail "$1: the valid policy was not installed"
    grep -q "reloaded directory" "$work/reload7.log" && fail "$1: the refused directory was installed"
    "$FUSION_BIN/fusion-admin" audit export "$work/state/broker.db" >"$work/audit.jsonl" || fail "$1: audit export"
    digest=$(b2sum -l 256 "$work/region/policy.yaml" | cut -d' ' -f1)
    jq -s -e --arg d "$digest" 'map(select(.event == "policy_reloaded")) | last | .details.policy_blake2b == $d' \
        "$work/audit.jsonl" >/dev/null || fail "$1: the policy in force is not the new one"
    rogue VNM.MPS.fp1 | grep -q "^no answer" || fail "$1: the revoked VNM is admitted again"
    rogue THA.RTP.fp1 | grep -q "^DIRECTORY" || fail "$1: THA is no longer admitted"
}
cp "$work/revocations.old" "$work/region/revocations.crl"
directory_refused "an older revocation list" "the revocation list is older (sequence [0-9]*) than the one in force"
printf 'not a revocation list' >"$work/region/revocations.crl"
directory_refused "a revocation list that does not load" "cannot load the directory of"

broker_stop || fail "SIGTERM did not stop the broker with exit 0"
grep -q "stopped" "$work/broker.log" || fail "the broker did not log its stop"
# The refused reloads (1., 4. to 7.) and the seven policies that loaded are in the audit trail.
"$FUSION_BIN/fusion-admin" audit export "$work/state/broker.db" >"$work/audit.jsonl" || fail "audit export"
jq -s -e 'map(select(.event == "reload_refused" and .details.code == "bad_signature" and .details.refused == "policy")) | length == 2' \
    "$work/audit.jsonl" >/dev/null || fail "the refused reloads are not audited with their code and part"
jq -s -e 'map(select(.event == "reload_refused" and .details.refused == "both")) | length == 2' \
    "$work/audit.jsonl" >/dev/null || fail "the reloads whose new principals wait (5., 6.) are not audited as refused in both parts"
jq -s -e 'map(select(.event == "reload_refused" and .details.code == "policy" and .details.refused == "both")) | length == 1' \
    "$work/audit.jsonl" >/dev/null || fail "the reload of an invalid policy (6.) is not audited with its code and part"
jq -s -e 'map(select(.event == "reload_refused" and .details.refused == "directory")) | length == 2' \
    "$work/audit.jsonl" >/dev/null || fail "the two directories refused (7.) are not audited with their part"
jq -s -e 'map(select(.event == "policy_reloaded")) | length == 7' "$work/audit.jsonl" >/dev/null ||
    fail "the seven policies that loaded on reload are not audited"
finish "reload: unsigned policy refused, signed one loaded, revocation enforced mid-session"
