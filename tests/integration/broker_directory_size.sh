#!/bin/sh
# A directory whose DIRECTORY answer is over the 8 MiB an agent reads in one frame: the broker
# answers every DIRECTORY_REQUEST with ERROR too_large (tests/unit/test_frame_limit.c sizes the
# answer), and it says so to its operator before any agent asks: one warning line in the log at
# start, from --check (which still exits 0: a warning, not an invalid configuration), and after
# a SIGHUP reload that installs such a directory; none for a directory that fits. The region
# gets 26,500 certificates of 320 bytes (forge_certs: expired, so none is admitted), about
# 8.4 MB of answer.
# Usage: FUSION_BIN=build/bin FUSION_TOOLS=build/tools sh tests/integration/broker_directory_size.sh
set -u
. "$(dirname "$0")/../lib/broker.sh"

warning="warning: the directory of [0-9]* certificates does not fit in one DIRECTORY answer: the answer would be [0-9]* bytes, more than an agent accepts (8388608): every agent that asks for it gets ERROR too_large; take expired and revoked principals' certificates out of the region's directory"
warnings() { grep -c "$warning" "$work/broker.log"; }
directory() { # what THA.RTP.fp1 is answered to a DIRECTORY_REQUEST
    "$FUSION_TOOLS/rogue" --endpoint "$endpoint" --timeout 20000 --key "$work/keys/THA.RTP.fp1.key" \
        --broker-cert "$work/region/directory/RSO.FUSION.broker.cert" \
        --authority "$work/region/authority.pub" directory 2>&1 | head -c 300
}
reload() { # NAME: SIGHUP, and wait for the directory it reloads
    local before
    before=$(grep -c "reloaded directory" "$work/broker.log")
    kill -HUP "$broker_pid"
    wait_for 60 sh -c "[ \$(grep -c 'reloaded directory' '$work/broker.log') -gt $before ]" ||
        fail "$1: the directory was not reloaded"
}

region_setup THA.RTP.fp1:focal_point,police IDN.POLRI.fp1:focal_point,police || exit 1
: >"$work/broker.log"

# --- A directory that fits: no warning -----------------------------------------------------
check "--check of a directory that fits" 0 "$FUSION_BIN/fusion-broker" --config "$work/broker.yaml" --check
lacks "$work/err.txt" "warning" "--check of a directory that fits"
broker_start || exit 1
case $(directory) in DIRECTORY*) ;; *) fail "a directory that fits is not answered: $(directory)" ;; esac
[ "$(warnings)" = 0 ] || fail "a warning for a directory that fits: $(cat "$work/broker.log")"

# --- Outgrown, installed by a reload: one warning, and the agents' ERROR --------------------
"$FUSION_TOOLS/forge_certs" "$work/region" 26500 || fail "forge_certs"
reload "the outgrown directory"
[ "$(warnings)" = 1 ] || fail "the reload that installs the outgrown directory: $(warnings) warning(s), not 1: $(tail -n 5 "$work/broker.log")"
got=$(directory)
case $got in
"ERROR too_large: the answer would be "*" bytes, more than an agent accepts (8388608): the region's directory has outgrown one answer; tell the broker's operator"*) ;;
*) fail "a DIRECTORY over 8 MiB: got '$got'" ;;
esac

# --- At start, and from --check (exit 0: a warning) ------------------------------------------
broker_stop || fail "broker stop"
broker_start || exit 1
[ "$(warnings)" = 2 ] || fail "the start with the outgrown directory: $(warnings) warning(s) in all, not 2"
check "--check of the outgrown directory" 0 "$FUSION_BIN/fusion-broker" --config "$work/broker.yaml" --check
contains "$work/err.txt" "$warning" "--check warns"
[ "$(grep -c "$warning" "$work/err.txt")" = 1 ] || fail "--check: not one warning line"
contains "$work/out.txt" "configuration, signed policy and directory are valid" "--check still says valid"

# --- Back under the limit: the next reload warns no more ------------------------------------
find "$work/region/directory" -name "ZZZ.*.cert" -delete
reload "the directory back under the limit"
[ "$(warnings)" = 2 ] || fail "a warning for the directory back under the limit"
case $(directory) in DIRECTORY*) ;; *) fail "the directory back under the limit is not answered" ;; esac

broker_stop || fail "broker stop"
finish broker_directory_size
