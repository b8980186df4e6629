"""`Extractor`: what the generic feature machinery needs to know about one loaded network."""
from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:  # registering an extractor needs no torch
    import torch

__all__ = ["Extractor", "WeightsInfo"]


@dataclasses.dataclass
class WeightsInfo:
    """Where an extractor's weights came from and what they support (packages subclass it)."""

    path: str
    format: str
    sha256: str
    has_logits: bool
    source: str


def _accept(path: Any, stats: Any) -> Any:
    return stats


@dataclasses.dataclass(frozen=True)
class Extractor:
    """One loaded feature network, as `extract_features` and the metrics use it.

    `forward(batch, with_logits)` maps uint8 RGB NCHW images on the device to ``(features,
    logits or None)``, preprocessing included; `id` names the network, the layer and the
    preprocessing (it keys the cache and is recorded in the statistics files it writes);
    `sha256` identifies its weights.  `label` names its Frechet distance (``FD_<label>``,
    ``fd_<label lower>``) and `settings` is what every result made with it records (network,
    layer, resize, normalisation, weights sha256 and format).  `check` vets statistics read
    from a file (beyond width, weights hash and protocol) and returns them; `protocol` is the
    preprocessing protocol statistics record and files must match (Inception's; None else).
    """

    name: str
    id: str
    dim: int
    sha256: str
    forward: Callable[[torch.Tensor, bool], tuple[torch.Tensor, torch.Tensor | None]]
    label: str = ""
    settings: dict[str, Any] = dataclasses.field(default_factory=dict)
    has_logits: bool = False
    num_logits: int | None = None
    check: Callable[[Any, Any], Any] = _accept
    protocol: str | None = None
    info: Any = None  # the package's own weights record (`WeightsInfo` or a subclass)
