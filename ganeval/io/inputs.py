"""How a result names its inputs: path as given, absolute path and fingerprint.

A path input (folder, zip, array file, statistics ``.npz``) is recorded with the fingerprint
ganeval keys its statistics cache by (`ImageSource.fingerprint`: file names, sizes and mtimes,
or every byte with ``--content-hash``), so a result can be matched to the exact files it
measured.  A statistics file is fingerprinted by the sha256 of its bytes.  In-memory inputs
(arrays, tensors, datasets, generators) have no path and are named by their type only:
hashing a whole array again only to name it would cost as much as reading it.
"""
from __future__ import annotations

import os
from typing import Any

from .fileio import sha256_of
from .sources import ImageSource

__all__ = ["input_record"]


def input_record(arg: Any, source: ImageSource | None = None, fingerprint: str | None = None,
                 content: bool = False) -> dict[str, Any]:
    """The provenance record of one input `arg` (what the user passed), opened as `source`.

    `fingerprint` is used when the caller already has it (the cache computed it); otherwise a
    path input's is computed from `source` (`content`: from every byte), or, for a regular
    file given without a source (a statistics ``.npz``), as the sha256 of its bytes.  Returns
    ``{"path", "resolved", "fingerprint", "fingerprint_of"}`` for paths and ``{"path": None,
    "type": ...}`` for in-memory inputs."""
    if not isinstance(arg, (str, os.PathLike)):
        return {"path": None, "type": type(arg).__name__}
    path = os.fspath(arg)
    kind = "content" if content else "metadata"
    if fingerprint is None and source is not None:
        fingerprint = source.fingerprint(content=content)
    elif fingerprint is None and os.path.isfile(path):
        fingerprint, kind = sha256_of(path), "content"
    return {"path": path, "resolved": os.path.abspath(path), "fingerprint": fingerprint,
            "fingerprint_of": kind if fingerprint is not None else None}

