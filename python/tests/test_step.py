"""The step's pieces against their definitions: the gradient cache equals the plain gradient, the recomputation
replays the dropout draws, clipping and AdamW follow vembed's rules (src/engine/train/optim)."""

import numpy as np
import torch

from tests.conftest import lora_entries, make_spec, tiny_model
from vembed_torch.dist import Ranks
from vembed_torch.model import build_encoder, named_parameters
from vembed_torch.spec import ParamEntry
from vembed_torch.state import trainables
from vembed_torch.step import StepOrder, Stepper

CPU = Ranks(0, 1, torch.device("cpu"))


def write_pixels(path, n, size=28):
    rng = np.random.default_rng(5)
    rng.standard_normal((2, n, size, size, 3)).astype(np.float32).tofile(path)


def contrastive_gradient(embeddings):
    """A loss of the gathered embeddings and its gradient (what the CLI computes with vembed's loss)."""
    e = embeddings.clone().requires_grad_(True)
    q, p = torch.nn.functional.normalize(e[0], dim=1), torch.nn.functional.normalize(e[1], dim=1)
    loss = torch.nn.functional.cross_entropy(q @ p.t() / 0.1, torch.arange(q.shape[0]))
    (grad,) = torch.autograd.grad(loss, e)
    return grad


def stepper_for(folder, **overrides):
    lora, entries = lora_entries()
    spec = make_spec(folder, entries, lora=lora, **overrides)
    encoder = build_encoder(spec)
    torch.manual_seed(11)
    items = trainables(entries, named_parameters(encoder))
    with torch.no_grad():
        for t in items:
            t.parts[0].normal_(0, 0.1)  # LoRA B starts at zero: move it, so every adapter has a gradient
    return Stepper(spec, CPU, encoder, items)


def test_the_gradient_cache_equals_the_plain_gradient(tmp_path, plain_model):
    pixels = tmp_path / "pixels.bin"
    write_pixels(pixels, 6)
    order = StepOrder(step=1, lr=0.0, pixels=str(pixels), n=6, height=28, width=28)
    grads = []
    for cache in (True, False):
        stepper = stepper_for(plain_model, use_gradient_cache=cache, chunk_size=4)
        stepper.step(order, contrastive_gradient)
        grads.append([p.grad.clone() for p in stepper.params])
    assert all(g.abs().max() > 0 for g in grads[0])
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)


def test_the_recomputation_replays_the_dropout_draws(tmp_path):
    folder = tiny_model(tmp_path / "dropout", hidden_dropout_prob=0.5)
    stepper = stepper_for(folder)
    stepper.encoder.train()
    x = torch.randn(2, 3, 28, 28)
    state = torch.get_rng_state()
    with torch.no_grad():
        first = stepper.encoder(x)
        with stepper._replay(state, None):
            replayed = stepper.encoder(x)
        fresh = stepper.encoder(x)
    assert torch.equal(first, replayed)
    assert not torch.equal(first, fresh)


def test_clipping_scales_only_above_max_norm_and_reports_the_norm_before(plain_model):
    stepper = stepper_for(plain_model, max_grad_norm=0.5)
    for p in stepper.params:
        p.grad = torch.full_like(p, 0.1)
    norm = float(np.sqrt(sum(p.numel() for p in stepper.params)) * 0.1)  # 3.2: above 0.5
    got, clipped = stepper._clip()
    assert clipped and abs(got - norm) < 1e-5 * norm
    total = float(torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in stepper.params])))
    assert abs(total - 0.5 * norm / (norm + 1e-6)) < 1e-6
    # max_grad_norm 0: measured, never clipped (torch's clip_grad_norm_(0) would zero the gradients).
    off = stepper_for(plain_model, max_grad_norm=0.0)
    for p in off.params:
        p.grad = torch.full_like(p, 0.1)
    off_norm, off_clipped = off._clip()
    assert not off_clipped and abs(off_norm - norm) < 1e-5 * norm
    assert all(torch.all(p.grad == 0.1) for p in off.params)


def test_adamw_is_vembeds_definition(plain_model):
    """src/engine/train/optim/adamw.ts: decoupled decay where the name decays, bias-corrected moments, eps 1e-8
    outside the square root; a parameter without a gradient is left alone (no decay, no step)."""
    entries = [
        ParamEntry("layernorm.weight", "layernorm.weight", "plain", False),
        ParamEntry("encoder.layer.0.mlp.fc1.weight", "encoder.layer.0.mlp.fc1.weight", "linear", True),
        ParamEntry("encoder.layer.0.mlp.fc2.weight", "encoder.layer.0.mlp.fc2.weight", "linear", True),
    ]
    spec = make_spec(plain_model, entries, weight_decay=0.1)
    encoder = build_encoder(spec)
    stepper = Stepper(spec, CPU, encoder, trainables(entries, named_parameters(encoder)))
    no_decay, decayed, untouched = stepper.params
    start = {id(p): p.detach().numpy().astype(np.float64).copy() for p in stepper.params}
    expected = {id(p): start[id(p)].copy() for p in (no_decay, decayed)}
    m = {k: np.zeros_like(v) for k, v in expected.items()}
    v = {k: np.zeros_like(x) for k, x in expected.items()}
    rng = np.random.default_rng(0)
    for t, lr in enumerate((0.01, 0.02, 0.005), start=1):
        for p, decay in ((no_decay, 0.0), (decayed, 0.1)):
            g = rng.standard_normal(p.shape)
            p.grad = torch.tensor(g, dtype=torch.float32)
            k = id(p)
            expected[k] *= 1 - lr * decay
            m[k] = 0.9 * m[k] + 0.1 * g
            v[k] = 0.999 * v[k] + 0.001 * g * g
            denom = np.sqrt(v[k]) / np.sqrt(1 - 0.999**t) + 1e-8
            expected[k] -= lr / (1 - 0.9**t) * m[k] / denom
        untouched.grad = None
        for group in stepper.optimizer.param_groups:
            group["lr"] = lr
        stepper.optimizer.step()
    for p in (no_decay, decayed):
        np.testing.assert_allclose(p.detach().numpy(), expected[id(p)], rtol=1e-5, atol=1e-6)
    assert np.array_equal(untouched.detach().numpy(), start[id(untouched)])
    assert untouched not in stepper.optimizer.state


def test_mixed_precision_gradients_are_close_to_float32_and_weights_stay_float32(tmp_path, plain_model):
    pixels = tmp_path / "pixels.bin"
    write_pixels(pixels, 4)
    order = StepOrder(step=1, lr=0.0, pixels=str(pixels), n=4, height=28, width=28)
    grads = {}
    for precision in ("no", "bf16", "fp16"):
        stepper = stepper_for(plain_model, mixed_precision=precision)
        outcome = stepper.step(order, contrastive_gradient)
        assert all(p.dtype == torch.float32 for p in stepper.params)
        # fp16 with loss scaling: a first scale that overflows skips the step (the gradients are then not used).
        if outcome.applied:
            grads[precision] = torch.cat([p.grad.flatten() for p in stepper.params])
    assert "no" in grads and "bf16" in grads
    for precision, g in grads.items():
        # bf16 keeps 8 bits of mantissa: a few per cent of the gradient's norm.
        assert (g - grads["no"]).norm() <= 0.05 * grads["no"].norm(), precision
