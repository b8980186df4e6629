"""What a report shows beside a run's ``metrics.jsonl``: final evaluations and real-set baselines.

**Final evaluations** are the files ``final-metrics*.json`` in the run folder and in its
parent: what ``ganeval all REAL FAKE -o final-metrics.json`` writes (one result, or a list of
results).  Each is labelled ``<folder>/<file>`` and by its image count, because a final
evaluation usually measures another number of images than the training-time hook.
**Real-set baselines** are ``real-baselines.json``, written once by `ganeval.hooks.Evaluator`:
the real set measured against itself (SWD's floor between two halves of the reals, MS-SSIM of
the reals).  Both are read as someone else's files (regular, bounded, never through a link out
of their folder); one that is unreadable or not in ganeval's shape is skipped with a warning.
Also here: each value's direction from the metric registry, and protocol values in words.
"""
from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

from ..errors import DataError
from ..io.fileio import read_bounded
from ..io.runfiles import BASELINES_FILE, FINAL_GLOB

__all__ = ["FINAL_GLOB", "BASELINES_FILE", "find_finals", "read_baselines", "direction", "readable", "count_label"]

# A result file holds a few kB (more with bootstrap replicates); 16 MiB is far past any real one.
MAX_RESULT_BYTES = 16 * 2**20


def _load(path: Path, within: Path, what: str) -> Any:
    """The JSON in `path`, or None (with a warning naming it) when it cannot be used."""
    try:
        return json.loads(read_bounded(path, MAX_RESULT_BYTES, within=within).decode("utf-8"))
    except (DataError, OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        warnings.warn(f"{path}: {e}; not shown as {what}", stacklevel=3)
        return None


def _is_result(x: Any) -> bool:
    return isinstance(x, dict) and isinstance(x.get("metric"), str) and isinstance(x.get("values"), dict)


def find_finals(run_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """The final-evaluation files of run folder `run_dir` (`FINAL_GLOB` in it and in its parent),
    each as ``{"path", "label", "images", "results"}`` with `results` a list of result dicts."""
    d = Path(os.path.abspath(run_dir))
    out = []
    for folder in (d, d.parent):
        for p in sorted(folder.glob(FINAL_GLOB)):
            data = _load(p, folder, "a final evaluation")
            if data is None:
                continue
            results = data if isinstance(data, list) else [data]
            if not results or not all(_is_result(r) for r in results):
                warnings.warn(f"{p}: not a ganeval result (ganeval all -o writes one); not shown as a final "
                              "evaluation", stacklevel=2)
                continue
            out.append({"path": str(p), "label": f"{folder.name}/{p.name}", "images": count_label(results),
                        "results": results})
    return out


def read_baselines(run_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """The records of the run's `BASELINES_FILE` (each a result dict plus ``baseline``: what was
    measured), or [] when it has none."""
    p = Path(run_dir) / BASELINES_FILE
    if not os.path.lexists(p):
        return []
    data = _load(p, Path(run_dir), "real-set baselines")
    records = data.get("baselines") if isinstance(data, dict) else None
    if data is not None and not (isinstance(records, list) and all(_is_result(r) for r in records)):
        warnings.warn(f"{p}: not in the shape ganeval.hooks.Evaluator writes; not shown", stacklevel=2)
        return []
    return records or []


def direction(metric: Any, key: Any) -> str | None:
    """"lower" or "higher" (is better) for value `key` of `metric`, from the metric registry;
    None for an unknown metric or a value without a direction (a spread such as ``IS_std``)."""
    from ..errors import UsageError
    from ..metrics.registry import get_metric
    try:
        spec = get_metric(str(metric))
    except UsageError:
        return None
    key = str(key)
    own = key == spec.primary or (key in spec.values and not key.endswith("_std")) or (
        bool(spec.value_prefix) and key.startswith(spec.value_prefix))
    return ("lower" if spec.lower_is_better else "higher") if own else None


def readable(v: Any) -> str:
    """A protocol value in words: ``{'real': 1024, 'fake': 1024}`` -> ``real 1024, fake 1024``,
    None -> ``—`` (not recorded), lists joined by commas."""
    if v is None:
        return "—"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, dict):
        return ", ".join(f"{k} {readable(x)}" for k, x in v.items()) or "—"
    if isinstance(v, (list, tuple)):
        return ", ".join(readable(x) for x in v) or "—"
    return format(v, ".4g") if isinstance(v, float) else str(v)


def count_label(results: list[dict[str, Any]]) -> str:
    """How many generated images `results` measured, e.g. ``256 images`` (the fake side, or
    the one set of a one-set metric such as MS-SSIM)."""
    counts = []
    for r in results:
        n = r.get("num_images")
        n = n.get("fake", n.get("images")) if isinstance(n, dict) else None
        if isinstance(n, int) and not isinstance(n, bool) and n not in counts:
            counts.append(n)
    if not counts:
        return "image count not recorded"
    return f"{' / '.join(str(n) for n in sorted(counts))} images"
