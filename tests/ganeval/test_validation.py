"""Arguments of the Python API that would give a number ganeval cannot stand behind are refused
up front: seeds out of range, fractional counts, malformed value ranges, empty or short
generator batches, MS-SSIM batches of another size, zero schedule intervals, and Inception
Score splits too small to depend on their images."""
import math

import numpy as np
import pytest
import torch

import ganeval
from ganeval.errors import DataError, UsageError
from ganeval.hooks import MSSSIM, SWD, Evaluator, every
from ganeval.io.sources import open_source, to_uint8
from ganeval.options import SEED_LIMIT, RunOptions, check_seed


@pytest.fixture(scope="module")
def images():
    return np.random.RandomState(0).randint(0, 256, (8, 3, 32, 32), dtype=np.uint8)


# -- item 9: seeds ---------------------------------------------------------------------------

BAD_SEEDS = [-1, SEED_LIMIT, 2 ** 63, 2 ** 64, 2.5, True, "3"]


@pytest.mark.parametrize("seed", BAD_SEEDS)
def test_a_seed_out_of_range_is_a_usage_error_everywhere_in_the_api(images, seed):
    calls = [lambda: ganeval.swd(images, images, seed=seed),
             lambda: ganeval.ms_ssim(images, seed=seed),
             lambda: ganeval.evaluate(images, images, ["swd"], seed=seed),
             lambda: SWD(seed=seed), lambda: MSSSIM(seed=seed),
             lambda: Evaluator(images, ("msssim",), num_images=4, seed=seed, latent_dim=8, device="cpu"),
             lambda: open_source(images, num_images=4, subset="random", seed=seed),
             lambda: RunOptions(seed=seed)]
    for call in calls:
        with pytest.raises(UsageError, match="seed"):
            call()


def test_the_seed_range_is_what_every_consumer_takes(images):
    # KID draws its subsets with numpy's legacy RandomState (torch-fidelity's convention), which
    # takes 32-bit seeds and no more: the limit is that one, checked against numpy itself.
    np.random.RandomState(SEED_LIMIT - 1)
    with pytest.raises(ValueError):
        np.random.RandomState(SEED_LIMIT)
    assert check_seed(np.int64(SEED_LIMIT - 1)) == SEED_LIMIT - 1
    top = ganeval.swd(images, images[::-1].copy(), seed=SEED_LIMIT - 1, repeats=2)
    assert math.isfinite(top.values[top.primary])
    from ganeval.metrics.kid import kid_from_features
    feats = torch.randn(6, 4, generator=torch.Generator().manual_seed(0))
    assert math.isfinite(kid_from_features(feats, feats + 1, num_subsets=2, subset_size=3, seed=SEED_LIMIT - 1)[0])


# -- item 13: Inception Score splits ---------------------------------------------------------

def test_a_split_of_one_image_scores_exactly_one_so_it_is_refused():
    from ganeval.metrics.isc import MIN_IMAGES_PER_SPLIT, inception_score_from_logits
    logits = torch.randn(20, 1008, generator=torch.Generator().manual_seed(1)) * 5
    # Why: with one image per split, p(y) is that image's p(y|x), so KL = 0 and exp(0) = 1
    # whatever the images are (the closed form, computed here without the library).
    p = logits[:1].double().softmax(1)
    assert float((p * (p.log() - p.mean(0, keepdim=True).log())).sum(1).mean().exp()) == 1.0
    with pytest.raises(DataError, match=r"at least 40 images.*2 per split"):
        inception_score_from_logits(logits, splits=20)
    with pytest.raises(DataError, match="at least 22 images"):
        inception_score_from_logits(logits, splits=11)  # the smallest split would hold one image
    mean, std = inception_score_from_logits(logits, splits=20 // MIN_IMAGES_PER_SPLIT)
    assert mean > 1 and std > 0  # two images per split: the score depends on the images
    for bad in (0, 2.5, True):
        with pytest.raises(UsageError, match="splits"):
            inception_score_from_logits(logits, splits=bad)


# -- item 20: input_range, counts, generators, MS-SSIM sizes, every() -------------------------

BAD_RANGES = [(1, -1), (0, 0), (float("nan"), 1), (0, float("inf")), (0,), (0, 1, 2), "01", ("a", "b"),
              (True, 2), 5]


@pytest.mark.parametrize("bad", BAD_RANGES)
def test_a_malformed_input_range_is_a_usage_error(images, bad):
    floats = images.astype(np.float32) / 255
    with pytest.raises(UsageError, match="input_range"):
        to_uint8(floats, bad)
    with pytest.raises(UsageError, match="input_range"):
        ganeval.ms_ssim(floats, input_range=bad)
    with pytest.raises(UsageError, match="input_range"):
        MSSSIM().update(torch.from_numpy(floats), input_range=bad)
    with pytest.raises(UsageError, match="input_range"):
        Evaluator(images, ("msssim",), num_images=4, latent_dim=8, input_range=bad, device="cpu")


def test_good_input_ranges_still_map_exactly(images):
    x = torch.from_numpy(images)
    for lo, hi in ((-1, 1), (0, 1), (0, 255), (-1.0, 1.0), [0, 1], np.array([0.0, 255.0])):
        floats = x.double() / 255 * (float(hi) - float(lo)) + float(lo)
        assert torch.equal(to_uint8(floats, tuple(np.asarray([lo, hi]).tolist())), x)


@pytest.mark.parametrize("count", [2.5, 0, -3, True, "8"])
def test_a_fractional_or_non_positive_image_count_is_refused(images, count):
    with pytest.raises(UsageError, match="num_images"):
        ganeval.swd(images, images, num_images=count)
    with pytest.raises(UsageError, match="num_images"):
        ganeval.evaluate(images, images, ["msssim"], num_images=count)
    with pytest.raises(UsageError, match="num_images"):
        Evaluator(images, ("msssim",), num_images=count, latent_dim=8, device="cpu")
    with pytest.raises(UsageError, match="num_pairs"):
        ganeval.ms_ssim(images, num_pairs=count)


def test_a_generator_that_gives_empty_batches_is_a_clear_error(images):
    calls = []

    def empty(n):
        calls.append(n)
        if len(calls) > 50:  # without the check the source asks again forever
            raise AssertionError("asked for images again and again")
        return torch.zeros(0, 3, 32, 32, dtype=torch.uint8)
    with pytest.raises(DataError, match="empty batch"):
        ganeval.swd(images, empty, num_images=8)
    assert len(calls) == 1
    with pytest.raises(DataError, match="empty batch after 4 images"):
        list(open_source(iter([images[:4], images[:0], images[4:]])).batches(4))


def test_evaluator_refuses_a_generator_that_returns_fewer_images_than_latents(images):
    ev = Evaluator(images, ("msssim",), num_images=8, batch_size=4, latent_dim=8, device="cpu")
    pool = torch.from_numpy(images)
    with pytest.raises(DataError, match="3 images for a batch of 4 latents"):
        ev(lambda z: pool[: z.shape[0] - 1])
    with pytest.raises(DataError, match="0 images for a batch of 4 latents"):
        ev(lambda z: pool[:0])
    assert ev(lambda z: pool[: z.shape[0]])["msssim"].num_images == {"images": 8, "pairs": 4}


def test_msssim_update_with_another_image_size_is_a_data_error(images):
    big, small = torch.from_numpy(images[:3]), torch.from_numpy(images[:3, :, :16, :16].copy())
    m = MSSSIM()
    m.update(big)  # an odd image waits in the queue for its pair
    with pytest.raises(DataError, match="16x16 images after 32x32"):
        m.update(small)
    m = MSSSIM()
    m.update(torch.from_numpy(images[:4]))
    m.fake.flush()  # the 32x32 pairs are already summed: a 16x16 pair must not join their average
    with pytest.raises(DataError, match="16x16 images after 32x32"):
        m.update(torch.from_numpy(images[:4, :, :16, :16].copy()))
    m.reset()
    m.update(torch.from_numpy(images[:4, :, :16, :16].copy()))  # after reset() another size is fine
    a, b = MSSSIM(), MSSSIM()
    a.update(big[:2])
    b.update(small[:2])
    with pytest.raises(DataError, match="merge"):
        a.merge(b)


@pytest.mark.parametrize("kw", [dict(kimg=0), dict(kimg=-5), dict(kimg=float("nan")), dict(kimg=float("inf")),
                                dict(steps=0), dict(steps=2.5), dict(steps=-1), dict(kimg="50")])
def test_every_refuses_an_interval_that_is_never_or_always_due(kw):
    with pytest.raises(UsageError, match="every"):
        every(**kw)


def test_every_still_counts_intervals():
    due = every(kimg=0.5)
    assert [due(k) for k in (0.0, 0.2, 0.5, 0.9, 1.0, 2.6)] == [True, False, True, False, True, True]
    due = every(steps=3, first=False)
    assert [due(step=s) for s in range(7)] == [False, False, False, True, False, False, True]
