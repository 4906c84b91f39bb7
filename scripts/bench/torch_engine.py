#!/usr/bin/env python3
"""Throughput of vembed's PyTorch engine: its own step (python/vembed_torch/step.py `Stepper`, the one
`vembed train --engine torch` runs in each process) on the benchmarks' workload, without the CLI around it.

    PYTHON scripts/bench/torch_engine.py [--device cuda|cpu] [--batch 128] [--chunk 32] [--steps 3]
        [--modes lora,full] [--precisions no,bf16] [--check-batch 16] [--check-steps 3] [--check-device cpu]
        [--geometry small|tiny]

What it drives: the engine's encoder (model.build_encoder: transformers' Dinov2Model + peft LoRA), its trainable
list (state.trainables), and Stepper.step with the gradient cache, AdamW and clipping, reading pixels from an NHWC
float32 file as the engine does. What stands in for the CLI: the loss gradient callback (label-aware InfoNCE at
temperature 0.05 computed here in torch, as scripts/bench/torch_peer.py does; in a real run the CLI computes it
in TypeScript and hands it over through a file), and the learning rate (constant 1e-4).

The workload is scripts/bench/workload.ts's: DINOv2-small geometry with random weights (hidden 384, 12 layers,
6 heads, patch 14, 224 px), LoRA r=16 alpha 32 dropout 0.05 on q/k/v/o projections, or every weight.

For each mode and precision: images/s (two per pair) over --steps timed steps after one warm-up step, peak
device memory (CUDA: torch.cuda.max_memory_allocated; CPU: peak RSS), and the losses of the first --check-steps
steps of --check-batch pairs on --device and on --check-device from the same weights and pixels, LoRA dropout off
so that the two runs compute the same function (their difference is rounding: float32, or bf16 autocast).
Prints a table on stderr and one JSON line on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

# Quiet loading (no progress bars on stderr between the result lines).
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

try:
    import numpy as np
    import torch
    import torch.nn.functional as F
    from transformers import Dinov2Config, Dinov2Model
except ImportError as e:
    print(f"the torch engine's libraries are not importable with {sys.executable} ({e})", file=sys.stderr)
    sys.exit(3)

# The engine's package: python/ at the repository root (this file is scripts/bench/torch_engine.py).
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "python"))
from vembed_torch.dist import Ranks
from vembed_torch.model import build_encoder, named_parameters
from vembed_torch.spec import LoraSpec, ParamEntry, RunSpec
from vembed_torch.state import trainables
from vembed_torch.step import LossGradient, StepOrder, Stepper

GEOMETRIES = {
    # scripts/bench/workload.ts: randomDinov2Encoder({}) is DINOv2-small's geometry.
    "small": {"hidden_size": 384, "num_hidden_layers": 12, "num_attention_heads": 6, "image_size": 224},
    # For a quick check on a CPU: the same code paths, a few seconds a step.
    "tiny": {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "image_size": 56},
}
TEMPERATURE = 0.05
LR = 1e-4
LORA_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj")


def make_model_dir(root: Path, geometry: str) -> tuple[str, int]:
    g = GEOMETRIES[geometry]
    config = Dinov2Config(
        hidden_size=g["hidden_size"],
        num_hidden_layers=g["num_hidden_layers"],
        num_attention_heads=g["num_attention_heads"],
        intermediate_size=4 * g["hidden_size"],
        patch_size=14,
        image_size=518,
    )
    torch.manual_seed(1)
    folder = root / f"dinov2-{geometry}-random"
    Dinov2Model(config).save_pretrained(folder)
    return str(folder), int(g["image_size"])


def make_spec(
    model_dir: str, size: int, mode: str, precision: str, chunk: int, lora_dropout: float, device: str
) -> RunSpec:
    layers = int(Dinov2Config.from_pretrained(model_dir).num_hidden_layers)
    lora = (
        LoraSpec(
            r=16,
            alpha=32.0,
            dropout=lora_dropout,
            modules=[f"encoder.layer.{i}.attention.{m}" for i in range(layers) for m in LORA_MODULES],
        )
        if mode == "lora"
        else None
    )
    base = RunSpec(
        model_dir=model_dir,
        start_state="",
        exchange_dir="",
        image_size=size,
        pooling="cls",
        projection_dim=None,
        lora=lora,
        params=[],
        weight_decay=0.01,
        max_grad_norm=1.0,
        chunk_size=chunk,
        use_gradient_cache=True,
        mixed_precision=precision,  # type: ignore[arg-type]
        seed=42,
        device=device,
    )
    # The trainable list the CLI would send: LoRA's A and B, or every weight but the unused mask token.
    names = named_parameters(build_encoder(base))
    wanted = [n for n in names if (".lora_" in n if mode == "lora" else n != "embeddings.mask_token")]
    params = [
        ParamEntry(name=n, torch=n, layout="plain", decay=not (n.endswith(".bias") or "norm" in n)) for n in wanted
    ]
    return RunSpec(**{**base.__dict__, "params": params})


def write_pixels(path: Path, pairs: int, size: int, seed: int) -> None:
    """Queries then positives, NHWC float32, uniform in [-2, 2) as the benchmarks' random pixels."""
    rng = np.random.default_rng(seed)
    rng.uniform(-2, 2, size=(2 * pairs, size, size, 3)).astype(np.float32).tofile(path)


def infonce_gradient(losses: list[float]) -> LossGradient:
    def gradient(embeddings: torch.Tensor) -> torch.Tensor | None:
        e = embeddings.detach().float().requires_grad_()
        q, p = e[0], e[1]
        logits = F.normalize(q, dim=1) @ F.normalize(p, dim=1).t() / TEMPERATURE
        loss = F.cross_entropy(logits, torch.arange(q.shape[0]))
        loss.backward()
        losses.append(float(loss.item()))
        return e.grad if torch.isfinite(loss) else None

    return gradient


def peak_memory(device: torch.device) -> int:
    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device))
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def run_steps(
    spec: RunSpec, device: torch.device, pairs: int, steps: int, warmup: bool, work: Path
) -> dict[str, object]:
    torch.manual_seed(spec.seed)
    encoder = build_encoder(spec).to(device)
    items = trainables(spec.params, named_parameters(encoder))
    stepper = Stepper(spec, Ranks(0, 1, device), encoder, items)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    losses: list[float] = []
    gradient = infonce_gradient(losses)
    pixel_files = []
    for s in range(steps + (1 if warmup else 0)):
        f = work / f"pixels-{pairs}-{s}.f32"
        if not f.exists():
            write_pixels(f, pairs, spec.image_size, 100 + s)
        pixel_files.append(f)

    def one(s: int) -> None:
        order = StepOrder(
            step=s, lr=LR, pixels=str(pixel_files[s]), n=pairs, height=spec.image_size, width=spec.image_size
        )
        stepper.step(order, gradient)

    if warmup:
        one(0)  # kernels chosen, memory allocated
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    t0 = time.perf_counter()
    for s in range(1 if warmup else 0, len(pixel_files)):
        one(s)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - t0
    return {
        "losses": losses,
        "images_per_s": 2 * pairs * steps / seconds,
        "seconds": seconds,
        "peak_memory_bytes": peak_memory(device),
    }


def describe(device: torch.device) -> str:
    if device.type == "cuda":
        p = torch.cuda.get_device_properties(device)
        return f"{p.name} (CUDA {torch.version.cuda}, capability {p.major}.{p.minor})"
    return f"CPU ({torch.get_num_threads()} threads)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch", type=int, default=128, help="pairs per timed step")
    parser.add_argument("--chunk", type=int, default=32, help="images per forward pass (gradient cache)")
    parser.add_argument("--steps", type=int, default=3, help="timed steps after one warm-up step")
    parser.add_argument("--modes", default="lora,full")
    parser.add_argument("--precisions", default="no,bf16", help="no (float32) and/or bf16 autocast")
    parser.add_argument("--check-batch", type=int, default=16, help="pairs per loss-check step")
    parser.add_argument("--check-steps", type=int, default=3, help="loss-check steps (0: none)")
    parser.add_argument("--check-device", default="cpu", help="the reference the losses are compared with")
    parser.add_argument("--check-chunk", type=int, default=8)
    parser.add_argument("--geometry", choices=sorted(GEOMETRIES), default="small")
    args = parser.parse_args()

    device = torch.device(args.device)
    check_device = torch.device(args.check_device)
    results = []
    references: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="vembed-torch-bench-") as tmp:
        work = Path(tmp)
        model_dir, size = make_model_dir(work, args.geometry)
        for mode in args.modes.split(","):
            for precision in args.precisions.split(","):
                if precision == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
                    print(f"{mode} bf16: skipped ({describe(device)} has no bf16)", file=sys.stderr)
                    continue
                timed = run_steps(
                    make_spec(model_dir, size, mode, precision, args.chunk, 0.05, args.device),
                    device,
                    args.batch,
                    args.steps,
                    True,
                    work,
                )
                row: dict[str, object] = {"mode": mode, "precision": precision, **timed}
                if args.check_steps > 0:
                    check = make_spec(model_dir, size, mode, precision, args.check_chunk, 0.0, args.device)
                    on_device = run_steps(check, device, args.check_batch, args.check_steps, False, work)["losses"]
                    if mode not in references:  # float32 on the reference device, once per mode
                        references[mode] = run_steps(
                            make_spec(model_dir, size, mode, "no", args.check_chunk, 0.0, args.check_device),
                            check_device,
                            args.check_batch,
                            args.check_steps,
                            False,
                            work,
                        )["losses"]
                    reference = references[mode]
                    row["check_losses"] = on_device
                    row["reference_losses"] = reference
                    row["max_loss_diff"] = max(abs(a - b) for a, b in zip(on_device, reference, strict=True))
                results.append(row)
                print(
                    f"torch engine {mode:4} {'fp32' if precision == 'no' else precision:4} on {args.device}: "
                    f"{row['images_per_s']:.1f} img/s ({args.batch} pairs, chunk {args.chunk}), "
                    f"peak {row['peak_memory_bytes'] / 2**30:.2f} GiB"
                    + (
                        f"; first losses {', '.join(f'{x:.5f}' for x in row['check_losses'])} vs {args.check_device} "
                        f"{', '.join(f'{x:.5f}' for x in row['reference_losses'])} (max diff {row['max_loss_diff']:.2e})"
                        if "check_losses" in row
                        else ""
                    ),
                    file=sys.stderr,
                )
    print(
        json.dumps(
            {
                "engine": "torch",
                "device": describe(device),
                "torch": torch.__version__,
                "geometry": args.geometry,
                "batch": args.batch,
                "chunk": args.chunk,
                "results": results,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
