"""The report shows final evaluations, real grids, real-set baselines, directions and a readable
protocol (issue 20, item 1); every file it reads for them is read as someone else's."""
import json
import re
import warnings
from html import unescape
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from ganeval.cli import main
from ganeval.hooks import Evaluator
from ganeval.metrics.registry import get_metric
from ganeval.reporting.report import build_report

HOOK = {"real": 1024, "fake": 1024}


def make_run(root: Path, name: str = "r") -> Path:
    """A run folder as a training loop leaves it: metrics.jsonl (the hook's 1024-image values,
    an Inception Score and a metric ganeval does not know) and one sample grid."""
    d = root / name
    d.mkdir(parents=True)
    recs = [{"kimg": 30.0, "metric": "swd", "values": {"SWDx1e3_32": 120.5, "SWDx1e3_avg": 117.1}, "num_images": HOOK,
             "seed": 0, "weights_sha256": None, "ganeval_version": "0.1.0"},
            {"kimg": 30.0, "metric": "is", "values": {"IS_mean": 2.5, "IS_std": 0.1}, "num_images": {"fake": 1024},
             "seed": 0, "weights_sha256": "ab" * 32, "ganeval_version": "0.1.0"},
            {"kimg": 30.0, "metric": "mine", "values": {"score": 3.0}, "num_images": None, "seed": None}]
    (d / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    Image.fromarray(np.full((32, 48, 3), 90, np.uint8)).save(d / "fakes000030.png")
    return d


def _rows(page: str, table: str) -> list[list[str]]:
    body = re.search(rf'<table id="{table}">(.*?)</table>', page, re.S)
    assert body, f"no table {table}"
    return [[unescape(c) for c in re.findall(r"<t[dh]>(.*?)</t[dh]>", r)] for r in re.findall(r"<tr>(.*?)</tr>", body.group(1))]


def _arrays(tmp_path: Path) -> tuple[str, str]:
    rng = np.random.default_rng(0)
    a, b = (tmp_path / "a.npy"), (tmp_path / "b.npy")
    np.save(a, rng.integers(0, 256, (16, 3, 32, 32), dtype=np.uint8))
    np.save(b, rng.integers(0, 128, (16, 3, 32, 32), dtype=np.uint8))
    return str(a), str(b)


def test_report_shows_every_final_evaluation_file_labelled_by_its_image_count(tmp_path):
    runs = tmp_path / "runs"
    run, other = make_run(runs, "r"), make_run(runs, "s")
    a, b = _arrays(tmp_path)
    # What the user writes with the CLI: one result (swd) in the run folder, a list in the parent.
    for args in (["swd", a, b, "-q", "-o", str(run / "final-metrics.json")],
                 ["all", a, b, "-m", "swd,msssim", "-n", "12", "-q", "-o", str(runs / "final-metrics-12.json")]):
        res = CliRunner().invoke(main, args)
        assert res.exit_code == 0, res.output
    (run / "metrics-final.json").write_text((run / "final-metrics.json").read_text())  # not the rule's name
    index = build_report([run, other], tmp_path / "report")
    page, md = index.read_text(), (tmp_path / "report" / "report.md").read_text()
    rows = _rows(page, "final-evaluations")[1:]
    # Each file's values, read back independently, are shown under its label; the parent's file
    # serves both runs and is shown once.
    expected = []
    for path, label in ((run / "final-metrics.json", "r/final-metrics.json (16 images)"),
                        (runs / "final-metrics-12.json", "runs/final-metrics-12.json (12 images)")):
        data = json.loads(path.read_text())
        for result in data if isinstance(data, list) else [data]:
            expected += [(label, result["metric"], k, format(v, ".4g")) for k, v in result["values"].items()]
    assert [tuple(r[:4]) for r in rows] == expected
    assert "metrics-final.json" not in page
    for label, *_ in expected:
        assert label in md
    # The in-training table says it is the hook's evaluation and on how many images.
    assert "Last evaluation during training" in page and "swd: real 1024, fake 1024" in page


def test_a_final_file_that_is_no_result_or_a_link_out_is_skipped_with_a_warning(tmp_path):
    import ganeval.reporting.evaluations as ev
    run = make_run(tmp_path, "r")
    secret = tmp_path.parent / f"{tmp_path.name}-secret.json"
    secret.write_text(json.dumps({"metric": "SECRET", "values": {"SECRET": 1.0}}))
    (run / "final-metrics-link.json").symlink_to(secret)
    (run / "final-metrics-zero.json").symlink_to("/dev/zero")
    (run / "final-metrics-text.json").write_text("not json")
    (run / "final-metrics-shape.json").write_text(json.dumps({"FID": 3.0}))
    (run / "final-metrics-big.json").write_text(json.dumps({"metric": "fid", "values": {"FID": 1.0}, "pad": "x" * 64}))
    ev_max = ev.MAX_RESULT_BYTES
    try:
        ev.MAX_RESULT_BYTES = 64
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            page = build_report([run], tmp_path / "report").read_text()
    finally:
        ev.MAX_RESULT_BYTES = ev_max
    messages = [str(w.message) for w in caught]
    assert "SECRET" not in page and 'id="final-evaluations"' not in page
    for name in ("link", "zero", "text", "shape", "big"):
        assert any(f"final-metrics-{name}.json" in m and "not shown" in m for m in messages), (name, messages)


def test_final_values_that_are_not_finite_or_hostile_are_marked_and_escaped(tmp_path):
    run = make_run(tmp_path, "r")
    (run / "final-metrics.json").write_text(
        '{"metric": "<script>alert(1)</script>", "values": {"<img src=x onerror=alert(1)>": NaN}, '
        '"primary": "x", "num_images": {"fake": 8}}')
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        index = build_report([run], tmp_path / "report")
    page, md = index.read_text(), (tmp_path / "report" / "report.md").read_text()
    assert "<script" not in page and "<img src=x" not in page
    assert "&lt;script&gt;" in page and "nan (not finite)" in _rows(page, "final-evaluations")[1][3]
    assert any(str(run / "final-metrics.json") in str(w.message) and "not finite" in str(w.message) for w in caught)
    assert "<script" not in md and "<img" not in md and "Non-finite values" in md


def test_report_shows_the_real_grid_beside_the_generated_one_and_the_baselines(tmp_path, crops):
    real = np.ascontiguousarray(crops[0][:32, :, :32, :32])
    run = tmp_path / "r"
    evaluator = Evaluator(real, metrics=("swd", "msssim"), num_images=32, seed=1, out_dir=run, latent_dim=8)
    ramp = torch.linspace(-1, 1, 32)
    evaluator(lambda z: (z[:, :3, None, None] * ramp[None, None, :, None] + z[:, 3:6, None, None] * ramp).tanh(),
              kimg=0.0)
    index = build_report([run], tmp_path / "report")
    page = index.read_text()
    # Both grids are copied byte for byte, generated first, each captioned with what it shows.
    imgs = re.findall(r'<img class="grid" src="([^"]+)" alt="([^"]+)"', page)
    assert [alt for _, alt in imgs] == ["real images of r"]  # this loop saved no fakes grid
    assert (tmp_path / "report" / imgs[0][0]).read_bytes() == (run / "reals.png").read_bytes()
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(run / "fakes000000.png")
    # (Its nearest-neighbour section is tested in tests/ganeval/metrics/test_neighbours.py; here
    # it would run the real Inception on a CPU.)
    page = build_report([run], tmp_path / "report2", neighbours="pixels").read_text()
    assert [alt for _, alt in re.findall(r'<img class="grid" src="([^"]+)" alt="([^"]+)"', page)] == [
        "generated images of r", "real images of r"]
    # The baselines the Evaluator measured are shown with what they were measured on.
    rows = _rows(page, "baselines")[1:]
    shown = {(r[1], r[2]): r for r in rows}
    for name, result in evaluator.baselines.items():
        for k, v in result.values.items():
            assert shown[(name, k)][3] == format(v, ".4g")
    assert "halves" in shown[("swd", "SWDx1e3_avg")][4] and shown[("swd", "SWDx1e3_avg")][5] == "real 16, fake 16"


def test_a_reals_grid_that_is_not_a_png_inside_the_run_is_not_copied(tmp_path):
    run = make_run(tmp_path, "r")
    (run / "reals.png").symlink_to("/etc/passwd")
    with pytest.warns(UserWarning, match=re.escape(str(run / "reals.png"))):
        build_report([run], tmp_path / "report")
    assert [p.name for p in (tmp_path / "report" / "samples").iterdir()] == ["r-fakes000030.png"]


def test_every_value_carries_the_direction_the_registry_gives(tmp_path):
    run = make_run(tmp_path, "r")
    page = build_report([run], tmp_path / "report").read_text()
    md = (tmp_path / "report" / "report.md").read_text()
    head = _rows(page, "final")[0][2:]
    arrow = {True: "↓", False: "↑"}
    assert head == [f"IS_mean {arrow[get_metric('is').lower_is_better]}", "IS_std",  # a spread: no direction
                    "score",  # an unknown metric: no direction guessed
                    f"SWDx1e3_32 {arrow[get_metric('swd').lower_is_better]}",
                    f"SWDx1e3_avg {arrow[get_metric('swd').lower_is_better]}"]
    assert "↓ lower is better, ↑ higher is better" in page and "↓ lower is better, ↑ higher is better" in md
    assert "| IS\\_mean ↑ |" in md or "| IS_mean ↑ |" in md


def test_protocol_table_is_in_words_not_python_reprs(tmp_path):
    run = make_run(tmp_path, "r")
    page = build_report([run], tmp_path / "report").read_text()
    md = (tmp_path / "report" / "report.md").read_text()
    rows = _rows(page, "protocol")
    cells = [c for r in rows[1:] for c in r]
    assert not [c for c in cells if c in ("None", "True", "False") or c.startswith(("{", "["))], rows
    by_metric = {r[2]: r for r in rows[1:]}
    assert by_metric["swd"][3] == "real 1024, fake 1024" and by_metric["swd"][5] == "—"  # no Inception weights
    assert by_metric["mine"][3] == "—" and by_metric["is"][5] == "ab" * 32
    proto_md = md[md.index("## Protocol"):]
    assert "{" not in proto_md and "None" not in proto_md and "real 1024, fake 1024" in proto_md
