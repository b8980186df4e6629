"""What the Inception metrics (FID, IS, KID, PR) share: one network, `FeatureStats` sides.

Each metric's streaming object runs its batches through the 2015-12-05 Inception and
accumulates a `FeatureStats` per side; its one-shot function instead extracts both sides with
`ganeval.inception.features.extract` (one cached pass per set) and hands the statistics to the same
object with `load`, so both paths build their result with the same `*_from_stats` function.
"""
from __future__ import annotations

import time
from typing import Any

import torch

from ..device import resolve_device
from ..errors import DataError
from ..inception.protocol import DEFAULT as DEFAULT_PROTOCOL, get_protocol
from ..features.stats import FeatureStats, load_stats
from .base import StreamingMetric
from .uncertainty import FeatureBootstrap, check_count


class InceptionMetric(FeatureBootstrap, StreamingMetric):
    """Streaming base of the Inception metrics (see the module docstring)."""

    keep_features = keep_logits = False

    def __init__(self, weights: str | None = None, device: Any = None, seed: int = 0, *, bootstrap: int = 0,
                 protocol: str = DEFAULT_PROTOCOL) -> None:
        self.weights, self.device, self.seed = weights, resolve_device(device), seed
        self.protocol = get_protocol(protocol).name
        self.bootstrap = check_count(bootstrap, "bootstrap")
        # The bootstrap resamples rows, so FID (moments only otherwise) keeps its features;
        # IS resamples its logits.
        self.keep_features = type(self).keep_features or bool(self.bootstrap and not self.keep_logits)
        self.info = None
        super().__init__()

    def _new(self, real: bool) -> FeatureStats:
        stats = FeatureStats(keep_features=self.keep_features, keep_logits=self.keep_logits)
        stats.protocol = self.protocol
        return stats

    def _network(self):
        from ..inception.features import inception
        from ..inception.weights import no_logits_error
        model, self.info = inception(self.weights, self.device)
        if self.keep_logits and not self.info.has_logits:
            raise no_logits_error(self.info)  # at the first batch, saying where to get the layer
        return model

    def _accumulate(self, acc: FeatureStats, images: torch.Tensor, start: int | None = None) -> None:
        pool, logits = self._network()(images.to(self.device), with_logits=self.keep_logits, protocol=self.protocol)
        acc.update(pool, logits, start=start)

    def set_real_stats(self, path: str, allow_weights_mismatch: bool = False) -> None:
        """Use a saved statistics ``.npz`` (mu, sigma) as the real side; one made with other
        Inception weights is refused unless `allow_weights_mismatch`."""
        self._network()
        self.real = load_stats(path, weights_sha256=self.info.sha256, allow_weights_mismatch=allow_weights_mismatch,
                               protocol=self.protocol)
        self._real_synced = True
        self.real_ready = True

    def measure_real(self, real: Any, **extract_kw: Any) -> None:
        """Take the real side from `extract` (one cached pass; `extract_kw` go to it), so a
        training run's `Evaluator` and ``ganeval fid`` on the same set share one cache entry."""
        from ..inception.features import extract
        self.real, self.info = extract(real, features=self.keep_features, weights=self.weights, device=self.device,
                                       seed=self.seed, protocol=self.protocol, **extract_kw)
        self._real_synced = True  # under torchrun rank 0 holds the merged set, the others an empty one
        self.real_ready = True

    def load(self, real: FeatureStats | None, fake: FeatureStats, info: Any) -> None:
        """Take already extracted statistics for both sides (the one-shot path)."""
        if real is not None:
            self.real, self._real_synced = real, True
        self.fake, self.info = fake, info

    def measure(self, real: Any, fake: Any, **extract_kw: Any) -> Any:
        """The one-shot path: extract what this metric keeps from each set it needs (real
        first, one cached pass each), `load` it, and return `compute()` with its wall time
        (None on ranks other than 0 under torchrun).  `extract_kw` go to `extract`.
        With `bootstrap` B (the constructor's), the result carries error bars from B resamples
        of the extracted features (`ganeval.metrics.uncertainty`)."""
        from ..inception.features import extract
        from ..features.stats import is_stats_file
        t0 = time.time()
        self.ask(extract_kw.get("num_images"))
        kw = dict(features=self.keep_features, weights=self.weights, device=self.device, seed=self.seed,
                  protocol=self.protocol, **extract_kw)
        # A mu/sigma file as the real side of a bootstrapped FID stays fixed (the bootstrap
        # resamples the fakes and says so); only metrics whose value needs rows ask it for them.
        real_kw = dict(kw, features=type(self).keep_features) if is_stats_file(real) else kw
        real_stats = extract(real, **real_kw)[0] if self.uses_real else None
        fake_stats, info = extract(fake, logits=self.keep_logits, **kw)
        self.load(real_stats, fake_stats, info)
        result = self.compute()
        if result is not None:
            result.seconds = time.time() - t0
        return result

    def compute(self):
        if self.info is None:
            self._network()  # the weights' identity is part of every result
        return super().compute()


def protocol_settings(*sides: FeatureStats) -> dict[str, str]:
    """The ``protocol`` and ``resize`` entries of an Inception result's settings, from the
    statistics it was computed on; sides made under different protocols are a `DataError`
    (their distance would compare two preprocessing pipelines, not two image sets)."""
    known = {s.protocol for s in sides if s is not None and s.protocol is not None}
    if len(known) > 1:
        raise DataError(f"the two sides were made under different Inception protocols ({' and '.join(sorted(known))}); "
                        "measure both with the same --protocol")
    if not known:
        return {"protocol": "unknown", "resize": "unknown"}
    p = get_protocol(known.pop())
    return {"protocol": p.name, "resize": p.resize}
