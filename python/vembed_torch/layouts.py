"""vembed stores some tensors in other layouts than PyTorch (src/engine/model/params.ts): linear weights [in, out],
the patch embedding's conv weight [p*p*C, D] with rows ordered (ky, kx, c). The state exchanged with the CLI is in
vembed's layout, so both sides read it without a second description of the model; these convert it.
"""

from __future__ import annotations

import torch

from .spec import Layout


def to_vembed(t: torch.Tensor, layout: Layout) -> torch.Tensor:
    """A tensor in PyTorch's layout -> vembed's (a contiguous float32 copy)."""
    t = t.detach().to(torch.float32)
    if layout == "linear":
        t = t.t()
    elif layout == "conv":
        d, c, p, q = t.shape
        t = t.permute(2, 3, 1, 0).reshape(p * q * c, d)
    return t.contiguous().clone()


def from_vembed(t: torch.Tensor, layout: Layout, torch_shape: torch.Size) -> torch.Tensor:
    """A tensor in vembed's layout -> PyTorch's `torch_shape`."""
    if layout == "linear":
        out = t.t()
    elif layout == "conv":
        d, c, p, q = torch_shape
        out = t.reshape(p, q, c, d).permute(3, 2, 0, 1)
    else:
        out = t
    if out.shape != torch_shape:
        raise ValueError(f"shape {list(t.shape)} ({layout}) does not fit the PyTorch parameter {list(torch_shape)}")
    return out.contiguous()
