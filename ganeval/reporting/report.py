"""Evaluation reports: an HTML page and a markdown file per set of run directories.

A run directory (the reference trainer's, or any loop using `ganeval.hooks.Evaluator`) holds
``metrics.jsonl`` (one record per metric evaluation), optionally ``log.jsonl`` (one per
training tick), ``config.json`` and sample grids ``fakes*.png``.  `build_report` plots every
metric value against kimg with the runs overlaid, training curves from the logs, shows the
latest sample grid of each run beside its ``reals.png``, the final evaluations found beside
the run (``final-metrics*.json``, labelled by image count), the last evaluation during training,
the real-set baselines (``real-baselines.json``), each value's direction (lower or higher is
better, from the metric registry) and the exact protocol in words (image counts, seeds, weights
hash, ganeval version); the file names are `ganeval.io.runfiles`' and `.evaluations`'.  Records with error bars (``uncertainty``:
std and 95% interval) get shaded bands on the curves and ``value ± std [lo, hi]`` in the
table.  The page is self-contained: relative image
paths, inline CSS, no scripts or external resources.

Every name in a report comes from files someone else may have written (run directory names,
metric and value names, protocol fields, sample file names), so each is escaped for its
output: HTML-escaped in the page (attributes quoted), entity- and backslash-escaped in the
markdown, sanitized to ``[A-Za-z0-9._-]`` where it becomes a file name.  The page also carries
a Content-Security-Policy that forbids scripts, should an escape ever be missed.

The files of a run folder are read as someone else's too: only regular files, never through a
link that leads out of the folder, and at most `MAX_JSONL_BYTES` of each JSONL log and
`MAX_CONFIG_BYTES` of ``config.json`` (a link to /dev/zero must not be read forever).  A sample
grid is copied only if it is a PNG that decodes; any other ``fakes*.png`` is skipped with a
warning naming it, so a link to /etc/passwd never lands in a report.  A value that is not a
finite number (NaN, inf) is never plotted as one: it is shown as ``nan (not finite)`` in the
table, listed under "Non-finite values" with its run and kimg, and warned about.
"""
from __future__ import annotations

import html
import io
import json
import math
import os
import re
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ..errors import DataError
from ..io.fileio import atomic_write, atomic_write_text, check_target, read_bounded
from ..io.runfiles import BASELINES_FILE, FAKES_GLOB, FINAL_GLOB, REALS_GRID
from .evaluations import direction, find_finals, read_baselines, readable
from .neighbours import neighbour_figures

__all__ = ["read_jsonl", "read_run", "build_report", "MAX_JSONL_BYTES", "MAX_CONFIG_BYTES", "MAX_GRID_BYTES"]

_LOG_KEYS = ("loss", "score", "sec_per_kimg", "images_per_s")

# Bounds on what one report reads from a run folder.  A record is a few kB (more with error
# bars), so a metrics.jsonl of a long run is a few MB; 256 MiB is far past any real log.  A
# sample grid of the official 1024 px layout is about 30 MB.
MAX_JSONL_BYTES = 256 * 2**20
MAX_CONFIG_BYTES = 16 * 2**20
MAX_GRID_BYTES = 256 * 2**20


def read_jsonl(path: str | os.PathLike, *, within: str | os.PathLike | None = None,
               limit: int | None = None) -> list[dict[str, Any]]:
    """Records of a JSONL file; [] when it does not exist.

    A line that is not a JSON object (typically the fragment a killed writer left) is skipped
    with a warning naming the file and line number: the rest of the run is still worth a report.
    A file that is not a regular one, is larger than `limit` bytes (default `MAX_JSONL_BYTES`)
    or (with `within`) a link out of that folder is a `DataError` (`fileio.read_bounded`).
    """
    out: list[dict[str, Any]] = []
    try:
        data = read_bounded(path, MAX_JSONL_BYTES if limit is None else limit, within=within)
    except FileNotFoundError:
        return out
    for lineno, raw in enumerate(data.split(b"\n"), 1):
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


def _finite(x: Any) -> bool:
    """Whether `x` is a number that can be plotted and ranked as one (not NaN, inf, or an
    integer too large for a float)."""
    if _num(x) is None:
        return False
    try:
        return math.isfinite(x)
    except OverflowError:
        return False


def _dict(x: Any) -> dict[str, Any]:
    return x if isinstance(x, dict) else {}


def _values(rec: dict[str, Any]) -> dict[str, Any]:
    return _dict(rec.get("values"))


def _metric(rec: dict[str, Any]) -> str:
    return str(rec.get("metric", "?"))


def read_run(run_dir: str | os.PathLike) -> dict[str, Any]:
    """Everything a report needs from one run directory."""
    d = Path(run_dir)
    if not d.is_dir():
        raise DataError(f"{run_dir}: not a run directory")
    metrics, log = read_jsonl(d / "metrics.jsonl", within=d), read_jsonl(d / "log.jsonl", within=d)
    if not metrics and not log:
        raise DataError(f"{run_dir}: has neither metrics.jsonl nor log.jsonl; is it a run directory?")
    config: Any = {}
    try:
        raw = read_bounded(d / "config.json", MAX_CONFIG_BYTES, within=d)
    except FileNotFoundError:
        pass
    else:
        try:
            config = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise DataError(f"{d / 'config.json'}: not valid JSON ({e})") from None
    grid, reals = _latest_grid(d, FAKES_GLOB), _latest_grid(d, REALS_GRID)
    return {"name": d.name, "path": str(d), "metrics": metrics, "log": log, "grid": grid and grid[0],
            "grid_bytes": grid and grid[1], "reals": reals and reals[0], "reals_bytes": reals and reals[1],
            "config": config, "finals": find_finals(d), "baselines": read_baselines(d)}


def _latest_grid(d: Path, pattern: str) -> tuple[Path, bytes] | None:
    """The last file matching `pattern` in name order (``fakes*.png``, ``reals.png``) in run
    folder `d` that is a regular file inside it and a PNG that decodes, with its bytes (the very
    bytes checked are the ones copied); every other candidate is skipped with a warning naming it."""
    for p in sorted(d.glob(pattern), reverse=True):
        try:
            data = read_bounded(p, MAX_GRID_BYTES, within=d)
        except (DataError, OSError) as e:
            warnings.warn(f"{e}; not used as a sample grid", stacklevel=3)
            continue
        why = _not_png(data)
        if why is None:
            return p, data
        warnings.warn(f"{p}: {why}; not used as a sample grid", stacklevel=3)
    return None


def _not_png(data: bytes) -> str | None:
    """Why `data` is not a PNG image that decodes, or None."""
    from PIL import Image
    try:
        with Image.open(io.BytesIO(data)) as im:
            if im.format != "PNG":
                return f"a {im.format} file, not a PNG"
            im.verify()  # chunk CRCs and structure
        with Image.open(io.BytesIO(data)) as im:
            im.load()  # and every pixel decodes
    except Exception as e:  # PIL raises a zoo here (UnidentifiedImageError, SyntaxError, zlib.error, ...)
        return f"not a decodable PNG ({type(e).__name__})"
    return None


def _bar(rec: dict[str, Any], key: str) -> dict[str, float] | None:
    """The error bar a record holds for value `key` (std, lo, hi), if a well-formed one."""
    u = rec.get("uncertainty")
    u = u.get(key) if isinstance(u, dict) else None
    if not isinstance(u, dict) or any(_num(u.get(f)) is None for f in ("std", "lo", "hi")):
        return None
    return {f: u[f] for f in ("std", "lo", "hi")}


def _bar_finite(bar: dict[str, float] | None) -> bool:
    return bar is not None and all(_finite(v) for v in bar.values())


def _series(runs: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, list[tuple]]]:
    """(metric, value name) -> run name -> [(kimg, value, lo, hi)] from metrics.jsonl records
    (lo and hi: the record's 95% interval, or None without error bars)."""
    out: dict[tuple[str, str], dict[str, list[tuple]]] = {}
    for run in runs:
        for rec in run["metrics"]:
            x = rec.get("kimg", rec.get("step"))
            if not _finite(x):
                continue
            for k, v in _values(rec).items():
                if _finite(v):  # a non-finite value is listed by _non_finite, never plotted
                    bar = _bar(rec, k)
                    lo, hi = (bar["lo"], bar["hi"]) if _bar_finite(bar) else (None, None)
                    out.setdefault((_metric(rec), k), {}).setdefault(run["name"], []).append((x, v, lo, hi))
    return out


def _log_series(runs: list[dict[str, Any]]) -> dict[str, dict[str, list[tuple]]]:
    """Training-log key -> run name -> [(kimg, value, None, None)]: `_series`' shape, no error bars."""
    out: dict[str, dict[str, list[tuple]]] = {}
    for run in runs:
        for rec in run["log"]:
            for k, v in rec.items():
                if k != "kimg" and _finite(v) and _plotted_log_key(k) and _finite(rec.get("kimg")):
                    out.setdefault(k, {}).setdefault(run["name"], []).append((rec["kimg"], v, None, None))
    return out


def _plotted_log_key(k: str) -> bool:
    return k != "kimg" and any(s in k for s in _LOG_KEYS)


def _non_finite(runs: list[dict[str, Any]]) -> list[tuple[str, str, str, Any, Any]]:
    """(run, file, what, kimg, value) of every number in the runs' logs that the report would
    show or plot but that is not finite: such values are marked and listed, never plotted."""
    out = []
    for run in runs:
        path = os.path.join(run["path"], "metrics.jsonl")
        for rec in run["metrics"]:
            x = rec.get("kimg", rec.get("step"))
            if _num(x) is not None and not _finite(x):
                out.append((run["name"], path, f"kimg of a {_metric(rec)} record", x, x))
            for k, v in _values(rec).items():
                if _num(v) is not None and not _finite(v):
                    out.append((run["name"], path, f"{k} ({_metric(rec)})", x, v))
                bar = _bar(rec, k)
                for f, b in (bar or {}).items():
                    if not _finite(b):
                        out.append((run["name"], path, f"{k} ({_metric(rec)}) error bar {f}", x, b))
        for path, rec, what in _extra_results(run):
            for k, v in _values(rec).items():
                if _num(v) is not None and not _finite(v):
                    out.append((run["name"], path, f"{k} ({_metric(rec)}, {what})", None, v))
                for f, b in (_bar(rec, k) or {}).items():
                    if not _finite(b):
                        out.append((run["name"], path, f"{k} ({_metric(rec)}, {what}) error bar {f}", None, b))
        path = os.path.join(run["path"], "log.jsonl")
        for rec in run["log"]:
            for k, v in rec.items():
                if _plotted_log_key(k) and _num(v) is not None and not _finite(v):
                    out.append((run["name"], path, f"training {k}", rec.get("kimg"), v))
    return out


def _extra_results(run: dict[str, Any]) -> list[tuple[str, dict[str, Any], str]]:
    """(file, result dict, what) of the run's final evaluations and real-set baselines."""
    out = [(f["path"], rec, f["label"]) for f in run["finals"] for rec in f["results"]]
    base = os.path.join(run["path"], BASELINES_FILE)
    return out + [(base, rec, "real-set baseline") for rec in run["baselines"]]


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


def _protocol(runs: list[dict[str, Any]]) -> list[dict[str, str]]:
    """One row per distinct protocol (source, metric, counts, seed, weights, version), in words."""
    seen, out = set(), []
    for run in runs:
        recs = [("metrics.jsonl", rec) for rec in run["metrics"]]
        recs += [(what, rec) for _, rec, what in _extra_results(run)]
        for source, rec in recs:
            # Where a result file keeps its version and weights: top level, settings, provenance.
            settings = {**_dict(rec.get("provenance")), **_dict(rec.get("settings"))}
            p = {"source": source, "metric": rec.get("metric"), "num_images": rec.get("num_images"),
                 "seed": rec.get("seed"), "weights_sha256": rec.get("weights_sha256", settings.get("weights_sha256")),
                 "ganeval_version": rec.get("ganeval_version", settings.get("ganeval_version"))}
            p = {k: readable(v) for k, v in p.items()}
            key = json.dumps(p, sort_keys=True)
            if key not in seen:
                seen.add(key)
                out.append({"run": run["name"], **p})
    return out


def build_report(run_dirs: list[str | os.PathLike], out_dir: str | os.PathLike, title: str = "ganeval report",
                 neighbours: str = "auto") -> Path:
    """Write ``index.html``, ``report.md``, plots and sample grids for `run_dirs` into `out_dir`.

    Runs with a ``reals.png`` also get a nearest-neighbour figure of their latest samples
    (`neighbours`: ``auto``, ``inception``, ``pixels`` or ``off``; see `.neighbours`).
    Returns the path of ``index.html``.  Raises `DataError` naming a directory that is not a
    run directory.
    """
    runs = [read_run(d) for d in run_dirs]
    seen: set[str] = set()
    for r in runs:  # a final evaluation in a parent shared by several runs is shown once
        r["finals"] = [f for f in r["finals"] if not (os.path.realpath(f["path"]) in seen
                                                       or seen.add(os.path.realpath(f["path"])))]
    names = [r["name"] for r in runs]
    if len(set(names)) != len(names):  # two runs with one folder name: qualify them by parent
        for r in runs:
            r["name"] = f"{Path(r['path']).parent.name}/{r['name']}"
    out = Path(out_dir)
    for name in ("index.html", "report.md"):  # refused before any plot is drawn, not after
        check_target(out / name)
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
    grids = []  # (run, "generated" or "real", copied path, source file name), generated first
    for r in runs:
        for kind, src, data in (("generated", r["grid"], r["grid_bytes"]), ("real", r["reals"], r["reals_bytes"])):
            if src is not None:
                dest = out / "samples" / _file_name(f"{r['name']}-{src.stem}", ".png", taken)
                with atomic_write(dest, "wb") as f:
                    f.write(data)  # the bytes that were checked to be a PNG, not a second read
                grids.append((r["name"], kind, f"samples/{dest.name}", src.name))
    finals = {r["name"]: _final(r) for r in runs}
    columns = sorted({(m, k) for f in finals.values() for m, rec in f.items() for k in (rec.get("values") or {})})
    protocol = _protocol(runs)
    bad = _non_finite(runs)
    for path in dict.fromkeys(b[1] for b in bad):
        n = sum(b[1] == path for b in bad)
        warnings.warn(f"{path}: {n} value(s) not finite (NaN or inf); marked in the report and left out of its "
                      "plots", stacklevel=2)
    extra = _extra_tables(runs, finals)
    extra["neighbours"] = neighbour_figures(runs, out, lambda stem, suffix: _file_name(stem, suffix, taken), neighbours)
    atomic_write_text(out / "index.html", _html(title, runs, plots, grids, finals, columns, protocol, bad, extra))
    atomic_write_text(out / "report.md", _markdown(title, plots, grids, finals, columns, protocol, bad, extra))
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


def _fmt(v: Any, spec: str = ".4g") -> str:
    """A table cell as plain text (None, e.g. the kimg of a final evaluation, as "—"); each
    output format escapes it its own way."""
    return "—" if v is None else format(v, spec) if isinstance(v, float) else str(v)


_PROTOCOL_KEYS = ("run", "source", "metric", "num_images", "seed", "weights_sha256", "ganeval_version")
_PROTOCOL_HEAD = ("run", "source", "metric", "images", "seed", "weights sha256", "ganeval")
_EVAL_HEAD = ("file (images)", "metric", "value", "result", "better", "images")
_BASE_HEAD = ("run", "metric", "value", "result", "measured on", "images")
_ARROW = {"lower": "↓", "higher": "↑"}
_LEGEND = "↓ lower is better, ↑ higher is better (directions from ganeval's metric registry)."


def _better(metric: Any, key: Any) -> str:
    d = direction(metric, key)
    return f"{_ARROW[d]} {d}" if d else "—"


def _head(metric: str, key: str) -> str:
    """A final-table column header: the value name and its direction arrow."""
    d = direction(metric, key)
    return f"{key} {_ARROW[d]}" if d else key


def _extra_tables(runs, finals) -> dict[str, Any]:
    """Rows of the final-evaluation and baseline tables, and the image counts of the last
    in-training evaluations (so a hook's 1024-image value is not taken for a final one)."""
    evals = [[f"{f['label']} ({f['images']})", _metric(rec), k, _cell(rec, k), _better(_metric(rec), k),
              readable(rec.get("num_images"))]
             for r in runs for f in r["finals"] for rec in f["results"] for k in _values(rec)]
    base = [[r["name"], _metric(rec), k, _cell(rec, k), readable(rec.get("baseline")), readable(rec.get("num_images"))]
            for r in runs for rec in r["baselines"] for k in _values(rec)]
    counts: dict[str, dict[str, None]] = {}
    for f in finals.values():
        for m, rec in f.items():
            counts.setdefault(m, {})[readable(rec.get("num_images"))] = None
    return {"evals": evals, "baselines": base,
            "counts": "; ".join(f"{m}: {' / '.join(c)}" for m, c in counts.items())}


def _table_rows(finals, columns) -> list[list[str]]:
    rows = []
    for name, f in finals.items():
        kimg = max((rec["kimg"] for rec in f.values() if _finite(rec.get("kimg"))), default=0)
        rows.append([name, _fmt(kimg)] + [_cell(f.get(m, {}), k) for m, k in columns])
    return rows


def _cell(rec: dict[str, Any], key: str) -> str:
    """A final value, with its std and 95% interval when the record has error bars."""
    v = _values(rec).get(key, "")
    text = f"{_fmt(v)} (not finite)" if _num(v) is not None and not _finite(v) else _fmt(v)
    bar = _bar(rec, key)
    if bar is None:
        return text
    shown = f"± {_fmt(bar['std'], '.2g')} [{_fmt(bar['lo'])}, {_fmt(bar['hi'])}]"
    return f"{text} {shown}" if _bar_finite(bar) else f"{text} (error bar not finite: {shown})"


def _e(s: Any) -> str:
    return html.escape(str(s), quote=True)


def _url(path: str) -> str:
    """A relative path as an escaped URL for a quoted src attribute."""
    return _e(quote(path, safe="/"))


# Defence in depth behind the escaping: the page needs no script, so none may run.
_CSP = "default-src 'none'; img-src 'self' file: data:; style-src 'unsafe-inline'"


_NON_FINITE_NOTE = "not finite numbers: marked in the tables and left out of the plots"
_NN_NOTE = ("Each row: a generated image, then its nearest real images, nearest first. A generator that copies "
            "its training set shows a neighbour at distance 0.")


def _html_table(ident: str, head, rows) -> str:
    return (f'<table id="{ident}"><tr>' + "".join(f"<th>{_e(h)}</th>" for h in head) + "</tr>"
            + "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>" for row in rows) + "</table>")


def _html(title, runs, plots, grids, finals, columns, protocol, bad=(), extra=None) -> str:
    from .. import __version__
    e = _e
    extra = extra or {"evals": [], "baselines": [], "counts": ""}
    head = "".join(f"<th>{e(_head(m, k))}</th>" for m, k in columns)
    body = "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in _table_rows(finals, columns))
    figs = "".join(f'<figure><img src="{_url(p)}" alt="{e(t)}"><figcaption>{e(t)}</figcaption></figure>'
                   for t, p in plots)
    samples = "".join(f'<figure><img class="grid" src="{_url(p)}" alt="{e(kind)} images of {e(n)}"><figcaption>'
                      f'{e(n)}, {e(kind)}: {e(src)}</figcaption></figure>' for n, kind, p, src in grids)
    evals = (_html_table("final-evaluations", _EVAL_HEAD, extra["evals"]) if extra["evals"] else
             f"<p>No final-evaluation files ({e(FINAL_GLOB)} in a run folder or its parent).</p>")
    base = (_html_table("baselines", _BASE_HEAD, extra["baselines"]) if extra["baselines"] else
            f"<p>Not measured ({e(BASELINES_FILE)}, written by ganeval.hooks.Evaluator).</p>")
    proto = _html_table("protocol", _PROTOCOL_HEAD, [[p[k] for k in _PROTOCOL_KEYS] for p in protocol])
    near = "".join((f'<figure><img class="nn" src="{_url(x["png"])}" alt="nearest real images of {e(x["run"])}">'
                    if x["png"] else "<figure>") + f'<figcaption>{e(x["run"])}: {e(x["note"])}'
                   + (f' (<a href="{_url(x["json"])}">names and distances</a>)' if x["json"] else "")
                   + "</figcaption></figure>" for x in extra.get("neighbours", []))
    near = f"<h2>Nearest real images</h2><p>{e(_NN_NOTE)}</p>{near}" if near else ""
    nonfinite = "" if not bad else (
        f"<h2>Non-finite values</h2><p>{len(bad)} value(s) are {_NON_FINITE_NOTE}.</p>"
        '<table id="nonfinite"><tr><th>run</th><th>value</th><th>kimg</th><th>is</th></tr>'
        + "".join(f"<tr><td>{e(n)}</td><td>{e(w)}</td><td>{e(_fmt(x))}</td><td>{e(_fmt(v))}</td></tr>"
                  for n, _, w, x, v in bad) + "</table>")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{e(_CSP)}">
<title>{e(title)}</title>
<style>
body{{font-family:system-ui,sans-serif;margin:2em auto;max-width:1200px;color:#222}}
table{{border-collapse:collapse;margin:1em 0}} td,th{{border:1px solid #ccc;padding:4px 8px;font-size:14px}}
th{{background:#f3f3f3}} figure{{display:inline-block;margin:6px}} figcaption{{font-size:12px;color:#555}}
img{{max-width:540px}} img.grid{{max-width:360px;image-rendering:pixelated}}
img.nn{{max-width:1100px;image-rendering:pixelated}}
</style></head><body>
<h1>{e(title)}</h1>
<p>{len(runs)} run(s): {", ".join(e(r["name"]) for r in runs)}. Generated by ganeval {e(__version__)}.
{e(_LEGEND)}</p>
<h2>Final evaluation</h2>{evals}
<h2>Last evaluation during training</h2>
<p>The last metrics.jsonl record of each metric (images: {e(extra["counts"] or "—")}).</p>
<table id="final"><tr><th>run</th><th>kimg</th>{head}</tr>{body}</table>
<h2>Real-set baselines</h2>{base}
{nonfinite}
<h2>Latest samples</h2>{samples or "<p>No sample grids found.</p>"}
{near}
<h2>Metrics over training</h2>{figs}
<h2>Protocol</h2>{proto}
</body></html>
"""


# An underscore between two letters or digits can neither open nor close emphasis (CommonMark
# 6.2), so names like SWDx1e3_avg stay readable as plain text; every other one is escaped.
_MD_PUNCT = re.compile(r"[\\`*\[\]|~$]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")


def _md(s: Any) -> str:
    """Text that renders as itself in markdown (CommonMark/GFM), inside a table cell too.

    ``<``, ``>`` and ``&`` become entities, so no renderer can see a tag or an autolink; the
    punctuation of code spans, emphasis, links, tables and math is backslash-escaped; control
    characters become spaces, so a name cannot end a table row or start a new block.
    """
    s = re.sub(r"[\x00-\x1f\x7f]", " ", str(s))
    return _MD_PUNCT.sub(lambda m: "\\" + m.group(0), html.escape(s, quote=False))


def _md_url(path: str) -> str:
    return quote(path, safe="/")


def _md_table(head, rows) -> list[str]:
    return (["| " + " | ".join(_md(h) for h in head) + " |", "|---" * len(head) + "|"]
            + ["| " + " | ".join(_md(c) for c in row) + " |" for row in rows])


def _markdown(title, plots, grids, finals, columns, protocol, bad=(), extra=None) -> str:
    extra = extra or {"evals": [], "baselines": [], "counts": ""}
    lines = [f"# {_md(title)}", "", _md(_LEGEND), "", "## Final evaluation", ""]
    lines += (_md_table(_EVAL_HEAD, extra["evals"]) if extra["evals"] else
              [_md(f"No final-evaluation files ({FINAL_GLOB} in a run folder or its parent).")])
    lines += ["", "## Last evaluation during training", "",
              _md(f"The last metrics.jsonl record of each metric (images: {extra['counts'] or '—'})."), ""]
    lines += _md_table(["run", "kimg"] + [_head(m, k) for m, k in columns], _table_rows(finals, columns))
    lines += ["", "## Real-set baselines", ""]
    lines += (_md_table(_BASE_HEAD, extra["baselines"]) if extra["baselines"] else
              [_md(f"Not measured ({BASELINES_FILE}, written by ganeval.hooks.Evaluator).")])
    if bad:
        lines += ["", "## Non-finite values", "", f"{len(bad)} value(s) are {_NON_FINITE_NOTE}.", "",
                  "| run | value | kimg | is |", "|---" * 4 + "|"]
        lines += [f"| {_md(n)} | {_md(w)} | {_md(_fmt(x))} | {_md(_fmt(v))} |" for n, _, w, x, v in bad]
    lines += ["", "## Metrics over training", ""] + [f"![{_md(t)}]({_md_url(p)})" for t, p in plots]
    lines += ["", "## Latest samples", ""] + [f"![{_md(f'{n}, {kind}')}]({_md_url(p)})" for n, kind, p, _ in grids]
    near = extra.get("neighbours", [])
    if near:
        lines += ["", "## Nearest real images", "", _md(_NN_NOTE), ""]
        for x in near:
            lines += ([f"![{_md('nearest real images of ' + x['run'])}]({_md_url(x['png'])})", ""] if x["png"] else [])
            lines += [_md(f"{x['run']}: {x['note']}")
                      + (f" ([names and distances]({_md_url(x['json'])}))" if x["json"] else ""), ""]
    lines += ["", "## Protocol", ""] + _md_table(_PROTOCOL_HEAD, [[p[k] for k in _PROTOCOL_KEYS] for p in protocol])
    return "\n".join(lines) + "\n"
