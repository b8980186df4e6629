"""The leaderboard as a new user meets it (issue 20, item 6): the reference set is known by its
fingerprint, not the path typed; the reading options of the metric commands; columns in the
commands' order with the ranked value first and its direction; the protocol printed once."""
import csv
import hashlib
import json
import re
import shutil

import numpy as np
import pytest
from click.testing import CliRunner

import ganeval
from ganeval import UsageError
from ganeval.cli import main
from ganeval.io.samples import photo_crops
from ganeval.metrics.registry import get_metric
from ganeval.reporting.leaderboard import Entry, run_leaderboard
from ganeval.results import MetricResult


def _pngs(folder, images):
    from PIL import Image
    folder.mkdir(parents=True)
    for i, img in enumerate(images):
        Image.fromarray(np.ascontiguousarray(img.transpose(1, 2, 0))).save(folder / f"{i:03d}.png")
    return folder


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    d = tmp_path_factory.mktemp("lbp")
    return {"root": d, "real": _pngs(d / "real", photo_crops(24, 32, seed=1)),
            "fake": _pngs(d / "fake", photo_crops(24, 32, seed=2, blur_sigma=1.5))}


def mean_pixel(real, fake, metrics, **kw):
    """A stand-in evaluation: the 'SWD' of an image folder is its mean pixel (cheap, content-bound)."""
    arr = ganeval.open_source(fake).array().float()
    return [MetricResult("swd", {"SWDx1e3_avg": float(arr.mean())}, "SWDx1e3_avg")]


def test_the_reference_set_reached_by_another_path_is_the_same_protocol(folders, monkeypatch):
    root = folders["root"]
    calls = []

    def counting(*a, **k):
        calls.append(a[1])
        return mean_pixel(*a, **k)

    monkeypatch.chdir(root)
    run_leaderboard("real", [Entry("f", "fake")], "store", evaluate_fn=counting, num_images=24, log=lambda s: None)
    (root / "elsewhere").mkdir(exist_ok=True)
    monkeypatch.chdir(root / "elsewhere")
    rows = run_leaderboard("../real", [Entry("f", "../fake")], "../store", evaluate_fn=counting, num_images=24,
                           log=lambda s: None)
    assert calls == ["fake"] and rows[0]["entry"] == "f"  # accepted, and the finished entry skipped
    rows = run_leaderboard(str(root / "real"), [Entry("f", str(root / "fake"))], str(root / "store"),
                           evaluate_fn=counting, num_images=24, log=lambda s: None)
    assert calls == ["fake"]
    # A reference set with other content under the same path is still another protocol.
    shutil.copytree(root / "real", root / "other_real")
    (root / "other_real" / "000.png").unlink()
    with pytest.raises(UsageError, match="another protocol .*real_fingerprint"):
        run_leaderboard("../other_real", [Entry("f", "../fake")], "../store", evaluate_fn=counting, num_images=23,
                        log=lambda s: None)


def test_a_store_made_when_the_path_was_part_of_the_id_is_still_accepted(folders, tmp_path):
    store = tmp_path / "store"
    run_leaderboard(str(folders["real"]), [Entry("f", str(folders["fake"]))], store, evaluate_fn=mean_pixel,
                    num_images=24, log=lambda s: None)
    # Rewrite the store as the previous version wrote it: the id hashed the path too.
    proto = json.loads((store / "protocol.json").read_text())
    old_id = hashlib.sha256(json.dumps({k: v for k, v in proto.items() if k != "id"}, sort_keys=True)
                            .encode()).hexdigest()[:16]
    assert old_id != proto["id"]
    (store / "protocol.json").write_text(json.dumps(dict(proto, id=old_id)))
    rec = json.loads((store / "results" / "f.json").read_text())
    (store / "results" / "f.json").write_text(json.dumps(dict(rec, protocol=old_id)))
    rows = run_leaderboard(str(folders["real"]), [Entry("f", str(folders["fake"]))], store,
                           evaluate_fn=lambda *a, **k: pytest.fail("measured again"), num_images=24,
                           log=lambda s: None)
    assert rows[0]["entry"] == "f" and old_id in (store / "leaderboard.md").read_text()


def test_reading_options_reach_every_set_and_the_protocol(folders, tmp_path):
    # Images one folder down: found only with -r; --resize 16 leaves SWD one pyramid level.
    nested = {k: tmp_path / k / "sub" for k in ("real", "fake")}
    for k, d in nested.items():
        shutil.copytree(folders[k], d)
    store = tmp_path / "lb"
    args = ["leaderboard", "--real", str(nested["real"].parent), "--entry", f"f={nested['fake'].parent}",
            "-n", "24", "--store", str(store), "-r", "--resize", "16", "-b", "5", "-j", "0"]
    res = CliRunner().invoke(main, [*args, "-q"])
    assert res.exit_code == 0, res.output
    assert "%|" not in res.stderr  # -q: no progress bars
    proto = json.loads((store / "protocol.json").read_text())
    assert proto["resize"] == 16 and proto["recursive"] is True and proto["resolution"] == [16, 16]
    expected = ganeval.swd(str(nested["real"].parent), str(nested["fake"].parent), num_images=24, recursive=True,
                           resize=16, seed=0)
    row = json.loads((store / "leaderboard.json").read_text())["rows"][0]
    assert {k: v for k, v in row.items() if k.startswith("SWD")} == pytest.approx(expected.values, rel=1e-6)
    # Without -q the metric's progress bars show (the leaderboard used to run them silenced).
    res = CliRunner().invoke(main, [*args, "--rerun", "f"])
    assert res.exit_code == 0, res.output
    assert "%|" in res.stderr


def test_columns_follow_the_commands_with_the_ranked_value_first_and_its_direction(folders, tmp_path):
    store = tmp_path / "lb"
    real, fake = str(folders["real"]), str(folders["fake"])
    run_leaderboard(real, [Entry("f", fake), Entry("r", real)], store, metrics=["msssim", "swd"], num_images=24,
                    log=lambda s: None)
    # The order `ganeval all -m msssim,swd` prints its values in.
    printed = [k for r in ganeval.evaluate(real, fake, ["msssim", "swd"], num_images=24) for k in r.values]
    key = "SWDx1e3_avg"
    expected = ["rank", "entry", key, *[k for k in printed if k != key], "kind"]
    with open(store / "leaderboard.csv", newline="") as f:
        table = list(csv.reader(f))
    assert table[0] == expected  # a plain header row: no comment line above it
    saved = json.loads((store / "leaderboard.json").read_text())
    assert saved["columns"] == expected and saved["rank_by"] == {"value": key, "lower_is_better": True}
    for line, row in zip(table[1:], saved["rows"]):
        assert float(line[2]) == row[key] and line[1] == row["entry"]
    md = (store / "leaderboard.md").read_text()
    header = next(line for line in md.splitlines() if line.startswith("| rank"))
    arrow = {True: "↓", False: "↑"}
    assert header.startswith(f"| rank | entry | {key} {arrow[get_metric('swd').lower_is_better]} |")
    assert f"| MS-SSIM {arrow[get_metric('msssim').lower_is_better]} |" in header
    assert "| SWDx1e3_32 |" in header  # a pyramid level is shown plain


def test_a_higher_is_better_rank_value_is_marked_and_ranked_so(folders, tmp_path):
    def pr(real, fake, metrics, **kw):  # precision grows with the mean pixel: the brighter set ranks first
        m = float(ganeval.open_source(fake).array().float().mean()) / 255
        return [MetricResult("pr", {"precision": m, "recall": 1 - m}, "precision")]

    bright = _pngs(tmp_path / "bright", np.clip(photo_crops(24, 32, seed=2).astype(int) + 60, 0, 255).astype(np.uint8))
    store = tmp_path / "lb"
    rows = run_leaderboard(str(folders["real"]), [Entry("dim", str(folders["fake"])), Entry("bright", str(bright))],
                           store, metrics=["pr"], num_images=24, evaluate_fn=pr, log=lambda s: None)
    assert not get_metric("pr").lower_is_better and [r["entry"] for r in rows] == ["bright", "dim"]
    header = next(line for line in (store / "leaderboard.md").read_text().splitlines() if line.startswith("| rank"))
    assert header.startswith("| rank | entry | precision ↑ | recall ↑ |")


def test_the_protocol_is_printed_once(folders, tmp_path):
    store = tmp_path / "lb"
    res = CliRunner().invoke(main, ["leaderboard", "--real", str(folders["real"]), "--entry", f"f={folders['fake']}",
                                    "-n", "24", "--store", str(store), "-q"])
    assert res.exit_code == 0, res.output
    proto_id = json.loads((store / "protocol.json").read_text())["id"]
    assert res.output.count(proto_id) == 1, res.output
    again = CliRunner().invoke(main, ["leaderboard", "--real", str(folders["real"]), "--entry",
                                      f"f={folders['fake']}", "-n", "24", "--store", str(store), "-q"])
    assert again.exit_code == 0 and again.output.count(proto_id) == 1, again.output  # skipped entries don't repeat it
    assert re.search(r"f: unchanged since it was measured, skipped", again.stderr)
