#!/bin/sh
# fusion-broker's own input: --check accepts a valid configuration and binds nothing; a bad
# configuration is refused with FILE:LINE:COLUMN and exit 2; an unsigned policy or a broker
# without a certificate for its keys is refused before it listens; usage errors exit 2.
set -u
. "$(dirname "$0")/../lib/broker.sh"
broker=$FUSION_BIN/fusion-broker
region_setup THA.RTP.fp1:focal_point,police || exit 1
config=$work/broker.yaml

check "--help" 0 "$broker" --help
contains "$work/out.txt" "Exit codes" "--help lists the exit codes"
check "--version" 0 "$broker" --version
check "no arguments" 2 "$broker"
check "an unknown option" 2 "$broker" --config "$config" --frobnicate
check "--check on a valid configuration" 0 "$broker" --config "$config" --check
[ ! -e "$work/state/endpoint" ] || fail "--check bound a socket (it wrote the endpoint file)"
[ ! -e "$work/state/broker.db" ] || fail "--check created the database"

bad() { # name line:column text-in-error  (the configuration is in $work/bad.yaml)
    check "$1" 2 "$broker" --config "$work/bad.yaml" --check
    contains "$work/err.txt" "bad.yaml:$2" "$1: the error gives the position"
    contains "$work/err.txt" "$3" "$1: the error says what is wrong"
}
sed 's/^state_dir: state$/state_dir: state\nbogus: 1/' "$config" >"$work/bad.yaml"
bad "an unknown key" "9:1" "unknown key 'bogus'"
grep -v '^database:' "$config" >"$work/bad.yaml"
bad "a missing key" "1:1" "needs 'database'"
sed 's|^endpoint: .*|endpoint: http://127.0.0.1:1|' "$config" >"$work/bad.yaml"
bad "a bad endpoint" "6:11" "tcp://ADDRESS:PORT"
printf '%s\nlimits: {replay_window: soon}\n' "$(cat "$config")" >"$work/bad.yaml"
bad "a bad duration" "9:25" "duration"
# ZMTP carries a heartbeat's time to live in 16 bits of tenths of a second: a longer timeout
# used to pass --check and then abort the broker in libczmq when it set the socket option.
printf '%s\ntransport: {heartbeat_timeout: 7200s}\n' "$(cat "$config")" >"$work/bad.yaml"
bad "a heartbeat timeout the transport cannot carry" "9:32" "heartbeat_timeout must be at most 1h"
printf '%s\nworkers: 0\n' "$(cat "$config")" >"$work/bad.yaml"
bad "a bad worker count" "9:10" "workers"
printf 'id: [a, b\n' >"$work/bad.yaml"
bad "a YAML syntax error" "2:1" "YAML syntax error"
check "a missing file" 2 "$broker" --config "$work/nothing.yaml" --check
contains "$work/err.txt" "nothing.yaml" "the missing file is named"

# Trust: an edited (unsigned) policy and a broker id without a certificate are refused.
cp "$work/region/policy.yaml" "$work/policy.keep"
printf '\n# edited\n' >>"$work/region/policy.yaml"
check "an unsigned policy" 2 "$broker" --config "$config" --check
contains "$work/err.txt" "signature" "the refusal names the signature"
cp "$work/policy.keep" "$work/region/policy.yaml"
sed 's/^id: .*/id: RSO.FUSION.other/' "$config" >"$work/other.yaml"
check "a broker id with no certificate" 2 "$broker" --config "$work/other.yaml" --check
contains "$work/err.txt" "no valid certificate for RSO.FUSION.other" "the refusal says what is missing"
chmod 644 "$work/keys/RSO.FUSION.broker.key"
check "a readable broker key file" 2 "$broker" --config "$config" --check
contains "$work/err.txt" "chmod 600" "the refusal says how to fix it"
finish "broker configuration"
