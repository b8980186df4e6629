"""Metric hooks for training loops.

Two layers, both over the same accumulators as the one-shot functions:

* `SWD`, `MSSSIM` (and, with Inception weights, `FID`, `InceptionScore`, `KID`):
  torchmetrics-style objects with ``update()`` / ``compute()`` / ``reset()`` that accept
  real and fake batches from any loop; under torch.distributed ``compute()`` gathers every
  rank's state to rank 0 first.
* `Evaluator`: configured once with the real data, then called with a generator callable
  and the current kimg/step; it measures the real side once, generates and measures only
  the fakes on each call, and appends one JSON line per metric to ``metrics.jsonl``.

Example, a plain PyTorch loop::

    from ganeval.hooks import Evaluator, every

    evaluator = Evaluator("data/train/", metrics=("swd", "msssim"), num_images=1024,
                          out_dir="runs/exp1", latent_dim=128, input_range=(-1, 1))
    due = every(kimg=50)
    for step, reals in enumerate(loader):
        z = torch.randn(reals.shape[0], 128)
        loss_d = D(G(z).detach()).mean() - D(reals).mean()
        opt_d.zero_grad(); loss_d.backward(); opt_d.step()
        loss_g = -D(G(torch.randn(reals.shape[0], 128))).mean()
        opt_g.zero_grad(); loss_g.backward(); opt_g.step()
        kimg = (step + 1) * reals.shape[0] / 1000
        if due(kimg):
            G.eval()
            evaluator(G, kimg=kimg)   # appends to runs/exp1/metrics.jsonl
            G.train()
"""
from __future__ import annotations

import datetime
import json
import math
import numbers
import os
import time
import warnings
from typing import Any, Callable, Iterable, Sequence

import torch

from . import __version__
from .device import resolve_device
from .dist import rank_world
from .errors import DataError, UsageError
from .options import RunOptions, check_count_arg, check_input_range, check_seed
from .io.fileio import append_line, atomic_write_text
from .io.runfiles import BASELINES_FILE, REALS_GRID, save_grid
from .metrics import FID, KID, MSSSIM, SWD, InceptionScore, PrecisionRecall
from .metrics.registry import check_error_bars, resolve
from .results import MetricResult
from .io.sources import open_source, to_uint8

__all__ = ["SWD", "MSSSIM", "FID", "InceptionScore", "KID", "PrecisionRecall", "Evaluator", "every", "dist_info"]

# Kept under its old name: user code imports it from here.
dist_info = rank_world

# Images in reals.png when no `grid` count is asked for: an 8x8 grid, enough to see the data.
_REAL_GRID_IMAGES = 64


def _is_stats(path: Any) -> bool:
    from .features.stats import is_stats_file
    return is_stats_file(path)


# The fields of a MetricResult kept in a real-baselines.json record (as in metrics.jsonl).
_RECORD_FIELDS = ("values", "primary", "num_images", "seed", "settings")


def _feed_halves(o: Any, batch: torch.Tensor, start: int, half: int) -> None:
    """Feed reals [0, half) as the real side and [half, ...) as the fake side of a metric that
    compares two sets (numbered from 0 in each, so per-image randomness is independent of how
    batches fall); a metric of one set gets every real as its set."""
    if not o.uses_real:
        o.update(batch, real=False, start=start)
        return
    k = min(max(half - start, 0), batch.shape[0])  # rows of this batch in the first half
    if k:
        o.update(batch[:k], real=True, start=start)
    if k < batch.shape[0]:
        o.update(batch[k:], real=False, start=start + k - half)


def every(kimg: float | None = None, steps: int | None = None, first: bool = True) -> Callable[..., bool]:
    """A schedule: ``due(kimg)`` (or ``due(step=...)``) is True once per interval crossed.

    With ``first=True`` the first call is due too, so a run records its starting point.
    """
    if (kimg is None) == (steps is None):
        raise UsageError("every() takes exactly one of kimg= or steps=")
    interval = kimg if kimg is not None else steps
    # A zero, negative or NaN interval would divide by zero or never be due again.
    if steps is not None:
        interval = check_count_arg(steps, "every(steps=)")
    elif isinstance(kimg, bool) or not isinstance(kimg, numbers.Real) or not (math.isfinite(kimg) and kimg > 0):
        raise UsageError(f"every(kimg={kimg!r}): the interval must be a finite number of kimg above 0, e.g. 50")
    state = {"last": None}

    def due(value: float | None = None, *, step: int | None = None) -> bool:
        v = value if steps is None else step if step is not None else value
        bucket = int(v // interval)
        if state["last"] is None:
            state["last"] = bucket
            return first
        if bucket > state["last"]:
            state["last"] = bucket
            return True
        return False
    return due


class Evaluator:
    """Evaluates a generator against fixed real data inside a training loop.

    `real` is any image source (or, for FID, a saved statistics ``.npz``); `metrics` names
    registered metrics (`ganeval.metrics.registry`).  Each call ``evaluator(generate, kimg=..., step=...)``
    draws `num_images` latents from a fixed seed (the same latents every call, so the curve
    is not noised by resampling), runs ``generate(latents)`` in batches, converts its output
    from `input_range` to uint8, and returns ``{metric: MetricResult}``.  Under
    torch.distributed every rank generates a strided share and rank 0 writes the results.
    `bootstrap` (feature metrics) and `repeats` / `redraw` (SWD) add error bars to each
    result and to its ``metrics.jsonl`` record (`ganeval.metrics.uncertainty`).

    At its first call, with `out_dir`, it also saves the first reals as ``reals.png`` and (with
    `baselines`) measures the real set against itself once -- metrics needing reals on two
    disjoint halves of it (the floor fakes can reach), the others on the reals alone -- kept in
    ``self.baselines`` and written to ``real-baselines.json``.  With `grid` > 0 each call saves
    its first `grid` fakes as ``fakes<kimg>.png`` (`grid_name`), the grid the report shows.
    """

    def __init__(self, real: Any, metrics: Sequence[str] = ("swd", "msssim"), *, num_images: int = 1024,
                 seed: int = 0, out_dir: str | os.PathLike | None = None, latent_dim: int = 512,
                 input_range: tuple[float, float] = (-1, 1), batch_size: int = 64, device: Any = None,
                 tensorboard: bool = False, weights: str | None = None, bootstrap: int = 0, repeats: int = 0,
                 redraw: str = "patches", protocol: str = "tf1", grid: int = 0, baselines: bool = True) -> None:
        # Checked now, before any image is read, not at the first evaluation of a running job.
        num_images, seed = check_count_arg(num_images, "num_images"), check_seed(seed)
        latent_dim, batch_size = check_count_arg(latent_dim, "latent_dim"), check_count_arg(batch_size, "batch_size")
        input_range = check_input_range(input_range)
        self.grid = 0 if grid == 0 else check_count_arg(grid, "grid")
        self.want_baselines = bool(baselines)
        self.baselines: dict[str, MetricResult] = {}  # filled at the first call (rank 0)
        self._calls = 0
        self.specs = resolve(metrics)
        check_error_bars(self.specs, bootstrap=bootstrap, repeats=repeats)
        self.uncertainty = dict(bootstrap=bootstrap, repeats=repeats, redraw=redraw)
        self.metrics = [s.name for s in self.specs]
        # Metrics of the generator itself (PPL) get `generate` with its latent width and range,
        # not samples; they hold no streaming object and take no baseline.
        self.generator_specs = [s for s in self.specs if s.needs_generator]
        self.specs = [s for s in self.specs if not s.needs_generator]
        self.real, self.num_images, self.seed = real, num_images, seed
        self.latent_dim, self.input_range, self.batch_size = latent_dim, input_range, batch_size
        self.device = resolve_device(device)
        self.out_dir = os.fspath(out_dir) if out_dir is not None else None
        self.weights = weights
        from .inception.protocol import get_protocol
        self.protocol = get_protocol(protocol).name  # whose Inception preprocessing (tf1, clean, ...)
        self._objects: dict[str, Any] | None = None
        self._writer = self._tensorboard(tensorboard)

    def _tensorboard(self, enabled: bool):
        if not enabled or self.out_dir is None or dist_info()[0] != 0:
            return None
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            return None
        return SummaryWriter(os.path.join(self.out_dir, "tensorboard"))

    def _real_batches(self, src: Any) -> Iterable[tuple[int, torch.Tensor]]:
        # Real batches are split across ranks like the fakes, and merged by compute(); each
        # carries the index of its first image, so per-image randomness ignores the split.
        rank, world = dist_info()
        start = 0
        for i, batch in enumerate(src.batches(self.batch_size, self.device)):
            if i % world == rank:
                yield start, batch
            start += batch.shape[0]

    def _setup(self) -> dict[str, Any]:
        objects: dict[str, Any] = {}
        for spec in self.specs:
            objects[spec.name] = spec.make(seed=self.seed, device=self.device, weights=self.weights,
                                           protocol=self.protocol, **self.uncertainty)
            if spec.inception == "pool3" and not spec.keeps_features and _is_stats(self.real):
                objects[spec.name].set_real_stats(str(self.real))
            elif spec.inception != "none" and spec.needs_real:
                # Through the statistics cache, so `ganeval fid` on the same set and count and this
                # run extract the reals once between them.
                objects[spec.name].measure_real(self.real, num_images=self.num_images, batch_size=self.batch_size)
            if hasattr(objects[spec.name], "ask"):  # a set smaller than num_images is said (ganeval.counts)
                objects[spec.name].ask(self.num_images)
        needs_real = [o for o in objects.values() if o.uses_real and not getattr(o, "real_ready", False)]
        # A statistics file holds no images: nothing to show or to measure against itself.
        images = not _is_stats(self.real)
        extras = images and ((self.out_dir is not None and dist_info()[0] == 0) or self.want_baselines)
        if not (needs_real or extras):
            return objects
        # Only the grid's reals when nothing is measured on them (an msssim-only loop).
        shown_n = self.grid or _REAL_GRID_IMAGES
        measured = needs_real or (images and self.want_baselines)
        src = open_source(self.real, num_images=self.num_images if measured else min(self.num_images, shown_n))
        half = len(src) // 2
        floors = self._baseline_objects(half) if images and self.want_baselines else {}
        shown: list[torch.Tensor] = []
        for start, batch in self._real_batches(src):
            for o in needs_real:
                o.update(batch, real=True, start=start)
            for o in floors.values():
                _feed_halves(o, batch, start, half)
            shown.append(batch[:max(0, shown_n - sum(map(len, shown)))])
        self._baselines_done(floors, len(src))
        if self.out_dir is not None and dist_info()[0] == 0 and shown:
            save_grid(torch.cat(shown), os.path.join(self.out_dir, REALS_GRID))
        return objects

    def _baseline_objects(self, half: int) -> dict[str, Any]:
        # Only metrics without a feature network: an Inception floor would double the reals'
        # extraction (minutes on a CPU) for a number FID papers do not report.
        return {s.name: s.make(seed=self.seed, device=self.device, protocol=self.protocol) for s in self.specs
                if s.inception == "none" and (half >= 1 or not s.needs_real)}

    def _baselines_done(self, floors: dict[str, Any], n: int) -> None:
        """Compute the baselines (every rank: compute() gathers) and write them on rank 0."""
        records = []
        for name, o in floors.items():
            try:
                r = o.compute()
            except DataError as e:  # e.g. too few reals for MS-SSIM: the training loop goes on
                warnings.warn(f"real-set baseline of {name} not measured: {e}", stacklevel=3)
                continue
            if r is None:  # not rank 0
                continue
            r.seed = self.seed
            self.baselines[name] = r
            what = "real vs real: two disjoint halves of the reals" if o.uses_real else "the reals themselves"
            records.append({"metric": name, "baseline": what, **{k: getattr(r, k) for k in _RECORD_FIELDS},
                            "ganeval_version": __version__})
        if records and self.out_dir is not None:
            doc = {"real_images": n, "ganeval_version": __version__, "baselines": records}
            atomic_write_text(os.path.join(self.out_dir, BASELINES_FILE), json.dumps(doc, indent=1) + "\n")

    def grid_name(self, kimg: float | None, step: int | None) -> str:
        """The file name of this call's sample grid: ``fakes<kimg>.png`` with kimg zero-padded
        to six digits before the point, so that name order is training order, as for the
        reference trainer's ``fakes000030.png`` (the report shows the last by name); by step,
        or by call count, when no kimg is given."""
        if kimg is not None:
            return f"fakes{kimg:010.3f}.png"
        return f"fakes-step{step if step is not None else self._calls:09d}.png"

    def _fake_batches(self, generate: Callable[[torch.Tensor], Any]) -> Iterable[tuple[int, torch.Tensor]]:
        rank, world = dist_info()
        gen = torch.Generator().manual_seed(self.seed + 1)
        for i, s in enumerate(range(0, self.num_images, self.batch_size)):
            n = min(self.batch_size, self.num_images - s)
            z = torch.randn(n, self.latent_dim, generator=gen)
            if i % world != rank:
                continue
            with torch.no_grad():
                out = generate(z.to(self.device))
            images = to_uint8(out, self.input_range, name="generator output")
            if images.shape[0] != n:
                # One image per latent, or the metrics measure another count than the one
                # recorded, against latents that no longer line up with their images.
                raise DataError(f"generator output: {images.shape[0]} images for a batch of {n} latents; "
                                "generate(z) must return one image per row of z")
            yield s, images

    def __call__(self, generate: Callable[[torch.Tensor], Any], kimg: float | None = None,
                 step: int | None = None) -> dict[str, MetricResult]:
        """Generate `num_images` fakes, measure every metric, log, and return the results."""
        if self._objects is None:
            self._objects = self._setup()
        t0 = time.time()
        for o in self._objects.values():
            o.reset(real=False)
        shown: list[torch.Tensor] = []  # this process's first `grid` fakes, for the sample grid
        for start, batch in self._fake_batches(generate):
            for o in self._objects.values():
                o.update(batch, real=False, start=start)
            shown.append(batch[:max(0, self.grid - sum(map(len, shown)))])
        gen_seconds = time.time() - t0
        results = {name: o.compute() for name, o in self._objects.items()}
        if self.generator_specs:
            from .io.generators import LatentGenerator
            g = LatentGenerator(generate, self.latent_dim, self.input_range, name="generate")
            opts = RunOptions.take(dict(num_images=self.num_images, seed=self.seed, device=self.device,
                                        batch_size=self.batch_size, weights=self.weights))
            for spec in self.generator_specs:  # every rank takes part; rank 0 gets the result
                results[spec.name] = spec.run(self.real, g, opts)
        self._calls += 1
        if dist_info()[0] != 0:
            return {}
        if self.grid and self.out_dir is not None:
            save_grid(torch.cat(shown), os.path.join(self.out_dir, self.grid_name(kimg, step)))
        for name, r in results.items():
            r.seed = self.seed
            r.seconds += gen_seconds / len(results)
            self._log(name, r, kimg, step)
        return results

    def _log(self, name: str, r: MetricResult, kimg: float | None, step: int | None) -> None:
        if self.out_dir is None:
            return
        os.makedirs(self.out_dir, exist_ok=True)
        record = {"kimg": kimg, "step": step, "metric": name, "values": r.values, "primary": r.primary,
                  "settings": r.settings, "num_images": r.num_images, "seed": r.seed, "seconds": r.seconds,
                  "weights_sha256": r.settings.get("weights_sha256"), "ganeval_version": __version__,
                  "time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
        if r.uncertainty:  # the error bars, without the replicates (kept small: one line per evaluation)
            record["uncertainty"] = {k: {m: x for m, x in u.items() if m != "replicates"}
                                     for k, u in r.uncertainty.items()}
        append_line(os.path.join(self.out_dir, "metrics.jsonl"), json.dumps(record))
        if self._writer is not None:
            x = step if step is not None else int(round((kimg or 0) * 1000))
            for k, v in r.values.items():
                self._writer.add_scalar(f"{name}/{k}", v, x)
            self._writer.flush()
