"""MS-SSIM, paired and as the ProGAN paper's diversity metric.

Follows `metrics/ms_ssim.py` of tkarras/progressive_growing_of_gans (after Wang et al. 2003):

* Gaussian window of size 11 and sigma 1.5; at each scale the size shrinks to
  min(11, H, W) and sigma scales with it; 'valid' filtering, per channel;
* K1 = 0.01, K2 = 0.03, max value 255;
* 5 scales with 2x2 box downsampling, weights [0.0448, 0.2856, 0.3001, 0.2363, 0.1333];
* negative ssim/cs values are clipped to 0; per pair the product of cs^w over the first
  four scales times ssim^w at the last;
* the diversity metric averages over consecutive pairs (0, 1), (2, 3), ...

The window is separable (a normalized 2-D Gaussian is the outer product of normalized 1-D
ones), so filtering runs as two 1-D passes (banded matrix products), in float32 like the
reference, on images centred at 0 to keep the second moments accurate.  Odd image sizes
are cropped by one pixel before each 2x2 downsampling (the reference fails on them).
"""
from __future__ import annotations

import math
import time
from typing import Any

import torch

from .device import resolve_device
from .errors import DataError
from .progress import progress
from .results import MetricResult
from .sources import open_source, to_uint8

FILTER_SIZE = 11
FILTER_SIGMA = 1.5
K1, K2 = 0.01, 0.03
MAX_VAL = 255.0
WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
DEFAULT_NUM_PAIRS = 10000

__all__ = ["ssim", "ms_ssim_pairs", "ms_ssim", "MSSSIMAccumulator"]


def _gauss_1d(size: int, sigma: float, device, dtype) -> torch.Tensor:
    # Same sample points as the reference's _FSpecialGauss: centred, offset 0.5 for even sizes.
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2.0
    g = torch.exp(-(x * x) / (2.0 * sigma * sigma))
    return (g / g.sum()).to(device, dtype)


def _band(n: int, g: torch.Tensor) -> torch.Tensor:
    """(n, n - k + 1) matrix M with (v @ M)[j] = sum_i g[i] v[j + i]: 'valid' 1-D filtering."""
    k, out = g.numel(), n - g.numel() + 1
    m = g.new_zeros(n, out)
    cols = torch.arange(out, device=g.device)
    for i in range(k):
        m[cols + i, cols] = g[i]
    return m


def _box_down(x: torch.Tensor) -> torch.Tensor:
    """2x2 box average, the reference's four-slice sum (odd sizes lose their last row/column)."""
    h, w = x.shape[2] // 2 * 2, x.shape[3] // 2 * 2
    x = x[:, :, :h, :w]
    return (x[:, :, 0::2, 0::2] + x[:, :, 1::2, 0::2] + x[:, :, 0::2, 1::2] + x[:, :, 1::2, 1::2]) * 0.25


def _filter(x: torch.Tensor, g: torch.Tensor, block: int = 32) -> torch.Tensor:
    """Separable 'valid' filtering of the last two dims as banded matrix products.

    Outputs are computed in blocks of `block` so each product only spans block + k - 1
    inputs; on CPU this beats torch's depthwise convolution about 2-3x, and on GPUs it runs
    on the GEMM units.
    """
    k = g.numel()
    ho, wo = x.shape[-2] - k + 1, x.shape[-1] - k + 1
    y = x.new_empty(x.shape[:-1] + (wo,))
    for s in range(0, wo, block):
        n = min(block, wo - s)
        y[..., s:s + n] = x[..., s:s + n + k - 1] @ _band(n + k - 1, g)
    z = x.new_empty(x.shape[:-2] + (ho, wo))
    for s in range(0, ho, block):
        n = min(block, ho - s)
        z[..., s:s + n, :] = _band(n + k - 1, g).T @ y[..., s:s + n + k - 1, :]
    return z


def _ssim_cs(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image SSIM and contrast-structure terms at one scale.

    Inputs are float32 NCHW images on the 0..255 scale, centred by -128 so that the
    second moments lose less to cancellation; variances and covariances do not change
    with the shift, and the means get it back for the luminance term.
    """
    h, w = a.shape[2:]
    size = min(FILTER_SIZE, h, w)
    sigma = size * FILTER_SIGMA / FILTER_SIZE
    g = _gauss_1d(size, sigma, a.device, a.dtype)
    # Four filtered maps suffice: SSIM needs only s11 + s22, never s11 or s22 alone.
    maps = a.new_empty((4,) + a.shape)
    maps[0], maps[1] = a, b
    torch.mul(a, a, out=maps[2]).addcmul_(b, b)
    torch.mul(a, b, out=maps[3])
    m1, m2, sq, cross = _filter(maps, g).unbind(0)
    c1, c2 = (K1 * MAX_VAL) ** 2, (K2 * MAX_VAL) ** 2
    prod = m1 * m2
    norm2 = m1 * m1 + m2 * m2
    v1 = cross.sub_(prod).mul_(2.0).add_(c2)            # 2 * s12 + c2
    v2 = sq.sub_(norm2).add_(c2)                        # s11 + s22 + c2
    # Luminance on the uncentred means mu = m + 128, expanded so no shifted copies are made.
    shift = (m1 + m2).mul_(256.0).add_(32768.0 + c1)
    lum = (prod.mul_(2.0) + shift).div_(norm2.add_(shift))
    cs_map = v1.div_(v2)
    cs = cs_map.sum(dim=(1, 2, 3), dtype=torch.float64) / cs_map[0].numel()
    ssim = lum.mul_(cs_map).sum(dim=(1, 2, 3), dtype=torch.float64) / cs_map[0].numel()
    return ssim, cs


def _prepare(a: Any, b: Any) -> tuple[torch.Tensor, torch.Tensor]:
    a, b = to_uint8(a, name="image a"), to_uint8(b, name="image b")
    if a.shape != b.shape:
        raise DataError(f"paired images must have one shape; got {tuple(a.shape)} and {tuple(b.shape)}")
    return a.float() - 128.0, b.to(a.device).float() - 128.0


def ssim(a: Any, b: Any) -> torch.Tensor:
    """Single-scale SSIM of each image in `a` against the same-index image in `b`.

    Inputs are batches of uint8 images (NCHW/NHWC numpy or torch, same shape); the result is
    one float64 value per pair, computed with the reference's window, constants and averaging
    over pixels and channels.
    """
    x, y = _prepare(a, b)
    return _ssim_cs(x, y)[0]


def ms_ssim_pairs(a: Any, b: Any, weights: tuple[float, ...] = WEIGHTS) -> torch.Tensor:
    """Multi-scale SSIM of each image in `a` against the same-index image in `b`.

    Images need at least 2^(len(weights)-1) pixels per side (16 for the default 5 scales).
    Returns one float64 value per pair, on the inputs' device.
    """
    x, y = _prepare(a, b)
    need = 2 ** (len(weights) - 1)
    if min(x.shape[2:]) < need:
        raise DataError(f"images are {x.shape[3]}x{x.shape[2]}; MS-SSIM with {len(weights)} scales needs at least {need}x{need}")
    w = torch.tensor(weights, dtype=torch.float64, device=x.device)
    ssims, css = [], []
    for level in range(len(weights)):
        s, c = _ssim_cs(x, y)
        ssims.append(s)
        css.append(c)
        if level < len(weights) - 1:
            x, y = _box_down(x), _box_down(y)
    cs = torch.stack(css[:-1]).clamp_min(0)
    last = ssims[-1].clamp_min(0)
    return torch.prod(cs ** w[:-1, None], dim=0) * last ** w[-1]


class MSSSIMAccumulator:
    """Streams images and averages MS-SSIM over consecutive pairs (0, 1), (2, 3), ...

    A batch of odd length keeps its last image to pair it with the next batch's first, so
    the pairing never depends on batch size.  `merge` adds another accumulator's sums (e.g.
    from another process); `compute` returns the mean over pairs.
    """

    def __init__(self, max_pairs: int | None = None):
        self.max_pairs = max_pairs
        self.sum: torch.Tensor | float = 0.0  # a device tensor while streaming: no sync per batch
        self.pairs = 0
        self._carry: torch.Tensor | None = None

    def update(self, images: torch.Tensor) -> None:
        """Add a batch of uint8 RGB NCHW images."""
        x = to_uint8(images, name="images")
        if self._carry is not None:
            x = torch.cat([self._carry.to(x.device), x])
            self._carry = None
        if x.shape[0] % 2:
            self._carry, x = x[-1:], x[:-1]
        if self.max_pairs is not None:
            x = x[: 2 * max(0, self.max_pairs - self.pairs)]
        if x.shape[0]:
            vals = ms_ssim_pairs(x[0::2], x[1::2])
            self.sum = self.sum + vals.sum()
            self.pairs += vals.shape[0]

    def merge(self, other: "MSSSIMAccumulator") -> None:
        self.sum += other.sum
        self.pairs += other.pairs

    def compute(self) -> float:
        if self.pairs == 0:
            raise DataError("MS-SSIM needs at least 2 images (one pair)")
        return float(self.sum) / self.pairs


def ms_ssim(images: Any, *, num_pairs: int | None = DEFAULT_NUM_PAIRS, device: Any = None,
            batch_size: int = 64, workers: int | None = None, quiet: bool = True, seed: int = 0,
            **source_kw: Any) -> MetricResult:
    """Average MS-SSIM over consecutive pairs of one image set: the ProGAN diversity metric.

    Lower means more diverse.  `images` is any image source; the first ``2 * num_pairs``
    images are paired (0, 1), (2, 3), ... (default 10,000 pairs, the paper's count; fewer if
    the set is smaller; an odd last image is left out).  `seed` only matters with
    ``subset="random"``.  Returns a `MetricResult` with the value ``MS-SSIM``.
    """
    t0 = time.time()
    dev = resolve_device(device)
    n = None if num_pairs is None else 2 * num_pairs
    src = open_source(images, num_images=n, seed=seed, **source_kw)
    acc = MSSSIMAccumulator(num_pairs)
    total = len(src) if not callable(images) else n
    for batch in progress(src.batches(batch_size, dev, workers), total=total, desc="ms-ssim", quiet=quiet):
        acc.update(batch)
    value = acc.compute()
    if math.isnan(value):
        raise DataError(f"{src.name}: MS-SSIM is NaN; check the images for constant or corrupt content")
    settings = dict(filter_size=FILTER_SIZE, filter_sigma=FILTER_SIGMA, k1=K1, k2=K2, weights=list(WEIGHTS),
                    resolution=list(src.resolution or ()), device=dev.type)
    return MetricResult("msssim", {"MS-SSIM": value}, "MS-SSIM", settings,
                        {"images": 2 * acc.pairs, "pairs": acc.pairs}, seed, time.time() - t0)
