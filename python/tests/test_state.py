"""The exchanged state: names, layouts, SwiGLU's split weights, optimizer moments, written and read back."""

import json

import torch
from safetensors import safe_open
from safetensors.torch import load_file

from tests.conftest import make_spec, tiny_model
from vembed_torch.dist import Ranks
from vembed_torch.layouts import to_vembed
from vembed_torch.model import build_encoder, named_parameters
from vembed_torch.spec import ParamEntry
from vembed_torch.state import load_optimizer, load_params, save_state, trainables
from vembed_torch.step import Stepper


def test_swiglu_weights_in_is_gate_then_up_as_transformers_saves_it(tmp_path):
    folder = tiny_model(tmp_path / "swiglu", use_swiglu_ffn=True)
    entry = ParamEntry(
        name="encoder.layer.0.mlp.weights_in.weight",
        torch="encoder.layer.0.mlp.gate_proj.weight|encoder.layer.0.mlp.up_proj.weight",
        layout="linear",
        decay=True,
    )
    encoder = build_encoder(make_spec(folder, [entry]))
    (item,) = trainables([entry], named_parameters(encoder))
    # transformers 5 writes checkpoints with 4.x names: the fused weights_in, which vembed reads.
    saved = load_file(str(folder / "model.safetensors"))["encoder.layer.0.mlp.weights_in.weight"]
    assert torch.equal(item.value(), saved)
    # Exactly the listed tensors train.
    assert [n for n, p in named_parameters(encoder).items() if p.requires_grad] == [
        "encoder.layer.0.mlp.gate_proj.weight",
        "encoder.layer.0.mlp.up_proj.weight",
    ]


def test_state_written_is_read_back_into_a_fresh_model_and_optimizer(tmp_path, plain_model):
    entries = [
        ParamEntry(
            "embeddings.patch_embeddings.projection.weight",
            "embeddings.patch_embeddings.projection.weight",
            "conv",
            True,
        ),
        ParamEntry(
            "encoder.layer.1.attention.attention.query.weight",
            "encoder.layer.1.attention.q_proj.weight",
            "linear",
            True,
        ),
        ParamEntry("layernorm.weight", "layernorm.weight", "plain", False),
    ]
    spec = make_spec(plain_model, entries)
    ranks = Ranks(0, 1, torch.device("cpu"))
    first = build_encoder(spec)
    items = trainables(entries, named_parameters(first))
    stepper = Stepper(spec, ranks, first, items)
    for t in items:
        for p in t.parts:
            p.grad = torch.randn_like(p)
    stepper.optimizer.step()
    save_state(tmp_path, items, stepper.optimizer)

    with safe_open(str(tmp_path / "optimizer.safetensors"), "pt") as f:
        meta = f.metadata()
    assert meta["format"] == "vembed-adamw"
    assert json.loads(meta["steps"]) == {e.name: 1 for e in entries}
    params = load_file(str(tmp_path / "params.safetensors"))
    conv = named_parameters(first)["embeddings.patch_embeddings.projection.weight"]
    assert torch.equal(params["embeddings.patch_embeddings.projection.weight"], to_vembed(conv, "conv"))

    second = build_encoder(spec)
    items2 = trainables(entries, named_parameters(second))
    stepper2 = Stepper(spec, ranks, second, items2)
    load_params(str(tmp_path / "params.safetensors"), items2)
    load_optimizer(str(tmp_path / "optimizer.safetensors"), items2, stepper2.optimizer)
    for a, b in zip(items, items2, strict=True):
        assert torch.equal(a.value(), b.value())
        sa, sb = stepper.optimizer.state[a.parts[0]], stepper2.optimizer.state[b.parts[0]]
        for key in ("exp_avg", "exp_avg_sq", "step"):
            assert torch.equal(sa[key], sb[key])


def test_a_whole_number_in_a_float_field_loads(tmp_path):
    # models/vembed-tiny says "layerscale_value": 1; transformers 5's strict config types refuse it as it is.
    folder = tiny_model(tmp_path / "intscale")
    config = json.loads((folder / "config.json").read_text())
    config["layerscale_value"] = 1
    (folder / "config.json").write_text(json.dumps(config))
    entry = ParamEntry("layernorm.weight", "layernorm.weight", "plain", False)
    encoder = build_encoder(make_spec(folder, [entry]))
    assert encoder.backbone.config.layerscale_value == 1.0
