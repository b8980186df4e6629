"""Crash safety of ganeval.io.fileio: JSONL appends after a torn line, temp-file hygiene, modes."""
import json
import os
import re
import stat
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import pytest

from ganeval.io import fileio
from ganeval.io.fileio import append_line, atomic_write, atomic_write_text
from ganeval.reporting.report import read_jsonl

from conftest import ROOT

HOUR_AGO = time.time() - 3600


def dead_pid() -> int:
    """A PID with no process behind it: the highest free one, far from where new PIDs are handed out."""
    try:
        top = int(Path("/proc/sys/kernel/pid_max").read_text())
    except OSError:
        top = 32768
    for pid in range(top - 1, 300, -1):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return pid
        except PermissionError:
            continue
    pytest.skip("every PID is in use")


def make_tmp(folder: Path, pid: int, tag: str, mtime: float) -> Path:
    p = folder / f".tmp-{pid}-{tag}-target.txt"
    p.write_text("partial")
    os.utime(p, (mtime, mtime))
    return p


# --- JSONL ---------------------------------------------------------------------------------

def test_append_after_truncated_line_keeps_the_new_record(tmp_path):
    log = tmp_path / "metrics.jsonl"
    log.write_text('{"kimg": 1.0}\n{"kimg": 2.0, "val')  # a writer killed mid-line
    append_line(log, json.dumps({"kimg": 3.0}))
    with pytest.warns(UserWarning, match=re.escape(f"{log}:2")):
        recs = read_jsonl(log)
    assert recs == [{"kimg": 1.0}, {"kimg": 3.0}]


def test_append_line_adds_no_blank_line_to_new_or_complete_files(tmp_path):
    log = tmp_path / "log.jsonl"
    append_line(log, '{"a": 1}')
    append_line(log, '{"b": 2}\n')
    assert log.read_text() == '{"a": 1}\n{"b": 2}\n'


def test_read_jsonl_warns_for_each_malformed_line_with_its_number(tmp_path):
    log = tmp_path / "log.jsonl"
    log.write_bytes(b'{"a": 1}\n{not json}\n\n[1, 2]\n\xff\xfe\n{"b": 2}\n')
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        recs = read_jsonl(log)
    assert recs == [{"a": 1}, {"b": 2}]
    messages = [str(w.message) for w in caught]
    assert [m.split(":")[1] for m in messages if m.startswith(f"{log}:")] == ["2", "4", "5"], messages


# --- temp files ------------------------------------------------------------------------------

def test_temp_file_name_carries_the_writer_pid(tmp_path):
    with atomic_write(tmp_path / "out.txt") as f:
        f.write("x")
        names = [p.name for p in tmp_path.iterdir()]
    assert len(names) == 1 and names[0].startswith(f".tmp-{os.getpid()}-") and names[0].endswith("-out.txt")


def test_stale_temp_files_of_dead_writers_are_removed(tmp_path):
    dead = dead_pid()
    stale = make_tmp(tmp_path, dead, "old", HOUR_AGO)
    recent = make_tmp(tmp_path, dead, "new", time.time())  # might be another host's live writer
    mine = make_tmp(tmp_path, os.getpid(), "mine", HOUR_AGO)
    init = make_tmp(tmp_path, 1, "init", HOUR_AGO)
    other = tmp_path / ".tmp-notapid-target.txt"
    other.write_text("not ours to judge")
    os.utime(other, (HOUR_AGO, HOUR_AGO))
    atomic_write_text(tmp_path / "out.txt", "hello")
    assert not stale.exists()
    assert recent.exists() and mine.exists() and init.exists() and other.exists()
    assert (tmp_path / "out.txt").read_text() == "hello"


def test_permission_error_means_the_writer_is_alive(tmp_path, monkeypatch):
    dead = dead_pid()
    tmp = make_tmp(tmp_path, dead, "eperm", HOUR_AGO)

    def kill(pid, sig):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "kill", kill)
    atomic_write_text(tmp_path / "out.txt", "hello")
    assert tmp.exists()


@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002])
def test_final_file_mode_follows_umask(tmp_path, mask):
    old = os.umask(mask)
    try:
        atomic_write_text(tmp_path / "new.txt", "a")
        (tmp_path / "existing.txt").write_text("old")
        os.chmod(tmp_path / "existing.txt", 0o600)
        with atomic_write(tmp_path / "existing.txt", "wb") as f:
            f.write(b"b")
    finally:
        os.umask(old)
    for name in ("new.txt", "existing.txt"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o666 & ~mask, name


def test_umask_is_left_unchanged(tmp_path):
    old = os.umask(0o027)
    try:
        atomic_write_text(tmp_path / "a.txt", "a")
        assert os.umask(0o027) == 0o027
    finally:
        os.umask(old)


def test_text_is_written_as_utf8(tmp_path):
    atomic_write_text(tmp_path / "a.txt", "π ≈ 3.14")
    assert (tmp_path / "a.txt").read_bytes() == "π ≈ 3.14".encode("utf-8")


# Importing ganeval.io.fileio without the package __init__ keeps the child off torch: it starts in
# a fraction of a second on a loaded machine.
_CHILD = textwrap.dedent("""
    import os, sys, types
    pkg = types.ModuleType("ganeval")
    pkg.__path__ = [os.path.join(sys.argv[1], "ganeval")]
    sys.modules["ganeval"] = pkg
    from ganeval.io.fileio import atomic_write
    with atomic_write(sys.argv[2]) as f:
        f.write("new contents, first half")
        f.flush()
        os._exit(3)  # killed mid-write: no cleanup, no rename
""")


def test_writer_killed_mid_write_leaves_old_file_and_its_temp_is_collected(tmp_path):
    target = tmp_path / "results.json"
    target.write_text("old contents")
    child = subprocess.run([sys.executable, "-c", _CHILD, str(ROOT), str(target)], capture_output=True, text=True,
                           timeout=120)
    assert child.returncode == 3, child.stderr
    assert target.read_text() == "old contents"
    leftovers = list(tmp_path.glob(".tmp-*"))
    assert len(leftovers) == 1 and re.match(r"\.tmp-\d+-", leftovers[0].name)
    atomic_write_text(tmp_path / "other.txt", "x")
    assert leftovers[0].exists()  # too young to judge: its writer may be on another host
    os.utime(leftovers[0], (HOUR_AGO, HOUR_AGO))
    atomic_write_text(tmp_path / "other.txt", "y")
    assert not leftovers[0].exists()
    assert target.read_text() == "old contents"


def test_failed_block_removes_its_temp_and_keeps_old_file(tmp_path):
    target = tmp_path / "a.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_write(target) as f:
            f.write("new")
            raise RuntimeError("boom")
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["a.txt"]



# --- the reference trainer's run directory -------------------------------------------------

def test_trainer_appends_after_a_torn_log_line_and_collects_dead_temps(tmp_path):
    from reference_trainer.dataset import build_builtin
    from reference_trainer.presets import make_config
    from reference_trainer.train import train
    data = build_builtin(tmp_path / "data", 8, 16)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "log.jsonl").write_text('{"tick": 0, "kimg": 0.0}\n{"tick": 1, "ki')  # the previous run was killed
    stale = make_tmp(run_dir, dead_pid(), "old", HOUR_AGO)
    cfg = dict(resolution=8, latent_size=8, fmap_base=32, fmap_max=16, lod_training_kimg=0.016,
               lod_transition_kimg=0.016, minibatch_base=8, total_kimg=0.032, tick_kimg_base=0.016,
               tick_kimg_dict={}, checkpoint_kimg=0.032, grid_size=[2, 2], metrics_kimg=None, builtin_num=16,
               data=str(data))
    train(make_config(None, cfg), run_dir, progress=False)
    with pytest.warns(UserWarning, match=re.escape(f"{run_dir / 'log.jsonl'}:2")):
        log = read_jsonl(run_dir / "log.jsonl")
    assert len(log) >= 2 and log[0] == {"tick": 0, "kimg": 0.0} and log[-1]["kimg"] == pytest.approx(0.032)
    assert not stale.exists()


# --- targets that are not regular files (issue 19, item 3) ----------------------------------

def _fifo(p: Path) -> Path:
    os.mkfifo(p)
    return p


def _socket(p: Path) -> Path:
    import socket
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(p))
    s.close()  # the socket file stays
    return p


def _link(to: str | Path):
    def make(p: Path) -> Path:
        p.symlink_to(to)
        return p
    return make


def _snapshot(p: Path) -> tuple:
    """What must be unchanged about a refused target: its kind, and a link's target."""
    st = os.lstat(p)
    return stat.S_IFMT(st.st_mode), os.readlink(p) if p.is_symlink() else None


SPECIAL = {
    "fifo": _fifo,
    "socket": _socket,
    "folder": lambda p: (p.mkdir(), p)[1],
    # A link to a character device is what `-o /dev/null` amounts to, without risking /dev/null
    # itself should the check ever regress (these tests may run as root).
    "link-to-char-device": _link("/dev/null"),
    "link-to-regular-file": None,  # made in the test: it needs a file of its own
    "dangling-link": _link("/nonexistent/ganeval-target"),
}


@pytest.fixture(params=list(SPECIAL), ids=list(SPECIAL))
def special_target(request, tmp_path) -> Path:
    p = tmp_path / "out.json"
    if request.param == "link-to-regular-file":
        (tmp_path / "real.json").write_text("keep me")
        return _link(tmp_path / "real.json")(p)
    return SPECIAL[request.param](p)


def test_atomic_write_refuses_a_target_that_is_not_a_regular_file(special_target, tmp_path):
    from ganeval.errors import UsageError
    before = _snapshot(special_target)
    with pytest.raises(UsageError, match=re.escape(str(special_target))):
        atomic_write_text(special_target, "{}")
    assert _snapshot(special_target) == before  # neither replaced nor written through
    if (tmp_path / "real.json").exists():
        assert (tmp_path / "real.json").read_text() == "keep me"
    assert not list(tmp_path.glob(".tmp-*"))


def test_append_line_refuses_a_target_that_is_not_a_regular_file(special_target, tmp_path):
    from ganeval.errors import UsageError
    before = _snapshot(special_target)
    with pytest.raises(UsageError, match=re.escape(str(special_target))):
        append_line(special_target, '{"kimg": 1}')
    assert _snapshot(special_target) == before
    if (tmp_path / "real.json").exists():
        assert (tmp_path / "real.json").read_text() == "keep me"


def test_links_among_the_folders_on_the_way_are_followed(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "via").symlink_to(tmp_path / "real", target_is_directory=True)
    atomic_write_text(tmp_path / "via" / "a.txt", "x")
    append_line(tmp_path / "via" / "b.jsonl", "{}")
    assert (tmp_path / "real" / "a.txt").read_text() == "x" and (tmp_path / "real" / "b.jsonl").read_text() == "{}\n"


def _make_images(folder: Path) -> Path:
    from conftest import write_pngs
    import numpy as np
    return write_pngs(np.random.default_rng(0).integers(0, 256, (4, 3, 16, 16), dtype=np.uint8), folder)


@pytest.mark.parametrize("kind", ["fifo", "link-to-char-device", "link-to-regular-file"])
def test_cli_output_that_is_not_a_regular_file_is_a_usage_error_before_reading(tmp_path, kind):
    from click.testing import CliRunner
    from ganeval.cli import main
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "0.png").write_bytes(b"not a png")  # reading it would be exit 1: the check must come first
    out = tmp_path / "out.json"
    if kind == "link-to-regular-file":
        (tmp_path / "real.json").write_text("keep me")
        out.symlink_to(tmp_path / "real.json")
    else:
        SPECIAL[kind](out)
    before = _snapshot(out)
    res = CliRunner().invoke(main, ["msssim", str(bad), "-o", str(out)])
    assert res.exit_code == 2, res.output
    assert str(out) in res.stderr and "Traceback" not in res.output
    assert _snapshot(out) == before


def test_trainer_checkpoint_and_dataset_writes_refuse_links(tmp_path):
    import numpy as np
    from ganeval.errors import UsageError
    from reference_trainer.checkpoint import save_atomic
    from reference_trainer.dataset import write_cache
    (tmp_path / "elsewhere.pt").write_text("keep me")
    link = tmp_path / "network-snapshot-000000.pt"
    link.symlink_to(tmp_path / "elsewhere.pt")
    with pytest.raises(UsageError, match=re.escape(str(link))):
        save_atomic({"x": 1}, link)
    assert link.is_symlink() and (tmp_path / "elsewhere.pt").read_text() == "keep me"
    cache = tmp_path / "cache"
    cache.mkdir()
    os.mkfifo(cache / "res0004.npy")
    with pytest.raises(UsageError, match=re.escape(str(cache / "res0004.npy"))):
        write_cache(iter([np.zeros((2, 3, 8, 8), np.uint8)]), 2, 8, cache)
    assert stat.S_ISFIFO(os.lstat(cache / "res0004.npy").st_mode)
    assert sorted(p.name for p in cache.iterdir()) == ["res0004.npy"]  # nothing else was written


# --- bounded reads (issue 19, item 4) --------------------------------------------------------

def test_read_bounded_refuses_devices_fifos_big_files_and_links_out(tmp_path):
    from ganeval.errors import DataError
    from ganeval.io.fileio import read_bounded
    (tmp_path / "zero").symlink_to("/dev/zero")
    with pytest.raises(DataError, match=r"zero: is a character device"):
        read_bounded(tmp_path / "zero", 1 << 20)
    os.mkfifo(tmp_path / "fifo")  # opening it to read would wait for a writer forever
    with pytest.raises(DataError, match=r"fifo: is a FIFO"):
        read_bounded(tmp_path / "fifo", 1 << 20)
    (tmp_path / "big").write_bytes(b"x" * 101)
    with pytest.raises(DataError, match=r"big: larger than 100 bytes"):
        read_bounded(tmp_path / "big", 100)
    assert read_bounded(tmp_path / "big", 101) == b"x" * 101
    inside = tmp_path / "run"
    inside.mkdir()
    (inside / "ok").symlink_to(tmp_path / "run" / "target")
    (inside / "target").write_bytes(b"fine")
    (inside / "out").symlink_to(tmp_path / "big")
    assert read_bounded(inside / "ok", 100, within=inside) == b"fine"
    with pytest.raises(DataError, match=r"out: is a link to .*big, outside"):
        read_bounded(inside / "out", 1000, within=inside)
    with pytest.raises(FileNotFoundError):
        read_bounded(tmp_path / "missing", 100)


# --- a full disk names the file (issue 19, item 21) -----------------------------------------

class _FullFile:
    """A file object whose every write fails as on a full disk (ENOSPC names no file)."""

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


class _FullDiskOS:
    """`os` as fileio sees it on a full disk: its file objects and raw writes raise ENOSPC."""

    def __getattr__(self, name):
        return getattr(os, name)

    @staticmethod
    def fdopen(fd, *a, **k):
        return _FullFile(os.fdopen(fd, *a, **k))

    @staticmethod
    def write(fd, data):
        import errno
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.fixture
def full_disk(monkeypatch):
    monkeypatch.setattr(fileio, "os", _FullDiskOS())


def test_write_errors_name_the_file(tmp_path, full_disk):
    with pytest.raises(OSError) as e:
        atomic_write_text(tmp_path / "a.json", "{}")
    assert e.value.filename == str(tmp_path / "a.json") and "No space left" in e.value.strerror
    with pytest.raises(OSError) as e:
        append_line(tmp_path / "log.jsonl", "{}")
    assert e.value.filename == str(tmp_path / "log.jsonl")
    assert not list(tmp_path.glob(".tmp-*"))


def test_stats_output_on_a_full_disk_names_the_file(tmp_path, monkeypatch, full_disk):
    from types import SimpleNamespace
    from click.testing import CliRunner
    import ganeval.inception.features
    from ganeval.cli import main
    # The writer is under test, not the network: extraction returns small statistics at once.
    import torch
    from ganeval.features.stats import FeatureStats
    stats = FeatureStats(4)
    stats.update(torch.arange(16, dtype=torch.float64).reshape(4, 4) ** 1.5)
    monkeypatch.setattr(ganeval.inception.features, "extract",
                        lambda *a, **k: (stats, SimpleNamespace(sha256="0" * 64)))
    images = _make_images(tmp_path / "imgs")
    out = tmp_path / "stats" / "real.npz"
    res = CliRunner().invoke(main, ["stats", str(images), "-o", str(out), "-q", "--no-cache"])
    assert res.exit_code == 1, res.output
    line = res.stderr.strip().splitlines()[-1]
    assert str(out) in line and "No space left on device" in line and "Traceback" not in res.output
    assert not out.exists() and not list(out.parent.glob(".tmp-*"))


def test_read_bounded_refuses_a_socket(tmp_path):
    from ganeval.errors import DataError
    from ganeval.io.fileio import read_bounded
    with pytest.raises(DataError, match=r"sock: is a socket"):
        read_bounded(_socket(tmp_path / "sock"), 100)
