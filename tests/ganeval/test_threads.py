"""The thread count: --threads, else $GANEVAL_THREADS, else the default; bad values are usage errors."""
import pytest
import torch

from ganeval.errors import UsageError
from ganeval.threads import ENV, apply_threads, resolve_threads


@pytest.fixture
def restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_explicit_beats_environment(monkeypatch):
    monkeypatch.setenv(ENV, "3")
    assert resolve_threads(2) == 2
    assert resolve_threads(None) == 3


def test_default_without_environment(monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    assert resolve_threads(None) is None
    assert resolve_threads(None, default=1) == 1


@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5"])
def test_bad_environment_value_names_the_variable(monkeypatch, value):
    monkeypatch.setenv(ENV, value)
    with pytest.raises(UsageError, match=ENV):
        resolve_threads(None)


@pytest.mark.parametrize("value", [0, -2, True, 1.0])
def test_bad_count_names_the_option(value):
    with pytest.raises(UsageError, match="--threads"):
        resolve_threads(value)


def test_apply_sets_torch(monkeypatch, restore_threads):
    monkeypatch.delenv(ENV, raising=False)
    assert apply_threads(1) == 1 == torch.get_num_threads()
    monkeypatch.setenv(ENV, "2")
    assert apply_threads() == 2 == torch.get_num_threads()
    monkeypatch.delenv(ENV)
    assert apply_threads() is None and torch.get_num_threads() == 2  # nothing asked: left alone
