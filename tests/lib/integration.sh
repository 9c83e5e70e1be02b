# Shared by the integration scripts: the FUSION_BIN check, a throw-away work directory removed on
# exit, failure counting, running a command against its expected exit status, and the verdict.
# Source it first: . "$(dirname "$0")/../lib/integration.sh"   (FUSION_BIN must be set)
#   $bin $admin $agent           the directory of the built binaries, and two of them
#   $work                        a fresh temporary directory, removed when the script exits
#   fail MESSAGE...              prints "FAIL: MESSAGE" and counts one failure
#   check NAME EXPECTED-EXIT COMMAND...
#                                runs COMMAND with stdout in $work/out.txt and stderr in
#                                $work/err.txt; a failure if the exit differs or a sanitizer spoke
#   contains FILE TEXT NAME / lacks FILE TEXT NAME   grep FILE for TEXT (a failure named NAME)
#   finish NAME                  prints the verdict and exits: 0 only if nothing failed

bin=${FUSION_BIN:?set FUSION_BIN to the directory of the built binaries}
admin=$bin/fusion-admin
agent=$bin/fusion-agent
work=$(mktemp -d "${TMPDIR:-/tmp}/fusion-$(basename "$0" .sh)-XXXXXX") || exit 2
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT TERM
unset FUSION_REGION
failures=0

fail() {
    echo "FAIL: $*"
    failures=$((failures + 1))
}

check() {
    _check_name=$1 _check_want=$2
    shift 2
    "$@" >"$work/out.txt" 2>"$work/err.txt"
    _check_got=$?
    if grep -q -e 'Sanitizer' -e 'runtime error' "$work/err.txt"; then
        fail "$_check_name: sanitizer report"
        sed 's/^/    stderr: /' "$work/err.txt"
    elif [ "$_check_got" -ne "$_check_want" ]; then
        fail "$_check_name: exit $_check_got, expected $_check_want"
        sed 's/^/    stdout: /' "$work/out.txt"
        sed 's/^/    stderr: /' "$work/err.txt"
    fi
}

contains() {
    grep -q -- "$2" "$1" || {
        fail "$3: '$2' not in $1"
        sed 's/^/    /' "$1"
    }
}

lacks() {
    if grep -q -- "$2" "$1"; then
        fail "$3: '$2' should not be in $1"
        sed 's/^/    /' "$1"
    fi
}

finish() {
    if [ "$failures" -ne 0 ]; then
        echo "$1: $failures check(s) failed"
        exit 1
    fi
    echo "$1: all checks passed"
    exit 0
}
