"""FD_CLIP beside torch-fidelity 0.4.0's CLIP-feature FID, live, on the same weights file.

OpenAI's CLIP checkpoints cannot be downloaded here, so the weights are a randomly initialised
image encoder of the real ViT-B/32 shape (width 768, 12 layers, 32 px patches, 224 px input,
512-d embedding), saved as OpenAI's files are: a TorchScript archive whose state dict holds
``visual.*``, ``text_projection`` and ``logit_scale`` (torch-fidelity reads it with
``torch.jit.load`` through ``feature_extractor_weights_path`` and rebuilds the encoder from its
keys; ganeval converts it once into a plain state dict).  A narrow encoder of the
ViT-L/14@336 geometry (14 px patches, 336 px input, a 24x24 grid; width 64, 2 layers) covers
the other grid and resize without ViT-L's cost.  Same seeded PNG folders for both tools; FD must
equal torch-fidelity's FID to 1e-4 relative, and the embeddings themselves are compared too.
"""
from __future__ import annotations

import time
import warnings

import pytest
import torch

from ._images import image_set, read_folder, write_folder

REL = 1e-4
N = 24


class OpenAILayout(torch.nn.Module):
    """A CLIP checkpoint's shape: ``visual`` plus the text-side tensors torch-fidelity reads or drops."""

    def __init__(self, visual: torch.nn.Module, embed_dim: int) -> None:
        super().__init__()
        self.visual = visual
        self.text_projection = torch.nn.Parameter(torch.randn(16, embed_dim))
        self.logit_scale = torch.nn.Parameter(torch.tensor(4.6052))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.visual(x)


def save_openai_torchscript(cfg, path, seed: int) -> None:
    """A random encoder of `cfg`'s shape, LayerNorm gains and biases perturbed so they matter."""
    from ganeval.clip.network import VisionTransformer
    torch.manual_seed(seed)
    vit = VisionTransformer(cfg)
    with torch.no_grad():
        for name, p in vit.named_parameters():
            if "ln_" in name:
                p.add_(0.2 * torch.randn_like(p))
    model = OpenAILayout(vit, cfg.embed_dim).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about shape-dependent Python values
        torch.jit.trace(model, torch.zeros(1, 3, cfg.resolution, cfg.resolution)).save(str(path))


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    from ganeval.clip.network import ARCHS, CLIPConfig
    root = tmp_path_factory.mktemp("clip-peers")
    nets = {"vitb32": (ARCHS["vitb32"], "clip-vit-b-32"),
            "narrow-l14-336": (CLIPConfig("narrow-l14-336", 336, 14, 64, 2, 32), "clip-vit-l-14-336px")}
    files = {}
    for i, (name, (cfg, _)) in enumerate(nets.items()):
        files[name] = root / f"{name}.pt"
        save_openai_torchscript(cfg, files[name], seed=i)
    folders = {"rgb48": (write_folder(image_set(N, 48, 48, 1), root / "rgb48" / "real"),
                         write_folder(image_set(N, 48, 48, 2), root / "rgb48" / "fake")),
               "rect40x64": (write_folder(image_set(N, 40, 64, 3), root / "rect" / "real"),
                             write_folder(image_set(N, 40, 64, 4), root / "rect" / "fake"))}
    return nets, files, folders


def _torch_fidelity_fid(real, fake, tf_name, weights):
    import torch_fidelity
    return torch_fidelity.calculate_metrics(
        input1=str(fake), input2=str(real), cuda=False, fid=True, verbose=False, cache=False,
        feature_extractor=tf_name, feature_extractor_weights_path=str(weights))["frechet_inception_distance"]


@pytest.mark.parametrize("net,folder", [("vitb32", "rgb48"), ("narrow-l14-336", "rect40x64")])
def test_fd_clip_equals_torch_fidelity_clip_fid(setup, net, folder, record, tmp_path, monkeypatch):
    from ganeval.metrics.fd import fd
    from torch_fidelity.feature_extractor_clip import FeatureExtractorCLIP
    monkeypatch.setenv("GANEVAL_CACHE_DIR", str(tmp_path / "cache"))
    torch.set_num_threads(1)
    nets, files, folders = setup
    cfg, tf_name = nets[net]
    real, fake = folders[folder]
    t0 = time.time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # fewer images than dimensions: FD's rank-deficiency note
        ours = fd(str(real), str(fake), features="clip", model=cfg, weights=str(files[net]), device="cpu",
                  cache=False)
    t1 = time.time()
    theirs = _torch_fidelity_fid(real, fake, tf_name, files[net])
    t2 = time.time()
    record(protocol="clip", tool="torch-fidelity", metric="FD_CLIP", config=f"{net}/{folder}", ganeval=ours.value,
           peer=float(theirs))
    print(f"\n{net}/{folder}: ganeval {ours.value:.9g} ({t1 - t0:.1f} s), torch-fidelity {theirs:.9g} "
          f"({t2 - t1:.1f} s), rel diff {abs(ours.value - theirs) / abs(theirs):.2e}")
    assert ours.value == pytest.approx(theirs, rel=REL)
    assert ours.settings["weights_format"] == "openai-torchscript"
    # The embeddings themselves: torch-fidelity's extractor and ganeval's on the same uint8 batch.
    from ganeval.clip.features import clip
    images = read_folder(fake)[:8]
    ex = FeatureExtractorCLIP(tf_name, ["clip"], feature_extractor_weights_path=str(files[net]), verbose=False)
    with torch.no_grad():
        want = ex(images)[0]
    got = clip(cfg, str(files[net]), "cpu")[0](images)
    err = float((got - want).abs().max() / want.abs().max())
    print(f"{net}: embeddings max |diff| / max |value| = {err:.2e}")
    assert err < 1e-5
