#!/bin/sh
# A region end to end with the real binaries: fusion-admin init, fusion-agent keygen, enroll,
# directory (text and JSON), revoke, and the refusals an operator must see explained.
# Usage: FUSION_BIN=build/bin sh tests/integration/region.sh
set -u
. "$(dirname "$0")/../lib/integration.sh"
cd "$work" || exit 1

# --- help ---------------------------------------------------------------------------------------
for cmd in init enroll revoke directory; do
    check "admin $cmd --help" 0 "$admin" "$cmd" --help
    contains out.txt "Usage: fusion-admin $cmd" "admin $cmd --help"
    contains out.txt "Exit codes" "admin $cmd --help"
done
check "agent keygen --help" 0 "$agent" keygen --help
contains out.txt "Usage: fusion-agent keygen ID" "agent keygen --help"
"$admin" enroll --help | grep -q FUSION_REGION || fail "enroll --help does not mention FUSION_REGION"

# --- init ---------------------------------------------------------------------------------------
check "init" 0 "$admin" init region
contains out.txt "fingerprint: [0-9A-Z]\{4\}-[0-9A-Z]\{4\}-[0-9A-Z]\{4\}-[0-9A-Z]\{4\}" "init"
for f in authority.key authority.pub revocations.crl serial directory; do
    [ -e "region/$f" ] || fail "init did not create region/$f"
done
[ "$(stat -c %a region/authority.key)" = 600 ] || fail "authority.key is not mode 0600"
contains region/authority.pub "fusion-authority-key: 1" "authority.pub"
check "init refuses a non-empty region" 2 "$admin" init region
contains err.txt "not empty" "init on a non-empty region"
mkdir empty
check "init in an empty directory" 0 "$admin" init empty --authority-id IDN.FUSION.authority
contains out.txt "IDN.FUSION.authority" "init --authority-id"
check "init with a bad authority id" 2 "$admin" init other --authority-id nonsense
check "init with an empty name" 2 "$admin" init ''
contains err.txt "^fusion-admin: init: the REGION directory is an empty name" "init ''"

# --- keygen -------------------------------------------------------------------------------------
for id in THA.RTP.fp1 IDN.POLRI.lo2 LKA.CID.smpu1; do
    check "keygen $id" 0 "$agent" keygen "$id" --dir keys
    contains out.txt "fingerprint:" "keygen $id"
    contains out.txt "Send keys/$id.request" "keygen $id"
    [ "$(stat -c %a "keys/$id.key")" = 600 ] || fail "keys/$id.key is not mode 0600"
    [ -s "keys/$id.request" ] || fail "keys/$id.request missing"
    grep -q "sign-seed" "keys/$id.request" && fail "the request contains a secret"
    grep "fingerprint:" out.txt | awk '{print $2}' >"keys/$id.fp"
done
before=$(cksum <keys/THA.RTP.fp1.key)
check "keygen refuses to overwrite" 2 "$agent" keygen THA.RTP.fp1 --dir keys
contains err.txt "keys/THA.RTP.fp1.key already exists" "keygen overwrite"
[ "$(cksum <keys/THA.RTP.fp1.key)" = "$before" ] || fail "keygen changed an existing key file"
check "keygen with a bad id" 2 "$agent" keygen thailand --dir keys
contains err.txt "not a principal id" "keygen bad id"

# --- enroll -------------------------------------------------------------------------------------
check "enroll THA" 0 "$admin" enroll --region region keys/THA.RTP.fp1.request \
    --roles focal_point,police
contains out.txt "$(cat keys/THA.RTP.fp1.fp)" "enroll shows the requester's fingerprint"
contains out.txt "Enrolled THA.RTP.fp1: serial 1" "enroll summary"
FUSION_REGION=region check "enroll IDN (FUSION_REGION)" 0 "$admin" enroll \
    keys/IDN.POLRI.lo2.request --roles liaison_officer,immigration --days 30
check "enroll LKA with the right fingerprint" 0 "$admin" enroll --region region \
    keys/LKA.CID.smpu1.request --roles analyst --fingerprint "$(cat keys/LKA.CID.smpu1.fp)"
[ -s region/directory/LKA.CID.smpu1.cert ] || fail "no certificate file for LKA.CID.smpu1"

check "enroll the same id again" 2 "$admin" enroll --region region keys/THA.RTP.fp1.request \
    --roles police
contains err.txt "already enrolled" "enroll twice"
contains err.txt "--replace" "enroll twice"
check "bad role word" 2 "$admin" enroll --region region keys/THA.RTP.fp1.request \
    --roles focal_point,smuggler
contains err.txt "unknown role 'smuggler'" "bad role"
contains err.txt "liaison_officer" "bad role lists the valid ones"
check "missing request file" 2 "$admin" enroll --region region keys/MYS.PDRM.x1.request \
    --roles police
contains err.txt "keys/MYS.PDRM.x1.request: no such request file" "missing request"
check "bad --days" 2 "$admin" enroll --region region keys/THA.RTP.fp1.request --roles police \
    --days 0
check "no region" 2 "$admin" enroll keys/THA.RTP.fp1.request --roles police
contains err.txt "FUSION_REGION" "no region"
check "unknown option" 2 "$admin" enroll --region region --colour keys/THA.RTP.fp1.request
check "not a request" 2 "$admin" enroll --region region region/authority.pub --roles police
# An empty role is refused wherever the comma is (a trailing one passed).
for roles in 'police,' ',police' 'police,,analyst' ''; do
    check "--roles '$roles'" 2 "$admin" enroll --region region keys/THA.RTP.fp1.request \
        --roles "$roles" --replace
    contains err.txt "has an empty role" "--roles '$roles'"
done
# A request that is a directory is bad input (exit 2), not a system error (it was 4).
check "a directory as the request" 2 "$admin" enroll --region region keys --roles police
contains err.txt "^fusion-admin: enroll: keys: is a directory$" "a directory as the request"
# One that cannot be read gets the system's reason (it was "a file could not be read or
# written"), as a user who cannot read it (nobody, when the tests run as root).
cp keys/THA.RTP.fp1.request keys/unreadable.request
chmod 000 keys/unreadable.request
if [ "$(id -u)" -eq 0 ]; then
    chmod 711 "$work" "$work/keys"
    check "an unreadable request" 4 setpriv --reuid 65534 --regid 65534 --clear-groups \
        "$admin" enroll --region region keys/unreadable.request --roles police
    chmod 700 "$work" "$work/keys"
else
    check "an unreadable request" 4 "$admin" enroll --region region keys/unreadable.request \
        --roles police
fi
contains err.txt "^fusion-admin: enroll: keys/unreadable.request: Permission denied$" \
    "an unreadable request: the system's reason"
rm -f keys/unreadable.request

"$agent" keygen MYS.PDRM.x1 --dir keys >/dev/null || fail "keygen MYS.PDRM.x1"
check "fingerprint mismatch" 3 "$admin" enroll --region region keys/MYS.PDRM.x1.request \
    --roles police --fingerprint "$(cat keys/THA.RTP.fp1.fp)"
contains err.txt "nothing was enrolled" "fingerprint mismatch"
# An altered request (one byte of its body changed) fails its self-signature. The byte becomes
# 'Z', or 'Y' where it was a 'Z' already (the key's bytes are random: 'Z' alone left one request
# in 256 or so unaltered, and the check failed).
size=$(wc -c <keys/MYS.PDRM.x1.request)
byte=Z
[ "$(head -c 21 keys/MYS.PDRM.x1.request | tail -c 1 | od -An -c | tr -d ' ')" = Z ] && byte=Y
{
    head -c 20 keys/MYS.PDRM.x1.request
    printf '%s' "$byte"
    tail -c $((size - 21)) keys/MYS.PDRM.x1.request
} >keys/altered.request
cmp -s keys/altered.request keys/MYS.PDRM.x1.request && fail "the altered request is not altered"
check "altered request" 3 "$admin" enroll --region region keys/altered.request --roles police

# A readable authority key is refused, saying why and how to fix it.
chmod 0644 region/authority.key
check "readable authority key" 3 "$admin" enroll --region region keys/MYS.PDRM.x1.request \
    --roles police
contains err.txt "region/authority.key: the secret key file can be read by group or others" \
    "readable key: why"
contains err.txt "chmod 600" "readable key: how to fix"
[ -e region/directory/MYS.PDRM.x1.cert ] && fail "enrolled with a readable authority key"
chmod 0600 region/authority.key

# --- directory ----------------------------------------------------------------------------------
check "directory" 0 "$admin" directory --region region
contains out.txt "FINGERPRINT" "directory header"
for id in THA.RTP.fp1 IDN.POLRI.lo2 LKA.CID.smpu1; do
    grep "^$id " out.txt | grep -q "valid$" || fail "directory: $id is not listed as valid"
    grep "^$id " out.txt | grep -q "$(cat keys/$id.fp)" || fail "directory: $id fingerprint"
done
grep "^THA.RTP.fp1 " out.txt | grep -q "focal_point,police" || fail "directory: THA roles"

if command -v jq >/dev/null 2>&1; then
    check "directory --json" 0 "$admin" directory --region region --json
    [ "$(jq '.principals | length' out.txt)" = 3 ] || fail "json: not 3 principals"
    [ "$(jq -r '.principals[] | select(.id == "IDN.POLRI.lo2") | .roles | join(",")' out.txt)" \
        = "liaison_officer,immigration" ] || fail "json: IDN roles"
    [ "$(jq -r '.principals[] | select(.id == "LKA.CID.smpu1") | .fingerprint' out.txt)" \
        = "$(cat keys/LKA.CID.smpu1.fp)" ] || fail "json: LKA fingerprint"
    [ "$(jq -r '.principals[] | select(.id == "THA.RTP.fp1") | .agency' out.txt)" = THA.RTP ] ||
        fail "json: agency"
    [ "$(jq -r '[.principals[].status] | unique | join(",")' out.txt)" = valid ] ||
        fail "json: statuses"
    jq -e '.principals[0].not_after | test("^20[0-9][0-9]-")' out.txt >/dev/null ||
        fail "json: not_after"
    [ "$(jq '.revocations.sequence' out.txt)" = 1 ] || fail "json: revocation sequence"
else
    fail "jq is not installed; the JSON checks did not run"
fi

# --- revoke -------------------------------------------------------------------------------------
check "revoke IDN" 0 "$admin" revoke --region region IDN.POLRI.lo2
contains out.txt "Revoked IDN.POLRI.lo2 (serial 2); revocation list sequence 2" "revoke"
check "directory after revoke" 0 "$admin" directory --region region
grep "^IDN.POLRI.lo2 " out.txt | grep -q "revoked$" || fail "IDN not shown as revoked"
grep "^THA.RTP.fp1 " out.txt | grep -q "valid$" || fail "THA no longer valid"
"$admin" directory --region region --json >out.txt
[ "$(jq -r '.principals[] | select(.id == "IDN.POLRI.lo2") | .status' out.txt)" = revoked ] ||
    fail "json: IDN not revoked"
[ "$(jq '.revocations.sequence' out.txt)" = 2 ] || fail "json: sequence after revoke"
check "revoke again" 0 "$admin" revoke --region region IDN.POLRI.lo2
contains out.txt "already revoked" "revoke twice"
check "revoke unknown" 2 "$admin" revoke --region region VNM.MPS.x1
contains err.txt "VNM.MPS.x1 is not enrolled" "revoke unknown"
check "revoke bad id" 2 "$admin" revoke --region region nobody

# --replace revokes the old certificate and issues a new one.
check "enroll --replace" 0 "$admin" enroll --region region keys/THA.RTP.fp1.request \
    --roles police --replace
contains out.txt "revoked" "replace"
"$admin" directory --region region --json >out.txt
[ "$(jq -r '.principals[] | select(.id == "THA.RTP.fp1") | .serial' out.txt)" = 4 ] ||
    fail "replace: new serial"
[ "$(jq '.revocations.count' out.txt)" = 2 ] || fail "replace: old serial not revoked"

# A certificate file from another region is reported and left out (exit 1).
"$agent" keygen VNM.MPS.x1 --dir keys >/dev/null
"$admin" enroll --region empty keys/VNM.MPS.x1.request --roles ngo >/dev/null ||
    fail "enroll in the second region"
cp empty/directory/VNM.MPS.x1.cert region/directory/
check "directory with a foreign certificate" 1 "$admin" directory --region region
contains err.txt "VNM.MPS.x1.cert: the certificate is not signed by the pinned authority" \
    "foreign certificate reported"
grep -q "^VNM.MPS.x1 " out.txt && fail "foreign certificate listed"
rm region/directory/VNM.MPS.x1.cert

# A copy of authority.pub whose fingerprint line was mistyped is refused as such (it was "the data
# is malformed and cannot be decoded"), as docs/region.md says.
cp -r region mistyped
fp=$(sed -n 's/^fingerprint: //p' region/authority.pub)
case $fp in A*) wrong=B${fp#A} ;; *) wrong=A${fp#?} ;; esac
sed -i "s/^fingerprint: .*/fingerprint: $wrong/" mistyped/authority.pub
check "directory with a mistyped authority.pub" 2 "$admin" directory --region mistyped
contains err.txt "mistyped/authority.pub: its fingerprint line does not match its key" \
    "a mistyped fingerprint named"
lacks err.txt "malformed" "a mistyped fingerprint is not 'malformed'"
check "enroll with a mistyped authority.pub" 2 "$admin" enroll --region mistyped \
    keys/THA.RTP.fp1.request --roles police --replace
contains err.txt "its fingerprint line does not match its key" "enroll: a mistyped fingerprint"

# A deleted revocation list is never taken as "nobody is revoked".
mv region/revocations.crl crl.saved
check "directory without a revocation list" 2 "$admin" directory --region region
contains err.txt "revocations.crl" "missing revocation list"
mv crl.saved region/revocations.crl

finish region
