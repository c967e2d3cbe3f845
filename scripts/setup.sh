#!/usr/bin/env bash
# Create .venv and install alternas with its test dependencies.
#
# torch comes first so that pip never pulls a multi-GB CUDA build onto a CPU machine:
#   * a machine with an NVIDIA GPU (nvidia-smi works) gets the default PyPI build;
#   * a CPU machine gets torch==2.13.0 (set TORCH_INDEX=https://download.pytorch.org/whl/cpu
#     on a CPU machine whose pip has no local CPU wheel);
#   * a torch already in the venv (bring your own) is kept as it is and pinned.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
VENV="${ALTERNAS_VENV:-.venv}"

if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check -q)

if ! "$VENV/bin/python" -c "import torch" >/dev/null 2>&1; then
    if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
        echo "setup: NVIDIA GPU found, installing the default (CUDA) torch build"
        "${PIP[@]}" install "torch>=2.4"
    else
        echo "setup: no GPU found, installing the CPU torch build (torch==2.13.0)"
        "${PIP[@]}" install "torch==2.13.0" ${TORCH_INDEX:+--index-url "$TORCH_INDEX"}
    fi
fi

# Pin whatever torch is now installed so no dependency can replace it.
TORCH_VERSION="$("$VENV/bin/python" -c 'import torch; print(torch.__version__)' 2>/dev/null | tail -n 1)"
echo "torch==${TORCH_VERSION}" > "$VENV/torch-constraint.txt"

if ! "$VENV/bin/python" -c "import alternas, pytest" >/dev/null 2>&1 \
        || [ pyproject.toml -nt "$VENV/.alternas-installed" ]; then
    echo "setup: installing alternas and its dependencies into $VENV"
    "${PIP[@]}" install -c "$VENV/torch-constraint.txt" -e ".[test]"
    touch "$VENV/.alternas-installed"
fi
echo "setup: ready ($VENV, torch ${TORCH_VERSION})"
