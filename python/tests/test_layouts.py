"""vembed's stored layouts (src/engine/model/params.ts) against what they mean, not against a restatement."""

import torch
import torch.nn.functional as F

from vembed_torch.layouts import from_vembed, to_vembed


def test_conv_layout_is_the_patch_matmul_vembed_computes():
    # vembed embeds patches as NHWC patch rows ordered (ky, kx, c) times the [p*p*C, D] matrix.
    torch.manual_seed(1)
    d, c, p = 5, 3, 4
    weight = torch.randn(d, c, p, p)
    image = torch.randn(1, c, p, p)
    by_conv = F.conv2d(image, weight).reshape(d)
    rows = image.permute(0, 2, 3, 1).reshape(1, p * p * c)  # (ky, kx, c)
    by_matmul = (rows @ to_vembed(weight, "conv")).reshape(d)
    torch.testing.assert_close(by_matmul, by_conv, rtol=1e-5, atol=1e-6)


def test_layouts_round_trip():
    torch.manual_seed(2)
    for layout, shape in (("plain", (7,)), ("linear", (6, 3)), ("conv", (5, 3, 2, 2))):
        t = torch.randn(*shape)
        assert torch.equal(from_vembed(to_vembed(t, layout), layout, t.shape), t)


def test_a_shape_that_does_not_fit_is_refused():
    try:
        from_vembed(torch.zeros(3, 4), "linear", torch.Size([3, 4]))
    except ValueError as e:
        assert "does not fit" in str(e)
    else:
        raise AssertionError("a [3, 4] stored linear weight is [4, 3] in PyTorch")
