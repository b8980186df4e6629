"""The command line's error boundary: every failure a user can cause is one line and an exit code.

Data errors exit with 1, usage errors with 2, both before any image is read where the input
can be checked up front; only ``--debug`` shows a traceback.
"""
import errno
import importlib
import json
import os
import pathlib
import subprocess
import sys
import zipfile

import pytest
import torch
from click.testing import CliRunner

import ganeval.io.sources
from conftest import write_pngs
from ganeval.cli import main
from ganeval.cli.boundary import clean, describe
from ganeval.device import resolve_device, validate_device
from ganeval.errors import DataError, UsageError


def one_line(res) -> str:
    """The error line on stderr; fails the test unless there is exactly one and no traceback."""
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, res.stderr
    assert "Traceback" not in res.stderr
    return lines[0]


@pytest.fixture
def sets(tmp_path, crops):
    a = write_pngs(crops[0][:4], tmp_path / "real")
    b = write_pngs(crops[1][:4], tmp_path / "fake")
    return str(a), str(b)


@pytest.fixture
def opened(monkeypatch):
    """Records every image source a command opens (and refuses to open it)."""
    calls = []

    def spy(path, *args, **kwargs):
        calls.append(path)
        raise AssertionError(f"a source was opened: {path}")
    monkeypatch.setattr(ganeval.io.sources, "_open_path", spy)
    return calls


def command(name, sets, tmp_path, *extra):
    """Arguments for `name` that would run the command to completion on `sets`."""
    real, fake = sets
    if name in ("swd", "fid", "kid", "pr", "all"):
        return [name, real, fake, "-q", *extra]
    if name in ("msssim", "is"):
        return [name, fake, "-q", *extra]
    if name == "stats":
        return ["stats", real, "-q", *(extra if "-o" in extra else ("-o", str(tmp_path / "s.npz"), *extra))]
    if name == "leaderboard":
        store = () if "--store" in extra else ("--store", str(tmp_path / "lb"))
        return ["leaderboard", "--real", real, "--entry", f"f={fake}", *store, *extra]
    raise AssertionError(name)


# -- 1. one error boundary -------------------------------------------------------------------------

def test_permission_denied_is_one_line_naming_the_folder(sets, monkeypatch):
    # chmod cannot stop root from reading, so the denial comes from the filesystem call itself.
    def denied(self):
        raise PermissionError(errno.EACCES, "Permission denied", str(self))
    monkeypatch.setattr(pathlib.Path, "iterdir", denied)
    res = CliRunner().invoke(main, ["swd", *sets, "-q"])
    assert res.exit_code == 1
    line = one_line(res)
    assert sets[0] in line and "Permission denied" in line


def test_unreadable_folder_with_chmod(sets):
    os.chmod(sets[1], 0o000)
    try:
        if os.access(sets[1], os.R_OK):
            pytest.skip("running as root: chmod does not stop reads")
        res = CliRunner().invoke(main, ["swd", *sets, "-q"])
    finally:
        os.chmod(sets[1], 0o755)
    assert res.exit_code == 1 and sets[1] in one_line(res)


@pytest.mark.parametrize("name, content", [
    ("corrupt.npz", b"PK\x03\x04 this is not really a zip archive"),
    ("corrupt.npy", b"\x93NUMPY\x01\x00garbage header"),
    ("garbage.npy", b"not numpy at all"),
])
def test_corrupt_array_file_as_image_source(sets, tmp_path, name, content):
    bad = tmp_path / name
    bad.write_bytes(content)
    res = CliRunner().invoke(main, ["swd", sets[0], str(bad), "-q"])
    assert res.exit_code == 1 and str(bad) in one_line(res)


def test_truncated_zip_as_image_source(sets, tmp_path):
    z = tmp_path / "fakes.zip"
    with zipfile.ZipFile(z, "w") as f:
        for p in sorted(pathlib.Path(sets[1]).iterdir()):
            f.write(p, p.name)
    z.write_bytes(z.read_bytes()[: z.stat().st_size // 2])
    res = CliRunner().invoke(main, ["swd", sets[0], str(z), "-q"])
    assert res.exit_code == 1 and str(z) in one_line(res)


def test_truncated_weights_file(tmp_path):
    w = tmp_path / "inception.pth"
    torch.save({"conv.weight": torch.zeros(4, 4)}, w)
    w.write_bytes(w.read_bytes()[:100])
    res = CliRunner().invoke(main, ["weights", "-w", str(w)])
    assert res.exit_code == 1 and str(w) in one_line(res)


def test_corrupt_json_in_leaderboard_store_is_one_line_naming_it(sets, tmp_path):
    store = tmp_path / "lb"
    store.mkdir()
    (store / "protocol.json").write_text('{"id": "abc", ')
    res = CliRunner().invoke(main, command("leaderboard", sets, tmp_path, "--store", str(store)))
    assert res.exit_code == 1
    assert "protocol.json" in one_line(res)


def test_describe_json_error_is_one_line_exit_1():
    with pytest.raises(json.JSONDecodeError) as e:
        json.loads('{"a": 1,\n"b": }')
    msg, code = describe(e.value)
    assert code == 1 and "\n" not in msg and "line 2" in msg


def test_describe_os_error_names_both_files():
    msg, code = describe(OSError(errno.EXDEV, "Invalid cross-device link", "/a/tmp", None, "/b/out.json"))
    assert code == 1 and "/a/tmp" in msg and "/b/out.json" in msg and "\n" not in msg


def test_unexpected_exception_is_one_line_asking_for_debug(sets, monkeypatch):
    swd_module = importlib.import_module("ganeval.metrics.swd")

    def boom(*a, **k):
        raise RuntimeError("first line\nsecond line")
    monkeypatch.setattr(swd_module, "swd", boom)
    res = CliRunner().invoke(main, ["swd", *sets, "-q"])
    assert res.exit_code == 1
    line = one_line(res)
    assert "first line second line" in line and "--debug" in line


def test_cuda_out_of_memory_is_a_one_line_hint(sets, monkeypatch):
    swd_module = importlib.import_module("ganeval.metrics.swd")

    def oom(*a, **k):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB\nmore text")
    monkeypatch.setattr(swd_module, "swd", oom)
    res = CliRunner().invoke(main, ["swd", *sets, "-q"])
    assert res.exit_code == 1 and "--batch-size" in one_line(res)


def test_closed_stdout_pipe_exits_quietly(sets, monkeypatch):
    # `ganeval ... | head -1`: the reader left, so there is nobody to tell and nothing to fix.
    swd_module = importlib.import_module("ganeval.metrics.swd")

    def closed(*a, **k):
        raise BrokenPipeError(errno.EPIPE, "Broken pipe")
    monkeypatch.setattr(swd_module, "swd", closed)
    res = CliRunner().invoke(main, ["swd", *sets, "-q"])
    assert res.exit_code == 1 and res.stderr == ""


def test_failed_result_write_names_the_file(sets, tmp_path, monkeypatch):
    import ganeval.cli.options

    def full(path, text):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(ganeval.cli.options, "atomic_write_text", full)
    out = tmp_path / "swd.json"
    res = CliRunner().invoke(main, ["swd", *sets, "-q", "-o", str(out)])
    assert res.exit_code == 1
    line = one_line(res)
    assert str(out) in line and "No space left" in line


@pytest.mark.parametrize("args", [["swd", "only-one"], ["--bogus"], ["nosuchcommand"],
                                  ["swd", "a", "b", "--num-images", "0"], ["stats", "a"]])
def test_click_usage_errors_are_one_line_exit_2(args):
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 2
    one_line(res)


@pytest.mark.parametrize("args", [["--debug", "swd", "{real}", "{missing}"],     # root flag, no subcommand flag
                                  ["swd", "{real}", "{missing}", "--debug"],     # subcommand flag
                                  ["--debug", "swd", "{real}", "{missing}", "--debug"],
                                  ["--debug", "leaderboard", "--real", "{missing}", "--entry", "x={real}",
                                   "--store", "{store}"]])
def test_debug_shows_the_traceback(sets, tmp_path, args):
    fill = dict(real=sets[0], missing=str(tmp_path / "missing"), store=str(tmp_path / "lb"))
    res = CliRunner().invoke(main, [a.format(**fill) for a in args])
    assert isinstance(res.exception, DataError), res.output


def test_debug_also_shows_usage_errors_raised_while_parsing(sets):
    res = CliRunner().invoke(main, ["swd", *sets, "--debug", "--device", "nonsense"])
    assert isinstance(res.exception, UsageError)


def test_root_debug_traceback_in_a_real_process(sets, tmp_path):
    exe = [sys.executable, "-m", "ganeval"]
    p = subprocess.run(exe + ["--debug", "swd", sets[0], str(tmp_path / "nope"), "-q"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 1 and "Traceback" in p.stderr and "DataError" in p.stderr


# -- 2. --device is checked before any work --------------------------------------------------------

def _unavailable_cuda() -> str:
    return f"cuda:{torch.cuda.device_count()}" if torch.cuda.is_available() else "cuda"


@pytest.mark.parametrize("value", ["nonsense", "cuda", "meta"])
@pytest.mark.parametrize("cmd", ["swd", "fid", "all", "stats", "leaderboard"])
def test_bad_device_is_a_usage_error_before_reading(sets, tmp_path, opened, cmd, value):
    value = _unavailable_cuda() if value == "cuda" else value
    res = CliRunner().invoke(main, command(cmd, sets, tmp_path, "--device", value))
    assert res.exit_code == 2, res.output
    assert f"'{value}'" in one_line(res) and opened == []


@pytest.mark.parametrize("cmd", ["msssim", "is", "kid", "pr"])
def test_bad_device_on_the_other_metric_commands(sets, tmp_path, opened, cmd):
    res = CliRunner().invoke(main, command(cmd, sets, tmp_path, "--device", "meta"))
    assert res.exit_code == 2 and "meta" in one_line(res) and opened == []


def test_validate_device():
    assert validate_device("cpu") == torch.device("cpu")
    assert validate_device(torch.device("cpu")) == torch.device("cpu")
    assert validate_device(None) == resolve_device(None)
    for bad in ("nonsense", "", "CPU", "cuda:-1", "meta", "xla", "cpu cuda", 3.5):
        with pytest.raises(UsageError):
            validate_device(bad)
    if not torch.backends.mps.is_available():
        with pytest.raises(UsageError, match="MPS"):
            validate_device("mps")
    with pytest.raises(UsageError, match="CUDA"):
        validate_device(_unavailable_cuda())


def test_python_api_refuses_a_bad_device_before_reading(crops, opened):
    with pytest.raises(UsageError, match="meta"):
        ganeval.swd(crops[0][:4], "some/folder", device="meta")
    assert opened == []


def test_valid_device_still_runs(sets):
    res = CliRunner().invoke(main, ["swd", *sets, "-q", "--json", "--device", "cpu"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["settings"]["device"] == "cpu"


# -- 3. -o/--output is checked before any work -----------------------------------------------------

@pytest.mark.parametrize("cmd, flag", [("swd", "-o"), ("msssim", "--output"), ("fid", "-o"), ("all", "-o"),
                                       ("stats", "-o"), ("leaderboard", "--store")])
def test_output_under_a_file_is_a_usage_error_before_reading(sets, tmp_path, opened, cmd, flag):
    f = tmp_path / "somefile.txt"
    f.write_text("x")
    target = str(f / "out.json")
    res = CliRunner().invoke(main, command(cmd, sets, tmp_path, flag, target))
    assert res.exit_code == 2, res.output
    line = one_line(res)
    assert target in line and "somefile.txt" in line and opened == []
    assert f.read_text() == "x"


def test_report_output_under_a_file(tmp_path, monkeypatch):
    import ganeval.reporting.report
    monkeypatch.setattr(ganeval.reporting.report, "build_report", lambda *a: pytest.fail("report was built"))
    f = tmp_path / "somefile.txt"
    f.write_text("x")
    res = CliRunner().invoke(main, ["report", str(tmp_path), "-o", str(f / "rep")])
    assert res.exit_code == 2 and str(f / "rep") in one_line(res)


@pytest.mark.parametrize("cmd, flag", [("leaderboard", "--store"), ("report", "-o")])
def test_directory_output_that_is_a_file(sets, tmp_path, opened, cmd, flag):
    f = tmp_path / "somefile.txt"
    f.write_text("x")
    args = ["report", str(tmp_path), "-o", str(f)] if cmd == "report" else command(cmd, sets, tmp_path, flag, str(f))
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 2 and str(f) in one_line(res) and opened == []


def test_output_that_is_a_directory(sets, tmp_path, opened):
    res = CliRunner().invoke(main, ["swd", *sets, "-o", str(tmp_path)])
    assert res.exit_code == 2 and str(tmp_path) in one_line(res) and opened == []


@pytest.mark.parametrize("cmd, flag", [("swd", "-o"), ("stats", "-o"), ("leaderboard", "--store")])
def test_output_in_a_read_only_directory(sets, tmp_path, opened, cmd, flag):
    ro = tmp_path / "ro"
    ro.mkdir()
    os.chmod(ro, 0o555)
    try:
        if os.access(ro, os.W_OK):
            pytest.skip("running as root: chmod does not stop writes")
        target = str(ro / "new" / "out.json")
        res = CliRunner().invoke(main, command(cmd, sets, tmp_path, flag, target))
    finally:
        os.chmod(ro, 0o755)
    assert res.exit_code == 2 and target in one_line(res) and opened == []


@pytest.mark.parametrize("cmd, flag", [("swd", "-o"), ("leaderboard", "--store")])
def test_output_in_a_folder_without_write_access(sets, tmp_path, opened, monkeypatch, cmd, flag):
    # The same refusal as above for whoever runs as root, where chmod cannot take write access away.
    ro = tmp_path / "ro"
    ro.mkdir()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if os.fspath(p) == str(ro) else real_access(p, mode))
    target = str(ro / "new" / "out.json")
    res = CliRunner().invoke(main, command(cmd, sets, tmp_path, flag, target))
    assert res.exit_code == 2
    line = one_line(res)
    assert target in line and "permission denied" in line and opened == []


def test_missing_output_folders_are_created(sets, tmp_path):
    out = tmp_path / "new" / "deeper" / "swd.json"
    res = CliRunner().invoke(main, ["swd", *sets, "-q", "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert json.loads(out.read_text())["metric"] == "swd"


def test_a_failed_run_creates_no_output_folders(sets, tmp_path):
    res = CliRunner().invoke(main, ["swd", sets[0], str(tmp_path / "missing"), "-q", "-o",
                                    str(tmp_path / "new" / "swd.json")])
    assert res.exit_code == 1 and not (tmp_path / "new").exists()


def test_output_help_says_missing_folders_are_created():
    res = CliRunner().invoke(main, ["swd", "--help"])
    assert "created" in " ".join(res.output.split())


# -- 4. all -m -------------------------------------------------------------------------------------

@pytest.mark.parametrize("value", [",", " ", "", " , ,"])
def test_all_with_no_metric_names_is_a_usage_error(sets, tmp_path, opened, value):
    res = CliRunner().invoke(main, ["all", *sets, "-q", "-m", value])
    assert res.exit_code == 2
    assert repr(value) in one_line(res) and opened == []


def test_all_with_an_unknown_metric_is_a_usage_error_before_reading(sets, opened):
    res = CliRunner().invoke(main, ["all", *sets, "-q", "-m", "swd,bogus"])
    assert res.exit_code == 2
    assert "bogus" in one_line(res) and opened == []


def test_all_metric_names_are_trimmed_lowercased_and_deduplicated(sets, monkeypatch):
    evaluate_module = importlib.import_module("ganeval.evaluate")
    seen = {}

    def record(real, fake, metrics, **kw):
        seen["metrics"] = metrics
        return []
    monkeypatch.setattr(evaluate_module, "evaluate", record)
    res = CliRunner().invoke(main, ["all", *sets, "-q", "-m", " SWD, msssim,,swd "])
    assert res.exit_code == 0, res.output
    assert seen["metrics"] == ["swd", "msssim"]


# -- 5. torch.load's unsafe advice never reaches the user ------------------------------------------

class NotAllowlisted:
    pass


@pytest.fixture
def pickled_object(tmp_path):
    p = tmp_path / "weights.pth"
    torch.save({"net": NotAllowlisted()}, p)
    return p


def _assert_safe(msg: str) -> None:
    low = msg.lower()
    assert "\n" not in msg and "\x1b" not in msg
    for advice in ("weights_only", "safe_globals", "can still be loaded", "trust", "arbitrary code"):
        assert advice not in low, msg


def test_weights_command_hides_unsafe_advice(pickled_object):
    res = CliRunner().invoke(main, ["weights", "-w", str(pickled_object)])
    assert res.exit_code == 1
    line = one_line(res)
    _assert_safe(line)
    assert str(pickled_object) in line and "NotAllowlisted" in line


def test_describe_hides_unsafe_advice_of_the_real_exception(pickled_object):
    with pytest.raises(Exception) as e:
        torch.load(pickled_object, weights_only=True)
    msg, code = describe(e.value)
    _assert_safe(msg)
    assert code == 1 and "NotAllowlisted" in msg


def test_clean_hides_older_torch_wording():
    old = ("Weights only load failed. Re-running `torch.load` with `weights_only=False` will likely succeed, "
           "but it can result in arbitrary code execution. Do it only if you get the file from a trusted source. "
           "WeightsUnpickler error: Unsupported class foo.Bar")
    msg = clean(f"x.pt: not a loadable weights file ({old})")
    _assert_safe(msg)
    assert msg.startswith("x.pt: not a loadable weights file (") and "foo.Bar" in msg and msg.endswith(")")


def test_clean_keeps_paths_that_merely_contain_an_advice_word():
    msg = "/data/trusted source images/x.png: cannot decode image (OSError: truncated). Remove it or pass --skip-bad"
    assert clean(msg) == msg


def test_own_messages_keep_their_advice_however_long():
    long_path = "/data/" + "deep/" * 120 + "x.png"
    msg, code = describe(DataError(f"{long_path}: cannot decode image; remove it or pass --skip-bad"))
    assert code == 1 and msg.endswith("pass --skip-bad") and long_path in msg


def test_validate_device_cuda_index_on_a_one_gpu_machine(monkeypatch):
    # Runs the GPU branch everywhere: only the availability answers are faked, nothing is allocated.
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert validate_device("cuda:0") == torch.device("cuda:0")
    assert validate_device("cuda") == torch.device("cuda")
    with pytest.raises(UsageError, match=r"'cuda:1'.*cuda:0 to cuda:0"):
        validate_device("cuda:1")


# -- --seed out of range (issue 19, item 9) -------------------------------------------------------

def _seeded_commands():
    return sorted(name for name, cmd in main.commands.items() if any("--seed" in p.opts for p in cmd.params))


def test_every_command_with_a_seed_uses_the_shared_checked_option():
    names = _seeded_commands()
    assert {"swd", "msssim", "fid", "is", "kid", "pr", "all", "stats", "leaderboard"} <= set(names)
    for name in names:
        (param,) = [p for p in main.commands[name].params if "--seed" in p.opts]
        assert param.callback is not None and param.callback.__name__ == "check_seed_option", name


@pytest.mark.parametrize("seed", ["-1", str(2 ** 32), str(2 ** 63)])
def test_a_seed_out_of_range_is_a_usage_error_on_every_command(sets, tmp_path, opened, seed):
    for name in _seeded_commands():
        args = (command(name, sets, tmp_path, "--seed", seed) if name in
                ("swd", "fid", "kid", "pr", "all", "msssim", "is", "stats", "leaderboard")
                else [name, *sets, "-q", "--seed", seed])
        res = CliRunner().invoke(main, args)
        assert res.exit_code == 2, (name, res.output)
        line = one_line(res)
        assert "--seed" in line and seed in line and "4294967295" in line, (name, line)
    assert opened == []


@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_output_that_is_a_device_or_fifo_is_a_usage_error_before_reading(sets, tmp_path, opened, kind):
    # Run as root, the temp-and-rename write would have replaced /dev/null with a JSON file.
    if kind == "fifo":
        target = str(tmp_path / "pipe")
        os.mkfifo(target)
    else:
        target = os.devnull
    for args in (["swd", *sets, "-o", target], command("stats", sets, tmp_path, "-o", target)):
        res = CliRunner().invoke(main, args)
        assert res.exit_code == 2 and target in one_line(res), args
    assert opened == [] and os.path.exists(target) and not os.path.isfile(target)
