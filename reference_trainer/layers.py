"""Layers of official networks.py: equalized learning rate, pixelwise norm, minibatch stddev.

Equalized LR (official ``get_weight(..., use_wscale=True)``): weights are drawn from N(0, 1)
and multiplied at run time by the He constant ``gain / sqrt(fan_in)``; biases start at zero
(official ``apply_bias``).  The default gain is sqrt(2) (official ``gain=np.sqrt(2)``).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

SQRT2 = math.sqrt(2.0)


class EqualizedConv2d(nn.Module):
    """kxk convolution with run-time He scaling (official ``conv2d`` + ``apply_bias``)."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int, gain: float = SQRT2) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.scale = gain / math.sqrt(in_channels * kernel * kernel)  # fan_in = in * k * k
        self.padding = kernel // 2  # official padding='SAME'

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.scale, self.bias, padding=self.padding)


class EqualizedLinear(nn.Module):
    """Dense layer with run-time He scaling (official ``dense`` + ``apply_bias``).

    ``bias=False`` lets the generator's first layer add its bias per channel after the
    reshape to 4x4, as official ``apply_bias`` does on the NCHW tensor.
    """

    def __init__(self, in_features: int, out_features: int, gain: float = SQRT2, bias: bool = True) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features))
        self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None
        self.scale = gain / math.sqrt(in_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x.flatten(1), self.weight * self.scale, self.bias)


def pixel_norm(x: torch.Tensor, epsilon: float = 1e-8) -> torch.Tensor:
    """Official ``pixel_norm``: x / sqrt(mean over channels of x^2 + epsilon)."""
    return x * torch.rsqrt(x.square().mean(dim=1, keepdim=True) + epsilon)


def lrelu(x: torch.Tensor) -> torch.Tensor:
    """Official ``leaky_relu`` with alpha 0.2."""
    return F.leaky_relu(x, 0.2)


def minibatch_stddev(x: torch.Tensor, group_size: int = 4) -> torch.Tensor:
    """Official ``minibatch_stddev_layer``: append one feature map of the group's mean stddev.

    As in the official reshape ``[G, M, C, H, W]``, sample n belongs to group ``n % M`` where
    M = N / G.  The group size is ``min(group_size, N)``; when N is not divisible by it the
    largest divisor of N below it is used (official code asserts divisibility instead).
    Statistics are taken in fp32 (official casts to fp32) and stay within the local batch,
    so under data parallelism each rank's groups are its own samples.
    """
    n, c, h, w = x.shape
    g = min(group_size, n)
    while n % g:
        g -= 1
    y = x.float().reshape(g, n // g, c, h, w)
    y = y - y.mean(dim=0, keepdim=True)
    y = torch.sqrt(y.square().mean(dim=0) + 1e-8)       # [M, C, H, W]
    y = y.mean(dim=(1, 2, 3), keepdim=True).to(x.dtype)  # [M, 1, 1, 1]
    y = y.repeat(g, 1, h, w)                             # [N, 1, H, W], row n = group n % M
    return torch.cat([x, y], dim=1)


def upscale2d(x: torch.Tensor, factor: int = 2) -> torch.Tensor:
    """Official ``upscale2d``: nearest-neighbour upsampling."""
    if factor == 1:
        return x
    return x.repeat_interleave(factor, dim=2).repeat_interleave(factor, dim=3)


def downscale2d(x: torch.Tensor, factor: int = 2) -> torch.Tensor:
    """Official ``downscale2d``: factor x factor box (average) pooling."""
    if factor == 1:
        return x
    return F.avg_pool2d(x, factor)
