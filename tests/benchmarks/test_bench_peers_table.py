"""The README's speed table against the peers is the committed results file, not a hand copy.

`bench_peers.py --markdown` renders the file; a table edited by hand, or a file re-measured
without rebuilding the README, fails here.  The file's own rows must also follow from its runs.
"""
import importlib.util
import json
import statistics
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
    doc = json.loads(RESULTS.read_text())
    assert doc["rows"], "no rows"
    for row in doc["rows"]:
        theirs = doc["runs"][f"{row['tool']}/{row['metric']}/{row['tool']}"]
        ours = doc["runs"][f"{row['tool']}/{row['metric']}/ganeval"]
        assert row["peer_seconds"] == [r[0] for r in theirs] and row["ganeval_seconds"] == [r[0] for r in ours]
        ratios = [t[0] / o[0] for t, o in zip(theirs, ours)]
        assert row["speedups"] == ratios and row["speedup_median"] == statistics.median(ratios)
        assert all(len(r) == 6 or len(r) == 4 for r in theirs + ours), "each run: seconds, RSS, output, load[, when, flags]"
