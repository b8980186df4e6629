"""Built-in image sets made from scikit-image's bundled photos: no download, fully seeded.

They serve the demo, the tests and the reference trainer's CPU runs: random square crops of a
few colour photos resized to the target resolution, optionally degraded (blur and noise) to
play the role of a worse generator.
"""
from __future__ import annotations

import numpy as np

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "retina", "hubble_deep_field", "immunohistochemistry")


def _photos() -> list[np.ndarray]:
    from skimage import data

    from ..errors import DataError
    out = []
    for name in PHOTOS:
        try:
            img = getattr(data, name)()
        except Exception:  # some scikit-image versions fetch a few photos over the network
            continue
        if img.ndim == 2:
            img = np.repeat(img[..., None], 3, axis=2)
        out.append(img[..., :3])
    if not out:
        raise DataError("skimage.data: none of the bundled photos could be read (is scikit-image fully "
                        "installed?); use your own images instead")
    return out


def photo_crops(num: int, resolution: int = 64, seed: int = 0, min_frac: float = 0.25,
                blur_sigma: float = 0.0, noise_sigma: float = 0.0, flip: bool = False) -> np.ndarray:
    """`num` random square crops of scikit-image's photos as uint8 NCHW at `resolution`.

    Crop sides are uniform between `min_frac` and 1 of the photo's shorter side; crops are
    resized with PIL's antialiased bilinear filter.  `blur_sigma` (pixels, Gaussian) and
    `noise_sigma` (grey levels) degrade the crops after resizing.  `flip` mirrors half of the
    crops left-right (decided by a second generator, so the crops themselves are the same).
    """
    from PIL import Image
    from scipy.ndimage import gaussian_filter
    rng = np.random.default_rng(seed)
    flips = np.random.default_rng([seed, 1]).random(num) < 0.5 if flip else np.zeros(num, bool)
    photos = _photos()
    out = np.empty((num, 3, resolution, resolution), np.uint8)
    for i in range(num):
        img = photos[rng.integers(len(photos))]
        h, w = img.shape[:2]
        side = int(rng.uniform(min_frac, 1.0) * min(h, w))
        y, x = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
        crop = Image.fromarray(np.ascontiguousarray(img[y:y + side, x:x + side]))
        crop = np.asarray(crop.resize((resolution, resolution), Image.BILINEAR, reducing_gap=2.0), np.float64)
        if blur_sigma:
            crop = gaussian_filter(crop, sigma=(blur_sigma, blur_sigma, 0), mode="mirror")
        if noise_sigma:
            crop = crop + rng.normal(0.0, noise_sigma, crop.shape)
        crop = crop[:, ::-1] if flips[i] else crop
        out[i] = np.clip(np.round(crop), 0, 255).astype(np.uint8).transpose(2, 0, 1)
    return out
