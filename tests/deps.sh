#!/bin/sh
# Installs the Debian packages Fusion needs when they are missing (as root), or prints the exact
# apt-get line to run. Usage: tests/deps.sh PACKAGE...
missing=""
for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "deps: installing$missing"
    export DEBIAN_FRONTEND=noninteractive
    (apt-get update -q && apt-get install -y -q --no-install-recommends $missing) >/tmp/fusion-deps.log 2>&1 || {
        echo "deps: apt-get failed; see /tmp/fusion-deps.log" >&2
        tail -n 20 /tmp/fusion-deps.log >&2
        exit 1
    }
    exit 0
fi
echo "deps: missing Debian packages. Run as root:" >&2
echo "  apt-get install -y$missing" >&2
exit 1
