"""The evaluation's embedding on the ranks: every row once and in order, in eval mode (dropout off), float32 on a
CPU, and the encoder left in the mode it was in."""

import numpy as np
import pytest
import torch

from tests.conftest import lora_entries, make_spec
from vembed_torch.dist import Ranks
from vembed_torch.embed import EmbedOrder, embed_rows, evaluation_precision, shares
from vembed_torch.model import build_encoder

CPU = Ranks(0, 1, torch.device("cpu"))


@pytest.mark.parametrize(("n", "world"), [(12, 2), (5, 2), (1, 3), (7, 4)])
def test_shares_cover_every_row_once_in_order(n, world):
    parts = shares(n, world)
    assert [s for s, _ in parts] == [sum(c for _, c in parts[:r]) for r in range(world)]
    assert sum(c for _, c in parts) == n
    assert max(c for _, c in parts) - min(c for _, c in parts) <= 1


def test_embeds_in_eval_mode_as_a_plain_forward_does(plain_model, tmp_path):
    lora, entries = lora_entries()
    # Heavy dropout: a forward in training mode would differ from one call to the next.
    spec = make_spec(plain_model, entries, lora=lora.__class__(r=4, alpha=8, dropout=0.5, modules=lora.modules))
    encoder = build_encoder(spec)
    encoder.train()
    pixels = np.random.default_rng(2).standard_normal((5, 28, 28, 3)).astype(np.float32)
    file = tmp_path / "pixels.bin"
    pixels.tofile(file)
    order = EmbedOrder(pixels=str(file), n=5, height=28, width=28)
    first = embed_rows(encoder, CPU, order, "no")
    again = embed_rows(encoder, CPU, order, "no")
    assert encoder.training, "the encoder is back in training mode"
    encoder.eval()
    with torch.no_grad():
        expected = encoder(torch.from_numpy(pixels).permute(0, 3, 1, 2))
    assert first is not None and first.dtype == torch.float32 and first.shape == (5, 32)
    assert torch.equal(first, again)
    torch.testing.assert_close(first, expected, rtol=0, atol=1e-6)


def test_evaluation_precision_is_the_runs_autocast_on_cuda_and_float32_on_cpu():
    assert evaluation_precision("bf16", torch.device("cpu")) == "no"
    assert evaluation_precision("bf16", torch.device("cuda", 0)) == "bf16"
    assert evaluation_precision("fp16", torch.device("cuda", 0)) == "fp16"
    assert evaluation_precision("no", torch.device("cuda", 0)) == "no"
