"""Registers the trainer's checkpoints and run directories as ganeval leaderboard entries.

ganeval finds this through the ``ganeval.entry_kinds`` entry point in pyproject.toml, so the
toolkit can rank trainer snapshots without importing the trainer itself.
"""
from __future__ import annotations

from pathlib import Path


def _is_run(p: Path) -> bool:
    return p.is_dir() and (p / "config.json").exists() and any(p.glob("network-snapshot-*.pt"))


def _is_checkpoint(p: Path) -> bool:
    return p.is_file() and p.suffix == ".pt"


def _newest(p: Path) -> Path:
    from .checkpoint import latest
    return Path(latest(p))


def _sample(ckpt: Path, num: int, seed: int, device=None):
    from .sampling import sample_checkpoint
    return sample_checkpoint(ckpt, num, seed, device)


def register() -> None:
    """Add the "run" and "checkpoint" entry kinds to ganeval's leaderboard."""
    from ganeval.reporting.leaderboard import EntryKind, register_entry_kind
    register_entry_kind(EntryKind("run", _is_run, _newest, _sample))
    register_entry_kind(EntryKind("checkpoint", _is_checkpoint, lambda p: p, _sample))
