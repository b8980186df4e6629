"""Spatial FID, sFID (Nash et al. 2021), as the guided-diffusion evaluator computes it.

FID's Fréchet distance (`ganeval.metrics.fid.frechet_distance`) on other features of the same
2015-12-05 Inception: the TF graph's ``mixed_6/conv`` tensor (the ReLU output of the 1x1
branch of the fourth 17x17 block, ganeval's ``Mixed_6d.branch1x1``), its first 7 channels,
17x17 each, flattened in NHWC order into 2023 values per image.  These keep where things are
in the image, which pool3's average over positions discards.

The features come from the ``inception-sfid`` extractor (`ganeval.inception.features.
sfid_extractor`): one cached pass per set, keyed apart from pool3's, under the chosen
Inception `protocol`; only torch-fidelity's weights file is accepted.  The guided-diffusion
evaluator feeds its TF graph after the decoder, so ``tf1`` (the default) is its preprocessing.
"""
from __future__ import annotations

from typing import Any

from ..features.extractor import Extractor
from ..features.stats import FeatureStats, load_stats
from ..inception.protocol import DEFAULT as DEFAULT_PROTOCOL, get_protocol
from ..results import MetricResult
from .fd import FD
from .fid import frechet_distance_of_stats

__all__ = ["sfid", "sfid_from_stats", "SFID", "run_sfid"]


def sfid_from_stats(a: FeatureStats, b: FeatureStats, net: Extractor, seed: int = 0) -> MetricResult:
    """sFID between two sets' statistics of the ``inception-sfid`` extractor `net`."""
    value = frechet_distance_of_stats(a, b)
    return MetricResult("sfid", {"sFID": value}, "sFID", dict(net.settings), {"real": a.n, "fake": b.n}, seed)


class SFID(FD):
    """Streaming sFID: ``update(images, real=...)``; ``compute()`` gives ``sFID``."""

    name = "sfid"

    def __init__(self, weights: str | None = None, device: Any = None, seed: int = 0, *, bootstrap: int = 0,
                 protocol: str = DEFAULT_PROTOCOL) -> None:
        self.protocol = get_protocol(protocol).name  # before FD's constructor, which loads the network
        super().__init__(seed, device, None, weights, False, "inception-sfid", bootstrap=bootstrap)

    def _network(self) -> Extractor:
        if self.net is None:
            from ..inception.features import sfid_extractor
            self.net = sfid_extractor(self.weights, self.device, self.protocol)
            d = self.net.dim
            self.min_count = d
            self.minimum_note = (f"fewer than {d} images give a rank-deficient {d}x{d} covariance: sFID is biased "
                                 f"upward and not comparable with sFIDs on {d}+ images")
        return self.net

    def set_real_stats(self, path: str, allow_weights_mismatch: bool = False) -> None:
        """Use a saved statistics ``.npz`` of these features as the real side (same weights and protocol)."""
        net = self._network()
        self.real = load_stats(path, dim=net.dim, weights_sha256=net.sha256,
                               allow_weights_mismatch=allow_weights_mismatch, protocol=net.protocol)
        self._real_synced = True
        self.real_ready = True

    def _result(self, real: FeatureStats, fake: FeatureStats) -> MetricResult:
        return sfid_from_stats(real, fake, self._network(), self.seed)


def sfid(real: Any, fake: Any, *, weights: str | None = None, num_images: int | None = None, seed: int = 0,
         device: Any = None, batch_size: int = 64, cache: bool = True, quiet: bool = True, bootstrap: int = 0,
         protocol: str = DEFAULT_PROTOCOL, **kw: Any) -> MetricResult | None:
    """sFID between two image sets (either may be a statistics ``.npz`` of these features).

    `weights` is any Inception weights file (found as in `ganeval.inception.weights`; a
    TorchScript file is converted into the layer-by-layer network, mixed_6/conv included).
    `protocol` is the Inception preprocessing (`ganeval.inception.protocol`); ``bootstrap=B``
    adds error bars from B resamples of the extracted features.  Other keywords are
    `ganeval.features.extract_features`' (``workers``, ``content_hash``,
    ``allow_weights_mismatch`` and the `open_source` options).
    """
    metric = SFID(weights, device, seed, bootstrap=bootstrap, protocol=protocol)
    return metric.measure(real, fake, num_images=num_images, seed=seed, device=device, batch_size=batch_size,
                          cache=cache, quiet=quiet, **kw)


def run_sfid(real: Any, fake: Any, o) -> MetricResult | None:
    """The registry's runner for ``sfid`` (`RunOptions`, Inception weights and protocol included)."""
    return sfid(real, fake, bootstrap=o.bootstrap, **o.inception_kw())
