# Shared by the integration tests that run a real broker: a throw-away region with enrolled
# principals, the signed example policy, the broker on a loopback port, and agent
# configurations. It sources integration.sh ($work, fail, check, finish). Source it with
# FUSION_BIN set: . "$(dirname "$0")/../lib/broker.sh"
#   region_setup ID:ROLES ...   init a region, keygen + enroll the broker and each principal
#   broker_start / broker_stop / broker_kill   (a restart keeps the same port; stop waits 15 s)
#   agent ID COMMAND ARGS...    run fusion-agent as ID
#   direct_draft FILE TO TEXT   an amber operational case alert for principal TO
#   wait_for SECONDS COMMAND... poll every 0.1 s until COMMAND succeeds

. "$(dirname "$0")/../lib/integration.sh"
broker_pid=
trap 'broker_kill; rm -rf "$work"' EXIT

# Functions use `local` (dash and bash have it) so they never clobber a caller's loop variables.
wait_for() { # seconds command...
    local limit=$(($1 * 10)) tick=0
    shift
    while [ "$tick" -lt "$limit" ]; do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.1
        tick=$((tick + 1))
    done
    return 1
}

region_setup() { # ID:ROLE,ROLE ...
    local spec id
    "$FUSION_BIN/fusion-admin" init "$work/region" >/dev/null || return 1
    mkdir -p "$work/keys" "$work/state"
    for spec in RSO.FUSION.broker:auditor "$@"; do
        id=${spec%%:*}
        "$FUSION_BIN/fusion-agent" keygen "$id" --dir "$work/keys" >/dev/null &&
            "$FUSION_BIN/fusion-admin" enroll --region "$work/region" "$work/keys/$id.request" \
                --roles "${spec#*:}" >/dev/null || return 1
    done
    cp "${POLICY:-deploy/policy/bali-process.yaml}" "$work/region/policy.yaml"
    "$FUSION_BIN/fusion-admin" policy sign --region "$work/region" "$work/region/policy.yaml" >/dev/null || return 1
    cat >"$work/broker.yaml" <<YAML
id: RSO.FUSION.broker
key: keys/RSO.FUSION.broker.key
region: region
policy: region/policy.yaml
database: state/broker.db
endpoint: tcp://127.0.0.1:0
endpoint_file: state/endpoint
state_dir: state
${BROKER_EXTRA:-}
YAML
}

# The broker listens on a fixed port below the kernel's ephemeral range: a restart must come back
# on the port the agents know, and a port inside the range can be taken meanwhile by an agent's
# own reconnecting socket (a loopback TCP self-connect).
broker_start() {
    local tries=0 port config
    while :; do
        if grep -q '^endpoint: tcp://127.0.0.1:0$' "$work/broker.yaml"; then
            port=$((20000 + $(od -An -N2 -tu2 /dev/urandom) % 10000))
            sed -i "s|^endpoint: .*|endpoint: tcp://127.0.0.1:$port|" "$work/broker.yaml"
        fi
        rm -f "$work/state/endpoint"
        "$FUSION_BIN/fusion-broker" --config "$work/broker.yaml" >>"$work/broker.log" 2>&1 &
        broker_pid=$!
        wait_for 10 test -s "$work/state/endpoint" && break
        broker_kill
        tries=$((tries + 1))
        if [ "$tries" -ge 5 ] || ! tail -n 1 "$work/broker.log" | grep -q "cannot bind"; then
            echo "the broker did not start:"; tail -n 20 "$work/broker.log"
            ss -tanp 2>/dev/null | grep ":${port:-$(sed -n 's/.*:\([0-9]*\)$/\1/p' "$work/broker.yaml" | head -n 1)} " | head
            return 1
        fi
        [ -n "${endpoint:-}" ] && sleep 0.5 || sed -i "s|^endpoint: .*|endpoint: tcp://127.0.0.1:0|" "$work/broker.yaml"
    done
    endpoint=$(cat "$work/state/endpoint")
    for config in "$work"/agent-*.yaml; do
        [ -f "$config" ] && sed -i "s|^broker: .*|broker: $endpoint|" "$config"
    done
    return 0
}

broker_stop() { # SIGTERM: drain and exit 0 within 15 s, or it is killed and this fails
    local status
    [ -n "$broker_pid" ] || return 0
    kill -TERM "$broker_pid" 2>/dev/null
    if ! wait_for 15 sh -c "! kill -0 $broker_pid"; then
        echo "the broker did not stop within 15 s of SIGTERM"
        broker_kill
        return 1
    fi
    wait "$broker_pid"
    status=$?
    broker_pid=
    return $status
}

broker_kill() { # SIGKILL: the crash the store must survive
    [ -n "$broker_pid" ] || return 0
    kill -KILL "$broker_pid" 2>/dev/null
    wait "$broker_pid" 2>/dev/null
    broker_pid=
}

agent() { # ID COMMAND ARGS...
    local cmd config
    agent_config "$1"
    shift
    cmd=$1; shift
    "$FUSION_BIN/fusion-agent" "$cmd" --config "$config" "$@"
}

# The same in the background, as a child of this shell: $! is fusion-agent itself, so a kill
# stops it (`agent ... &` runs a subshell, and killing it leaves the agent running).
agent_bg() { # ID COMMAND ARGS...
    local cmd config
    agent_config "$1"
    shift
    cmd=$1; shift
    "$FUSION_BIN/fusion-agent" "$cmd" --config "$config" "$@" &
}

agent_config() { # ID: sets config to its file, written the first time
    local id=$1
    config=$work/agent-$id.yaml
    if [ ! -f "$config" ]; then
        cat >"$config" <<YAML
id: $id
key: keys/$id.key
authority: region/authority.pub
broker: ${endpoint:-tcp://127.0.0.1:1}
broker_cert: region/directory/RSO.FUSION.broker.cert
state: state/agent-$id
YAML
    fi
}

direct_draft() { # FILE RECIPIENT TEXT
    cat >"$1" <<YAML
kind: case_alert
audience: direct
recipients: [$2]
purpose: investigation
sections:
  - {id: 1, tlp: amber, categories: [operational], text: "$3"}
YAML
}
