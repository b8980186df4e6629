"""Perceptual path length: closed forms and invariants (the live peers are tests/peers/test_ppl_peers.py).

The LPIPS backbone is a random VGG16 in torchvision's layout, built here (no torchvision in this
venv); the linear layers are the installed ``lpips`` wheel's.
"""
from __future__ import annotations

import hashlib
import math
import sys

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from ganeval.errors import UsageError, WeightsError
from ganeval.lpips.network import VGG16_CONV
from ganeval.metrics.ppl import filter_distances, lerp, path_distances, ppl, slerp, slerp_any

torch.set_num_threads(1)


def _vgg_state(seed: int = 0, bias: float = 0.0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    sd = {}
    for i, cin, cout in VGG16_CONV:
        sd[f"features.{i}.weight"] = torch.randn(cout, cin, 3, 3, generator=g) * math.sqrt(2 / (cout * 9))
        sd[f"features.{i}.bias"] = torch.full((cout,), bias)
    sd["classifier.0.weight"] = torch.zeros(2, 2)  # torchvision files hold a classifier: ignored
    return sd


@pytest.fixture(scope="module")
def vgg(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("lpips") / "vgg16-397923af.pth"
    torch.save(_vgg_state(), path)
    return str(path)


class Smooth(torch.nn.Module):
    """z (N, 8) -> smooth 3x32x32 images in [-1, 1]."""

    z_dim = 8

    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(3)
        self.w = torch.randn(8, 3 * 8 * 8, generator=g) / math.sqrt(8)

    def forward(self, z):
        x = torch.tanh(z @ self.w).reshape(-1, 3, 8, 8)
        return torch.nn.functional.interpolate(x, (32, 32), mode="bilinear", align_corners=False)


# -- paths in z -----------------------------------------------------------------------------
def _pair(n=64, d=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g, dtype=torch.float64), torch.randn(n, d, generator=g, dtype=torch.float64)


def test_slerp_endpoints_unit_norm_and_constant_angular_speed():
    a, b = _pair()
    ua, ub = a / a.norm(dim=1, keepdim=True), b / b.norm(dim=1, keepdim=True)
    assert torch.allclose(slerp(a, b, 0.0), ua, atol=1e-12) and torch.allclose(slerp(a, b, 1.0), ub, atol=1e-12)
    omega = torch.acos((ua * ub).sum(1))
    for t in (0.1, 0.37, 0.5, 0.9):
        p = slerp(a, b, t)
        assert torch.allclose(p.norm(dim=1), torch.ones(64, dtype=torch.float64), atol=1e-12)
        # on the great circle: the angle to a is t * omega and to b (1 - t) * omega
        assert torch.allclose(torch.acos((p * ua).sum(1).clamp(-1, 1)), t * omega, atol=1e-7)
        assert torch.allclose(torch.acos((p * ub).sum(1).clamp(-1, 1)), (1 - t) * omega, atol=1e-7)


def test_slerp_halfway_between_orthogonal_vectors():
    e = torch.eye(4, dtype=torch.float64)
    mid = slerp(3 * e[:1], 0.5 * e[1:2], 0.5)  # lengths do not matter: the path is on the unit sphere
    assert torch.allclose(mid, ((e[0] + e[1]) / math.sqrt(2))[None], atol=1e-15)
    # the peers' slerp_any weights the raw vectors: sin(pi/4) / sin(pi/2) each
    any_mid = slerp_any(3 * e[:1], 0.5 * e[1:2], 0.5)
    assert torch.allclose(any_mid, (math.sqrt(0.5) * (3 * e[0] + 0.5 * e[1]))[None], atol=1e-7)


def test_peer_interpolations_start_exactly_at_z0():
    a, b = (x.float() for x in _pair())
    assert torch.equal(lerp(a, b, 0.0), a) and torch.equal(slerp_any(a, b, 0.0), a)
    assert torch.allclose(lerp(a, b, 1.0), b, atol=1e-6) and torch.allclose(slerp_any(a, b, 1.0), b, atol=1e-5)


def test_percentile_cuts_follow_each_rule():
    d = torch.randperm(128, generator=torch.Generator().manual_seed(0)).float()  # 0..127 shuffled
    # numpy: lower at floor(127 * 0.01) = 1, higher at ceil(127 * 0.99) = 126
    assert sorted(filter_distances(d, (1, 99), "numpy-lower-higher").tolist()) == list(map(float, range(1, 127)))
    # torch.quantile "lower" at both: floor(127 * 0.99) = 125
    assert sorted(filter_distances(d, (1, 99), "torch-lower-lower").tolist()) == list(map(float, range(1, 126)))
    assert torch.equal(filter_distances(d, None), d)


# -- LPIPS and PPL invariants -----------------------------------------------------------------
def test_lpips_of_identical_images_is_zero_and_positive_otherwise(vgg):
    from ganeval.lpips import load_lpips
    net, _ = load_lpips(vgg)
    x = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(1)) * 2 - 1
    assert torch.equal(net(x, x), torch.zeros(4))
    assert bool((net(x, x.flip(0)) > 0).all())


def test_lpips_ignores_a_positive_gain_at_the_vgg_input(vgg):
    """Zero-bias ReLU convolutions and max-pools are positively homogeneous and LPIPS unit-normalises
    each feature vector, so images whose scaled VGG input differs by a gain c > 0 are at distance 0."""
    from ganeval.lpips import load_lpips
    net, _ = load_lpips(vgg)
    shift, scale = net.shift, net.scale
    u = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(2)) * 0.5
    d = net(shift + scale * u, shift + scale * (1.7 * u))
    assert float(d.max()) < 1e-9
    assert float(net(shift + scale * u, shift + scale * u.flip(3)).min()) > 1e-3


def test_ppl_of_a_generator_that_ignores_z_is_zero(vgg):
    img = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(4)) * 2 - 1

    class Constant:
        z_dim = 8

        def __call__(self, z):
            return img.expand(z.shape[0], -1, -1, -1)

    r = ppl(Constant(), num_samples=16, lpips_weights=vgg, device="cpu")
    assert r["PPL"] == 0.0 and r["PPL_std"] == 0.0


def test_ppl_of_a_generator_changing_only_the_gain_is_zero(vgg):
    """G(z) = shift + scale * s(z) * U with s > 0: a real path in image space that LPIPS cannot see."""
    from ganeval.lpips import load_lpips
    net, _ = load_lpips(vgg)
    u = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(5)) * 0.5

    class Gain:
        z_dim = 4

        def __call__(self, z):
            return net.shift + net.scale * torch.sigmoid(z[:, :1, None, None]) * u

    r = ppl(Gain(), num_samples=16, lpips_weights=vgg, device="cpu", protocol="torchmetrics")
    assert r["PPL"] < 1e-3
    assert ppl(Smooth(), num_samples=16, lpips_weights=vgg, device="cpu", protocol="torchmetrics")["PPL"] > 1e-2


def test_latent_rescaling_gives_the_same_distances(vgg):
    """With lerp, G'(z) = G(2z) on (z0, z1) walks G's path between (2 z0, 2 z1): the same distances."""
    from ganeval.lpips import load_lpips
    from ganeval.io.generators import LatentGenerator
    from ganeval.metrics.ppl import draw_latents
    net, _ = load_lpips(vgg)
    G = Smooth()
    z0, z1, t = draw_latents(8, 8, seed=1, sampling="full")
    G2 = LatentGenerator(lambda z: G(2 * z), 8)
    a = path_distances(G2, net, z0, z1, t, interpolation="lerp")
    b = path_distances(LatentGenerator(G, 8), net, 2 * z0, 2 * z1, t, interpolation="lerp")
    assert torch.equal(a, b) and bool((a > 0).all())


def test_latents_are_torch_fidelitys_numpy_draws_whatever_the_chunking():
    from ganeval.metrics.ppl import draw_latents
    rng = np.random.RandomState(7)
    want0, want1, want_t = rng.randn(10, 3), rng.randn(10, 3), rng.rand(10)
    z0, z1, t = draw_latents(10, 3, seed=7, sampling="full", rows=3)
    assert torch.equal(z0, torch.from_numpy(want0).float()) and torch.equal(z1, torch.from_numpy(want1).float())
    assert torch.equal(t[:, 0], torch.from_numpy(want_t).float())


def test_result_records_both_weights_files_sha256(vgg):
    from ganeval.lpips.weights import locate_lin
    r = ppl(Smooth(), num_samples=8, lpips_weights=vgg, device="cpu")
    sha = lambda p: hashlib.sha256(open(p, "rb").read()).hexdigest()  # noqa: E731
    assert r.settings["lpips_vgg16_sha256"] == sha(vgg)
    assert r.settings["lpips_lin_sha256"] == sha(locate_lin())
    assert (r.settings["protocol"], r.settings["interpolation"], r.settings["sampling"]) == ("stylegan", "slerp",
                                                                                             "full")
    assert r.num_images == {"samples": 8} and math.isfinite(r["PPL"]) and r["PPL"] > 0


def test_wrong_weights_files_are_one_line_errors(tmp_path, vgg, monkeypatch):
    from ganeval.lpips import load_lpips
    monkeypatch.delenv("GANEVAL_LPIPS_WEIGHTS", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty"))
    with pytest.raises(WeightsError, match="--lpips-weights.*GANEVAL_LPIPS_WEIGHTS"):
        load_lpips()
    sd = _vgg_state()
    sd["features.0.weight"] = sd["features.0.weight"][:32]
    torch.save(sd, tmp_path / "short.pth")
    with pytest.raises(WeightsError, match=r"features\.0\.weight has shape \(32, 3, 3, 3\)"):
        load_lpips(tmp_path / "short.pth")
    from ganeval.lpips.weights import locate_lin
    with pytest.raises(WeightsError, match="no features.N.*linear-layer file"):
        load_lpips(locate_lin())  # the two files swapped
    with pytest.raises(WeightsError, match="lin0.model.1.weight missing"):
        load_lpips(vgg, lin=vgg)


def test_registry_entry_refuses_image_sets():
    from ganeval.metrics import get_metric, metric_names
    from ganeval.options import RunOptions
    spec = get_metric("ppl")
    assert "ppl" in metric_names() and "ppl" not in metric_names(default_only=True) and not spec.needs_real
    with pytest.raises(UsageError, match="not an image set"):
        spec.run(None, torch.zeros(4, 3, 8, 8, dtype=torch.uint8), RunOptions())
    with pytest.raises(UsageError, match="not a batch of images"):
        spec.make(seed=0, device="cpu", num_samples=4).update(torch.zeros(4, 3, 8, 8, dtype=torch.uint8))


# -- the command line -------------------------------------------------------------------------
@pytest.fixture
def user_module(tmp_path, monkeypatch):
    (tmp_path / "ppl_user_gen.py").write_text(
        "import torch\n"
        "class G:\n"
        "    z_dim = 4\n"
        "    input_range = (0, 1)\n"
        "    def __call__(self, z):\n"
        "        return torch.sigmoid(z.sum(1))[:, None, None, None].expand(-1, 3, 16, 16) * 0.5 + "
        "torch.linspace(0, 0.5, 16)\n"
        "def load(path, device):\n"
        "    return G()\n")
    monkeypatch.chdir(tmp_path)
    yield "ppl_user_gen"
    sys.modules.pop("ppl_user_gen", None)


def _one_line(res) -> str:
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in res.stderr, res.stderr
    return lines[0]


def test_cli_missing_weights_names_option_and_variable(user_module, tmp_path, monkeypatch):
    from ganeval.cli import main
    monkeypatch.delenv("GANEVAL_LPIPS_WEIGHTS", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty"))
    res = CliRunner().invoke(main, ["ppl", f"{user_module}:G", "-n", "4", "-q", "--device", "cpu"])
    assert res.exit_code == 1
    line = _one_line(res)
    assert "--lpips-weights" in line and "$GANEVAL_LPIPS_WEIGHTS" in line
    res = CliRunner().invoke(main, ["ppl", f"{user_module}:G", "-n", "4", "--lpips-weights", str(tmp_path / "no.pth")])
    assert res.exit_code == 1 and "no.pth" in _one_line(res)


def test_cli_user_generator_json_and_errors(user_module, vgg, tmp_path):
    import json
    from ganeval.cli import main
    ckpt = tmp_path / "g.bin"
    ckpt.write_bytes(b"anything the loader understands")
    out = tmp_path / "r.json"
    args = ["-n", "8", "-q", "--device", "cpu", "--lpips-weights", vgg, "--protocol", "torchmetrics"]
    res = CliRunner().invoke(main, ["ppl", str(ckpt), "--loader", f"{user_module}:load", "--json", "-o", str(out),
                                    *args])
    assert res.exit_code == 0, res.stderr
    r = json.loads(res.stdout)
    assert r["metric"] == "ppl" and r["settings"]["input_range"] == [0.0, 1.0] and r["values"]["PPL"] > 0
    assert json.loads(out.read_text())["values"] == r["values"]
    assert r["provenance"]["inputs"]["generator"]["sha256"] == hashlib.sha256(ckpt.read_bytes()).hexdigest()
    # the same generator named as module:attr gives the same number
    res2 = CliRunner().invoke(main, ["ppl", f"{user_module}:G", "--json", *args])
    assert json.loads(res2.stdout)["values"] == r["values"]
    res = CliRunner().invoke(main, ["ppl", str(ckpt), *args])  # no loader and no registered kind
    assert res.exit_code == 2 and "--loader" in _one_line(res)
    res = CliRunner().invoke(main, ["ppl", f"{user_module}:nothing", *args])
    assert res.exit_code == 2 and "has no attribute nothing" in _one_line(res)


def test_reference_trainer_checkpoint_is_a_latent_generator(tmp_path, vgg):
    """The plugin's generator is the G the leaderboard samples: the same pixels for the same latents."""
    from reference_trainer.dataset import build_builtin
    from reference_trainer.presets import make_config
    from reference_trainer.sampling import latent_batches, sample_checkpoint, to_pixels
    from reference_trainer.train import train
    from ganeval.io.generators import load_generator
    cfg = dict(resolution=16, latent_size=16, fmap_base=64, fmap_max=32, lod_training_kimg=0.032,
               lod_transition_kimg=0.032, minibatch_base=16, total_kimg=0.064, tick_kimg_base=0.032,
               tick_kimg_dict={}, checkpoint_kimg=0.064, grid_size=[4, 2], metrics_kimg=None, builtin_num=64,
               G_smoothing=0.9)
    data = build_builtin(tmp_path / "data", 16, 64)
    last = train(make_config(None, dict(cfg, data=str(data))), tmp_path / "run", progress=False)
    G = load_generator(str(last), device="cpu")
    assert G.z_dim == 16 and G.input_range == (-1.0, 1.0)
    z = next(latent_batches(8, 16, seed=3, batch_size=8))
    assert torch.equal(to_pixels(G(z)), sample_checkpoint(last, 8, seed=3))
    r = ppl(str(last), num_samples=8, lpips_weights=vgg, device="cpu", sampling="end")
    assert math.isfinite(r["PPL"]) and r.settings["sampling"] == "end"
