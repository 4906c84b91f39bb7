#!/usr/bin/env bash
# Runs on the GPU machine, from the repository root, with .gpu-check/ carried
# (scripts/gpu-check/prepare.sh made it): unpacks Node, the engine and the
# Vulkan loader into $TMPDIR, then runs `vembed doctor` (with the adapter
# WebGPU gets), the placement report (`vembed doctor --placement`: where ONNX
# Runtime puts every graph's nodes, CPU fallbacks, copies per training step;
# also $OUT/placement.json), the embedding
# benchmark and the training benchmark with the WebGPU provider (DEVICE=cuda
# for the CUDA one, if its provider were installed), printing images/s, the
# largest embedding difference to the CPU provider, and the first training
# steps' losses next to the CPU provider's (TRAIN_TIMEOUT, default 420 s;
# TRAIN_ARGS adds flags, e.g. "--modes lora"). Output also goes to $OUT/gpu-check.txt when $OUT is set.
set -uo pipefail
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
echo "== vembed doctor"; (cd "$WORK" && "$NODE" engine/vembed.js doctor)
echo "== placement (ONNX Runtime ${DEVICE:-webgpu}: nodes per provider of every graph, CPU fallbacks, copies per training step)"
(cd "$WORK" && timeout "${PLACEMENT_TIMEOUT:-300}" "$NODE" engine/vembed.js doctor --placement --backend "onnx-${DEVICE:-webgpu}" --placement_out "${OUT:-$WORK}/placement.json")
echo "== exit $?"
echo "== embedding benchmark (ONNX Runtime ${DEVICE:-webgpu} vs CPU)"
(cd "$WORK" && timeout "${BENCH_TIMEOUT:-300}" "$NODE" engine/gpu-bench.js --device "${DEVICE:-webgpu}" --batch 32 --batches 10 --cpu-batches 1)
echo "== exit $?"
echo "== training benchmark (ONNX Runtime ${DEVICE:-webgpu}: LoRA and full at batch 128; first steps' losses vs CPU)"
(cd "$WORK" && timeout "${TRAIN_TIMEOUT:-420}" "$NODE" engine/gpu-train-bench.js --device "${DEVICE:-webgpu}" --batch 128 ${TRAIN_ARGS:-})
echo "== exit $?"
