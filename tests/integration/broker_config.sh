#!/bin/sh
# fusion-broker's own input: --check accepts a valid configuration and binds nothing; a bad
# configuration is refused with FILE:LINE:COLUMN and exit 2; an unsigned policy or a broker
# without a certificate for its keys is refused before it listens (exit 3 when it is refused for
# security, as fusion-admin and fusion-agent do); an unreadable file exits 4; usage errors exit 2.
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
contains "$work/out.txt" "configuration, signed policy and directory are valid" "--check: valid"
# A certificate that does not verify is skipped, as at start (its principal refused), and
# --check does not call that directory valid: it names the file and says so, still exit 0.
cp -r "$work/region" "$work/region-bad"
byte=$(od -An -tu1 -j40 -N1 "$work/region-bad/directory/THA.RTP.fp1.cert" | tr -d ' ')
# shellcheck disable=SC2059 # the octal escape of another byte than the one there
printf "\\$(printf %o $(((byte + 1) % 256)))" |
    dd of="$work/region-bad/directory/THA.RTP.fp1.cert" bs=1 seek=40 conv=notrunc 2>/dev/null
cmp -s "$work/region/directory/THA.RTP.fp1.cert" "$work/region-bad/directory/THA.RTP.fp1.cert" &&
    fail "the certificate was not altered"
sed "s|^region: .*|region: region-bad|" "$config" >"$work/bad-cert.yaml"
check "--check with a certificate that does not verify" 0 "$broker" --config "$work/bad-cert.yaml" --check
contains "$work/err.txt" "directory: skipped .*THA.RTP.fp1.cert" "--check names the skipped certificate"
contains "$work/out.txt" "the directory is loaded without 1 certificate(s) that do not verify" \
    "--check says the directory is loaded without it"
grep -q "directory are valid" "$work/out.txt" && fail "--check calls a directory with a forged certificate valid"

# --check writes nothing at all: not the state directory, not its CURVE directory.
listing() { # NAME: every path under $work, into $work/NAME.listing
    find "$work" ! -name '*.listing' | sort >"$work/$1.listing"
}
unchanged() { # WHAT: the filesystem is as in before.listing
    listing after
    cmp -s "$work/before.listing" "$work/after.listing" ||
        { fail "$1 changed the filesystem"; diff "$work/before.listing" "$work/after.listing"; }
}
rm -rf "$work/state"
listing before
check "--check before the state directory exists" 0 "$broker" --config "$config" --check
unchanged "--check"

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
# Values that cannot make sense: a rate without its period, PINGs further apart than the silence
# after which agents drop the connection, timers too short to mean anything.
printf '%s\nlimits: {rate: 200}\n' "$(cat "$config")" >"$work/bad.yaml"
bad "a rate without its unit" "9:16" "rate needs its unit: N/s, N/min or N/h"
printf '%s\nlimits: {max_subscriptions: 0}\n' "$(cat "$config")" >"$work/bad.yaml"
bad "no subscription at all per principal" "9:29" \
    "max_subscriptions must be a whole number from 1 to 1000000, found '0'"
printf '%s\ntransport: {heartbeat: 10s, heartbeat_timeout: 5s}\n' "$(cat "$config")" \
    >"$work/bad.yaml"
bad "a heartbeat timeout shorter than the heartbeat" "9:48" \
    "heartbeat_timeout must be longer than heartbeat (10s), found '5s'"
printf '%s\ntransport: {heartbeat: 1m}\n' "$(cat "$config")" >"$work/bad.yaml"
bad "a heartbeat longer than the default timeout" "9:24" \
    "heartbeat must be shorter than heartbeat_timeout (30s by default)"
printf '%s\ntransport: {heartbeat: 1ms}\n' "$(cat "$config")" >"$work/bad.yaml"
bad "a 1 ms heartbeat" "9:24" "heartbeat must be at least 100ms"
printf '%s\ntransport: {handshake: 1ms}\n' "$(cat "$config")" >"$work/bad.yaml"
bad "a 1 ms handshake" "9:24" "handshake must be at least 100ms"
printf '%s\nlimits: {replay_window: 1ms}\n' "$(cat "$config")" >"$work/bad.yaml"
bad "a 1 ms replay window" "9:25" "replay_window must be at least 1s"
# A message may be created up to replay_window before the broker's clock: one that lives no
# longer than that could arrive expired (max_ttl had no minimum: 1ms passed).
printf '%s\nlimits: {max_ttl: 5m}\n' "$(cat "$config")" >"$work/bad.yaml"
bad "a max_ttl within the default replay window" "9:19" \
    "max_ttl must be longer than replay_window (10m by default), found '5m'"
printf '%s\nlimits: {replay_window: 1h, max_ttl: 1h}\n' "$(cat "$config")" >"$work/bad.yaml"
bad "a max_ttl no longer than the replay window" "9:38" \
    "max_ttl must be longer than replay_window (1h), found '1h'"
printf '%s\nlimits: {max_ttl: 1ms}\n' "$(cat "$config")" >"$work/bad.yaml"
bad "a 1 ms max_ttl" "9:19" "max_ttl must be at least 1s"
printf '%s\ndelivery: {retry: 500ms}\n' "$(cat "$config")" >"$work/bad.yaml"
bad "a retry under the housekeeping second" "9:19" "retry must be at least 1s"
printf '%s\nlimits: {replay_window: 1s, max_ttl: 2s, rate: 1/h}\ndelivery: {retry: 1s, prune_interval: 1s}
transport: {heartbeat: 100ms, heartbeat_timeout: 200ms, handshake: 100ms}
audit: {checkpoint_interval: 1s}\n' "$(cat "$config")" >"$work/short.yaml"
check "the shortest values accepted" 0 "$broker" --config "$work/short.yaml" --check
printf '%s\nworkers: 0\n' "$(cat "$config")" >"$work/bad.yaml"
bad "a bad worker count" "9:10" "workers"
printf '%s\nmetrics: 127.0.0.1:27700\n' "$(sed 's|^endpoint: .*|endpoint: tcp://*:27700|' "$config")" >"$work/bad.yaml"
bad "metrics on the endpoint's port" "9:10" "metrics '127.0.0.1:27700' is on the endpoint's port (tcp://\*:27700)"
# One sentence ("metrics '0.0.0.0:9464' metrics are served on loopback only", review s18 F7).
printf '%s\nmetrics: 0.0.0.0:9464\n' "$(cat "$config")" >"$work/bad.yaml"
bad "metrics not on loopback" "9:10" "metrics '0.0.0.0:9464': not a loopback address (they are served on 127.0.0.1, \[::1\] or localhost only)$"
printf '%s\nmetrics: 127.0.0.1:99999\n' "$(cat "$config")" >"$work/bad.yaml"
bad "a metrics port out of range" "9:10" "metrics '127.0.0.1:99999': the port must be 0 to 65535$"
printf '%s\nmetrics: 127.0.0.1:27701\n' "$(sed 's|^endpoint: .*|endpoint: tcp://*:27700|' "$config")" >"$work/good.yaml"
check "metrics on a port of its own" 0 "$broker" --config "$work/good.yaml" --check
rm -f "$work/good.yaml"
printf 'id: [a, b\n' >"$work/bad.yaml"
bad "a YAML syntax error" "2:1" "YAML syntax error"
check "a missing file" 2 "$broker" --config "$work/nothing.yaml" --check
contains "$work/err.txt" "nothing.yaml" "the missing file is named"

# Paths that cannot work are configuration errors with their position, with --check and at start.
sed 's|^state_dir: .*|state_dir: broker.yaml|' "$config" >"$work/bad.yaml"
bad "a state_dir that is a file" "8:12" "state_dir .*broker.yaml is not a directory"
listing before
check "a state_dir that is a file, at start" 2 "$broker" --config "$work/bad.yaml"
contains "$work/err.txt" "bad.yaml:8:12: state_dir" "at start: the error gives the position"
unchanged "a refused start"
sed 's|^database: .*|database: region|' "$config" >"$work/bad.yaml"
bad "a database that is a directory" "5:11" "database .*region is a directory"
sed 's|^database: .*|database: nowhere/broker.db|' "$config" >"$work/bad.yaml"
bad "a database in a directory that does not exist" "5:11" "its directory .*nowhere does not exist"
check "a database in a directory that does not exist, at start" 2 "$broker" \
    --config "$work/bad.yaml"
contains "$work/err.txt" "bad.yaml:5:11: database" "at start: the error gives the position"
sed 's|^database: .*|database: broker.yaml/broker.db|' "$config" >"$work/bad.yaml"
bad "a database below a file" "5:11" "a part of its path is a file"
# The endpoint file is written once the broker listens: a directory that is not there was found
# only then, after the store had been opened.
sed 's|^endpoint_file: .*|endpoint_file: nowhere/endpoint|' "$config" >"$work/bad.yaml"
bad "an endpoint_file in a directory that does not exist" "7:16" \
    "endpoint_file .*nowhere/endpoint cannot be written: its directory .*nowhere does not exist"
sed 's|^endpoint_file: .*|endpoint_file: region|' "$config" >"$work/bad.yaml"
bad "an endpoint_file that is a directory" "7:16" "endpoint_file .*region is a directory"
mkdir "$work/state"

# --check reads an existing database as the start would, and creates nothing beside it (no
# journal, write-ahead log or -shm file): a file that is not a Fusion store is refused as the
# start refuses it (exit 4, "cannot open the store"); it used to pass --check.
sed 's|^database: .*|database: broker.yaml|' "$config" >"$work/bad.yaml"
listing before
check "--check with a YAML file as the database" 4 "$broker" --config "$work/bad.yaml" --check
contains "$work/err.txt" "cannot open the store .*broker.yaml: .*not a database" \
    "the refusal says the file is not a database"
unchanged "--check with a YAML file as the database"
sqlite3 "$work/state/other.db" "CREATE TABLE t (a); INSERT INTO t VALUES (1);" ||
    fail "sqlite3: a database of another program"
sed 's|^database: .*|database: state/other.db|' "$config" >"$work/bad.yaml"
listing before
check "--check with another program's database" 4 "$broker" --config "$work/bad.yaml" --check
contains "$work/err.txt" "cannot open the store .*other.db: not a Fusion store" \
    "the refusal says it is not a Fusion store"
unchanged "--check with another program's database"
rm -f "$work/state/other.db"
# A store, stopped and then running (its write-ahead log and index beside it): accepted, and
# nothing appears or goes.
broker_start || exit 1
broker_stop || fail "the broker did not stop cleanly"
[ -s "$work/state/broker.db" ] || fail "the broker made no store"
listing before
check "--check with a store" 0 "$broker" --config "$config" --check
unchanged "--check with a store"
broker_start || exit 1
listing before
check "--check with a store a broker has open" 0 "$broker" --config "$config" --check
unchanged "--check with a store a broker has open"
# An endpoint or a metrics address another process holds: exit 5 (systemd restarts it, as
# the address may be free by then), not 2, which would stop a unit for good.
sed -e 's|^database: .*|database: state/second.db|' -e 's|^endpoint_file: .*|endpoint_file: state/second-endpoint|' \
    "$config" >"$work/second.yaml"
check "an endpoint in use" 5 "$broker" --config "$work/second.yaml"
contains "$work/err.txt" "cannot bind tcp://127.0.0.1:[0-9]*: Address already in use (another process holds it" \
    "the refusal says the endpoint is in use"
sed -e 's|^endpoint: .*|endpoint: tcp://127.0.0.1:0|' "$work/second.yaml" >"$work/third.yaml"
port=$(sed -n 's|^tcp://127.0.0.1:||p' "$work/state/endpoint")
printf 'metrics: 127.0.0.1:%s\n' "$port" >>"$work/third.yaml"
check "a metrics address in use" 5 "$broker" --config "$work/third.yaml"
contains "$work/err.txt" "cannot listen for metrics on 127.0.0.1:$port: Address already in use (another" \
    "the refusal says the metrics address is in use"
rm -f "$work/state/second.db" "$work/state/second.db-wal" "$work/state/second.db-shm" \
    "$work/state/second-endpoint" "$work/second.yaml" "$work/third.yaml"
unchanged "a start on addresses in use"
broker_stop || fail "the broker did not stop cleanly"

# Security refusals exit 3, at start and with --check: a key file others can read, a policy or
# revocation list whose signature does not verify, a broker certificate that is not the
# authority's, revoked, or for other keys. A broker id with no certificate is not enrolled: 2.
cp "$work/region/policy.yaml" "$work/policy.keep"
printf '\n# edited\n' >>"$work/region/policy.yaml"
check "an edited policy" 3 "$broker" --config "$config" --check
contains "$work/err.txt" "signature" "the refusal names the signature"
check "an edited policy, at start" 3 "$broker" --config "$config"
cp "$work/policy.keep" "$work/region/policy.yaml"
mv "$work/region/policy.yaml.sig" "$work/policy.sig.keep"
check "a policy without its signature" 3 "$broker" --config "$config" --check
contains "$work/err.txt" "no signature file" "the refusal says the signature is missing"
mv "$work/policy.sig.keep" "$work/region/policy.yaml.sig"
sed 's/^id: .*/id: RSO.FUSION.other/' "$config" >"$work/other.yaml"
check "a broker id with no certificate" 2 "$broker" --config "$work/other.yaml" --check
contains "$work/err.txt" "no valid certificate for RSO.FUSION.other" "the refusal says what is missing"
# A region copied without its directory/ of certificates is not a broker to enrol.
mkdir "$work/nodir"
cp "$work/region/authority.pub" "$work/region/revocations.crl" "$work/region/policy.yaml" \
    "$work/region/policy.yaml.sig" "$work/nodir/"
sed 's|^region: .*|region: nodir|' "$config" >"$work/nodir.yaml"
check "a region without its directory" 2 "$broker" --config "$work/nodir.yaml" --check
contains "$work/err.txt" "the region .*nodir has no directory of certificates: .*nodir/directory does not exist" \
    "the refusal says the directory is missing"
lacks "$work/err.txt" "enrol" "a missing directory is not a broker to enrol"
chmod 644 "$work/keys/RSO.FUSION.broker.key"
check "a readable broker key file" 3 "$broker" --config "$config" --check
contains "$work/err.txt" "chmod 600" "the refusal says how to fix it"
check "a readable broker key file, at start" 3 "$broker" --config "$config"
chmod 600 "$work/keys/RSO.FUSION.broker.key"
ln -s RSO.FUSION.broker.key "$work/keys/link.key"
sed 's|^key: .*|key: keys/link.key|' "$config" >"$work/link.yaml"
check "a broker key file through a symbolic link" 3 "$broker" --config "$work/link.yaml" --check
contains "$work/err.txt" "link.key: secret keys are read only from a regular file, not through a symbolic link" \
    "the refusal names the file and the rule"
# A copy of the region to spoil: another authority's revocation list and broker certificate.
"$admin" init "$work/foreign" >/dev/null || fail "init a foreign region"
"$admin" enroll --region "$work/foreign" "$work/keys/RSO.FUSION.broker.request" --roles auditor \
    >/dev/null || fail "enrol the broker in the foreign region"
cp -r "$work/region" "$work/copy"
sed 's|^region: .*|region: copy|' "$config" >"$work/copy.yaml"
check "a copy of the region" 0 "$broker" --config "$work/copy.yaml" --check
cp "$work/foreign/revocations.crl" "$work/copy/revocations.crl"
check "a revocation list that is not the authority's" 3 "$broker" --config "$work/copy.yaml" --check
contains "$work/err.txt" "not signed by the pinned authority" "the refusal says why"
cp "$work/region/revocations.crl" "$work/copy/revocations.crl"
cp "$work/foreign/directory/RSO.FUSION.broker.cert" "$work/copy/directory/"
check "a broker certificate that is not the authority's" 3 "$broker" \
    --config "$work/copy.yaml" --check
contains "$work/err.txt" "RSO.FUSION.broker.cert: the certificate is not signed" \
    "the refusal says why"
cp "$work/region/directory/RSO.FUSION.broker.cert" "$work/copy/directory/"
"$agent" keygen RSO.FUSION.broker --dir "$work/newkeys" >/dev/null || fail "keygen"
sed 's|^key: .*|key: newkeys/RSO.FUSION.broker.key|' "$work/copy.yaml" >"$work/newkeys.yaml"
check "broker keys other than the certified ones" 3 "$broker" --config "$work/newkeys.yaml" --check
contains "$work/err.txt" "does not hold the keys certified" "the refusal says why"
"$admin" revoke --region "$work/copy" RSO.FUSION.broker >/dev/null || fail "revoke the broker"
check "a revoked broker certificate" 3 "$broker" --config "$work/copy.yaml" --check
contains "$work/err.txt" "RSO.FUSION.broker is revoked" "the refusal says why"
check "a revoked broker certificate, at start" 3 "$broker" --config "$work/copy.yaml"

# As an unprivileged user: nobody when the tests run as root (root reads and writes any file).
unprivileged() {
    if [ "$(id -u)" -eq 0 ]; then
        setpriv --reuid 65534 --regid 65534 --clear-groups "$@"
    else
        "$@"
    fi
}
[ "$(id -u)" -ne 0 ] || chown -R 65534:65534 "$work"
# --check needs no write access: a state directory its user cannot write does not stop it.
mkdir "$work/readonly"
[ "$(id -u)" -ne 0 ] || chown 0:0 "$work/readonly"
chmod 555 "$work/readonly"
sed 's|^state_dir: .*|state_dir: readonly|' "$config" >"$work/readonly.yaml"
check "--check with a state directory it cannot write" 0 unprivileged "$broker" \
    --config "$work/readonly.yaml" --check
# A file that cannot be read is a system error (4), with the system's reason.
chmod 000 "$work/keys/RSO.FUSION.broker.key"
check "an unreadable broker key file" 4 unprivileged "$broker" --config "$config" --check
contains "$work/err.txt" "RSO.FUSION.broker.key: Permission denied" \
    "the error gives the system's reason"
finish "broker configuration"
