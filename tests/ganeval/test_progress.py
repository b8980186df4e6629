"""Progress bars end at their total: the last state drawn reads 100% and N/N.

tqdm redraws at most every 0.1 s, so a fast last batch used to leave the bar short of its
total (MS-SSIM stopped at 96%), and SWD's distance phase, as long as reading the images
at 16384 of them, drew no bar at all.
"""
import re

import numpy as np

from ganeval.metrics.msssim import ms_ssim
from ganeval.metrics.swd import swd
from ganeval.progress import progress, progress_bar


def last_state(stderr: str, desc: str) -> str:
    """The last line drawn by the bar `desc` (tqdm separates redraws with carriage returns)."""
    states = [s for s in re.split(r"[\r\n]", stderr) if s.startswith(desc + ":")]
    assert states, f"no {desc!r} bar in {stderr!r}"
    return states[-1]


def test_batch_bar_draws_its_final_count(capsys):
    batches = [np.zeros((n, 3, 4, 4)) for n in (64, 64, 64, 64, 44)]  # instantly: inside one redraw interval
    assert len(list(progress(iter(batches), total=300, desc="toy"))) == 5
    state = last_state(capsys.readouterr().err, "toy")
    assert "100%" in state and "300/300" in state


def test_work_bar_draws_its_final_count(capsys):
    with progress_bar(768, unit="dir", desc="work") as advance:
        for _ in range(6):
            advance(128)
    state = last_state(capsys.readouterr().err, "work")
    assert "100%" in state and "768/768" in state


def test_quiet_bars_draw_nothing(capsys):
    with progress_bar(10, desc="work", quiet=True) as advance:
        advance(10)
    list(progress(iter([[1, 2]]), total=2, desc="toy", quiet=True))
    assert capsys.readouterr().err == ""


def test_msssim_bar_ends_at_100_percent(capsys):
    images = (np.random.RandomState(0).rand(300, 3, 32, 32) * 255).astype(np.uint8)
    ms_ssim(images, num_pairs=150, quiet=False, batch_size=64)
    state = last_state(capsys.readouterr().err, "ms-ssim")
    assert "100%" in state and "300/300" in state


def test_swd_distance_phase_has_a_bar_that_ends_at_100_percent(capsys):
    rng = np.random.RandomState(0)
    real, fake = ((rng.rand(2, 96, 3, 32, 32) * 255).astype(np.uint8))
    swd(real, fake, num_images=96, quiet=False)
    err = capsys.readouterr().err
    state = last_state(err, "swd distances")
    # Two levels at 32x32 (32 and 16), 4 x 128 directions each.
    assert "100%" in state and "1024/1024" in state
    for desc in ("swd real", "swd fake"):
        assert "96/96" in last_state(err, desc)


def test_swd_stays_silent_when_quiet(capsys):
    rng = np.random.RandomState(0)
    real, fake = ((rng.rand(2, 32, 3, 16, 16) * 255).astype(np.uint8))
    swd(real, fake, num_images=32, quiet=True)
    assert "swd" not in capsys.readouterr().err
