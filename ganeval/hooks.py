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

import copy
import datetime
import json
import os
import time
from typing import Any, Callable, Iterable, Sequence

import torch

from . import __version__
from .device import resolve_device
from .errors import UsageError
from .fileio import append_line
from .msssim import MSSSIMAccumulator
from .results import MetricResult
from .sources import open_source, to_uint8
from .swd import NHOOD_SIZE, NHOODS_PER_IMAGE, SWDDescriptors, sliced_wasserstein

__all__ = ["SWD", "MSSSIM", "FID", "InceptionScore", "KID", "Evaluator", "every", "dist_info"]


def _is_stats(path: Any) -> bool:
    from .stats import is_stats_file
    return is_stats_file(path)


def dist_info() -> tuple[int, int]:
    """(rank, world size) of the default process group, or (0, 1) outside torch.distributed."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def _gather_to_rank0(obj: Any) -> list[Any] | None:
    """Every rank's `obj` on rank 0 (None elsewhere); a plain list of one outside DDP."""
    rank, world = dist_info()
    if world == 1:
        return [obj]
    out = [None] * world if rank == 0 else None
    torch.distributed.gather_object(obj, out, dst=0)
    return out


def _portable(store: SWDDescriptors) -> SWDDescriptors:
    # A CPU copy without the RNG: what travels between processes (gloo and nccl alike).
    store._seal()
    out = copy.copy(store)
    out.chunks = [[c.cpu() for c in level] for level in store.chunks]
    out.sums = [s.cpu() for s in store.sums]
    out.gen, out._coords, out._buffers = None, None, None
    return out


class SWD:
    """Streaming sliced Wasserstein distance: ``update(images, real=...)``, then ``compute()``.

    Equal to `ganeval.swd` on the same images in the same order with the same seed, for any
    split into batches.  ``reset(real=False)`` clears only the fakes, so a fixed real set is
    measured once and reused across evaluations.  Under torch.distributed each rank streams
    its share; patch positions are drawn per rank (rank-dependent streams).
    """

    uses_real = True

    def __init__(self, seed: int = 0, descriptor_dtype: torch.dtype = torch.float16):
        self.seed, self.dtype = seed, descriptor_dtype
        self.reset(real=True)

    def _new(self, stream: int) -> SWDDescriptors:
        rank, _ = dist_info()
        return SWDDescriptors(self.seed, stream + 2 * rank, self.dtype)

    def reset(self, real: bool = True) -> None:
        if real:
            self.real = self._new(0)
        self.fake = self._new(1)

    def update(self, images: Any, real: bool = False, input_range: tuple[float, float] | None = None) -> None:
        (self.real if real else self.fake).update(to_uint8(images, input_range, name="images"))

    def _synced(self, store: SWDDescriptors) -> SWDDescriptors | None:
        if dist_info()[1] == 1:
            return store
        parts = _gather_to_rank0(_portable(store))
        if parts is None:
            return None
        merged = SWDDescriptors(self.seed, 0, self.dtype)
        for p in parts:
            merged.merge(p)
        return merged

    def compute(self) -> MetricResult | None:
        """SWD x1e3 per level and average; None on ranks other than 0."""
        t0 = time.time()
        real, fake = self._synced(self.real), self._synced(self.fake)
        if real is None:
            return None
        values = sliced_wasserstein(real, fake, seed=self.seed)
        out = {f"SWDx1e3_{r}": v for r, v in zip(real.levels, values)}
        out["SWDx1e3_avg"] = sum(values) / len(values)
        settings = dict(nhood_size=NHOOD_SIZE, nhoods_per_image=NHOODS_PER_IMAGE, resolution=list(real.resolution),
                        world_size=dist_info()[1])
        return MetricResult("swd", out, "SWDx1e3_avg", settings,
                            {"real": real.num_images, "fake": fake.num_images}, self.seed, time.time() - t0)


class MSSSIM:
    """Streaming MS-SSIM diversity: ``update(images)`` pairs consecutive images; ``compute()``.

    Equal to `ganeval.ms_ssim` on the same images for any split into batches (images queue
    up into whole chunks of pairs).  Under torch.distributed the per-rank sums are reduced.
    """

    uses_real = False

    def __init__(self) -> None:
        self.reset()

    def reset(self, real: bool = True) -> None:
        self.acc = MSSSIMAccumulator()

    def update(self, images: Any, real: bool = False, input_range: tuple[float, float] | None = None) -> None:
        if real:
            raise UsageError("MS-SSIM measures the diversity of one set; update it with fakes only")
        self.acc.update(to_uint8(images, input_range, name="images"))

    def compute(self) -> MetricResult | None:
        self.acc.flush()
        parts = _gather_to_rank0((float(self.acc.sum), self.acc.pairs))
        if parts is None:
            return None
        total = MSSSIMAccumulator()
        for s, n in parts:
            total.sum, total.pairs = total.sum + s, total.pairs + n
        return MetricResult("msssim", {"MS-SSIM": total.compute()}, "MS-SSIM", {},
                            {"images": 2 * total.pairs, "pairs": total.pairs})


class _InceptionMetric:
    """Shared base of the Inception metric objects: one network, real and fake accumulators."""

    uses_real = True
    keep_features = keep_logits = False

    def __init__(self, weights: str | None = None, device: Any = None, seed: int = 0):
        self.weights, self.device, self.seed = weights, resolve_device(device), seed
        self.reset(real=True)

    def _stats(self):
        from .stats import FeatureStats
        return FeatureStats(keep_features=self.keep_features, keep_logits=self.keep_logits)

    def reset(self, real: bool = True) -> None:
        if real:
            self.real, self._real_reduced = self._stats(), False
        self.fake = self._stats()

    def set_real_stats(self, path: str) -> None:
        """Use a saved statistics ``.npz`` (mu, sigma) as the real side."""
        from .stats import load_stats
        self.real, self.real_ready, self._real_reduced = load_stats(path), True, True

    def update(self, images: Any, real: bool = False, input_range: tuple[float, float] | None = None) -> None:
        from .features import inception
        model, self.info = inception(self.weights, self.device)
        x = to_uint8(images, input_range, name="images").to(self.device)
        pool, logits = model(x, with_logits=self.keep_logits)
        (self.real if real else self.fake).update(pool, logits)

    def _reduced(self) -> bool:
        # The real side is reduced once (it is reused across calls); the fakes every call.
        if not self._real_reduced:
            self.real.all_reduce()
            self._real_reduced = True
        self.fake.all_reduce()
        return dist_info()[0] == 0

    def compute(self) -> MetricResult | None:
        """The metric over everything updated so far; None on ranks other than 0."""
        if not self._reduced():
            return None
        return self._from_stats()


class FID(_InceptionMetric):
    """Streaming FID: ``update(images, real=...)``; ``compute()`` gives ``FID``."""

    def _from_stats(self) -> MetricResult:
        from .fid import fid_from_stats
        return fid_from_stats(self.real, self.fake, self.info, self.seed)


class InceptionScore(_InceptionMetric):
    """Streaming Inception Score of the fakes: ``update(images)``; ``compute()``."""

    uses_real = False
    keep_logits = True

    def _from_stats(self) -> MetricResult:
        from .isc import is_from_stats
        return is_from_stats(self.fake, self.info, seed=self.seed)


class KID(_InceptionMetric):
    """Streaming KID: ``update(images, real=...)``; ``compute()`` gives mean and std."""

    keep_features = True

    def _from_stats(self) -> MetricResult:
        from .kid import kid_from_stats
        return kid_from_stats(self.real, self.fake, self.info, seed=self.seed)


def every(kimg: float | None = None, steps: int | None = None, first: bool = True) -> Callable[..., bool]:
    """A schedule: ``due(kimg)`` (or ``due(step=...)``) is True once per interval crossed.

    With ``first=True`` the first call is due too, so a run records its starting point.
    """
    if (kimg is None) == (steps is None):
        raise UsageError("every() takes exactly one of kimg= or steps=")
    interval = kimg if kimg is not None else steps
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

    `real` is any image source (or, for FID, a saved statistics ``.npz``); `metrics` picks
    from swd, msssim, fid, is, kid.  Each call ``evaluator(generate, kimg=..., step=...)``
    draws `num_images` latents from a fixed seed (the same latents every call, so the curve
    is not noised by resampling), runs ``generate(latents)`` in batches, converts its output
    from `input_range` to uint8, and returns ``{metric: MetricResult}``.  Under
    torch.distributed every rank generates a strided share and rank 0 writes the results.
    """

    def __init__(self, real: Any, metrics: Sequence[str] = ("swd", "msssim"), *, num_images: int = 1024,
                 seed: int = 0, out_dir: str | os.PathLike | None = None, latent_dim: int = 512,
                 input_range: tuple[float, float] = (-1, 1), batch_size: int = 64, device: Any = None,
                 tensorboard: bool = False, weights: str | None = None) -> None:
        self.metrics = [m.lower() for m in metrics]
        unknown = set(self.metrics) - {"swd", "msssim", "fid", "is", "kid"}
        if unknown:
            raise UsageError(f"unknown metrics {sorted(unknown)}; choose from swd, msssim, fid, is, kid")
        self.real, self.num_images, self.seed = real, num_images, seed
        self.latent_dim, self.input_range, self.batch_size = latent_dim, input_range, batch_size
        self.device = resolve_device(device)
        self.out_dir = os.fspath(out_dir) if out_dir is not None else None
        self.weights = weights
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

    def _real_batches(self) -> Iterable[torch.Tensor]:
        # Real batches are split across ranks like the fakes, and gathered by compute().
        rank, world = dist_info()
        src = open_source(self.real, num_images=self.num_images)
        for i, batch in enumerate(src.batches(self.batch_size, self.device)):
            if i % world == rank:
                yield batch

    def _setup(self) -> dict[str, Any]:
        objects: dict[str, Any] = {}
        if "swd" in self.metrics:
            objects["swd"] = SWD(self.seed)
        if "msssim" in self.metrics:
            objects["msssim"] = MSSSIM()
        for name, cls in (("fid", FID), ("is", InceptionScore), ("kid", KID)):
            if name in self.metrics:
                objects[name] = cls(self.weights, self.device, self.seed)
                if name == "fid" and _is_stats(self.real):
                    objects[name].set_real_stats(str(self.real))
        needs_real = [o for o in objects.values() if o.uses_real and not getattr(o, "real_ready", False)]
        if needs_real:
            for batch in self._real_batches():
                for o in needs_real:
                    o.update(batch, real=True)
        return objects

    def _fake_batches(self, generate: Callable[[torch.Tensor], Any]) -> Iterable[torch.Tensor]:
        rank, world = dist_info()
        gen = torch.Generator().manual_seed(self.seed + 1)
        for i, s in enumerate(range(0, self.num_images, self.batch_size)):
            n = min(self.batch_size, self.num_images - s)
            z = torch.randn(n, self.latent_dim, generator=gen)
            if i % world != rank:
                continue
            with torch.no_grad():
                out = generate(z.to(self.device))
            yield to_uint8(out, self.input_range, name="generator output")

    def __call__(self, generate: Callable[[torch.Tensor], Any], kimg: float | None = None,
                 step: int | None = None) -> dict[str, MetricResult]:
        """Generate `num_images` fakes, measure every metric, log, and return the results."""
        if self._objects is None:
            self._objects = self._setup()
        t0 = time.time()
        for o in self._objects.values():
            o.reset(real=False)
        for batch in self._fake_batches(generate):
            for o in self._objects.values():
                o.update(batch, real=False)
        gen_seconds = time.time() - t0
        results = {name: o.compute() for name, o in self._objects.items()}
        if dist_info()[0] != 0:
            return {}
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
        append_line(os.path.join(self.out_dir, "metrics.jsonl"), json.dumps(record))
        if self._writer is not None:
            x = step if step is not None else int(round((kimg or 0) * 1000))
            for k, v in r.values.items():
                self._writer.add_scalar(f"{name}/{k}", v, x)
            self._writer.flush()
