#!/usr/bin/env bash
# Makes the Python environment the test suite checks the project against: the
# real libraries a user of the written files runs (transformers' own Dinov2Model,
# peft, FAISS, pytorch-metric-learning, ONNX Runtime for Python), in a virtual
# environment outside the repository. pip takes them from whatever index it is
# configured with (these machines: a local index, offline; elsewhere: PyPI).
#
# Idempotent: a finished environment carries a stamp naming the requirement
# list; when the list changes, the environment is made anew. Prints the path of
# the environment's python on its last line.
#
# Environment (all optional):
#   VEMBED_PYENV   folder of the environment (default: ${XDG_CACHE_HOME:-~/.cache}/vembed-pyenv)
#   VEMBED_BASE_PYTHON  the python that creates it (default: python3). Not
#                  VEMBED_PYTHON: that one names the interpreter vembed's
#                  PyTorch engine runs (src/engine/torch/pythonEnv.ts).
set -euo pipefail

# torchvision is left out on purpose: its build from the local index does not
# import beside torch 2.13, and nothing here needs it.
REQUIREMENTS=(
  "torch==2.13.*" "transformers==5.18.*" "peft==0.21.*" "safetensors" "huggingface-hub"
  "accelerate" "faiss-cpu" "onnx" "onnxruntime" "pytorch-metric-learning" "numpy" "pillow"
  "tensorboard" "pytest" "ruff"
)
ENV_DIR="${VEMBED_PYENV:-${XDG_CACHE_HOME:-$HOME/.cache}/vembed-pyenv}"
PYTHON="${VEMBED_BASE_PYTHON:-python3}"
STAMP="$ENV_DIR/.vembed-requirements"
WANT="$(printf '%s\n' "${REQUIREMENTS[@]}")"

log() { printf '[py-setup] %s\n' "$*" >&2; }

mkdir -p "$(dirname "$ENV_DIR")"
exec 8>"$ENV_DIR.lock"
if command -v flock >/dev/null; then flock 8; fi

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ] && "$ENV_DIR/bin/python" -c 'import torch, transformers, peft, faiss, onnxruntime' 2>/dev/null; then
  log "already there: $ENV_DIR"
else
  command -v "$PYTHON" >/dev/null || { log "no $PYTHON on PATH: install Python 3.10+ (Debian: apt-get install python3 python3-venv)"; exit 1; }
  t0=$(date +%s)
  # Built in a scratch folder and renamed at the end, so an interrupted set-up
  # never looks complete. (A venv records its own path, so it is built in place
  # next to the final one and moved only as a whole after a successful install.)
  tmp="$ENV_DIR.partial"
  rm -rf "$tmp"
  "$PYTHON" -m venv "$tmp" || { log "python -m venv failed (Debian: apt-get install python3-venv)"; exit 1; }
  log "installing ${REQUIREMENTS[*]} (several minutes the first time)"
  # Nested under npm, npm's own variables mean nothing to pip; the environment's
  # pip reads its index settings from the machine's pip configuration.
  if ! "$tmp/bin/python" -m pip install --quiet --disable-pip-version-check "${REQUIREMENTS[@]}" >"$tmp/install.log" 2>&1; then
    tail -n 40 "$tmp/install.log" >&2
    log "pip install failed; full log: $tmp/install.log"
    exit 1
  fi
  "$tmp/bin/python" -m pip uninstall --quiet -y torchvision >/dev/null 2>&1 || true
  rm -rf "$ENV_DIR"
  mv "$tmp" "$ENV_DIR"
  # Scripts inside a moved venv name the old path in their shebangs; the tests
  # run `bin/python -m ...` only, which does not depend on them.
  printf '%s' "$WANT" >"$STAMP"
  log "installed in $(( $(date +%s) - t0 )) s: $ENV_DIR"
fi
echo "$ENV_DIR/bin/python"
