"""Sliced Wasserstein distance between Laplacian-pyramid patches (ProGAN, Karras et al. 2018).

Protocol of the reference `metrics/sliced_wasserstein.py`:

* per pyramid level (full resolution down to 16 px), 128 random 7x7x3 neighbourhoods per
  image, centres drawn so that patches stay inside the image;
* each image set is normalized per colour channel by the mean and biased std of all of its
  own descriptors at that level;
* 4 repeats x 128 random unit directions; project, sort, mean absolute difference; the
  per-level value is reported x1e3 as ``SWDx1e3_<res>``, with their average ``SWDx1e3_avg``.

Differences from the reference, none of which changes the expected value:

* Memory: descriptors are stored as float16 (raw values; the per-channel mean and variance
  are accumulated in float64 while streaming) and projected a chunk of directions at a time
  within a 512 MiB budget, so 16384 images at 128 px need about 2.5 GB per set instead of 4.9 GB.  float16 keeps 11
  significant bits; ``descriptor_dtype=torch.float32`` stores them exactly.
* Unequal set sizes: the reference needs equal counts.  Here the 1-D Wasserstein distance of
  each projection is the exact integral of |F_a^-1(t) - F_b^-1(t)| over t in (0, 1) between
  the two empirical quantile functions; for equal sizes this is the reference's mean
  absolute difference of the sorted projections.
* Randomness: the patch centres of image i come from a CPU generator seeded by (seed, set,
  i // 256), so they depend only on the image's index in its set: not on batch size, device,
  or which process of a distributed run measures it.  Directions come from a generator
  seeded by `seed`.
"""
from __future__ import annotations

import concurrent.futures
import contextlib
import copy
import time
from typing import Any, Callable, Iterator

import numpy as np
import torch

from ..device import resolve_device
from ..dist import rank_world
from ..errors import DataError, UsageError
from ..progress import progress, progress_bar
from ..results import MetricResult
from ..io.inputs import input_record
from ..io.sources import open_source, skipped_total
from .base import StreamingMetric
from .pyramid import laplacian_pyramid, laplacian_pyramid_rows, pyramid_resolutions
from .uncertainty import check_count, summarize

NHOOD_SIZE = 7
NHOODS_PER_IMAGE = 128
DIR_REPEATS = 4
DIRS_PER_REPEAT = 128
DEFAULT_NUM_IMAGES = 16384
_COORD_BLOCK = 256
_ROW_BLOCK = 1 << 16
_CPU_SUB_BATCH = 16  # images per CPU pyramid: its GEMM operands stay in cache
_K_PAD = 160
REDRAW = ("patches", "directions")

__all__ = ["swd", "SWD", "SWDDescriptors", "sliced_wasserstein", "wasserstein_1d_sorted"]


class SWDDescriptors:
    """Streaming store of one image set's SWD descriptors at every pyramid level.

    ``update(images)`` samples `NHOODS_PER_IMAGE` patches per image and level; the
    per-channel sums needed for normalization are kept in float64.  ``merge`` concatenates
    another store (e.g. from another process); ``normalized(level)`` yields normalized
    float32 descriptor chunks for the distance.
    """

    def __init__(self, seed: int = 0, stream: int = 0, dtype: torch.dtype = torch.float16):
        self.dtype = dtype
        self.seed, self.stream = int(seed), int(stream)
        self._block: tuple[int, torch.Tensor] | None = None  # the last block of patch centres drawn
        self._next = 0  # index of the next image when the caller gives none
        self.resolution: tuple[int, int] | None = None
        self.levels: list[int] = []
        self.chunks: list[list[torch.Tensor]] = []
        self._buffers: list[torch.Tensor] | None = None  # preallocated storage, see reserve()
        self._used = 0
        self._reserve = 0
        self.sums: list[torch.Tensor] = []
        self.num_images = 0

    def _init(self, h: int, w: int) -> None:
        self.resolution = (h, w)
        self.levels = pyramid_resolutions(h, w)
        if not self.levels:
            raise DataError(f"images are {w}x{h}; SWD needs at least 16x16 pixels")
        self.chunks = [[] for _ in self.levels]
        if self._reserve:
            # One allocation per level instead of thousands of chunks: no heap fragmentation.
            rows = self._reserve * NHOODS_PER_IMAGE
            self._buffers = [torch.empty(rows, 3 * NHOOD_SIZE ** 2, dtype=self.dtype, device=self._device)
                             for _ in self.levels]
        self.sums = [torch.zeros(3, 3, dtype=torch.float64) for _ in self.levels]  # (count, sum, sumsq) x channel

    def reserve(self, num_images: int, device: Any = None) -> None:
        """Preallocate storage for `num_images` images (call before the first update)."""
        self._reserve, self._device = int(num_images), device

    def _coords_block(self, b: int) -> torch.Tensor:
        if self._block is None or self._block[0] != b:
            key = np.random.SeedSequence([self.seed, self.stream, b]).generate_state(2, np.uint64)[0]
            gen = torch.Generator().manual_seed(int(key) & ((1 << 63) - 1))
            self._block = (b, torch.rand(_COORD_BLOCK, len(self.levels), NHOODS_PER_IMAGE, 2, generator=gen))
        return self._block[1]

    def _take_coords(self, start: int, n: int) -> torch.Tensor:
        """Uniform [0, 1) patch-centre draws of images start .. start + n - 1 of the set."""
        parts, i = [], start
        while i < start + n:
            b, off = divmod(i, _COORD_BLOCK)
            take = min(_COORD_BLOCK - off, start + n - i)
            parts.append(self._coords_block(b)[off:off + take])
            i += take
        return torch.cat(parts)

    def update(self, images: torch.Tensor, start: int | None = None) -> None:
        """Add a batch of uint8 RGB NCHW images (any device).

        `start` is the index of the batch's first image in its set (default: right after the
        previous batch); patch positions follow from it, so a distributed run that gives
        each process a share of the set samples exactly the patches one process would.
        """
        _feed([self], images, start)

    def _check(self, h: int, w: int) -> None:
        if self.resolution is None:
            self._init(h, w)
        elif (h, w) != self.resolution:
            raise DataError(f"image size changed from {self.resolution[1]}x{self.resolution[0]} to {w}x{h} within one set")

    def _add(self, levels: list[torch.Tensor] | list[np.ndarray], start: int | None, n: int, h: int, w: int) -> None:
        """Sample this store's patches from one batch's pyramid `levels` (see `_feed`): NCHW
        tensors, or (H, N, C, W) numpy arrays from the CPU pyramid."""
        start = self._next if start is None else int(start)
        self._check(h, w)
        self._store(_sample(levels, self._take_coords(start, n), len(self.levels)), start, n)

    def _store(self, samples: list[tuple[torch.Tensor, torch.Tensor]], start: int, n: int) -> None:
        """Keep one batch's sampled descriptor rows and statistics per level (see `_sample`), in
        set order: the float64 sums are accumulated in the same order however they were made."""
        if self._buffers is not None and self._used + n > self._reserve:
            self._seal()
        in_buffer = self._buffers is not None
        for li, (rows, stats) in enumerate(samples):
            # Stays on the batch's device: no host synchronization per batch.
            self.sums[li] = self.sums[li].to(stats.device) + stats
            if in_buffer:
                self._buffers[li][self._used * NHOODS_PER_IMAGE:][: rows.shape[0]] = rows
            else:
                self.chunks[li].append(rows.to(self.dtype))
        self._used += n if in_buffer else 0
        self._next = start + n
        self.num_images += n

    def merge(self, other: "SWDDescriptors") -> None:
        """Append another store's descriptors (same resolution) after this one's."""
        if other.resolution is None:
            return
        if self.resolution is None:
            self._init(*other.resolution)
        if other.resolution != self.resolution:
            raise DataError("cannot merge SWD descriptors of different resolutions")
        self._seal()
        other._seal()
        for li in range(len(self.levels)):
            self.chunks[li].extend(other.chunks[li])
            self.sums[li] = self.sums[li] + other.sums[li].to(self.sums[li].device)
        self.num_images += other.num_images

    def portable(self) -> "SWDDescriptors":
        """A CPU copy without the random state: what travels between processes."""
        self._seal()
        out = copy.copy(self)
        out.chunks = [[c.cpu() for c in level] for level in self.chunks]
        out.sums = [s.cpu() for s in self.sums]
        out._block, out._buffers = None, None
        return out

    def _seal(self) -> None:
        # Turn the preallocated buffers into ordinary chunks (their filled part); later
        # updates append chunks.
        if self._buffers is not None:
            rows = self._used * NHOODS_PER_IMAGE
            self.chunks = [[buf[:rows]] + ch for buf, ch in zip(self._buffers, self.chunks)]
            self._buffers = None

    def count(self, level: int) -> int:
        self._seal()
        return sum(c.shape[0] for c in self.chunks[level])

    def descriptors(self, level: int) -> torch.Tensor:
        """All raw descriptors of one level as a (count, 147) tensor in storage dtype."""
        self._seal()
        if len(self.chunks[level]) > 1:
            self.chunks[level] = [torch.cat(self.chunks[level])]
        return self.chunks[level][0]

    def norm_params(self, level: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-channel mean and biased std over all descriptors of a level (float64)."""
        cnt, s, ss = self.sums[level].cpu()
        mean = s / cnt
        std = (ss / cnt - mean * mean).clamp_min(0).sqrt()
        if bool((std == 0).any()):
            raise DataError("an image set has zero variance in a colour channel (constant images?); SWD is undefined")
        return mean, std


def _sample(levels: list[torch.Tensor] | list[np.ndarray], coords: torch.Tensor, num_levels: int
            ) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Descriptor rows (n * 128, 147) and their per-channel (count, sum, sum of squares) of
    each level, at the patch centres drawn as `coords` (n, levels, 128, 2) uniforms.  A pure
    function of its arguments, so CPU sub-batches can be sampled on several threads."""
    rows_layout = isinstance(levels[0], np.ndarray)
    device = torch.device("cpu") if rows_layout else levels[0].device
    coords = coords.to(device)
    n, half, k = coords.shape[0], NHOOD_SIZE // 2, NHOOD_SIZE * NHOOD_SIZE
    b = torch.arange(n, device=device).view(n, 1)
    out = []
    for li, level in enumerate(levels[:num_levels]):
        lh, lw = (level.shape[0], level.shape[3]) if rows_layout else level.shape[2:]
        # Centres in [half, size - half - 1], uniform, as np.random.randint(H, S - H).
        cy = (coords[:, li, :, 0] * (lh - 2 * half)).long().clamp_(max=lh - 2 * half - 1) + half
        cx = (coords[:, li, :, 1] * (lw - 2 * half)).long().clamp_(max=lw - 2 * half - 1) + half
        if rows_layout:
            rows = _gather_rows(level, (cy - half).numpy(), (cx - half).numpy())
        else:
            # All 7x7 windows as a view (n, 3, h-6, w-6, 7, 7); index the patch corners.
            windows = level.unfold(2, NHOOD_SIZE, 1).unfold(3, NHOOD_SIZE, 1)
            rows = windows[b, :, cy - half, cx - half].reshape(n * NHOODS_PER_IMAGE, -1)
        # Per-channel count, sum and sum of squares in float64.  Columns first (a reduction
        # over rows is vectorized; one over the (0, 2) axes of (n, 3, 49) was 15x slower on
        # CPU), then the 49 columns of each channel.
        stats = torch.stack([torch.full((3,), float(rows.shape[0] * k), dtype=torch.float64, device=device),
                             rows.sum(0, dtype=torch.float64).view(3, k).sum(1),
                             (rows * rows).sum(0, dtype=torch.float64).view(3, k).sum(1)])
        out.append((rows, stats))
    return out


@contextlib.contextmanager
def _torch_single_threaded() -> Iterator[int]:
    """torch (and its MKL) on one thread for the duration; yields the previous thread count.

    The CPU feed runs its sub-batches on that many Python threads instead: its many small
    kernels waste much of their time in OpenMP spin-waits when threaded (2x the CPU time on
    an idle 2-core machine reading files, whose decoding workers want the cores too, and
    up to 4x on a loaded one)."""
    n = torch.get_num_threads()
    if n > 1:
        torch.set_num_threads(1)
    try:
        yield n
    finally:
        if n > 1:
            torch.set_num_threads(n)


def _gather_rows(level: np.ndarray, y0: np.ndarray, x0: np.ndarray) -> torch.Tensor:
    """The 7x7x3 patches with top-left corners (`y0`, `x0`) (both (n, P)) of an (H, n, 3, W)
    level, as (n * P, 147) float32 rows in (channel, dy, dx) order.  One flat numpy gather:
    7x faster than torch's advanced indexing of an unfold view on CPU."""
    lh, n, c, lw = level.shape
    row = n * c * lw  # stride of y
    off = (np.arange(c)[:, None, None] * lw + np.arange(NHOOD_SIZE)[None, :, None] * row
           + np.arange(NHOOD_SIZE)[None, None, :]).reshape(-1)
    base = y0 * row + np.arange(n)[:, None] * (c * lw) + x0
    return torch.from_numpy(level.reshape(-1)[base.reshape(-1, 1) + off])


@torch.no_grad()
def _feed(stores: list[SWDDescriptors], images: torch.Tensor, start: int | None) -> None:
    """Build one batch's Laplacian pyramid once and let every store sample its patches from it."""
    if images.ndim != 4 or images.shape[1] != 3:
        raise DataError(f"SWD expects RGB NCHW batches, got shape {tuple(images.shape)}")
    h, w = images.shape[2:]
    num_levels = len(pyramid_resolutions(h, w))
    if num_levels == 0:
        raise DataError(f"images are {w}x{h}; SWD needs at least 16x16 pixels")
    first = stores[0]._next if start is None else int(start)
    for store in stores:
        store._check(h, w)
    if images.device.type != "cpu":
        levels = list(laplacian_pyramid(images, num_levels))
        for store in stores:
            store._store(_sample(levels, store._take_coords(first, images.shape[0]), len(store.levels)),
                         first, images.shape[0])
        return
    # CPU: sub-batches small enough for the pyramid's GEMM operands to stay in cache, each
    # made (pyramid, gather, statistics) single-threaded on one of a few Python threads;
    # patch positions are drawn and results stored in set order on this thread.
    parts = [(first + k * _CPU_SUB_BATCH, p) for k, p in enumerate(images.split(_CPU_SUB_BATCH))]
    jobs = [(p, [st._take_coords(s, p.shape[0]) for st in stores]) for s, p in parts]

    def work(job: tuple[torch.Tensor, list[torch.Tensor]]) -> list[list[tuple[torch.Tensor, torch.Tensor]]]:
        part, coords = job
        levels = laplacian_pyramid_rows(part, num_levels)
        return [_sample(levels, c, len(st.levels)) for st, c in zip(stores, coords)]

    with _torch_single_threaded() as threads:
        if threads > 1 and len(jobs) > 1:
            with concurrent.futures.ThreadPoolExecutor(min(threads, len(jobs))) as pool:
                results = list(pool.map(work, jobs))
        else:
            results = [work(j) for j in jobs]
    for (s, p), per_store in zip(parts, results):
        for store, samples in zip(stores, per_store):
            store._store(samples, s, p.shape[0])


class SWDRepeatDescriptors:
    """K descriptor stores of one set, with patch seeds ``seed .. seed+K-1``, filled from one
    pyramid per batch: store r holds exactly what a single run with seed ``seed + r`` holds."""

    def __init__(self, seed: int, repeats: int, stream: int = 0, dtype: torch.dtype = torch.float16):
        self.stores = [SWDDescriptors(seed + r, stream, dtype) for r in range(repeats)]

    @property
    def num_images(self) -> int:
        return self.stores[0].num_images

    @property
    def resolution(self) -> tuple[int, int] | None:
        return self.stores[0].resolution

    @property
    def levels(self) -> list[int]:
        return self.stores[0].levels

    def descriptors(self, level: int) -> torch.Tensor:
        return self.stores[0].descriptors(level)

    def reserve(self, num_images: int, device: Any = None) -> None:
        for s in self.stores:
            s.reserve(num_images, device)

    def update(self, images: torch.Tensor, start: int | None = None) -> None:
        _feed(self.stores, images, start)

    def merge(self, other: "SWDRepeatDescriptors") -> None:
        for mine, theirs in zip(self.stores, other.stores):
            mine.merge(theirs)

    def portable(self) -> "SWDRepeatDescriptors":
        out = copy.copy(self)
        out.stores = [s.portable() for s in self.stores]
        return out


def wasserstein_1d_sorted(a: torch.Tensor, b: torch.Tensor, shift: torch.Tensor | float = 0.0) -> torch.Tensor:
    """Exact W1 between the empirical distributions of each row of sorted `a` and `b`.

    Rows are directions; `a` is (D, n) and `b` is (D, m), each sorted along dim 1.  For
    n == m this is the mean absolute difference of the sorted rows; otherwise the quantile
    functions are compared on the union of their breakpoints i/n and j/m.  `shift` is
    subtracted from every difference ``a - b`` (a per-row offset of `a` relative to `b`).
    """
    n, m = a.shape[1], b.shape[1]
    if n == m:
        return (a - b - shift).abs().mean(dim=1)
    t = torch.cat([torch.arange(1, n + 1, dtype=torch.float64) / n, torch.arange(1, m + 1, dtype=torch.float64) / m])
    t = torch.unique(t)
    widths = torch.diff(torch.cat([t.new_zeros(1), t]))
    mids = t - widths / 2
    ia = (mids * n).long().clamp_(max=n - 1).to(a.device)
    ib = (mids * m).long().clamp_(max=m - 1).to(a.device)
    w = widths.to(a.device, torch.float32)
    return ((a[:, ia] - b[:, ib] - shift).abs() * w).sum(dim=1)


def _sorted_w1(pa: torch.Tensor, pb: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Sort each row of both projection matrices (in place) and return the per-row W1."""
    if pa.device.type != "cpu" or pa.shape[1] != pb.shape[1]:
        pa, pb = torch.sort(pa, dim=1).values, torch.sort(pb, dim=1).values
        return wasserstein_1d_sorted(pa, pb, shift[:, None])
    # On CPU, numpy's SIMD sort is several times faster than torch.sort; one task per row
    # sorts both rows and takes the mean |difference| while they are still in cache, on all
    # threads (numpy releases the GIL while sorting).
    xa, xb, sh = pa.numpy(), pb.numpy(), shift.double().numpy()

    def row(i: int) -> float:
        xa[i].sort(kind="quicksort")
        xb[i].sort(kind="quicksort")
        d = xa[i] - xb[i]
        d -= np.float32(sh[i])
        return float(np.abs(d, out=d).mean(dtype=np.float64))

    with concurrent.futures.ThreadPoolExecutor(max(1, torch.get_num_threads())) as pool:
        return torch.tensor(list(pool.map(row, range(xa.shape[0]))), dtype=torch.float64)


def _project(store: SWDDescriptors, level: int, dirs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Descriptors of one level projected on `dirs` (147, D): (D, count), unsorted.

    Returns the projections of ``d / std`` and the per-direction offset ``(mean / std) @ dirs``
    still to subtract: a per-row constant commutes with sorting, so the normalized
    descriptors are never materialized.
    """
    mean, std = store.norm_params(level)
    desc = store.descriptors(level)
    scale = (1.0 / std).repeat_interleave(NHOOD_SIZE * NHOOD_SIZE).to(desc.device, torch.float32)
    shift = mean.repeat_interleave(NHOOD_SIZE * NHOOD_SIZE).to(desc.device, torch.float32)
    k = desc.shape[1]
    proj = torch.empty(dirs.shape[1], desc.shape[0], dtype=torch.float32, device=desc.device)
    if desc.device.type == "cpu":
        # numpy's BLAS (OpenBLAS in its wheels) ran this GEMM 1.7x faster than torch's on the
        # 2-core AMD machine, and needs no padding of the inner dimension.
        w_n = (dirs * scale[:, None]).T.contiguous().numpy()
        block = torch.empty(min(_ROW_BLOCK, desc.shape[0]), k, dtype=torch.float32)
        out = proj.numpy()
        for s in range(0, desc.shape[0], _ROW_BLOCK):
            rows = min(_ROW_BLOCK, desc.shape[0] - s)
            block[:rows] = desc[s:s + rows]
            np.matmul(w_n, block[:rows].numpy().T, out=out[:, s:s + rows])
        return proj, (shift * scale) @ dirs
    # The 147-long inner dimension is padded with zeros to 160: cuBLAS runs faster on it.
    w_t = torch.zeros(dirs.shape[1], _K_PAD, dtype=torch.float32, device=desc.device)
    w_t[:, :k] = (dirs * scale[:, None]).T
    block = torch.zeros(min(_ROW_BLOCK, desc.shape[0]), _K_PAD, dtype=torch.float32, device=desc.device)
    for s in range(0, desc.shape[0], _ROW_BLOCK):
        rows = min(_ROW_BLOCK, desc.shape[0] - s)
        block[:rows, :k] = desc[s:s + rows]
        torch.mm(w_t, block[:rows].T, out=proj[:, s:s + rows])
    return proj, (shift * scale) @ dirs


def sliced_wasserstein(a: SWDDescriptors, b: SWDDescriptors, seed: int = 0,
                       dir_repeats: int = DIR_REPEATS, dirs_per_repeat: int = DIRS_PER_REPEAT,
                       memory_budget: int = 1 << 29, advance: Callable[[int], Any] | None = None) -> list[float]:
    """SWD x1e3 per pyramid level between two descriptor stores.

    For each level and repeat, `dirs_per_repeat` directions are drawn from N(0, I) and
    normalized to unit length; the result is the mean over directions and repeats of the 1-D
    Wasserstein distance between the normalized descriptor projections, times 1e3.  At most
    about `memory_budget` bytes of projections exist at once: the level's directions are
    processed in chunks sized to fit.  `advance(k)`, if given, is called as each chunk of `k`
    directions is done (``dir_repeats * dirs_per_repeat`` per level), for a progress bar.
    """
    if a.resolution != b.resolution:
        ra, rb = a.resolution, b.resolution
        raise DataError(f"SWD needs both sets at one resolution; got {ra[1]}x{ra[0]} and {rb[1]}x{rb[0]}")
    gen = torch.Generator().manual_seed(int(seed))
    out = []
    for li in range(len(a.levels)):
        device = a.descriptors(li).device
        dims = a.descriptors(li).shape[1]
        dirs = torch.cat([torch.randn(dims, dirs_per_repeat, generator=gen, dtype=torch.float64)
                          for _ in range(dir_repeats)], dim=1)
        dirs = (dirs / dirs.norm(dim=0, keepdim=True)).float().to(device)
        chunk = int(max(8, min(dirs.shape[1], memory_budget // (4 * (a.count(li) + b.count(li))))))
        dists = []
        for s in range(0, dirs.shape[1], chunk):
            pa, ca = _project(a, li, dirs[:, s:s + chunk])
            pb, cb = _project(b, li, dirs[:, s:s + chunk])
            dists.append(_sorted_w1(pa, pb, ca - cb))
            del pa, pb  # free before the next chunk is projected: the budget is a peak
            if advance is not None:
                advance(dists[-1].numel())
        # Every direction weighs the same, so the mean over repeats of per-repeat means is this mean.
        out.append(float(torch.cat(dists).double().mean()) * 1e3)
    return out


class SWD(StreamingMetric):
    """Streaming sliced Wasserstein distance: ``update(images, real=...)``, then ``compute()``.

    Equal to `ganeval.swd` on the same images in the same order with the same seed, for any
    split into batches (``ganeval.swd`` streams into this object).  ``reset(real=False)``
    clears only the fakes, so a fixed real set is measured once and reused across
    evaluations.  Descriptors stay on the device of the images.

    With ``repeats=K`` (K >= 2) the result also carries error bars over seeds ``seed ..
    seed+K-1`` (`ganeval.metrics.uncertainty`); its values stay those of `seed`.
    ``redraw="patches"`` (default) redraws patch positions and directions, as rerunning
    with another seed does, sampling K patch sets from one pyramid per batch (K x the
    descriptor memory); ``redraw="directions"`` keeps one set of descriptors and redraws only
    the directions (no extra memory, but blind to the patch-sampling part of the spread).
    """

    name = "swd"
    uses_real = True
    quiet = True  # `ganeval.swd` turns on the distance phase's bar (streaming users draw their own)

    def __init__(self, seed: int = 0, descriptor_dtype: torch.dtype = torch.float16,
                 dir_repeats: int = DIR_REPEATS, dirs_per_repeat: int = DIRS_PER_REPEAT, *,
                 repeats: int = 0, redraw: str = "patches") -> None:
        if redraw not in REDRAW:
            raise UsageError(f"redraw {redraw!r}: choose from {', '.join(REDRAW)}")
        self.seed, self.dtype = seed, descriptor_dtype
        self.dir_repeats, self.dirs_per_repeat = dir_repeats, dirs_per_repeat
        self.repeats, self.redraw = check_count(repeats, "SWD repeats"), redraw
        super().__init__()

    def _new(self, real: bool) -> SWDDescriptors | SWDRepeatDescriptors:
        # Real and fake sets draw patch positions from their own streams.
        if self.repeats and self.redraw == "patches":
            return SWDRepeatDescriptors(self.seed, self.repeats, 0 if real else 1, self.dtype)
        return SWDDescriptors(self.seed, 0 if real else 1, self.dtype)

    def _accumulate(self, acc: SWDDescriptors, images: torch.Tensor, start: int | None = None) -> None:
        acc.update(images, start)

    def reserve(self, real: int | None, fake: int | None, device: Any = None) -> None:
        """Preallocate descriptor storage for known set sizes (before the first update)."""
        for store, n in ((self.real, real), (self.fake, fake)):
            if n:
                store.reserve(n, device)

    def _levels(self, real: SWDDescriptors, fake: SWDDescriptors, r: int,
                advance: Callable[[int], Any] | None = None) -> list[float]:
        """Per-level values of repeat `r` (seed ``seed + r``); repeat 0 is the single run."""
        if isinstance(real, SWDRepeatDescriptors):
            real, fake = real.stores[r], fake.stores[r]
        return sliced_wasserstein(real, fake, seed=self.seed + r, dir_repeats=self.dir_repeats,
                                  dirs_per_repeat=self.dirs_per_repeat, advance=advance)

    def _result(self, real: SWDDescriptors, fake: SWDDescriptors) -> MetricResult:
        t0 = time.time()
        for store, what in ((real, "real"), (fake, "fake")):
            if store.num_images == 0:
                raise DataError(f"SWD: no {what} images were given")
        runs = []
        # The distances take about as long as reading the images (minutes at 16384): a bar in
        # directions, over every level and repeat.
        total = max(1, self.repeats) * len(real.levels) * self.dir_repeats * self.dirs_per_repeat
        with progress_bar(total, unit="dir", desc="swd distances", quiet=self.quiet) as advance:
            for r in range(max(1, self.repeats)):
                values = self._levels(real, fake, r, advance)
                runs.append({**{f"SWDx1e3_{lv}": v for lv, v in zip(real.levels, values)},
                             "SWDx1e3_avg": float(np.mean(values))})
        out = runs[0]
        settings = dict(nhood_size=NHOOD_SIZE, nhoods_per_image=NHOODS_PER_IMAGE, dir_repeats=self.dir_repeats,
                        dirs_per_repeat=self.dirs_per_repeat,
                        descriptor_dtype=str(self.dtype).replace("torch.", ""), resolution=list(real.resolution),
                        device=real.descriptors(0).device.type)
        result = MetricResult("swd", out, "SWDx1e3_avg", settings,
                              {"real": real.num_images, "fake": fake.num_images}, self.seed, time.time() - t0)
        if self.repeats:
            redrawn = "patches+directions" if self.redraw == "patches" else "directions"
            result.uncertainty = {k: summarize(v, [run[k] for run in runs], "repeats", self.seed, redrawn=redrawn)
                                  for k, v in out.items()}
        return result


def _safe_len(src) -> int | None:
    try:
        return len(src)
    except TypeError:
        return None


def swd(real: Any, fake: Any, *, num_images: int | None = DEFAULT_NUM_IMAGES, seed: int = 0,
        device: Any = None, batch_size: int = 64, workers: int | None = None,
        descriptor_dtype: torch.dtype = torch.float16, quiet: bool = True, repeats: int = 0,
        redraw: str = "patches", **source_kw: Any) -> MetricResult | None:
    """Sliced Wasserstein distance (x1e3) per Laplacian level between two image sets.

    `real` and `fake` are any image source (see `ganeval.io.sources.open_source`); up to
    `num_images` of each are used (default 16384, the paper's count) and their counts may
    differ.  The result's values are ``SWDx1e3_<res>`` per level and ``SWDx1e3_avg``, the
    headline.  Deterministic for a given `seed` and device.  Extra keyword arguments go to
    `open_source` (e.g. ``recursive``, ``resize``, ``skip_bad``, ``subset``).  ``repeats=K``
    adds error bars over K seeds (see `SWD`).  Under torchrun
    each process measures a share of both sets and rank 0 returns the result (None elsewhere),
    equal to the single-process one.
    """
    t0 = time.time()
    dev = resolve_device(device)
    metric = SWD(seed, descriptor_dtype, repeats=repeats, redraw=redraw)
    metric.quiet = quiet
    sources = [open_source(s, num_images=num_images, seed=seed, **source_kw) for s in (real, fake)]
    metric.ask(num_images)  # 16384 by default: a smaller set is said and recorded (ganeval.counts)
    metric.inputs = {"real": input_record(real, sources[0]), "fake": input_record(fake, sources[1])}
    if rank_world()[1] == 1:  # a share's size is not known up front; preallocate only the whole set
        metric.reserve(_safe_len(sources[0]), _safe_len(sources[1]), dev)
    for src, is_real in zip(sources, (True, False)):
        seen = 0
        for start, batch in progress(src.shard(batch_size, dev, workers), total=_safe_len(src), unit="img",
                                     desc="swd real" if is_real else "swd fake", quiet=quiet):
            metric.update(batch, real=is_real, start=start)
            seen += batch.shape[0]
        if seen == 0 and rank_world()[1] == 1:  # distributed: rank 0 checks the merged set
            raise DataError(f"{src.name}: no images could be read")
    counts = {side: skipped_total(s) for side, s in zip(("real", "fake"), sources)}
    metric.skipped_files = {k: v for k, v in counts.items() if v is not None}
    result = metric.compute()
    if result is None:  # not rank 0 of a distributed run
        return None
    result.seconds = time.time() - t0
    return result
