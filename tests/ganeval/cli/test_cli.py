import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from conftest import write_pngs
from ganeval.cli import main


@pytest.fixture
def dirs(tmp_path, crops):
    return str(write_pngs(crops[0][:16], tmp_path / "a")), str(write_pngs(crops[1][:16], tmp_path / "b"))


def test_swd_json_and_output_file(dirs, tmp_path):
    out = tmp_path / "r" / "swd.json"
    res = CliRunner().invoke(main, ["swd", *dirs, "--json", "-q", "-o", str(out), "--seed", "1"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["metric"] == "swd" and data["seed"] == 1 and data["num_images"] == {"real": 16, "fake": 16}
    assert json.loads(out.read_text()) == data


def test_api_and_cli_agree(dirs, crops):
    from ganeval import swd
    res = CliRunner().invoke(main, ["swd", *dirs, "--json", "-q"])
    assert json.loads(res.stdout)["values"] == swd(crops[0][:16], crops[1][:16]).values


def test_msssim_table(dirs):
    res = CliRunner().invoke(main, ["msssim", dirs[0], "-q", "--num-pairs", "4"])
    assert res.exit_code == 0 and "MS-SSIM" in res.output and "pairs=4" in res.output


def test_data_error_is_one_line_exit_1(tmp_path):
    res = CliRunner().invoke(main, ["msssim", str(tmp_path / "missing"), "-q"])
    assert res.exit_code == 1
    assert res.stderr.strip().count("\n") == 0 and "missing: no such file" in res.stderr


def test_usage_error_exit_2(dirs):
    assert CliRunner().invoke(main, ["swd", dirs[0]]).exit_code == 2
    assert CliRunner().invoke(main, ["swd", *dirs, "--num-images", "0"]).exit_code == 2


def test_debug_shows_the_traceback(tmp_path):
    res = CliRunner().invoke(main, ["msssim", str(tmp_path / "missing"), "--debug"])
    assert res.exit_code != 0 and res.exception is not None and "no such file" in str(res.exception)


def test_console_script_subprocess(dirs):
    exe = [sys.executable, "-m", "ganeval"]
    p = subprocess.run(exe + ["msssim", dirs[0], "--json", "-q"], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert 0 < json.loads(p.stdout)["values"]["MS-SSIM"] < 1
    p = subprocess.run(exe + ["swd", dirs[0], dirs[0] + "/nope"], capture_output=True, text=True, timeout=120)
    assert p.returncode == 1 and "Traceback" not in p.stderr and "nope" in p.stderr
