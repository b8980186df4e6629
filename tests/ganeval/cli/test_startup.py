"""`ganeval --version`, `--help` and every command's `--help` do not import torch.

Importing torch was most of a 19.6 s `ganeval --version` on a busy machine; the commands
import it when they run.  Each check runs in a fresh interpreter, where nothing else has
imported torch yet.
"""
import subprocess
import sys

from conftest import ROOT

HELP_PAGES = """
import sys
from click.testing import CliRunner
from ganeval.cli import main

runner = CliRunner()
pages = [["--version"], ["--help"]] + [[name, "--help"] for name in sorted(main.commands)]
pages += [["cache", name, "--help"] for name in ("ls", "clear")]
for args in pages:
    result = runner.invoke(main, args)
    assert result.exit_code == 0, (args, result.output)
    assert "torch" not in sys.modules, f"ganeval {' '.join(args)} imported torch"
print(len(pages))
"""


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=ROOT, timeout=300)


def test_help_pages_do_not_import_torch():
    out = _run("-c", HELP_PAGES)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout) >= 14  # every command's page was shown


def test_version_does_not_import_torch():
    out = _run("-X", "importtime", "-m", "ganeval", "--version")
    assert out.returncode == 0 and "0.1.0" in out.stdout
    imported = {line.rsplit("|", 1)[-1].strip() for line in out.stderr.splitlines() if line.startswith("import time")}
    assert "ganeval.cli" in imported and "torch" not in imported


def test_public_api_still_resolves():
    code = ("import ganeval, ganeval.evaluate, inspect; "
            "assert inspect.isfunction(ganeval.evaluate) and inspect.isfunction(ganeval.swd); "
            "from ganeval.metrics import SWD, get_metric; assert isinstance(SWD, type); "
            "assert get_metric('swd').takes('repeats') and not get_metric('msssim').takes('repeats'); "
            "assert get_metric('swd').make(seed=0).__class__.__name__ == 'SWD'; "
            "assert ganeval.ms_ssim.__name__ == 'ms_ssim' and 'open_source' in dir(ganeval)")
    out = _run("-c", code)
    assert out.returncode == 0, out.stderr
