"""Schedule values derived by hand from official TrainingSchedule (train.py)."""
import math

import pytest

from reference_trainer.presets import PRESETS, make_config
from reference_trainer.schedule import lod_changed, training_schedule

# Final resolution 32 (resolution_log2 5) from 4x4: lod starts at 5 - 2 = 3.
# Phase = 600 kimg stable + 600 kimg fade; during a fade lod falls by (phase_kimg - 600) / 600.
CASES = [
    # kimg, lod, resolution, alpha
    (0, 3.0, 4, 1.0),
    (599, 3.0, 4, 1.0),
    (600, 3.0, 4, 1.0),
    (750, 2.75, 8, 0.25),       # 3 - 150/600
    (900, 2.5, 8, 0.5),
    (1200, 2.0, 8, 1.0),        # phase 1 starts: 3 - 1
    (2100, 1.5, 16, 0.5),       # 3 - 1 - 300/600
    (3450, 0.25, 32, 0.75),     # phase 2 (2400..3600), 1050 kimg in: 3 - 2 - 450/600
    (3600, 0.0, 32, 1.0),
    (50000, 0.0, 32, 1.0),      # clamped at 0
]


@pytest.mark.parametrize("kimg,lod,res,alpha", CASES)
def test_lod_alpha_resolution(kimg, lod, res, alpha):
    s = training_schedule(kimg * 1000, 5)
    assert s.lod == pytest.approx(lod) and s.resolution == res and s.alpha == pytest.approx(alpha)


def test_paper_preset_minibatch_and_lr():
    cfg = make_config("paper-v2-1gpu")
    keys = ("lod_initial_resolution", "lod_training_kimg", "lod_transition_kimg", "minibatch_base", "minibatch_dict",
            "G_lrate_base", "G_lrate_dict", "D_lrate_base", "D_lrate_dict")
    sched = {k: cfg[k] for k in keys}
    # 1024x1024: lod starts at 8; 64x64 fades in during phase 3, kimg 4200..4800; at 4500 lod = 8 - 3 - 0.5.
    s = training_schedule(4500 * 1000, 10, **sched)
    assert (s.lod, s.resolution, s.minibatch, s.G_lrate) == (4.5, 64, 32, 0.001)
    s = training_schedule(11000 * 1000, 10, **sched)  # phase 9: 8 - 9 < 0, clamped to lod 0
    assert (s.lod, s.resolution, s.minibatch, s.G_lrate, s.D_lrate) == (0.0, 1024, 4, 0.0015, 0.0015)
    assert training_schedule(0, 10, **sched).minibatch == 128
    assert cfg["total_kimg"] == 12000


def test_minibatch_rounded_to_gpus_and_capped():
    s = training_schedule(0, 5, num_gpus=3, minibatch_dict={4: 128}, max_minibatch_per_gpu={4: 32})
    assert s.minibatch == 96  # 128 - 128 % 3 = 126, capped at 32 * 3
    assert training_schedule(0, 5, num_gpus=3, minibatch_dict={4: 128}).minibatch == 126


def test_tick_kimg_defaults_to_official_dict():
    assert training_schedule(0, 10).tick_kimg == 160
    assert training_schedule(10**8, 10).tick_kimg == 10


def test_optimizer_reset_rule():
    assert lod_changed(3.0, -1.0)         # first round
    assert not lod_changed(3.0, 3.0)      # stable
    assert lod_changed(2.99, 3.0)         # fade starts: floor moved
    assert not lod_changed(2.5, 2.6)      # mid fade
    assert lod_changed(2.0, 2.01)         # fade ends: ceil moved


def test_cpu_tiny_reaches_every_phase():
    cfg = make_config("cpu-tiny")
    per_phase = cfg["lod_training_kimg"] + cfg["lod_transition_kimg"]
    growths = int(math.log2(cfg["resolution"] // cfg["lod_initial_resolution"]))
    assert growths >= 2  # it grows at least twice, so the fade-ins are exercised
    assert cfg["total_kimg"] >= growths * per_phase + cfg["lod_training_kimg"]  # every level stable once
    assert PRESETS["cpu-tiny"]["resolution"] == 32
