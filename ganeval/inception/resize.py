"""TF1-compatible bilinear resize (``tf.image.resize_bilinear`` with align_corners=False).

TensorFlow 1.x maps output pixel i to input coordinate ``i * in / out`` (no half-pixel
offset), then interpolates linearly between floor and floor + 1 (clamped at the edge).
torch's ``interpolate(..., align_corners=False)`` uses half-pixel centres instead, which shifts
every FID by a visible amount; matching TF1 is what makes numbers comparable with the
original FID/IS code and with torch-fidelity.  The resize is separable and linear, so it is
applied as two small matrix products.
"""
from __future__ import annotations

import torch


def _weights(n_in: int, n_out: int, device, dtype) -> torch.Tensor:
    """(n_out, n_in) interpolation matrix of TF1's legacy bilinear sampling."""
    src = torch.arange(n_out, dtype=torch.float64) * (n_in / n_out)
    lo = src.floor().long().clamp_(max=n_in - 1)
    hi = (lo + 1).clamp_(max=n_in - 1)
    frac = src - lo.double()
    m = torch.zeros(n_out, n_in, dtype=torch.float64)
    rows = torch.arange(n_out)
    m.index_put_((rows, lo), 1.0 - frac, accumulate=True)
    m.index_put_((rows, hi), frac, accumulate=True)
    return m.to(device, dtype)


def resize_tf1_bilinear(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize float NCHW images to `size` = (H, W) exactly as TF1's resize_bilinear."""
    h, w = x.shape[-2:]
    if (h, w) == tuple(size):
        return x
    mh = _weights(h, size[0], x.device, x.dtype)
    mw = _weights(w, size[1], x.device, x.dtype)
    return mh @ x @ mw.T
