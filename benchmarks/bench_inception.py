"""Inception feature extraction and FID speed; torch-fidelity side by side where it imports.

    python benchmarks/bench_inception.py --num 512 --resolution 128 [--weights PATH]

Writes N real and N fake PNGs of built-in photo crops to a temp dir, then reports: images/s of
feature extraction, end-to-end seconds for FID+IS (or FID alone when the weights have no
classifier) on the folders, the FID-from-statistics step against scipy's sqrtm formula, and the
peer's figures and the ratio when torch-fidelity is importable.  Prints one JSON object.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import machine, peak_rss_mb  # noqa: E402


def _pngs(folder: str, images: np.ndarray) -> None:
    from PIL import Image
    os.makedirs(folder, exist_ok=True)
    for i, img in enumerate(images):
        Image.fromarray(img.transpose(1, 2, 0)).save(os.path.join(folder, f"{i:05d}.png"))


def _sqrtm_fid(mu1, s1, mu2, s2) -> float:
    import scipy.linalg
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--num", type=int, default=512)
    ap.add_argument("--resolution", type=int, default=128)
    ap.add_argument("--weights", default=None)
    ap.add_argument("--device", default=None)
    ap.add_argument("--batch-size", type=int, default=64)
    args = ap.parse_args()
    import torch

    from ganeval.inception.features import extract, inception
    from ganeval.metrics.fid import frechet_distance
    from ganeval.metrics.isc import inception_score_from_logits
    from ganeval.io.samples import photo_crops
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    tmp = tempfile.mkdtemp(prefix="ganeval-bench-inception-")
    real, fake = os.path.join(tmp, "real"), os.path.join(tmp, "fake")
    _pngs(real, photo_crops(args.num, args.resolution, seed=1))
    _pngs(fake, photo_crops(args.num, args.resolution, seed=2, blur_sigma=1.0, noise_sigma=6.0))
    _, info = inception(args.weights, device)
    out = {"benchmark": "inception", "num_images_per_set": args.num, "resolution": args.resolution,
           "device": device, "machine": machine(), "weights": info.format}

    t0 = time.time()
    a, _ = extract(real, weights=args.weights, device=device, cache=False, batch_size=args.batch_size,
                   logits=info.has_logits)
    b, _ = extract(fake, weights=args.weights, device=device, cache=False, batch_size=args.batch_size,
                   logits=info.has_logits)
    t_extract = time.time() - t0
    t1 = time.time()
    value = frechet_distance(a.mu, a.sigma, b.mu, b.sigma)
    t_fid = time.time() - t1
    if info.has_logits:
        out["is_mean"] = inception_score_from_logits(b.all_logits())[0]
    t2 = time.time()
    sqrtm_value = _sqrtm_fid(a.mu, a.sigma, b.mu, b.sigma)
    t_sqrtm = time.time() - t2
    out["ganeval"] = {"extract_images_per_s": 2 * args.num / t_extract, "end_to_end_seconds": time.time() - t0 - t_sqrtm,
                      "fid": value, "fid_from_stats_seconds": t_fid, "peak_rss_mb": peak_rss_mb()}
    out["scipy_sqrtm"] = {"fid": sqrtm_value, "seconds": t_sqrtm, "speedup_of_eigh": t_sqrtm / t_fid}
    try:
        import torch_fidelity
    except Exception as e:  # torchvision is unimportable beside CPU-only torch builds
        out["torch_fidelity"] = f"not run: {type(e).__name__}: {e}"
    else:
        t3 = time.time()
        m = torch_fidelity.calculate_metrics(input1=fake, input2=real, fid=True, isc=info.has_logits,
                                             cuda=device.startswith("cuda"), batch_size=args.batch_size, verbose=False)
        out["torch_fidelity"] = {"seconds": time.time() - t3, "fid": m.get("frechet_inception_distance")}
        out["speedup_vs_torch_fidelity"] = out["torch_fidelity"]["seconds"] / out["ganeval"]["end_to_end_seconds"]
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
