"""Evaluation reports: an HTML page and a markdown file per set of run directories.

A run directory (the reference trainer's, or any loop using `ganeval.hooks.Evaluator`) holds
``metrics.jsonl`` (one record per metric evaluation), optionally ``log.jsonl`` (one per
training tick), ``config.json`` and sample grids ``fakes*.png``.  `build_report` plots every
metric value against kimg with the runs overlaid, training curves from the logs, shows the
latest sample grid of each run, a table of final metrics and the exact protocol (image
counts, seeds, weights hash, ganeval version).  Records with error bars (``uncertainty``:
std and 95% interval) get shaded bands on the curves and ``value ± std [lo, hi]`` in the
table.  The page is self-contained: relative image
paths, inline CSS, no scripts or external resources.

Every name in a report comes from files someone else may have written (run directory names,
metric and value names, protocol fields, sample file names), so each is escaped for its
output: HTML-escaped in the page (attributes quoted), entity- and backslash-escaped in the
markdown, sanitized to ``[A-Za-z0-9._-]`` where it becomes a file name.  The page also carries
a Content-Security-Policy that forbids scripts, should an escape ever be missed.
"""
from __future__ import annotations

import html
import json
import os
import re
import shutil
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ..errors import DataError
from ..io.fileio import atomic_write, atomic_write_text

__all__ = ["read_jsonl", "read_run", "build_report"]

_LOG_KEYS = ("loss", "score", "sec_per_kimg", "images_per_s")


def read_jsonl(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Records of a JSONL file; [] when it does not exist.

    A line that is not a JSON object (typically the fragment a killed writer left) is skipped
    with a warning naming the file and line number: the rest of the run is still worth a report.
    """
    out: list[dict[str, Any]] = []
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        return out
    with f:
        for lineno, raw in enumerate(f, 1):
            if not raw.strip():
                continue
            try:
                rec = json.loads(raw.decode("utf-8"))
            except UnicodeDecodeError:
                problem = "not UTF-8"
            except json.JSONDecodeError as e:
                problem = f"not JSON: {e}"
            else:
                if isinstance(rec, dict):
                    out.append(rec)
                    continue
                problem = "not a JSON object"
            warnings.warn(f"{path}:{lineno}: skipped a malformed line ({problem})", stacklevel=2)
    return out


def _num(x: Any) -> float | None:
    return x if isinstance(x, (int, float)) and not isinstance(x, bool) else None


def _values(rec: dict[str, Any]) -> dict[str, Any]:
    v = rec.get("values")
    return v if isinstance(v, dict) else {}


def _metric(rec: dict[str, Any]) -> str:
    return str(rec.get("metric", "?"))


def read_run(run_dir: str | os.PathLike) -> dict[str, Any]:
    """Everything a report needs from one run directory."""
    d = Path(run_dir)
    if not d.is_dir():
        raise DataError(f"{run_dir}: not a run directory")
    metrics, log = read_jsonl(d / "metrics.jsonl"), read_jsonl(d / "log.jsonl")
    if not metrics and not log:
        raise DataError(f"{run_dir}: has neither metrics.jsonl nor log.jsonl; is it a run directory?")
    grids = sorted(p for p in d.glob("fakes*.png") if p.is_file())
    config: Any = {}
    if (d / "config.json").exists():
        try:
            config = json.loads((d / "config.json").read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise DataError(f"{d / 'config.json'}: not valid JSON ({e})") from None
    return {"name": d.name, "path": str(d), "metrics": metrics, "log": log, "grid": grids[-1] if grids else None,
            "config": config}


def _bar(rec: dict[str, Any], key: str) -> dict[str, float] | None:
    """The error bar a record holds for value `key` (std, lo, hi), if a well-formed one."""
    u = rec.get("uncertainty")
    u = u.get(key) if isinstance(u, dict) else None
    if not isinstance(u, dict) or any(_num(u.get(f)) is None for f in ("std", "lo", "hi")):
        return None
    return {f: float(u[f]) for f in ("std", "lo", "hi")}


def _series(runs: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, list[tuple]]]:
    """(metric, value name) -> run name -> [(kimg, value, lo, hi)] from metrics.jsonl records
    (lo and hi: the record's 95% interval, or None without error bars)."""
    out: dict[tuple[str, str], dict[str, list[tuple]]] = {}
    for run in runs:
        for rec in run["metrics"]:
            x = _num(rec.get("kimg", rec.get("step")))
            if x is None:
                continue
            for k, v in _values(rec).items():
                if _num(v) is not None:
                    bar = _bar(rec, k)
                    lo, hi = (bar["lo"], bar["hi"]) if bar else (None, None)
                    out.setdefault((_metric(rec), k), {}).setdefault(run["name"], []).append((x, v, lo, hi))
    return out


def _log_series(runs: list[dict[str, Any]]) -> dict[str, dict[str, list[tuple]]]:
    """Training-log key -> run name -> [(kimg, value, None, None)]: `_series`' shape, no error bars."""
    out: dict[str, dict[str, list[tuple]]] = {}
    for run in runs:
        for rec in run["log"]:
            for k, v in rec.items():
                if (k != "kimg" and _num(v) is not None and any(s in k for s in _LOG_KEYS)
                        and _num(rec.get("kimg")) is not None):
                    out.setdefault(k, {}).setdefault(run["name"], []).append((rec["kimg"], v, None, None))
    return out


def _tex(s: str) -> str:
    # matplotlib reads $...$ as mathtext and raises on what it cannot parse: show names verbatim.
    return s.replace("$", r"\$")


def _plot(series: dict[str, list[tuple]], title: str, ylabel: str, path: Path) -> None:
    """One line per run of (x, y, lo, hi) points; those with a 95% interval (lo, hi not None)
    get a shaded band and an error bar in the line's colour."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(5.2, 3.4), dpi=100)
    for name, pts in sorted(series.items()):
        pts = sorted(pts, key=lambda p: p[:2])
        line, = ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", markersize=3, label=_tex(name))
        bars = [p for p in pts if p[2] is not None]
        if bars:
            xs = [p[0] for p in bars]
            ax.fill_between(xs, [p[2] for p in bars], [p[3] for p in bars], color=line.get_color(), alpha=0.2,
                            linewidth=0)
            ax.errorbar(xs, [p[1] for p in bars], yerr=[[max(0.0, p[1] - p[2]) for p in bars],
                                                          [max(0.0, p[3] - p[1]) for p in bars]],
                        fmt="none", ecolor=line.get_color(), capsize=2, linewidth=0.8)
    ax.set_title(_tex(title))
    ax.set_xlabel("kimg")
    ax.set_ylabel(_tex(ylabel))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    with atomic_write(path, "wb") as f:
        fig.savefig(f, format="png")
    plt.close(fig)


def _final(run: dict[str, Any]) -> dict[str, dict[str, Any]]:
    last: dict[str, dict[str, Any]] = {}
    for rec in run["metrics"]:
        last[_metric(rec)] = rec
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
    taken: set[str] = set()
    for (metric, key), series in sorted(_series(runs).items()):
        fname = "plots/" + _file_name(f"{metric}-{key}", ".png", taken)
        _plot(series, f"{key} ({metric})", key, out / fname)
        plots.append((f"{key} ({metric})", fname))
    for key, series in sorted(_log_series(runs).items()):
        fname = "plots/" + _file_name(f"train-{key}", ".png", taken)
        _plot(series, f"training: {key}", key, out / fname)
        plots.append((f"training: {key}", fname))
    grids = []
    for r in runs:
        if r["grid"] is not None:
            dest = out / "samples" / _file_name(f"{r['name']}-{r['grid'].stem}", ".png", taken)
            with open(r["grid"], "rb") as src, atomic_write(dest, "wb") as f:
                shutil.copyfileobj(src, f)
            grids.append((r["name"], f"samples/{dest.name}", r["grid"].name))
    finals = {r["name"]: _final(r) for r in runs}
    columns = sorted({(m, k) for f in finals.values() for m, rec in f.items() for k in (rec.get("values") or {})})
    protocol = _protocol(runs)
    atomic_write_text(out / "index.html", _html(title, runs, plots, grids, finals, columns, protocol))
    atomic_write_text(out / "report.md", _markdown(title, plots, grids, finals, columns, protocol))
    return out / "index.html"


def _file_name(stem: str, suffix: str, taken: set[str]) -> str:
    """A file name made of [A-Za-z0-9._-] only, unique within `taken`: no markup, no path tricks."""
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", stem).lstrip(".")[:80] or "_"
    name, i = base + suffix, 1
    while name in taken:  # two names that sanitize alike must not overwrite each other's file
        i += 1
        name = f"{base}-{i}{suffix}"
    taken.add(name)
    return name


def _fmt(v: Any) -> str:
    """A table cell as plain text; each output format escapes it its own way."""
    return f"{v:.4g}" if isinstance(v, float) else str(v)


_PROTOCOL_KEYS = ("run", "metric", "num_images", "seed", "weights_sha256", "ganeval_version")


def _table_rows(finals, columns) -> list[list[str]]:
    rows = []
    for name, f in finals.items():
        kimg = max((_num(rec.get("kimg")) or 0 for rec in f.values()), default=0)
        rows.append([name, _fmt(kimg)] + [_cell(f.get(m, {}), k) for m, k in columns])
    return rows


def _cell(rec: dict[str, Any], key: str) -> str:
    """A final value, with its std and 95% interval when the record has error bars."""
    text = _fmt(_values(rec).get(key, ""))
    bar = _bar(rec, key)
    return text if bar is None else f"{text} ± {bar['std']:.2g} [{bar['lo']:.4g}, {bar['hi']:.4g}]"


def _e(s: Any) -> str:
    return html.escape(str(s), quote=True)


def _url(path: str) -> str:
    """A relative path as an escaped URL for a quoted src attribute."""
    return _e(quote(path, safe="/"))


# Defence in depth behind the escaping: the page needs no script, so none may run.
_CSP = "default-src 'none'; img-src 'self' file: data:; style-src 'unsafe-inline'"


def _html(title, runs, plots, grids, finals, columns, protocol) -> str:
    from .. import __version__
    e = _e
    head = "".join(f"<th>{e(k)}</th>" for _, k in columns)
    body = "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in _table_rows(finals, columns))
    figs = "".join(f'<figure><img src="{_url(p)}" alt="{e(t)}"><figcaption>{e(t)}</figcaption></figure>'
                   for t, p in plots)
    samples = "".join(f'<figure><img class="grid" src="{_url(p)}" alt="samples of {e(n)}"><figcaption>{e(n)}: '
                      f'{e(src)}</figcaption></figure>' for n, p, src in grids)
    proto = "".join("<tr>" + "".join(f"<td>{e(_fmt(p[k]))}</td>" for k in _PROTOCOL_KEYS) + "</tr>"
                    for p in protocol)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{e(_CSP)}">
<title>{e(title)}</title>
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


_MD_PUNCT = re.compile(r"([\\`*_\[\]|~$])")


def _md(s: Any) -> str:
    """Text that renders as itself in markdown (CommonMark/GFM), inside a table cell too.

    ``<``, ``>`` and ``&`` become entities, so no renderer can see a tag or an autolink; the
    punctuation of code spans, emphasis, links, tables and math is backslash-escaped; control
    characters become spaces, so a name cannot end a table row or start a new block.
    """
    s = re.sub(r"[\x00-\x1f\x7f]", " ", str(s))
    return _MD_PUNCT.sub(r"\\\1", html.escape(s, quote=False))


def _md_url(path: str) -> str:
    return quote(path, safe="/")


def _markdown(title, plots, grids, finals, columns, protocol) -> str:
    lines = [f"# {_md(title)}", "", "## Final metrics", "",
             "| run | kimg | " + " | ".join(_md(k) for _, k in columns) + " |",
             "|---" * (2 + len(columns)) + "|"]
    lines += ["| " + " | ".join(_md(c) for c in row) + " |" for row in _table_rows(finals, columns)]
    lines += ["", "## Metrics over training", ""] + [f"![{_md(t)}]({_md_url(p)})" for t, p in plots]
    lines += ["", "## Latest samples", ""] + [f"![{_md(n)}]({_md_url(p)})" for n, p, _ in grids]
    lines += ["", "## Protocol", "", "| run | metric | images | seed | weights sha256 | ganeval |", "|---" * 6 + "|"]
    lines += ["| " + " | ".join(_md(_fmt(p[k])) for k in _PROTOCOL_KEYS) + " |" for p in protocol]
    return "\n".join(lines) + "\n"
