"""The encoder the torch engine trains: transformers' own Dinov2Model / Dinov2WithRegistersModel (AutoModel reads
the folder's config.json), peft's LoRA on the modules vembed names, and vembed's pooling and optional bias-free
projection head (src/engine/model/head.ts). No second copy of DINOv2's mathematics."""

from __future__ import annotations

import json
import re
from pathlib import Path

import torch
from torch import nn
from transformers import AutoConfig, AutoModel, PretrainedConfig

from .spec import RunSpec

_PEFT_PREFIX = re.compile(r"^base_model\.model\.")
_ADAPTER_NAME = re.compile(r"\.(lora_[AB])\.default\.")


class Encoder(nn.Module):
    """pixels [N, 3, H, W] (normalised as vembed feeds them) -> embeddings [N, P or D], not L2-normalised."""

    def __init__(
        self, backbone: nn.Module, pooling: str, registers: int, hidden: int, projection_dim: int | None
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.pooling = pooling
        self.registers = registers
        self.projection = nn.Linear(hidden, projection_dim, bias=False) if projection_dim else None
        self.dim = projection_dim or hidden

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        # last_hidden_state is after the final layer norm: CLS first, then the registers, then the patches.
        tokens = self.backbone(pixel_values=pixels).last_hidden_state
        pooled = tokens[:, 0] if self.pooling == "cls" else tokens[:, 1 + self.registers :].mean(dim=1)
        return self.projection(pooled) if self.projection is not None else pooled


def peft_free_name(name: str) -> str:
    """A parameter's name without the wrapper, peft's prefix and adapter name: what the spec's `torch` names use."""
    if name.startswith("backbone."):
        name = _ADAPTER_NAME.sub(r".\1.", _PEFT_PREFIX.sub("", name[len("backbone.") :]))
    return name


def load_config(model_dir: str) -> PretrainedConfig:
    """The folder's config, with whole numbers in float fields written as floats: transformers 5 checks field types
    strictly and refuses e.g. `"layerscale_value": 1`, which vembed, JSON and transformers 4 accept."""
    raw = json.loads((Path(model_dir) / "config.json").read_text(encoding="utf-8"))
    cls = type(AutoConfig.for_model(raw["model_type"]))
    annotations: dict[str, object] = {}
    for base in reversed(cls.__mro__):
        annotations.update(getattr(base, "__annotations__", {}))
    for key, value in raw.items():
        if annotations.get(key) is float and isinstance(value, int) and not isinstance(value, bool):
            raw[key] = float(value)
    return cls.from_dict(raw)


def build_encoder(spec: RunSpec) -> Encoder:
    backbone = AutoModel.from_pretrained(
        spec.model_dir, config=load_config(spec.model_dir), dtype=torch.float32, attn_implementation="eager"
    )
    config = backbone.config
    if spec.lora is not None:
        from peft import LoraConfig, get_peft_model

        lora = LoraConfig(
            r=spec.lora.r, lora_alpha=spec.lora.alpha, lora_dropout=spec.lora.dropout, target_modules=spec.lora.modules
        )
        backbone = get_peft_model(backbone, lora)
    encoder = Encoder(
        backbone,
        spec.pooling,
        int(getattr(config, "num_register_tokens", 0) or 0),
        int(config.hidden_size),
        spec.projection_dim,
    )
    wanted = {t for p in spec.params for t in p.torch.split("|")}
    named = {peft_free_name(n): p for n, p in encoder.named_parameters()}
    missing = sorted(wanted - named.keys())
    if missing:
        raise ValueError(
            f"the model in {spec.model_dir} has no parameter(s) {', '.join(missing[:5])}"
            + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        )
    # Exactly the spec's tensors train (e.g. mask_token never does): vembed decides, PyTorch follows.
    for name, p in named.items():
        p.requires_grad_(name in wanted)
    return encoder


def named_parameters(encoder: Encoder) -> dict[str, nn.Parameter]:
    return {peft_free_name(n): p for n, p in encoder.named_parameters()}
