"""The 2015-12-05 TensorFlow Inception graph used by FID and IS, as a torch module.

Layout and parameter names follow torchvision's InceptionV3, so torch-fidelity's weights file
loads as it is.  The graph differs from torchvision's model where the FID graph does:

* the average pools inside the 35x35, 17x17 and first 8x8 blocks exclude padding from the
  average (TF's 'SAME' average pooling), and the last 8x8 block max-pools its pool branch;
* batch norm has epsilon 0.001 and no scale (its weight is fixed at 1);
* the classifier has 1008 outputs (1000 classes and 8 unused), read with and without bias.

`spatial` taps sFID's features on the way: the TF graph's ``mixed_6/conv`` (``Mixed_6d.branch1x1``
here), first 7 channels, NHWC order; it stops there, and pool3's path runs as before.

Input is uint8 RGB NCHW of any size, resized to 299x299 and normalised by an Inception
protocol (`ganeval.inception.protocol`; by default TF1's bilinear resize and (x - 128) / 128),
and run in float32.

Speed: in eval mode each convolution's batch norm is folded into the convolution's weight and
bias (`InceptionV3FID.fuse_`, which ``eval()`` calls; in float64, then cast), and on CPU the
convolution, bias and ReLU run as one oneDNN call: two passes over every activation fewer.
pool3 moves by float rounding only (a few 1e-6 of its scale).  The folded tensors are
non-persistent buffers, so ``state_dict()`` / ``load_state_dict()`` keep the layout above;
loading weights or ``train()`` drops them, and `unfuse_` restores conv -> batch norm -> ReLU.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..device import exact_matmul
from .protocol import get_protocol

NUM_LOGITS = 1008
# sFID (Nash et al. 2021): 7 of the 192 channels of 'mixed_6/conv', 17x17 each at 299x299 input.
SPATIAL_CHANNELS = 7
SPATIAL_DIM = SPATIAL_CHANNELS * 17 * 17


_POINTWISE_OK: bool | None = None


def _pointwise_ok() -> bool:
    """Whether oneDNN's fused conv+bias+ReLU (a private op of CPU torch builds) is here and right.

    Probed once per process on a small input against the composed ops, so a torch build that
    lacks the op, or computes something else with it, falls back to ``conv2d`` + ``relu_``.
    """
    global _POINTWISE_OK
    if _POINTWISE_OK is None:
        try:
            g = torch.Generator().manual_seed(0)
            x = torch.randn(2, 8, 9, 9, generator=g).contiguous(memory_format=torch.channels_last)
            w, b = torch.randn(16, 8, 3, 3, generator=g), torch.randn(16, generator=g)
            got = torch.ops.mkldnn._convolution_pointwise(x, w, b, [1, 1], [2, 2], [1, 1], 1, "relu", [None], "")
            want = F.relu(F.conv2d(x, w, b, stride=2, padding=1))
            _POINTWISE_OK = bool(torch.backends.mkldnn.is_available()) and torch.allclose(got, want, atol=1e-4)
        except Exception:  # noqa: BLE001 - any failure means: do not use it
            _POINTWISE_OK = False
    return _POINTWISE_OK


def _drop_fused(module: "BasicConv2d", _incompatible_keys) -> None:
    module.unfuse_()  # new weights: the folded copy of the old ones must not be used


class BasicConv2d(nn.Module):
    """conv (no bias) -> batch norm (eps 0.001) -> ReLU; `fuse_` folds the batch norm away."""

    def __init__(self, cin: int, cout: int, kernel, stride=1, padding=0):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=0.001)
        # The folded convolution; not in the state dict, dropped whenever weights are loaded.
        self.register_buffer("fused_weight", None, persistent=False)
        self.register_buffer("fused_bias", None, persistent=False)
        self.register_load_state_dict_post_hook(_drop_fused)

    @torch.no_grad()
    def fuse_(self) -> "BasicConv2d":
        """Fold the (eval-mode) batch norm into the convolution: w * s, beta - mean * s with
        s = gamma / sqrt(var + eps), computed in float64 and cast to the weight's dtype and layout."""
        w, bn = self.conv.weight, self.bn
        f64 = dict(device="cpu", dtype=torch.float64)  # float64 on the host: MPS has none
        scale = bn.weight.to(**f64) / torch.sqrt(bn.running_var.to(**f64) + bn.eps)
        weight = w.detach().to(**f64) * scale.view(-1, 1, 1, 1)
        bias = bn.bias.to(**f64) - bn.running_mean.to(**f64) * scale
        self.fused_weight = torch.empty_like(w, requires_grad=False).copy_(weight)  # keeps w's memory format
        self.fused_bias = bias.to(w.device, w.dtype)
        return self

    def unfuse_(self) -> "BasicConv2d":
        self.fused_weight = self.fused_bias = None
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.fused_weight is None or self.training:
            return F.relu(self.bn(self.conv(x)))
        c = self.conv
        if (x.device.type == "cpu" and x.dtype == torch.float32 and not torch.is_grad_enabled()
                and torch.backends.mkldnn.enabled and _pointwise_ok()):
            return torch.ops.mkldnn._convolution_pointwise(
                x, self.fused_weight, self.fused_bias, list(c.padding), list(c.stride), list(c.dilation), c.groups,
                "relu", [None], "")
        return F.relu_(F.conv2d(x, self.fused_weight, self.fused_bias, c.stride, c.padding, c.dilation, c.groups))


def _avg3(x: torch.Tensor) -> torch.Tensor:
    return F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)


class InceptionA(nn.Module):
    def __init__(self, cin: int, pool_features: int):
        super().__init__()
        self.branch1x1 = BasicConv2d(cin, 64, 1)
        self.branch5x5_1 = BasicConv2d(cin, 48, 1)
        self.branch5x5_2 = BasicConv2d(48, 64, 5, padding=2)
        self.branch3x3dbl_1 = BasicConv2d(cin, 64, 1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, 3, padding=1)
        self.branch_pool = BasicConv2d(cin, pool_features, 1)

    def forward(self, x):
        return torch.cat([
            self.branch1x1(x),
            self.branch5x5_2(self.branch5x5_1(x)),
            self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
            self.branch_pool(_avg3(x))], 1)


class InceptionB(nn.Module):
    def __init__(self, cin: int):
        super().__init__()
        self.branch3x3 = BasicConv2d(cin, 384, 3, stride=2)
        self.branch3x3dbl_1 = BasicConv2d(cin, 64, 1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, 3, stride=2)

    def forward(self, x):
        return torch.cat([
            self.branch3x3(x),
            self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
            F.max_pool2d(x, 3, stride=2)], 1)


class InceptionC(nn.Module):
    def __init__(self, cin: int, c7: int):
        super().__init__()
        self.branch1x1 = BasicConv2d(cin, 192, 1)
        self.branch7x7_1 = BasicConv2d(cin, c7, 1)
        self.branch7x7_2 = BasicConv2d(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7_3 = BasicConv2d(c7, 192, (7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = BasicConv2d(cin, c7, 1)
        self.branch7x7dbl_2 = BasicConv2d(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = BasicConv2d(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = BasicConv2d(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = BasicConv2d(c7, 192, (1, 7), padding=(0, 3))
        self.branch_pool = BasicConv2d(cin, 192, 1)

    def forward(self, x):
        dbl = self.branch7x7dbl_1(x)
        for layer in (self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4, self.branch7x7dbl_5):
            dbl = layer(dbl)
        return torch.cat([
            self.branch1x1(x),
            self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x))),
            dbl,
            self.branch_pool(_avg3(x))], 1)


class InceptionD(nn.Module):
    def __init__(self, cin: int):
        super().__init__()
        self.branch3x3_1 = BasicConv2d(cin, 192, 1)
        self.branch3x3_2 = BasicConv2d(192, 320, 3, stride=2)
        self.branch7x7x3_1 = BasicConv2d(cin, 192, 1)
        self.branch7x7x3_2 = BasicConv2d(192, 192, (1, 7), padding=(0, 3))
        self.branch7x7x3_3 = BasicConv2d(192, 192, (7, 1), padding=(3, 0))
        self.branch7x7x3_4 = BasicConv2d(192, 192, 3, stride=2)

    def forward(self, x):
        b7 = self.branch7x7x3_4(self.branch7x7x3_3(self.branch7x7x3_2(self.branch7x7x3_1(x))))
        return torch.cat([self.branch3x3_2(self.branch3x3_1(x)), b7, F.max_pool2d(x, 3, stride=2)], 1)


class InceptionE(nn.Module):
    def __init__(self, cin: int, max_pool: bool):
        super().__init__()
        self.max_pool = max_pool  # the graph's last block max-pools its pool branch
        self.branch1x1 = BasicConv2d(cin, 320, 1)
        self.branch3x3_1 = BasicConv2d(cin, 384, 1)
        self.branch3x3_2a = BasicConv2d(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3_2b = BasicConv2d(384, 384, (3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = BasicConv2d(cin, 448, 1)
        self.branch3x3dbl_2 = BasicConv2d(448, 384, 3, padding=1)
        self.branch3x3dbl_3a = BasicConv2d(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = BasicConv2d(384, 384, (3, 1), padding=(1, 0))
        self.branch_pool = BasicConv2d(cin, 192, 1)

    def forward(self, x):
        b3 = self.branch3x3_1(x)
        dbl = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        pool = F.max_pool2d(x, 3, stride=1, padding=1) if self.max_pool else _avg3(x)
        return torch.cat([
            self.branch1x1(x),
            self.branch3x3_2a(b3), self.branch3x3_2b(b3),
            self.branch3x3dbl_3a(dbl), self.branch3x3dbl_3b(dbl),
            self.branch_pool(pool)], 1)


class InceptionV3FID(nn.Module):
    """The FID/IS Inception network: ``forward(uint8 images) -> (pool3, logits_unbiased)``.

    `pool3` is the 2048-d average-pooled feature; `logits_unbiased` is ``pool3 @ fc.weight.T``
    (1008-d), the input to IS.  ``logits(pool3)`` adds the bias.  ``has_logits`` is False for
    weight files without the classifier layer; asking those for logits raises.
    """

    def __init__(self) -> None:
        super().__init__()
        self.Conv2d_1a_3x3 = BasicConv2d(3, 32, 3, stride=2)
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, 3)
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, 3, padding=1)
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, 1)
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, 3)
        self.Mixed_5b = InceptionA(192, 32)
        self.Mixed_5c = InceptionA(256, 64)
        self.Mixed_5d = InceptionA(288, 64)
        self.Mixed_6a = InceptionB(288)
        self.Mixed_6b = InceptionC(768, 128)
        self.Mixed_6c = InceptionC(768, 160)
        self.Mixed_6d = InceptionC(768, 160)
        self.Mixed_6e = InceptionC(768, 192)
        self.Mixed_7a = InceptionD(768)
        self.Mixed_7b = InceptionE(1280, max_pool=False)
        self.Mixed_7c = InceptionE(2048, max_pool=True)
        self.fc = nn.Linear(2048, NUM_LOGITS)
        self.has_logits = True
        nn.Module.train(self, False)  # eval mode; folding waits for real weights (see `train`)

    def _convs(self) -> list[BasicConv2d]:
        return [m for m in self.modules() if isinstance(m, BasicConv2d)]

    def fuse_(self) -> "InceptionV3FID":
        """Fold every batch norm into its convolution (see `BasicConv2d.fuse_`); returns self.

        ``eval()`` calls this, so the loader's ``.eval()`` after loading weights is enough.
        Loading weights again, or ``train()``, drops the folded tensors."""
        for m in self._convs():
            m.fuse_()
        return self

    def unfuse_(self) -> "InceptionV3FID":
        """Back to the plain conv -> batch norm -> ReLU computation (until the next `fuse_`)."""
        for m in self._convs():
            m.unfuse_()
        return self

    @property
    def fused(self) -> bool:
        return all(m.fused_weight is not None for m in self._convs())

    def train(self, mode: bool = True) -> "InceptionV3FID":
        super().train(mode)
        if mode:
            self.unfuse_()
        elif not self.fused:
            self.fuse_()
        return self

    def pool3(self, images: torch.Tensor, protocol: str = "tf1") -> torch.Tensor:
        """2048-d pool features of uint8 RGB NCHW images of any size, preprocessed by
        `protocol` (see `ganeval.inception.protocol`)."""
        return self.pool3_prepared(get_protocol(protocol).prepare(images))

    def _stem(self, x: torch.Tensor) -> torch.Tensor:
        x = x.contiguous(memory_format=torch.channels_last)
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = F.max_pool2d(x, 3, stride=2)
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x))
        return F.max_pool2d(x, 3, stride=2)

    def pool3_prepared(self, x: torch.Tensor) -> torch.Tensor:
        """2048-d pool features of already resized and normalised (N, 3, 299, 299) input."""
        x = self._stem(x)
        for block in (self.Mixed_5b, self.Mixed_5c, self.Mixed_5d, self.Mixed_6a, self.Mixed_6b, self.Mixed_6c,
                      self.Mixed_6d, self.Mixed_6e, self.Mixed_7a, self.Mixed_7b, self.Mixed_7c):
            x = block(x)
        return torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)

    def spatial_prepared(self, x: torch.Tensor) -> torch.Tensor:
        """sFID's 2023-d spatial features of prepared (N, 3, 299, 299) input: the TF graph's
        ``mixed_6/conv`` (the ReLU output of the 1x1 branch of the fourth 17x17 block, here
        ``Mixed_6d.branch1x1``), its first `SPATIAL_CHANNELS` channels, flattened in NHWC order
        as the guided-diffusion evaluator's ``spatial[..., :7]`` and reshape do."""
        x = self._stem(x)
        for block in (self.Mixed_5b, self.Mixed_5c, self.Mixed_5d, self.Mixed_6a, self.Mixed_6b, self.Mixed_6c):
            x = block(x)
        x = self.Mixed_6d.branch1x1(x)[:, :SPATIAL_CHANNELS]  # the rest of the network is not needed
        return x.permute(0, 2, 3, 1).reshape(x.shape[0], -1)

    @torch.no_grad()
    def spatial(self, images: torch.Tensor, protocol: str = "tf1") -> torch.Tensor:
        """`spatial_prepared` of uint8 RGB NCHW images of any size, preprocessed by `protocol`."""
        with exact_matmul(images.device):
            return self.spatial_prepared(get_protocol(protocol).prepare(images))

    def logits_unbiased(self, pool3: torch.Tensor) -> torch.Tensor:
        if not self.has_logits:
            from ..errors import WeightsError
            raise WeightsError("these Inception weights have no classifier layer, so IS and logits are unavailable; "
                               "use torch-fidelity's weights-inception-2015-12-05-6726825d.pth")
        return pool3 @ self.fc.weight.T

    def logits(self, pool3: torch.Tensor) -> torch.Tensor:
        return self.logits_unbiased(pool3) + self.fc.bias

    @torch.no_grad()
    def forward(self, images: torch.Tensor, with_logits: bool = True,
                protocol: str = "tf1") -> tuple[torch.Tensor, torch.Tensor | None]:
        # TF32 changes the features in the 4th digit; parity with the reference needs fp32.
        with exact_matmul(images.device):
            f = self.pool3(images, protocol)
            return f, (self.logits_unbiased(f) if with_logits else None)
