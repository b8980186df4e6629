"""The feature layer: generic, extractor-free, and open to a new extractor in one package.

A toy extractor (per-channel mean and standard deviation, 6-d) is written as a package in a
temp dir with one `register_extractor` call; FD, the cache and `cache ls` then work with it,
and its FD equals the closed-form Frechet distance computed here with numpy/scipy.
"""
from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
import scipy.linalg

TOY = textwrap.dedent('''
    """A toy extractor: per-channel mean and std of the pixels (6-d)."""
    import hashlib

    from ganeval.features import Extractor, ExtractorSpec, register_extractor

    SHA = hashlib.sha256(b"toy-v1").hexdigest()


    def load(model=None, weights=None, device=None, allow_download=False):
        def forward(x, with_logits):
            x = x.float()
            return __import__("torch").cat([x.mean((2, 3)), x.std((2, 3))], 1), None
        return Extractor("toy", "toy-v1 mean+std", 6, SHA, forward, label="Toy",
                         settings={"network": "toy", "weights_sha256": SHA})


    register_extractor(ExtractorSpec("toy", "per-channel mean and std", load, models=("v1",),
                                     owns=lambda name: name == "toy-weights.pth"))
''')


def _images(seed: int, shift: float) -> np.ndarray:
    g = np.random.default_rng(seed)
    x = g.normal(120 + shift, 30, size=(40, 3, 8, 8)) * g.uniform(0.5, 1.5, size=(40, 3, 1, 1))
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def _features(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    return np.concatenate([x.mean((2, 3)), x.std((2, 3), ddof=1)], 1)


def _frechet(a: np.ndarray, b: np.ndarray) -> float:
    m1, m2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = scipy.linalg.sqrtm(s1 @ s2).real
    return float(((m1 - m2) ** 2).sum() + np.trace(s1 + s2 - 2 * root))


@pytest.fixture
def toy(tmp_path, monkeypatch):
    pkg = tmp_path / "plugins" / "toyfeat"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(TOY)
    monkeypatch.syspath_prepend(str(tmp_path / "plugins"))
    monkeypatch.setenv("GANEVAL_CACHE_DIR", str(tmp_path / "cache"))
    import importlib
    importlib.import_module("toyfeat")
    yield
    from ganeval.features import registry
    registry._REGISTRY.pop("toy", None)
    sys.modules.pop("toyfeat", None)


def test_the_feature_layer_imports_no_extractor_and_no_metric():
    # `import ganeval` itself brings the metric registry (for `ganeval.evaluate`); what the
    # feature layer adds on top must hold no extractor package and no metric module.
    code = ("import sys, ganeval; before = set(sys.modules); "
            "import ganeval.features.extract, ganeval.features.registry, ganeval.features.stats, "
            "ganeval.features.cache, ganeval.features.extractor; "
            "print(sorted(m for m in set(sys.modules) - before if m.startswith('ganeval.') "
            "and not m.startswith(('ganeval.features', 'ganeval.io', 'ganeval.device', 'ganeval.dist', "
            "'ganeval.progress', 'ganeval.options', 'ganeval.lazy', 'ganeval.errors', 'ganeval.resample', "
            "'ganeval.threads'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_registering_needs_no_torch():
    code = ("import sys, ganeval.extractors; from ganeval.features.registry import extractor_names; "
            "print(sorted(extractor_names()), 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    names, torch_loaded = out.stdout.strip().rsplit(" ", 1)
    assert "'inception'" in names and "'dinov2'" in names
    assert torch_loaded == "False"


def test_a_toy_extractor_package_gives_fd_equal_to_the_closed_form(toy):
    from ganeval.metrics.fd import FD, fd
    real, fake = _images(0, 0), _images(1, 25)
    want = _frechet(_features(real), _features(fake))
    r = fd(real, fake, features="toy")
    assert r.metric == "fd_toy" and r.primary == "FD_Toy"
    assert r.values["FD_Toy"] == pytest.approx(want, rel=1e-6)  # the toy computes in float32
    assert r.settings["weights_sha256"] == __import__("toyfeat").SHA
    again = fd(real, fake, features="toy")  # served from the cache this time
    assert again.values == r.values
    streamed = FD(features="toy")
    for i in range(0, 40, 16):
        streamed.update(real[i:i + 16], real=True, start=i)
        streamed.update(fake[i:i + 16], real=False, start=i)
    assert streamed.compute().values["FD_Toy"] == pytest.approx(want, rel=1e-6)


def test_the_cache_keys_on_the_extractor_and_lists_its_files(toy, tmp_path):
    from ganeval.features import cache_dir, cache_files
    from ganeval.metrics.fd import fd
    fd(_images(0, 0), _images(1, 25), features="toy")
    stats = [p for p in cache_files(stats_only=True)]
    assert len(stats) == 2  # one entry per set
    (cache_dir() / "toy-weights.pth").write_bytes(b"x")
    (cache_dir() / "someone-elses.pth").write_bytes(b"x")
    names = {p.name for p in cache_files()}
    assert "toy-weights.pth" in names and "someone-elses.pth" not in names


def test_an_unknown_extractor_or_model_is_a_usage_error(toy):
    from ganeval.errors import UsageError
    from ganeval.metrics.fd import fd
    with pytest.raises(UsageError, match="unknown feature extractor 'nope'.*toy"):
        fd(_images(0, 0), _images(1, 0), features="nope")
    with pytest.raises(UsageError, match="toy has no model 'v2'; choose from v1"):
        fd(_images(0, 0), _images(1, 0), features="toy", model="v2")
