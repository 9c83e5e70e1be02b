#!/bin/sh
# Sealing and opening with the real binaries: a region with a sender and two recipients, a
# two-section message where section 2 goes only to A; A opens both, B only section 1 and is told
# section 2 exists; a non-recipient, an unknown sender and altered files are refused (exit 3).
# Usage: FUSION_BIN=build/bin sh tests/integration/seal_open.sh
set -u
. "$(dirname "$0")/../lib/integration.sh"
cd "$work" || exit 1

# flip FILE OFFSET OUT: OUT is FILE with the byte at OFFSET changed.
flip() {
    size=$(wc -c <"$1")
    {
        head -c "$2" "$1"
        byte=$(dd if="$1" bs=1 skip="$2" count=1 2>/dev/null | od -An -tu1 | tr -d ' ')
        printf "\\$(printf '%03o' $(((byte + 1) % 256)))"
        tail -c $((size - $2 - 1)) "$1"
    } >"$3"
}

# --- a region -----------------------------------------------------------------------------------
"$admin" init region >/dev/null || fail "init"
for id in THA.RTP.fp1 IDN.POLRI.lo1 MYS.PDRM.fp1 PHL.IACAT.fp1; do
    "$agent" keygen "$id" --dir keys >/dev/null || fail "keygen $id"
done
for id in THA.RTP.fp1 IDN.POLRI.lo1 MYS.PDRM.fp1; do
    "$admin" enroll --region region "keys/$id.request" --roles focal_point,police >/dev/null ||
        fail "enroll $id"
done
# PHL.IACAT.fp1 has keys but no certificate.
sender_fp=$("$admin" directory --region region | grep '^THA.RTP.fp1 ' |
    grep -o '[0-9A-Z]\{4\}-[0-9A-Z]\{4\}-[0-9A-Z]\{4\}-[0-9A-Z]\{4\}')
[ -n "$sender_fp" ] || fail "no fingerprint for THA.RTP.fp1 in the directory listing"

# --- help ---------------------------------------------------------------------------------------
for cmd in seal open; do
    check "$cmd --help" 0 "$agent" "$cmd" --help
    contains out.txt "Usage: fusion-agent $cmd" "$cmd --help"
    contains out.txt "Exit codes" "$cmd --help"
done

# --- seal ---------------------------------------------------------------------------------------
printf 'Group of 12 expected at the Mae Sot crossing tonight.\n' >summary.txt
printf 'Passport numbers of the two organisers: MA1234567, MA7654321.\n' >documents.txt
check "seal" 0 "$agent" seal --key keys/THA.RTP.fp1.key --region region --kind case_alert \
    --to IDN.POLRI.lo1,MYS.PDRM.fp1 --route 'mmr>tha:mst>mys' --stage at_border \
    --purpose investigation --urgency urgent --case-ref RTP-2026-0042 \
    --section 'tlp=green;categories=operational,location;file=summary.txt' \
    --section 'tlp=amber;categories=operational,travel_document;file=documents.txt;to=IDN.POLRI.lo1' \
    --out alert.msg
contains out.txt "Sealed case_alert" "seal summary"
contains out.txt "section 2 (tlp amber; operational,travel_document) for IDN.POLRI.lo1$" \
    "seal: section 2 only for A"
[ -s alert.msg ] || fail "seal wrote no message"
# The header is signed but not encrypted, and the wrapped keys' labels are in clear: the content
# must show nowhere.
for secret in "Mae Sot" MA1234567; do
    grep -q "$secret" alert.msg && fail "the sealed file shows '$secret' in clear text"
done
grep -q "MMR>THA:MST>MYS" alert.msg || fail "the route is not in the header (normalised)"

# --out replaces a regular file, atomically; anything else at the path is refused and left alone
# (a rename would replace a symbolic link, a FIFO or a device node, not write into it).
seal_to() { # OUT
    "$agent" seal --key keys/THA.RTP.fp1.key --region region --kind notice --to IDN.POLRI.lo1 \
        --section 'tlp=green;categories=operational;text=hi' --out "$1"
}
printf 'old\n' >target.txt
ln -s target.txt out.lnk
mkfifo out.fifo
mkdir out.dir
for out in out.lnk out.fifo out.dir; do
    check "seal --out $out" 2 seal_to "$out"
    contains err.txt "seal: $out: not a regular file" "seal --out $out: why"
done
[ -L out.lnk ] && [ "$(cat target.txt)" = old ] || fail "seal --out replaced or wrote through a symlink"
[ -p out.fifo ] || fail "seal --out replaced a FIFO"
cp alert.msg again.msg
check "seal --out over a regular file" 0 seal_to again.msg
cmp -s alert.msg again.msg && fail "seal --out did not replace the regular file"

# --- open ---------------------------------------------------------------------------------------
check "open as A" 0 "$agent" open --key keys/IDN.POLRI.lo1.key --region region alert.msg
contains out.txt "From THA.RTP.fp1 (THA.RTP), signature verified, key fingerprint $sender_fp" \
    "A: verified sender"
contains out.txt "route MMR>THA:MST>MYS" "A: header"
contains out.txt "Section 1 (tlp green; operational,location):" "A: section 1"
contains out.txt "Group of 12 expected at the Mae Sot crossing tonight." "A: section 1 text"
contains out.txt "Section 2 (tlp amber; operational,travel_document):" "A: section 2"
contains out.txt "MA1234567, MA7654321" "A: section 2 text"
lacks out.txt "not given" "A was given everything"
# MSGFILE '-' is standard input, as open --help says.
check "open - (standard input)" 0 sh -c "'$agent' open --key keys/IDN.POLRI.lo1.key --region region - <alert.msg"
contains out.txt "MA1234567, MA7654321" "open -: section 2 text"

check "open as B" 0 "$agent" open --key keys/MYS.PDRM.fp1.key --region region alert.msg
contains out.txt "Group of 12 expected" "B: section 1 text"
lacks out.txt "MA1234567" "B must not see section 2"
contains out.txt "Section 2 (tlp amber; operational,travel_document): not given to you" \
    "B is told section 2 exists"
contains out.txt "Sections that exist but were not given to MYS.PDRM.fp1: 2$" "B: summary"

FUSION_REGION=region check "open as a non-recipient" 3 "$agent" open \
    --key keys/PHL.IACAT.fp1.key alert.msg
contains err.txt "no section is addressed to PHL.IACAT.fp1" "non-recipient"
lacks out.txt "Mae Sot" "non-recipient"

# --- altered messages ---------------------------------------------------------------------------
# Every 7th byte of the file, one at a time: never exit 0 with wrong content.
size=$(wc -c <alert.msg)
offset=0
while [ "$offset" -lt "$size" ]; do
    flip alert.msg "$offset" altered.msg
    "$agent" open --key keys/IDN.POLRI.lo1.key --region region altered.msg >out.txt 2>err.txt
    got=$?
    if [ "$got" -eq 0 ]; then
        # Only a change outside the signed and sealed parts may pass: B's wrapped key, or a label
        # (A is then told the section was not given to it, as a broker may withhold one). What
        # opens is exactly the original.
        if grep -q "^Section 1 (tlp green; operational,location):$" out.txt; then
            grep -q "Group of 12 expected at the Mae Sot" out.txt ||
                fail "altered at byte $offset: section 1 opened with different content"
        fi
        if grep -q "^Section 2 (tlp amber; operational,travel_document):$" out.txt; then
            grep -q "MA1234567, MA7654321" out.txt ||
                fail "altered at byte $offset: section 2 opened with different content"
        fi
    elif [ "$got" -ne 3 ] && [ "$got" -ne 2 ]; then
        fail "altered at byte $offset: exit $got (expected 2 or 3)"
    fi
    offset=$((offset + 7))
done
# A byte of the signed header, and a byte of the last section's ciphertext or key.
flip alert.msg 40 altered.msg
check "altered header" 3 "$agent" open --key keys/IDN.POLRI.lo1.key --region region altered.msg
contains err.txt "signature does not verify" "altered header"
flip alert.msg $((size - 10)) altered.msg
check "altered section 2" 3 "$agent" open --key keys/IDN.POLRI.lo1.key --region region \
    altered.msg
head -c $((size / 2)) alert.msg >truncated.msg
check "truncated" 2 "$agent" open --key keys/IDN.POLRI.lo1.key --region region truncated.msg
contains err.txt "malformed" "truncated"

# --- refusals -----------------------------------------------------------------------------------
# A sender without a certificate: its message is not trusted by anyone.
check "seal by an unenrolled sender (warned)" 0 "$agent" seal --key keys/PHL.IACAT.fp1.key \
    --region region --kind notice --to IDN.POLRI.lo1 \
    --section 'tlp=green;categories=operational;text=hello' --out unknown.msg
contains err.txt "no valid certificate" "unenrolled sender warned"
check "open from an unknown sender" 3 "$agent" open --key keys/IDN.POLRI.lo1.key \
    --region region unknown.msg
contains err.txt "has no certificate in the directory" "unknown sender"

check "recipient without certificate" 2 "$agent" seal --key keys/THA.RTP.fp1.key \
    --region region --kind notice --to PHL.IACAT.fp1 \
    --section 'tlp=green;categories=operational;text=hi' --out x.msg
contains err.txt "PHL.IACAT.fp1: no certificate in the directory" "unknown recipient"
check "section without tlp" 2 "$agent" seal --key keys/THA.RTP.fp1.key --region region \
    --kind notice --to IDN.POLRI.lo1 --section 'categories=operational;text=hi' --out x.msg
contains err.txt "tlp" "section without tlp"
check "unknown category" 2 "$agent" seal --key keys/THA.RTP.fp1.key --region region \
    --kind notice --to IDN.POLRI.lo1 --section 'tlp=green;categories=gossip;text=hi' --out x.msg
contains err.txt "unknown category 'gossip'" "unknown category"
# An empty item is refused wherever its comma is (a trailing one passed).
for cats in 'operational,' ',operational' 'operational,,location'; do
    check "categories '$cats'" 2 "$agent" seal --key keys/THA.RTP.fp1.key --region region \
        --kind notice --to IDN.POLRI.lo1 --section "tlp=green;categories=$cats;text=hi" --out x.msg
    contains err.txt "unknown category ''" "categories '$cats'"
done
check "handling with a trailing comma" 2 "$agent" seal --key keys/THA.RTP.fp1.key --region region \
    --kind notice --to IDN.POLRI.lo1 --section 'tlp=green;categories=operational;text=hi' \
    --handling crime_prevention_only, --out x.msg
contains err.txt "unknown handling ''" "handling with a trailing comma"
check "bad route" 2 "$agent" seal --key keys/THA.RTP.fp1.key --region region --kind notice \
    --to IDN.POLRI.lo1 --section 'tlp=green;categories=operational;text=hi' --route 'MMR>>THA' \
    --out x.msg
check "no kind" 2 "$agent" seal --key keys/THA.RTP.fp1.key --region region --to IDN.POLRI.lo1 \
    --section 'tlp=green;categories=operational;text=hi' --out x.msg
check "no region" 2 "$agent" seal --key keys/THA.RTP.fp1.key --kind notice --to IDN.POLRI.lo1 \
    --section 'tlp=green;categories=operational;text=hi' --out x.msg
contains err.txt "FUSION_REGION" "no region"
# A taskforce is read by the policy for audience taskforce only: with another audience (direct
# by default) it is refused, as alert, refer and a draft refuse it; audience taskforce needs one.
for audience in '' direct route focal_points; do
    check "--taskforce with audience '${audience:-direct (default)}'" 2 "$agent" seal \
        --key keys/THA.RTP.fp1.key --region region --kind notice --to IDN.POLRI.lo1 \
        --section 'tlp=green;categories=operational;text=hi' --taskforce TF-MEKONG \
        ${audience:+--audience "$audience"} --out x.msg
    contains err.txt "seal: --taskforce is only for audience taskforce (its members receive the message), but the audience is ${audience:-direct}: pick one" \
        "--taskforce with audience '${audience:-direct}'"
done
check "audience taskforce without --taskforce" 2 "$agent" seal --key keys/THA.RTP.fp1.key \
    --region region --kind notice --to IDN.POLRI.lo1 --audience taskforce \
    --section 'tlp=green;categories=operational;text=hi' --out x.msg
contains err.txt "audience taskforce needs --taskforce ID" "audience taskforce without --taskforce"
check "audience route without --route" 2 "$agent" seal --key keys/THA.RTP.fp1.key \
    --region region --kind notice --to IDN.POLRI.lo1 --audience route \
    --section 'tlp=green;categories=operational;text=hi' --out x.msg
contains err.txt "seal: audience route needs --route ROUTE" "audience route without --route"
check "--taskforce with audience taskforce" 0 "$agent" seal --key keys/THA.RTP.fp1.key \
    --region region --kind notice --to IDN.POLRI.lo1 --audience taskforce --taskforce TF-MEKONG \
    --section 'tlp=green;categories=operational;text=hi' --out tf.msg
# A section's file=- is a file named '-', not standard input (only open's MSGFILE '-' is).
check "file=- is not standard input" 2 sh -c "'$agent' seal --key keys/THA.RTP.fp1.key --region region \
    --kind notice --to IDN.POLRI.lo1 --section 'tlp=green;categories=operational;file=-' --out x.msg <summary.txt"
contains err.txt "seal: -: no such file" "file=- is not standard input"
# An authority.pub whose fingerprint line does not match its key: a mistyped copy, said so, as
# fusion-admin and the broker say it (it was "malformed").
sed 's/^fingerprint: ..../fingerprint: ZZZZ/' region/authority.pub >mistyped.pub
check "a mistyped authority.pub" 2 "$agent" seal --key keys/THA.RTP.fp1.key \
    --authority mistyped.pub --directory region/directory --kind notice --to IDN.POLRI.lo1 \
    --section 'tlp=green;categories=operational;text=hi' --out x.msg
contains err.txt "mistyped.pub: its fingerprint line does not match its key" "a mistyped authority.pub"
[ -e x.msg ] && fail "a refused seal wrote a file"

chmod 0644 keys/IDN.POLRI.lo1.key
check "readable key file" 3 "$agent" open --key keys/IDN.POLRI.lo1.key --region region alert.msg
contains err.txt "chmod 600" "readable key file"
chmod 0600 keys/IDN.POLRI.lo1.key
# Secret keys are read only from a regular file: a link to a good key file is refused for
# security (exit 3, as a readable one is), with a sentence naming the file and the rule.
mkdir linked && ln -s ../keys/IDN.POLRI.lo1.key linked/lo1.key ||
    fail "cannot make the link"
check "a key file through a symbolic link" 3 "$agent" open --key linked/lo1.key --region region \
    alert.msg
contains err.txt "linked/lo1.key: secret keys are read only from a regular file, not through a symbolic link" \
    "the refusal names the file and the rule"
lacks err.txt "could not be read or written" "not the generic I/O error"
# A key file that cannot be opened is a system error (4) with the system's reason.
check "a key path through a file" 4 "$agent" open --key alert.msg/lo1.key --region region alert.msg
contains err.txt "alert.msg/lo1.key: Not a directory" "the system's reason"
# As nobody when the tests run as root (root reads any file).
chmod 0000 keys/IDN.POLRI.lo1.key
[ "$(id -u)" -ne 0 ] || chown -R 65534:65534 "$work"
unprivileged() {
    if [ "$(id -u)" -eq 0 ]; then
        setpriv --reuid 65534 --regid 65534 --clear-groups "$@"
    else
        "$@"
    fi
}
check "an unreadable key file" 4 unprivileged "$agent" open --key keys/IDN.POLRI.lo1.key \
    --region region alert.msg
contains err.txt "IDN.POLRI.lo1.key: Permission denied" "the system's reason (Permission denied)"
chmod 0600 keys/IDN.POLRI.lo1.key

# A referral's consent_recorded and the header's consent are one answer. A referral that leaves
# the field out (false on the wire: older agents, and seal with content=) under a header with
# consent is shown with the header's "yes", never as "no"; one that records consent its header
# does not is shown as that.
printf '\022\007\012\005forge' >referral.bin             # referral {reason: forge}
printf '\022\011\012\005forge\050\001' >referral-yes.bin # ... consent_recorded: true
check "seal a referral with the header's consent" 0 "$agent" seal --key keys/THA.RTP.fp1.key \
    --region region --kind referral --to IDN.POLRI.lo1 --consent \
    --section 'tlp=amber;content=referral.bin' --out referral.msg
check "open it" 0 "$agent" open --key keys/IDN.POLRI.lo1.key --region region referral.msg
contains out.txt ", consent yes$" "the header's consent"
contains out.txt "^    consent recorded: yes$" "the referral's, the header's answer"
lacks out.txt "consent recorded: no" "never 'no' against the header"
check "seal a referral whose consent is not in its header" 0 "$agent" seal \
    --key keys/THA.RTP.fp1.key --region region --kind referral --to IDN.POLRI.lo1 \
    --section 'tlp=amber;content=referral-yes.bin' --out referral-yes.msg
check "open it" 0 "$agent" open --key keys/IDN.POLRI.lo1.key --region region referral-yes.msg
contains out.txt ", consent no$" "the header says no consent"
contains out.txt "consent recorded: yes in this referral, but not in the signed header" \
    "the referral's consent is said to be its own"

# Once the sender is revoked, its messages are no longer opened.
"$admin" revoke --region region THA.RTP.fp1 >/dev/null || fail "revoke"
check "open from a revoked sender" 3 "$agent" open --key keys/IDN.POLRI.lo1.key \
    --region region alert.msg
contains err.txt "revoked" "revoked sender"

finish seal_open
