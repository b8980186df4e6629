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
