#!/bin/sh
# Installation and systemd: `make install DESTDIR=... PREFIX=/usr` lays out binaries, man pages,
# example configuration and policy, and systemd units with their paths filled in; with any PREFIX
# (the default /usr/local too) the state is under /var/lib, where the units' StateDirectory= puts
# it; the units pass `systemd-analyze verify`; the broker speaks systemd's notify protocol (READY, RELOADING,
# STOPPING, STATUS) and reads its key through LoadCredential= (`key: credential:NAME`).
# Usage: FUSION_BIN=build/bin FUSION_TOOLS=build/tools sh tests/integration/deploy_install.sh
set -u
. "$(dirname "$0")/../lib/broker.sh"
sink_pid=
trap '[ -n "$sink_pid" ] && kill "$sink_pid" 2>/dev/null; broker_kill; rm -rf "$work"' EXIT
build=$(dirname "$FUSION_BIN")
root=$work/root

# --- make install ------------------------------------------------------------------------------
env -u MAKEFLAGS -u MAKELEVEL -u MFLAGS make --no-print-directory -s BUILD="$build" \
    install DESTDIR="$root" PREFIX=/usr >"$work/install.log" 2>&1 ||
    { fail "make install"; tail -n 20 "$work/install.log"; }
for f in usr/bin/fusion-broker usr/bin/fusion-admin usr/bin/fusion-agent; do
    [ -x "$root/$f" ] || fail "install: $f is missing or not executable"
done
for f in usr/share/man/man1/fusion-broker.1 usr/share/man/man1/fusion-admin.1 \
    usr/share/man/man1/fusion-agent.1 usr/share/man/man5/fusion-broker.yaml.5 \
    usr/share/man/man5/fusion-policy.5 usr/share/man/man5/fusion-scenario.5 \
    usr/share/doc/fusion/exercises/smpu-visit-visa-alert.yaml usr/lib/systemd/system/fusion-broker.service \
    usr/lib/systemd/system/fusion-agent@.service etc/fusion/broker.yaml.example \
    etc/fusion/agent/agent.yaml.example etc/fusion/policy.yaml.example \
    usr/share/doc/fusion/README.md usr/share/doc/fusion/broker.md; do
    [ -s "$root/$f" ] || fail "install: $f is missing or empty"
done
for f in "$root"/usr/share/man/man*/*; do
    head -c 200 "$f" | grep -q '^\.TH\|^\.\\"' || fail "install: $f is not a roff man page"
done
grep -l '@[a-z]*dir@' "$root"/usr/lib/systemd/system/* "$root"/etc/fusion/*.example \
    "$root"/etc/fusion/agent/*.example >"$work/unrendered" 2>/dev/null &&
    { fail "install: placeholders left in"; cat "$work/unrendered"; }
contains "$root/usr/lib/systemd/system/fusion-broker.service" \
    "ExecStart=/usr/bin/fusion-broker --config /etc/fusion/broker.yaml" "broker unit paths"
contains "$root/etc/fusion/broker.yaml.example" "database: /var/lib/fusion/broker.db" \
    "example configuration paths"
"$root/usr/bin/fusion-broker" --version | grep -q '^fusion-broker ' ||
    fail "the installed broker does not run"
# A policy installed as an example is the real one: it checks.
check "installed example policy checks" 0 "$admin" policy check "$root/etc/fusion/policy.yaml.example"
# The state the example configurations name is where the units' StateDirectory= puts it: under
# /var/lib (systemd's %S), whatever the PREFIX. With the default PREFIX=/usr/local it was
# /usr/local/var/lib/fusion, which systemd does not create and ProtectSystem=strict keeps
# read-only. state_where ROOT UNITDIR ETCDIR: checks an installation in ROOT.
state_where() {
    local unit=$1$2/fusion-broker.service agent_unit=$1$2/fusion-agent@.service dir
    dir=$(sed -n 's/^StateDirectory=//p' "$unit")
    [ "$dir" = fusion ] || fail "$unit: StateDirectory=$dir"
    contains "$unit" "^WorkingDirectory=%S/$dir$" "$unit: works in its state directory"
    contains "$1$3/fusion/broker.yaml.example" "^database: /var/lib/$dir/broker.db\\( \\|$\\)" \
        "$3: the example database is in the broker's state directory"
    contains "$1$3/fusion/broker.yaml.example" "^state_dir: /var/lib/$dir$" \
        "$3: the example state_dir is the broker's state directory"
    dir=$(sed -n 's/^StateDirectory=//p' "$agent_unit" | sed 's/%i/THA.RTP.fp1/')
    contains "$agent_unit" "^WorkingDirectory=%S/fusion-agent/%i$" "$agent_unit: works in its state directory"
    contains "$1$3/fusion/agent/agent.yaml.example" "^state: /var/lib/$dir\\( \\|$\\)" \
        "$3: the example agent state is the agent's state directory"
    ! grep -rn "/var/lib\|%S" "$1$2" "$1$3" | grep -v -e "/var/lib/fusion" -e "%S/fusion" \
        -e "under /var/lib" >"$work/stray" || { fail "$1: state elsewhere"; cat "$work/stray"; }
}
state_where "$root" /usr/lib/systemd/system /etc
# sysconfdir is honoured on its own too.
env -u MAKEFLAGS -u MAKELEVEL -u MFLAGS make --no-print-directory -s BUILD="$build" install \
    DESTDIR="$work/root2" PREFIX=/opt/fusion sysconfdir=/etc/opt/fusion \
    >"$work/install2.log" 2>&1 || { fail "make install (custom dirs)"; tail -n 20 "$work/install2.log"; }
contains "$work/root2/etc/opt/fusion/fusion/broker.yaml.example" \
    "^region: /etc/opt/fusion/fusion/region$" "sysconfdir honoured"
[ -x "$work/root2/opt/fusion/bin/fusion-agent" ] || fail "PREFIX=/opt/fusion: no bin/fusion-agent"
state_where "$work/root2" /opt/fusion/lib/systemd/system /etc/opt/fusion
# The default PREFIX, /usr/local.
env -u MAKEFLAGS -u MAKELEVEL -u MFLAGS -u PREFIX make --no-print-directory -s BUILD="$build" \
    install DESTDIR="$work/root3" >"$work/install3.log" 2>&1 ||
    { fail "make install (default PREFIX)"; tail -n 20 "$work/install3.log"; }
contains "$work/root3/usr/local/lib/systemd/system/fusion-broker.service" \
    "^ExecStart=/usr/local/bin/fusion-broker --config /usr/local/etc/fusion/broker.yaml$" \
    "default PREFIX: broker unit paths"
state_where "$work/root3" /usr/local/lib/systemd/system /usr/local/etc
grep -rl "/usr/local/var" "$work/root3" >"$work/stray" && { fail "/usr/local/var installed"; cat "$work/stray"; }

# --- systemd-analyze verify ---------------------------------------------------------------------
# The installed units, with ExecStart pointing into DESTDIR (verify wants the binaries to exist),
# for PREFIX=/usr and the default /usr/local.
for prefix in /usr:"$root" /usr/local:"$work/root3"; do
    dest=${prefix#*:} prefix=${prefix%%:*}
    rm -rf "$work/units"
    mkdir -p "$work/units"
    for u in fusion-broker.service fusion-agent@.service; do
        sed "s|$prefix/bin/fusion-|$dest$prefix/bin/fusion-|g" \
            "$dest$prefix/lib/systemd/system/$u" >"$work/units/$u"
    done
    cp "$work/units/fusion-agent@.service" "$work/units/fusion-agent@THA.RTP.fp1.service"
    (cd "$work/units" && systemd-analyze verify --man=no ./fusion-broker.service \
        ./fusion-agent@THA.RTP.fp1.service) >"$work/verify.log" 2>&1 ||
        { fail "systemd-analyze verify (PREFIX=$prefix)"; cat "$work/verify.log"; }
    [ -s "$work/verify.log" ] &&
        { fail "systemd-analyze verify printed warnings (PREFIX=$prefix)"; cat "$work/verify.log"; }
done
contains "$work/units/fusion-broker.service" "^ExecReload=/bin/kill -HUP" "broker unit: ExecReload"
contains "$work/units/fusion-broker.service" "^RestartPreventExitStatus=2 3 4$" \
    "broker unit: no restart after a security refusal (exit 3) or a storage error (exit 4) either"
contains "$work/units/fusion-agent@.service" "^RestartPreventExitStatus=2 3 4$" \
    "agent unit: no restart after a security refusal (exit 3) or a storage error (exit 4) either"
contains "$work/units/fusion-agent@.service" "^ExecStart=.*/fusion-agent listen --summary --config " \
    "agent unit: listen --summary, so no content goes to the journal"
for setting in Type=notify ProtectSystem=strict NoNewPrivileges=yes PrivateTmp=yes \
    StateDirectory= RestrictAddressFamilies= SystemCallFilter=@system-service LoadCredential= \
    RestartPreventExitStatus=2; do
    for u in fusion-broker.service fusion-agent@.service; do
        contains "$work/units/$u" "^$setting" "$u: $setting"
    done
done

# --- the broker under a service manager ----------------------------------------------------------
region_setup THA.RTP.fp1:focal_point,police || { echo "FAIL: region setup"; exit 1; }
# The key comes through a credentials directory, as LoadCredential= hands it over.
mkdir -p "$work/creds"
cp "$work/keys/RSO.FUSION.broker.key" "$work/creds/broker.key"
chmod 0600 "$work/creds/broker.key"
sed -i 's|^key: .*|key: credential:broker.key|' "$work/broker.yaml"
check "credential without CREDENTIALS_DIRECTORY" 2 env -u CREDENTIALS_DIRECTORY \
    "$bin/fusion-broker" --config "$work/broker.yaml" --check
contains "$work/err.txt" "CREDENTIALS_DIRECTORY" "the error names the missing credentials directory"
contains "$work/err.txt" "broker.yaml:2:" "the error names file and line"
export CREDENTIALS_DIRECTORY="$work/creds"
check "credential key: --check" 0 "$bin/fusion-broker" --config "$work/broker.yaml" --check

"$FUSION_TOOLS/notify_sink" "$work/notify.sock" --timeout 60 >"$work/notify.log" 2>&1 &
sink_pid=$!
wait_for 10 test -S "$work/notify.sock" || fail "notify_sink did not bind"
export NOTIFY_SOCKET="$work/notify.sock"
broker_start || { echo "FAIL: the broker did not start with its key from a credential"; exit 1; }
wait_for 10 grep -q '^READY=1' "$work/notify.log" || fail "no READY=1 from the broker"
wait_for 10 grep -q "^STATUS=serving on $endpoint" "$work/notify.log" ||
    fail "no STATUS naming the endpoint"
# The agent's listen (fusion-agent@.service) speaks the same protocol.
NOTIFY_SOCKET="$work/notify.sock" agent THA.RTP.fp1 listen --timeout 3 >/dev/null 2>"$work/listen.err"
grep -q '^STATUS=receiving for THA.RTP.fp1' "$work/notify.log" ||
    { fail "no STATUS from the agent's listen"; cat "$work/listen.err"; }
grep -q '^STOPPING=1$' "$work/notify.log" || fail "no STOPPING=1 from the agent's listen"
[ "$(grep -c '^READY=1' "$work/notify.log")" -ge 2 ] || fail "no READY=1 from the agent's listen"
kill -HUP "$broker_pid"
wait_for 10 sh -c "[ \$(grep -c '^READY=1' '$work/notify.log') -ge 3 ]" ||
    fail "no READY=1 after the reload"
wait_for 10 grep -q '^RELOADING=1|MONOTONIC_USEC=[0-9]' "$work/notify.log" || fail "no RELOADING=1"
broker_stop || fail "the broker did not stop cleanly"
wait_for 10 sh -c "[ \$(grep -c '^STOPPING=1' '$work/notify.log') -ge 2 ]" ||
    fail "no STOPPING=1 from the broker"
unset NOTIFY_SOCKET
cat "$work/notify.log" | sed 's/^/    notify: /'
# A damaged store: the broker refuses to start with exit 4, which the unit does not restart (it
# was reopened every 2 s). The store is not touched.
sed 's|^database: .*|database: state/damaged.db|' "$work/broker.yaml" >"$work/damaged.yaml"
head -c 8192 /dev/urandom >"$work/state/damaged.db"
cp "$work/state/damaged.db" "$work/damaged.copy"
check "a broker on a damaged store" 4 "$bin/fusion-broker" --config "$work/damaged.yaml"
contains "$work/err.txt" "cannot open the store" "the damaged store is named in the log"
cmp -s "$work/state/damaged.db" "$work/damaged.copy" || fail "the damaged store was changed"
case " $(sed -n 's/^RestartPreventExitStatus=//p' "$work/units/fusion-broker.service") " in
*" 4 "*) ;;
*) fail "the broker unit restarts a broker that exits 4 on a damaged store" ;;
esac
finish deploy_install
