"""The training loop: official train.py ``train_progressive_gan`` in one readable function.

Per round (official): compute the TrainingSchedule from cur_nimg; reset both Adam states
when floor(lod) or ceil(lod) moved (reset_opt_for_new_lod); then ``minibatch_repeats`` (4)
times: ``D_repeats`` (1) D steps, each followed by the G_ema update (official runs
``[D_train_op, Gs_update_op]`` together), then one G step.  cur_nimg grows by the global
minibatch per D step.  Maintenance (log line, sample grid, checkpoint, metrics) runs
between rounds, so a checkpoint always sits on a round boundary and resumes bit-exactly.

Data parallelism: launched by torchrun (env RANK/WORLD_SIZE), nccl on CUDA, gloo on CPU.
Every rank draws the same global minibatch indices and keeps a strided 1/world share, and
gradients are averaged with one all_reduce per step, which is what DistributedDataParallel
does; we do it by hand because layers outside the current lod have no gradient and the
gradient penalty needs a double backward, both awkward under the DDP wrapper.  Minibatch
stddev groups therefore stay within a rank's samples.
"""
from __future__ import annotations

import copy
import json
import math
import os
import random
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.distributed as dist
from ganeval.errors import DataError, UsageError
from ganeval.io.fileio import append_line, atomic_write, atomic_write_text
from ganeval.options import check_seed
from ganeval.threads import apply_threads

from . import checkpoint as ckpt
from .dataset import MultiResDataset, Sampler, build, build_builtin, MANIFEST
from .layers import downscale2d, upscale2d
from .loss import D_loss, G_loss
from .networks import D_paper, build_G
from .presets import DEFAULTS, int_keys
from .schedule import lod_changed, training_schedule

# One torch thread unless asked (--threads, $GANEVAL_THREADS): on 2 shared cores 2 threads
# ran 6-10x slower, and >40x slower beside one busy process per core, while on an idle
# machine more threads can gain at most the core count on these small layers
# (benchmarks/bench_threads.py; results in benchmarks/results/threads-cpu-tiny-cpu2.json).
DEFAULT_THREADS = 1

SCHED_KEYS = ("lod_initial_resolution", "lod_training_kimg", "lod_transition_kimg", "minibatch_base",
              "minibatch_dict", "max_minibatch_per_gpu", "G_lrate_base", "G_lrate_dict", "D_lrate_base",
              "D_lrate_dict", "tick_kimg_base", "tick_kimg_dict")


def train(config: dict[str, Any], run_dir: str | os.PathLike, *, evaluator: Callable | None = None,
          resume: str | os.PathLike | None = None, device: str | None = None, progress: bool = True,
          threads: int | None = None) -> Path:
    """Train ProGAN with `config` (see presets.py) into `run_dir`; returns the last checkpoint.

    `resume` is a run folder (its newest snapshot) or a checkpoint file; training then
    continues exactly where it stopped (same phase, alpha, optimizer and RNG states).
    `evaluator`, if given, is called as ``evaluator(generate, kimg=...)`` every
    ``metrics_kimg`` and at the end, where ``generate(latents)`` runs G_ema at the current
    lod and returns images in [-1, 1] nearest-upscaled to full resolution (official Gs
    output is always full size).  Under torchrun, every rank must call this function.

    `threads` sets torch's CPU thread count for the process (None: ``$GANEVAL_THREADS``, else
    `DEFAULT_THREADS`, 1; see `ganeval.threads`) for the run; the caller's count is restored after.

    A run folder this call creates is removed again (with any parent folders created for it)
    when training fails before it has logged anything, so a failed start leaves no husk.
    """
    run_dir = Path(run_dir)
    made = [d for d in (run_dir, *run_dir.parents) if not d.exists()]  # deepest first
    threads_before = torch.get_num_threads()
    try:
        return _train(config, run_dir, evaluator=evaluator, resume=resume, device=device, progress=progress,
                      threads=threads)
    except BaseException:
        started = any((run_dir / name).exists() for name in ("log.jsonl", "metrics.jsonl")) or ckpt.snapshots(run_dir)
        if made and not started and int(os.environ.get("RANK", "0")) == 0:
            shutil.rmtree(run_dir, ignore_errors=True)
            for parent in made[1:]:
                try:
                    parent.rmdir()
                except OSError:  # no longer empty: someone else uses it now
                    break
        raise
    finally:
        torch.set_num_threads(threads_before)  # the count is the run's, not the calling program's


def _train(config: dict[str, Any], run_dir: Path, *, evaluator: Callable | None, resume: str | os.PathLike | None,
           device: str | None, progress: bool, threads: int | None) -> Path:
    apply_threads(threads, default=DEFAULT_THREADS, what="threads")  # first: a bad count writes no file
    cfg = {**DEFAULTS, **config}
    cfg["seed"] = check_seed(cfg["seed"], "seed")  # torch, numpy and the sampler all derive streams from it
    device, rank, world = setup_distributed(device)
    resume_path, state0 = None, None
    if resume is not None:  # only rank 0 says which torn snapshots it skipped
        resume_path, state0 = ckpt.resume_point(resume, warn=None if rank == 0 else (lambda message: None))
        _check_config_file(run_dir / "config.json", state0["config"], cfg)  # before it is rewritten below
    if rank == 0:
        run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(run_dir / "config.json", json.dumps(cfg, indent=1, default=str))
    data = _open_data(cfg, run_dir, rank, world)
    res_log2 = data.resolution_log2
    mirror = data.mirror if cfg["mirror_augment"] is None else bool(cfg["mirror_augment"])
    sched_cfg = {k: (int_keys(cfg[k]) if isinstance(cfg[k], dict) else cfg[k]) for k in SCHED_KEYS}
    _check_size(cfg, data, sched_cfg, world, rank)
    amp = torch.autocast(device.type, dtype=torch.bfloat16, enabled=bool(cfg["amp"]) and device.type == "cuda")
    gp_scale = lambda lod: 2.0 ** -math.floor(lod) if cfg["gp_norm_space"] == "full" else 1.0  # noqa: E731

    # Networks: identical init on every rank (same seed), then per-rank RNG streams.
    torch.manual_seed(cfg["seed"])
    net = dict(resolution=data.resolution, fmap_base=cfg["fmap_base"], fmap_decay=cfg["fmap_decay"],
               fmap_max=cfg["fmap_max"])
    G = build_G(cfg, data.resolution).to(device)
    D = D_paper(mbstd_group_size=cfg["mbstd_group_size"], **net).to(device)
    G_ema = copy.deepcopy(G).eval().requires_grad_(False)  # official Gs = G.clone('Gs')
    G_opt = torch.optim.Adam(G.parameters(), lr=cfg["G_lrate_base"], betas=(cfg["G_beta1"], cfg["G_beta2"]),
                             eps=cfg["G_epsilon"])
    D_opt = torch.optim.Adam(D.parameters(), lr=cfg["D_lrate_base"], betas=(cfg["D_beta1"], cfg["D_beta2"]),
                             eps=cfg["D_epsilon"])
    sampler = Sampler(len(data), cfg["seed"])
    gw, gh = cfg["grid_size"] or _official_grid(data.resolution)
    grid_latents = torch.randn(gw * gh, cfg["latent_size"], generator=torch.Generator().manual_seed(cfg["seed"]))
    st = dict(cur_nimg=0, prev_lod=-1.0, cur_tick=0, tick_start_nimg=0, next_ckpt_nimg=0, next_metrics_nimg=0,
              total_time=0.0)
    if state0 is not None:
        for module, key in ((G, "G"), (D, "D"), (G_ema, "G_ema"), (G_opt, "G_opt"), (D_opt, "D_opt"),
                            (sampler, "sampler")):
            module.load_state_dict(state0[key])
        st.update(state0["state"])
        rngs = state0["rng"]
        if len(rngs) == world:
            ckpt.set_rng_state(rngs[rank], device)
        else:  # a different world size cannot resume the exact streams; reseed deterministically
            _seed_all(cfg["seed"] + 7919 * (st["cur_nimg"] + 1) + rank)
    else:
        _seed_all(cfg["seed"] + rank)
        st["next_ckpt_nimg"] = int(cfg["checkpoint_kimg"] * 1000)
        st["next_metrics_nimg"] = int(cfg["metrics_kimg"] * 1000) if cfg["metrics_kimg"] else -1
    total_nimg = int(cfg["total_kimg"] * 1000)

    def generate(latents: torch.Tensor, lod: float | None = None) -> torch.Tensor:
        """G_ema images in [-1, 1] at full resolution (nearest-upscaled from the current lod)."""
        lod = st["prev_lod"] if lod is None else lod
        with torch.no_grad(), amp:
            img = G_ema(latents.to(device), max(lod, 0.0)).float()
        return upscale2d(img, data.resolution // img.shape[-1]).clamp(-1, 1)

    if progress and rank == 0:  # only now: a start that fails has no folder to point to
        print(f"run dir: {run_dir}", file=sys.stderr)
    bar = _progress_bar(total_nimg, st["cur_nimg"], progress and rank == 0)
    tick_stats: dict[str, list] = {}
    tick_start_time, sec_per_kimg = time.time(), float("nan")
    last_path = resume_path
    while st["cur_nimg"] < total_nimg:
        sched = training_schedule(st["cur_nimg"], res_log2, num_gpus=world, **sched_cfg)
        if cfg["reset_opt_for_new_lod"] and lod_changed(sched.lod, st["prev_lod"]):
            G_opt.state.clear()  # official reset_optimizer_state()
            D_opt.state.clear()
        st["prev_lod"] = lod = sched.lod
        _set_lr(G_opt, sched.G_lrate)
        _set_lr(D_opt, sched.D_lrate)
        local = sched.minibatch // world
        for _ in range(cfg["minibatch_repeats"]):
            for _ in range(cfg["D_repeats"]):
                idx = sampler.take(sched.minibatch)[rank::world]
                reals = process_reals(data.get(idx, sched.resolution).to(device), sched.alpha, mirror)
                with amp:
                    fakes = G(torch.randn(local, cfg["latent_size"], device=device), lod).detach()
                    loss_D, stats = D_loss(cfg["loss"], lambda x: D(x, lod), reals, fakes,
                                           wgan_lambda=cfg["wgan_lambda"], wgan_epsilon=cfg["wgan_epsilon"],
                                           wgan_target=cfg["wgan_target"], gp_norm_scale=gp_scale(lod))
                D_opt.zero_grad(set_to_none=True)
                loss_D.backward()
                _average_grads(D, world)
                D_opt.step()
                _ema_update(G_ema, G, cfg["G_smoothing"])
                st["cur_nimg"] += sched.minibatch
                _accumulate(tick_stats, D_loss=loss_D.detach(), **stats)
            D.requires_grad_(False)  # no D gradients needed in the G step
            with amp:
                loss_G = G_loss(cfg["loss"], D(G(torch.randn(local, cfg["latent_size"], device=device), lod), lod))
            G_opt.zero_grad(set_to_none=True)
            loss_G.backward()
            D.requires_grad_(True)
            _average_grads(G, world)
            G_opt.step()
            _accumulate(tick_stats, G_loss=loss_G.detach())

        # Maintenance between rounds (official: once per tick; checkpoints also on their own clock).
        done = st["cur_nimg"] >= total_nimg
        if st["cur_nimg"] >= st["tick_start_nimg"] + sched.tick_kimg * 1000 or done:
            st["cur_tick"] += 1
            elapsed = time.time() - tick_start_time
            nimg = st["cur_nimg"] - st["tick_start_nimg"]
            st["total_time"] += elapsed
            sec_per_kimg = elapsed / max(nimg / 1000, 1e-9)
            line = dict(tick=st["cur_tick"], kimg=st["cur_nimg"] / 1000, lod=lod, alpha=sched.alpha,
                        resolution=sched.resolution, minibatch=sched.minibatch, G_lrate=sched.G_lrate,
                        D_lrate=sched.D_lrate, **{k: float(torch.stack(v).float().mean()) for k, v in tick_stats.items()},
                        sec_per_kimg=sec_per_kimg, images_per_s=nimg / max(elapsed, 1e-9),
                        peak_mem_mb=_peak_mem_mb(device), total_time_s=st["total_time"],
                        threads=torch.get_num_threads())
            if rank == 0:
                append_line(run_dir / "log.jsonl", json.dumps(line))
                if st["cur_tick"] % cfg["image_snapshot_ticks"] == 0 or done:
                    save_grid(torch.cat([generate(z) for z in grid_latents.split(64)]), (gw, gh),
                              run_dir / f"fakes{st['cur_nimg'] // 1000:06d}.png")
            st["tick_start_nimg"], tick_stats, tick_start_time = st["cur_nimg"], {}, time.time()
        # After the tick, so that a run shorter than one tick still ends with its speed; the
        # last round may overshoot total_kimg by part of a minibatch, which the bar does not show.
        bar.update(min(st["cur_nimg"], total_nimg) / 1000 - bar.n)
        speed = "?" if math.isnan(sec_per_kimg) else f"{sec_per_kimg:.1f}"  # known after the first tick
        bar.set_postfix_str(f"{sched.phase} alpha={sched.alpha:.2f} {speed} s/kimg", refresh=False)
        if evaluator is not None and (done or 0 <= st["next_metrics_nimg"] <= st["cur_nimg"]):
            evaluator(generate, kimg=st["cur_nimg"] / 1000)
            while 0 <= st["next_metrics_nimg"] <= st["cur_nimg"]:
                st["next_metrics_nimg"] += int(cfg["metrics_kimg"] * 1000)
        if done or st["cur_nimg"] >= st["next_ckpt_nimg"]:
            while st["next_ckpt_nimg"] <= st["cur_nimg"]:
                st["next_ckpt_nimg"] += max(int(cfg["checkpoint_kimg"] * 1000), 1)
            rng = _gather(ckpt.rng_state(device), world)
            sums = _gather(float(sum(p.detach().double().sum() for p in G.parameters())), world)  # replica sync check
            if rank == 0:
                last_path = run_dir / ckpt.SNAPSHOT.format(st["cur_nimg"] // 1000)
                ckpt.save_atomic(dict(G=G.state_dict(), D=D.state_dict(), G_ema=G_ema.state_dict(),
                                      G_opt=G_opt.state_dict(), D_opt=D_opt.state_dict(),
                                      sampler=sampler.state_dict(), state=dict(st), rng=rng, config=_jsonable(cfg),
                                      world_size=world, rank_G_checksums=sums,
                                      resolution=data.resolution), last_path)
                _prune(run_dir, cfg["keep_checkpoints"])
    bar.close()
    if world > 1:
        dist.barrier()
    return last_path if last_path is not None else ckpt.latest(run_dir)


def process_reals(x: torch.Tensor, alpha: float, mirror_augment: bool) -> torch.Tensor:
    """Official process_reals: uint8 -> [-1, 1], mirror, fade toward the 2x2-box-downscaled,
    nearest-upscaled image by 1 - alpha (official ``lerp(x, y, lod - floor(lod))``)."""
    x = x.float() * (2.0 / 255.0) - 1.0  # official adjust_dynamic_range([0, 255] -> [-1, 1])
    if mirror_augment:
        mask = torch.rand(x.shape[0], 1, 1, 1, device=x.device) < 0.5
        x = torch.where(mask, x, x.flip(3))
    if alpha < 1.0:
        x = torch.lerp(x, upscale2d(downscale2d(x)), 1.0 - alpha)
    return x


def save_grid(images: torch.Tensor, grid: tuple[int, int], path: str | os.PathLike) -> None:
    """Save [-1, 1] NCHW images as a gw x gh PNG grid (official misc.save_image_grid)."""
    from PIL import Image
    gw, gh = grid
    n, c, h, w = images.shape
    from .sampling import to_pixels
    x = to_pixels(images[: gw * gh])
    if x.shape[0] < gw * gh:
        x = torch.cat([x, x.new_zeros(gw * gh - x.shape[0], c, h, w)])
    x = x.view(gh, gw, c, h, w).permute(0, 3, 1, 4, 2).reshape(gh * h, gw * w, c)
    fmt = Image.registered_extensions().get(Path(path).suffix.lower(), "PNG")
    with atomic_write(path, "wb") as f:
        Image.fromarray(x.numpy()).save(f, format=fmt)


def _official_grid(resolution: int) -> tuple[int, int]:
    # Official setup_snapshot_image_grid, size='1080p'.
    return int(np.clip(1920 // resolution, 3, 32)), int(np.clip(1080 // resolution, 2, 32))


def setup_distributed(device: str | None = None) -> tuple[torch.device, int, int]:
    """(device, rank, world size); joins the torchrun process group (nccl on CUDA, gloo on CPU)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(device)
    if world > 1:
        if device.type == "cuda":
            if device.index is None:
                device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
            torch.cuda.set_device(device)
        if not dist.is_initialized():
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    rank = dist.get_rank() if world > 1 else 0
    return device, rank, world


def data_cache_path(cfg: dict, run_dir: str | os.PathLike) -> Path:
    """The cache a run with `cfg` in `run_dir` trains on: the built-in data's or a raw source's
    cache inside the run folder, or the cache folder `cfg["data"]` names."""
    src = cfg["data"]
    if src in (None, "builtin"):
        return Path(run_dir) / "builtin-data"
    if (Path(src) / MANIFEST).is_file():
        return Path(src)
    return Path(run_dir) / "data-cache"


def _check_config_file(path: Path, saved: dict[str, Any], cfg: dict[str, Any]) -> None:
    """Refuse to resume when `path` (the run's config.json) holds values the checkpoint's
    config does not, for keys this resume does not set: training continues from the
    checkpoint's config, so an edit there would be silently ignored (and then overwritten)."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return  # nothing to disagree with; it is written again below
    try:
        on_disk = json.loads(text)
    except json.JSONDecodeError as e:
        raise DataError(f"{path}: not valid JSON ({e.msg}, line {e.lineno}); it is only a record of the run, so "
                        "restore or delete it, and pass changes with --set KEY=VALUE") from None
    if not isinstance(on_disk, dict):
        raise DataError(f"{path}: not a JSON object; restore or delete it, and pass changes with --set KEY=VALUE")
    wanted, saved = _jsonable(cfg), _jsonable(saved)
    missing = object()
    changed = sorted(k for k in set(on_disk) | set(saved)
                     if on_disk.get(k, missing) != saved.get(k, missing)           # edited by hand ...
                     and wanted.get(k, missing) == saved.get(k, missing))          # ... and not set now
    if changed:
        shown = ", ".join(f"{k} ({json.dumps(on_disk.get(k, '<missing>'))} in config.json, "
                          f"{json.dumps(saved.get(k, '<missing>'))} in the checkpoint)" for k in changed[:5])
        more = f" and {len(changed) - 5} more" if len(changed) > 5 else ""
        raise UsageError(f"{path}: differs from the checkpoint's config in {shown}{more}; --resume continues "
                         "from the checkpoint's config, so pass changes with --set KEY=VALUE (or restore the file)")


def _open_data(cfg: dict, run_dir: Path, rank: int, world: int) -> MultiResDataset:
    src = cfg["data"]
    path = data_cache_path(cfg, run_dir)
    if rank == 0 and src in (None, "builtin"):
        build_builtin(path, cfg["resolution"] or 32, cfg["builtin_num"], seed=0, kind=cfg["builtin_kind"])
    elif rank == 0 and path != Path(src) and not (path / MANIFEST).is_file():
        try:
            build(src, path, cfg["resolution"], mirror=bool(cfg["mirror_augment"]))
        except DataError as e:
            if "--" not in str(e):
                raise
            # The advice names options of the dataset tool, which `train --data` does not have.
            raise DataError(f"{e} (options of `python -m reference_trainer.dataset build`: build a cache "
                            "with it, then train with --data CACHE)") from None
    if world > 1:
        dist.barrier()
    data = MultiResDataset(path)
    if cfg["resolution"] and cfg["resolution"] != data.resolution:
        raise DataError(f"{path}: cache is {data.resolution}x{data.resolution} but resolution={cfg['resolution']}; "
                        "rebuild it or drop the resolution setting")
    return data


def _check_size(cfg: dict, data: MultiResDataset, sched_cfg: dict, world: int, rank: int) -> None:
    """Refuse a set smaller than a minibatch (every minibatch would repeat images, and the
    minibatch-stddev layer would see duplicates as low diversity); warn below 1000 images."""
    n = len(data)
    name = f"the built-in data (builtin_num={n})" if cfg["data"] in (None, "builtin") else str(cfg["data"])
    lowest = min(int(math.log2(sched_cfg["lod_initial_resolution"])), data.resolution_log2)
    for r_log2 in range(lowest, data.resolution_log2 + 1):
        # The official schedule at the start of training with this resolution as the first one.
        first = dict(sched_cfg, lod_initial_resolution=2 ** r_log2)
        mb = training_schedule(0, r_log2, num_gpus=world, **first).minibatch
        if n < mb:
            raise DataError(f"{name}: {n} training images, fewer than one minibatch ({mb} at {2 ** r_log2}x"
                            f"{2 ** r_log2}); use more images or lower minibatch_base/minibatch_dict with --set")
    if n < 1000 and rank == 0:
        print(f"warning: {name}: only {n} training images (fewer than 1000); expect D to memorize them",
              file=sys.stderr)


def _seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2 ** 32)
    torch.manual_seed(seed)


def _set_lr(opt: torch.optim.Optimizer, lr: float) -> None:
    for group in opt.param_groups:
        group["lr"] = lr


@torch.no_grad()
def _ema_update(G_ema: torch.nn.Module, G: torch.nn.Module, beta: float) -> None:
    # Official setup_as_moving_average_of: Gs = lerp(G, Gs, beta).
    for p_ema, p in zip(G_ema.parameters(), G.parameters()):
        p_ema.lerp_(p, 1.0 - beta)


def _average_grads(model: torch.nn.Module, world: int) -> None:
    if world == 1:
        return
    grads = [p.grad for p in model.parameters() if p.grad is not None]  # same set on every rank
    flat = torch.cat([g.flatten() for g in grads])
    dist.all_reduce(flat)
    flat /= world
    for g, part in zip(grads, flat.split([g.numel() for g in grads])):
        g.copy_(part.view_as(g))


def _gather(obj: Any, world: int) -> list:
    if world == 1:
        return [obj]
    out = [None] * world
    dist.all_gather_object(out, obj)
    return out


def _accumulate(acc: dict[str, list], **values: torch.Tensor) -> None:
    for k, v in values.items():
        acc.setdefault(k, []).append(v)


def _peak_mem_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2 ** 20
    try:
        import resource  # Unix only
    except ImportError:
        return float("nan")
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def _jsonable(cfg: dict) -> dict:
    return json.loads(json.dumps(cfg, default=str))


def _prune(run_dir: Path, keep: int | None) -> None:
    if keep:
        for p in ckpt.snapshots(run_dir)[:-keep]:
            p.unlink(missing_ok=True)


class _NoBar:
    n = 0.0

    def update(self, k: float) -> None:
        self.n += k

    def set_postfix_str(self, s: str, refresh: bool = True) -> None:
        pass

    def close(self) -> None:
        pass


def _progress_bar(total_nimg: int, start_nimg: int, enabled: bool):
    start_nimg = min(start_nimg, total_nimg)  # a resume past a lowered total_kimg is simply done
    if not enabled:
        bar = _NoBar()
        bar.n = start_nimg / 1000
        return bar
    from tqdm import tqdm
    # Two decimals on both sides: a total below one kimg (a run shorter than a tick) would read "0".
    return tqdm(total=total_nimg / 1000, initial=start_nimg / 1000, unit="kimg", dynamic_ncols=True,
                bar_format="{l_bar}{bar}| {n:.2f}/{total:.2f} kimg [{elapsed}<{remaining}{postfix}]")
