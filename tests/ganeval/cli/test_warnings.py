"""Warnings on the command line (issue 20, item 9): one ``warning: ...`` line, never Python's
``UserWarning`` format with its source line, never glued onto a progress bar."""
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from ganeval.cli.boundary import show_warning

ROOT = Path(__file__).resolve().parents[3]


def render(stream: str) -> list[str]:
    """The lines a terminal shows for `stream`: a carriage return moves back to the start of
    the line and later characters overwrite earlier ones, as tqdm's redraws rely on."""
    lines, line, col = [], [], 0
    for ch in stream:
        if ch == "\n":
            lines.append("".join(line).rstrip())
            line, col = [], 0
        elif ch == "\r":
            col = 0
        else:
            if col < len(line):
                line[col] = ch
            else:
                line.append(ch)
            col += 1
    if line:
        lines.append("".join(line).rstrip())
    return lines


def test_render_overwrites_like_a_terminal():
    assert render("abcdef\r      \rxy\n") == ["xy"] and render("long progress 50%|\rwarn\n") == ["warn progress 50%|"]


def test_show_warning_is_one_line_on_stderr(capsys):
    show_warning(UserWarning("first line\n  second line"), UserWarning, "/some/module.py", 12)
    out, err = capsys.readouterr()
    assert out == "" and err == "warning: first line second line\n"


def _pngs(folder: Path, n: int, seed: int) -> None:
    from PIL import Image
    folder.mkdir()
    rng = np.random.default_rng(seed)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(folder / f"{i:03d}.png")


def test_a_warning_during_a_progress_bar_is_its_own_line(tmp_path):
    # --skip-bad warns about the file it left out while the fake set's bar is still drawn.
    _pngs(tmp_path / "real", 16, seed=0)
    _pngs(tmp_path / "fake", 16, seed=1)
    (tmp_path / "fake" / "zz-broken.png").write_bytes(b"not a png")
    env = dict(os.environ, PYTHONWARNINGS="default")
    res = subprocess.run([sys.executable, "-m", "ganeval", "swd", "real", "fake", "--skip-bad"],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    assert "%|" in res.stderr  # the bars were drawn, so the case is the one that used to glue
    assert "UserWarning" not in res.stderr and "warnings.warn" not in res.stderr
    shown = render(res.stderr)
    hits = [line for line in shown if "left out 1 of 17 files" in line]
    assert hits == [line for line in shown if line.startswith("warning: fake: --skip-bad left out 1 of 17 files")]
    assert len(hits) == 1 and "zz-broken.png" in hits[0] and "%|" not in hits[0], shown
    assert not any(line.startswith(" ") and line.strip() for line in shown), shown  # no source line


def test_debug_keeps_pythons_format_with_the_source_line(tmp_path):
    _pngs(tmp_path / "real", 16, seed=0)
    _pngs(tmp_path / "fake", 16, seed=1)
    (tmp_path / "fake" / "zz-broken.png").write_bytes(b"not a png")
    res = subprocess.run([sys.executable, "-m", "ganeval", "--debug", "swd", "real", "fake", "--skip-bad", "-q"],
                         cwd=tmp_path, env=dict(os.environ, PYTHONWARNINGS="default"), capture_output=True,
                         text=True, timeout=600)
    assert res.returncode == 0 and "UserWarning: fake: --skip-bad left out" in res.stderr, res.stderr


def test_recorded_warnings_stay_with_the_recorder():
    # pytest and catch_warnings(record=True) collect warnings; the CLI's hook must not take them.
    from click.testing import CliRunner

    import click

    from ganeval.cli.boundary import BoundaryGroup

    @click.group(cls=BoundaryGroup)
    def cli():
        pass

    @cli.command()
    def warn():
        warnings.warn("recorded, not printed")

    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        res = CliRunner().invoke(cli, ["warn"])
    assert res.exit_code == 0 and "recorded, not printed" not in res.output
    assert [str(w.message) for w in record] == ["recorded, not printed"]


def test_the_license_is_an_spdx_expression_setuptools_takes_without_deprecation():
    setuptools = pytest.importorskip("setuptools")
    from setuptools.config.pyprojecttoml import apply_configuration
    from setuptools.dist import Distribution
    major = int(setuptools.__version__.split(".")[0])
    if major < 77:
        pytest.skip(f"setuptools {setuptools.__version__} predates SPDX license expressions (77)")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the `license = { text = ... }` table warns from setuptools 77 on
        dist = apply_configuration(Distribution(), str(ROOT / "pyproject.toml"))
    assert dist.metadata.license_expression == "MIT"
    requires = (ROOT / "pyproject.toml").read_text().split("requires = [", 1)[1].split("]", 1)[0]
    assert '"setuptools>=77"' in requires  # the build that reads it must understand the expression
