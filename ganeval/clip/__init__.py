"""CLIP image embeddings as a feature extractor (FD_CLIP, CMMD).

Registers itself as the ``clip`` feature extractor (`ganeval.features.registry`): OpenAI's CLIP
ViT image encoders (`network`, a compact re-implementation that loads OpenAI's checkpoints key
for key), torch-fidelity's preprocessing for FD_CLIP and the CMMD reference's for CMMD
(`preprocess`), and the weights loader (`weights`: OpenAI's TorchScript ``.pt`` files, which
torch-fidelity also reads, converted once into a plain state dict, or such a state dict).
The default model is ViT-B/32, the one clean-fid (``clip_vit_b_32``) and Kynkäänniemi et al.
(2023) use for FD_CLIP; ViT-L/14 and ViT-L/14@336 (CMMD's) are reported under their own keys
(``FD_CLIP_vitl14``).  The metrics are `ganeval.metrics.fd` and `ganeval.metrics.cmmd`.
"""
from __future__ import annotations

from importlib import import_module
from typing import Any

from ..features.registry import ExtractorSpec, register_extractor
from ..lazy import LazyRef

MODELS = ("vitb32", "vitl14", "vitl14-336")  # the first is FD_CLIP's default
CMMD_MODEL = "vitl14-336"  # Jayasumana et al. 2024
# OpenAI's published checkpoints: file name and sha256 (the hash is part of OpenAI's download
# address, and torch-fidelity's cached copy is named clip-<arch>-<hash>.pt after it).
PUBLISHED = {
    "vitb32": ("ViT-B-32.pt", "clip-vit-b-32", "40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af"),
    "vitl14": ("ViT-L-14.pt", "clip-vit-l-14", "b8cca3fd41ae0c99ba7e8951adf17d267cdb84cd88be6f7c2e0eca1737a03836"),
    "vitl14-336": ("ViT-L-14-336px.pt", "clip-vit-l-14-336px",
                   "3035c92b350959924f9f00213499208652fc7ea050643e8b385c2dac08641f02"),
}
CONVERTED_SUFFIX = ".clip-state.pt"


def owns(name: str) -> bool:
    """Whether a file in ganeval's cache dir is CLIP weights ganeval put there (a download of
    OpenAI's file, or a TorchScript file converted to a state dict)."""
    return name.endswith(CONVERTED_SUFFIX) or any(name == f for f, _, _ in PUBLISHED.values())


_LAZY = {"ARCHS": "network", "CLIPConfig": "network", "CLIPExtractor": "network", "VisionTransformer": "network",
         "CLIP_MEAN": "preprocess", "CLIP_STD": "preprocess", "PREPROCESSING": "preprocess",
         "CLIPWeightsInfo": "weights", "load_clip": "weights"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = sorted(_LAZY)

register_extractor(ExtractorSpec(
    "clip", "CLIP ViT image embedding, torch-fidelity preprocessing (FD_CLIP)", LazyRef(f"{__name__}.features:load"),
    models=MODELS, owns=owns))
