"""DINOv2 feature extraction speed (FD_DINOv2's cost): images/s of ganeval's ViT, tiny to ViT-L/14.

    python benchmarks/bench_dinov2.py [--models tiny,vitb14,vitl14] [--batch 16] [--iters 2]
                                      [--resolution 256] [--device cpu] [-o FILE]

Speed does not depend on the weights' values, so the networks are randomly initialised (no
checkpoint is needed or loaded): ``tiny`` is the test suite's ViT (depth 2, width 48, 3 heads),
``vitb14`` and ``vitl14`` the real-size architectures with a 37x37 position grid as in Meta's
checkpoints.  Each model extracts features of `--iters` batches of `--batch` uint8 images at
`--resolution` after one warm-up batch; the preprocessing (exact PIL-bicubic resize to 224 and
ImageNet normalisation) is timed separately and is included in the images/s.  Prints one JSON
object (and writes it to ``-o``).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)  # this checkout's ganeval, not whichever one the environment installed
sys.path.insert(1, os.path.dirname(os.path.abspath(__file__)))
from _common import machine, peak_rss_mb  # noqa: E402


def _config(name: str):
    from ganeval.dinov2.network import ARCHS, ViTConfig
    return ViTConfig("tiny", 48, 2, 3) if name == "tiny" else ARCHS[name]


def _bench(name: str, batch: int, iters: int, resolution: int, device: str) -> dict:
    import torch
    from ganeval.dinov2.network import DINOv2Extractor, DinoVisionTransformer
    torch.manual_seed(0)
    cfg = _config(name)
    net = DINOv2Extractor(DinoVisionTransformer(cfg, 4 if name == "tiny" else 37)).to(device)
    g = torch.Generator().manual_seed(1)
    images = torch.randint(0, 256, (batch, 3, resolution, resolution), dtype=torch.uint8, generator=g).to(device)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    net(images)  # warm-up
    sync()
    t0 = time.perf_counter()
    for _ in range(iters):
        net.preprocess(images)
    sync()
    pre = (time.perf_counter() - t0) / iters
    t0 = time.perf_counter()
    for _ in range(iters):
        feats = net(images)
    sync()
    per_batch = (time.perf_counter() - t0) / iters
    return {"model": name, "dim": cfg.dim, "depth": cfg.depth, "heads": cfg.heads,
            "params_millions": round(sum(p.numel() for p in net.parameters()) / 1e6, 2),
            "batch": batch, "batches_timed": iters, "input_resolution": resolution,
            "seconds_per_batch": round(per_batch, 3), "images_per_s": round(batch / per_batch, 2),
            "preprocess_seconds_per_batch": round(pre, 4), "preprocess_share": round(pre / per_batch, 4),
            "feature_shape": list(feats.shape)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="tiny,vitb14,vitl14")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--iters", type=int, default=2)
    ap.add_argument("--resolution", type=int, default=256)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    ap.add_argument("-o", "--output", default=None)
    a = ap.parse_args()
    import torch
    if a.threads:
        torch.set_num_threads(a.threads)
    load_before = os.getloadavg()[0]
    results = [_bench(m, a.batch, a.iters, a.resolution, a.device) for m in a.models.split(",")]
    out = {"benchmark": "dinov2-features", "device": a.device, "torch_threads": torch.get_num_threads(),
           "load_average_1m": {"before": load_before, "after": os.getloadavg()[0]},
           "weights": "random initialisation (speed only; no checkpoint loaded)", "machine": machine(),
           "results": results, "peak_rss_mb": round(peak_rss_mb(), 1)}
    text = json.dumps(out, indent=2)
    print(text)
    if a.output:
        sys.path.insert(0, ROOT)
        from ganeval.io.fileio import atomic_write_text
        atomic_write_text(a.output, text + "\n")


if __name__ == "__main__":
    main()
