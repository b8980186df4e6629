"""`--threads N` and $GANEVAL_THREADS on ganeval's commands."""
import numpy as np
import pytest
import torch
from click.testing import CliRunner

from ganeval.cli import main
from ganeval.threads import ENV


@pytest.fixture
def restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.fixture
def images(tmp_path):
    path = tmp_path / "x.npy"
    np.save(path, (np.random.RandomState(0).rand(8, 3, 16, 16) * 255).astype(np.uint8))
    return str(path)


def test_threads_option_sets_torch(images, restore_threads, monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    torch.set_num_threads(2)
    result = CliRunner().invoke(main, ["msssim", images, "--num-pairs", "4", "--threads", "1", "-q"])
    assert result.exit_code == 0, result.output
    assert torch.get_num_threads() == 1


def test_environment_applies_to_every_command(images, restore_threads, monkeypatch):
    torch.set_num_threads(2)
    monkeypatch.setenv(ENV, "1")
    result = CliRunner().invoke(main, ["msssim", images, "--num-pairs", "4", "-q"])
    assert result.exit_code == 0, result.output
    assert torch.get_num_threads() == 1


@pytest.mark.parametrize("args, env", [(["--threads", "0"], None), ([], "many")])
def test_bad_counts_are_usage_errors(images, monkeypatch, args, env):
    if env is None:
        monkeypatch.delenv(ENV, raising=False)
    else:
        monkeypatch.setenv(ENV, env)
    result = CliRunner().invoke(main, ["msssim", images, "--num-pairs", "4", "-q", *args])
    assert result.exit_code == 2, result.output
