"""The trainable state exchanged with the CLI, in vembed's names and layouts, so that the CLI's own code writes
checkpoints and evaluates (src/engine/torch/stateExchange.ts):

- params: one safetensors file, a tensor per trainable name;
- optimizer: `vembed-adamw` safetensors (src/engine/train/checkpoint/optimizerFile.ts): `<name>.exp_avg`,
  `<name>.exp_avg_sq`, and each name's step count in the metadata's `steps`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn

from .layouts import from_vembed, to_vembed
from .spec import ParamEntry

OPTIMIZER_FORMAT = "vembed-adamw"


@dataclass(frozen=True)
class Trainable:
    entry: ParamEntry
    # The PyTorch parameters it is, in order along the first axis (one, or SwiGLU's gate_proj, up_proj).
    parts: list[nn.Parameter]

    def value(self) -> torch.Tensor:
        return torch.cat([p.detach() for p in self.parts], 0) if len(self.parts) > 1 else self.parts[0].detach()

    def split(self, t: torch.Tensor) -> list[torch.Tensor]:
        if len(self.parts) == 1:
            return [t]
        return list(torch.split(t, [p.shape[0] for p in self.parts], 0))

    def torch_shape(self) -> torch.Size:
        shapes = [p.shape for p in self.parts]
        return torch.Size([sum(s[0] for s in shapes), *shapes[0][1:]])


def trainables(entries: list[ParamEntry], named: dict[str, nn.Parameter]) -> list[Trainable]:
    return [Trainable(e, [named[t] for t in e.torch.split("|")]) for e in entries]


def _read(path: str) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    with safe_open(path, framework="pt") as f:
        return {k: f.get_tensor(k) for k in f.keys()}, dict(f.metadata() or {})


def _write_atomically(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    save_file(tensors, str(tmp), metadata=metadata)
    os.replace(tmp, path)


def load_params(path: str, items: list[Trainable]) -> None:
    tensors, _ = _read(path)
    missing = [t.entry.name for t in items if t.entry.name not in tensors]
    if missing:
        raise ValueError(f"{path} lacks {', '.join(missing[:5])}")
    with torch.no_grad():
        for t in items:
            value = from_vembed(tensors[t.entry.name], t.entry.layout, t.torch_shape())
            for p, part in zip(t.parts, t.split(value), strict=True):
                p.copy_(part.to(p.dtype))


def load_optimizer(path: str, items: list[Trainable], optimizer: torch.optim.Optimizer) -> None:
    tensors, metadata = _read(path)
    if metadata.get("format") != OPTIMIZER_FORMAT:
        raise ValueError(f"{path}: not a vembed optimizer state")
    steps: dict[str, int] = json.loads(metadata["steps"])
    for t in items:
        step = steps.get(t.entry.name)
        if step is None:
            continue
        shape = t.torch_shape()
        moments = [
            t.split(from_vembed(tensors[t.entry.name + suffix], t.entry.layout, shape))
            for suffix in (".exp_avg", ".exp_avg_sq")
        ]
        for p, m, v in zip(t.parts, *moments, strict=True):
            optimizer.state[p] = {
                "step": torch.tensor(float(step)),
                "exp_avg": m.to(p.device, torch.float32).clone(),
                "exp_avg_sq": v.to(p.device, torch.float32).clone(),
            }


def save_state(directory: Path, items: list[Trainable], optimizer: torch.optim.Optimizer) -> None:
    """Writes params.safetensors and optimizer.safetensors into `directory` (each atomically)."""
    params = {t.entry.name: to_vembed(t.value(), t.entry.layout) for t in items}
    moments: dict[str, torch.Tensor] = {}
    steps: dict[str, int] = {}
    for t in items:
        states = [optimizer.state.get(p) for p in t.parts]
        if any(not s for s in states):
            continue  # no gradient yet: no moments, as vembed's AdamW
        for key, suffix in (("exp_avg", ".exp_avg"), ("exp_avg_sq", ".exp_avg_sq")):
            whole = torch.cat([s[key] for s in states], 0) if len(states) > 1 else states[0][key]
            moments[t.entry.name + suffix] = to_vembed(whole.cpu(), t.entry.layout)
        steps[t.entry.name] = int(states[0]["step"].item())
    _write_atomically(directory / "params.safetensors", {k: v.cpu() for k, v in params.items()}, {"format": "pt"})
    _write_atomically(
        directory / "optimizer.safetensors",
        moments,
        {"format": OPTIMIZER_FORMAT, "format_version": "1", "steps": json.dumps(steps)},
    )
