import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from ganeval.cli import main
from ganeval.report import build_report, read_jsonl

SWD_AT = {10.0: 80.5, 20.0: 60.25, 30.0: 41.125}


def make_run(root: Path, name: str, offset: float = 0.0) -> Path:
    """A fixture run directory in the trainer's layout, with known metric values."""
    d = root / name
    d.mkdir(parents=True)
    (d / "config.json").write_text(json.dumps({"preset": "cpu-tiny", "resolution": 32}))
    with open(d / "log.jsonl", "w") as f:
        for k in (10.0, 20.0, 30.0):
            f.write(json.dumps({"kimg": k, "lod": 1.0, "G_loss": -k / 10, "D_loss": k / 20, "sec_per_kimg": 1.5}) + "\n")
    with open(d / "metrics.jsonl", "w") as f:
        for k, v in SWD_AT.items():
            f.write(json.dumps({"kimg": k, "metric": "swd", "values": {"SWDx1e3_32": v + offset, "SWDx1e3_16": v / 2,
                                "SWDx1e3_avg": v * 0.75 + offset}, "num_images": {"real": 256, "fake": 256},
                                "seed": 0, "weights_sha256": None, "ganeval_version": "0.1.0"}) + "\n")
            f.write(json.dumps({"kimg": k, "metric": "msssim", "values": {"MS-SSIM": 0.1 + k / 1000},
                                "num_images": {"images": 256, "pairs": 128}, "seed": 0}) + "\n")
        f.write('{"kimg": 40.0, "metric": "swd", "val')  # a writer killed mid-line
    grid = (np.random.default_rng(0).random((64, 96, 3)) * 255).astype(np.uint8)
    Image.fromarray(grid).save(d / "fakes000030.png")
    return d


def test_truncated_jsonl_lines_are_skipped(tmp_path):
    run = make_run(tmp_path, "r")
    assert len(read_jsonl(run / "metrics.jsonl")) == 6


def test_report_builds_from_run_directories(tmp_path):
    a, b = make_run(tmp_path, "run-a"), make_run(tmp_path, "run-b", offset=5.0)
    index = build_report([a, b], tmp_path / "report")
    page = index.read_text()
    # The final-metrics table holds the last record of each run.
    assert "<td>run-a</td><td>30</td>" in page and f"{SWD_AT[30.0] * 0.75:.4g}" in page
    assert f"{SWD_AT[30.0] * 0.75 + 5:.4g}" in page
    plots = sorted((tmp_path / "report" / "plots").glob("*.png"))
    names = {p.name for p in plots}
    assert {"swd-SWDx1e3_avg.png", "msssim-MS-SSIM.png", "train-G_loss.png"} <= names
    for p in plots:
        with Image.open(p) as im:
            assert im.size[0] > 200 and np.asarray(im.convert("L")).std() > 5
    assert (tmp_path / "report" / "samples" / "run-a-fakes000030.png").exists()
    md = (tmp_path / "report" / "report.md").read_text()
    assert "| run-b | 30 |" in md and "## Protocol" in md


def test_report_cli_and_bad_dir(tmp_path):
    run = make_run(tmp_path, "r")
    res = CliRunner().invoke(main, ["report", str(run), "-o", str(tmp_path / "out")])
    assert res.exit_code == 0 and (tmp_path / "out" / "index.html").exists()
    (tmp_path / "empty").mkdir()
    res = CliRunner().invoke(main, ["report", str(tmp_path / "empty"), "-o", str(tmp_path / "out2")])
    assert res.exit_code == 1 and "neither metrics.jsonl nor log.jsonl" in res.stderr


@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium is not installed")
def test_report_renders_in_headless_chromium(tmp_path):
    index = build_report([make_run(tmp_path, "run-a"), make_run(tmp_path, "run-b", 5.0)], tmp_path / "report")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tempfile.mkdtemp()}", "--window-size=1280,2400"]
    shot = tmp_path / "shot.png"
    subprocess.run(["chromium", *flags, f"--screenshot={shot}", index.as_uri()], capture_output=True, timeout=120)
    dom = subprocess.run(["chromium", *flags, "--dump-dom", index.as_uri()], capture_output=True, text=True,
                         timeout=120).stdout
    assert dom.count("<img") >= 5 and 'id="final"' in dom and "run-b" in dom
    with Image.open(shot) as im:
        pixels = np.asarray(im.convert("RGB")).astype(float)
    # Plots and the table draw coloured lines and dark text on white: far from a blank page.
    assert pixels.std() > 20 and (np.abs(pixels[..., 0] - pixels[..., 2]) > 60).mean() > 1e-4
