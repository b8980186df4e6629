"""Evaluation reports: an HTML page and a markdown file per set of run directories.

A run directory (the reference trainer's, or any loop using `ganeval.hooks.Evaluator`) holds
``metrics.jsonl`` (one record per metric evaluation), optionally ``log.jsonl`` (one per
training tick), ``config.json`` and sample grids ``fakes*.png``.  `build_report` plots every
metric value against kimg with the runs overlaid, training curves from the logs, shows the
latest sample grid of each run, a table of final metrics and the exact protocol (image
counts, seeds, weights hash, ganeval version).  The page is self-contained: relative image
paths, inline CSS, no scripts or external resources.
"""
from __future__ import annotations

import html
import json
import os
import shutil
from pathlib import Path
from typing import Any

from .errors import DataError
from .fileio import atomic_write, atomic_write_text

__all__ = ["read_jsonl", "read_run", "build_report"]

_LOG_KEYS = ("loss", "score", "sec_per_kimg", "images_per_s")


def read_jsonl(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Records of a JSONL file; blank or truncated lines (a killed writer) are skipped."""
    out = []
    if not os.path.exists(path):
        return out
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(rec, dict):
                out.append(rec)
    return out


def read_run(run_dir: str | os.PathLike) -> dict[str, Any]:
    """Everything a report needs from one run directory."""
    d = Path(run_dir)
    if not d.is_dir():
        raise DataError(f"{run_dir}: not a run directory")
    metrics, log = read_jsonl(d / "metrics.jsonl"), read_jsonl(d / "log.jsonl")
    if not metrics and not log:
        raise DataError(f"{run_dir}: has neither metrics.jsonl nor log.jsonl; is it a run directory?")
    grids = sorted(d.glob("fakes*.png"))
    config = json.loads((d / "config.json").read_text()) if (d / "config.json").exists() else {}
    return {"name": d.name, "path": str(d), "metrics": metrics, "log": log, "grid": grids[-1] if grids else None,
            "config": config}


def _series(runs: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, list[tuple[float, float]]]]:
    """(metric, value name) -> run name -> [(kimg, value)] from metrics.jsonl records."""
    out: dict[tuple[str, str], dict[str, list[tuple[float, float]]]] = {}
    for run in runs:
        for rec in run["metrics"]:
            x = rec.get("kimg", rec.get("step"))
            if x is None:
                continue
            for k, v in (rec.get("values") or {}).items():
                if isinstance(v, (int, float)):
                    out.setdefault((rec.get("metric", "?"), k), {}).setdefault(run["name"], []).append((x, v))
    return out


def _log_series(runs: list[dict[str, Any]]) -> dict[str, dict[str, list[tuple[float, float]]]]:
    out: dict[str, dict[str, list[tuple[float, float]]]] = {}
    for run in runs:
        for rec in run["log"]:
            for k, v in rec.items():
                if k != "kimg" and isinstance(v, (int, float)) and any(s in k for s in _LOG_KEYS) and "kimg" in rec:
                    out.setdefault(k, {}).setdefault(run["name"], []).append((rec["kimg"], v))
    return out


def _plot(series: dict[str, list[tuple[float, float]]], title: str, ylabel: str, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(5.2, 3.4), dpi=100)
    for name, pts in sorted(series.items()):
        pts = sorted(pts)
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", markersize=3, label=name)
    ax.set_title(title)
    ax.set_xlabel("kimg")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    with atomic_write(path, "wb") as f:
        fig.savefig(f, format="png")
    plt.close(fig)


def _final(run: dict[str, Any]) -> dict[str, dict[str, Any]]:
    last: dict[str, dict[str, Any]] = {}
    for rec in run["metrics"]:
        last[rec.get("metric", "?")] = rec
    return last


def _protocol(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen, out = set(), []
    for run in runs:
        for rec in run["metrics"]:
            p = {"metric": rec.get("metric"), "num_images": rec.get("num_images"), "seed": rec.get("seed"),
                 "weights_sha256": rec.get("weights_sha256"), "ganeval_version": rec.get("ganeval_version")}
            key = json.dumps(p, sort_keys=True)
            if key not in seen:
                seen.add(key)
                out.append({"run": run["name"], **p})
    return out


def build_report(run_dirs: list[str | os.PathLike], out_dir: str | os.PathLike, title: str = "ganeval report") -> Path:
    """Write ``index.html``, ``report.md``, plots and sample grids for `run_dirs` into `out_dir`.

    Returns the path of ``index.html``.  Raises `DataError` naming a directory that is not a
    run directory.
    """
    runs = [read_run(d) for d in run_dirs]
    names = [r["name"] for r in runs]
    if len(set(names)) != len(names):  # two runs with one folder name: qualify them by parent
        for r in runs:
            r["name"] = f"{Path(r['path']).parent.name}/{r['name']}"
    out = Path(out_dir)
    (out / "plots").mkdir(parents=True, exist_ok=True)
    plots: list[tuple[str, str]] = []
    for (metric, key), series in sorted(_series(runs).items()):
        fname = "plots/" + f"{metric}-{key}".replace("/", "_").replace(" ", "_") + ".png"
        _plot(series, f"{key} ({metric})", key, out / fname)
        plots.append((f"{key} ({metric})", fname))
    for key, series in sorted(_log_series(runs).items()):
        fname = "plots/train-" + key.replace("/", "_") + ".png"
        _plot(series, f"training: {key}", key, out / fname)
        plots.append((f"training: {key}", fname))
    grids = []
    for r in runs:
        if r["grid"] is not None:
            dest = out / "samples" / f"{r['name'].replace('/', '_')}-{r['grid'].name}"
            dest.parent.mkdir(exist_ok=True)
            shutil.copyfile(r["grid"], dest)
            grids.append((r["name"], f"samples/{dest.name}", r["grid"].name))
    finals = {r["name"]: _final(r) for r in runs}
    columns = sorted({(m, k) for f in finals.values() for m, rec in f.items() for k in (rec.get("values") or {})})
    protocol = _protocol(runs)
    atomic_write_text(out / "index.html", _html(title, runs, plots, grids, finals, columns, protocol))
    atomic_write_text(out / "report.md", _markdown(title, plots, grids, finals, columns, protocol))
    return out / "index.html"


def _fmt(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else html.escape(str(v))


def _table_rows(finals, columns) -> list[list[str]]:
    rows = []
    for name, f in finals.items():
        kimg = max((rec.get("kimg") or 0 for rec in f.values()), default=0)
        rows.append([name, _fmt(kimg)] + [_fmt((f.get(m, {}).get("values") or {}).get(k, "")) for m, k in columns])
    return rows


def _html(title, runs, plots, grids, finals, columns, protocol) -> str:
    from . import __version__
    e = html.escape
    head = "".join(f"<th>{e(k)}</th>" for _, k in columns)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in _table_rows(finals, columns))
    figs = "".join(f'<figure><img src="{e(p)}" alt="{e(t)}"><figcaption>{e(t)}</figcaption></figure>' for t, p in plots)
    samples = "".join(f'<figure><img class="grid" src="{e(p)}" alt="samples of {e(n)}"><figcaption>{e(n)}: '
                      f'{e(src)}</figcaption></figure>' for n, p, src in grids)
    proto = "".join("<tr>" + "".join(f"<td>{_fmt(p[k])}</td>" for k in ("run", "metric", "num_images", "seed",
                                                                         "weights_sha256", "ganeval_version"))
                    + "</tr>" for p in protocol)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{e(title)}</title>
<style>
body{{font-family:system-ui,sans-serif;margin:2em auto;max-width:1200px;color:#222}}
table{{border-collapse:collapse;margin:1em 0}} td,th{{border:1px solid #ccc;padding:4px 8px;font-size:14px}}
th{{background:#f3f3f3}} figure{{display:inline-block;margin:6px}} figcaption{{font-size:12px;color:#555}}
img{{max-width:540px}} img.grid{{max-width:360px;image-rendering:pixelated}}
</style></head><body>
<h1>{e(title)}</h1>
<p>{len(runs)} run(s): {", ".join(e(r["name"]) for r in runs)}. Generated by ganeval {e(__version__)}.</p>
<h2>Final metrics</h2>
<table id="final"><tr><th>run</th><th>kimg</th>{head}</tr>{body}</table>
<h2>Latest samples</h2>{samples or "<p>No sample grids found.</p>"}
<h2>Metrics over training</h2>{figs}
<h2>Protocol</h2>
<table id="protocol"><tr><th>run</th><th>metric</th><th>images</th><th>seed</th><th>weights sha256</th>
<th>ganeval</th></tr>{proto}</table>
</body></html>
"""


def _markdown(title, plots, grids, finals, columns, protocol) -> str:
    lines = [f"# {title}", "", "## Final metrics", "",
             "| run | kimg | " + " | ".join(k for _, k in columns) + " |",
             "|---" * (2 + len(columns)) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in _table_rows(finals, columns)]
    lines += ["", "## Metrics over training", ""] + [f"![{t}]({p})" for t, p in plots]
    lines += ["", "## Latest samples", ""] + [f"![{n}]({p})" for n, p, _ in grids]
    lines += ["", "## Protocol", "", "| run | metric | images | seed | weights sha256 | ganeval |", "|---" * 6 + "|"]
    lines += ["| " + " | ".join(str(p[k]) for k in ("run", "metric", "num_images", "seed", "weights_sha256",
                                                     "ganeval_version")) + " |" for p in protocol]
    return "\n".join(lines) + "\n"
