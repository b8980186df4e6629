"""The Inception protocols' names, without torch: the CLI's ``--protocol`` choices.

`ganeval.inception.protocol` defines each protocol and checks, on import, that its names
are these, in this order; the command lines read them from here so that ``--help`` does
not import torch.
"""
from __future__ import annotations

PROTOCOL_NAMES: tuple[str, ...] = ("tf1", "clean", "pytorch-fid", "torchmetrics")
DEFAULT = "tf1"
