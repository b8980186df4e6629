"""Inception names needed without torch: the CLI's ``--protocol`` choices and the weights
file names this package owns in ganeval's cache dir.

`ganeval.inception.protocol` defines each protocol and checks, on import, that its names
are these, in this order; the command lines read them from here so that ``--help`` does
not import torch.
"""
from __future__ import annotations

PROTOCOL_NAMES: tuple[str, ...] = ("tf1", "clean", "pytorch-fid", "torchmetrics")
DEFAULT = "tf1"

# The file torch-fidelity publishes (downloaded by ``ganeval weights --download``), and the
# suffix of weights ganeval converted into the same layout.
TORCH_FIDELITY_FILE = "weights-inception-2015-12-05-6726825d.pth"
CONVERTED_SUFFIX = ".ganeval.pth"


def owns(file_name: str) -> bool:
    """Whether a file in ganeval's cache dir is Inception weights that ganeval put there."""
    return file_name.endswith(CONVERTED_SUFFIX) or file_name == TORCH_FIDELITY_FILE
