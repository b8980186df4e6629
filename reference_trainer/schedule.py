"""Official train.py ``TrainingSchedule``: lod, minibatch and learning rate from kimg.

Phases are measured in thousands of real images shown (kimg), never in iterations:
each phase lasts ``lod_training_kimg + lod_transition_kimg``; during the first part the
resolution is stable, during the second the next resolution fades in and lod falls
linearly by 1.  The resolution used for the minibatch/lr dicts is
``2 ** (resolution_log2 - floor(lod))``, so a transition already uses the new resolution's
entries (official behaviour).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping


@dataclass(frozen=True)
class TrainingSchedule:
    """Schedule state at one point of training (official TrainingSchedule fields)."""

    kimg: float
    lod: float
    resolution: int
    alpha: float
    minibatch: int
    G_lrate: float
    D_lrate: float
    tick_kimg: float

    @property
    def phase(self) -> str:
        """'stable' or 'fade' with the resolution, e.g. 'fade 16' (for logs)."""
        return f"{'stable' if self.alpha >= 1.0 else 'fade'} {self.resolution}"


def _get(d: Mapping, res: int, default):
    # JSON round-trips turn int keys into strings; accept both.
    return d.get(res, d.get(str(res), default))


def training_schedule(cur_nimg: int, resolution_log2: int, *, num_gpus: int = 1,
                      lod_initial_resolution: int = 4, lod_training_kimg: float = 600,
                      lod_transition_kimg: float = 600, minibatch_base: int = 16,
                      minibatch_dict: Mapping = {}, max_minibatch_per_gpu: Mapping = {},
                      G_lrate_base: float = 0.001, G_lrate_dict: Mapping = {},
                      D_lrate_base: float = 0.001, D_lrate_dict: Mapping = {},
                      tick_kimg_base: float = 160, tick_kimg_dict: Mapping = None) -> TrainingSchedule:
    """Official TrainingSchedule.__init__, line for line, plus alpha = 1 - frac(lod).

    `num_gpus` is the data-parallel world size: as in the official code the global
    minibatch is rounded down to a multiple of it and capped by `max_minibatch_per_gpu`.
    Defaults are the official defaults (tick_kimg_dict 4:160 ... 1024:10).
    """
    if tick_kimg_dict is None:
        tick_kimg_dict = {4: 160, 8: 140, 16: 120, 32: 100, 64: 80, 128: 60, 256: 40, 512: 20, 1024: 10}
    kimg = cur_nimg / 1000.0
    phase_dur = lod_training_kimg + lod_transition_kimg
    phase_idx = int(math.floor(kimg / phase_dur)) if phase_dur > 0 else 0
    phase_kimg = kimg - phase_idx * phase_dur

    lod = float(resolution_log2)
    lod -= math.floor(math.log2(lod_initial_resolution))
    lod -= phase_idx
    if lod_transition_kimg > 0:
        lod -= max(phase_kimg - lod_training_kimg, 0.0) / lod_transition_kimg
    lod = max(lod, 0.0)
    resolution = 2 ** (resolution_log2 - int(math.floor(lod)))

    minibatch = int(_get(minibatch_dict, resolution, minibatch_base))
    minibatch -= minibatch % num_gpus
    cap = _get(max_minibatch_per_gpu, resolution, None)
    if cap is not None:
        minibatch = min(minibatch, int(cap) * num_gpus)
    return TrainingSchedule(
        kimg=kimg, lod=lod, resolution=resolution, alpha=1.0 - (lod - math.floor(lod)),
        minibatch=minibatch,
        G_lrate=float(_get(G_lrate_dict, resolution, G_lrate_base)),
        D_lrate=float(_get(D_lrate_dict, resolution, D_lrate_base)),
        tick_kimg=float(_get(tick_kimg_dict, resolution, tick_kimg_base)))


def lod_changed(lod: float, prev_lod: float) -> bool:
    """Official reset_opt_for_new_lod test: floor or ceil of lod moved (start or end of a fade)."""
    return math.floor(lod) != math.floor(prev_lod) or math.ceil(lod) != math.ceil(prev_lod)
