"""FD_DINOv2: ganeval's DINOv2 ViT, its weights loader, dgm-eval's preprocessing and the metric.

Everything runs on a tiny randomly initialised ViT of the same family (depth 2, width 48,
3 heads, 14x14 patches, a 4x4 position grid) saved with the official checkpoint key names;
the real ViT-L/14 is only built on the meta device.  Whether the numbers equal dgm-eval's
with Meta's real weights is not checked here (no network, no 1.2 GB file).
"""
import io
import json
import math

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

import ganeval.dinov2.features as DF
import ganeval.dinov2.weights as DW
from ganeval.dinov2 import FeatureExtractor
from ganeval.dinov2.network import ARCHS, DinoVisionTransformer, ViTConfig
from ganeval.dinov2.preprocess import IMAGENET_MEAN, IMAGENET_STD, pil_bicubic_resize, preprocess
from ganeval.errors import WeightsError
from ganeval.metrics.fd import FD, fd
from ganeval.metrics.fid import frechet_distance

# 32 images against 48 dimensions: FD's rank-deficiency warning, and a self-distance rounding to -1e-12.
pytestmark = pytest.mark.filterwarnings("ignore:.*rank-deficient", "ignore:FID came out")

TINY = ViTConfig("tiny", 48, 2, 3)
GRID = 4


def official_keys(depth):
    """The key names of facebookresearch/dinov2's ``dinov2_vit*14_pretrain.pth`` (no registers)."""
    keys = ["cls_token", "pos_embed", "mask_token", "patch_embed.proj.weight", "patch_embed.proj.bias",
            "norm.weight", "norm.bias"]
    for i in range(depth):
        keys += [f"blocks.{i}.{k}" for k in (
            "norm1.weight", "norm1.bias", "attn.qkv.weight", "attn.qkv.bias", "attn.proj.weight", "attn.proj.bias",
            "ls1.gamma", "norm2.weight", "norm2.bias", "mlp.fc1.weight", "mlp.fc1.bias", "mlp.fc2.weight",
            "mlp.fc2.bias", "ls2.gamma")]
    return keys


def tiny_state(seed=0):
    g = torch.Generator().manual_seed(seed)
    vit = DinoVisionTransformer(TINY, GRID)
    sd = {}
    for k, v in vit.state_dict().items():
        scale = 0.5 if k.endswith(("norm1.weight", "norm2.weight", "norm.weight", "gamma")) else 0.2
        base = 1.0 if k.endswith(("norm1.weight", "norm2.weight", "norm.weight")) else 0.0
        sd[k] = base + scale * torch.randn(v.shape, generator=g)
    return sd


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    d = tmp_path_factory.mktemp("dinov2")
    paths = []
    for seed in (0, 1):
        p = d / f"tiny{seed}.pth"
        torch.save(tiny_state(seed), p)
        paths.append(str(p))
    return paths


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """No real caches, no env weights, and a fresh model cache per test."""
    monkeypatch.setenv("GANEVAL_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv("GANEVAL_DINOV2_WEIGHTS", raising=False)
    monkeypatch.setattr(DF, "_MODELS", {})
    return tmp_path


@pytest.fixture(scope="module")
def sets(crops):
    return crops[0][:32], crops[1][:32]


# -- architecture and weights ---------------------------------------------------------------

def test_real_architectures_have_the_official_names_and_sizes():
    for name, params_m in (("vitl14", 304.4), ("vitb14", 86.6)):  # timm's model cards: 304.4M, 86.6M
        with torch.device("meta"):
            vit = DinoVisionTransformer(ARCHS[name])
        sd = vit.state_dict()
        assert list(sd) == official_keys(ARCHS[name].depth) or set(sd) == set(official_keys(ARCHS[name].depth))
        assert sd["pos_embed"].shape == (1, 1 + 37 * 37, ARCHS[name].dim)  # 518 px / 14
        assert round(sum(v.numel() for v in sd.values()) / 1e6, 1) == params_m
    assert DW.url("vitl14") == "https://dl.fbaipublicfiles.com/dinov2/dinov2_vitl14/dinov2_vitl14_pretrain.pth"


def test_loads_every_official_key_and_the_timm_layout(weights, tmp_path):
    net, info = DW.load_dinov2(TINY, weights[0], "cpu")
    assert set(tiny_state()) == set(official_keys(TINY.depth))
    assert info.format == "dinov2-hub" and info.model == "tiny" and len(info.sha256) == 64
    assert info.sha256 == DW.sha256_of(weights[0]) == net.weights_sha256
    assert isinstance(net, FeatureExtractor) and net.dim == 48 and net.name == "dinov2-tiny"
    sd = torch.load(weights[0], weights_only=True)
    sd.pop("mask_token")  # timm's _convert_dinov2 drops it
    torch.save(sd, tmp_path / "timm.pth")
    net2, info2 = DW.load_dinov2(TINY, str(tmp_path / "timm.pth"), "cpu")
    x = torch.randint(0, 256, (2, 3, 40, 40), dtype=torch.uint8)
    assert info2.format == "timm" and torch.equal(net(x), net2(x))


def _one_line_error(path, match, model=TINY):
    with pytest.raises(WeightsError, match=match) as e:
        DW.load_dinov2(model, str(path), "cpu")
    assert "\n" not in str(e.value) and str(path) in str(e.value)


@pytest.mark.parametrize("change, match", [
    (lambda sd: sd.update(extra=torch.zeros(1)), "unexpected extra"),
    (lambda sd: sd.pop("blocks.1.ls2.gamma"), "missing blocks.1.ls2.gamma"),
    (lambda sd: sd.update({"blocks.0.attn.qkv.weight": torch.zeros(144, 47)}),
     r"blocks.0.attn.qkv.weight has shape \(144, 47\), DINOv2 tiny expects \(144, 48\)"),
    (lambda sd: sd.update(register_tokens=torch.zeros(1, 4, 48)), "registers"),
    (lambda sd: sd.update(pos_embed=torch.zeros(1, 18, 48)), "1 \\+ M\\*M"),
])
def test_weight_errors_are_one_line(weights, tmp_path, change, match):
    sd = torch.load(weights[0], weights_only=True)
    change(sd)
    torch.save(sd, tmp_path / "bad.pth")
    _one_line_error(tmp_path / "bad.pth", match)


def test_wrong_model_pickles_and_junk_are_one_line_errors(weights, tmp_path):
    _one_line_error(weights[0], r"cls_token has shape \(1, 1, 48\), DINOv2 vitl14 expects \(1, 1, 1024\)",
                    model="vitl14")
    torch.save({"embeddings.cls_token": torch.zeros(1, 1, 48)}, tmp_path / "hf.pth")
    _one_line_error(tmp_path / "hf.pth", "Hugging Face")
    torch.save({"model": object()}, tmp_path / "pickle.pth")  # weights_only=True refuses to unpickle it
    _one_line_error(tmp_path / "pickle.pth", "not a loadable weights file")
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    _one_line_error(tmp_path / "junk.pth", "not a loadable weights file")


def test_discovery_order_and_no_silent_download(weights, isolated, monkeypatch):
    with pytest.raises(WeightsError, match="downloads are off"):
        DW.locate("vitl14")
    hub = isolated / "torch" / "hub" / "checkpoints" / "dinov2_vitb14_pretrain.pth"
    hub.parent.mkdir(parents=True)
    hub.write_bytes(b"x")
    assert DW.locate("vitb14") == (hub, "torch hub cache")
    monkeypatch.setenv("GANEVAL_DINOV2_WEIGHTS", weights[1])
    assert DW.locate("vitb14")[1] == "$GANEVAL_DINOV2_WEIGHTS"
    assert DW.locate("vitb14", weights[0])[1] == "given file"
    monkeypatch.setenv("GANEVAL_DINOV2_WEIGHTS", str(isolated / "missing.pth"))
    with pytest.raises(WeightsError, match="missing.pth: DINOv2 weights file not found"):
        DW.locate("vitb14")


def test_download_is_atomic_records_sha256_and_detects_changes(weights, isolated, monkeypatch):
    blob = open(weights[0], "rb").read()
    seen = []

    def urlopen(url, timeout):
        seen.append(url)
        return io.BytesIO(blob)
    import urllib.request
    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    monkeypatch.setitem(ARCHS, "vitb14", ViTConfig("vitb14", 48, 2, 3))
    net, info = DW.load_dinov2("vitb14", device="cpu", allow_download=True)
    dest = isolated / "cache" / "dinov2_vitb14_pretrain.pth"
    assert seen == [DW.url("vitb14")] and info.source == "download" and info.path == str(dest)
    assert (isolated / "cache" / "dinov2_vitb14_pretrain.pth.sha256").read_text().strip() == info.sha256
    assert not [p for p in dest.parent.iterdir() if p.name.startswith(".tmp-")]
    assert DW.load_dinov2("vitb14", device="cpu")[1].source == "ganeval cache"  # found again, offline
    dest.write_bytes(blob + b"\0")
    with pytest.raises(WeightsError, match="differs from the .* recorded"):
        DW.load_dinov2("vitb14", device="cpu")


# -- preprocessing --------------------------------------------------------------------------

@pytest.mark.parametrize("hw", [(32, 32), (64, 64), (224, 224), (256, 256), (512, 512), (200, 300), (17, 223)])
def test_preprocessing_is_pil_bicubic_then_imagenet_normalisation(hw):
    """dgm-eval: torchvision Resize((224, 224), BICUBIC) on a PIL image, ToTensor, Normalize."""
    rng = np.random.default_rng(hw[0] * 1000 + hw[1])
    imgs = rng.integers(0, 256, (2, 3, *hw), dtype=np.uint8)
    imgs[1] = np.clip(np.linspace(0, 255, hw[1])[None, None, :] + rng.normal(0, 20, (3, *hw)), 0, 255)
    mean = torch.tensor(IMAGENET_MEAN, dtype=torch.float32).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=torch.float32).view(3, 1, 1)
    ref = []
    for im in imgs:
        pil = Image.fromarray(im.transpose(1, 2, 0)).resize((224, 224), Image.BICUBIC)
        ref.append((torch.from_numpy(np.asarray(pil).copy()).permute(2, 0, 1).float().div(255) - mean) / std)
    ours = preprocess(torch.from_numpy(imgs))
    assert ours.dtype == torch.float32 and ours.shape == (2, 3, 224, 224)
    assert torch.equal(ours, torch.stack(ref))  # bit for bit


def test_non_square_inputs_resize_rows_first_whatever_the_pillow_version():
    """Pillow 13 may run the vertical pass first when the height shrinks most; two one-axis
    resizes pin the horizontal-first order of every earlier Pillow (and of dgm-eval's numbers)."""
    img = np.random.default_rng(7).integers(0, 256, (300, 200, 3), dtype=np.uint8)
    ref = Image.fromarray(img).resize((224, 300), Image.BICUBIC).resize((224, 224), Image.BICUBIC)
    ours = pil_bicubic_resize(torch.from_numpy(img).permute(2, 0, 1)[None].contiguous())
    assert np.array_equal(ours[0].permute(1, 2, 0).numpy(), np.asarray(ref))


def test_resize_is_integer_valued_and_identity_at_224():
    x = torch.randint(0, 256, (1, 3, 224, 224), dtype=torch.uint8)
    assert torch.equal(pil_bicubic_resize(x), x.double())
    y = pil_bicubic_resize(torch.randint(0, 256, (1, 3, 50, 70), dtype=torch.uint8))
    assert torch.equal(y, y.round()) and y.min() >= 0 and y.max() <= 255


# -- position embeddings --------------------------------------------------------------------

def _torch_bicubic_matrix(n_in, n_out, scale):
    """Independent 1-D form of torch's bicubic upsampling with a given scale factor (A = -0.75,
    source = (i + 0.5) / scale - 0.5, edge samples clamped)."""
    def w(t):
        t, a = abs(t), -0.75
        return ((a + 2) * t - (a + 3)) * t * t + 1 if t <= 1 else ((((t - 5) * t + 8) * t - 4) * a if t < 2 else 0.0)
    m = np.zeros((n_out, n_in))
    for i in range(n_out):
        src = (i + 0.5) / scale - 0.5
        f = math.floor(src)
        for k in (-1, 0, 1, 2):
            m[i, min(max(f + k, 0), n_in - 1)] += w(src - (f + k))
    return m


def test_pos_embed_is_resized_like_dinov2_with_its_offset(weights):
    net, _ = DW.load_dinov2(TINY, weights[0], "cpu")
    vit = net.vit
    pos = vit.pos_embed.detach().double()[0]
    out = vit.interpolate_pos_encoding(224, 224).detach().double()[0]
    assert out.shape == (1 + 16 * 16, 48) and torch.equal(out[0], pos[0])  # the class row is kept
    m = _torch_bicubic_matrix(GRID, 16, (16 + 0.1) / GRID)  # DINOv2: scale_factor (w0 + 0.1) / M
    grid = pos[1:].reshape(GRID, GRID, 48).numpy()
    expected = np.einsum("ia,jb,abc->ijc", m, m, grid).reshape(256, 48)
    np.testing.assert_allclose(out[1:].numpy(), expected, atol=1e-5)
    by_size = np.einsum("ia,jb,abc->ijc", *(2 * [_torch_bicubic_matrix(GRID, 16, 16 / GRID)]), grid).reshape(256, 48)
    assert np.abs(by_size - expected).max() > 1e-3  # the offset changes the embedding: it matters
    assert vit.interpolate_pos_encoding(GRID * 14, GRID * 14) is vit.pos_embed  # native grid: untouched


# -- the metric -----------------------------------------------------------------------------

def test_fd_of_a_set_with_itself_is_zero_and_fd_is_the_frechet_distance_of_the_features(weights, sets):
    a, b = sets
    net, _ = DW.load_dinov2(TINY, weights[0], "cpu")
    fa, fb = (net(torch.from_numpy(x)).double().numpy() for x in (a, b))
    expected = frechet_distance(fa.mean(0), np.cov(fa, rowvar=False), fb.mean(0), np.cov(fb, rowvar=False))
    r = fd(a, b, model=TINY, weights=weights[0], device="cpu")
    assert expected > 1e-3 and r.value == pytest.approx(expected, rel=1e-6)
    assert r.metric == "fd_dinov2_tiny" and r.primary == "FD_DINOv2_tiny" and r.num_images == {"real": 32, "fake": 32}
    assert r.settings["weights_sha256"] == DW.sha256_of(weights[0]) and r.settings["resize"] == "pil-bicubic-224"
    assert fd(a, a, model=TINY, weights=weights[0], device="cpu").value == pytest.approx(0, abs=1e-6)  # cached sides


def test_streaming_equals_one_shot(weights, sets):
    a, b = sets
    one_shot = fd(a, b, model=TINY, weights=weights[0], device="cpu", cache=False, seed=3)
    m = FD(seed=3, device="cpu", model=TINY, weights=weights[0])
    for s, e in ((0, 5), (5, 21), (21, 32)):
        m.update(torch.from_numpy(a[s:e]), real=True)
    for s, e in ((0, 20), (20, 32)):
        m.update(b[s:e])
    streamed = m.compute()
    assert streamed.settings == one_shot.settings and streamed.num_images == one_shot.num_images
    assert streamed.metric == one_shot.metric and streamed.seed == one_shot.seed == 3
    assert streamed.value == pytest.approx(one_shot.value, rel=1e-6)


def test_cache_key_holds_the_extractor_and_the_weights_sha256(weights, sets, isolated):
    a, b = sets
    stats_dir = isolated / "cache" / "stats"
    s0, info0 = DF.extract_dinov2(a, model=TINY, weights=weights[0], device="cpu")
    assert len(list(stats_dir.iterdir())) == 1
    again, _ = DF.extract_dinov2(a, model=TINY, weights=weights[0], device="cpu")  # a hit: no new file
    assert len(list(stats_dir.iterdir())) == 1 and np.array_equal(again.mu, s0.mu)
    s1, info1 = DF.extract_dinov2(a, model=TINY, weights=weights[1], device="cpu")
    assert info0.sha256 != info1.sha256 and len(list(stats_dir.iterdir())) == 2
    assert not np.allclose(s0.mu, s1.mu)
    metas = [json.loads(str(np.load(p)["meta"])) for p in stats_dir.iterdir()]
    assert {m["weights_sha256"] for m in metas} == {info0.sha256, info1.sha256}
    assert all(m["extractor"].startswith("dinov2-tiny ") for m in metas)
    # A cached side and a freshly computed one give the same FD as no cache at all.
    cached = fd(a, b, model=TINY, weights=weights[0], device="cpu")
    assert cached.value == pytest.approx(fd(a, b, model=TINY, weights=weights[0], device="cpu",
                                                  cache=False).value, rel=1e-9)


def test_registry_entry_evaluate_and_cli(weights, sets, monkeypatch, tmp_path):
    from ganeval import evaluate
    from ganeval.cli import main
    from ganeval.metrics.registry import get_metric, metric_names
    spec = get_metric("fd_dinov2")
    assert spec.inception == "none" and spec.lower_is_better and spec.needs_real and spec.primary == "FD_DINOv2"
    assert "fd_dinov2" not in metric_names(default_only=True)
    a, b = sets
    # The registry passes no weights to non-Inception metrics: DINOv2 finds its own ($GANEVAL_DINOV2_WEIGHTS).
    monkeypatch.setitem(ARCHS, "vitl14", ViTConfig("vitl14", 48, 2, 3))
    monkeypatch.setitem(ARCHS, "vitb14", ViTConfig("vitb14", 48, 2, 3))
    monkeypatch.setenv("GANEVAL_DINOV2_WEIGHTS", weights[0])
    [r] = evaluate(a, b, ["fd_dinov2"], cache=False, device="cpu", weights="/no/inception/weights.pth")
    m = spec.make(seed=0)
    m.update(a, real=True)
    m.update(b)
    streamed = m.compute()
    assert r.metric == "fd_dinov2" and r.primary == "FD_DINOv2" and r.value > 0
    assert streamed.value == pytest.approx(r.value, rel=1e-6) and streamed.settings == r.settings
    np.save(tmp_path / "a.npy", a)
    np.save(tmp_path / "b.npy", b)
    files = [str(tmp_path / "a.npy"), str(tmp_path / "b.npy")]
    res = CliRunner().invoke(main, ["fd", "--features", "dinov2", "--model", "vitb14", "--dinov2-weights", weights[1],
                                    *files, "--json", "-q", "--device", "cpu"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["metric"] == "fd_dinov2_vitb14" and out["settings"]["weights_sha256"] == DW.sha256_of(weights[1])
    res = CliRunner().invoke(main, ["weights", "--features", "dinov2", "--model", "vitb14", "--weights", weights[1]])
    assert res.exit_code == 0 and DW.sha256_of(weights[1]) in res.output
    monkeypatch.delenv("GANEVAL_DINOV2_WEIGHTS")
    res = CliRunner().invoke(main, ["fd", *files, "-q", "--device", "cpu"])
    assert res.exit_code == 1 and "no DINOv2 vitl14 weights found" in res.output


def test_fd_bootstrap_streams_like_one_shot_and_covers_the_value(weights, sets):
    a, b = sets
    one_shot = fd(a, b, model=TINY, weights=weights[0], device="cpu", cache=False, bootstrap=6)
    m = FD(seed=0, device="cpu", model=TINY, weights=weights[0], bootstrap=6)
    m.update(a[:11], real=True)
    m.update(a[11:], real=True)
    m.update(b)
    streamed = m.compute()
    key = one_shot.primary  # FD_DINOv2_tiny: the tiny ViT's own value name
    u = one_shot.uncertainty[key]
    assert u["method"] == "bootstrap" and u["n"] == 6 and u["resampled"] == ["real", "fake"]
    assert u["lo"] <= one_shot.value <= u["hi"]
    assert streamed.uncertainty[key]["replicates"] == pytest.approx(u["replicates"], rel=1e-6)
    assert one_shot.value == pytest.approx(fd(a, b, model=TINY, weights=weights[0], device="cpu",
                                              cache=False).value, rel=1e-9)


def test_leaderboard_protocol_records_the_dinov2_weights(weights, monkeypatch, tmp_path, sets):
    from ganeval.reporting.leaderboard import protocol_for
    np.save(tmp_path / "real.npy", sets[0])
    monkeypatch.setenv("GANEVAL_DINOV2_WEIGHTS", weights[1])
    proto = protocol_for(str(tmp_path / "real.npy"), ["fd_dinov2"], 32, 0)
    assert proto["dinov2_weights_sha256"] == DW.sha256_of(weights[1])
    monkeypatch.setenv("GANEVAL_DINOV2_WEIGHTS", weights[0])
    assert protocol_for(str(tmp_path / "real.npy"), ["fd_dinov2"], 32, 0)["id"] != proto["id"]


def test_cache_ls_and_clear_know_the_downloaded_dinov2_checkpoints(isolated):
    from ganeval.cli import main
    from ganeval.features.cache import cache_files
    cache = isolated / "cache"
    cache.mkdir()
    ours = [cache / "dinov2_vitl14_pretrain.pth", cache / "dinov2_vitl14_pretrain.pth.sha256"]
    for p in ours + [cache / "dinov2_vitl14_finetuned.pth"]:  # the last is not a name ganeval writes
        p.write_bytes(b"x")
    assert cache_files() == sorted(ours) and cache_files(stats_only=True) == []
    res = CliRunner().invoke(main, ["cache", "clear"])
    assert res.exit_code == 0 and "removed 2 files" in res.output
    assert [p.name for p in cache.iterdir()] == ["dinov2_vitl14_finetuned.pth"]


def test_statistics_of_another_width_name_both_widths(weights, sets, tmp_path):
    from ganeval.errors import DataError
    from ganeval.features.stats import FeatureStats, save_stats
    st = FeatureStats(dim=10)
    st.update(torch.randn(20, 10))
    save_stats(tmp_path / "ten.npz", st)
    with pytest.raises(DataError, match=r"ten\.npz: statistics are 10-dimensional but the features in use are 48"):
        fd(str(tmp_path / "ten.npz"), sets[1], model=TINY, weights=weights[0], device="cpu", cache=False)
