#!/usr/bin/env python3
"""The GPU check's summary: the torch engine's training images/s (scripts/bench/torch_engine.py's JSON line)
beside the ONNX engine's on the same device (scripts/gpu-check/train-bench.ts's JSON line), per mode.

    python3 ratio.py TORCH_OUTPUT ONNX_OUTPUT      (each: a file whose last JSON line is the result)
"""

import json
import sys
from pathlib import Path


def last_json(path: str) -> dict | None:
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                continue
    return None


def main() -> int:
    torch_run, onnx_run = last_json(sys.argv[1]), last_json(sys.argv[2])
    if torch_run is None:
        print("no torch engine result to compare")
        return 1
    onnx = (onnx_run or {}).get("results", {})
    print(f"training images/s at batch {torch_run['batch']} pairs ({torch_run['device']}):")
    print(
        f"  {'mode':5} {'torch fp32':>11} {'torch bf16':>11} {'ONNX ' + str((onnx_run or {}).get('device', '-')):>12}  torch/ONNX"
    )
    for mode in sorted({r["mode"] for r in torch_run["results"]}):
        rows = {r["precision"]: r for r in torch_run["results"] if r["mode"] == mode}
        fp32 = rows.get("no", {}).get("images_per_s")
        bf16 = rows.get("bf16", {}).get("images_per_s")
        ours = onnx.get(mode, {}).get("imagesPerSecond")

        def cell(x: float | None) -> str:
            return f"{x:11.1f}" if x else f"{'-':>11}"

        ratio = f"{fp32 / ours:.2f} (fp32)" + (f", {bf16 / ours:.2f} (bf16)" if bf16 else "") if fp32 and ours else "-"
        print(f"  {mode:5} {cell(fp32)} {cell(bf16)} {cell(ours):>12}  {ratio}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
