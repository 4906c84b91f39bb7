"""Tiny DINOv2 models made here with transformers' own classes (random weights), and run specs over them."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import Dinov2Config, Dinov2Model

from vembed_torch.spec import LoraSpec, ParamEntry, RunSpec

torch.set_num_threads(1)


def tiny_model(folder: Path, **config: object) -> Path:
    torch.manual_seed(0)
    settings = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, image_size=28, patch_size=14)
    settings.update(config)
    Dinov2Model(Dinov2Config(**settings)).save_pretrained(folder)
    return folder


def make_spec(model_dir: Path, params: list[ParamEntry], **overrides: object) -> RunSpec:
    values: dict[str, object] = dict(
        model_dir=str(model_dir),
        start_state=str(model_dir / "start"),
        exchange_dir=str(model_dir),
        image_size=28,
        pooling="cls",
        projection_dim=None,
        lora=None,
        params=params,
        weight_decay=0.0,
        max_grad_norm=0.0,
        chunk_size=2,
        use_gradient_cache=True,
        mixed_precision="no",
        seed=3,
        device="cpu",
    )
    values.update(overrides)
    return RunSpec(**values)  # type: ignore[arg-type]


def lora_entries(layers: int = 2) -> tuple[LoraSpec, list[ParamEntry]]:
    modules = [f"encoder.layer.{i}.attention.{p}" for i in range(layers) for p in ("q_proj", "v_proj")]
    entries = [
        ParamEntry(name=f"{m}.lora_{ab}.weight", torch=f"{m}.lora_{ab}.weight", layout="linear", decay=True)
        for m in modules
        for ab in "AB"
    ]
    return LoraSpec(r=4, alpha=8, dropout=0.0, modules=modules), entries


@pytest.fixture
def plain_model(tmp_path: Path) -> Path:
    return tiny_model(tmp_path / "plain")
