"""LPIPS-VGG16 (Zhang et al. 2018, v0.1): the perceptual distance of Perceptual Path Length.

`network` is ganeval's own LPIPS: torchvision's VGG16 convolutions up to relu5_3 (five taps:
relu1_2, relu2_2, relu3_3, relu4_3, relu5_3), LPIPS' input scaling layer, unit-normalised
features and the five learned 1x1 linear layers.  `weights` finds and checks the two files it
needs: the VGG16 backbone (torchvision's ``vgg16-397923af.pth`` layout, from a local file:
``--lpips-weights`` / ``$GANEVAL_LPIPS_WEIGHTS`` / the torch hub cache) and the linear layers
shipped in the ``lpips`` wheel (``lpips/weights/v0.1/vgg.pth``), located without importing
``lpips`` (it imports torchvision).  Both are read with ``torch.load(weights_only=True)`` and
their sha256 is recorded in every result.
"""
from __future__ import annotations

from .network import LPIPS
from .weights import LPIPSWeightsInfo, load_lpips

__all__ = ["LPIPS", "LPIPSWeightsInfo", "load_lpips"]
