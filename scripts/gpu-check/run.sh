#!/usr/bin/env bash
# Runs on the GPU machine, from the repository root, with .gpu-check/ carried
# (scripts/gpu-check/prepare.sh made it): unpacks Node, the engine and the
# Vulkan loader into $TMPDIR, then runs `vembed doctor`, the embedding
# benchmark and the training benchmark with the WebGPU provider (DEVICE=cuda
# for the CUDA one, if its provider were installed), printing images/s, the
# largest embedding difference to the CPU provider, and the first training
# steps' losses next to the CPU provider's (TRAIN_TIMEOUT, default 420 s;
# TRAIN_ARGS adds flags, e.g. "--modes lora"). Output also goes to $OUT/gpu-check.txt when $OUT is set.
#
# First the PyTorch engine (torch_part below): vembed's probe of the Python
# environment, then scripts/bench/torch_engine.py (the engine's own step,
# DINOv2-small geometry, batch 128, LoRA and full, fp32 and bf16: images/s,
# peak GPU memory, first losses against the CPU; TORCH_TIMEOUT, default 240 s;
# TORCH_ARGS adds flags), and at the end the torch/ONNX ratio
# (scripts/gpu-check/ratio.py). TORCH_PYTHON names the Python, TORCH_DEVICE
# the device (default cuda). --torch-only stops after the torch part and
# needs no .gpu-check (prepare.sh --wheels explains the two-call plan).
set -uo pipefail
REPO="$(pwd)"
WHEELS="$REPO/.gpu-check-wheels"
PYENV="$REPO/.gpu-check-pyenv"

# The Python that has torch: the venv an earlier --torch-only call made, else the image's own.
torch_python() {
  for c in ${TORCH_PYTHON:-} "$PYENV/bin/python" python3 python; do
    if command -v "$c" >/dev/null 2>&1 && "$c" -c 'import torch' >/dev/null 2>&1; then echo "$c"; return 0; fi
  done
  return 1
}

torch_part() {
  echo "== PyTorch engine"
  local py
  py="$(torch_python)" || { echo "no Python with torch on this machine: the torch engine's part is skipped"; return 1; }
  if ! "$py" -c 'import transformers, peft, accelerate' >/dev/null 2>&1; then
    if [ ! -f "$WHEELS/requirements.txt" ]; then
      echo "$py has torch but not transformers/peft/accelerate, and no .gpu-check-wheels was carried (prepare.sh --wheels)"
      return 1
    fi
    echo "installing transformers, peft, accelerate from .gpu-check-wheels into $PYENV (over $py's site-packages)"
    "$py" -m venv --system-site-packages "$PYENV" || { echo "python -m venv failed"; return 1; }
    "$PYENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-index --find-links "$WHEELS" \
      $(grep -E '^(transformers|peft|accelerate|safetensors)==' "$WHEELS/requirements.txt") ||
      { echo "pip install from the carried wheels failed (a binary wheel for this Python's version missing?)"; return 1; }
    py="$PYENV/bin/python"
  fi
  echo "-- vembed's probe of $py (python/vembed_torch/probe.py)"
  PYTHONPATH="$REPO/python" "$py" -m vembed_torch.probe
  echo "-- torch engine training benchmark (scripts/bench/torch_engine.py)"
  TORCH_PY="$py"
  timeout "${TORCH_TIMEOUT:-240}" "$py" "$REPO/scripts/bench/torch_engine.py" --device "${TORCH_DEVICE:-cuda}" --batch 128 --chunk 32 \
    --steps 3 --check-batch 16 --check-steps 3 ${TORCH_ARGS:-} >"$TORCH_JSON"
  local rc=$?
  cat "$TORCH_JSON"
  echo "== exit $rc"
}

TORCH_JSON="$(mktemp)"
TORCH_PY=""
if [ "${1:-}" = "--torch-only" ]; then
  torch_part
  exit $?
fi
SRC="$(cd "$(dirname "$0")" && pwd)"
[ -f "$SRC/vembed.tgz" ] || SRC="$(pwd)/.gpu-check"
WORK="$(mktemp -d)"
LOG="${OUT:-$WORK}/gpu-check.txt"
exec > >(tee "$LOG") 2>&1
mkdir -p "$WORK/node" "$WORK/vulkan"
tar -xzf "$SRC/node.tgz" -C "$WORK/node"
NODE="$(find "$WORK/node" -path '*/bin/node' -type f | head -1)"
tar -xzf "$SRC/vembed.tgz" -C "$WORK"
if [ -f "$SRC/libvulkan1.deb" ]; then
  dpkg-deb -x "$SRC/libvulkan1.deb" "$WORK/vulkan"
  export LD_LIBRARY_PATH="$(dirname "$(find "$WORK/vulkan" -name 'libvulkan.so.1' | head -1)")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
echo "== machine"; nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | head -2
ls /usr/share/vulkan/icd.d /etc/vulkan/icd.d 2>/dev/null
echo "== node $("$NODE" --version)"
torch_part
# The engine finds python/ beside its bundle folder (src/engine/torch/pythonEnv.ts), as in the .vsix.
cp -r "$REPO/python" "$WORK/python"
echo "== vembed doctor"; (cd "$WORK" && "$NODE" engine/vembed.js doctor ${TORCH_PY:+--python "$TORCH_PY"})
if [ -z "${SKIP_EMBED:-}" ]; then # SKIP_EMBED=1: training only, to fit one call's 600 s
  echo "== embedding benchmark (ONNX Runtime ${DEVICE:-webgpu} vs CPU)"
  (cd "$WORK" && timeout "${BENCH_TIMEOUT:-300}" "$NODE" engine/gpu-bench.js --device "${DEVICE:-webgpu}" --batch 32 --batches 10 --cpu-batches 1)
  echo "== exit $?"
fi
echo "== training benchmark (ONNX Runtime ${DEVICE:-webgpu}: LoRA and full at batch 128; first steps' losses vs CPU)"
(cd "$WORK" && timeout "${TRAIN_TIMEOUT:-420}" "$NODE" engine/gpu-train-bench.js --device "${DEVICE:-webgpu}" --batch 128 ${TRAIN_ARGS:-}) | tee "$WORK/onnx-train.txt"
echo "== exit ${PIPESTATUS[0]}"
echo "== torch engine / ONNX engine, training"
"${TORCH_PY:-python3}" "$REPO/scripts/gpu-check/ratio.py" "$TORCH_JSON" "$WORK/onnx-train.txt"
