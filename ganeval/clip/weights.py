"""CLIP weights: OpenAI's checkpoints (or a plain state dict of them), found offline.

Formats (`WeightsInfo.format`):

* ``openai-torchscript``: OpenAI's published ``ViT-B-32.pt`` / ``ViT-L-14.pt`` /
  ``ViT-L-14-336px.pt``, TorchScript archives, which is what torch-fidelity's
  ``feature_extractor_weights_path`` takes (it calls ``torch.jit.load``).  A TorchScript archive
  cannot be read with ``torch.load(weights_only=True)``, so it is opened once with
  ``torch.jit.load`` and its ``visual.*`` tensors are written to ganeval's cache as a plain
  state dict (``<name>-<sha256[:12]>.clip-state.pt``); every later load is
  ``torch.load(weights_only=True)``.  ``torch.jit.load`` runs only on a file the user named
  (``--clip-weights`` / ``weights=`` / ``$GANEVAL_CLIP_WEIGHTS``) or, found by the search, one
  whose sha256 is OpenAI's published hash for it.
* ``state-dict``: ``torch.save`` of OpenAI's key layout (the whole CLIP, or only its
  ``visual.*`` keys, with or without the ``visual.`` prefix), read with ``weights_only=True``.

As torch-fidelity (and OpenAI's ``build_model``) does, the convolution, attention and MLP
weights and biases are rounded to float16 and back before use; OpenAI's files already store
them in float16, so for them this changes nothing.  Everything else is used in float32.  Every
key must be consumed and the architecture must be the requested model's, else one-line
`WeightsError`.  The sha256 of the file as found is recorded in every result and cache key.

Discovery order: explicit path, ``$GANEVAL_CLIP_WEIGHTS``, ganeval's cache dir (OpenAI's file
name), the torch hub checkpoint dir (torch-fidelity's download, ``clip-vit-b-32-<hash>.pt``),
``~/.cache/clip`` (the ``clip`` package's).  Nothing is downloaded unless asked; a download is
checked against OpenAI's published sha256.
"""
from __future__ import annotations

import dataclasses
import os
import warnings
import zipfile
from pathlib import Path
from typing import Any

import torch

from ..errors import UsageError, WeightsError
from ..features.cache import cache_dir, warn_cache_unwritable
from ..features.extractor import WeightsInfo
from ..io.fileio import atomic_write, download as fetch, sha256_of
from . import CONVERTED_SUFFIX, PUBLISHED
from .network import ARCHS, CLIPConfig, CLIPExtractor, VisionTransformer, config_from_state

ENV = "GANEVAL_CLIP_WEIGHTS"
BASE_URL = "https://openaipublic.azureedge.net/clip/models"
USER_SOURCES = ("given file", f"${ENV}")
# Tensors torch-fidelity's convert_weights casts to float16 (Conv2d, Linear, MultiheadAttention).
_FP16_SUFFIXES = ("conv1.weight", "attn.in_proj_weight", "attn.in_proj_bias", "attn.out_proj.weight",
                  "attn.out_proj.bias", "mlp.c_fc.weight", "mlp.c_fc.bias", "mlp.c_proj.weight", "mlp.c_proj.bias")


@dataclasses.dataclass
class CLIPWeightsInfo(WeightsInfo):
    """`WeightsInfo` plus the architecture and whether the file is OpenAI's published one."""

    model: str = ""
    published: bool = False


def config_of(model: str | CLIPConfig) -> CLIPConfig:
    if isinstance(model, CLIPConfig):
        return model
    cfg = ARCHS.get(str(model).lower())
    if cfg is None:
        raise UsageError(f"unknown CLIP model {model!r}; choose from {', '.join(ARCHS)}")
    return cfg


def url(model: str) -> str:
    name, _, digest = PUBLISHED[model]
    return f"{BASE_URL}/{digest}/{name}"


def candidates(model: str | CLIPConfig = "vitb32", explicit: str | None = None) -> list[tuple[str, Path]]:
    """Every place searched, in order, as (source label, path)."""
    out: list[tuple[str, Path]] = []
    if explicit:
        out.append(("given file", Path(explicit)))
    if os.environ.get(ENV):
        out.append((f"${ENV}", Path(os.environ[ENV])))
    cfg = config_of(model)
    if cfg.name in PUBLISHED:
        name, tf_name, digest = PUBLISHED[cfg.name]
        out += [("ganeval cache", cache_dir() / name),
                ("torch hub cache", Path(torch.hub.get_dir()) / "checkpoints" / f"{tf_name}-{digest}.pt"),
                ("clip package cache", Path(os.path.expanduser("~")) / ".cache" / "clip" / name)]
    return out


def download(model: str = "vitb32", dest_dir: Path | None = None) -> Path:
    """Download OpenAI's checkpoint atomically, refusing it unless its sha256 is the published one."""
    name, _, digest = PUBLISHED[model]
    dest = Path(dest_dir or cache_dir()) / name
    try:
        fetch(url(model), dest, accept=lambda got: None if got == digest else f"not OpenAI's {digest}")
    except OSError as e:
        raise WeightsError(f"{e}; fetch it into {dest.parent} by hand or pass --clip-weights FILE") from None
    return dest


def locate(model: str | CLIPConfig = "vitb32", explicit: str | None = None,
           allow_download: bool = False) -> tuple[Path, str]:
    """The weights file to use and where it was found, following the discovery order."""
    cfg = config_of(model)
    for label, p in candidates(cfg, explicit):
        if p.is_file():
            return p, label
        if label in USER_SOURCES:
            raise WeightsError(f"{p}: CLIP weights file not found ({label})")
    if allow_download and cfg.name in PUBLISHED:
        return download(cfg.name), "download"
    searched = ", ".join(str(p) for _, p in candidates(cfg)) or "nowhere: no published file for this model"
    where = f"fetch {url(cfg.name)} there, " if cfg.name in PUBLISHED else ""
    raise WeightsError(f"no CLIP {cfg.name} weights found (searched {searched}; downloads are off); {where}pass "
                       f"--clip-weights FILE or set ${ENV}")


def is_torchscript(path: Path) -> bool:
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as z:
        return any(n.endswith("constants.pkl") or "/code/" in n for n in z.namelist())


def _visual(sd: Any, path: Any) -> dict[str, torch.Tensor]:
    """The image encoder's tensors of a loaded state dict, without the ``visual.`` prefix."""
    if not isinstance(sd, dict) or not sd or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise WeightsError(f"{path}: not a CLIP state dict (expected a dict of tensors)")
    if any(str(k).startswith(("vision_model.", "text_model.")) for k in sd):
        raise WeightsError(f"{path}: Hugging Face transformers layout is not supported; use OpenAI's checkpoint "
                           "(or a state dict in its key layout)")
    if any(str(k).startswith("visual.") for k in sd):
        return {k[len("visual."):]: v for k, v in sd.items() if k.startswith("visual.")}
    return dict(sd)


def _convert_torchscript(path: Path, digest: str) -> dict[str, torch.Tensor]:
    """The ``visual.*`` state of a TorchScript checkpoint, converted once and kept in the cache
    (in memory each process, after one warning, where the cache cannot be written)."""
    target = cache_dir() / f"{path.stem}-{digest[:12]}{CONVERTED_SUFFIX}"
    if target.is_file():
        return torch.load(target, map_location="cpu", weights_only=True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's notice that TorchScript is deprecated: not the user's concern
            module = torch.jit.load(str(path), map_location="cpu")
    except Exception as e:
        raise WeightsError(f"{path}: cannot load as TorchScript ({type(e).__name__}: {str(e).splitlines()[0]})") \
            from None
    state = {k: v.detach().clone() for k, v in _visual(dict(module.state_dict()), path).items()}
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(target, "wb") as f:
            torch.save(state, f)
    except OSError as e:
        warn_cache_unwritable(e)
    return state


def _read(path: Path, source: str, digest: str, published: bool) -> tuple[dict[str, torch.Tensor], str]:
    if is_torchscript(path):
        if source not in USER_SOURCES and not published:
            raise WeightsError(f"{path} (found via {source}) is a TorchScript archive whose sha256 {digest} is not "
                               "OpenAI's; ganeval opens TorchScript only for a file you name: pass --clip-weights")
        return _convert_torchscript(path, digest), "openai-torchscript"
    try:
        sd = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise WeightsError(f"{path}: not a loadable weights file ({type(e).__name__}: {str(e).splitlines()[0]})") \
            from None
    return _visual(sd, path), "state-dict"


def _describe(cfg: CLIPConfig) -> str:
    return f"width {cfg.width}, {cfg.layers} layers, {cfg.patch}px patches, {cfg.resolution}px input, " \
           f"{cfg.embed_dim}-d embedding"


def map_state(state: dict[str, torch.Tensor], cfg: CLIPConfig, path: Any) -> dict[str, torch.Tensor]:
    """Check an image-encoder state dict against `cfg`; return it in float32 with torch-fidelity's
    float16 rounding of the convolution, attention and MLP tensors."""
    found = config_from_state(state, cfg.name)
    if found is None:
        raise WeightsError(f"{path}: not a CLIP ViT image encoder (needs conv1.weight, positional_embedding, proj; "
                           "ResNet CLIP models are not supported)")
    if dataclasses.replace(found, name=cfg.name) != cfg:
        guess = [n for n, c in ARCHS.items() if dataclasses.replace(found, name=n) == c]
        raise WeightsError(f"{path}: CLIP {'/'.join(guess) or 'of another size'} ({_describe(found)}), not "
                           f"{cfg.name} ({_describe(cfg)}); pass --model {guess[0] if guess else '...'} or the "
                           f"{cfg.name} file")
    with torch.device("meta"):  # shapes only: no memory, no init time
        want = VisionTransformer(cfg).state_dict()
    missing, unexpected = sorted(set(want) - set(state)), sorted(set(state) - set(want))
    if missing or unexpected:
        parts = [f"{what} {', '.join(ks[:3])}{f' and {len(ks) - 3} more' if len(ks) > 3 else ''}"
                 for what, ks in (("missing", missing), ("unexpected", unexpected)) if ks]
        raise WeightsError(f"{path}: not CLIP {cfg.name} weights ({'; '.join(parts)})")
    out = {}
    for k, v in state.items():
        if v.shape != want[k].shape:
            raise WeightsError(f"{path}: {k} has shape {tuple(v.shape)}, CLIP {cfg.name} expects "
                               f"{tuple(want[k].shape)}")
        if not v.is_floating_point():
            raise WeightsError(f"{path}: {k} holds {v.dtype} values, not floating-point weights")
        out[k] = (v.to(torch.float16) if k.endswith(_FP16_SUFFIXES) else v).to(torch.float32)
    return out


def load_clip(model: str | CLIPConfig = "vitb32", weights: str | None = None, device: Any = None,
              allow_download: bool = False, preprocessing: str = "torch-fidelity"
              ) -> tuple[CLIPExtractor, CLIPWeightsInfo]:
    """Find, check and load CLIP `model`; return the extractor and its `CLIPWeightsInfo`."""
    cfg = config_of(model)
    path, source = locate(cfg, weights, allow_download)
    digest = sha256_of(path)
    published = cfg.name in PUBLISHED and digest == PUBLISHED[cfg.name][2]
    state, fmt = _read(path, source, digest, published)
    with torch.device("meta"):  # the file supplies every tensor: no random init (ViT-L is 300M parameters)
        vit = VisionTransformer(cfg)
    vit.load_state_dict(map_state(state, cfg, path), strict=True, assign=True)
    net = CLIPExtractor(vit, digest, preprocessing)
    if device is not None:
        net = net.to(device)
    return net.eval(), CLIPWeightsInfo(str(path), fmt, digest, False, source, cfg.name, published)
