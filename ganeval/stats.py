"""Streaming Inception-feature statistics, shared by FID, IS, KID and PR, and their cache.

`FeatureStats` accumulates the count, sum and sum of outer products of pool3 features in
float64 (so FID never needs the N x 2048 matrix), and optionally keeps the features (KID, PR)
and unbiased logits (IS).  Accumulators merge, reduce across torch.distributed ranks, and save
to ``.npz`` files with ``mu``, ``sigma`` and ``n`` (the pytorch-fid layout, so either tool reads
the other's files).

The cache key covers the content of the source (file names, sizes and mtimes, or a full
content hash) and every option that changes the numbers: extractor, weights sha256, resize,
image count, subset and seed.  A changed dataset at the same path therefore never reuses old
statistics.
"""
from __future__ import annotations

import hashlib
import json
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .errors import DataError
from .fileio import atomic_write

__all__ = ["FeatureStats", "cache_key", "cache_path", "load_stats", "save_stats"]


class FeatureStats:
    """Running statistics of 2048-d features: mean, covariance, and optionally the rows."""

    def __init__(self, dim: int = 2048, keep_features: bool = False, keep_logits: bool = False):
        self.dim, self.keep_features, self.keep_logits = dim, keep_features, keep_logits
        self.n = 0
        self.sum = torch.zeros(dim, dtype=torch.float64)
        self.outer = torch.zeros(dim, dim, dtype=torch.float64)
        self.features: list[torch.Tensor] = []
        self.logits: list[torch.Tensor] = []

    def update(self, features: torch.Tensor, logits: torch.Tensor | None = None) -> None:
        """Add a batch of features (N, dim) and, when kept, their unbiased logits."""
        f = features.double()
        self.sum = self.sum.to(f.device) + f.sum(0)
        self.outer = self.outer.to(f.device) + f.T @ f
        self.n += f.shape[0]
        if self.keep_features:
            self.features.append(features.float())
        if self.keep_logits and logits is not None:
            self.logits.append(logits.float())

    def merge(self, other: "FeatureStats") -> None:
        self.sum = self.sum + other.sum.to(self.sum.device)
        self.outer = self.outer + other.outer.to(self.outer.device)
        self.n += other.n
        self.features += other.features
        self.logits += other.logits

    def portable(self) -> "FeatureStats":
        """A CPU copy: what travels between processes (see `ganeval.dist`)."""
        out = FeatureStats(self.dim, self.keep_features, self.keep_logits)
        out.n, out.sum, out.outer = self.n, self.sum.cpu(), self.outer.cpu()
        out.features = [torch.cat(self.features).cpu()] if self.features else []
        out.logits = [torch.cat(self.logits).cpu()] if self.logits else []
        return out

    @property
    def mu(self) -> np.ndarray:
        return (self.sum / self.n).cpu().numpy()

    @property
    def sigma(self) -> np.ndarray:
        """Unbiased covariance (divides by n - 1), as numpy.cov and pytorch-fid compute it."""
        if self.n < 2:
            raise DataError(f"covariance needs at least 2 images, got {self.n}")
        mu = self.sum / self.n
        cov = (self.outer - self.n * torch.outer(mu, mu)) / (self.n - 1)
        return cov.cpu().numpy()

    def all_features(self) -> torch.Tensor:
        return torch.cat(self.features) if self.features else torch.empty(0, self.dim)

    def all_logits(self) -> torch.Tensor:
        return torch.cat(self.logits) if self.logits else torch.empty(0)


def save_stats(path: str | os.PathLike, stats: FeatureStats, **meta: Any) -> None:
    """Write ``mu``, ``sigma``, ``n`` (and kept features/logits, and `meta` as JSON) atomically."""
    arrays: dict[str, Any] = {"mu": stats.mu, "sigma": stats.sigma, "n": np.int64(stats.n)}
    if stats.features:
        arrays["features"] = stats.all_features().cpu().numpy()
    if stats.logits:
        arrays["logits_unbiased"] = stats.all_logits().cpu().numpy()
    arrays["meta"] = np.array(json.dumps(meta))
    with atomic_write(path, "wb") as f:
        np.savez(f, **arrays)


class LoadedStats(FeatureStats):
    """Statistics read from a file: moments are fixed, mu and sigma come from the file."""

    def __init__(self, mu: np.ndarray, sigma: np.ndarray, n: int):
        super().__init__(dim=mu.shape[0])
        self._mu, self._sigma, self.n = mu, sigma, n

    @property
    def mu(self) -> np.ndarray:
        return self._mu

    @property
    def sigma(self) -> np.ndarray:
        return self._sigma


def load_stats(path: str | os.PathLike) -> FeatureStats:
    """Read a statistics ``.npz`` (ganeval's or pytorch-fid's: ``mu`` and ``sigma``)."""
    try:
        with np.load(path, allow_pickle=False) as z:
            if "mu" not in z or "sigma" not in z:
                raise DataError(f"{path}: a statistics file needs arrays 'mu' and 'sigma'; it has {list(z.keys())}")
            mu, sigma = z["mu"].astype(np.float64), z["sigma"].astype(np.float64)
            n = int(z["n"]) if "n" in z else 0
            feats = z["features"] if "features" in z else None
            logits = z["logits_unbiased"] if "logits_unbiased" in z else None
    except DataError:
        raise
    except Exception as e:
        raise DataError(f"{path}: cannot read statistics ({e})") from None
    if mu.ndim != 1 or sigma.shape != (mu.shape[0], mu.shape[0]):
        raise DataError(f"{path}: mu has shape {mu.shape} and sigma {sigma.shape}; expected (D,) and (D, D)")
    if not (np.isfinite(mu).all() and np.isfinite(sigma).all()):
        raise DataError(f"{path}: statistics contain NaN or inf")
    s = LoadedStats(mu, sigma, n)
    if feats is not None:
        s.features, s.keep_features = [torch.from_numpy(feats)], True
    if logits is not None:
        s.logits, s.keep_logits = [torch.from_numpy(logits)], True
    return s


def is_stats_file(src: Any) -> bool:
    return isinstance(src, (str, os.PathLike)) and str(src).endswith(".npz") and ":" not in os.path.basename(str(src)) \
        and _has_mu(src)


def _has_mu(path: Any) -> bool:
    try:
        with np.load(path, allow_pickle=False) as z:
            return "mu" in z and "sigma" in z
    except Exception:
        return False


def cache_key(**options: Any) -> str:
    """A stable hash of everything that determines a set's statistics."""
    return hashlib.sha256(json.dumps(options, sort_keys=True, default=str).encode()).hexdigest()[:32]


def cache_path(key: str) -> Path:
    from .inception.weights import cache_dir
    return cache_dir() / "stats" / f"{key}.npz"


def warn_small(n: int, what: str) -> None:
    if n < 2048:
        warnings.warn(f"{what}: {n} images give a rank-deficient 2048x2048 covariance; FID is biased upward "
                      "and not comparable with FIDs on 2048+ images", stacklevel=3)
