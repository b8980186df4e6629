"""Pillow's bicubic resampling as matrices, for the preprocessing rules that reproduce it.

Pillow resizes in two separable passes; for each axis ``precompute_coeffs`` (libImaging/
Resample.c) gives every output pixel a window of input pixels and a = -0.5 cubic weights,
the kernel widened by the scale when shrinking (antialiasing), normalised to sum to one.
8-bit images then quantise the weights to 22-bit fixed point and round every pass to uint8
(dgm-eval's DINOv2 input); 32-bit float images (mode ``F``, which clean-fid resizes channel by
channel) keep the double weights and store each pass as float32.  `pil_coeffs` builds either
matrix; the passes are matrix products, so they run on the images' device.
"""
from __future__ import annotations

import functools
import math

import torch

PIL_PRECISION_BITS = 32 - 8 - 2  # Pillow's fixed-point precision for 8-bit images
_SUPPORT = 2.0  # the cubic kernel's support


def _bicubic(x: float) -> float:
    # Pillow's bicubic_filter with a = -0.5, written with the same operations in the same order.
    a = -0.5
    if x < 0.0:
        x = -x
    if x < 1.0:
        return ((a + 2.0) * x - (a + 3.0)) * x * x + 1
    if x < 2.0:
        return (((x - 5) * x + 8) * x - 4) * a
    return 0.0


@functools.lru_cache(maxsize=64)
def pil_coeffs(n_in: int, n_out: int, fixed_point: bool) -> torch.Tensor:
    """(n_out, n_in) float64 matrix of Pillow's bicubic weights for one axis.

    With `fixed_point` the weights are ``normalize_coeffs_8bpc``'s 22-bit integers (held
    exactly in float64); without, they are the normalised double weights of the 32-bit paths.
    """
    scale = n_in / n_out
    filterscale = max(scale, 1.0)
    support = _SUPPORT * filterscale
    ss = 1.0 / filterscale
    one = float(1 << PIL_PRECISION_BITS)
    m = torch.zeros(n_out, n_in, dtype=torch.float64)
    for xx in range(n_out):
        center = (xx + 0.5) * scale
        xmin = max(int(center - support + 0.5), 0)  # int() truncates toward zero, like C's cast
        xmax = min(int(center + support + 0.5), n_in)
        w = [_bicubic((x - center + 0.5) * ss) for x in range(xmin, xmax)]
        ww = 0.0
        for v in w:  # summed in order, as Pillow does
            ww += v
        for i, v in enumerate(w):
            k = v / ww if ww != 0.0 else v
            if fixed_point:
                k = math.trunc(-0.5 + k * one) if k < 0 else math.trunc(0.5 + k * one)
            m[xx, xmin + i] = k
    return m
