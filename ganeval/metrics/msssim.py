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
ones), so filtering runs as two 1-D passes of small banded matrix products, in float32 like
the reference, on images centred at 0 to keep the second moments accurate.  Pairs go through
in chunks sized to stay in cache on CPU (whole batches on GPUs), with buffers reused from
chunk to chunk.  Odd image sizes are cropped by one pixel before each 2x2 downsampling (the
reference fails on them).
"""
from __future__ import annotations

import functools
import math
import time
from typing import Any

import torch

from ..device import exact_matmul, resolve_device
from ..dist import rank_world
from ..errors import DataError
from ..options import check_count_arg
from ..progress import progress
from ..results import MetricResult
from ..io.inputs import input_record
from ..io.sources import open_source, skipped_total, to_uint8
from .base import StreamingMetric
from .uncertainty import bootstrap, check_count

FILTER_SIZE = 11
FILTER_SIGMA = 1.5
K1, K2 = 0.01, 0.03
MAX_VAL = 255.0
WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
DEFAULT_NUM_PAIRS = 10000
_C1, _C2 = (K1 * MAX_VAL) ** 2, (K2 * MAX_VAL) ** 2
_BLOCK_W, _BLOCK_H = 16, 12
# Per-chunk budget for the first scale's buffers: cache-sized on CPU; on GPUs big enough to
# fill the device without holding much memory in a training process.
_CPU_CHUNK_BYTES, _GPU_CHUNK_BYTES = 24 << 20, 256 << 20

__all__ = ["ssim", "ms_ssim_pairs", "ms_ssim", "MSSSIM", "MSSSIMAccumulator", "pairs_for"]


def pairs_for(num_images: int | None) -> int:
    """Pairs measured when a run asks for `num_images` images: half of them (the paper's
    10,000 pairs when no count is given)."""
    return num_images // 2 if num_images else DEFAULT_NUM_PAIRS


def _gauss_1d(size: int, sigma: float) -> torch.Tensor:
    # Same sample points as the reference's _FSpecialGauss: centred, offset 0.5 for even sizes.
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2.0
    g = torch.exp(-(x * x) / (2.0 * sigma * sigma))
    return (g / g.sum()).float()


@functools.lru_cache(maxsize=None)
def _band(n_in: int, size: int, device: torch.device, left: bool = False) -> torch.Tensor:
    """(n_in, n_in - size + 1) matrix M with (v @ M)[j] = sum_i g[i] v[j + i]: 'valid' filtering.

    `g` is the reference's window for `size` (sigma scaled with it); `left` gives the
    contiguous transpose, for filtering the rows of a matrix from the left.
    """
    g = _gauss_1d(size, size * FILTER_SIGMA / FILTER_SIZE)
    out = n_in - size + 1
    m = torch.zeros(n_in, out)
    cols = torch.arange(out)
    for i in range(size):
        m[cols + i, cols] = g[i]
    return (m.T.contiguous() if left else m).to(device)


class _Scale:
    """Buffers of one scale for a chunk of P image pairs, reused from chunk to chunk.

    Memory is rows first, (H, map, pair, channel, W), with the four maps a, b, a^2 + b^2 and
    ab side by side.  Both 1-D passes are then plain 2-D GEMMs on contiguous memory with no
    copies: the horizontal one multiplies column blocks by a band from the right (into a
    width padded to whole blocks), the vertical one multiplies row blocks from the left.
    Small blocks (16 and 12 outputs) keep the band's wasted multiply-adds low; on a 2-core
    EPYC with MKL these two were the fastest block sizes measured (4 to 64 tried).
    """

    def __init__(self, shape: tuple[int, int, int, int], device: torch.device):
        p, c, self.h, self.w = shape
        self.k = k = min(FILTER_SIZE, self.h, self.w)
        self.ho, self.wo = self.h - k + 1, self.w - k + 1
        self.bw = min(_BLOCK_W, self.wo)
        self.nb = -(-self.wo // self.bw)
        ow = self.nb * self.bw
        # Zero padding on the right only feeds output columns >= wo, which are never summed.
        self.maps = torch.zeros(self.h, 4, p, c, ow + k - 1, device=device)
        self.images = self.maps[:, :2, ..., :self.w]
        self.rows = torch.empty(self.h, 4, p, c, ow, device=device)
        self.out = torch.empty(self.ho, 4, p, c, ow, device=device)
        self.tmp = torch.empty(2, self.ho, p, c, ow, device=device)

    def _filter(self) -> None:
        k, bw, dev = self.k, self.bw, self.maps.device
        x = self.maps.view(-1, self.maps.shape[-1])
        y = self.rows.view(x.shape[0], self.nb, bw)
        band = _band(bw + k - 1, k, dev)
        for j in range(self.nb):
            torch.mm(x[:, j * bw:j * bw + bw + k - 1], band, out=y[:, j])
        y, z = self.rows.view(self.h, -1), self.out.view(self.ho, -1)
        nh = -(-self.ho // _BLOCK_H)
        edges = [round(i * self.ho / nh) for i in range(nh + 1)]
        for s, e in zip(edges[:-1], edges[1:]):
            torch.mm(_band(e - s + k - 1, k, dev, left=True), y[s:e + k - 1], out=z[s:e])

    def ssim_cs(self, with_ssim: bool) -> tuple[torch.Tensor | None, torch.Tensor]:
        """Per-pair mean SSIM (when asked) and contrast-structure term of the images held.

        Images are centred by -128 so that the second moments lose less to cancellation;
        variances and covariances do not change with the shift, and the luminance term
        gets it back from the means.
        """
        a, b = self.images.unbind(1)
        torch.mul(a, a, out=self.maps[:, 2, ..., :self.w]).addcmul_(b, b)
        torch.mul(a, b, out=self.maps[:, 3, ..., :self.w])
        self._filter()
        m1, m2, sq, cross = self.out.unbind(1)
        prod = torch.mul(m1, m2, out=self.tmp[0])
        norm2 = torch.mul(m1, m1, out=self.tmp[1]).addcmul_(m2, m2)
        # Four filtered maps suffice: SSIM needs only s11 + s22, never s11 or s22 alone.
        # cs_map is v1 / v2 halved, (s12 + c2 / 2) / (s11 + s22 + c2); `n` restores the 2.
        cs_map = cross.sub_(prod).add_(_C2 / 2).div_(sq.sub_(norm2).add_(_C2))
        n = self.ho * self.wo * cs_map.shape[2] / 2.0
        cs = _pair_sums(cs_map[..., :self.wo]) / n
        if not with_ssim:
            return None, cs
        # Luminance on the uncentred means mu = m + 128, expanded so no shifted copies are made.
        shift = m1.add_(m2).mul_(256.0).add_(32768.0 + _C1)
        lum = prod.mul_(2.0).add_(shift).div_(norm2.add_(shift))
        return _pair_sums(lum.mul_(cs_map)[..., :self.wo]) / n, cs

    def load(self, a: torch.Tensor, b: torch.Tensor) -> None:
        """Centre uint8 NCHW images into the buffers."""
        torch.sub(a.permute(2, 0, 1, 3), 128.0, out=self.images[:, 0])
        torch.sub(b.permute(2, 0, 1, 3), 128.0, out=self.images[:, 1])

    def down_to(self, nxt: "_Scale") -> None:
        """2x2 box average into the next scale, as the reference's four-slice sum (odd sizes
        lose their last row/column)."""
        h, w, src, dst = nxt.h, nxt.w, self.images, nxt.images
        torch.add(src[0:2 * h:2, ..., 0:2 * w:2], src[1:2 * h:2, ..., 0:2 * w:2], out=dst)
        dst.add_(src[0:2 * h:2, ..., 1:2 * w:2]).add_(src[1:2 * h:2, ..., 1:2 * w:2]).mul_(0.25)


def _pair_sums(m: torch.Tensor) -> torch.Tensor:
    # float32 row sums (<= a few hundred terms), then float64 across rows, per pair.
    return m.sum(-1).sum(dim=(0, 2), dtype=torch.float64)


def _scales(shape: tuple[int, int, int, int], levels: int, device: torch.device) -> list[_Scale]:
    p, c, h, w = shape
    return [_Scale((p, c, h >> i, w >> i), device) for i in range(levels)]


def _chunk_pairs(shape: tuple[int, ...], device: torch.device) -> int:
    """Pairs per chunk: on CPU the first scale's buffers stay within a cache-sized budget."""
    budget = _CPU_CHUNK_BYTES if device.type == "cpu" else _GPU_CHUNK_BYTES
    return max(1, budget // (16 * 4 * math.prod(shape[1:])))


def _run(a: torch.Tensor, b: torch.Tensor, levels: int,
         workspace: dict | None) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Per-pair SSIM at the last scale and cs at every scale, for uint8 NCHW pairs, chunk by chunk."""
    workspace = {} if workspace is None else workspace
    step = _chunk_pairs(tuple(a.shape), a.device)
    ssims: list[torch.Tensor] = []
    css: list[list[torch.Tensor]] = [[] for _ in range(levels)]
    with exact_matmul(a.device):
        for s in range(0, a.shape[0], step):
            ca, cb = a[s:s + step], b[s:s + step]
            key = (tuple(ca.shape), levels, ca.device)
            if key not in workspace:
                workspace[key] = _scales(key[0], levels, ca.device)
            scales = workspace[key]
            scales[0].load(ca, cb)
            for i, sc in enumerate(scales):
                if i + 1 < levels:
                    sc.down_to(scales[i + 1])
                sv, cv = sc.ssim_cs(with_ssim=i + 1 == levels)
                css[i].append(cv)
                if sv is not None:
                    ssims.append(sv)
    return torch.cat(ssims), [torch.cat(v) for v in css]


def _prepare(a: Any, b: Any) -> tuple[torch.Tensor, torch.Tensor]:
    a, b = to_uint8(a, name="image a"), to_uint8(b, name="image b")
    if a.shape != b.shape:
        raise DataError(f"paired images must have one shape; got {tuple(a.shape)} and {tuple(b.shape)}")
    return a, b.to(a.device)


def ssim(a: Any, b: Any) -> torch.Tensor:
    """Single-scale SSIM of each image in `a` against the same-index image in `b`.

    Inputs are batches of uint8 images (NCHW/NHWC numpy or torch, same shape); the result is
    one float64 value per pair, computed with the reference's window, constants and averaging
    over pixels and channels.
    """
    x, y = _prepare(a, b)
    if x.shape[0] == 0:
        return torch.empty(0, dtype=torch.float64, device=x.device)
    return _run(x, y, 1, None)[0]


def ms_ssim_pairs(a: Any, b: Any, weights: tuple[float, ...] = WEIGHTS, *,
                  workspace: dict | None = None) -> torch.Tensor:
    """Multi-scale SSIM of each image in `a` against the same-index image in `b`.

    Images need at least 2^(len(weights)-1) pixels per side (16 for the default 5 scales).
    Returns one float64 value per pair, on the inputs' device.  `workspace` (a dict the
    caller keeps) lets repeated calls reuse their buffers.
    """
    x, y = _prepare(a, b)
    levels = len(weights)
    need = 2 ** (levels - 1)
    if min(x.shape[2:]) < need:
        raise DataError(f"images are {x.shape[3]}x{x.shape[2]}; MS-SSIM with {levels} scales needs at least {need}x{need}")
    if x.shape[0] == 0:
        return torch.empty(0, dtype=torch.float64, device=x.device)
    last_ssim, css = _run(x, y, levels, workspace)
    w = torch.tensor(weights, dtype=torch.float64, device=x.device)
    value = last_ssim.clamp_min(0) ** w[-1]
    for c, wi in zip(css[:-1], w[:-1]):
        value = value * c.clamp_min(0) ** wi
    return value


class MSSSIMAccumulator:
    """Streams images and averages MS-SSIM over consecutive pairs (0, 1), (2, 3), ...

    Images wait in a queue until a whole chunk of pairs is there, so that every pair is
    computed at the same place in the same chunk shape whatever the batch sizes: the value
    then does not depend on batching even in its last float32 bit.  `flush` computes what
    is queued (an odd last image keeps waiting); `merge` adds another accumulator's sums
    (e.g. from another process); `compute` flushes and returns the mean over pairs.
    With `keep_values` every pair's value is kept with its pair index (image index // 2), for
    the bootstrap; `all_values` returns them in the set's order.
    """

    def __init__(self, max_pairs: int | None = None, keep_values: bool = False):
        self.max_pairs, self.keep_values = max_pairs, keep_values
        self.sum: torch.Tensor | float = 0.0  # a device tensor while streaming: no sync per batch
        self.pairs = 0
        self.values: list[torch.Tensor] = []
        self.index: list[torch.Tensor] = []
        self._queue: list[torch.Tensor] = []
        self._qindex: list[torch.Tensor] = []  # each queued image's index in its set (when kept)
        self._next = 0
        self._queued = 0
        self._workspace: dict = {}
        self.resolution: tuple[int, int] | None = None
        self.device_type: str | None = None

    def update(self, images: torch.Tensor, start: int | None = None) -> None:
        """Add a batch of uint8 RGB NCHW images (`start`: the index of its first image in the set)."""
        x = to_uint8(images, name="images")
        start = self._next if start is None else int(start)
        self._next = start + x.shape[0]
        if self.resolution is None:
            self.resolution, self.device_type = tuple(x.shape[2:]), x.device.type
        elif tuple(x.shape[2:]) != self.resolution:
            # A pair across two sizes cannot be computed, and pairs of another size would be
            # averaged into a value whose settings name only the first size.
            raise DataError(f"images: a batch of {x.shape[3]}x{x.shape[2]} images after {self.resolution[1]}x"
                            f"{self.resolution[0]} ones; MS-SSIM needs one image size per set (resize the "
                            "images, or reset() before measuring another size)")
        if self.max_pairs is not None:
            x = x[: max(0, 2 * (self.max_pairs - self.pairs) - self._queued)]
        if x.shape[0] == 0:
            return
        self._queue.append(x)
        if self.keep_values:
            self._qindex.append(torch.arange(start, start + x.shape[0]))
        self._queued += x.shape[0]
        step = 2 * _chunk_pairs(tuple(x.shape), x.device)
        if self._queued >= step:
            self._take(self._queued // step * step)

    def flush(self) -> None:
        """Compute every whole pair queued so far."""
        self._take(self._queued // 2 * 2)

    def _take(self, n: int) -> None:
        if n == 0:
            return
        x = torch.cat([q.to(self._queue[-1].device) for q in self._queue])
        self._queue, self._queued = ([x[n:]] if n < x.shape[0] else []), x.shape[0] - n
        vals = ms_ssim_pairs(x[0:n:2], x[1:n:2], workspace=self._workspace)
        self.sum = self.sum + vals.sum()
        self.pairs += vals.shape[0]
        if self.keep_values:
            idx = torch.cat(self._qindex)
            self._qindex = [idx[n:]] if n < x.shape[0] else []
            self.values.append(vals.detach())
            self.index.append(idx[0:n:2] // 2)

    def all_values(self) -> torch.Tensor:
        """Every kept pair value (float64, CPU), in the order of the pairs in the set."""
        self.flush()
        vals = torch.cat([v.double().cpu() for v in self.values]) if self.values else torch.empty(0)
        return vals[torch.argsort(torch.cat(self.index))] if self.index else vals

    def merge(self, other: "MSSSIMAccumulator") -> None:
        if self.resolution and other.resolution and tuple(self.resolution) != tuple(other.resolution):
            raise DataError(f"images: cannot merge MS-SSIM of {other.resolution[1]}x{other.resolution[0]} images "
                            f"into one of {self.resolution[1]}x{self.resolution[0]} images; measure one size per set")
        other.flush()
        self.sum = self.sum + (other.sum.to(self.sum.device) if isinstance(other.sum, torch.Tensor)
                               and isinstance(self.sum, torch.Tensor) else other.sum)
        self.pairs += other.pairs
        self.values += other.values
        self.index += other.index
        self.resolution = self.resolution or other.resolution
        self.device_type = self.device_type or other.device_type

    def portable(self) -> "MSSSIMAccumulator":
        """The flushed sums as a CPU copy: what travels between processes."""
        self.flush()
        out = MSSSIMAccumulator(self.max_pairs, self.keep_values)
        out.sum, out.pairs = float(self.sum), self.pairs
        out.values = [torch.cat(self.values).cpu()] if self.values else []
        out.index = [torch.cat(self.index)] if self.index else []
        out.resolution, out.device_type = self.resolution, self.device_type
        return out

    def compute(self) -> float:
        self.flush()
        if self.pairs == 0:
            raise DataError("MS-SSIM needs at least 2 images (one pair)")
        return float(self.sum) / self.pairs


class MSSSIM(StreamingMetric):
    """Streaming MS-SSIM diversity: ``update(images)`` pairs consecutive images; ``compute()``.

    Equal to `ganeval.ms_ssim` on the same images for any split into batches (images queue
    up into whole chunks of pairs; ``ganeval.ms_ssim`` streams into this object).
    `max_pairs` stops accumulating after that many pairs.  ``bootstrap=B`` adds error bars
    from B resamples of the pairs (their values are kept; `ganeval.metrics.uncertainty`).
    """

    name = "msssim"
    uses_real = False
    count_unit = "pairs"

    def __init__(self, max_pairs: int | None = None, seed: int = 0, *, bootstrap: int = 0) -> None:
        self.max_pairs, self.seed = max_pairs, seed
        self.requested = max_pairs  # the pairs asked for; fewer when the set is smaller (ganeval.counts)
        self.bootstrap = check_count(bootstrap, "bootstrap")
        self.source_name = "images"  # named in errors; the one-shot sets the source's name
        super().__init__()

    def _new(self, real: bool) -> MSSSIMAccumulator:
        return MSSSIMAccumulator(self.max_pairs, keep_values=bool(self.bootstrap))

    def ask(self, num_images: int | None) -> None:
        """A run of `num_images` images asks for half as many pairs (`pairs_for`)."""
        self.requested = None if num_images is None else pairs_for(num_images)

    def _used(self, result: MetricResult) -> int:
        return result.num_images["pairs"]

    def _accumulate(self, acc: MSSSIMAccumulator, images: torch.Tensor, start: int | None = None) -> None:
        acc.update(images, start)

    def _with_uncertainty(self, result: MetricResult, real: None, fake: MSSSIMAccumulator) -> MetricResult:
        if self.bootstrap:
            vals = fake.all_values()
            result.uncertainty = bootstrap(result.values, lambda _, f: {"MS-SSIM": float(vals[f].mean())}, None,
                                           len(vals), self.bootstrap, self.seed)
        return result

    def _result(self, real: None, fake: MSSSIMAccumulator) -> MetricResult:
        value = fake.compute()
        if math.isnan(value):
            raise DataError(f"{self.source_name}: MS-SSIM is NaN; check the images for constant or corrupt content")
        settings = dict(filter_size=FILTER_SIZE, filter_sigma=FILTER_SIGMA, k1=K1, k2=K2, weights=list(WEIGHTS),
                        resolution=list(fake.resolution or ()), device=fake.device_type)
        return MetricResult("msssim", {"MS-SSIM": value}, "MS-SSIM", settings,
                            {"images": 2 * fake.pairs, "pairs": fake.pairs}, self.seed)


def ms_ssim(images: Any, *, num_pairs: int | None = DEFAULT_NUM_PAIRS, device: Any = None,
            batch_size: int = 64, workers: int | None = None, quiet: bool = True, seed: int = 0,
            bootstrap: int = 0, **source_kw: Any) -> MetricResult | None:
    """Average MS-SSIM over consecutive pairs of one image set: the ProGAN diversity metric.

    Lower means more diverse.  `images` is any image source; the first ``2 * num_pairs``
    images are paired (0, 1), (2, 3), ... (default 10,000 pairs, the paper's count; fewer if
    the set is smaller; an odd last image is left out).  `seed` only matters with
    ``subset="random"``.  Returns a `MetricResult` with the value ``MS-SSIM`` (under torchrun
    on rank 0; the other ranks measure their share and return None).  ``bootstrap=B`` adds
    error bars from B resamples of the pairs.
    """
    t0 = time.time()
    dev = resolve_device(device)
    num_pairs = None if num_pairs is None else check_count_arg(num_pairs, "num_pairs")
    n = None if num_pairs is None else 2 * num_pairs
    metric = MSSSIM(num_pairs, seed, bootstrap=bootstrap)  # checks the seed before any image is read
    src = open_source(images, num_images=n, seed=seed, **source_kw)
    metric.source_name = src.name
    metric.inputs = {"images": input_record(images, src)}
    total = len(src) if not callable(images) else n
    # Pairs are consecutive images of the whole set: shares of even-sized batches keep them whole.
    unit = batch_size + batch_size % 2 if rank_world()[1] > 1 else batch_size
    for start, batch in progress(src.shard(unit, dev, workers), total=total, desc="ms-ssim", quiet=quiet):
        metric.update(batch, start=start)
    skipped = skipped_total(src)
    metric.skipped_files = {"images": skipped} if skipped is not None else None
    result = metric.compute()
    if result is None:  # not rank 0 of a distributed run
        return None
    result.seconds = time.time() - t0
    return result
