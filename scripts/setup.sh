#!/usr/bin/env bash
# Create a virtual environment and install alternas with its test dependencies.
#
# Two modes (ALTERNAS_DEPS):
#   locked (default)  .venv: the exact versions of requirements-lock.txt, the set CI tested;
#   latest            .venv-latest: the newest versions pyproject.toml's ranges allow (upgraded on every
#                     run), to catch an upstream release that breaks alternas before a user meets it.
# ALTERNAS_VENV overrides the folder.
#
# torch comes first so that pip never pulls a multi-GB CUDA build onto a CPU machine:
#   * a machine with an NVIDIA GPU (nvidia-smi works) gets the default PyPI (CUDA) build: the lock's
#     version when locked, the newest when latest;
#   * a CPU machine gets the lock's torch (2.13.0, whose CPU build this machine's pip finds on disk; set
#     TORCH_INDEX=https://download.pytorch.org/whl/cpu where pip has no local CPU wheel), in both modes:
#     the newest torch on PyPI is a CUDA build;
#   * a torch already in the venv (bring your own) is kept as it is.
# Whatever torch is then installed is pinned with a constraints file, so no dependency can replace it,
# and the lock's own torch line is left out.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
DEPS="${ALTERNAS_DEPS:-locked}"
LOCK="requirements-lock.txt"
case "$DEPS" in
    locked) VENV="${ALTERNAS_VENV:-.venv}" ;;
    latest) VENV="${ALTERNAS_VENV:-.venv-latest}" ;;
    *) echo "setup: ALTERNAS_DEPS must be 'locked' or 'latest', not '$DEPS'" >&2; exit 2 ;;
esac
if [ ! -f "$LOCK" ]; then
    echo "setup: $LOCK is missing; regenerate it with 'make lock'" >&2
    exit 2
fi
LOCKED_TORCH="$(sed -n 's/^torch==\([^ ;]*\).*/\1/p' "$LOCK")"

if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check -q)

if ! "$VENV/bin/python" -c "import torch" >/dev/null 2>&1; then
    if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
        if [ "$DEPS" = latest ]; then TORCH_SPEC="torch>=2.13"; else TORCH_SPEC="torch==$LOCKED_TORCH"; fi
        echo "setup: NVIDIA GPU found, installing the default (CUDA) torch build ($TORCH_SPEC)"
        "${PIP[@]}" install "$TORCH_SPEC"
    else
        echo "setup: no GPU found, installing the CPU torch build (torch==$LOCKED_TORCH)"
        "${PIP[@]}" install "torch==$LOCKED_TORCH" ${TORCH_INDEX:+--index-url "$TORCH_INDEX"}
    fi
fi

# Pin whatever torch is now installed so no dependency can replace it.
TORCH_VERSION="$("$VENV/bin/python" -c 'import torch; print(torch.__version__)' 2>/dev/null | tail -n 1)"
echo "torch==${TORCH_VERSION}" > "$VENV/torch-constraint.txt"

STAMP="$VENV/.alternas-installed"
WANTED="$DEPS $(cat "$LOCK" pyproject.toml | sha256sum | cut -c1-16)"
if [ "$DEPS" = latest ] || ! "$VENV/bin/python" -c "import alternas, pytest" >/dev/null 2>&1 \
        || [ "$(cat "$STAMP" 2>/dev/null)" != "$WANTED" ]; then
    if [ "$DEPS" = locked ]; then
        echo "setup: installing the locked dependencies ($LOCK) and alternas into $VENV"
        grep -v '^torch==' "$LOCK" > "$VENV/lock-without-torch.txt"
        "${PIP[@]}" install -c "$VENV/torch-constraint.txt" -r "$VENV/lock-without-torch.txt"
        "${PIP[@]}" install --no-deps --no-build-isolation -e .
    else
        echo "setup: installing alternas with the newest dependencies its ranges allow into $VENV"
        "${PIP[@]}" install -c "$VENV/torch-constraint.txt" --upgrade --upgrade-strategy eager -e ".[test]"
    fi
    "$VENV/bin/python" -m pip --disable-pip-version-check check
    echo "$WANTED" > "$STAMP"
fi
echo "setup: ready ($VENV, $DEPS dependencies, torch ${TORCH_VERSION})"
