"""Ctrl-C: the trainer and the demo stop with one line and exit code 130, never a traceback."""
import os
import signal
import subprocess
import sys
import time

from conftest import ROOT


def _as_from_a_terminal():
    # A shell starts commands with SIGINT handled and unblocked; inside the test suite an earlier
    # test can leave it ignored or blocked, which a child would inherit and never see Ctrl-C.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def _ctrl_c_when(cmd, ready, cwd, timeout=120):
    """Run `cmd` in its own process group and send SIGINT to the whole group (as a terminal's
    Ctrl-C does) once `ready()` holds; returns (exit code, stderr)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, preexec_fn=_as_from_a_terminal)
    try:
        deadline = time.time() + timeout
        while time.time() < deadline and not ready() and proc.poll() is None:
            time.sleep(0.2)
        assert proc.poll() is None, proc.stderr.read()
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return proc.returncode, err


def test_ctrl_c_in_train_names_the_last_checkpoint_and_resume(tmp_path):
    cmd = [sys.executable, "-m", "reference_trainer", "train", "--preset", "cpu-tiny", "--out", str(tmp_path),
           "--set", "checkpoint_kimg=0.128", "--set", "total_kimg=1000", "--set", "builtin_num=256",
           "--metrics", "none"]
    code, err = _ctrl_c_when(cmd, lambda: any(tmp_path.glob("*/network-snapshot-*.pt")), tmp_path)
    assert code == 130, err
    assert "Traceback" not in err
    last = [line for line in err.splitlines() if "interrupted" in line]
    assert len(last) == 1 and "--resume" in last[0]
    run_dir = next(tmp_path.glob("0*"))
    assert str(run_dir) in last[0] and "network-snapshot-" in last[0]


def test_ctrl_c_during_the_demo_is_one_line_and_exit_130(tmp_path):
    out = tmp_path / "demo"
    cmd = [sys.executable, "-m", "reference_trainer.demo", "--out", str(out), "--num-real", "256"]
    code, err = _ctrl_c_when(cmd, lambda: any((out / "runs").glob("*/log.jsonl")), tmp_path)
    assert code == 130, err
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("demo interrupted")
