#!/bin/sh
# A failed write to standard output is an I/O error in every binary: with stdout on /dev/full
# (a full disk), the commands that print (listings, exports, opened messages, answers) exit 4
# and say so on stderr, instead of exiting 0 with their output lost; a command that failed
# otherwise keeps its own exit code. "--" ends the options of every command.
# Usage: FUSION_BIN=build/bin sh tests/integration/cli_output.sh   (from the repository root)
set -u
[ -w /dev/full ] || { echo "FAIL: /dev/full is needed"; exit 1; }
. "$(dirname "$0")/../lib/broker.sh"

# full NAME EXPECTED-EXIT COMMAND...: COMMAND with stdout on /dev/full, stderr in $work/err.txt.
full() {
    _full_name=$1 _full_want=$2
    shift 2
    "$@" >/dev/full 2>"$work/err.txt" </dev/null
    _full_got=$?
    if [ "$_full_got" -ne "$_full_want" ]; then
        fail "$_full_name: exit $_full_got, expected $_full_want"
        sed 's/^/    stderr: /' "$work/err.txt"
    fi
}
# written NAME PROG: the one message that names the failed write.
written() {
    contains "$work/err.txt" "^$2: cannot write to standard output: No space left on device$" "$1"
    [ "$(wc -l <"$work/err.txt")" -eq 1 ] || fail "$1: more than one line on stderr"
}

region_setup THA.RTP.fp1:focal_point,police IDN.POLRI.fp1:focal_point,police ||
    { echo "FAIL: region setup"; exit 1; }
broker_start || exit 1
direct_draft "$work/notice.yaml" IDN.POLRI.fp1 "Two vans at the border."
agent THA.RTP.fp1 send "$work/notice.yaml" --yes >"$work/out" 2>&1 ||
    { fail "send"; cat "$work/out"; }
agent IDN.POLRI.fp1 listen --json --count 1 --timeout 20 >/dev/null 2>&1 || fail "listen"

# --- fusion-agent -------------------------------------------------------------------------------
full "agent inbox --json" 4 agent IDN.POLRI.fp1 inbox --json
written "agent inbox --json" fusion-agent
full "agent inbox" 4 agent IDN.POLRI.fp1 inbox
written "agent inbox" fusion-agent
full "agent --help" 4 "$agent" --help
written "agent --help" fusion-agent

cd "$work" || exit 1
printf 'Two vans at the border.\n' >summary.txt
"$agent" seal --key keys/THA.RTP.fp1.key --region region --kind case_alert --to IDN.POLRI.fp1 \
    --purpose investigation --section 'tlp=amber;categories=operational;file=summary.txt' \
    --out alert.msg >/dev/null || fail "seal"
full "agent open" 4 "$agent" open --key keys/IDN.POLRI.fp1.key --region region alert.msg
written "agent open" fusion-agent
# seal --out - reports the failed write itself, once, and writes no summary to stderr after it.
full "agent seal --out -" 4 "$agent" seal --key keys/THA.RTP.fp1.key --region region \
    --kind case_alert --to IDN.POLRI.fp1 --purpose investigation \
    --section 'tlp=amber;categories=operational;file=summary.txt' --out -
contains err.txt "seal: cannot write to standard output" "agent seal --out -"
[ "$(wc -l <err.txt)" -eq 1 ] || fail "agent seal --out -: more than one line on stderr"

# --- fusion-admin -------------------------------------------------------------------------------
full "admin route match" 4 "$admin" route match THA THA
written "admin route match" fusion-admin
full "admin directory" 4 "$admin" directory --region region
written "admin directory" fusion-admin
full "admin directory --json" 4 "$admin" directory --region region --json
written "admin directory --json" fusion-admin
full "admin policy explain" 4 "$admin" policy explain --policy region/policy.yaml \
    "$FUSION_TEST_DATA/explain/01-victim-referral-tha-idn.json"
written "admin policy explain" fusion-admin
# A command that fails otherwise keeps its code: no match is 1, a bad pattern 2.
full "admin route match, no match" 1 "$admin" route match THA MYS
written "admin route match, no match" fusion-admin
full "admin route match, bad pattern" 2 "$admin" route match '*:BKK' THA
lacks err.txt "standard output" "admin route match, bad pattern"

broker_stop || fail "the broker did not stop cleanly"
full "admin audit export" 4 "$admin" audit export state/broker.db
written "admin audit export" fusion-admin
"$admin" audit export state/broker.db >export.jsonl || fail "audit export to a file"
[ -s export.jsonl ] || fail "audit export wrote nothing"
# A directory named as the DB is bad input (SQLite called it a disk I/O error, exit 4).
check "admin audit export of a directory" 2 "$admin" audit export state
contains err.txt "^fusion-admin: audit export: state: is a directory$" "audit export of a directory"

# --- "--" ends the options, in every binary -------------------------------------------------------
# It was counted as an argument by the commands that read theirs by hand (route match, policy,
# audit): `route match -- P R` was "got 3 arguments". After it, what looks like an option is an
# operand.
check "admin route match --" 0 "$admin" route match -- 'THA>**' 'THA>MYS'
contains out.txt "^match$" "admin route match --"
check "admin route match -- -x" 2 "$admin" route match -- -x THA
contains err.txt "invalid pattern" "admin route match -- -x: -x is the pattern"
check "admin policy check --" 0 "$admin" policy check -- region/policy.yaml
check "admin policy check -- --help" 2 "$admin" policy check -- --help
contains err.txt "policy check: --help: no such file" "admin policy check -- --help: a file name"
check "admin policy explain --" 0 "$admin" policy explain --policy region/policy.yaml --text -- \
    "$FUSION_TEST_DATA/explain/01-victim-referral-tha-idn.json"
check "admin policy verify --" 0 "$admin" policy verify --region region -- region/policy.yaml
check "admin audit export --" 0 "$admin" audit export -- state/broker.db
check "admin audit show --" 1 "$admin" audit show --msg 00000000000000000000000000000000 -- \
    state/broker.db
contains err.txt "no audit entry names message" "admin audit show --"
check "admin directory --" 0 "$admin" directory --region region --
check "agent inbox --" 0 agent IDN.POLRI.fp1 inbox --
check "broker --check --" 0 "$FUSION_BIN/fusion-broker" --config broker.yaml --check --
# Options that exclude each other are refused, as the usage says ([--json | --raw]).
check "admin status --json --raw" 2 "$admin" status --metrics 127.0.0.1:1 --json --raw
contains err.txt "give --json or --raw, not both" "admin status --json --raw"

# --- fusion-broker ------------------------------------------------------------------------------
full "broker --version" 4 "$FUSION_BIN/fusion-broker" --version
written "broker --version" fusion-broker
full "broker --check" 4 "$FUSION_BIN/fusion-broker" --config broker.yaml --check
# The broker logs to stderr too: the message is among its lines.
contains err.txt "^fusion-broker: cannot write to standard output: No space left on device$" \
    "broker --check"

finish cli_output
