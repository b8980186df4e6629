"""Error bars where users read numbers: metrics.jsonl from the Evaluator, the report's table
and bands, and the leaderboard's paired significance between neighbours."""
import json
import shutil

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from ganeval import DataError
from ganeval.cli import main
from ganeval.hooks import Evaluator
from ganeval.io.samples import photo_crops
from ganeval.reporting.leaderboard import Entry, rank, run_leaderboard
from ganeval.reporting.report import build_report


@pytest.fixture(scope="module")
def sets(tmp_path_factory):
    d = tmp_path_factory.mktemp("sets")
    paths = {}
    for name, kw in (("real", dict(seed=1)), ("clean", dict(seed=2)), ("heavy", dict(seed=4, blur_sigma=2.0,
                                                                                      noise_sigma=12.0))):
        np.save(d / f"{name}.npy", photo_crops(128, 32, **kw))
        paths[name] = str(d / f"{name}.npy")
    shutil.copy(paths["clean"], d / "clean_copy.npy")
    paths["clean_copy"] = str(d / "clean_copy.npy")
    return paths


def _generator(images):
    import torch
    x = torch.from_numpy(images).float() / 127.5 - 1

    def generate(z):
        i = (z[:, 0].abs() * 1000).long() % x.shape[0]
        return x[i]
    return generate


def test_evaluator_logs_error_bars_and_the_report_draws_them(sets, tmp_path):
    run = tmp_path / "run"
    ev = Evaluator(sets["real"], metrics=("swd",), num_images=64, out_dir=run, latent_dim=4, repeats=3)
    gen = _generator(np.load(sets["heavy"]))
    for kimg in (1.0, 2.0):
        results = ev(gen, kimg=kimg)
    assert results["swd"].uncertainty["SWDx1e3_avg"]["n"] == 3
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    u = records[-1]["uncertainty"]["SWDx1e3_avg"]
    assert {"mean", "std", "lo", "hi", "n", "method"} <= set(u) and "replicates" not in u
    assert u == {k: v for k, v in results["swd"].uncertainty["SWDx1e3_avg"].items() if k != "replicates"}

    # The same run without error bars, to see what the band adds to the plot.
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "metrics.jsonl").write_text("".join(
        json.dumps({k: v for k, v in r.items() if k != "uncertainty"}) + "\n" for r in records))
    page = build_report([run], tmp_path / "report").read_text()
    value = results["swd"].values["SWDx1e3_avg"]
    assert f"{value:.4g} ± {u['std']:.2g} [{u['lo']:.4g}, {u['hi']:.4g}]" in page
    assert "±" in (tmp_path / "report" / "report.md").read_text()
    build_report([plain], tmp_path / "report_plain")

    def ink(path):
        with Image.open(path) as im:
            return int((np.asarray(im.convert("L")) < 250).sum())
    name = "plots/swd-SWDx1e3_avg.png"
    assert ink(tmp_path / "report" / name) > ink(tmp_path / "report_plain" / name)


@pytest.mark.parametrize("bad", ['"x"', '{"SWDx1e3_avg": 3}', '{"SWDx1e3_avg": {"std": "1", "lo": 0, "hi": 1}}',
                                 '{"SWDx1e3_avg": {"std": 1, "lo": null, "hi": 2}}'])
def test_report_ignores_malformed_error_bars(tmp_path, bad):
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.jsonl").write_text(
        f'{{"kimg": 1, "metric": "swd", "values": {{"SWDx1e3_avg": 5.0}}, "uncertainty": {bad}}}\n')
    page = build_report([run], tmp_path / "report").read_text()
    assert "<td>5</td>" in page and "±" not in page


def test_leaderboard_marks_neighbours_significant_and_the_same_images_never(sets, tmp_path):
    entries = [Entry("heavy", sets["heavy"]), Entry("clean", sets["clean"]), Entry("clean_copy", sets["clean_copy"])]
    rows = run_leaderboard(sets["real"], entries, tmp_path, metrics=["swd"], num_images=128, repeats=4,
                           log=lambda s: None)
    by = {r["entry"]: r for r in rows}
    assert [r["entry"] for r in rows][-1] == "heavy"
    first, second = rows[0], rows[1]
    assert {first["entry"], second["entry"]} == {"clean", "clean_copy"}
    assert first["vs_next"] == "not significant"  # the same images: identical replicates
    assert first["vs_next_diff"] == first["vs_next_lo"] == first["vs_next_hi"] == 0.0
    assert second["vs_next"] == "significant" and second["vs_next_hi"] < 0  # clean beats heavy
    assert "vs_next" not in by["heavy"]
    for r in rows:
        assert r["SWDx1e3_avg_lo"] <= r["SWDx1e3_avg_hi"] and r["SWDx1e3_avg_std"] > 0
    md = (tmp_path / "leaderboard.md").read_text()
    assert "repeats=4 redraw=patches" in md and "| not significant |" in md and "| significant |" in md
    csv_text = (tmp_path / "leaderboard.csv").read_text()
    assert "vs_next,vs_next_diff,vs_next_lo,vs_next_hi" in csv_text
    saved = json.loads((tmp_path / "leaderboard.json").read_text())
    assert saved["protocol"]["repeats"] == 4 and saved["rows"][1]["vs_next"] == "significant"


def test_leaderboard_bootstrap_pairs_feature_metrics_over_the_same_resamples(sets, tmp_path, tiny_inception):
    # KID under the stand-in network (8x8 mean colours): photos at half brightness are far from
    # the reference; "clean" and its copy are the same images.
    dark = tmp_path / "dark.npy"
    np.save(dark, np.load(sets["clean"]) // 2)
    entries = [Entry("dark", str(dark)), Entry("clean", sets["clean"]), Entry("clean_copy", sets["clean_copy"])]
    rows = run_leaderboard(sets["real"], entries, tmp_path / "lb", metrics=["kid"], num_images=64, bootstrap=20,
                           log=lambda s: None)
    assert [r["entry"] for r in rows] == ["clean", "clean_copy", "dark"]
    assert rows[0]["vs_next"] == "not significant" and rows[0]["vs_next_diff"] == 0.0
    assert rows[1]["vs_next"] == "significant" and rows[1]["vs_next_hi"] < 0
    assert json.loads((tmp_path / "lb" / "protocol.json").read_text())["bootstrap"] == 20


def test_entries_without_error_bars_say_why_not(sets, tmp_path):
    run_leaderboard(sets["real"], [Entry("clean", sets["clean"])], tmp_path, metrics=["swd"], num_images=64,
                    log=lambda s: None)
    rec = json.loads((tmp_path / "results" / "clean.json").read_text())
    assert "uncertainty" in rec["results"][0] and not rec["results"][0]["uncertainty"]
    assert "vs_next" not in rank(tmp_path, "SWDx1e3_avg")[0]


@pytest.mark.parametrize("bad", [
    {"SWDx1e3_avg": "x"},
    {"SWDx1e3_avg": {"method": "bootstrap", "n": 2, "replicates": [1.0, "2"]}},
    {"SWDx1e3_avg": {"method": "bootstrap", "n": 3, "replicates": [1.0, 2.0]}},
    {"SWDx1e3_avg": {"method": "magic", "n": 2, "replicates": [1.0, 2.0]}},
])
def test_malformed_stored_error_bars_are_one_line_data_errors(sets, tmp_path, bad):
    run_leaderboard(sets["real"], [Entry("clean", sets["clean"])], tmp_path, metrics=["swd"], num_images=64,
                    repeats=2, log=lambda s: None)
    path = tmp_path / "results" / "clean.json"
    rec = json.loads(path.read_text())
    rec["results"][0]["uncertainty"] = bad
    path.write_text(json.dumps(rec))
    with pytest.raises(DataError, match="clean.json: not a usable leaderboard result"):
        rank(tmp_path, "SWDx1e3_avg")


def test_leaderboard_cli_error_bar_options(sets, tmp_path):
    res = CliRunner().invoke(main, ["leaderboard", "--real", sets["real"], "--entry", f"c={sets['clean']}",
                                    "-n", "64", "--repeats", "1", "--store", str(tmp_path / "lb")])
    assert res.exit_code == 2 and "at least 2" in res.output and not (tmp_path / "lb").exists()
    res = CliRunner().invoke(main, ["leaderboard", "--real", sets["real"], "--entry", f"c={sets['clean']}",
                                    "--entry", f"h={sets['heavy']}", "-n", "64", "--repeats", "2",
                                    "--store", str(tmp_path / "lb")])
    assert res.exit_code == 0, res.output
    assert "vs_next" in res.output and "significant" in res.output
