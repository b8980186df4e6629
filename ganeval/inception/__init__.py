"""The 2015-12-05 Inception network, its TF1 resize, and its weight files."""
from .network import InceptionV3FID
from .weights import WeightsInfo, load_inception

__all__ = ["InceptionV3FID", "WeightsInfo", "load_inception"]
