"""A leaderboard: many entries, one protocol, one ranked table, resumable.

Entries are image sets (anything `open_source` reads) or a registered `EntryKind`, such as
the reference trainer's checkpoints (``*.pt``: N images are sampled from G_ema with a fixed
seed) and run directories (their newest checkpoint).  Every entry is measured against one reference set under one protocol: metrics,
image count, seed, ganeval version, the reference set's content fingerprint, the weights
sha256 of Inception (and of DINOv2 for ``fd_dinov2``) and the error-bar settings.  The store directory keeps ``protocol.json`` and one result file
per finished entry, each written atomically, so a crash loses nothing finished and a rerun
skips what is done.  A store made under another protocol is refused: rankings across
protocols are meaningless.  The reference set is identified by its fingerprint, not by the
path it was given as (kept in the protocol for people to read), so the same folder reached
from another directory is the same protocol.  Each result also records its entry's resolved
path and content fingerprint, so an entry whose files changed under the same name is refused instead of being
skipped with its old number, until ``rerun`` names it.  With error bars (``repeats`` for SWD,
``bootstrap`` for feature metrics) each row also says whether its difference from the next
row is significant, from the paired replicates (`ganeval.metrics.uncertainty`).

Store files are read as someone else's: regular files of bounded size, and a result holding
a number that is not finite (NaN compares false with everything, so one of them scrambles
the whole ranking) is a `DataError` naming the file.  Every string in the tables comes from
files (entry names are file names, value names are keys), so each output format escapes it:
markdown as the report does; CSV cells that a spreadsheet would run as a formula (starting
with ``=``, ``+``, ``-``, ``@``, tab, CR or LF: OWASP's rule) get a leading ``'``, and the csv
module quotes cells holding quotes, commas or newlines.  Numbers are written as numbers,
never prefixed, so a negative ``vs_next_diff`` stays a number in a spreadsheet.  The CSV is
a header row and data rows only (the protocol is in leaderboard.json and .md), so pandas and
spreadsheets read it as it is.
"""
from __future__ import annotations

import csv
import hashlib
import html
import io
import json
import os
import re
from pathlib import Path
from typing import Any, Callable, Sequence

from .. import __version__
from ..errors import DataError, UsageError
from ..io.fileio import atomic_write_text, check_target, read_bounded, sha256_of
from ..metrics.registry import (check_error_bars, default_rank_value, get_metric, lower_is_better, parse_metric_list,
                                resolve)
from ..results import MetricResult, non_finite
from ..io.sources import open_source
from .report import _md

__all__ = ["Entry", "EntryKind", "register_entry_kind", "protocol_for", "run_leaderboard", "rank"]

PROTOCOL_KEYS = ("id", "real", "real_fingerprint", "metrics", "num_images", "seed", "resolution", "ganeval_version")
# In the protocol for people to read, left out of its identity: the reference set is known by
# its fingerprint, and the path as typed depends on the directory the command ran in.
INFORMATIONAL_KEYS = ("id", "real")
RESULT_KEYS = ("entry", "kind", "path", "protocol", "results")
# A row's own columns: a stored value of one of these names would overwrite them.
ROW_KEYS = ("rank", "entry", "kind", "path", "vs_next", "vs_next_diff", "vs_next_lo", "vs_next_hi")
# A stored result is a few kB (replicates included); protocol.json less.  Past this, a file in
# the store is not one ganeval wrote (or is a link to /dev/zero).
MAX_STORE_FILE_BYTES = 64 * 2**20


class EntryKind:
    """A kind of leaderboard entry that is not an image set, e.g. a generator checkpoint.

    `detect(path)` says whether a path is of this kind; `checkpoint(path)` is the file that
    determines what is sampled (hashed into the entry's fingerprint); `sample(file, num, seed,
    device)` returns `num` images from it (any image source; uint8 NCHW is usual).  Packages
    register kinds with `register_entry_kind`, or declare a ``ganeval.entry_kinds`` entry
    point whose target is called once to register them (the reference trainer registers
    "checkpoint" and "run" this way), so ganeval itself never imports a trainer.
    """

    def __init__(self, name: str, detect: Callable[[Path], bool], checkpoint: Callable[[Path], Path],
                 sample: Callable[..., Any]):
        self.name, self.detect, self.checkpoint, self.sample = name, detect, checkpoint, sample


_KINDS: dict[str, EntryKind] = {}


def register_entry_kind(kind: EntryKind) -> None:
    """Make entries of `kind` known to the leaderboard (a later registration of a name wins)."""
    _KINDS[kind.name] = kind


def _kinds() -> list[EntryKind]:
    from ..io.generators import load_plugins
    load_plugins()
    return list(_KINDS.values())


class Entry:
    """One contestant: a name and a path (an image set, or a registered kind such as a checkpoint)."""

    def __init__(self, name: str, path: str):
        # A leading dot would make the result file hidden, where rank() skips temporaries.
        if not re.fullmatch(r"[\w+-][\w.+-]*", name):
            raise UsageError(f"entry name {name!r}: use letters, digits, '.', '_', '+' or '-', not starting with '.'")
        self.name, self.path = name, path

    @classmethod
    def parse(cls, spec: str) -> "Entry":
        if "=" not in spec:
            raise UsageError(f"--entry {spec!r}: write NAME=PATH")
        name, path = spec.split("=", 1)
        return cls(name, path)

    def _kind(self) -> EntryKind | None:
        p = Path(self.path)
        return next((k for k in _kinds() if k.detect(p)), None)

    def kind(self) -> str:
        """The registered kind's name, or "images" for anything `open_source` reads."""
        k = self._kind()
        return "images" if k is None else k.name

    def checkpoint(self) -> Path | None:
        """The file this entry samples (e.g. a run's newest checkpoint), or None for an image set."""
        k = self._kind()
        return None if k is None else Path(k.checkpoint(Path(self.path)))

    def images(self, num: int, seed: int, device: Any = None) -> Any:
        """The entry as an image source: itself, or `num` samples from its checkpoint."""
        k = self._kind()
        return self.path if k is None else k.sample(self.checkpoint(), num, seed, device)

    def fingerprint(self, **source_kw: Any) -> str:
        """What must be unchanged for a stored result of this entry to still be its result.

        An image set's source fingerprint (opened with `source_kw`, the `open_source` options
        it is measured with: ``recursive`` changes which files it holds); a checkpoint's
        sha256; for a run directory, its newest checkpoint's path and sha256, since a new
        snapshot changes what is sampled.
        """
        ckpt = self.checkpoint()
        if ckpt is None:
            return open_source(self.path, **source_kw).fingerprint()
        digest = f"sha256:{sha256_of(ckpt)}"
        return digest if self.kind() == "checkpoint" else f"{ckpt.resolve()} {digest}"


def protocol_for(real: str, metrics: Sequence[str], num_images: int, seed: int,
                 weights: str | None = None, *, bootstrap: int = 0, repeats: int = 0,
                 redraw: str = "patches", protocol: str = "tf1", recursive: bool = False,
                 resize: int | None = None, subset: str = "first", skip_bad: bool = False) -> dict[str, Any]:
    """The protocol: everything that must match for two results to be ranked together.

    The error-bar settings (`bootstrap`, `repeats`, `redraw`) are part of it when set: the
    paired comparison of neighbours needs every entry's replicates drawn alike; so are the
    reading options that change which pixels are measured (`resize`, `recursive`, `subset`,
    `skip_bad`).  Its ``id`` hashes everything but the `real` path as given (see
    `INFORMATIONAL_KEYS`): the reference set counts by its fingerprint.
    """
    src = open_source(real, num_images=num_images, seed=seed, recursive=recursive, resize=resize, subset=subset,
                      skip_bad=skip_bad)
    proto: dict[str, Any] = {"real": str(real), "real_fingerprint": src.fingerprint(), "metrics": sorted(metrics),
                             "num_images": num_images, "seed": seed, "resolution": list(src.resolution or ()),
                             "ganeval_version": __version__}
    # Only when set, so the protocols (and ids) of stores made without them are unchanged.
    reading = dict(resize=resize, recursive=recursive, subset=subset if subset != "first" else None,
                   skip_bad=skip_bad)
    proto.update({k: v for k, v in reading.items() if v})
    if bootstrap:
        proto["bootstrap"] = bootstrap
    if repeats:
        proto.update(repeats=repeats, redraw=redraw)
    if any(get_metric(m).inception != "none" for m in metrics):
        from ..inception.weights import locate, sha256_of
        proto["weights_sha256"] = sha256_of(locate(weights)[0])
        from ..inception.protocol import get_protocol
        proto["inception_protocol"] = get_protocol(protocol).name
    if "fd_dinov2" in metrics:  # FD_DINOv2 finds its own (ViT-L/14) weights; their identity is protocol too
        from ..dinov2.weights import locate as locate_dinov2
        from ..inception.weights import sha256_of
        proto["dinov2_weights_sha256"] = sha256_of(locate_dinov2("vitl14")[0])
    for metric, model, key in (("fd_clip", "vitb32", "clip"), ("cmmd", "vitl14-336", "cmmd")):
        if metric in metrics:  # CLIP finds its own weights too (ViT-B/32 for FD_CLIP, ViT-L/14@336 for CMMD)
            from ..clip.weights import locate as locate_clip
            from ..io.fileio import sha256_of as _sha
            proto[f"{key}_weights_sha256"] = _sha(locate_clip(model)[0])
    if "ppl" in metrics:  # LPIPS' VGG16 backbone and linear layers, found as `ganeval ppl` finds them
        from ..io.fileio import sha256_of as _sha
        from ..lpips.weights import locate_lin, locate_vgg16
        proto["lpips_weights_sha256"] = [_sha(locate_vgg16()[0]), _sha(locate_lin())]
    proto["id"] = protocol_id(proto)
    return proto


def protocol_id(proto: dict[str, Any]) -> str:
    """The identity of a protocol: a hash of everything in it but `INFORMATIONAL_KEYS`."""
    kept = {k: v for k, v in proto.items() if k not in INFORMATIONAL_KEYS}
    return hashlib.sha256(json.dumps(kept, sort_keys=True).encode()).hexdigest()[:16]


def _load_json(path: Path, what: str, advice: str) -> Any:
    try:
        return json.loads(read_bounded(path, MAX_STORE_FILE_BYTES).decode("utf-8"))
    except DataError as e:
        raise DataError(f"{e}; {advice}") from None
    except json.JSONDecodeError as e:
        raise DataError(f"{path}: not a {what} (invalid JSON: {e.msg} at line {e.lineno}); {advice}") from None
    except UnicodeDecodeError:
        raise DataError(f"{path}: not a {what} (not UTF-8 text); {advice}") from None


def _check_store(store: Path, proto: dict[str, Any]) -> dict[str, Any]:
    """The store's own protocol when it is `proto` (compared by `protocol_id`, so a store made
    with the reference set given by another path, or made before the path left the identity,
    still matches); `proto` for a new store.  Refuses a store made under another protocol, or
    whose protocol.json is unreadable."""
    pfile = store / "protocol.json"
    if not pfile.exists():
        return proto
    advice = "restore it, or use a new --store directory"
    old = _load_json(pfile, "leaderboard protocol", advice)
    if not isinstance(old, dict):
        raise DataError(f"{pfile}: not a leaderboard protocol (a JSON {type(old).__name__}, not an object); {advice}")
    missing = [k for k in PROTOCOL_KEYS if k not in old]
    if missing:
        raise DataError(f"{pfile}: not a leaderboard protocol (missing {', '.join(missing)}); {advice}")
    if protocol_id(old) != proto["id"]:
        diff = sorted(k for k in set(old) | set(proto) if old.get(k) != proto.get(k) and k not in INFORMATIONAL_KEYS)
        raise UsageError(f"{store}: holds results under another protocol (differs in {', '.join(diff)}); "
                         "use a new --store directory to rank under this one")
    return old  # its id is the one its result files carry


def _read_result(path: Path, protocol_id: str | None = None) -> dict[str, Any]:
    """A stored result record, checked well enough that ranking it cannot go silently wrong."""
    name = path.stem
    advice = f"remove it and measure {name} again"
    rec = _load_json(path, "leaderboard result", advice)
    why = None
    if not isinstance(rec, dict):
        why = f"a JSON {type(rec).__name__}, not an object"
    elif any(k not in rec for k in RESULT_KEYS):
        why = "missing " + ", ".join(k for k in RESULT_KEYS if k not in rec)
    elif rec["entry"] != name:
        why = f"it holds entry {rec['entry']!r}, not {name!r}"
    elif protocol_id is not None and rec["protocol"] != protocol_id:
        why = f"measured under protocol {rec['protocol']}, not this store's {protocol_id}"
    elif not all(isinstance(rec[k], str) for k in ("entry", "kind", "path")):
        why = "entry, kind or path is not a string"
    elif not isinstance(rec["results"], list):
        why = "results is not a list"
    else:
        for i, r in enumerate(rec["results"]):
            if not isinstance(r, dict) or not isinstance(r.get("values"), dict):
                why = f"results[{i}] has no values"
                break
            bad = [k for k, v in r["values"].items() if isinstance(v, bool) or not isinstance(v, (int, float))]
            if bad:
                why = f"value {bad[0]!r} is not a number"
                break
            reserved = [k for k in r["values"] if k in ROW_KEYS]
            if reserved:
                why = f"value name {reserved[0]!r} is one of the table's own columns"
                break
            why = _uncertainty_problem(r.get("uncertainty", {})) or non_finite(r)
            if why:
                break
    if why:
        raise DataError(f"{path}: not a usable leaderboard result ({why}); {advice}")
    return rec


def _uncertainty_problem(unc: Any) -> str | None:
    """Why a stored result's error bars cannot be used for a paired comparison, or None."""
    if not isinstance(unc, dict):
        return "uncertainty is not an object"
    for key, u in unc.items():
        if not isinstance(u, dict) or not isinstance(u.get("replicates"), list) or u.get("method") not in (
                "bootstrap", "repeats"):
            return f"the error bar of {key!r} is malformed"
        if any(isinstance(x, bool) or not isinstance(x, (int, float)) for x in u["replicates"]):
            return f"a replicate of {key!r} is not a number"
        if len(u["replicates"]) != u.get("n"):
            return f"the error bar of {key!r} holds {len(u['replicates'])} replicates, not its n={u.get('n')}"
    return None


def _check_metrics(metrics: Sequence[str] | str) -> list[str]:
    text = metrics if isinstance(metrics, str) else ",".join(map(str, metrics))
    try:
        return parse_metric_list(text)
    except UsageError as e:
        raise UsageError(f"--metrics: {e}") from None


def _check_rank_key(key: str, metrics: Sequence[str], resolution: Sequence[int]) -> None:
    specs = resolve(metrics)
    keys = [k for s in specs for k in (s.values or (s.primary,))]
    if "swd" in metrics:
        if len(resolution) != 2:
            if key.startswith(get_metric("swd").value_prefix):
                return  # levels unknown until measured; rank() still refuses a key nothing produced
        else:
            from ..metrics.pyramid import pyramid_resolutions
            keys += [f"SWDx1e3_{r}" for r in pyramid_resolutions(*resolution)]
    if key not in keys:
        raise UsageError(f"--rank-by {key!r}: not a value that metrics {','.join(metrics)} produce; "
                         f"choose from {', '.join(keys)}")


def _check_entries(entries: Sequence[Entry], rerun: Sequence[str]) -> None:
    seen: set[str] = set()
    for e in entries:
        if e.name in seen:
            raise UsageError(f"entry name {e.name!r} is given twice; give each entry its own name")
        seen.add(e.name)
    for name in rerun:
        if name not in seen:
            raise UsageError(f"--rerun {name!r}: no entry of that name in this call; "
                             f"the entries are {', '.join(sorted(seen))}")


def _unchanged(e: Entry, rec: dict[str, Any], path: str, fingerprint: str) -> None:
    """Refuse to keep a stored result for an entry whose files are no longer the ones measured."""
    hint = f"pass --rerun {e.name} to measure it again and replace the stored result, or give it another name"
    if "fingerprint" not in rec or "resolved_path" not in rec:
        raise UsageError(f"entry {e.name!r}: its stored result does not record what was measured, so a change "
                         f"cannot be detected; {hint}")
    if rec["resolved_path"] != path:
        raise UsageError(f"entry {e.name!r}: was measured from {rec['resolved_path']}, now given {path}; {hint}")
    if rec["fingerprint"] != fingerprint:
        raise UsageError(f"entry {e.name!r}: {e.path} changed since it was measured; {hint}")


def run_leaderboard(real: str, entries: Sequence[Entry], store: str | os.PathLike, *,
                    metrics: Sequence[str] = ("swd",), num_images: int = 1024, seed: int = 0,
                    weights: str | None = None, device: Any = None, rank_by: str | None = None,
                    rerun: Sequence[str] = (), evaluate_fn: Callable[..., list[MetricResult]] | None = None,
                    log: Callable[[str], None] = print, bootstrap: int = 0, repeats: int = 0,
                    redraw: str = "patches", protocol: str = "tf1", recursive: bool = False,
                    resize: int | None = None, subset: str = "first", skip_bad: bool = False,
                    batch_size: int = 64, workers: int | None = None,
                    quiet: bool = True) -> list[dict[str, Any]]:
    """Evaluate every entry not yet stored under this protocol, then return the ranked rows.

    A stored entry is skipped only if its resolved path and fingerprint are those it was
    measured with; otherwise it is refused unless its name is in `rerun`, which measures it
    again and replaces its result.  Each finished entry is written to
    ``store/results/<name>.json`` at once; the ranked table is written as ``leaderboard.md``,
    ``.csv`` and ``.json`` with the protocol in the header.

    With `bootstrap` (feature metrics) or `repeats` (SWD), every result carries replicates
    drawn alike for all entries, and each row says whether its difference from the next
    row in the ranking is significant (`rank`).

    `recursive`, `resize`, `subset` and `skip_bad` read every set as the metric commands do
    and are part of the protocol; `batch_size`, `workers` and `quiet` (no progress bars)
    change no number.
    """
    from ..evaluate import evaluate
    evaluate_fn = evaluate_fn or evaluate
    # Everything that can be refused is refused before protocol.json exists, so a typo cannot
    # create a store whose protocol then refuses the corrected command.
    metrics = _check_metrics(metrics)
    rerun = (rerun,) if isinstance(rerun, str) else tuple(rerun)
    _check_entries(entries, rerun)
    on_generator = [m for m in metrics if get_metric(m).needs_generator]
    for e in entries if on_generator else ():
        if e.checkpoint() is None:
            raise UsageError(f"entry {e.name!r}: {', '.join(on_generator)} measures a generator (z -> images), and "
                             f"{e.path} is an image set; give checkpoint entries, or leave {on_generator[0]} out")
    store = Path(store)
    from ..metrics.uncertainty import check_count
    bootstrap, repeats = check_count(bootstrap, "--bootstrap"), check_count(repeats, "--repeats")
    check_error_bars(resolve(metrics), bootstrap=bootstrap, repeats=repeats)
    if any(get_metric(m).inception == "logits" for m in metrics):
        from ..inception.features import require_logits
        require_logits(weights, device)  # IS without the classifier layer: refused before any set is opened
    reading = dict(recursive=recursive, resize=resize, subset=subset, skip_bad=skip_bad)
    proto = protocol_for(real, metrics, num_images, seed, weights, bootstrap=bootstrap, repeats=repeats,
                         redraw=redraw, protocol=protocol, **reading)
    error_bars = {k: proto[k] for k in ("bootstrap", "repeats", "redraw") if k in proto}
    key = rank_by or default_rank_value(metrics)
    _check_rank_key(key, metrics, proto["resolution"])
    inception_protocol = proto.get("inception_protocol")
    proto = _check_store(store, proto)
    todo = []
    for e in entries:
        target = store / "results" / f"{e.name}.json"
        path, fingerprint = str(Path(e.path).resolve()), e.fingerprint(recursive=recursive, resize=resize)
        if target.exists() and e.name not in rerun:
            _unchanged(e, _read_result(target, proto["id"]), path, fingerprint)
            log(f"{e.name}: unchanged since it was measured, skipped")  # the protocol is in the table's header
        else:
            todo.append((e, target, path, fingerprint))
    # Every file this run will write is checked before the first entry is measured: a link or
    # device there must not cost the evaluations first.
    for f in [store / "protocol.json", *(t for _, t, _, _ in todo),
              *(store / f"leaderboard.{ext}" for ext in ("md", "csv", "json"))]:
        check_target(f)
    if not (store / "protocol.json").exists():
        store.mkdir(parents=True, exist_ok=True)
        atomic_write_text(store / "protocol.json", json.dumps(proto, indent=2))
    for e, target, path, fingerprint in todo:
        log(f"{e.name}: {'re-' if target.exists() else ''}evaluating {e.kind()} {e.path}")
        run = dict(num_images=num_images, seed=seed, device=device, weights=weights, batch_size=batch_size,
                   workers=workers, quiet=quiet, **reading, **error_bars,
                   **({"protocol": inception_protocol} if inception_protocol else {}))
        on_images = [m for m in metrics if m not in on_generator]
        results = evaluate_fn(real, e.images(num_images, seed, device), on_images, **run) if on_images else []
        if on_generator:  # the checkpoint itself: PPL draws its own latents (num_images of them), no error bars
            results += evaluate_fn(real, str(e.checkpoint()), on_generator,
                                   **{k: v for k, v in run.items() if k not in error_bars})
        record = {"entry": e.name, "path": e.path, "resolved_path": path, "kind": e.kind(),
                  "fingerprint": fingerprint, "protocol": proto["id"], "results": [r.to_dict() for r in results]}
        for r in record["results"]:
            why = non_finite(r)
            if why:  # stored, it would only be refused by every later run: so it is never stored
                raise DataError(f"entry {e.name!r}: {r['metric']} came out unusable ({why}); nothing was stored "
                                f"for it: check its images ({e.path})")
        atomic_write_text(target, json.dumps(record, indent=1, allow_nan=False))
    rows = rank(store, key, protocol_id=proto["id"])
    _write_tables(store, proto, rows, key)
    return rows


def rank(store: str | os.PathLike, key: str, *, protocol_id: str | None = None) -> list[dict[str, Any]]:
    """Rows of every stored entry, best first by value `key` (direction from the metric registry).

    With `protocol_id`, a result measured under another protocol is refused (DataError).
    """
    # Dot files are atomic_write's temporaries (a killed writer can leave one), never results.
    files = sorted(f for f in (Path(store) / "results").glob("*.json") if not f.name.startswith("."))
    rows, bars = [], []
    for f in files:
        rec = _read_result(f, protocol_id)
        values = {k: v for r in rec["results"] for k, v in r["values"].items()}
        rows.append({"entry": rec["entry"], "kind": rec["kind"], "path": rec["path"], **values})
        bars.append({k: u for r in rec["results"] for k, u in (r.get("uncertainty") or {}).items()})
    if rows and not any(key in r for r in rows):
        raise UsageError(f"cannot rank by {key!r}; measured values are {sorted(k for k in rows[0] if k[0].isupper())}")
    for f, r in zip(files, rows):
        if key not in r:
            raise DataError(f"{f}: has no value {key!r} although other entries do; remove it and measure "
                            f"{f.stem} again")
    lower = lower_is_better(key)
    order = sorted(range(len(rows)), key=lambda i: rows[i][key] if lower else -rows[i][key])
    rows, bars = [rows[i] for i in order], [bars[i] for i in order]
    for i, r in enumerate(rows, 1):
        r["rank"] = i
    _significance(rows, bars, key)
    return rows


def _significance(rows: list[dict[str, Any]], bars: list[dict[str, Any]], key: str) -> None:
    """Add each row's error bar on `key` and, against the next row, the paired difference and
    whether it is significant (its 95% interval excludes 0); "n/a" says why not when either
    row has no error bars or they were not drawn alike."""
    from ..metrics.uncertainty import paired_difference
    for r, b in zip(rows, bars):
        if key in b:
            r.update({f"{key}_std": b[key]["std"], f"{key}_lo": b[key]["lo"], f"{key}_hi": b[key]["hi"]})
    if not any(key in b for b in bars):
        return
    for i in range(len(rows) - 1):
        a, b = bars[i].get(key), bars[i + 1].get(key)
        if a is None or b is None:
            rows[i]["vs_next"] = "n/a: no error bars on " + (rows[i]["entry"] if a is None else rows[i + 1]["entry"])
            continue
        d = paired_difference(rows[i][key], a, rows[i + 1][key], b)
        if d["significant"] is None:
            rows[i]["vs_next"] = "n/a: " + d["error"]
            continue
        rows[i].update(vs_next="significant" if d["significant"] else "not significant",
                       vs_next_diff=d["difference"], vs_next_lo=d["lo"], vs_next_hi=d["hi"])


_SIGNIFICANCE = ("vs_next", "vs_next_diff", "vs_next_lo", "vs_next_hi")


def columns(rows: Sequence[dict[str, Any]], key: str) -> list[str]:
    """The table's columns: rank, entry, the value ranked by (`key`) and its error bar, the
    other values in the order the metric commands print them, the entry's kind, and the
    comparison with the next row.

    Values keep the order of the stored results (each is a result as ``ganeval all`` made
    it, its values in the order its command prints them), taken across rows as first seen.
    """
    seen = list(dict.fromkeys(k for r in rows for k in r))
    bar = [c for c in (f"{key}_std", f"{key}_lo", f"{key}_hi") if c in seen]
    values = [k for k in seen if k not in ROW_KEYS and k != key and k not in bar]
    return ["rank", "entry", key, *bar, *values, "kind", *(c for c in _SIGNIFICANCE if c in seen)]


def _directed(metrics: Sequence[str], key: str) -> set[str]:
    """Columns that get a direction marker: the ranked value and every metric's reported
    values but the spreads (an ``_std`` has no better direction)."""
    specs = resolve(metrics)
    return {key} | {v for s in specs for v in (s.values or (s.primary,)) if not v.endswith("_std")}


def _marked(column: str, directed: set[str]) -> str:
    if column not in directed:
        return column
    return f"{column} {'↓' if lower_is_better(column) else '↑'}"


def _write_tables(store: Path, proto: dict[str, Any], rows: list[dict[str, Any]], key: str) -> None:
    present = {k for r in rows for k in r}
    cols = columns(rows, key)
    directed = _directed(proto["metrics"], key)
    lower = lower_is_better(key)
    header = (f"protocol {proto['id']}: real={proto['real']} (fingerprint {proto['real_fingerprint'][:12]}) "
              f"metrics={','.join(proto['metrics'])} "
              f"num_images={proto['num_images']} seed={proto['seed']} ganeval={proto['ganeval_version']}"
              + (f" weights={proto['weights_sha256'][:12]}" if "weights_sha256" in proto else "")
              + (f" bootstrap={proto['bootstrap']}" if "bootstrap" in proto else "")
              + (f" repeats={proto['repeats']} redraw={proto['redraw']}" if "repeats" in proto else "")
              + "".join(f" {k}={proto[k]}" for k in ("resize", "recursive", "subset", "skip_bad") if k in proto)
              + f"; ranked by {_marked(key, {key})} (↓ lower is better, ↑ higher is better)")
    if "vs_next" in present:
        header += ("; vs_next: is the difference from the next row significant (95% interval of the paired "
                   "differences over the same resamples/seeds excludes 0)")
    fmt = lambda v: f"{v:.4f}" if isinstance(v, float) else str(v)  # noqa: E731
    # The comment is for tools that look for the protocol id; the full protocol is in the
    # bold line (escaped like every cell) and in leaderboard.json.
    md = [f"<!-- ganeval leaderboard, protocol {_comment(proto['id'])} -->", f"**{_md(header)}**", "",
          "| " + " | ".join(_md(_marked(c, directed)) for c in cols) + " |", "|---" * len(cols) + "|"]
    md += ["| " + " | ".join(_md(fmt(r.get(c, ""))) for c in cols) + " |" for r in rows]
    atomic_write_text(store / "leaderboard.md", "\n".join(md) + "\n")
    # The CSV's header holds the plain value names (what a script indexes a column by); the
    # direction is in leaderboard.json's "rank_by" and in the markdown.
    buf = io.StringIO()
    w = csv.writer(buf)  # QUOTE_MINIMAL: cells with quotes, commas, CR or LF are quoted
    w.writerow([_csv_cell(c) for c in cols])
    w.writerows([_csv_cell(r.get(c, "")) for c in cols] for r in rows)
    atomic_write_text(store / "leaderboard.csv", buf.getvalue())
    ordered = [{c: r[c] for c in [*cols, "path"] if c in r} for r in rows]
    atomic_write_text(store / "leaderboard.json", json.dumps(
        {"protocol": proto, "rank_by": {"value": key, "lower_is_better": lower}, "columns": cols, "rows": ordered},
        indent=1, allow_nan=False))


# OWASP's CSV-injection rule: a spreadsheet evaluates a cell starting with one of these.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")


def _csv_cell(v: Any) -> Any:
    """A CSV cell that no spreadsheet runs as a formula: text starting like one gets a leading
    ``'``; numbers (finite, checked on reading) stay numbers, negative ones included."""
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return v
    text = str(v)
    return "'" + text if text.startswith(_FORMULA_START) else text


def _comment(s: str) -> str:
    """Text that cannot end or break an HTML comment (no ``--``, ``<`` or ``>`` survive)."""
    return html.escape(s, quote=False).replace("-", "&#45;")


def markdown_table(store: str | os.PathLike) -> str:
    """The store's leaderboard.md as text to print: without its first line, an HTML comment
    for tools that look for the protocol id, which the header line below it also states
    (printed, the protocol would appear twice)."""
    p = Path(store) / "leaderboard.md"
    if not p.exists():
        raise DataError(f"{store}: no leaderboard.md yet")
    lines = read_bounded(p, MAX_STORE_FILE_BYTES).decode("utf-8", errors="replace").splitlines()
    return "\n".join(lines[1:] if lines and lines[0].startswith("<!--") else lines)
