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
from pathlib import Path
from typing import Any

import numpy as np
import torch

SNAPSHOT = "network-snapshot-{:06d}.pt"  # official name network-snapshot-%06d.pkl, kimg
_SNAPSHOT_RE = re.compile(r"network-snapshot-(\d+)\.pt$")


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
    """torch.save to a temp file in the same folder, fsync, os.replace, fsync the folder."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "wb") as f:
        torch.save(obj, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    try:
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:  # some filesystems (and Windows) cannot fsync a directory
        pass


def load(path: str | os.PathLike, map_location: Any = "cpu") -> dict[str, Any]:
    """Load a checkpoint with the safe unpickler (weights_only=True)."""
    return torch.load(path, map_location=map_location, weights_only=True)


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
    ``weights_only=True`` like every checkpoint.
    """
    from .networks import G_paper
    state = load(path)
    cfg = state["config"]
    G = G_paper(int(state["resolution"]), latent_size=cfg["latent_size"], fmap_base=cfg["fmap_base"],
                fmap_decay=cfg["fmap_decay"], fmap_max=cfg["fmap_max"], pixelnorm_epsilon=cfg["pixelnorm_epsilon"])
    G.load_state_dict(state["G_ema"])
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    return G.to(dev).eval(), float(state["state"]["prev_lod"]), dev
