"""Registers the trainer's checkpoints and run directories as ganeval leaderboard entries,
and its checkpoints as latent generators for ``ganeval ppl``.

ganeval finds this through the ``ganeval.entry_kinds`` entry point in pyproject.toml, so the
toolkit can rank trainer snapshots and measure their path length without importing the trainer.
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


class _LatentG:
    """G_ema as ganeval's latent generator: ``G(z)`` in [-1, 1] at full size (a snapshot taken
    before the last resolution is nearest-upscaled, as `sampling.sample_batches` does), not
    clipped or quantised: PPL differentiates the raw output, as StyleGAN's metric does."""

    input_range = (-1.0, 1.0)

    def __init__(self, ckpt: Path, device=None) -> None:
        from .checkpoint import load_G_ema
        self.G, self.lod, self.device = load_G_ema(str(ckpt), device)
        self.z_dim = int(self.G.latent_size)
        self.full = 2 ** self.G.resolution_log2

    def __call__(self, z):
        from .layers import upscale2d
        img = self.G(z.to(self.device), self.lod).float()
        return upscale2d(img, self.full // img.shape[-1])


def register() -> None:
    """Add the "run" and "checkpoint" entry kinds to ganeval's leaderboard, and checkpoints as
    latent generators (`ganeval.io.generators`)."""
    from ganeval.reporting.leaderboard import EntryKind, register_entry_kind
    register_entry_kind(EntryKind("run", _is_run, _newest, _sample))
    register_entry_kind(EntryKind("checkpoint", _is_checkpoint, lambda p: p, _sample))
    try:
        from ganeval.io.generators import GeneratorKind, register_generator_kind
    except ImportError:  # a ganeval without latent generators
        return
    register_generator_kind(GeneratorKind("run", _is_run, lambda p, device=None: _LatentG(_newest(p), device)))
    register_generator_kind(GeneratorKind("checkpoint", _is_checkpoint, _LatentG))
