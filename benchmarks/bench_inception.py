"""Inception feature extraction and FID speed; torch-fidelity side by side where it imports.

    python benchmarks/bench_inception.py --num 512 --resolution 128 [--weights PATH] [--repeats 2]

First the network alone ("network"): pool3 of N uint8 crops already in memory (no PNG decode),
batch by batch, through the loaded network ("optimized": batch norm folded into the
convolutions, fused conv+bias+ReLU) and a plain copy ("plain": conv -> batch norm -> ReLU, as
before), alternating batch by batch so that load from other processes falls on both alike; it
reports images/s over all batches, the best / median / worst batch, the median per-batch
speed-up, and the largest pool3 difference between the two.  Then, as before, it writes N real
and N fake PNGs to a temp dir and reports images/s of feature extraction from the folders (PNG
decode in DataLoader workers included), end-to-end seconds for FID+IS (or FID alone when the
weights have no classifier), the FID-from-statistics step against scipy's sqrtm formula, and
the peer's figures and the ratio when torch-fidelity is importable.  Prints one JSON object.
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


def _machine_note() -> dict:
    import platform

    import torch
    note = {"torch_threads": torch.get_num_threads(), "loadavg_at_start": list(os.getloadavg())}
    try:
        with open("/proc/cpuinfo") as f:
            note["cpu_model"] = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        note["cpu_model"] = platform.processor()
    return note


def _network_speed(model, images, batch_size: int, repeats: int, device: str) -> dict:
    """The loaded network against a plain copy, alternating batch by batch; images stay uint8.

    optimized: as loaded (batch norm folded, fused conv+bias+ReLU);
    plain: conv -> batch norm -> ReLU, the computation before the folding.
    """
    import torch

    from ganeval.inception.network import InceptionV3FID
    plain = InceptionV3FID()
    plain.load_state_dict(model.state_dict())
    plain = plain.to(device).to(memory_format=torch.channels_last).eval().unfuse_()
    nets = {"optimized": model, "plain": plain}
    assert model.fused and not plain.fused
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    x = torch.from_numpy(images)
    for net in nets.values():  # warm-up: first-call allocations and oneDNN primitive creation
        net(x[:batch_size].to(device), with_logits=False)
    times: dict[str, list[float]] = {k: [] for k in nets}
    sizes: list[int] = []
    max_abs = scale = 0.0
    for r in range(repeats):
        for i, s in enumerate(range(0, len(x), batch_size)):
            batch = x[s:s + batch_size].to(device)
            sizes.append(len(batch))
            out = {}
            for k in (list(nets) if (r + i) % 2 == 0 else list(nets)[::-1]):
                sync()
                t = time.perf_counter()
                out[k], _ = nets[k](batch, with_logits=False)
                sync()
                times[k].append(time.perf_counter() - t)
            max_abs = max(max_abs, float((out["optimized"] - out["plain"]).abs().max()))
            scale = max(scale, float(out["plain"].abs().max()))
    res: dict = {"batch_size": batch_size, "repeats": repeats, "batches_per_variant": len(sizes)}
    for k, ts in times.items():
        rates = np.array(sizes) / np.array(ts)
        res[k] = {"images_per_s_overall": float(sum(sizes) / sum(ts)), "best_batch_images_per_s": float(rates.max()),
                  "median_batch_images_per_s": float(np.median(rates)),
                  "worst_batch_images_per_s": float(rates.min())}
    res["speedup_median_of_paired_batches"] = float(np.median(np.array(times["plain"]) / np.array(times["optimized"])))
    res["pool3_max_abs_diff_optimized_vs_plain"] = max_abs
    res["pool3_max_abs"] = scale
    return res


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--num", type=int, default=512)
    ap.add_argument("--resolution", type=int, default=128)
    ap.add_argument("--weights", default=None)
    ap.add_argument("--device", default=None)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=2, help="passes over the images for the network-only timing")
    ap.add_argument("--network-only", action="store_true", help="skip the PNG folders, FID and torch-fidelity")
    args = ap.parse_args()
    import torch

    from ganeval.inception.features import extract, inception
    from ganeval.metrics.fid import frechet_distance
    from ganeval.metrics.isc import inception_score_from_logits
    from ganeval.io.samples import photo_crops
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    real_images = photo_crops(args.num, args.resolution, seed=1)
    model, info = inception(args.weights, device)
    out = {"benchmark": "inception", "num_images_per_set": args.num, "resolution": args.resolution,
           "device": device, "machine": machine(), "machine_note": _machine_note(), "weights": info.format}
    out["network"] = _network_speed(model, real_images, args.batch_size, args.repeats, device)
    if args.network_only:
        out["machine_note"]["loadavg_at_end"] = list(os.getloadavg())
        print(json.dumps(out, indent=2))
        return
    tmp = tempfile.mkdtemp(prefix="ganeval-bench-inception-")
    real, fake = os.path.join(tmp, "real"), os.path.join(tmp, "fake")
    _pngs(real, real_images)
    _pngs(fake, photo_crops(args.num, args.resolution, seed=2, blur_sigma=1.0, noise_sigma=6.0))

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
    out["ganeval"] = {"extract_images_per_s": 2 * args.num / t_extract,
                      "extract_includes": "PNG decode in DataLoader workers, optimized network",
                      "end_to_end_seconds": time.time() - t0 - t_sqrtm, "fid": value, "fid_from_stats_seconds": t_fid,
                      "peak_rss_mb": peak_rss_mb()}
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
    out["machine_note"]["loadavg_at_end"] = list(os.getloadavg())
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
