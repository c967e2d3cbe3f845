#!/usr/bin/env bash
# Regenerate requirements-lock.txt: resolve pyproject.toml's ranges (test extra included) afresh, in a
# new venv on this CPU machine, and write every installed distribution's exact version.
# Run the suite on the result (make test) before committing it: the lock is the set CI tested.
set -euo pipefail
cd "$(dirname "$0")/.."

LOCK="requirements-lock.txt"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
[ -f "$LOCK" ] || echo "torch==2.13.0" > "$LOCK"  # only the torch line is read by a first lock

ALTERNAS_DEPS=latest ALTERNAS_VENV="$WORK/venv" ./scripts/setup.sh
{
    echo "# Exact versions of every dependency of alternas (test extra included) on a CPU machine, the set"
    echo "# CI tested. Written by 'make lock' (scripts/lock.sh) on $(date -u +%Y-%m-%d) with Python"
    echo "# $("$WORK/venv/bin/python" -c 'import platform; print(platform.python_version())'); scripts/setup.sh installs it."
    echo "# torch is listed without its build tag: setup.sh installs the CPU or the CUDA build of that version."
    "$WORK/venv/bin/python" -m pip --disable-pip-version-check freeze --all --exclude-editable \
        | grep -v -E '^(pip|alternas)==' \
        | sed -E 's/^(torch==[^+]*)\+.*/\1/'
} > "$LOCK.tmp"
mv "$LOCK.tmp" "$LOCK"
echo "lock: wrote $LOCK ($(grep -c '==' "$LOCK") packages)"
