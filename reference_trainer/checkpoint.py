"""Atomic checkpoints that load with ``torch.load(path, weights_only=True)``.

A checkpoint holds G, D, G_ema, both Adam states, the schedule position (cur_nimg,
prev_lod, tick counters), the data sampler state, the config, and every RNG state (python,
numpy, torch CPU, CUDA when present) of every data-parallel rank.  Only tensors and
primitive containers are stored, so the safe unpickler accepts the file.  Writes go to a
temporary file in the same folder, are fsynced, then ``os.replace``d over the target, so a
SIGKILL leaves either the old file or the new one, never a torn one.
"""
from __future__ import annotations

import os
import random
import re
import sys
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from ganeval.errors import DataError
from ganeval.io.fileio import atomic_write

SNAPSHOT = "network-snapshot-{:06d}.pt"  # official name network-snapshot-%06d.pkl, kimg
_SNAPSHOT_RE = re.compile(r"network-snapshot-(\d+)\.pt$")
# What `train` writes and what resuming and sampling read back.
KEYS = ("G", "D", "G_ema", "G_opt", "D_opt", "sampler", "state", "rng", "config", "resolution")
_WRITTEN_BY = "pass a network-snapshot-*.pt written by `python -m reference_trainer train`"


def rng_state(device: torch.device) -> dict[str, Any]:
    """This process's RNG states as tensors and primitives."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state = {"python": _to_lists(random.getstate()),
             "numpy": {"keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                       "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
             "torch": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: dict[str, Any], device: torch.device) -> None:
    """Restore what `rng_state` returned."""
    random.setstate(_to_tuples(state["python"]))
    n = state["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"],
                         n["cached_gaussian"]))
    torch.set_rng_state(state["torch"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def _to_lists(x: Any) -> Any:
    return [_to_lists(v) for v in x] if isinstance(x, (tuple, list)) else x


def _to_tuples(x: Any) -> Any:
    return tuple(_to_tuples(v) for v in x) if isinstance(x, list) else x


def save_atomic(obj: Any, path: str | os.PathLike) -> None:
    """torch.save through ganeval's `atomic_write` (temp file, fsync, rename), which also
    refuses a target that is not a regular file and names the file in any write error."""
    with atomic_write(path, "wb") as f:
        torch.save(obj, f)


def load(path: str | os.PathLike, map_location: Any = "cpu") -> dict[str, Any]:
    """Load a trainer checkpoint with the safe unpickler (weights_only=True).

    Raises `DataError` naming `path` when the file is torn, not a torch file, or a torch file
    that is not a trainer checkpoint (an Inception state dict, say); OSErrors from opening it
    pass through.
    """
    with open(path, "rb") as f:  # a missing or unreadable file stays an OSError naming the path
        try:
            state = torch.load(f, map_location=map_location, weights_only=True)
        except Exception as e:  # torn: RuntimeError or OSError(EINVAL); foreign bytes: UnpicklingError
            raise DataError(f"{path}: not a readable checkpoint ({_reason(e)}); {_WRITTEN_BY}") from None
    missing = [k for k in KEYS if k not in state] if isinstance(state, dict) else list(KEYS)
    if missing:
        raise DataError(f"{path}: a torch file but not a reference_trainer checkpoint (it lacks "
                        f"{', '.join(missing[:3])}{'...' if len(missing) > 3 else ''}); {_WRITTEN_BY}")
    return state


def _reason(e: Exception) -> str:
    first = next((ln.strip() for ln in str(e).splitlines() if ln.strip()), "")
    # torch's refusal advises loading with weights_only=False, which would run the file's code.
    if not first or "weights_only" in first or len(first) > 160:
        first = "truncated, corrupt or holding more than tensors"
    return f"{type(e).__name__}: {first}"


def resume_point(path: str | os.PathLike, warn: Callable[[str], None] | None = None) -> tuple[Path, dict[str, Any]]:
    """The checkpoint to resume from and its contents: `path` itself if it is a file, else the
    newest loadable snapshot of the run folder `path`.

    A run killed while the disk filled up, or copied in part, can hold a torn newest snapshot;
    the previous one is then the right place to continue, and `warn` (default: stderr) gets one
    line naming the files skipped.  Raises `DataError` when nothing in `path` can be resumed.
    """
    p = Path(path)
    if p.is_file():
        return p, load(p)
    if not p.is_dir():
        raise DataError(f"{p}: no such run folder or checkpoint; pass a run folder written by "
                        "`python -m reference_trainer train`")
    found = snapshots(p)
    if not found:
        raise DataError(f"{p}: holds no network-snapshot-*.pt, so it is not a run folder to resume; "
                        "pass the folder `python -m reference_trainer train` printed")
    skipped = []
    for candidate in reversed(found):
        try:
            state = load(candidate)
        except DataError:
            skipped.append(str(candidate))
            continue
        if skipped:
            msg = (f"warning: skipped {', '.join(skipped)} (torn or not a checkpoint); "
                   f"resuming from {candidate.name}")
            (warn or (lambda m: print(m, file=sys.stderr)))(msg)
        return candidate, state
    raise DataError(f"{p}: none of its {len(found)} network-snapshot-*.pt files can be loaded (torn or not "
                    "checkpoints); start a new run with `python -m reference_trainer train`")


def snapshots(run_dir: str | os.PathLike) -> list[Path]:
    """Checkpoint files of `run_dir`, oldest first (by kimg in the name)."""
    found = [(int(m.group(1)), p) for p in Path(run_dir).glob("network-snapshot-*.pt")
             if (m := _SNAPSHOT_RE.search(p.name))]
    return [p for _, p in sorted(found)]


def latest(run_dir: str | os.PathLike) -> Path | None:
    """The newest checkpoint of `run_dir`, or None."""
    found = snapshots(run_dir)
    return found[-1] if found else None


def load_G_ema(path: str | os.PathLike, device: str | None = None):
    """G_ema of a snapshot, ready to sample: returns (G, lod, device).

    G is built from the snapshot's own config and resolution and put in eval mode; `lod` is
    the level of detail the run had reached, which ``G(z, lod)`` needs.  Loads with
    ``weights_only=True`` like every checkpoint; raises `DataError` for anything else.
    """
    from ganeval.device import validate_device
    from .networks import build_G
    dev = validate_device(device)
    state = load(path)
    cfg = state["config"]
    try:
        G = build_G(cfg, int(state["resolution"]))
        G.load_state_dict(state["G_ema"])
    except (KeyError, TypeError, ValueError, RuntimeError) as e:  # hand-edited or mismatched files
        raise DataError(f"{path}: G_ema does not match the checkpoint's own config ({type(e).__name__}); "
                        f"{_WRITTEN_BY}") from None
    return G.to(dev).eval(), float(state["state"]["prev_lod"]), dev
