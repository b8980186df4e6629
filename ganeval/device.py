"""Device selection shared by every metric, the command lines and the trainer."""
from __future__ import annotations

import contextlib
import os
from typing import Any, Iterator

import torch

from .errors import UsageError

# Metrics need real storage and kernels for every op they use; 'meta' tensors have no data and
# the other backends torch can name (xla, hpu, ...) are untested here, so they are refused up
# front instead of failing halfway through a long run.
RUNNABLE = ("cpu", "cuda", "mps")


def validate_device(spec: Any, what: str = "--device") -> torch.device:
    """`spec` as a torch.device that can run metrics here, or `UsageError` saying why not.

    None means the default (CUDA when available, else CPU).  `what` names the option in the
    message, so a command line can report its own flag.  Nothing is allocated on the device.
    """
    if spec is None:
        spec = "cuda" if torch.cuda.is_available() else "cpu"
    if not isinstance(spec, (str, torch.device)):
        raise UsageError(f"{what} {spec!r}: not a device name; use cpu, cuda, cuda:N or mps")
    try:
        dev = torch.device(spec)
    except (RuntimeError, ValueError):
        raise UsageError(f"{what} {str(spec)!r}: not a torch device; use cpu, cuda, cuda:N or mps") from None
    shown = repr(str(spec))
    if dev.type not in RUNNABLE:
        raise UsageError(f"{what} {shown}: ganeval cannot run metrics on '{dev.type}' devices; use cpu, cuda or mps")
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise UsageError(f"{what} {shown}: CUDA is not available (torch {torch.__version__}); use cpu, or a "
                             "CUDA build of torch on a machine with an NVIDIA GPU")
        count = torch.cuda.device_count()
        if dev.index is None and int(os.environ.get("WORLD_SIZE", "1")) > 1:
            # Under torchrun each process takes its own GPU: cuda means cuda:LOCAL_RANK.
            dev = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")) % max(count, 1))
        if dev.index is not None and dev.index >= count:
            raise UsageError(f"{what} {shown}: CUDA device {dev.index} does not exist; this machine has "
                             f"{count} (cuda:0 to cuda:{count - 1})")
    if dev.type == "mps":
        if not torch.backends.mps.is_available():
            raise UsageError(f"{what} {shown}: MPS (Apple GPU) is not available on this machine; use cpu")
        if dev.index not in (None, 0):
            raise UsageError(f"{what} {shown}: there is only one MPS device; use mps")
    return dev


def resolve_device(device: Any = None) -> torch.device:
    """The device to run on: the given one, else CUDA when available, else CPU.

    Checked with `validate_device`, so a device that cannot run fails before any image is read.
    """
    return validate_device(device, what="device")


@contextlib.contextmanager
def exact_matmul(device: torch.device) -> Iterator[None]:
    """Full float32 matrix products and convolutions on CUDA for the duration, restoring the
    caller's settings afterwards (TF32 would cost parity digits)."""
    if device.type != "cuda":
        yield
        return
    old = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = old
