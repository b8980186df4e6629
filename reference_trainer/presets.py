"""Configurations: official defaults (train.py, networks.py, loss.py, config.py) and presets.

Every key is flat and can be overridden from the CLI with ``--set key=value`` (values are
parsed as JSON, so ``--set minibatch_dict='{"4": 64}'`` works, and checked against the
default's type by `check_value`).  Keys keep the official names.
"""
from __future__ import annotations

import copy
import difflib
import json
import math
from typing import Any

from ganeval.errors import UsageError

DEFAULTS: dict[str, Any] = dict(
    # Data (official dataset.py / train.py).
    data=None,                       # cache folder, image folder/zip/npy, or None/"builtin"
    resolution=None,                 # None: the dataset's resolution
    mirror_augment=None,             # None: what the cache manifest says (official default False)
    builtin_num=2048,                # images of the built-in data set
    builtin_kind="shapes",           # shapes | photos (reference_trainer/shapes.py, ganeval's photo crops)
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
        metrics_kimg=500,                # 24 SWD points: a curve for `ganeval report`
    ),
    # Shapes learnable in about 4 minutes on 2 CPU cores (`make demo`): growth from 8x8 in 3-kimg
    # phases (8, fade 16, 16, fade 32) leaves 24 of the 36 kimg at 32x32, and learning rates
    # twice the paper's.  Measured on the shapes set (reference_trainer/README.md): the paper's
    # 4x4 start with 6-kimg phases and lr 1e-3 ended at SWD ~164 in colour blobs; this at ~84
    # (30 kimg) in solid shapes on grey gradients.  At this budget every phase spent at a low
    # resolution is a phase not spent at the one measured.
    "cpu-tiny": dict(
        resolution=32,
        latent_size=128,
        fmap_base=256,
        fmap_max=128,
        lod_initial_resolution=8,
        lod_training_kimg=3,
        lod_transition_kimg=3,
        total_kimg=36,
        G_lrate_base=0.002,
        D_lrate_base=0.002,
        minibatch_base=16,
        minibatch_dict={4: 32, 8: 32, 16: 16, 32: 16},
        tick_kimg_base=2,
        tick_kimg_dict={},
        checkpoint_kimg=12,
        grid_size=[8, 8],
        metrics_kimg=12,                 # SWD at 12, 24, 36 kimg: a curve for a few seconds each
        # ~2000 steps in all: the paper's 0.999 (a ~1000-step horizon) would leave G_ema
        # near its random init, so the tiny preset averages over ~100 steps instead.
        G_smoothing=0.99,
    ),
}


# The value type of keys whose default cannot tell it: None defaults, and kimg amounts whose
# official defaults happen to be whole numbers.  Every other key takes its default's type.
_TYPES: dict[str, type] = dict(data=str, resolution=int, mirror_augment=bool, keep_checkpoints=int,
                               grid_size=list, metrics_kimg=float, total_kimg=float, lod_training_kimg=float,
                               lod_transition_kimg=float, tick_kimg_base=float)
_CHOICES = dict(loss=("wgangp", "lsgan", "logistic"), gp_norm_space=("full", "current"),
                builtin_kind=("shapes", "photos"))
_TYPE_NAMES = {bool: "true or false", int: "an integer", float: "a number", str: "a string",
               list: "a JSON list", dict: "a JSON object"}


def check_value(key: str, value: Any) -> Any:
    """`value` if it suits config `key`, else `UsageError` naming the key and what it takes."""
    if key not in DEFAULTS:
        close = difflib.get_close_matches(key, list(DEFAULTS), n=3, cutoff=0.6)
        hint = f"did you mean {' or '.join(close)}?" if close else "see reference_trainer/presets.py for the keys"
        raise UsageError(f"unknown config key {key!r}; {hint}")
    want = _TYPES.get(key, type(DEFAULTS[key]))
    nullable = DEFAULTS[key] is None
    if value is None and nullable:
        return None
    ok = (isinstance(value, bool) if want is bool else
          isinstance(value, (int, float)) and not isinstance(value, bool) if want is float else
          isinstance(value, int) and not isinstance(value, bool) if want is int else
          isinstance(value, want))
    if ok and want is dict:  # resolution-keyed dicts: {"4": 128, ...}
        ok = all(str(k).isdigit() and isinstance(v, (int, float)) and not isinstance(v, bool)
                 for k, v in value.items())
    if not ok:
        what = _TYPE_NAMES[want] + (" or null" if nullable else "")
        if want is dict:
            what += ' mapping resolutions to numbers, e.g. {"4": 64}'
        raise UsageError(f"config key {key}: expects {what}, got {json.dumps(value)}")
    if key in _CHOICES and value not in _CHOICES[key]:
        raise UsageError(f"config key {key}: {value!r} is not one of {', '.join(_CHOICES[key])}")
    if key == "resolution" and (value < 4 or 2 ** int(math.log2(value)) != value):
        raise UsageError(f"config key resolution: {value} is not a power of two >= 4; use e.g. 32 or 256")
    if key == "grid_size" and not (len(value) == 2 and all(isinstance(v, int) and not isinstance(v, bool)
                                                           and v > 0 for v in value)):
        raise UsageError(f"config key grid_size: expects [width, height] in images, got {json.dumps(value)}")
    return value


def make_config(preset: str | None = None, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """DEFAULTS, then the preset, then `overrides` (checked with `check_value`)."""
    if preset is not None and preset not in PRESETS:
        raise UsageError(f"unknown preset {preset!r}; choose from {', '.join(sorted(PRESETS))}")
    cfg = copy.deepcopy(DEFAULTS)
    cfg.update(copy.deepcopy(PRESETS.get(preset, {})))
    for k, v in (overrides or {}).items():
        cfg[k] = copy.deepcopy(check_value(k, v))
    return cfg


def parse_set(items: list[str]) -> dict[str, Any]:
    """Parse and check ``key=value`` strings (values are JSON; plain text where a string is due)."""
    out = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageError(f"--set {item!r}: expects KEY=VALUE, e.g. --set total_kimg=60")
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = text
        if _TYPES.get(key, type(DEFAULTS.get(key))) is str and not isinstance(value, str):
            value = text  # --set data=2024 names a folder, not a number
        out[key] = check_value(key, value)
    return out


def int_keys(d: dict) -> dict:
    """Resolution dicts come back from JSON with string keys; make them ints again."""
    return {int(k): v for k, v in d.items()}
