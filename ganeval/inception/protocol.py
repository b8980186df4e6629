"""Inception protocols: each FID tool's path from decoded pixels to the network's input.

The same images give different FIDs in different tools because each one resizes and
normalises them its own way before the same 2015-12-05 network.  A protocol is that rule:

* ``tf1`` (default): TF1's ``resize_bilinear`` (no half-pixel offset) of the uint8 values to
  299x299, then ``(x - 128) / 128`` -- the original TF FID/IS code, torch-fidelity, and
  stylegan2-ada's TorchScript net;
* ``clean``: clean-fid 0.1.35's ``mode="clean"``: each channel as a float32 PIL image
  (mode ``F``) resized with Pillow's antialiased bicubic to 299x299 and clipped to [0, 255]
  (no quantisation), then ``(x - 128) / 128``;
* ``pytorch-fid``: pytorch-fid 0.3.0: ``ToTensor`` (x / 255 in float32), torch's bilinear
  ``interpolate`` with half-pixel centres (``align_corners=False``, no antialiasing) to
  299x299, then ``2 * x - 1``;
* ``torchmetrics``: torchmetrics 1.9.0's FID, KID and IS by default (``antialias=True``, new
  in its 1.x line): torch's *antialiased* bilinear ``interpolate`` of the uint8 values as
  float32 to 299x299, then ``(x - 128) / 128``.  With ``antialias=False`` torchmetrics' FID
  runs torch-fidelity's TF1 resize, which is ``tf1``.

Decoding is shared: every tool opens files with ``PIL.Image.open(p).convert("RGB")``, which
is what ganeval's sources give for 8-bit images (see README, Inception protocols).
Everything runs on the images' device; the ops are the tools' own, in their order, in float32.
"""
from __future__ import annotations

import dataclasses
from typing import Callable

import torch
import torch.nn.functional as F

from ..errors import UsageError
from ..resample import pil_coeffs
from .names import DEFAULT, PROTOCOL_NAMES
from .resize import resize_tf1_bilinear

INPUT_SIZE = 299


@dataclasses.dataclass(frozen=True)
class Protocol:
    """One tool's preprocessing: `name` (the option value), `resize` (the id recorded in
    results and statistics files), `tool` (whose numbers it reproduces) and `prepare`
    (uint8 RGB NCHW on any device -> float32 normalised 299x299 network input)."""

    name: str
    resize: str
    tool: str
    prepare: Callable[[torch.Tensor], torch.Tensor]


def _tf1(images: torch.Tensor) -> torch.Tensor:
    x = resize_tf1_bilinear(images.float(), (INPUT_SIZE, INPUT_SIZE))
    return x.sub(128.0).div_(128.0)


def _clean(images: torch.Tensor) -> torch.Tensor:
    # Pillow's float path: double weights, each pass stored as float32, width first.  The
    # products run in float32 (without TF32, see `device.exact_matmul` in the caller); the
    # difference to double accumulation is float rounding, far below FID's 1e-4.
    x = images.float()
    h, w = x.shape[-2:]
    if w != INPUT_SIZE:
        x = x @ pil_coeffs(w, INPUT_SIZE, False).T.to(x.device, torch.float32)
    if h != INPUT_SIZE:
        x = pil_coeffs(h, INPUT_SIZE, False).to(x.device, torch.float32) @ x
    x = x.clamp_(0.0, 255.0)  # clean-fid clips after the resize (np.clip), before normalising
    return (x - 128) / 128


def _pytorch_fid(images: torch.Tensor) -> torch.Tensor:
    x = images.float().div(255)
    if tuple(x.shape[-2:]) != (INPUT_SIZE, INPUT_SIZE):  # pytorch-fid interpolates unconditionally;
        # at 299 torch's interpolate is the identity, so skipping it changes nothing
        x = F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False)
    return 2 * x - 1


def _torchmetrics(images: torch.Tensor) -> torch.Tensor:
    x = images.float()
    if tuple(x.shape[-2:]) != (INPUT_SIZE, INPUT_SIZE):
        x = F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False, antialias=True)
    return (x - 128) / 128


PROTOCOLS: dict[str, Protocol] = {p.name: p for p in (
    Protocol("tf1", "tf1-bilinear-299", "torch-fidelity 0.4.0, TF1 FID/IS code, stylegan2-ada, torchmetrics with "
             "antialias=False", _tf1),
    Protocol("clean", "pil-bicubic-float-299", "clean-fid 0.1.35 mode='clean'", _clean),
    Protocol("pytorch-fid", "torch-bilinear-299", "pytorch-fid 0.3.0", _pytorch_fid),
    Protocol("torchmetrics", "torch-bilinear-antialias-299", "torchmetrics 1.9.0 (antialias=True, its default)",
             _torchmetrics),
)}
if tuple(PROTOCOLS) != PROTOCOL_NAMES:  # names.py is what the CLI offers; it must say the same
    raise ImportError(f"ganeval.inception.names lists {PROTOCOL_NAMES}, protocol.py defines {tuple(PROTOCOLS)}")


def get_protocol(name: str | None) -> Protocol:
    """The protocol called `name` (None: the default, ``tf1``); a `UsageError` lists the valid ones."""
    if name is None:
        name = DEFAULT
    try:
        return PROTOCOLS[name]
    except (KeyError, TypeError):
        raise UsageError(f"unknown Inception protocol {name!r}; choose one of {', '.join(PROTOCOLS)}") from None
