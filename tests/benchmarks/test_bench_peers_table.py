"""The README's speed table against the peers is the committed results file, not a hand copy.

`bench_peers.py --markdown` renders the file; a table edited by hand, or a file re-measured
without rebuilding the README, fails here.  The file's own rows must also follow from its runs.
"""
import importlib.util
import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "benchmarks" / "results" / "peers-2000x128-cpu2.json"


def _bench_peers():
    spec = importlib.util.spec_from_file_location("bench_peers", REPO / "benchmarks" / "bench_peers.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_readme_speed_table_is_rendered_from_the_results_file():
    table = _bench_peers().markdown(json.loads(RESULTS.read_text()))
    assert table in (REPO / "README.md").read_text(), "rebuild it: bench_peers.py --markdown --out " + str(RESULTS)


def test_each_row_follows_from_its_runs():
    # The rows are what the script derives from the runs (`--table-only`), not hand edits:
    # every seconds figure, per-round ratio, median and peak RSS.
    mod, doc = _bench_peers(), json.loads(RESULTS.read_text())
    assert doc["rows"], "no rows"
    key = lambda r: (r["tool"], r["metric"])
    derived = mod.table(mod.measured_rows(doc["runs"]), doc["runs"])
    assert {key(r): r for r in doc["rows"]} == {key(r): r for r in derived}
    assert all(len(r) in (4, 6) for runs in doc["runs"].values() for r in runs), \
        "each run: seconds, RSS, output, load[, when, flags]"
