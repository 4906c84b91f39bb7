"""One optimizer step of the torch engine, the gradient cache spanning every process:

1. each rank embeds its share of the global batch (without a graph when the cache is on, chunk by chunk);
2. rank 0 gathers the global batch's embeddings and hands them to the CLI, which computes the loss and its
   gradient with respect to every embedding (src/engine/train/loss: one description of the loss);
3. each rank takes its rows of that gradient and back-propagates it through its chunks (recomputed with the
   same dropout draws when the cache is on), then the parameter gradients are summed over ranks: the loss is the
   global batch's mean, so the sum is the global batch's gradient;
4. clipping by global norm and AdamW, as src/engine/train/optim defines them (torch.optim.AdamW's single-tensor
   form is that definition; clipping scales only when max_norm / (norm + 1e-6) < 1, and 0 turns it off).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist

from .dist import Ranks
from .embed import read_rows
from .model import Encoder
from .spec import RunSpec
from .state import Trainable


@dataclass(frozen=True)
class StepOrder:
    step: int
    lr: float
    pixels: str
    n: int
    height: int
    width: int


@dataclass(frozen=True)
class StepOutcome:
    grad_norm: float
    clipped: bool
    applied: bool


# (embeddings [2, N, D] of the global batch) -> their gradient [2, N, D], or None when the loss is not finite.
LossGradient = Callable[[torch.Tensor], torch.Tensor | None]


def read_pixels(order: StepOrder, side: int, start: int, count: int) -> torch.Tensor:
    """Rows [start, start + count) of one side (0 queries, 1 positives) of the CLI's NHWC float32 file, as NCHW."""
    return read_rows(order.pixels, order.height, order.width, side * order.n + start, count)


def step_seed(seed: int, step: int, rank: int) -> int:
    """Dropout draws depend on (seed, step, rank) only, so a resumed run draws what an uninterrupted one would."""
    return (seed * 1_000_003 + step * 7919 + rank) % (2**63 - 1)


class Stepper:
    def __init__(self, spec: RunSpec, ranks: Ranks, encoder: Encoder, items: list[Trainable]) -> None:
        self.spec = spec
        self.ranks = ranks
        self.encoder = encoder
        self.items = items
        params = [p for t in items for p in t.parts]
        groups = [
            {"params": [p for t in items if t.entry.decay for p in t.parts], "weight_decay": spec.weight_decay},
            {"params": [p for t in items if not t.entry.decay for p in t.parts], "weight_decay": 0.0},
        ]
        self.params = params
        self.optimizer = torch.optim.AdamW(
            [g for g in groups if g["params"]], lr=0.0, betas=(0.9, 0.999), eps=1e-8, foreach=False
        )
        precision = spec.mixed_precision
        self.autocast_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
        self.scaler = torch.amp.GradScaler(ranks.device.type) if precision == "fp16" else None

    def _autocast(self) -> contextlib.AbstractContextManager[object]:
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.ranks.device.type, dtype=self.autocast_dtype)

    def _embed(self, pixels: torch.Tensor) -> torch.Tensor:
        with self._autocast():
            return self.encoder(pixels.to(self.ranks.device)).float()

    def _chunks(self, count: int) -> Iterator[tuple[int, int]]:
        size = self.spec.chunk_size if self.spec.use_gradient_cache else count
        for start in range(0, count, size):
            yield start, min(size, count - start)

    def step(self, order: StepOrder, loss_gradient: LossGradient) -> StepOutcome:
        ranks = self.ranks
        if order.n % ranks.world:
            raise ValueError(f"a batch of {order.n} pairs does not split over {ranks.world} processes")
        share = order.n // ranks.world
        first = ranks.rank * share
        torch.manual_seed(step_seed(self.spec.seed, order.step, ranks.rank))
        self.encoder.train()
        cache = self.spec.use_gradient_cache and share > self.spec.chunk_size
        # 1. Local embeddings [2, share, D]; with the cache, no graph and each chunk's generator state kept.
        rng: list[list[tuple[torch.Tensor, torch.Tensor | None]]] = [[], []]
        sides: list[torch.Tensor] = []
        with torch.no_grad() if cache else contextlib.nullcontext():
            for side in (0, 1):
                parts = []
                for start, count in self._chunks(share):
                    rng[side].append((torch.get_rng_state(), self._cuda_rng()))
                    parts.append(self._embed(read_pixels(order, side, first + start, count)))
                sides.append(torch.cat(parts, 0))
        local = torch.stack(sides)
        # 2. The global batch's embeddings on rank 0, their gradient from the CLI, and each rank's rows of it.
        gathered = self._gather(local.detach())
        grad = loss_gradient(gathered) if ranks.main else None
        finite = ranks.broadcast(grad is not None)
        if not finite:
            return StepOutcome(float("nan"), False, False)
        grad = self._broadcast_tensor(grad, (2, order.n, local.shape[-1]))
        mine = grad[:, first : first + share].to(self.ranks.device)
        # 3. Back-propagate the embedding gradient.
        self.optimizer.zero_grad(set_to_none=True)
        if cache:
            for side in (0, 1):
                for (start, count), (cpu_state, cuda_state) in zip(self._chunks(share), rng[side], strict=True):
                    with self._replay(cpu_state, cuda_state):
                        out = self._embed(read_pixels(order, side, first + start, count))
                    self._backward(out, mine[side, start : start + count])
        else:
            self._backward(local, mine)
        self._sum_gradients()
        # 4. Clip and update.
        if self.scaler is not None:
            self.scaler.unscale_(self.optimizer)
        norm, clipped = self._clip()
        for group in self.optimizer.param_groups:
            group["lr"] = order.lr
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
            return StepOutcome(norm, clipped, bool(np.isfinite(norm)))
        if not np.isfinite(norm):
            return StepOutcome(norm, clipped, False)
        self.optimizer.step()
        return StepOutcome(norm, clipped, True)

    def _backward(self, embeddings: torch.Tensor, gradient: torch.Tensor) -> None:
        """Back-propagates d(loss)/d(embeddings); with fp16, through the loss scaler (sum(e * g) has that gradient)."""
        if self.scaler is None:
            torch.autograd.backward(embeddings, gradient)
        else:
            self.scaler.scale((embeddings * gradient).sum()).backward()

    def _cuda_rng(self) -> torch.Tensor | None:
        return torch.cuda.get_rng_state(self.ranks.device) if self.ranks.device.type == "cuda" else None

    @contextlib.contextmanager
    def _replay(self, cpu_state: torch.Tensor, cuda_state: torch.Tensor | None) -> Iterator[None]:
        devices = [self.ranks.device] if cuda_state is not None else []
        with torch.random.fork_rng(devices=devices):
            torch.set_rng_state(cpu_state)
            if cuda_state is not None:
                torch.cuda.set_rng_state(cuda_state, self.ranks.device)
            yield

    def _comm_device(self) -> torch.device:
        return self.ranks.device if self.ranks.device.type == "cuda" else torch.device("cpu")

    def _gather(self, local: torch.Tensor) -> torch.Tensor:
        if self.ranks.world == 1:
            return local.cpu()
        parts = [torch.empty_like(local) for _ in range(self.ranks.world)]
        dist.all_gather(parts, local.to(self._comm_device()))
        return torch.cat(parts, 1).cpu()

    def _broadcast_tensor(self, t: torch.Tensor | None, shape: tuple[int, ...]) -> torch.Tensor:
        if self.ranks.world == 1:
            assert t is not None
            return t
        buf = t.to(self._comm_device()) if t is not None else torch.empty(shape, device=self._comm_device())
        dist.broadcast(buf, src=0)
        return buf

    def _sum_gradients(self) -> None:
        if self.ranks.world == 1:
            return
        # Every rank runs the same graph, so the same parameters hold a gradient on each (a parameter without one
        # stays untouched, as in vembed's AdamW).
        for p in self.params:
            if p.grad is not None:
                dist.all_reduce(p.grad, op=dist.ReduceOp.SUM)

    def _clip(self) -> tuple[float, bool]:
        grads = [p.grad for p in self.params if p.grad is not None]
        if not grads:
            return 0.0, False
        norm = float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads])).item())
        max_norm = self.spec.max_grad_norm
        coef = max_norm / (norm + 1e-6)
        if max_norm == 0 or not np.isfinite(norm) or not coef < 1:
            return norm, False
        for p in self.params:
            if p.grad is not None:
                p.grad.mul_(coef)
        return norm, True
