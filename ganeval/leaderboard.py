"""A leaderboard: many entries, one protocol, one ranked table, resumable.

Entries are image sets (anything `open_source` reads), reference-trainer checkpoints
(``*.pt``: N images are sampled from G_ema with a fixed seed) or run directories (their newest
checkpoint).  Every entry is measured against one reference set under one protocol: metrics,
image count, seed, ganeval version, the reference set's content fingerprint and (for Inception
metrics) the weights sha256.  The store directory keeps ``protocol.json`` and one result file
per finished entry, each written atomically, so a crash loses nothing finished and a rerun
skips what is done.  A store made under another protocol is refused: rankings across
protocols are meaningless.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from . import __version__
from .errors import DataError, UsageError
from .fileio import atomic_write_text
from .results import MetricResult
from .sources import open_source

__all__ = ["Entry", "protocol_for", "run_leaderboard", "rank", "LOWER_IS_BETTER"]

LOWER_IS_BETTER = {"SWDx1e3_avg": True, "FID": True, "KID_mean": True, "IS_mean": False, "precision": False,
                   "recall": False, "MS-SSIM": True}
DEFAULT_RANK = {"swd": "SWDx1e3_avg", "fid": "FID", "kid": "KID_mean", "is": "IS_mean", "pr": "precision"}


class Entry:
    """One contestant: a name and a path (image set, checkpoint or run directory)."""

    def __init__(self, name: str, path: str):
        if not re.fullmatch(r"[\w.+-]+", name):
            raise UsageError(f"entry name {name!r}: use letters, digits, '.', '_', '+' or '-'")
        self.name, self.path = name, path

    @classmethod
    def parse(cls, spec: str) -> "Entry":
        if "=" not in spec:
            raise UsageError(f"--entry {spec!r}: write NAME=PATH")
        name, path = spec.split("=", 1)
        return cls(name, path)

    def kind(self) -> str:
        p = Path(self.path)
        if p.is_dir() and (p / "config.json").exists() and any(p.glob("network-snapshot-*.pt")):
            return "run"
        if p.is_file() and p.suffix == ".pt":
            return "checkpoint"
        return "images"

    def images(self, num: int, seed: int, device: Any = None) -> Any:
        """The entry as an image source: itself, or G_ema samples from its checkpoint."""
        kind = self.kind()
        if kind == "images":
            return self.path
        ckpt = self.path
        if kind == "run":
            from reference_trainer import checkpoint as trainer_ckpt
            ckpt = str(trainer_ckpt.latest(self.path))
        return sample_checkpoint(ckpt, num, seed, device)


def sample_checkpoint(path: str, num: int, seed: int, device: Any = None) -> torch.Tensor:
    """`num` uint8 images from a reference-trainer checkpoint's G_ema, latents seeded by `seed`.

    A snapshot taken before the last resolution is reached is sampled at its current level of
    detail and nearest-upscaled to full size, as the official Gs output always is.
    """
    from reference_trainer.checkpoint import load_G_ema
    from reference_trainer.layers import upscale2d
    G, lod, dev = load_G_ema(path, device)
    full = 2 ** G.resolution_log2
    z = torch.randn(num, G.latent_size, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        out = [G(c.to(dev), lod).float() for c in z.split(64)]
        out = torch.cat([upscale2d(o, full // o.shape[-1]).cpu() for o in out])
    return ((out + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)


def protocol_for(real: str, metrics: Sequence[str], num_images: int, seed: int,
                 weights: str | None = None) -> dict[str, Any]:
    """The protocol: everything that must match for two results to be ranked together."""
    src = open_source(real, num_images=num_images)
    proto: dict[str, Any] = {"real": str(real), "real_fingerprint": src.fingerprint(), "metrics": sorted(metrics),
                             "num_images": num_images, "seed": seed, "resolution": list(src.resolution or ()),
                             "ganeval_version": __version__}
    if set(metrics) & {"fid", "is", "kid", "pr"}:
        from .inception.weights import locate, sha256_of
        proto["weights_sha256"] = sha256_of(locate(weights)[0])
    proto["id"] = hashlib.sha256(json.dumps(proto, sort_keys=True).encode()).hexdigest()[:16]
    return proto


def _open_store(store: Path, proto: dict[str, Any]) -> None:
    pfile = store / "protocol.json"
    if pfile.exists():
        old = json.loads(pfile.read_text())
        if old.get("id") != proto["id"]:
            diff = sorted(k for k in set(old) | set(proto) if old.get(k) != proto.get(k) and k != "id")
            raise UsageError(f"{store}: holds results under another protocol (differs in {', '.join(diff)}); "
                             "use a new --store directory to rank under this one")
    else:
        store.mkdir(parents=True, exist_ok=True)
        atomic_write_text(pfile, json.dumps(proto, indent=2))


def run_leaderboard(real: str, entries: Sequence[Entry], store: str | os.PathLike, *,
                    metrics: Sequence[str] = ("swd",), num_images: int = 1024, seed: int = 0,
                    weights: str | None = None, device: Any = None, rank_by: str | None = None,
                    evaluate_fn: Callable[..., list[MetricResult]] | None = None,
                    log: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """Evaluate every entry not yet stored under this protocol, then return the ranked rows.

    Each finished entry is written to ``store/results/<name>.json`` at once; the ranked table
    is written as ``leaderboard.md``, ``.csv`` and ``.json`` with the protocol in the header.
    """
    from .evaluate import evaluate
    evaluate_fn = evaluate_fn or evaluate
    store = Path(store)
    proto = protocol_for(real, metrics, num_images, seed, weights)
    _open_store(store, proto)
    for e in entries:
        target = store / "results" / f"{e.name}.json"
        if target.exists():
            log(f"{e.name}: already measured under protocol {proto['id']}, skipped")
            continue
        log(f"{e.name}: evaluating {e.kind()} {e.path}")
        results = evaluate_fn(real, e.images(num_images, seed, device), list(metrics), num_images=num_images,
                              seed=seed, device=device, weights=weights)
        record = {"entry": e.name, "path": e.path, "kind": e.kind(), "protocol": proto["id"],
                  "results": [r.to_dict() for r in results]}
        atomic_write_text(target, json.dumps(record, indent=1))
    rows = rank(store, rank_by or default_rank_key(metrics))
    _write_tables(store, proto, rows)
    return rows


def default_rank_key(metrics: Sequence[str]) -> str:
    """The value ranked by default: the first of SWD, FID, KID, IS, PR that was measured.

    MS-SSIM measures diversity, not quality, so it ranks only when asked (``rank_by``).
    """
    for m in DEFAULT_RANK:
        if m in metrics:
            return DEFAULT_RANK[m]
    return "MS-SSIM"


def rank(store: str | os.PathLike, key: str) -> list[dict[str, Any]]:
    """Rows of every stored entry, best first by value `key` (direction from LOWER_IS_BETTER)."""
    rows = []
    for f in sorted((Path(store) / "results").glob("*.json")):
        rec = json.loads(f.read_text())
        values = {k: v for r in rec["results"] for k, v in r["values"].items()}
        rows.append({"entry": rec["entry"], "kind": rec["kind"], "path": rec["path"], **values})
    if rows and key not in rows[0]:
        raise UsageError(f"cannot rank by {key!r}; measured values are {sorted(k for k in rows[0] if k[0].isupper())}")
    rows.sort(key=lambda r: r[key] if LOWER_IS_BETTER.get(key, True) else -r[key])
    for i, r in enumerate(rows, 1):
        r["rank"] = i
    return rows


def _write_tables(store: Path, proto: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    cols = ["rank", "entry", "kind"] + sorted({k for r in rows for k in r} - {"rank", "entry", "kind", "path"})
    header = (f"protocol {proto['id']}: real={proto['real']} metrics={','.join(proto['metrics'])} "
              f"num_images={proto['num_images']} seed={proto['seed']} ganeval={proto['ganeval_version']}"
              + (f" weights={proto['weights_sha256'][:12]}" if "weights_sha256" in proto else ""))
    fmt = lambda v: f"{v:.4f}" if isinstance(v, float) else str(v)  # noqa: E731
    md = [f"<!-- {header} -->", f"**{header}**", "", "| " + " | ".join(cols) + " |", "|---" * len(cols) + "|"]
    md += ["| " + " | ".join(fmt(r.get(c, "")) for c in cols) + " |" for r in rows]
    atomic_write_text(store / "leaderboard.md", "\n".join(md) + "\n")
    buf = io.StringIO()
    buf.write(f"# {header}\n")
    w = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore")
    w.writeheader()
    w.writerows(rows)
    atomic_write_text(store / "leaderboard.csv", buf.getvalue())
    atomic_write_text(store / "leaderboard.json", json.dumps({"protocol": proto, "rows": rows}, indent=1))


def markdown_table(store: str | os.PathLike) -> str:
    p = Path(store) / "leaderboard.md"
    if not p.exists():
        raise DataError(f"{store}: no leaderboard.md yet")
    return p.read_text()
