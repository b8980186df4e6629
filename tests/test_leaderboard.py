import json

import pytest
from click.testing import CliRunner

from ganeval import UsageError
from ganeval.cli import main
from ganeval.leaderboard import Entry, run_leaderboard
from ganeval.samples import photo_crops


@pytest.fixture(scope="module")
def sets(tmp_path_factory):
    import numpy as np
    d = tmp_path_factory.mktemp("sets")
    paths = {}
    # The expected order comes from construction: clean < blurred < blurred and noised.
    for name, kw in (("real", dict(seed=1)), ("clean", dict(seed=2)), ("blurred", dict(seed=3, blur_sigma=1.0)),
                     ("heavy", dict(seed=4, blur_sigma=2.0, noise_sigma=12.0))):
        np.save(d / f"{name}.npy", photo_crops(256, 32, **kw))
        paths[name] = str(d / f"{name}.npy")
    return paths


def test_ranks_three_entries_and_resumes_after_a_crash(sets, tmp_path):
    from ganeval.evaluate import evaluate
    entries = [Entry("heavy", sets["heavy"]), Entry("clean", sets["clean"]), Entry("blurred", sets["blurred"])]
    calls = []

    def crashing(real, fake, *a, **k):
        calls.append(fake)
        if len(calls) == 2:
            raise RuntimeError("killed")
        return evaluate(real, fake, *a, **k)

    with pytest.raises(RuntimeError):
        run_leaderboard(sets["real"], entries, tmp_path, metrics=["swd"], num_images=256, evaluate_fn=crashing,
                        log=lambda s: None)
    assert [p.name for p in (tmp_path / "results").iterdir()] == ["heavy.json"]  # the finished entry survived

    calls.clear()
    rows = run_leaderboard(sets["real"], entries, tmp_path, metrics=["swd"], num_images=256,
                           evaluate_fn=lambda *a, **k: (calls.append(a[1]), evaluate(*a, **k))[1], log=lambda s: None)
    assert calls == [sets["clean"], sets["blurred"]]  # heavy was not measured again
    assert [r["entry"] for r in rows] == ["clean", "blurred", "heavy"]
    table = (tmp_path / "leaderboard.md").read_text()
    assert "protocol" in table and "num_images=256" in table
    assert json.loads((tmp_path / "leaderboard.json").read_text())["rows"][0]["entry"] == "clean"
    assert (tmp_path / "leaderboard.csv").read_text().startswith("# protocol")


def test_refuses_to_merge_another_protocol(sets, tmp_path):
    run_leaderboard(sets["real"], [Entry("clean", sets["clean"])], tmp_path, num_images=128, log=lambda s: None)
    with pytest.raises(UsageError, match="another protocol .*num_images"):
        run_leaderboard(sets["real"], [Entry("clean", sets["clean"])], tmp_path, num_images=64, log=lambda s: None)


def test_cli(sets, tmp_path):
    res = CliRunner().invoke(main, ["leaderboard", "--real", sets["real"], "--entry", f"c={sets['clean']}",
                                    "--entry", f"h={sets['heavy']}", "-n", "128", "--store", str(tmp_path)])
    assert res.exit_code == 0, res.output
    lines = [line for line in res.stdout.splitlines() if line.startswith("| 1 ") or line.startswith("| 2 ")]
    assert lines[0].startswith("| 1 | c |") and lines[1].startswith("| 2 | h |")
    bad = CliRunner().invoke(main, ["leaderboard", "--real", sets["real"], "--entry", "nameonly"])
    assert bad.exit_code == 2 and "NAME=PATH" in bad.stderr


def test_checkpoint_and_run_directory_entries(tmp_path):
    import torch
    from reference_trainer.dataset import build_builtin
    from reference_trainer.presets import make_config
    from reference_trainer.train import train
    from test_trainer_train import TINY
    data = str(build_builtin(tmp_path / "data", 16, 64))
    run_dir = tmp_path / "run"
    last = train(make_config(None, dict(TINY, data=data, total_kimg=0.256, metrics_kimg=None)), run_dir,
                 progress=False)
    ckpt, run = Entry("ckpt", str(last)), Entry("run", str(run_dir))
    assert (ckpt.kind(), run.kind()) == ("checkpoint", "run")
    a, b = ckpt.images(8, seed=3), run.images(8, seed=3)
    assert a.dtype == torch.uint8 and a.shape == (8, 3, 16, 16)
    assert torch.equal(a, b)  # the run directory resolves to its newest checkpoint
    rows = run_leaderboard(str(tmp_path / "data" / "res0016.npy"), [ckpt, run], tmp_path / "lb", num_images=16,
                           log=lambda s: None)
    assert sorted(r["entry"] for r in rows) == ["ckpt", "run"] and rows[0]["SWDx1e3_avg"] == rows[1]["SWDx1e3_avg"]
