"""The report's nearest-neighbour section: a run's latest samples beside their nearest reals.

A run folder holds no image sets, only grids: ``reals.png`` (the Evaluator's first reals) and
the latest ``fakes*.png``.  Both are cut back into images (`ganeval.io.runfiles.grid_tiles`:
by the layout `save_grid` records, or, for a sample grid of another writer, by the reals'
tile size), and the first `NUM_FAKE` samples are looked up among the reals of the grid with
`ganeval.metrics.neighbours`.  So the search covers only the reals shown in ``reals.png``;
the caption says so, and ``ganeval neighbours REAL FAKE`` searches a whole training set.

Cost, chosen to keep ``ganeval report`` quick: mode ``auto`` (the default) uses Inception
features when weights are found on this machine (never downloaded; 64 reals and 8 samples,
cached like any set) and pixel space alone otherwise, with a note saying so; ``pixels``
never loads a network; ``off`` leaves the section out.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from ..errors import WeightsError
from ..io.fileio import atomic_write_text
from ..io.runfiles import REALS_GRID, grid_tiles

__all__ = ["MODES", "NUM_FAKE", "NUM_NEIGHBOURS", "neighbour_figures"]

MODES = ("auto", "inception", "pixels", "off")
NUM_FAKE = 8
NUM_NEIGHBOURS = 5


def neighbour_figures(runs: list[dict[str, Any]], out: Path, file_name: Callable[[str, str], str],
                      mode: str = "auto") -> list[dict[str, Any]]:
    """One entry per run with a ``reals.png``: ``{"run", "png", "json", "space", "note"}`` (png
    and json relative to `out`, None when no figure was made; note says what was searched, or
    why nothing was).  `file_name(stem, suffix)` gives a safe, unique file name."""
    if mode == "off":
        return []
    if mode not in MODES:
        from ..errors import UsageError
        raise UsageError(f"neighbours: unknown mode {mode!r}; choose from {', '.join(MODES)}")
    found = []
    for r in runs:
        if r.get("reals_bytes") is None:
            continue
        entry: dict[str, Any] = {"run": r["name"], "png": None, "json": None, "space": None}
        found.append(entry)
        if r.get("grid_bytes") is None:
            entry["note"] = "no sample grid (fakes*.png) to look up"
            continue
        reals = grid_tiles(r["reals_bytes"])
        fakes = grid_tiles(r["grid_bytes"], tile=None if reals is None else reals.shape[2:])
        if reals is None or fakes is None:
            entry["note"] = (f"the layout of {REALS_GRID if reals is None else r['grid'].name} is unknown (it was not "
                             "written by ganeval's save_grid, or its tiles are not the reals' size)")
            continue
        result, note = _search(reals, fakes, mode)
        stem = file_name(f"neighbours-{r['name']}", "")
        png, js = f"neighbours/{stem}.png", f"neighbours/{stem}.json"
        result.save_figure(out / png)
        atomic_write_text(out / js, result.to_json() + "\n")
        k, n = result.num_images["fake"], result.num_images["real"]
        entry.update(png=png, json=js, space=result.space,
                     note=f"the first {k} images of {r['grid'].name} and their nearest among the {n} reals of "
                          f"{REALS_GRID}, {_space(result.space)}{note}; "
                          "ganeval neighbours REAL FAKE searches a whole training set")
    return found


def _space(space: str) -> str:
    if space == "pixels":
        return "by pixel distance"
    return f"by {space} feature distance (left) and pixel distance (right)"


def _search(reals: Any, fakes: Any, mode: str) -> tuple[Any, str]:
    from ..metrics.neighbours import neighbours
    kw = dict(num_fake=NUM_FAKE, num_neighbours=NUM_NEIGHBOURS, quiet=True)
    if mode in ("auto", "inception"):
        try:
            return neighbours(reals, fakes, features="inception", **kw), ""
        except WeightsError:
            if mode == "inception":
                raise
    note = "; no Inception weights were found on this machine (ganeval weights --download)" if mode == "auto" else ""
    return neighbours(reals, fakes, features="pixels", **kw), note
