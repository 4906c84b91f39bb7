"""Embedding for the CLI's evaluation on the ranks' device: the CLI decodes and preprocesses the images as it
always does (the same pixels as the ONNX engine's evaluation) and writes them to a file; the ranks embed them in
eval mode (no dropout, no graph), each its contiguous share of the rows, and rank 0 gathers the rows in order.

Precision: the run's mixed_precision autocast on CUDA (what training runs in there), float32 on a CPU (CPU autocast
is seldom faster and would only lose digits)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist

from .dist import Ranks
from .model import Encoder

_AUTOCAST = {"bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class EmbedOrder:
    pixels: str
    n: int
    height: int
    width: int


def read_rows(file: str, height: int, width: int, start: int, count: int) -> torch.Tensor:
    """Rows [start, start + count) of an NHWC float32 pixel file, as NCHW."""
    per_image = height * width * 3
    data = np.fromfile(file, dtype=np.float32, count=count * per_image, offset=start * per_image * 4)
    if data.size != count * per_image:
        raise ValueError(f"{file} is shorter than rows [{start}, {start + count}) of {height}x{width} images")
    return torch.from_numpy(data.reshape(count, height, width, 3)).permute(0, 3, 1, 2).contiguous()


def evaluation_precision(mixed_precision: str, device: torch.device) -> str:
    """The autocast the evaluation embeds under: 'bf16' / 'fp16' on CUDA as the run trains, else 'no' (float32)."""
    return mixed_precision if device.type == "cuda" and mixed_precision in _AUTOCAST else "no"


def shares(n: int, world: int) -> list[tuple[int, int]]:
    """(start, count) of each rank's contiguous rows; counts differ by at most one."""
    bounds = [n * r // world for r in range(world + 1)]
    return [(bounds[r], bounds[r + 1] - bounds[r]) for r in range(world)]


def embed_rows(encoder: Encoder, ranks: Ranks, order: EmbedOrder, precision: str) -> torch.Tensor | None:
    """The [n, D] float32 embeddings of every row on rank 0 (None on the others); every rank must call it."""
    start, count = shares(order.n, ranks.world)[ranks.rank]
    was_training = encoder.training
    encoder.eval()
    autocast = (
        torch.autocast(ranks.device.type, dtype=_AUTOCAST[precision])
        if precision in _AUTOCAST
        else contextlib.nullcontext()
    )
    try:
        with torch.no_grad(), autocast:
            if count > 0:
                pixels = read_rows(order.pixels, order.height, order.width, start, count).to(ranks.device)
                local = encoder(pixels).float()
            else:
                local = torch.empty((0, encoder.dim), device=ranks.device)
    finally:
        encoder.train(was_training)
    if ranks.world == 1:
        return local.cpu()
    # all_gather wants equal shapes: pad each share to the largest and cut the padding off after.
    comm = ranks.device if ranks.device.type == "cuda" else torch.device("cpu")
    most = max(c for _, c in shares(order.n, ranks.world))
    padded = torch.zeros((most, encoder.dim), device=comm)
    padded[:count] = local.to(comm)
    parts = [torch.empty_like(padded) for _ in range(ranks.world)]
    dist.all_gather(parts, padded)
    if not ranks.main:
        return None
    counts = [c for _, c in shares(order.n, ranks.world)]
    return torch.cat([p[:c] for p, c in zip(parts, counts, strict=True)], 0).cpu()
