"""LPIPS-VGG16 weights: a local VGG16 backbone file and the ``lpips`` wheel's linear layers.

Backbone (`locate_vgg16`): the given file, ``$GANEVAL_LPIPS_WEIGHTS``, then the torch hub
cache (``$TORCH_HOME/hub/checkpoints/vgg16-397923af.pth``, where torchvision keeps the
ImageNet VGG16 that LPIPS, torch-fidelity and torchmetrics use).  Nothing is downloaded.  The
file must be a state dict in torchvision's layout: ``features.N.weight`` / ``features.N.bias``
for the 13 convolutions (``classifier.*`` and anything past relu5_3 is ignored).

Linear layers (`locate_lin`): the given file, else ``lpips/weights/v0.1/vgg.pth`` of the
installed ``lpips`` package (``pip install --no-deps lpips==0.1.4``), found through
``importlib.util.find_spec`` without importing ``lpips`` (which imports torchvision).  Keys
``linK.model.1.weight`` (the package's, dropout in front) or ``linK.model.0.weight``, shapes
(1, C, 1, 1).  torchmetrics ships the same file (sha256 a78928a0...).

Both are read with ``torch.load(weights_only=True)``; wrong keys or shapes are one-line
`WeightsError`s; the sha256 of both files goes into every result.
"""
from __future__ import annotations

import dataclasses
import importlib.util
import os
from pathlib import Path
from typing import Any

import torch

from ..errors import WeightsError
from ..io.fileio import sha256_of
from .network import CHANNELS, LPIPS, VGG16_CONV

__all__ = ["ENV", "VGG16_FILE", "LPIPSWeightsInfo", "locate_vgg16", "locate_lin", "load_lpips"]

ENV = "GANEVAL_LPIPS_WEIGHTS"
VGG16_FILE = "vgg16-397923af.pth"  # torchvision's IMAGENET1K_V1 file name
LIN_IN_WHEEL = ("weights", "v0.1", "vgg.pth")
OFFICIAL_LIN_SHA256 = "a78928a0af1e5f0fcb1f3b9e8f8c3a2a5a3de244d830ad5c1feddc79b8432868"


@dataclasses.dataclass
class LPIPSWeightsInfo:
    """Where the two files came from and their sha256 (recorded in results)."""

    vgg16_path: str
    vgg16_sha256: str
    vgg16_source: str
    lin_path: str
    lin_sha256: str

    def settings(self) -> dict[str, Any]:
        return {"lpips": "vgg16-v0.1", "lpips_vgg16_sha256": self.vgg16_sha256,
                "lpips_lin_sha256": self.lin_sha256}


def _hub_file() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / VGG16_FILE


def locate_vgg16(explicit: str | os.PathLike | None = None) -> tuple[Path, str]:
    """The VGG16 backbone file and where it was found (given file, $ENV, torch hub cache)."""
    if explicit:
        p = Path(explicit)
        if not p.is_file():
            raise WeightsError(f"{p}: VGG16 weights file for LPIPS not found (--lpips-weights)")
        return p, "given file"
    if os.environ.get(ENV):
        p = Path(os.environ[ENV])
        if not p.is_file():
            raise WeightsError(f"{p}: VGG16 weights file for LPIPS not found (${ENV})")
        return p, f"${ENV}"
    hub = _hub_file()
    if hub.is_file():
        return hub, "torch hub cache"
    raise WeightsError(f"no VGG16 weights for LPIPS: pass --lpips-weights FILE or set ${ENV} to torchvision's "
                       f"{VGG16_FILE} (ImageNet VGG16 state dict), or put it in {hub.parent}")


def locate_lin(explicit: str | os.PathLike | None = None) -> Path:
    """The LPIPS linear-layer file: the given one, else the installed ``lpips`` wheel's."""
    if explicit:
        p = Path(explicit)
        if not p.is_file():
            raise WeightsError(f"{p}: LPIPS linear-layer weights file not found")
        return p
    spec = importlib.util.find_spec("lpips")  # locates the package; does not run its __init__
    for root in (spec.submodule_search_locations or []) if spec is not None else []:
        p = Path(root).joinpath(*LIN_IN_WHEEL)
        if p.is_file():
            return p
    raise WeightsError("LPIPS linear-layer weights not found: install them with "
                       "`pip install --no-deps lpips==0.1.4` (its lpips/weights/v0.1/vgg.pth), or pass the file")


def _load(path: Path, what: str) -> dict[str, torch.Tensor]:
    try:
        sd = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise WeightsError(f"{path}: not a loadable {what} file ({type(e).__name__}: "
                           f"{str(e).splitlines()[0] if str(e) else ''})") from None
    if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise WeightsError(f"{path}: not a {what} state dict (expected a dict of tensors)")
    return sd


def _take(sd: dict[str, torch.Tensor], key: str, shape: tuple[int, ...], path: Path, what: str) -> torch.Tensor:
    v = sd.get(key)
    if v is None:
        raise WeightsError(f"{path}: {key} missing; not {what}")
    if tuple(v.shape) != shape:
        raise WeightsError(f"{path}: {key} has shape {tuple(v.shape)}, {what} expects {shape}")
    return v.float()


def vgg16_state(sd: dict[str, torch.Tensor], path: Path) -> dict[str, torch.Tensor]:
    """The 13 convolutions of a torchvision-layout VGG16 state dict, in ganeval's names."""
    if not any(k.startswith("features.") for k in sd):
        hint = " (an LPIPS linear-layer file? give it as the linear weights)" if any(
            k.startswith("lin0") for k in sd) else ""
        raise WeightsError(f"{path}: no features.N.* keys; expected torchvision's VGG16 state dict "
                           f"({VGG16_FILE} layout){hint}")
    out = {}
    for i, cin, cout in VGG16_CONV:
        what = "torchvision's VGG16"
        out[f"features.{i}.weight"] = _take(sd, f"features.{i}.weight", (cout, cin, 3, 3), path, what)
        out[f"features.{i}.bias"] = _take(sd, f"features.{i}.bias", (cout,), path, what)
    return out


def lin_state(sd: dict[str, torch.Tensor], path: Path) -> dict[str, torch.Tensor]:
    """The five 1x1 linear layers (``linK.model.1.weight`` or ``linK.model.0.weight``)."""
    out = {}
    for k, c in enumerate(CHANNELS):
        key = next((f"lin{k}.model.{j}.weight" for j in (1, 0) if f"lin{k}.model.{j}.weight" in sd),
                   f"lin{k}.model.1.weight")
        out[f"lin{k}"] = _take(sd, key, (1, c, 1, 1), path, "LPIPS-VGG16 linear layers")
    return out


def load_lpips(vgg16: str | os.PathLike | None = None, lin: str | os.PathLike | None = None, device: Any = None,
               resize: int | None = None, scaling: str = "lpips") -> tuple[LPIPS, LPIPSWeightsInfo]:
    """Find, check and load LPIPS-VGG16; return the network (eval mode) and its `LPIPSWeightsInfo`
    (`resize` and `scaling`: see `LPIPS`)."""
    vpath, source = locate_vgg16(vgg16)
    lpath = locate_lin(lin)
    state = {**vgg16_state(_load(vpath, "VGG16 weights"), vpath),
             **lin_state(_load(lpath, "LPIPS linear-layer weights"), lpath)}
    net = LPIPS(resize, scaling)
    net.load_state_dict(state, strict=True)
    info = LPIPSWeightsInfo(str(vpath), sha256_of(vpath), source, str(lpath), sha256_of(lpath))
    net.weights_sha256 = {"vgg16": info.vgg16_sha256, "lin": info.lin_sha256}
    if device is not None:
        net = net.to(device)
    return net.eval(), info
