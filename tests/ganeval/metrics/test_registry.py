"""The registry's promise: every metric's streaming object equals its one-shot function
(values and settings), a toy metric registered from outside shows up everywhere, and
ganeval never needs reference_trainer."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from ganeval.metrics.registry import MetricSpec, get_metric, metric_names, register_metric, unregister_metric
from ganeval.options import RunOptions
from ganeval.results import MetricResult

from conftest import ROOT


def _split(x, sizes):
    out, s = [], 0
    for n in sizes:
        out.append(x[s:s + n])
        s += n
    return out


@pytest.mark.parametrize("name", ["swd", "msssim", "fid", "is", "kid", "pr"])
@pytest.mark.parametrize("sizes", [[40], [1, 13, 26], [7, 33]])
def test_streaming_equals_one_shot_in_values_and_settings(name, sizes, crops, tiny_inception):
    assert name in metric_names()
    spec = get_metric(name)
    real, fake = crops[0][:40, :, :32, :32], crops[1][:40, :, :32, :32]
    opts = RunOptions(num_images=40, seed=3, cache=False, device="cpu")
    one_shot = spec.run(real, fake, opts)
    m = spec.make(seed=3, device="cpu")
    m.ask(40)  # the count the one-shot run asked for: recorded in settings["counts"] by both paths
    if spec.needs_real:
        for part in _split(real, sizes):
            m.update(part, real=True)
    for part in _split(fake, sizes[::-1]):
        m.update(torch.from_numpy(part))
    streamed = m.compute()
    assert streamed.metric == one_shot.metric == name
    assert streamed.settings == one_shot.settings
    assert streamed.num_images == one_shot.num_images
    assert streamed.seed == one_shot.seed
    assert streamed.values.keys() == one_shot.values.keys()
    for k, v in one_shot.values.items():
        assert streamed.values[k] == pytest.approx(v, rel=1e-6, abs=1e-9), k


class _MeanBrightness:
    """A toy metric: |mean pixel of fake - mean pixel of real|."""

    name, uses_real = "toybright", True

    def __init__(self, seed=0):
        self.seed = seed
        self.reset()

    def reset(self, real=True):
        if real:
            self.real = [0.0, 0]
        self.fake = [0.0, 0]

    def update(self, images, real=False, input_range=None, start=None):
        from ganeval.io.sources import to_uint8
        x = to_uint8(images, input_range).double()
        acc = self.real if real else self.fake
        acc[0] += float(x.mean(dim=(1, 2, 3)).sum())
        acc[1] += x.shape[0]

    def compute(self):
        v = abs(self.fake[0] / self.fake[1] - self.real[0] / self.real[1])
        return MetricResult("toybright", {"toy_gap": v}, "toy_gap", {"kind": "toy"},
                            {"real": self.real[1], "fake": self.fake[1]}, self.seed)


def _toy_run(real, fake, o):
    from ganeval.io.sources import open_source
    m = _MeanBrightness(o.seed)
    for src, is_real in ((real, True), (fake, False)):
        for b in open_source(src, num_images=o.num_images).batches(o.batch_size):
            m.update(b, real=is_real)
    return m.compute()


@pytest.fixture
def toy_metric():
    register_metric(MetricSpec("toybright", "toy_gap", lower_is_better=True, needs_real=True,
                               streaming=_MeanBrightness, run=_toy_run, summary="toy"))
    yield
    unregister_metric("toybright")


def _expected_gap(a, b):
    return abs(b.astype(np.float64).mean() - a.astype(np.float64).mean())


def test_toy_metric_in_evaluate_cli_evaluator_and_leaderboard(toy_metric, crops, tmp_path):
    from click.testing import CliRunner

    from ganeval import evaluate
    from ganeval.cli import main
    from ganeval.hooks import Evaluator
    from ganeval.reporting.leaderboard import Entry, run_leaderboard
    a, b = crops[0][:32], crops[1][:32]
    np.save(tmp_path / "a.npy", a)
    np.save(tmp_path / "b.npy", b)
    expected = _expected_gap(a, b)
    [r] = evaluate(a, b, ["toybright"], num_images=32)
    assert r.value == pytest.approx(expected, rel=1e-9)

    res = CliRunner().invoke(main, ["all", str(tmp_path / "a.npy"), str(tmp_path / "b.npy"), "-m", "toybright",
                                    "--json", "-q"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["values"]["toy_gap"] == pytest.approx(expected, rel=1e-9)

    ev = Evaluator(a, metrics=("toybright",), num_images=32, latent_dim=4, input_range=(0, 255))
    out = ev(lambda z: torch.from_numpy(b[: z.shape[0]]).float(), kimg=0)
    assert out["toybright"].value == pytest.approx(expected, rel=1e-9)

    rows = run_leaderboard(str(tmp_path / "a.npy"), [Entry("b", str(tmp_path / "b.npy"))], tmp_path / "lb",
                           metrics=["toybright"], num_images=32, log=lambda s: None)
    assert rows[0]["toy_gap"] == pytest.approx(expected, rel=1e-9)


def test_ganeval_imports_without_reference_trainer(tmp_path):
    # A meta-path finder that refuses reference_trainer, then every ganeval module imported.
    code = r'''
import importlib, pkgutil, sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name == "reference_trainer" or name.startswith("reference_trainer."):
            raise ImportError("blocked: " + name)
        return None
sys.meta_path.insert(0, Block())
import ganeval
names = [m.name for m in pkgutil.walk_packages(ganeval.__path__, "ganeval.")]
for n in names:
    if n.endswith("__main__"):
        continue
    importlib.import_module(n)
assert not any(k.startswith("reference_trainer") for k in sys.modules), "reference_trainer was imported"
print(len(names))
'''
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr
    assert int(out.stdout.strip()) > 20


def test_unknown_and_empty_metric_lists_are_usage_errors():
    from ganeval.errors import UsageError
    from ganeval.metrics.registry import parse_metric_list
    with pytest.raises(UsageError, match="nosuch"):
        parse_metric_list("swd,nosuch")
    with pytest.raises(UsageError):
        parse_metric_list(" , ")
    assert parse_metric_list(" SWD , fid,swd") == ["swd", "fid"]


@pytest.mark.parametrize("name", ["is", "kid", "pr"])
def test_streaming_rows_follow_their_start_index(name, crops, tiny_inception):
    # A distributed Evaluator hands shares out of order; rows must land in set order anyway.
    spec = get_metric(name)
    real, fake = crops[0][:40, :, :32, :32], crops[1][:40, :, :32, :32]
    in_order, shuffled = spec.make(seed=3, device="cpu"), spec.make(seed=3, device="cpu")
    for m, order in ((in_order, (0, 20)), (shuffled, (20, 0))):
        for s in order:
            if spec.needs_real:
                m.update(real[s:s + 20], real=True, start=s)
            m.update(fake[s:s + 20], start=s)
    assert shuffled.compute().values == in_order.compute().values
