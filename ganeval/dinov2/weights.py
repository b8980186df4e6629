"""DINOv2 weights: the official hub checkpoints (or timm's copy), found offline, loaded without unpickling.

Layouts accepted (`map_state`):

* ``dinov2-hub``: ``dinov2_vitl14_pretrain.pth`` / ``dinov2_vitb14_pretrain.pth`` as
  ``torch.hub.load('facebookresearch/dinov2', ...)`` downloads them: ``cls_token``,
  ``pos_embed`` (1 + 37*37 rows), ``mask_token``, ``patch_embed.proj.*``,
  ``blocks.N.{norm1,attn.qkv,attn.proj,ls1.gamma,norm2,mlp.fc1,mlp.fc2,ls2.gamma}``, ``norm.*``;
* ``timm``: a state dict of timm's ``vit_large_patch14_dinov2.lvd142m`` (or ``vit_base_...``):
  the same names, without ``mask_token`` (timm's ``_convert_dinov2`` drops it), which is then
  zero-filled; it is never used for features.

Every key must be consumed and every shape must match, else one-line `WeightsError`.  Files are
read with ``torch.load(weights_only=True)``; their sha256 goes into every result and cache key.

Discovery order: explicit path, ``$GANEVAL_DINOV2_WEIGHTS``, ganeval's cache dir, the torch hub
checkpoint dir (``$TORCH_HOME/hub/checkpoints``, where ``torch.hub`` and so dgm-eval keep
them).  Nothing is downloaded unless asked (``allow_download=True`` or `download`).  Meta
publishes no checksums for these files, so `download` records the sha256 it saw in a
``<file>.sha256`` beside the file (trust on first use) and later loads refuse a file that no
longer matches it; it is not an official hash.
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import torch

from ..errors import UsageError, WeightsError
from ..features.cache import cache_dir
from ..features.extractor import WeightsInfo
from ..io.fileio import sha256_of
from . import SHA_SUFFIX, file_name
from ..io.fileio import atomic_write_text, download as fetch
from .network import ARCHS, DINOv2Extractor, DinoVisionTransformer, ViTConfig, grid_of

BASE_URL = "https://dl.fbaipublicfiles.com/dinov2"
ENV = "GANEVAL_DINOV2_WEIGHTS"


@dataclasses.dataclass
class DINOv2WeightsInfo(WeightsInfo):
    """`WeightsInfo` plus the architecture (``has_logits`` is always False)."""

    model: str = ""


def config_of(model: str | ViTConfig) -> ViTConfig:
    if isinstance(model, ViTConfig):
        return model
    cfg = ARCHS.get(str(model).lower())
    if cfg is None:
        raise UsageError(f"unknown DINOv2 model {model!r}; choose from {', '.join(ARCHS)}")
    return cfg


def url(model: str) -> str:
    """The official download address (``_DINOV2_BASE_URL`` + ``/dinov2_vitl14/dinov2_vitl14_pretrain.pth``)."""
    return f"{BASE_URL}/dinov2_{model}/{file_name(model)}"


def _hub_dir() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints"


def candidates(model: str | ViTConfig = "vitl14", explicit: str | None = None) -> list[tuple[str, Path]]:
    """Every place searched, in order, as (source label, path)."""
    out: list[tuple[str, Path]] = []
    if explicit:
        out.append(("given file", Path(explicit)))
    if os.environ.get(ENV):
        out.append((f"${ENV}", Path(os.environ[ENV])))
    name = file_name(config_of(model).name)
    out += [("ganeval cache", cache_dir() / name), ("torch hub cache", _hub_dir() / name)]
    return out


def download(model: str = "vitl14", dest_dir: Path | None = None) -> Path:
    """Download the official checkpoint atomically and record its sha256 beside it (no official
    hash exists to check it against; the record lets later loads detect a changed file)."""
    cfg = config_of(model)
    dest = Path(dest_dir or cache_dir()) / file_name(cfg.name)
    try:
        digest = fetch(url(cfg.name), dest)
    except OSError as e:
        raise WeightsError(f"{e}; fetch it into {dest.parent} by hand or pass --dinov2-weights FILE") from None
    atomic_write_text(str(dest) + SHA_SUFFIX, digest + "\n")
    return dest


def locate(model: str | ViTConfig = "vitl14", explicit: str | None = None,
           allow_download: bool = False) -> tuple[Path, str]:
    """The weights file to use and where it was found, following the discovery order."""
    cfg = config_of(model)
    for label, p in candidates(cfg, explicit):
        if p.is_file():
            return p, label
        if label in ("given file", f"${ENV}"):
            raise WeightsError(f"{p}: DINOv2 weights file not found ({label})")
    if allow_download:
        return download(cfg.name), "download"
    searched = ", ".join(str(p) for _, p in candidates(cfg))
    raise WeightsError(f"no DINOv2 {cfg.name} weights found (searched {searched}; downloads are off); fetch "
                       f"{url(cfg.name)} there, pass --dinov2-weights FILE, or allow the download")


def _guess(dim: int) -> str:
    names = [c.name for c in ARCHS.values() if c.dim == dim]
    return f" (a {dim}-wide file: {names[0]}?)" if names else ""


def map_state(sd: Any, cfg: ViTConfig, path: Any) -> tuple[dict[str, torch.Tensor], str, int]:
    """Check a loaded state dict against `cfg`; return it in ganeval's names, its layout and pos grid."""
    if not isinstance(sd, dict) or not sd or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise WeightsError(f"{path}: not a DINOv2 state dict (expected a dict of tensors)")
    if any(k.startswith("embeddings.") for k in sd):
        raise WeightsError(f"{path}: Hugging Face transformers layout is not supported; use the official "
                           f"{file_name(cfg.name)} or timm's state dict")
    if "register_tokens" in sd or "reg_token" in sd:
        raise WeightsError(f"{path}: a DINOv2 'with registers' checkpoint; only the plain {cfg.name} is supported")
    fmt = "dinov2-hub" if "mask_token" in sd else "timm"
    pos = sd.get("pos_embed")
    grid = grid_of(pos.shape[1]) if pos is not None and pos.ndim == 3 else 0
    if not grid:
        raise WeightsError(f"{path}: pos_embed {tuple(pos.shape) if pos is not None else 'missing'} is not "
                           "1 + M*M position rows; not a DINOv2 checkpoint")
    state = {k: (v.float() if v.is_floating_point() else v) for k, v in sd.items()}
    if fmt == "timm":
        state["mask_token"] = torch.zeros(1, pos.shape[-1])
    with torch.device("meta"):  # shapes only: no memory, no init time (ViT-L is 304M parameters)
        want = DinoVisionTransformer(cfg, grid).state_dict()
    for k, v in want.items():
        if k in state and state[k].shape != v.shape:
            raise WeightsError(f"{path}: {k} has shape {tuple(state[k].shape)}, DINOv2 {cfg.name} expects "
                               f"{tuple(v.shape)}{_guess(pos.shape[-1])}")
    missing, unexpected = sorted(set(want) - set(state)), sorted(set(state) - set(want))
    if missing or unexpected:
        parts = [f"{what} {', '.join(ks[:3])}{f' and {len(ks) - 3} more' if len(ks) > 3 else ''}"
                 for what, ks in (("missing", missing), ("unexpected", unexpected)) if ks]
        raise WeightsError(f"{path}: not DINOv2 {cfg.name} weights ({'; '.join(parts)})")
    return state, fmt, grid


def load_dinov2(model: str | ViTConfig = "vitl14", weights: str | None = None, device: Any = None,
                allow_download: bool = False) -> tuple[DINOv2Extractor, DINOv2WeightsInfo]:
    """Find, check and load DINOv2 `model`; return the extractor and its `DINOv2WeightsInfo`."""
    cfg = config_of(model)
    path, source = locate(cfg, weights, allow_download)
    digest = sha256_of(path)
    record = Path(str(path) + SHA_SUFFIX)
    if record.is_file() and record.read_text().strip() != digest:
        raise WeightsError(f"{path}: sha256 {digest} differs from the {record.read_text().strip()} recorded in "
                           f"{record} at download; the file changed (re-download it, or delete {record.name})")
    try:
        sd = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise WeightsError(f"{path}: not a loadable weights file ({type(e).__name__}: {str(e).splitlines()[0]})") \
            from None
    state, fmt, grid = map_state(sd, cfg, path)
    vit = DinoVisionTransformer(cfg, grid)
    vit.load_state_dict(state, strict=True)
    net = DINOv2Extractor(vit, digest)
    if device is not None:
        net = net.to(device)
    return net.eval(), DINOv2WeightsInfo(str(path), fmt, digest, False, source, cfg.name)
