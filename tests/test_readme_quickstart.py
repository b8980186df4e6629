"""The README's Quickstart, run as written (issue 20, "Done when").

The commands are read from README.md's Quickstart section at test time, so the test breaks
when they do: every line of its bash blocks runs in bash, and its python block runs as one
program, in a folder holding ``real_images/`` and ``fake_images/`` of seeded 128 px PNGs (the
size its comments show the SWD levels of).  Two things are not done literally:

* ``pip install ...`` is checked, not run: installing into the environment under test would
  rebuild it for every run.  What it promises is checked instead: the ``ganeval`` command
  beside this interpreter, and ``import ganeval`` loading this checkout.
* The python block names its generated images ``fakes_uint8_nchw`` without making them (the
  reader's own); the test supplies exactly that name, the fakes as a uint8 NCHW array, and
  fails if the block needs any other name it does not define.
"""
import builtins
import contextlib
import io
import math
import os
import re
import shlex
import subprocess
import symtable
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SUPPLIED = "fakes_uint8_nchw"  # the block's placeholder for the reader's generated images
NUM_IMAGES, RESOLUTION = 32, 128


def quickstart() -> tuple[list[str], list[str]]:
    """The bash lines and python blocks of README.md's Quickstart section."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = re.search(r"^## Quickstart\n(.*?)(?=^## )", text, re.S | re.M)
    assert section, "README.md has no '## Quickstart' section"
    blocks = re.findall(r"^```(\w+)\n(.*?)^```", section.group(1), re.S | re.M)
    bash = [line for lang, body in blocks if lang in ("bash", "sh", "shell") for line in body.splitlines()
            if line.strip() and not line.lstrip().startswith("#")]
    python = [body for lang, body in blocks if lang == "python"]
    return bash, python


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """real_images/ and fake_images/ as the Quickstart names them: seeded RGB PNGs."""
    from PIL import Image
    d = tmp_path_factory.mktemp("quickstart")
    rng = np.random.default_rng(2024)
    ramp = np.linspace(0, 255, RESOLUTION)[None, :, None]
    for name, blur in (("real_images", 0), ("fake_images", 1)):
        (d / name).mkdir()
        for i in range(NUM_IMAGES):
            noise = rng.normal(0, 40, (RESOLUTION, RESOLUTION, 3))
            if blur:  # the fakes are smoother: a different set, not a copy
                noise = (noise + np.roll(noise, 1, 0) + np.roll(noise, 1, 1)) / 3
            img = np.clip(ramp * rng.uniform(0.3, 1, 3) + noise, 0, 255).astype(np.uint8)
            Image.fromarray(img).save(d / name / f"{i:03d}.png")
    return d


def _finite_values(output: str) -> dict[str, float]:
    """The ``NAME  value`` lines of a metric command's table."""
    found = {}
    for line in output.splitlines():
        m = re.fullmatch(r"(\S+)\s+(-?[0-9.]+(?:e[-+]?\d+)?)(\s.*)?", line.strip())
        if m:
            found[m.group(1)] = float(m.group(2))
    assert found and all(math.isfinite(v) for v in found.values()), output
    return found


def test_the_quickstart_section_has_commands_to_run():
    bash, python = quickstart()
    assert any(line.split()[0] == "ganeval" for line in bash) and python


def test_quickstart_shell_lines_run_as_written(workdir):
    bash, _ = quickstart()
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
               GANEVAL_CACHE_DIR=str(workdir / "cache"))
    ran = 0
    for line in bash:
        words = shlex.split(line, comments=True)
        if words[:2] == ["pip", "install"]:
            _check_installed(words)
            continue
        res = subprocess.run(["bash", "-eo", "pipefail", "-c", line], cwd=workdir, env=env, capture_output=True,
                             text=True, timeout=600)
        assert res.returncode == 0, f"README Quickstart line failed: {line}\n{res.stderr}"
        if words[0] == "ganeval":
            values = _finite_values(res.stdout)
            assert f"({words[1]}; images:" in res.stdout, res.stdout  # the command's own metric, with its counts
            assert len(values) >= 1
        ran += 1
    assert ran >= 2


def _check_installed(words: list[str]) -> None:
    # `pip install -e .` from the repository root: this checkout, installed with its command.
    assert words[2:] in (["-e", "."], ["."]), f"unexpected install line {words}"
    import ganeval
    assert Path(ganeval.__file__).resolve().is_relative_to(ROOT)
    assert (Path(sys.executable).parent / "ganeval").exists(), "the ganeval command is not installed"


def _free_names(source: str) -> set[str]:
    """Names the program uses at top level without defining them (builtins aside)."""
    table = symtable.symtable(source, "<quickstart>", "exec")
    return {s.get_name() for s in table.get_symbols()
            if s.is_referenced() and not (s.is_assigned() or s.is_imported()) and not hasattr(builtins, s.get_name())}


def test_quickstart_python_runs_as_written(workdir, monkeypatch):
    from PIL import Image
    _, blocks = quickstart()
    source = "\n".join(blocks)
    assert _free_names(source) == {SUPPLIED}, "the Quickstart's python needs names it does not define"
    fakes = np.stack([np.asarray(Image.open(p).convert("RGB")).transpose(2, 0, 1)
                      for p in sorted((workdir / "fake_images").glob("*.png"))])
    monkeypatch.chdir(workdir)
    monkeypatch.setenv("GANEVAL_CACHE_DIR", str(workdir / "cache"))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(source, "README.md#quickstart", "exec"), {SUPPLIED: fakes, "__name__": "__main__"})
    printed = out.getvalue()
    # The value names its comments show (e.g. {'SWDx1e3_128': ..., 'SWDx1e3_avg': ...}) are printed.
    shown = {k for line in source.splitlines() if "#" in line for k in re.findall(r"'([^']+)':", line.split("#", 1)[1])}
    assert shown and all(f"'{k}':" in printed for k in shown), printed
    numbers = [float(x) for x in re.findall(r"(?<![\w.])-?\d+\.\d+(?:e[-+]?\d+)?", printed)]
    assert numbers and all(math.isfinite(x) for x in numbers), printed
