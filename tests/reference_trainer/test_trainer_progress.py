"""The trainer's progress bar ends at total/total with a non-negative estimate, and the run
uses one torch thread by default (recorded in every log line)."""
import json
import re

import pytest
import torch

from reference_trainer.dataset import build_builtin
from reference_trainer.presets import make_config
from reference_trainer.train import train

# 16x16 (4 -> 8 -> 16); a round is 4 D steps of 16 = 64 images, so total_kimg=0.1 ends
# on the round at 128 images: cur_nimg overshoots the total, as cpu-tiny's last round does
# (42.048 of 42 kimg).
TINY = dict(resolution=16, latent_size=16, fmap_base=64, fmap_max=32, lod_training_kimg=0.032,
            lod_transition_kimg=0.032, minibatch_base=16, total_kimg=0.1, tick_kimg_base=0.016,
            tick_kimg_dict={}, checkpoint_kimg=0.064, grid_size=[4, 2], metrics_kimg=None, builtin_num=64)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return str(build_builtin(tmp_path_factory.mktemp("data"), 16, 64))


@pytest.fixture
def restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def bar_states(stderr: str) -> list[str]:
    return [s for s in re.split(r"[\r\n]", stderr) if " kimg [" in s]


def test_bar_ends_at_total_with_non_negative_estimates(tmp_path, data, capsys, restore_threads):
    # An evaluator slows the later rounds, as the in-training metrics do: the rate falls
    # and tqdm's estimate is extrapolated from it.
    train(make_config(None, dict(TINY, data=data, metrics_kimg=0.032)), tmp_path / "run",
          evaluator=lambda generate, kimg: None, progress=True)
    states = bar_states(capsys.readouterr().err)
    assert states, "no progress bar drawn"
    for state in states:
        done, total = map(float, re.search(r"\| ([\d.]+)/([\d.]+) kimg", state).groups())
        assert done <= total, state
        assert "<-" not in state and not re.search(r"<\s*-", state), state  # remaining time, never negative
    assert "0.10/0.10 kimg" in states[-1] and "100%" in states[-1]


def test_resumed_bar_ends_at_total(tmp_path, data, capsys, restore_threads):
    train(make_config(None, dict(TINY, data=data, total_kimg=0.064)), tmp_path / "run", progress=False)
    train(make_config(None, dict(TINY, data=data)), tmp_path / "run", resume=tmp_path / "run", progress=True)
    states = bar_states(capsys.readouterr().err)
    assert "0.10/0.10 kimg" in states[-1] and "100%" in states[-1]


def test_threads_are_applied_logged_and_restored(tmp_path, data, restore_threads):
    torch.set_num_threads(2)
    train(make_config(None, dict(TINY, data=data, total_kimg=0.032)), tmp_path / "run", progress=False)
    assert torch.get_num_threads() == 2  # the caller's count is back
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert log and all(line["threads"] == 1 for line in log)
