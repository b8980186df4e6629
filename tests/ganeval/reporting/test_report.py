import json
import os
import re
import shutil
import stat
import subprocess
import tempfile
import warnings
from html import escape as html_escape
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from ganeval.cli import main
from ganeval.reporting.report import build_report, read_jsonl

SWD_AT = {10.0: 80.5, 20.0: 60.25, 30.0: 41.125}


def make_run(root: Path, name: str, offset: float = 0.0) -> Path:
    """A fixture run directory in the trainer's layout, with known metric values."""
    d = root / name
    d.mkdir(parents=True)
    (d / "config.json").write_text(json.dumps({"preset": "cpu-tiny", "resolution": 32}))
    with open(d / "log.jsonl", "w") as f:
        for k in (10.0, 20.0, 30.0):
            f.write(json.dumps({"kimg": k, "lod": 1.0, "G_loss": -k / 10, "D_loss": k / 20, "sec_per_kimg": 1.5}) + "\n")
    with open(d / "metrics.jsonl", "w") as f:
        for k, v in SWD_AT.items():
            f.write(json.dumps({"kimg": k, "metric": "swd", "values": {"SWDx1e3_32": v + offset, "SWDx1e3_16": v / 2,
                                "SWDx1e3_avg": v * 0.75 + offset}, "num_images": {"real": 256, "fake": 256},
                                "seed": 0, "weights_sha256": None, "ganeval_version": "0.1.0"}) + "\n")
            f.write(json.dumps({"kimg": k, "metric": "msssim", "values": {"MS-SSIM": 0.1 + k / 1000},
                                "num_images": {"images": 256, "pairs": 128}, "seed": 0}) + "\n")
        f.write('{"kimg": 40.0, "metric": "swd", "val')  # a writer killed mid-line
    grid = (np.random.default_rng(0).random((64, 96, 3)) * 255).astype(np.uint8)
    Image.fromarray(grid).save(d / "fakes000030.png")
    return d


def test_truncated_jsonl_lines_are_skipped(tmp_path):
    run = make_run(tmp_path, "r")
    with pytest.warns(UserWarning, match=re.escape(f"{run / 'metrics.jsonl'}:7")):
        assert len(read_jsonl(run / "metrics.jsonl")) == 6


def test_report_builds_from_run_directories(tmp_path):
    a, b = make_run(tmp_path, "run-a"), make_run(tmp_path, "run-b", offset=5.0)
    index = build_report([a, b], tmp_path / "report")
    page = index.read_text()
    # The final-metrics table holds the last record of each run.
    assert "<td>run-a</td><td>30</td>" in page and f"{SWD_AT[30.0] * 0.75:.4g}" in page
    assert f"{SWD_AT[30.0] * 0.75 + 5:.4g}" in page
    plots = sorted((tmp_path / "report" / "plots").glob("*.png"))
    names = {p.name for p in plots}
    assert {"swd-SWDx1e3_avg.png", "msssim-MS-SSIM.png", "train-G_loss.png"} <= names
    for p in plots:
        with Image.open(p) as im:
            assert im.size[0] > 200 and np.asarray(im.convert("L")).std() > 5
    assert (tmp_path / "report" / "samples" / "run-a-fakes000030.png").exists()
    md = (tmp_path / "report" / "report.md").read_text()
    assert "| run-b | 30 |" in md and "## Protocol" in md


def test_report_cli_and_bad_dir(tmp_path):
    run = make_run(tmp_path, "r")
    res = CliRunner().invoke(main, ["report", str(run), "-o", str(tmp_path / "out")])
    assert res.exit_code == 0 and (tmp_path / "out" / "index.html").exists()
    (tmp_path / "empty").mkdir()
    res = CliRunner().invoke(main, ["report", str(tmp_path / "empty"), "-o", str(tmp_path / "out2")])
    assert res.exit_code == 1 and "neither metrics.jsonl nor log.jsonl" in res.stderr


@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium is not installed")
def test_report_renders_in_headless_chromium(tmp_path):
    index = build_report([make_run(tmp_path, "run-a"), make_run(tmp_path, "run-b", 5.0)], tmp_path / "report")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tempfile.mkdtemp()}", "--window-size=1280,2400"]
    shot = tmp_path / "shot.png"
    subprocess.run(["chromium", *flags, f"--screenshot={shot}", index.as_uri()], capture_output=True, timeout=120)
    dom = subprocess.run(["chromium", *flags, "--dump-dom", index.as_uri()], capture_output=True, text=True,
                         timeout=120).stdout
    assert dom.count("<img") >= 5 and 'id="final"' in dom and "run-b" in dom
    with Image.open(shot) as im:
        pixels = np.asarray(im.convert("RGB")).astype(float)
    # Plots and the table draw coloured lines and dark text on white: far from a blank page.
    assert pixels.std() > 20 and (np.abs(pixels[..., 0] - pixels[..., 2]) > 60).mean() > 1e-4


HOSTILE_RUN = "<img src=x onerror=alert(1)>"
HOSTILE_KEY = "<script>alert(1)</script>"
HOSTILE_MD = "x](javascript:alert(1)) | `code` [y"


def make_hostile_run(root: Path, name: str = HOSTILE_RUN) -> Path:
    """A run whose directory name, metric names, value names and files try to inject markup."""
    d = make_run(root, name)
    with open(d / "metrics.jsonl", "a") as f:
        f.write("\n")
        for k in (10.0, 20.0):
            f.write(json.dumps({"kimg": k, "metric": HOSTILE_KEY, "values": {HOSTILE_KEY: k, HOSTILE_RUN: 1.0,
                                HOSTILE_MD: 2.0}, "num_images": HOSTILE_RUN, "seed": HOSTILE_KEY,
                                "weights_sha256": HOSTILE_MD, "ganeval_version": HOSTILE_RUN}) + "\n")
    (d / "fakes000030.png").rename(d / 'fakes" onerror="alert(1)<b>.png')
    return d


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def parse_tags(page: str) -> list[tuple[str, dict]]:
    p = _Tags()
    p.feed(page)
    p.close()
    return p.tags


def assert_inert(page: str) -> None:
    tags = parse_tags(page)
    assert not [t for t, _ in tags if t in ("script", "iframe", "object", "embed")], tags
    assert not [(t, a) for t, attrs in tags for a in attrs if a.startswith("on")], tags
    assert not [(t, a) for t, a in tags if str(a.get("src", "")).lower().startswith("javascript:")]


def test_html_report_escapes_names_from_files(tmp_path):
    index = build_report([make_hostile_run(tmp_path)], tmp_path / "report", title=HOSTILE_KEY)
    page = index.read_text()
    for bad in (HOSTILE_RUN, HOSTILE_KEY, "<script", "<img src=x", '" onerror'):
        assert bad not in page
    assert_inert(page)
    # The names are still shown, as text.
    assert html_escape(HOSTILE_RUN) in page and html_escape(HOSTILE_KEY) in page
    imgs = [a["src"] for t, a in parse_tags(page) if t == "img"]
    assert imgs and all((tmp_path / "report" / unquote(src)).is_file() for src in imgs), imgs
    report_files = [p.name for p in (tmp_path / "report").rglob("*")]
    assert not [n for n in report_files if set(n) & set('<>"\'`')], report_files


def _unescaped_pipes(line: str) -> int:
    return len(re.findall(r"(?<!\\)\|", line))


def _md_tables(md: str) -> list[list[str]]:
    tables, cur = [], []
    for line in md.splitlines() + [""]:
        if line.startswith("|"):
            cur.append(line)
        elif cur:
            tables.append(cur)
            cur = []
    return tables


def test_markdown_report_escapes_names_from_files(tmp_path):
    build_report([make_hostile_run(tmp_path)], tmp_path / "report", title=HOSTILE_KEY)
    md = (tmp_path / "report" / "report.md").read_text()
    # No raw '<' anywhere: without it no renderer can make a tag or an autolink.
    assert "<" not in md and ">" not in md
    assert not re.search(r"(?<!\\)\]\(javascript:", md) and not re.search(r"(?<!\\)`", md)
    # Every row of a table keeps the header's column count: a '|' inside a name is escaped.
    tables = _md_tables(md)
    assert len(tables) == 2
    for rows in tables:
        assert len({_unescaped_pipes(r) for r in rows}) == 1, rows
    # Image syntax holds only our own sanitized, percent-encoded paths.
    targets = re.findall(r"!\[(?:\\.|[^\]\\])*\]\(([^)]*)\)", md)
    assert len(targets) == md.count("![")
    for target in targets:
        assert re.fullmatch(r"[A-Za-z0-9._/%-]+", target), target
        assert (tmp_path / "report" / unquote(target)).is_file()


def test_table_cell_with_pipe_does_not_shift_columns(tmp_path):
    build_report([make_run(tmp_path, "a|b|c")], tmp_path / "report")
    md = (tmp_path / "report" / "report.md").read_text()
    for rows in _md_tables(md):
        assert len({_unescaped_pipes(r) for r in rows}) == 1, rows


def _chromium() -> str | None:
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else shutil.which("chromium")


@pytest.mark.skipif(_chromium() is None, reason="chromium is not installed (apt-get install chromium); "
                    "the escaping is still checked by the HTMLParser tests")
def test_hostile_names_do_not_run_in_headless_chromium(tmp_path):
    payload = "<img src=x onerror=\"document.title='pwned'\">"
    index = build_report([make_hostile_run(tmp_path, payload)], tmp_path / "report")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
             f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=3000"]
    res = subprocess.run([_chromium(), *flags, "--dump-dom", index.as_uri()], capture_output=True, text=True,
                         timeout=120)
    dom = res.stdout
    assert 'id="final"' in dom, f"chromium did not render the page: {res.stderr[-2000:]}"
    tags = parse_tags(dom)
    assert not [a for t, a in tags if t == "img" and "onerror" in a], [a for t, a in tags if t == "img"]
    title = re.search(r"<title>(.*?)</title>", dom, re.S)
    assert title and title.group(1) != "pwned" and "pwned</title>" not in dom
    assert_inert(dom)


# --- files of a run folder are someone else's (issue 19, item 4) ---------------------------

def _caught(fn):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = fn()
    return out, [str(w.message) for w in caught]


def test_report_copies_only_png_grids_that_are_regular_files_inside_the_run(tmp_path):
    run = make_run(tmp_path, "r")
    secret = tmp_path / "secret.txt"
    secret.write_text("root:x:0:0:SECRET:/root:/bin/bash\n")
    outside_png = tmp_path / "outside.png"
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(outside_png)
    # Newer names than the real grid (fakes000030.png), so each would be taken before the fix.
    (run / "fakes000040.png").symlink_to(secret)
    (run / "fakes000050.png").symlink_to("/etc/passwd")
    (run / "fakes000060.png").symlink_to(outside_png)  # a PNG, but outside the run folder
    (run / "fakes000070.png").write_text("SECRET, but named like a grid")
    (run / "fakes000080.png").mkdir()
    (run / "fakes000090.png").write_bytes((run / "fakes000030.png").read_bytes()[:100])  # torn PNG
    index, messages = _caught(lambda: build_report([run], tmp_path / "report"))
    copied = list((tmp_path / "report" / "samples").iterdir())
    assert [p.name for p in copied] == ["r-fakes000030.png"]
    assert copied[0].read_bytes() == (run / "fakes000030.png").read_bytes()
    for p in (tmp_path / "report").rglob("*"):
        assert p.is_dir() or (b"SECRET" not in p.read_bytes() and b"root:" not in p.read_bytes()), p
    for n in (40, 50, 60, 70, 80, 90):
        assert any(str(run / f"fakes0000{n}.png") in m and "not used as a sample grid" in m for m in messages), n


@pytest.mark.parametrize("name", ["config.json", "metrics.jsonl", "log.jsonl"])
def test_run_files_that_are_devices_fifos_or_links_out_are_refused(tmp_path, name):
    from ganeval.errors import DataError
    from ganeval.reporting.report import read_run
    run = make_run(tmp_path, "r")
    (run / name).unlink()
    (run / name).symlink_to("/dev/zero")  # read to the end, it never ends
    with pytest.raises(DataError, match=re.escape(f"{run / name}: is a link to /dev/zero, outside")):
        read_run(run)
    (run / name).unlink()
    os.mkfifo(run / name)  # opened to read, it waits for a writer forever
    with pytest.raises(DataError, match=re.escape(f"{run / name}: is a FIFO")):
        read_run(run)
    (run / name).unlink()
    (tmp_path / "elsewhere").write_text("{}\n")
    (run / name).symlink_to(tmp_path / "elsewhere")
    with pytest.raises(DataError, match="outside"):
        read_run(run)


def test_run_files_larger_than_the_bound_are_refused(tmp_path, monkeypatch):
    import ganeval.reporting.report as report
    from ganeval.errors import DataError
    run = make_run(tmp_path, "r")
    size = (run / "metrics.jsonl").stat().st_size
    monkeypatch.setattr(report, "MAX_JSONL_BYTES", size - 1)
    with pytest.raises(DataError, match=re.escape(f"{run / 'metrics.jsonl'}: larger than")):
        report.read_jsonl(run / "metrics.jsonl")
    monkeypatch.setattr(report, "MAX_JSONL_BYTES", size)
    with pytest.warns(UserWarning, match="malformed"):  # the torn last line
        assert len(report.read_jsonl(run / "metrics.jsonl")) == 6


def test_report_cli_refuses_an_output_file_that_is_not_regular(tmp_path):
    run = make_run(tmp_path, "r")
    out = tmp_path / "out"
    out.mkdir()
    os.mkfifo(out / "index.html")
    res = CliRunner().invoke(main, ["report", str(run), "-o", str(out)])
    assert res.exit_code == 2, res.output
    assert str(out / "index.html") in res.stderr and "FIFO" in res.stderr
    assert stat.S_ISFIFO(os.lstat(out / "index.html").st_mode)
    assert sorted(p.name for p in out.iterdir()) == ["index.html"]  # refused before any plot was drawn


class _FullDiskOS:
    """`os` as ganeval.io.fileio sees it on a full disk: every file it writes fails with ENOSPC,
    which names no file by itself."""

    class _File:
        def __init__(self, f):
            self._f = f

        def write(self, data):
            import errno
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        def __getattr__(self, name):
            return getattr(self._f, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self._f.close()

    def __getattr__(self, name):
        return getattr(os, name)

    def fdopen(self, fd, *a, **k):
        return self._File(os.fdopen(fd, *a, **k))


def test_report_on_a_full_disk_names_the_file(tmp_path, monkeypatch):
    from ganeval.io import fileio
    run = make_run(tmp_path, "r")
    monkeypatch.setattr(fileio, "os", _FullDiskOS())
    res = CliRunner().invoke(main, ["report", str(run), "-o", str(tmp_path / "out")])
    assert res.exit_code == 1, res.output
    line = res.stderr.strip().splitlines()[-1]
    assert re.search(re.escape(str(tmp_path / "out")) + r"/\S+: No space left on device", line), line
    assert "Traceback" not in res.output


# --- numbers that are not finite (issue 19, item 6) -----------------------------------------

def test_non_finite_values_are_marked_and_never_plotted(tmp_path):
    from ganeval.reporting.report import _log_series, _series, read_run
    run = make_run(tmp_path, "r")
    with open(run / "metrics.jsonl", "a") as f:
        f.write("\n")
        f.write('{"kimg": 40.0, "metric": "swd", "values": {"SWDx1e3_32": NaN, "SWDx1e3_16": Infinity, '
                '"SWDx1e3_avg": 1.0}, "uncertainty": {"SWDx1e3_avg": {"std": NaN, "lo": Infinity, '
                '"hi": -Infinity}}}\n')
        f.write('{"kimg": 40.0, "metric": "msssim", "values": {"MS-SSIM": 1e999}}\n')
    with open(run / "log.jsonl", "a") as f:
        f.write('{"kimg": 40.0, "G_loss": NaN, "sec_per_kimg": 1.5}\n')
    index, messages = _caught(lambda: build_report([run], tmp_path / "report"))
    page, md = index.read_text(), (tmp_path / "report" / "report.md").read_text()
    assert any(str(run / "metrics.jsonl") in m and "6 value(s) not finite" in m for m in messages), messages
    assert any(str(run / "log.jsonl") in m and "1 value(s) not finite" in m for m in messages), messages
    # Shown as what they are, marked; the finite value of the same record keeps its place.
    for text, bar in ((page, "1 (error bar not finite: ± nan [inf, -inf])"),
                      (md, r"1 (error bar not finite: ± nan \[inf, -inf\])")):  # markdown escapes brackets
        assert "nan (not finite)" in text and "inf (not finite)" in text and bar in text
        assert "Non-finite values" in text and "training G_loss" in text
    rows = [r for r in re.findall(r"<tr>(.*?)</tr>", page) if "SWDx1e3_avg" in r and "error bar std" in r]
    assert rows and "<td>40</td><td>nan</td>" in rows[0]  # listed with its kimg
    # Nothing non-finite reaches a plot, and the error bar of the finite value is dropped.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        runs = [read_run(run)]
    pts = [p for s in list(_series(runs).values()) + list(_log_series(runs).values()) for ps in s.values() for p in ps]
    assert all(np.isfinite(x) for p in pts for x in p if x is not None)
    assert (40.0, 1.0, None, None) in _series(runs)[("swd", "SWDx1e3_avg")]["r"]
    assert max(p[0] for p in _series(runs)[("msssim", "MS-SSIM")]["r"]) == 30.0
