"""Layers of the reference trainer against hand computations (official networks.py formulas)."""
import math

import pytest
import torch
import torch.nn.functional as F

from reference_trainer.layers import (EqualizedConv2d, EqualizedLinear, downscale2d, minibatch_stddev,
                                      pixel_norm, upscale2d)


def test_pixel_norm_gives_unit_rms_per_pixel():
    x = torch.randn(4, 16, 5, 5, dtype=torch.float64) * 7 + 3
    y = pixel_norm(x, epsilon=0.0)
    torch.testing.assert_close(y.square().mean(dim=1), torch.ones(4, 5, 5, dtype=torch.float64))
    # epsilon 1e-8 (official) only matters for near-zero vectors
    assert torch.equal(pixel_norm(torch.zeros(1, 3, 1, 1)), torch.zeros(1, 3, 1, 1))


@pytest.mark.parametrize("gain", [math.sqrt(2), 1.0, math.sqrt(2) / 4])
@pytest.mark.parametrize("kernel", [1, 3])
def test_equalized_conv_applies_he_constant_at_runtime(gain, kernel):
    conv = EqualizedConv2d(6, 5, kernel, gain=gain)
    with torch.no_grad():
        conv.bias.normal_()
    x = torch.randn(2, 6, 7, 7)
    expected = F.conv2d(x, conv.weight * (gain / math.sqrt(6 * kernel * kernel)), conv.bias, padding=kernel // 2)
    torch.testing.assert_close(conv(x), expected)


def test_equalized_init_is_unit_normal_weights_and_zero_bias():
    conv = EqualizedConv2d(256, 256, 3)
    assert abs(conv.weight.std().item() - 1.0) < 0.01 and abs(conv.weight.mean().item()) < 0.01
    assert torch.equal(conv.bias, torch.zeros(256))
    dense = EqualizedLinear(512, 64, gain=1.0)
    assert dense.scale == 1.0 / math.sqrt(512) and torch.equal(dense.bias, torch.zeros(64))


def test_equalized_linear_matches_manual_scaling():
    dense = EqualizedLinear(12, 3)
    x = torch.randn(4, 3, 2, 2)  # flattened like official dense()
    torch.testing.assert_close(dense(x), x.flatten(1) @ (dense.weight * math.sqrt(2) / math.sqrt(12)).T)


def _mbstd_by_hand(x, group_size):
    n = x.shape[0]
    m = n // group_size
    out = torch.empty(n)
    for g in range(m):
        members = [i for i in range(n) if i % m == g]  # official reshape [G, M, ...]: sample i in group i % M
        s = x[members]
        std = torch.sqrt(((s - s.mean(0)) ** 2).mean(0) + 1e-8)
        for i in members:
            out[i] = std.mean()
    return out


@pytest.mark.parametrize("n,group_size", [(8, 4), (4, 4), (2, 4), (12, 4)])
def test_minibatch_stddev_matches_hand_computation(n, group_size):
    x = torch.randn(n, 5, 4, 4, dtype=torch.float64)
    y = minibatch_stddev(x, group_size)
    assert y.shape == (n, 6, 4, 4)
    assert torch.equal(y[:, :5], x)
    expected = _mbstd_by_hand(x, min(group_size, n))
    torch.testing.assert_close(y[:, 5], expected.view(n, 1, 1).expand(n, 4, 4).to(y.dtype))


def test_minibatch_stddev_group_falls_back_to_a_divisor():
    x = torch.randn(6, 3, 4, 4)
    torch.testing.assert_close(minibatch_stddev(x, 4)[:, 3, 0, 0], _mbstd_by_hand(x, 3))


def test_up_and_down_scale():
    x = torch.arange(16.0).view(1, 1, 4, 4)
    assert torch.equal(downscale2d(upscale2d(x)), x)
    assert downscale2d(x)[0, 0, 0, 0] == (0 + 1 + 4 + 5) / 4
    assert torch.equal(upscale2d(x)[0, 0, :2, :2], torch.zeros(2, 2))
