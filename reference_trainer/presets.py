"""Configurations: official defaults (train.py, networks.py, loss.py, config.py) and presets.

Every key is flat and can be overridden from the CLI with ``--set key=value`` (values are
parsed as JSON, so ``--set minibatch_dict='{"4": 64}'`` works).  Keys keep the official names.
"""
from __future__ import annotations

import copy
import json
from typing import Any

DEFAULTS: dict[str, Any] = dict(
    # Data (official dataset.py / train.py).
    data=None,                       # cache folder, image folder/zip/npy, or None/"builtin"
    resolution=None,                 # None: the dataset's resolution
    mirror_augment=None,             # None: what the cache manifest says (official default False)
    builtin_num=2048,                # images of the built-in data set
    # Networks (official G_paper / D_paper defaults).
    latent_size=512,
    fmap_base=8192,
    fmap_decay=1.0,
    fmap_max=512,
    mbstd_group_size=4,
    pixelnorm_epsilon=1e-8,
    # Loss (official loss.py D_wgangp_acgan).
    loss="wgangp",                   # wgangp | lsgan | logistic
    wgan_lambda=10.0,
    wgan_epsilon=0.001,
    wgan_target=1.0,
    gp_norm_space="full",            # official: gradient norm of the full-resolution image
    # Optimization (official config.py G_opt/D_opt and train_progressive_gan).
    G_beta1=0.0, G_beta2=0.99, G_epsilon=1e-8,
    D_beta1=0.0, D_beta2=0.99, D_epsilon=1e-8,
    G_smoothing=0.999,               # G_ema (official Gs) moving-average beta
    D_repeats=1,
    minibatch_repeats=4,
    reset_opt_for_new_lod=True,
    total_kimg=15000,
    # Schedule (official TrainingSchedule defaults).
    lod_initial_resolution=4,
    lod_training_kimg=600,
    lod_transition_kimg=600,
    minibatch_base=16,
    minibatch_dict={},
    max_minibatch_per_gpu={},
    G_lrate_base=0.001,
    G_lrate_dict={},
    D_lrate_base=0.001,
    D_lrate_dict={},
    tick_kimg_base=160,
    tick_kimg_dict={4: 160, 8: 140, 16: 120, 32: 100, 64: 80, 128: 60, 256: 40, 512: 20, 1024: 10},
    # Snapshots and metrics.
    image_snapshot_ticks=1,          # official
    checkpoint_kimg=100.0,           # checkpoint every N kimg (official: network_snapshot_ticks=10)
    keep_checkpoints=None,           # keep only the newest K snapshots; None keeps all
    grid_size=None,                  # [gw, gh]; None: official 1080p layout
    metrics_kimg=None,               # evaluator interval; None: only at the end
    # Runtime.
    seed=1000,                       # official random_seed
    amp=False,                       # bf16 autocast (CUDA only)
)

PRESETS: dict[str, dict[str, Any]] = {
    # Official config.py: desc += '-preset-v2-1gpu'.
    "paper-v2-1gpu": dict(
        minibatch_base=4,
        minibatch_dict={4: 128, 8: 128, 16: 128, 32: 64, 64: 32, 128: 16, 256: 8, 512: 4},
        G_lrate_dict={1024: 0.0015},
        D_lrate_dict={1024: 0.0015},
        total_kimg=12000,
    ),
    # All 7 phases (4, fade 8, 8, fade 16, 16, fade 32, 32) in about 2 minutes on 2 CPU cores.
    "cpu-tiny": dict(
        resolution=32,
        latent_size=128,
        fmap_base=256,
        fmap_max=128,
        lod_training_kimg=6,
        lod_transition_kimg=6,
        total_kimg=42,
        # Small minibatches buy steps: ~2000 D steps in all (32 doubled the SWD at the end).
        minibatch_base=16,
        minibatch_dict={4: 32, 8: 32, 16: 16, 32: 16},
        tick_kimg_base=2,
        tick_kimg_dict={},
        checkpoint_kimg=10,
        grid_size=[8, 8],
        metrics_kimg=14,
        # ~2000 steps in all: the paper's 0.999 (a ~1000-step horizon) would leave G_ema
        # near its random init, so the tiny preset averages over ~100 steps instead.
        G_smoothing=0.99,
    ),
}


def make_config(preset: str | None = None, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """DEFAULTS, then the preset, then `overrides` (unknown keys are an error)."""
    if preset is not None and preset not in PRESETS:
        raise KeyError(f"unknown preset {preset!r}; choose from {sorted(PRESETS)}")
    cfg = copy.deepcopy(DEFAULTS)
    for layer in (PRESETS.get(preset, {}), overrides or {}):
        for k, v in layer.items():
            if k not in DEFAULTS:
                raise KeyError(f"unknown config key {k!r}")
            cfg[k] = copy.deepcopy(v)
    return cfg


def parse_set(items: list[str]) -> dict[str, Any]:
    """Parse ``key=value`` strings; values are JSON when they parse, else plain strings."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--set expects key=value, got {item!r}")
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value
    return out


def int_keys(d: dict) -> dict:
    """Resolution dicts come back from JSON with string keys; make them ints again."""
    return {int(k): v for k, v in d.items()}
