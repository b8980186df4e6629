"""CLIP features (FD_CLIP, CMMD): the encoder, its weights, both preprocessings and CMMD's math.

The encoder runs as a tiny randomly initialised CLIP ViT (width 64, 2 layers, 16 px patches,
64 px input, 32-d embedding) saved with OpenAI's checkpoint key names, as a plain state dict
and as a TorchScript archive like OpenAI's files; the real ViT-B/32 and ViT-L/14@336 are built
only on the meta device.  Expected values come from independent computations: the encoder
against ``nn.MultiheadAttention`` and ``F.layer_norm``, the CMMD preprocessing against Pillow
itself, TF1 bilinear against ganeval's Inception resize (a matrix form), CMMD against a direct
float64 evaluation of its formula and closed forms.  Equality with torch-fidelity on the same
files is tests/peers/test_clip_peers.py; numbers with OpenAI's real weights are not checked
(they cannot be downloaded here).
"""
import json
import math
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner
from PIL import Image

import ganeval.clip.features as CF
import ganeval.clip.weights as CW
from ganeval.clip import owns
from ganeval.clip.network import ARCHS, CLIPConfig, VisionTransformer
from ganeval.clip.preprocess import CLIP_MEAN, CLIP_STD, centre_crop, cmmd as cmmd_prep, tf1_bilinear, torch_fidelity
from ganeval.errors import DataError, WeightsError
from ganeval.metrics.cmmd import CMMD, cmmd, cmmd_from_features, mmd_rbf

# 32 images against 32 dimensions: FD's rank-deficiency note.
pytestmark = pytest.mark.filterwarnings("ignore:.*rank-deficient", "ignore:FID came out")

TINY = CLIPConfig("tiny", 64, 16, 64, 2, 32)


def openai_keys(layers):
    """The ``visual.*`` key names of OpenAI's CLIP ViT checkpoints (clip/model.py), written out."""
    keys = ["visual.class_embedding", "visual.positional_embedding", "visual.proj", "visual.conv1.weight",
            "visual.ln_pre.weight", "visual.ln_pre.bias", "visual.ln_post.weight", "visual.ln_post.bias"]
    for i in range(layers):
        keys += [f"visual.transformer.resblocks.{i}.{k}" for k in (
            "attn.in_proj_weight", "attn.in_proj_bias", "attn.out_proj.weight", "attn.out_proj.bias",
            "ln_1.weight", "ln_1.bias", "mlp.c_fc.weight", "mlp.c_fc.bias", "mlp.c_proj.weight", "mlp.c_proj.bias",
            "ln_2.weight", "ln_2.bias")]
    return keys


def tiny_state(seed=0, cfg=TINY):
    """A full OpenAI-layout CLIP state dict (text tensors included) with random float32 values."""
    g = torch.Generator().manual_seed(seed)
    w, grid = cfg.width, cfg.grid
    shapes = {"class_embedding": (w,), "positional_embedding": (grid * grid + 1, w), "proj": (w, cfg.embed_dim),
              "conv1.weight": (w, 3, cfg.patch, cfg.patch), "attn.in_proj_weight": (3 * w, w),
              "attn.in_proj_bias": (3 * w,), "attn.out_proj.weight": (w, w), "mlp.c_fc.weight": (4 * w, w),
              "mlp.c_fc.bias": (4 * w,), "mlp.c_proj.weight": (w, 4 * w)}
    sd = {}
    for k in openai_keys(cfg.layers):
        tail = k.split(".", 1)[1]
        shape = next((s for suffix, s in shapes.items() if tail.endswith(suffix)), (w,))
        fan_in = shape[-1] if len(shape) == 2 else (3 * cfg.patch ** 2 if len(shape) == 4 else 1)
        base = 1.0 if ".ln_" in k and k.endswith("weight") else 0.0
        sd[k] = base + torch.randn(shape, generator=g) * (0.3 if base or len(shape) == 1 else fan_in ** -0.5)
    sd.update({"text_projection": torch.randn(16, cfg.embed_dim, generator=g), "logit_scale": torch.tensor(4.6),
               "token_embedding.weight": torch.randn(10, 16, generator=g), "ln_final.weight": torch.ones(16)})
    return sd


class _OpenAILayout(torch.nn.Module):
    def __init__(self, sd, cfg):
        super().__init__()
        self.visual = VisionTransformer(cfg)
        self.visual.load_state_dict({k[7:]: v for k, v in sd.items() if k.startswith("visual.")})
        self.text_projection = torch.nn.Parameter(sd["text_projection"])

    def forward(self, x):
        return self.visual(x)


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """[state dict seed 0, state dict seed 1, TorchScript of seed 0] in OpenAI's layout."""
    d = tmp_path_factory.mktemp("clip")
    paths = []
    for seed in (0, 1):
        torch.save(tiny_state(seed), d / f"tiny{seed}.pt")
        paths.append(str(d / f"tiny{seed}.pt"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.trace(_OpenAILayout(tiny_state(0), TINY).eval(), torch.zeros(1, 3, 64, 64)).save(str(d / "ts.pt"))
    return paths + [str(d / "ts.pt")]


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """No real caches, no env weights, and a fresh model cache per test."""
    monkeypatch.setenv("GANEVAL_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("GANEVAL_CLIP_WEIGHTS", raising=False)
    monkeypatch.setattr(CF, "_MODELS", {})
    torch.set_num_threads(1)
    return tmp_path


@pytest.fixture(scope="module")
def sets(crops):
    return crops[0][:32], crops[1][:32]


# -- the encoder and its weights -----------------------------------------------------------

def _reference_forward(sd, x, cfg):
    """OpenAI's ViT written with torch's own MultiheadAttention and layer norms, on the
    float16-rounded tensors torch-fidelity uses (an independent evaluation of the encoder)."""
    v = {k[7:]: t for k, t in sd.items() if k.startswith("visual.")}
    r = {k: (t.half().float() if k.endswith(("conv1.weight", "proj_weight", "proj_bias", "out_proj.weight",
                                              "out_proj.bias", "c_fc.weight", "c_fc.bias", "c_proj.weight",
                                              "c_proj.bias")) else t) for k, t in v.items()}
    ln = lambda t, name: F.layer_norm(t, (cfg.width,), r[f"{name}.weight"], r[f"{name}.bias"], 1e-5)  # noqa: E731
    t = F.conv2d(x, r["conv1.weight"], stride=cfg.patch).flatten(2).permute(0, 2, 1)
    t = torch.cat([r["class_embedding"].expand(t.shape[0], 1, -1), t], 1) + r["positional_embedding"]
    t = ln(t, "ln_pre").permute(1, 0, 2)
    for i in range(cfg.layers):
        p = f"transformer.resblocks.{i}."
        mha = torch.nn.MultiheadAttention(cfg.width, cfg.heads)
        mha.load_state_dict({"in_proj_weight": r[p + "attn.in_proj_weight"], "in_proj_bias": r[p + "attn.in_proj_bias"],
                             "out_proj.weight": r[p + "attn.out_proj.weight"],
                             "out_proj.bias": r[p + "attn.out_proj.bias"]})
        h = ln(t, p + "ln_1")
        t = t + mha.eval()(h, h, h, need_weights=False)[0]
        h = F.linear(ln(t, p + "ln_2"), r[p + "mlp.c_fc.weight"], r[p + "mlp.c_fc.bias"])
        t = t + F.linear(h * torch.sigmoid(1.702 * h), r[p + "mlp.c_proj.weight"], r[p + "mlp.c_proj.bias"])
    return ln(t.permute(1, 0, 2)[:, 0], "ln_post") @ r["proj"]


def test_encoder_loads_openai_keys_and_equals_a_direct_evaluation(weights):
    net, info = CW.load_clip(TINY, weights[0], "cpu")
    assert info.format == "state-dict" and info.sha256 == CW.sha256_of(weights[0]) and not info.published
    sd = tiny_state(0)
    x = torch.randn(5, 3, 64, 64, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        got, want = net.vit(x), _reference_forward(sd, x, TINY)
    assert got.shape == (5, 32)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    # torch-fidelity's float16 rounding: on the linear tensors only.
    assert torch.equal(net.vit.conv1.weight, sd["visual.conv1.weight"].half().float())
    assert not torch.equal(sd["visual.conv1.weight"].half().float(), sd["visual.conv1.weight"])
    assert torch.equal(net.vit.proj, sd["visual.proj"])
    assert torch.equal(net.vit.ln_pre.weight, sd["visual.ln_pre.weight"])


def test_real_architectures_match_openai_shapes():
    for name, (width, layers, grid, embed) in {"vitb32": (768, 12, 7, 512), "vitl14": (1024, 24, 16, 768),
                                               "vitl14-336": (1024, 24, 24, 768)}.items():
        with torch.device("meta"):
            sd = VisionTransformer(ARCHS[name]).state_dict()
        assert sorted("visual." + k for k in sd) == sorted(openai_keys(layers))
        assert sd["positional_embedding"].shape == (grid * grid + 1, width) and sd["proj"].shape == (width, embed)
        assert ARCHS[name].heads == width // 64


def test_torchscript_file_is_converted_once_and_equals_the_state_dict(weights, isolated):
    x = torch.from_numpy(np.random.default_rng(0).integers(0, 256, (4, 3, 48, 80), dtype=np.uint8))
    a, _ = CW.load_clip(TINY, weights[0], "cpu")
    b, info = CW.load_clip(TINY, weights[2], "cpu")
    assert info.format == "openai-torchscript" and info.sha256 == CW.sha256_of(weights[2])
    assert torch.equal(a(x), b(x))
    converted = list((isolated / "cache").iterdir())
    assert len(converted) == 1 and owns(converted[0].name) and converted[0].name.startswith("ts-")
    CW.load_clip(TINY, weights[2], "cpu")  # second load: the converted file, weights_only
    assert list((isolated / "cache").iterdir()) == converted


def test_weights_errors_are_one_line(weights, tmp_path, monkeypatch):
    with pytest.raises(WeightsError, match="not found"):
        CW.load_clip(TINY, str(tmp_path / "nope.pt"), "cpu")
    with pytest.raises(WeightsError, match="no CLIP vitb32 weights found"):
        CW.load_clip("vitb32", None, "cpu")
    with pytest.raises(WeightsError, match=r"not vitb32 \(width 768"):
        CW.load_clip("vitb32", weights[0], "cpu")
    bad = tiny_state(0)
    del bad["visual.ln_post.bias"]
    torch.save(bad, tmp_path / "bad.pt")
    with pytest.raises(WeightsError, match="missing ln_post.bias"):
        CW.load_clip(TINY, str(tmp_path / "bad.pt"), "cpu")
    torch.save({"vision_model.embeddings.patch_embedding.weight": torch.zeros(1)}, tmp_path / "hf.pt")
    with pytest.raises(WeightsError, match="Hugging Face"):
        CW.load_clip(TINY, str(tmp_path / "hf.pt"), "cpu")
    # A TorchScript file the search finds is opened only with OpenAI's published sha256.
    monkeypatch.setitem(ARCHS, "vitb32", CLIPConfig("vitb32", 64, 16, 64, 2, 32))
    (tmp_path / "cache").mkdir(exist_ok=True)
    (tmp_path / "cache" / "ViT-B-32.pt").write_bytes(open(weights[2], "rb").read())
    with pytest.raises(WeightsError, match="not OpenAI's"):
        CW.load_clip("vitb32", None, "cpu")
    monkeypatch.setenv("GANEVAL_CLIP_WEIGHTS", weights[2])  # named by the user: opened
    assert CW.load_clip("vitb32", None, "cpu")[1].source == "$GANEVAL_CLIP_WEIGHTS"


# -- preprocessing --------------------------------------------------------------------------

def test_torch_fidelity_preprocessing_is_tf1_bilinear_and_clip_normalisation():
    from ganeval.inception.resize import resize_tf1_bilinear  # an independent (matrix) TF1 resize
    x = torch.from_numpy(np.random.default_rng(1).integers(0, 256, (2, 3, 40, 72), dtype=np.uint8))
    ours = tf1_bilinear(x.float(), 224)
    # torch-fidelity places samples in float32 (i * in/out rounded: <= 72 * 2^-24 px off here), the
    # matrix form in float64; on a 0..255 image with slopes up to 255 per pixel that is <= 1.1e-3.
    torch.testing.assert_close(ours, resize_tf1_bilinear(x.double(), (224, 224)).float(), rtol=0, atol=2e-3)
    assert torch.equal(tf1_bilinear(x.float()[..., :40], 40), x.float()[..., :40])  # same size: untouched
    mean = torch.tensor(CLIP_MEAN).view(1, 3, 1, 1) * 255
    std = torch.tensor(CLIP_STD).view(1, 3, 1, 1) * 255
    torch.testing.assert_close(torch_fidelity(x, 224), (ours - mean) / std, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("h,w", [(40, 72), (90, 50), (64, 64)])
def test_cmmd_preprocessing_equals_pil_crop_and_bicubic_resize(h, w):
    x = np.random.default_rng(h * w).integers(0, 256, (2, 3, h, w), dtype=np.uint8)
    want = []
    for img in x:
        im = Image.fromarray(np.ascontiguousarray(img.transpose(1, 2, 0)))
        side = min(h, w)
        box = ((w - side) // 2, (h - side) // 2, (w - side) // 2 + side, (h - side) // 2 + side)
        arr = np.asarray(im.crop(box).resize((336, 336), resample=Image.BICUBIC)).astype(np.float32) / 255.0
        want.append((arr - np.array(CLIP_MEAN, np.float32)) / np.array(CLIP_STD, np.float32))
    got = cmmd_prep(torch.from_numpy(x), 336).permute(0, 2, 3, 1).numpy()
    np.testing.assert_allclose(got, np.stack(want), rtol=0, atol=2e-6)
    assert centre_crop(torch.from_numpy(x)).shape[-2:] == (min(h, w), min(h, w))


# -- CMMD: the estimator ------------------------------------------------------------------

def _direct(x, y, sigma=10.0):
    """The reference formula, evaluated pair by pair from differences in float64."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    k = lambda a, b: np.exp(-((a[:, None, :] - b[None, :, :]) ** 2).sum(-1) / (2 * sigma ** 2)).mean()  # noqa: E731
    return 1000 * (k(x, x) + k(y, y) - 2 * k(x, y))


def test_mmd_equals_a_direct_float64_evaluation_and_does_not_depend_on_blocks(monkeypatch):
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(70, 8, generator=g) * 4, torch.randn(50, 8, generator=g) * 4 + 1
    want = _direct(x, y)
    assert want > 1 and mmd_rbf(x, y) == pytest.approx(want, rel=1e-12)
    monkeypatch.setattr("ganeval.metrics.cmmd._BLOCK_ELEMENTS", 7 * 50)  # blocks of 7 and 5 rows
    assert mmd_rbf(x, y) == pytest.approx(want, rel=1e-12)
    assert mmd_rbf(x, y, sigma=3.0, scale=1.0) == pytest.approx(_direct(x, y, 3.0) / 1000, rel=1e-12)
    # Normalised embeddings: CMMD is the same MMD on the rows scaled to unit length.
    a, b = x * torch.linspace(0.5, 3, 70)[:, None], y
    unit = lambda t: t.double() / t.double().norm(dim=1, keepdim=True)  # noqa: E731
    assert cmmd_from_features(a, b) == pytest.approx(_direct(unit(a), unit(b)), rel=1e-12)


def test_identical_sets_give_exactly_zero_and_point_masses_the_closed_form():
    x = torch.randn(40, 16, generator=torch.Generator().manual_seed(1))
    assert mmd_rbf(x, x.clone()) == 0.0 and cmmd_from_features(x, x.clone()) == 0.0
    # All mass on p against all mass on q: k(x, x') = k(y, y') = 1, k(x, y) = exp(-|p - q|^2 / 200).
    p, q = torch.zeros(16), torch.full((16,), 2.5)
    d2 = float(((p - q) ** 2).sum())
    want = 1000 * 2 * (1 - math.exp(-d2 / (2 * 10.0 ** 2)))
    assert mmd_rbf(p.expand(30, 16), q.expand(20, 16)) == pytest.approx(want, rel=1e-12)


def test_shifted_gaussians_converge_to_the_closed_form():
    """For X ~ N(mu1, s^2 I), Y ~ N(mu2, s^2 I) in d dimensions and k = exp(-|a - b|^2 / (2 sigma^2)),
    E k(X, X') = c = (sigma^2 / (sigma^2 + 2 s^2))^(d/2) and E k(X, Y) = c exp(-D^2 / (2 (sigma^2 + 2 s^2))),
    D = |mu1 - mu2|, so MMD^2 = 2c (1 - exp(-D^2 / (2 (sigma^2 + 2 s^2)))); the estimator counts
    the n diagonal ones, which adds 2 (1 - c) / n in expectation.  n = 3000: the estimate's
    spread over seeds is 1.3% (measured, 8 seeds), so 6% is about five standard deviations."""
    d, s, sigma, delta, n = 4, 3.0, 10.0, 6.0, 3000
    c = (sigma ** 2 / (sigma ** 2 + 2 * s ** 2)) ** (d / 2)
    expected = 1000 * (2 * c * (1 - math.exp(-delta ** 2 / (2 * (sigma ** 2 + 2 * s ** 2)))) + 2 * (1 - c) / n)
    g = torch.Generator().manual_seed(5)
    x = torch.randn(n, d, generator=g, dtype=torch.float64) * s
    y = torch.randn(n, d, generator=g, dtype=torch.float64) * s
    assert mmd_rbf(x, y + torch.tensor([delta, 0, 0, 0], dtype=torch.float64)) == pytest.approx(expected, rel=0.06)
    assert mmd_rbf(x, y) < 0.02 * expected  # no shift: only the diagonal's small bias and noise


def test_bad_embeddings_are_errors():
    with pytest.raises(DataError, match="cannot be L2-normalised"):
        cmmd_from_features(torch.zeros(3, 4), torch.ones(3, 4))
    with pytest.raises(DataError, match="NaN or inf"):
        mmd_rbf(torch.tensor([[float("nan"), 0.0]]), torch.ones(2, 2))


# -- the metrics -----------------------------------------------------------------------------

def test_cmmd_is_the_estimator_on_the_encoder_embeddings(weights, sets):
    a, b = sets
    net, _ = CF.clip(TINY, weights[0], "cpu", preprocessing="cmmd")
    fa, fb = net(torch.from_numpy(a)), net(torch.from_numpy(b))
    r = cmmd(a, b, model=TINY, weights=weights[0], device="cpu", cache=False)
    assert r.metric == "cmmd" and r.primary == "CMMD" and r.num_images == {"real": 32, "fake": 32}
    unit = lambda t: t.double() / t.double().norm(dim=1, keepdim=True)  # noqa: E731
    assert r.value > 0 and r.value == pytest.approx(_direct(unit(fa), unit(fb)), rel=1e-9)
    s = r.settings
    assert s["weights_sha256"] == CW.sha256_of(weights[0]) and s["sigma"] == 10 and s["scale"] == 1000
    assert s["preprocessing"] == "cmmd" and s["embedding"] == "l2-normalised"
    assert cmmd(a, a, model=TINY, weights=weights[0], device="cpu").value == 0.0  # the same images: exactly 0


def test_cmmd_streams_like_one_shot_and_bootstraps(weights, sets):
    a, b = sets
    one_shot = cmmd(a, b, model=TINY, weights=weights[0], device="cpu", cache=False, bootstrap=5, seed=2)
    m = CMMD(seed=2, device="cpu", model=TINY, weights=weights[0], bootstrap=5)
    for s, e in ((0, 7), (7, 32)):
        m.update(torch.from_numpy(a[s:e]), real=True)
    m.update(b)
    streamed = m.compute()
    assert streamed.value == pytest.approx(one_shot.value, rel=1e-9) and streamed.settings == one_shot.settings
    u = one_shot.uncertainty["CMMD"]
    assert u["method"] == "bootstrap" and u["n"] == 5 and u["resampled"] == ["real", "fake"]
    assert u["lo"] <= one_shot.value <= u["hi"]
    assert streamed.uncertainty["CMMD"]["replicates"] == pytest.approx(u["replicates"], rel=1e-9)


def test_fd_clip_cache_key_holds_weights_and_preprocessing(weights, sets, isolated):
    from ganeval.metrics.fd import fd
    a, b = sets
    r0 = fd(a, b, features="clip", model=TINY, weights=weights[0], device="cpu")
    assert r0.metric == "fd_clip_tiny" and r0.primary == "FD_CLIP_tiny" and r0.settings["resize"] == "tf1-bilinear-64"
    assert r0.settings["weights_sha256"] == CW.sha256_of(weights[0])
    stats = isolated / "cache" / "stats"
    assert len(list(stats.iterdir())) == 2
    fd(a, b, features="clip", model=TINY, weights=weights[1], device="cpu")  # other weights: other entries
    cmmd(a, b, model=TINY, weights=weights[0], device="cpu")  # other preprocessing: other entries
    metas = [json.loads(str(np.load(p)["meta"])) for p in stats.iterdir()]
    assert len(metas) == 6 and len({(m["weights_sha256"], m["extractor"]) for m in metas}) == 3


def test_registry_evaluate_cli_and_leaderboard(weights, sets, monkeypatch, tmp_path):
    from ganeval import evaluate
    from ganeval.cli import main
    from ganeval.metrics.registry import get_metric, metric_names
    from ganeval.reporting.leaderboard import protocol_for
    for name, primary in (("fd_clip", "FD_CLIP"), ("cmmd", "CMMD")):
        spec = get_metric(name)
        assert spec.primary == primary and spec.lower_is_better and spec.needs_real and spec.takes("bootstrap")
        assert name not in metric_names(default_only=True)
    a, b = sets
    # The registry passes no weights to these metrics: CLIP finds its own ($GANEVAL_CLIP_WEIGHTS).
    monkeypatch.setitem(ARCHS, "vitb32", CLIPConfig("vitb32", 64, 16, 64, 2, 32))
    monkeypatch.setitem(ARCHS, "vitl14-336", CLIPConfig("vitl14-336", 64, 16, 64, 2, 32))
    monkeypatch.setenv("GANEVAL_CLIP_WEIGHTS", weights[0])
    got = evaluate(a, b, ["fd_clip", "cmmd"], cache=False, device="cpu", weights="/no/inception.pth", bootstrap=3)
    assert [r.metric for r in got] == ["fd_clip", "cmmd"] and all(r.uncertainty for r in got)
    m = get_metric("fd_clip").make(seed=0)
    m.update(a, real=True)
    m.update(b)
    assert m.compute().value == pytest.approx(got[0].value, rel=1e-6)
    np.save(tmp_path / "real.npy", a)
    proto = protocol_for(str(tmp_path / "real.npy"), ["fd_clip", "cmmd"], 32, 0)
    assert proto["clip_weights_sha256"] == proto["cmmd_weights_sha256"] == CW.sha256_of(weights[0])
    np.save(tmp_path / "b.npy", b)
    files = [str(tmp_path / "real.npy"), str(tmp_path / "b.npy")]
    res = CliRunner().invoke(main, ["fd", "--features", "clip", "--clip-weights", weights[1], *files, "--json", "-q",
                                    "--device", "cpu"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["metric"] == "fd_clip" and out["settings"]["weights_sha256"] == CW.sha256_of(weights[1])
    res = CliRunner().invoke(main, ["cmmd", *files, "--clip-weights", weights[1], "--json", "-q", "--device", "cpu"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["settings"]["weights_sha256"] == CW.sha256_of(weights[1])
    res = CliRunner().invoke(main, ["weights", "--features", "clip", "--weights", weights[1]])
    assert res.exit_code == 0 and CW.sha256_of(weights[1]) in res.output and "state-dict" in res.output
    monkeypatch.delenv("GANEVAL_CLIP_WEIGHTS")
    res = CliRunner().invoke(main, ["cmmd", *files, "-q", "--device", "cpu"])
    assert res.exit_code == 1 and "no CLIP vitl14-336 weights found" in res.output
    assert len(res.output.strip().splitlines()) == 1


def test_extractor_registers_without_torch_and_owns_its_cache_files():
    import subprocess
    import sys
    code = ("import sys, ganeval.extractors; from ganeval.features.registry import get_extractor; "
            "s = get_extractor('clip'); print(s.models, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "('vitb32', 'vitl14', 'vitl14-336') False"
    assert owns("ViT-L-14-336px.pt") and owns("ts-0123456789ab.clip-state.pt") and not owns("ViT-B-32.pth")


def test_fd_weights_given_for_another_extractor_or_twice_is_a_usage_error(tmp_path):
    from ganeval.cli import main
    for args in (["--features", "clip", "--dinov2-weights", "w.pth"],
                 ["--features", "dinov2", "--clip-weights", "w.pt"],
                 ["--features", "clip", "--clip-weights", "a.pt", "--feature-weights", "b.pt"]):
        res = CliRunner().invoke(main, ["fd", str(tmp_path), str(tmp_path), *args])
        assert res.exit_code == 2 and "give the weights once" in res.output, res.output
