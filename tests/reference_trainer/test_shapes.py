"""The built-in shapes set: seeded, balanced, anti-aliased, and its classifier-free mode check."""
import json

import numpy as np
import pytest

from reference_trainer.dataset import BUILTIN_KINDS, MultiResDataset, build_builtin, builtin_images
from reference_trainer.dataset import main as dataset_main
from reference_trainer.shapes import COLOURS, NUM_MODES, SHAPES, classify, mode_coverage, shapes_images


def test_same_seed_same_images_and_other_seeds_differ():
    a, b = shapes_images(64, 32, seed=3), shapes_images(64, 32, seed=3)
    assert a.dtype == np.uint8 and a.shape == (64, 3, 32, 32)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, shapes_images(64, 32, seed=4))


def test_every_mode_appears_about_equally_often():
    _, f = shapes_images(4096, 8, seed=0, with_factors=True)
    counts = np.bincount(f["shape"] * len(COLOURS) + f["colour"], minlength=NUM_MODES)
    # 4096 draws over 16 modes: 256 expected each, binomial sd about 15.5; 5 sd either side.
    assert counts.min() > 256 - 5 * 15.5 and counts.max() < 256 + 5 * 15.5


def test_edges_are_anti_aliased_and_the_shape_holds_its_palette_colour():
    from reference_trainer.shapes import _coverage
    # One of each shape, a little off the pixel grid (an edge exactly on it would be sharp).
    at = np.full(4, 0.513)
    cov = _coverage(np.arange(4), at, at, np.full(4, 0.25), 32)
    for k, c in enumerate(cov):
        assert (c == 1).any() and (c == 0).any(), SHAPES[k]               # interior and outside
        edge = (c > 0) & (c < 1)
        assert edge.sum() >= 8 and len(np.unique(c[edge])) >= 4, SHAPES[k]  # graded, not binary
    # The ring's centre is outside the shape; the disc's is inside.
    assert cov[SHAPES.index("ring"), 16, 16] == 0 and cov[SHAPES.index("disc"), 16, 16] == 1
    x, f = shapes_images(32, 32, seed=1, with_factors=True)
    palette = np.array(list(COLOURS.values()))
    for img, c in zip(x, f["colour"]):
        exact = (np.abs(img.transpose(1, 2, 0).astype(int) - palette[c]).max(axis=2) == 0).sum()
        assert exact >= 20          # the shape's interior is exactly its palette colour


@pytest.mark.parametrize("res", [32, 64])
def test_the_classifier_recovers_the_known_factors_of_real_images(res):
    x, f = shapes_images(1024, res, seed=11, with_factors=True)
    truth = f["shape"] * len(COLOURS) + f["colour"]
    assert (classify(x) == truth).mean() >= 0.99
    cov = mode_coverage(x)
    assert cov["modes_covered"] == NUM_MODES and cov["recognised"] >= 0.99


def test_no_shape_two_colours_or_a_colour_wash_are_not_recognised():
    grey = np.full((1, 3, 32, 32), 128, np.uint8)
    wash = np.zeros((1, 3, 32, 32), np.uint8)
    wash[0, 0] = 220                                           # the whole image red
    two = shapes_images(1, 32, seed=5).copy()
    two[0, :, :4, :4] = np.array([40, 80, 220])[:, None, None]  # a blue corner beside any shape
    two[0, :, -4:, -4:] = np.array([40, 180, 60])[:, None, None]  # and a green one
    noise = np.random.default_rng(0).integers(0, 256, (1, 3, 32, 32), dtype=np.uint8)
    assert classify(np.concatenate([grey, wash, noise])).tolist() == [-1, -1, -1]
    assert mode_coverage(grey)["modes_covered"] == 0


def test_mode_coverage_counts_a_collapsed_generator_as_one_mode():
    x, f = shapes_images(512, 32, seed=2, with_factors=True)
    one = x[(f["shape"] == SHAPES.index("ring")) & (f["colour"] == 0)]
    cov = mode_coverage(np.repeat(one, 8, axis=0))
    assert cov["modes_covered"] == 1 and cov["counts"]["red-ring"] == cov["num_images"]


def test_builtin_kinds_through_the_cli(tmp_path):
    for kind in BUILTIN_KINDS:
        assert dataset_main(["builtin", str(tmp_path / kind), "--resolution", "16", "--num", "8", "--kind", kind]) == 0
        ds = MultiResDataset(tmp_path / kind)
        assert np.array_equal(ds.levels[16], builtin_images(16, 8, 0, kind))
        assert json.loads((tmp_path / kind / "manifest.json").read_text())["source"] == f"builtin:{kind}:seed=0"
    assert not np.array_equal(MultiResDataset(tmp_path / "shapes").levels[16], MultiResDataset(tmp_path / "photos").levels[16])
    assert dataset_main(["builtin", str(tmp_path / "x"), "--kind", "faces"]) == 2


def test_a_cache_of_another_kind_is_rebuilt_not_reused(tmp_path):
    build_builtin(tmp_path / "d", 8, 8, kind="photos")
    build_builtin(tmp_path / "d", 8, 8, kind="shapes")
    assert np.array_equal(MultiResDataset(tmp_path / "d").levels[8], shapes_images(8, 8, 0))
