"""Measuring whether the trainer learns: held-out shapes, fixed-latent samples, probes, budgets.

Used by the learning regression test and by benchmarks/bench_learning.py and
bench_progressive.py.  A `Probe` is the trainer's evaluator callable: at each evaluation it draws a fixed set of
latents through G_ema, measures SWD (and optionally FID) against held-out reals, and stops
training with `BudgetReached` once the run's own training time (evaluations excluded) passes
a wall-clock budget.  Training and evaluation share one process, so the probe's time is
subtracted from the clock the budget is read on.
"""
from __future__ import annotations

import time
from typing import Any, Callable

import numpy as np
import torch

import ganeval

from .networks import build_G
from .presets import DEFAULTS
from .sampling import to_pixels
from .shapes import mode_coverage, shapes_images

HELD_OUT_SEED = 7          # the training set is seed 0; these scenes never appear in it


class BudgetReached(Exception):
    """Raised by a probe to end a run at its wall-clock budget."""


def held_out(num: int, resolution: int) -> tuple[np.ndarray, np.ndarray]:
    """Two disjoint held-out real sets of `num` shapes each (the floor compares them)."""
    both = shapes_images(2 * num, resolution, seed=HELD_OUT_SEED)
    return both[:num], both[num:]


def sample(generate: Callable[[torch.Tensor], torch.Tensor], num: int, latent: int, seed: int) -> np.ndarray:
    """`num` uint8 images from fixed latents (the same at every evaluation), converted as
    `generate` writes its PNGs (`sampling.to_pixels`)."""
    z = torch.randn(num, latent, generator=torch.Generator().manual_seed(seed))
    return np.concatenate([to_pixels(generate(c)).numpy() for c in z.split(128)])


def measure(reals: np.ndarray, fakes: np.ndarray, *, fid: bool, seed: int = 0) -> dict[str, float]:
    """SWD per level (x1e3) and, if asked, FID of `fakes` against `reals` (same count)."""
    out = dict(ganeval.swd(reals, fakes, num_images=len(reals), seed=seed).values)
    if fid:
        out["FID"] = ganeval.fid(reals, fakes, num_images=len(reals)).values["FID"]
    return out


def untrained_generator(cfg: dict[str, Any], resolution: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """G as `train` builds it before its first step (same seed), at full resolution."""
    cfg = {**DEFAULTS, **cfg}
    torch.manual_seed(cfg["seed"])
    G = build_G(cfg, resolution).eval()

    def generate(z: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return G(z, 0.0).clamp(-1, 1)
    return generate


class Probe:
    """The evaluator callable: records metrics over training time and images shown."""

    def __init__(self, reals: np.ndarray, latent: int, *, fid_reals: np.ndarray | None = None, fid_every: int = 0,
                 budget_s: float | None = None, modes: bool = False, seed: int = 123) -> None:
        self.reals, self.latent, self.seed = reals, latent, seed
        self.fid_reals, self.fid_every, self.budget_s, self.modes = fid_reals, fid_every, budget_s, modes
        self.records: list[dict[str, Any]] = []
        self.eval_s = 0.0
        self.t0 = time.time()

    def train_seconds(self) -> float:
        return time.time() - self.t0 - self.eval_s

    def __call__(self, generate: Callable[[torch.Tensor], torch.Tensor], kimg: float) -> None:
        t = time.time()
        train_s = t - self.t0 - self.eval_s
        fakes = sample(generate, len(self.reals), self.latent, self.seed)
        rec = dict(kimg=kimg, train_s=train_s, **measure(self.reals, fakes, fid=False))
        if self.fid_every and (len(self.records) + 1) % self.fid_every == 0:
            # FID on the first fakes only: Inception on a CPU costs more than the step it measures.
            rec["FID"] = measure(self.fid_reals, fakes[:len(self.fid_reals)], fid=True)["FID"]
        if self.modes:
            cov = mode_coverage(fakes)
            rec.update(modes_covered=cov["modes_covered"], recognised=cov["recognised"])
        self.records.append(rec)
        self.eval_s += time.time() - t
        if self.budget_s is not None and train_s >= self.budget_s:
            raise BudgetReached
