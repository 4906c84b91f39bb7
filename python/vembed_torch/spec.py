"""The run spec that `vembed train --engine torch` writes (src/engine/torch/spec.ts): what to build and how to step.

Node decides everything that has one description in TypeScript (data, batch order, pixels, the loss, the
learning-rate schedule, checkpoints, evaluation); the spec carries only what the PyTorch side needs to build
the same model and apply the same update.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

SPEC_VERSION = 1

Layout = Literal["plain", "linear", "conv"]
Precision = Literal["no", "bf16", "fp16"]


@dataclass(frozen=True)
class ParamEntry:
    """One trainable tensor: vembed's name and stored layout, and the PyTorch parameter(s) it is.

    `torch` names parameters as transformers 5 and peft name them (peft's `base_model.model.` prefix and adapter
    name left out); several, joined by `|`, where transformers 5 split one tensor along its first axis (SwiGLU's
    `weights_in` is `gate_proj` then `up_proj`).
    """

    name: str
    torch: str
    layout: Layout
    decay: bool


@dataclass(frozen=True)
class LoraSpec:
    r: int
    alpha: float
    dropout: float
    # Full module paths in transformers 5's naming (e.g. encoder.layer.0.attention.q_proj).
    modules: list[str]


@dataclass(frozen=True)
class RunSpec:
    model_dir: str
    start_state: str
    exchange_dir: str
    image_size: int
    pooling: Literal["cls", "mean"]
    projection_dim: int | None
    lora: LoraSpec | None
    params: list[ParamEntry]
    weight_decay: float
    max_grad_norm: float
    chunk_size: int
    use_gradient_cache: bool
    mixed_precision: Precision
    seed: int
    device: str


def read_spec(path: str | Path) -> RunSpec:
    raw = json.loads(Path(path).read_text(encoding="utf-8"))
    if raw.get("version") != SPEC_VERSION:
        raise ValueError(
            f"{path}: spec version {raw.get('version')!r}, this vembed_torch reads {SPEC_VERSION}; "
            "the python/ folder and the CLI come from different vembed versions"
        )
    lora = raw.get("lora")
    return RunSpec(
        model_dir=raw["model_dir"],
        start_state=raw["start_state"],
        exchange_dir=raw["exchange_dir"],
        image_size=int(raw["image_size"]),
        pooling=raw["pooling"],
        projection_dim=raw.get("projection_dim"),
        lora=LoraSpec(**lora) if lora else None,
        params=[ParamEntry(**p) for p in raw["params"]],
        weight_decay=float(raw["weight_decay"]),
        max_grad_norm=float(raw["max_grad_norm"]),
        chunk_size=int(raw["chunk_size"]),
        use_gradient_cache=bool(raw["use_gradient_cache"]),
        mixed_precision=raw.get("mixed_precision", "no"),
        seed=int(raw["seed"]),
        device=raw.get("device", "auto"),
    )
