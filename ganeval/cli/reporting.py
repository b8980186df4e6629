"""`ganeval report` and `ganeval leaderboard`."""
from __future__ import annotations

import click

from ..inception.names import DEFAULT as DEFAULT_PROTOCOL, PROTOCOL_NAMES as PROTOCOLS

from . import main
from .boundary import set_debug
from .options import (DEVICE_HELP, bootstrap_option, check_device, check_output_dir, quiet_option, reading_options,
                      repeats_options, seed_option)


@main.command("report")
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False))
@click.option("--output", "-o", "out", default="report", show_default=True, type=click.Path(file_okay=False),
              callback=check_output_dir, help="Report folder (created with any missing parents).")
@click.option("--title", default="ganeval report", show_default=True)
@click.option("--neighbours", type=click.Choice(["auto", "inception", "pixels", "off"]), default="auto",
              show_default=True,
              help="Nearest reals (of reals.png) of each run's latest samples: by Inception features when weights "
                   "are found and pixels (auto), Inception (an error without weights), pixels only, or no section.")
def report_cmd(run_dirs, out, title, neighbours):
    """HTML and markdown report (plots, samples, final metrics, protocol) of RUN_DIRS.

    Reads each run's metrics.jsonl, log.jsonl, the last fakes*.png, reals.png and
    real-baselines.json, and every final-metrics*.json in the run folder or its parent
    (ganeval all REAL FAKE -o RUN/final-metrics.json writes one).  A run with reals.png gets a
    figure of its latest samples' nearest reals (see --neighbours).

    \b
    Example:
      ganeval report runs/00000-cpu-tiny runs/00001-cpu-tiny -o report/
    """
    from ..reporting.report import build_report
    click.echo(f"wrote {build_report(list(run_dirs), out, title, neighbours=neighbours)}")


@main.command("leaderboard")
@click.option("--real", required=True, help="Reference image set every entry is measured against.")
@click.option("--entry", "entries", multiple=True, required=True,
              help="NAME=PATH: an image folder/zip/npz, a trainer checkpoint .pt, or a run directory. Repeat.")
@click.option("--metrics", "-m", default="swd", show_default=True, help="Comma-separated metrics.")
@click.option("--num-images", "-n", type=click.IntRange(min=2), default=1024, show_default=True)
@reading_options
@seed_option()
@click.option("--store", default="leaderboard", show_default=True, type=click.Path(file_okay=False),
              callback=check_output_dir,
              help="Results directory, created with any missing parents (one protocol per store; reruns skip "
                   "finished entries).")
@click.option("--rank-by", default=None, help="Value to rank by (default: SWDx1e3_avg, else FID, KID, IS_mean...).")
@click.option("--rerun", multiple=True, metavar="NAME",
              help="Measure entry NAME again and replace its stored result (needed when its files changed). Repeat.")
@click.option("--weights", "-w", default=None, help="Inception weights file.")
@click.option("--protocol", type=click.Choice(list(PROTOCOLS)), default=DEFAULT_PROTOCOL, show_default=True,
              help="Inception preprocessing to reproduce (tf1, clean, pytorch-fid, torchmetrics); part of the store's "
                   "protocol.")
@click.option("--device", default=None, callback=check_device, help=DEVICE_HELP)
@bootstrap_option
@repeats_options
@quiet_option
@click.option("--debug", is_flag=True, help="Show tracebacks on errors.")
def leaderboard_cmd(real, entries, metrics, num_images, seed, store, rank_by, rerun, weights, protocol, device,
                    bootstrap, repeats, redraw, quiet, debug, random_subset, **reading):
    """Rank many entries under one protocol against one reference set.

    \b
    Example:
      ganeval leaderboard --real data/real/ --entry base=samples/base/ \\
          --entry ema=runs/00003-cpu-tiny --metrics swd,fid -n 2048 --store lb/
      ganeval leaderboard --real data/real/ --entry a=a/ --entry b=b/ -m swd --repeats 8 --store lb8/

    With --repeats (SWD) or --bootstrap (FID, KID, IS, PR...), each row says whether it
    differs significantly from the next one (paired over the same seeds or resamples).
    """
    from ..reporting.leaderboard import Entry, markdown_table, run_leaderboard
    set_debug(debug)
    run_leaderboard(real, [Entry.parse(e) for e in entries], store, metrics=metrics.split(","),
                    num_images=num_images, seed=seed, weights=weights, device=device, rank_by=rank_by,
                    rerun=rerun, log=lambda s: click.echo(s, err=True), bootstrap=bootstrap, repeats=repeats,
                    redraw=redraw, protocol=protocol, subset="random" if random_subset else "first", quiet=quiet,
                    **reading)
    click.echo(markdown_table(store))
