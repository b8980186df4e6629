"""Streaming feature statistics of any extractor, shared by every feature metric.

`FeatureStats` accumulates the count, sum and sum of outer products of D-dimensional features
in float64 (so a Frechet distance never needs the N x D matrix), and optionally keeps the
features (KID, PR, bootstrap) and a classifier's unbiased logits (IS).  Accumulators merge, reduce across torch.distributed ranks, and save
to ``.npz`` files with ``mu``, ``sigma`` and ``n`` (the pytorch-fid layout, so either tool reads
the other's files).

The cache key (`ganeval.features.cache.statistics_key`) covers the content of the source (file
names, sizes and mtimes, or a full content hash, and which of the two), every option the source
is opened with (image count, subset and seed, recursion, resize, skipping of bad files, input
range), the extractor, the weights sha256 and the ganeval version.  A changed dataset or option
therefore never reuses old statistics, and a run that should fail is never served a cached
success.  The options are keyed in one canonical form (`canonical_source_options`: defaults
filled in), so every command and the API hit one entry for the same set and options.  Files read back are checked (`load_stats`): shapes, finiteness, a symmetric positive
semi-definite sigma, and the weights hash they record.
"""
from __future__ import annotations

import json
import os
import warnings
from typing import Any

import numpy as np
import scipy.linalg
import torch

from ..errors import DataError, WeightsError
from ..io.fileio import atomic_write

__all__ = ["FeatureStats", "ResampledStats", "LoadedStats", "load_stats", "save_stats", "is_stats_file"]


class FeatureStats:
    """Running statistics of 2048-d features: mean, covariance, and optionally the rows.

    Kept rows remember each image's index in its set when `update` is given one (``start``),
    so statistics merged from processes that measured interleaved shares return their rows
    in the set's order, as KID's subsets, PR and IS's splits expect.
    """

    def __init__(self, dim: int = 2048, keep_features: bool = False, keep_logits: bool = False):
        self.dim, self.keep_features, self.keep_logits = dim, keep_features, keep_logits
        self.n = 0
        self.sum = torch.zeros(dim, dtype=torch.float64)
        self.outer = torch.zeros(dim, dim, dtype=torch.float64)
        self.features: list[torch.Tensor] = []
        self.logits: list[torch.Tensor] = []
        self.index: list[torch.Tensor] = []
        # How the images were preprocessed (an Inception protocol name, see
        # `ganeval.inception.protocol`); None when unknown (a foreign file) or not Inception.
        self.protocol: str | None = None

    def update(self, features: torch.Tensor, logits: torch.Tensor | None = None, start: int | None = None) -> None:
        """Add a batch of features (N, dim) and, when kept, their unbiased logits; `start` is
        the index of the batch's first image in its set."""
        f = features.double()
        if start is not None and (self.keep_features or self.keep_logits):
            self.index.append(torch.arange(start, start + f.shape[0]))
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
        self.index += other.index

    def portable(self) -> "FeatureStats":
        """A CPU copy: what travels between processes (see `ganeval.dist`)."""
        out = FeatureStats(self.dim, self.keep_features, self.keep_logits)
        out.n, out.sum, out.outer, out.protocol = self.n, self.sum.cpu(), self.outer.cpu(), self.protocol
        out.features = [torch.cat(self.features).cpu()] if self.features else []
        out.logits = [torch.cat(self.logits).cpu()] if self.logits else []
        out.index = [torch.cat(self.index)] if self.index else []
        return out

    def _ordered(self, rows: list[torch.Tensor]) -> torch.Tensor:
        x = torch.cat(rows)
        if self.index:
            idx = torch.cat(self.index)
            if idx.shape[0] == x.shape[0] and bool((idx[1:] < idx[:-1]).any()):
                x = x[torch.argsort(idx).to(x.device)]
        return x
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
        """Every kept feature row, in the set's order."""
        return self._ordered(self.features) if self.features else torch.empty(0, self.dim)

    def all_logits(self) -> torch.Tensor:
        """Every kept logit row, in the set's order."""
        return self._ordered(self.logits) if self.logits else torch.empty(0)


class ResampledStats(FeatureStats):
    """A bootstrap resample of a set: the rows at `idx` (repeats allowed) of `features` and
    `logits` (whole-set tensors in set order), with mean and covariance computed on demand
    from the rows weighted by how often each was drawn (float64; only the drawn rows are
    multiplied, so a resample costs about 0.63 of a full covariance)."""

    def __init__(self, features: torch.Tensor | None, logits: torch.Tensor | None, idx: np.ndarray, dim: int):
        super().__init__(dim, keep_features=features is not None, keep_logits=logits is not None)
        self.n = len(idx)
        self._base, self._idx = features, idx
        if features is not None:
            self.features = [features[torch.from_numpy(idx).to(features.device)]]
        if logits is not None:
            self.logits = [logits[torch.from_numpy(idx).to(logits.device)]]
        self._moments: tuple[np.ndarray, np.ndarray] | None = None

    def _drawn(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The distinct drawn rows (float64), how often each was drawn, and their mean."""
        if self._base is None:
            raise DataError("a resample without kept features has no moments")
        counts = torch.bincount(torch.from_numpy(self._idx), minlength=self._base.shape[0])
        drawn = torch.nonzero(counts).squeeze(1)
        x = self._base[drawn.to(self._base.device)].double()
        w = counts[drawn].to(x.device, torch.float64)
        return x, w, (w @ x) / self.n

    def _weighted_moments(self) -> tuple[np.ndarray, np.ndarray]:
        if self._moments is None:
            x, w, mu = self._drawn()
            xc = x - mu
            cov = (xc * w[:, None]).T @ xc / (self.n - 1)
            self._moments = (mu.cpu().numpy(), cov.cpu().numpy())
        return self._moments

    def factor(self) -> tuple[np.ndarray, np.ndarray]:
        """``mu`` and ``A`` (distinct drawn rows x dim, float64) with ``sigma == A.T @ A``: the
        centred drawn rows scaled by sqrt(count / (n - 1)).  With fewer drawn rows than
        dimensions FID works in the rows' space from this (`ganeval.metrics.fid`) and the
        dim x dim covariance is never formed."""
        if self.n < 2:
            raise DataError(f"covariance needs at least 2 images, got {self.n}")
        x, w, mu = self._drawn()
        a = (x - mu) * torch.sqrt(w / (self.n - 1))[:, None]
        return mu.cpu().numpy(), a.cpu().numpy()

    @property
    def mu(self) -> np.ndarray:
        return self._weighted_moments()[0]

    @property
    def sigma(self) -> np.ndarray:
        if self.n < 2:
            raise DataError(f"covariance needs at least 2 images, got {self.n}")
        return self._weighted_moments()[1]


def save_stats(path: str | os.PathLike, stats: FeatureStats, **meta: Any) -> None:
    """Write ``mu``, ``sigma``, ``n`` (and kept features/logits, and `meta` as JSON) atomically."""
    arrays: dict[str, Any] = {"mu": stats.mu, "sigma": stats.sigma, "n": np.int64(stats.n)}
    if stats.features:
        arrays["features"] = stats.all_features().cpu().numpy()
    if stats.logits:
        arrays["logits_unbiased"] = stats.all_logits().cpu().numpy()
    if stats.protocol is not None:
        meta.setdefault("protocol", stats.protocol)
    arrays["meta"] = np.array(json.dumps(meta))
    with atomic_write(path, "wb") as f:
        np.savez(f, **arrays)


class LoadedStats(FeatureStats):
    """Statistics read from a file: moments are fixed, mu and sigma come from the file."""

    def __init__(self, mu: np.ndarray, sigma: np.ndarray, n: int, meta: dict[str, Any] | None = None):
        super().__init__(dim=mu.shape[0])
        self._mu, self._sigma, self.n = mu, sigma, n
        self.meta = meta or {}
        self.protocol = recorded_protocol(self.meta)

    @property
    def mu(self) -> np.ndarray:
        return self._mu

    @property
    def sigma(self) -> np.ndarray:
        return self._sigma

    def portable(self) -> "LoadedStats":
        return self  # already host memory, and its moments live in mu/sigma, not in sums

    def merge(self, other: FeatureStats) -> None:
        if other.n:
            raise DataError("statistics read from a file cannot take more images; measure the images instead")


_UNCHECKED = object()  # `load_stats(resize=...)` default: do not compare resizes

# Relative tolerances for a covariance read from a file.  Rounding (float32 files, streamed
# sums) leaves asymmetries and negative eigenvalues many orders below these; a matrix beyond
# them was not computed as a covariance, and FID would clip it into a meaningless number.
SYMMETRY_RTOL = 1e-6
PSD_RTOL = 1e-6


def load_stats(path: str | os.PathLike, *, dim: int | None = 2048, weights_sha256: str | None = None,
               allow_weights_mismatch: bool = False, protocol: str | None = None,
               resize: Any = _UNCHECKED, num_logits: int | None = None) -> FeatureStats:
    """Read and check a statistics ``.npz`` (ganeval's or pytorch-fid's: ``mu`` and ``sigma``).

    Raises `DataError` naming the file when mu and sigma disagree in size, differ from `dim`
    (2048 for pool3; None skips the check), hold NaN/inf, or sigma is not a covariance
    (asymmetric, or an eigenvalue below ``-PSD_RTOL`` times the largest in magnitude).

    With `weights_sha256`, a file whose ``meta`` records another weights hash raises
    `WeightsError` naming both, unless `allow_weights_mismatch`.  Files without that record
    (pytorch-fid's, and other tools') are accepted: they carry no hash to compare, and
    refusing them would refuse every pytorch-fid statistics file.

    With `protocol`, a file that records another Inception protocol raises `DataError`
    naming both (a file that records none is taken as made under `protocol`, with a
    warning).  With `resize` (the ``--resize`` of the images it will be compared with), a
    file that records another ``--resize`` is refused the same way.
    """
    try:
        with np.load(path, allow_pickle=False) as z:
            if "mu" not in z or "sigma" not in z:
                lacks = " and ".join(repr(k) for k in ("mu", "sigma") if k not in z)
                raise DataError(f"{path}: a statistics file needs arrays 'mu' and 'sigma', and this one lacks {lacks} "
                                f"(it has {', '.join(map(repr, z.keys())) or 'no arrays'}); recompute it with "
                                "`ganeval stats`")
            for key in ("mu", "sigma"):
                if z[key].dtype.kind not in "fiu":
                    raise DataError(f"{path}: '{key}' holds {z[key].dtype} values; a statistics file needs real "
                                    "floating-point mu and sigma (complex or non-numeric ones are not a Gaussian's)")
            mu, sigma = z["mu"].astype(np.float64), z["sigma"].astype(np.float64)
            n = _count(path, z["n"]) if "n" in z else 0
            feats = z["features"] if "features" in z else None
            logits = z["logits_unbiased"] if "logits_unbiased" in z else None
            meta_text = str(z["meta"]) if "meta" in z else None
    except DataError:
        raise
    except Exception as e:
        # numpy refuses object arrays with advice to pass allow_pickle=True, which would run code
        # from the file: that advice never reaches the user
        why = "it holds Python objects, which ganeval never unpickles" if "pickle" in str(e) else str(e)
        raise DataError(f"{path}: cannot read statistics ({why})") from None
    meta = _parse_meta(path, meta_text)
    _check_moments(path, mu, sigma, dim)
    if feats is not None and (feats.ndim != 2 or feats.shape[1] != mu.shape[0]):
        raise DataError(f"{path}: features have shape {feats.shape} but mu is {mu.shape[0]}-dimensional; "
                        "recompute the statistics")
    if logits is not None and (logits.ndim != 2 or (num_logits is not None and logits.shape[1] != num_logits)):
        raise DataError(f"{path}: logits have shape {logits.shape}; the classifier in use has {num_logits} "
                        "classes; recompute the statistics")
    recorded = meta.get("weights_sha256")
    if weights_sha256 and recorded and recorded != weights_sha256 and not allow_weights_mismatch:
        raise WeightsError(f"{path}: statistics were computed with weights sha256 {recorded}, but the weights in use "
                           f"have sha256 {weights_sha256}; recompute them with these weights, pass the same --weights, "
                           "or pass --allow-weights-mismatch (allow_weights_mismatch=True) if both files hold the "
                           "same network")
    check_provenance(path, meta, protocol, resize)
    s = LoadedStats(mu, sigma, n, meta)
    if feats is not None:
        s.features, s.keep_features = [torch.from_numpy(feats)], True
    if logits is not None:
        s.logits, s.keep_logits = [torch.from_numpy(logits)], True
    return s


def _count(path: Any, arr: np.ndarray) -> int:
    """The image count ``n`` of a statistics file: a positive integer scalar, or a `DataError`."""
    if arr.shape != () or arr.dtype.kind not in "iu" or int(arr) <= 0:
        raise DataError(f"{path}: 'n' must be a positive whole image count, got {arr.tolist()!r} ({arr.dtype}); "
                        "recompute the statistics")
    return int(arr)


def recorded_protocol(meta: dict[str, Any]) -> str | None:
    """The Inception protocol a statistics file's `meta` records; ganeval files written before
    protocols existed are ``tf1`` (their extractor id says so); None when it records none."""
    if isinstance(meta.get("protocol"), str):
        return meta["protocol"]
    if "tf1-bilinear-299" in str(meta.get("extractor", "")):
        return "tf1"
    return None


def check_provenance(path: Any, meta: dict[str, Any], protocol: str | None, resize: Any = _UNCHECKED) -> None:
    """Refuse statistics whose recorded Inception protocol or ``--resize`` differs from this
    run's: their FID against these images would be a number from two different pipelines."""
    recorded = recorded_protocol(meta)
    if protocol is not None and recorded is None and "extractor" not in meta:
        warnings.warn(f"{path} records no Inception protocol (not written by ganeval); assuming it was made "
                      f"under --protocol {protocol}", stacklevel=3)
    elif protocol is not None and recorded != protocol:
        raise DataError(f"{path}: statistics were made under the Inception protocol '{recorded}', but this run uses "
                        f"'{protocol}'; pass --protocol {recorded}, or recompute them with --protocol {protocol}")
    if resize is not _UNCHECKED and "resize" in meta and meta["resize"] != resize:
        def say(r: Any) -> str:
            return f"--resize {r}" if r is not None else "no --resize"
        raise DataError(f"{path}: statistics were made with {say(meta['resize'])}, but the images here are read with "
                        f"{say(resize)}; pass the same --resize, or recompute the statistics")


def _parse_meta(path: Any, text: str | None) -> dict[str, Any]:
    if text is None:
        return {}
    try:
        meta = json.loads(text)
    except ValueError:
        meta = None
    if not isinstance(meta, dict):
        raise DataError(f"{path}: its 'meta' entry is not a JSON object; rewrite the file with ganeval stats")
    return meta


def _check_moments(path: Any, mu: np.ndarray, sigma: np.ndarray, dim: int | None) -> None:
    if mu.ndim != 1 or sigma.shape != (mu.shape[0], mu.shape[0]):
        raise DataError(f"{path}: mu has shape {mu.shape} but sigma has shape {sigma.shape}; a statistics file "
                        "needs mu of shape (D,) and sigma of shape (D, D)")
    if dim is not None and mu.shape[0] != dim:
        raise DataError(f"{path}: statistics are {mu.shape[0]}-dimensional but the features in use are "
                        f"{dim}-dimensional (Inception pool3: 2048, DINOv2 ViT-L/14: 1024, ViT-B/14: 768); recompute "
                        "them from the images with the same feature extractor")
    if not (np.isfinite(mu).all() and np.isfinite(sigma).all()):
        raise DataError(f"{path}: statistics contain NaN or inf")
    scale = float(np.abs(sigma).max()) if sigma.size else 0.0
    asym = float(np.abs(sigma - sigma.T).max()) if sigma.size else 0.0
    if asym > SYMMETRY_RTOL * scale:
        raise DataError(f"{path}: sigma is not symmetric (largest |sigma - sigma.T| is {asym:.3g} against entries "
                        f"up to {scale:.3g}), so it is not a covariance; recompute the statistics")
    _check_psd(path, sigma)


def _check_psd(path: Any, sigma: np.ndarray) -> None:
    """Refuse sigma with an eigenvalue below -PSD_RTOL * max|eigenvalue|.

    A Cholesky factorisation of sigma shifted by that margin succeeds exactly when no
    eigenvalue lies below it, at a fraction of an eigendecomposition's cost.  The largest
    |eigenvalue| is bounded by the largest absolute row sum, which makes the margin at most
    sqrt(D) times looser than the exact one and never tighter.
    """
    if sigma.size == 0:
        return
    bound = float(np.abs(sigma).sum(axis=1).max())
    if bound == 0.0:
        return  # all images identical: a zero covariance is a valid one
    try:
        scipy.linalg.cholesky(sigma + PSD_RTOL * bound * np.eye(sigma.shape[0]), lower=True, check_finite=False)
        return
    except np.linalg.LinAlgError:
        pass
    w = scipy.linalg.eigvalsh(sigma, driver="evd", check_finite=False)  # only on the way to the error
    raise DataError(f"{path}: sigma is not positive semi-definite (smallest eigenvalue {w[0]:.3g}, largest "
                    f"magnitude {np.abs(w).max():.3g}), so it is not a covariance; recompute the statistics")


def is_stats_file(src: Any) -> bool:
    return isinstance(src, (str, os.PathLike)) and str(src).endswith(".npz") and ":" not in os.path.basename(str(src)) \
        and _has_mu(src)


def _has_mu(path: Any) -> bool:
    # Either array marks a statistics file: one that lacks the other is then refused by
    # `load_stats` for what it lacks, instead of being read as an image array.
    try:
        with np.load(path, allow_pickle=False) as z:
            return "mu" in z or "sigma" in z
    except Exception:
        return False
