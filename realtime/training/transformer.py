"""The Johnson et al. 2016 feed-forward style network, with the later fixes everyone adopted.

Reflection padding in every conv (no dark borders), instance normalisation (Ulyanov et al. 2016),
nearest-neighbour upsampling followed by a conv instead of transposed convs (no checkerboard; Odena et al.
2016). `width` is the first layer's channel count (32 in the paper); 16 gives a 4x cheaper net for CPUs.

`arch="lite"` is the first CPU network: it leaves full resolution at once, works at 1/8 size with
depthwise-separable residual blocks, and spends about 1/40 of the full net's multiply-adds per pixel; it
draws at 1/8 resolution, so faces and small objects turn into tiles.
`arch="lite4"` is the CPU network distilled from a full one (`realtime distill`): separable blocks at 1/4
size, a separable decoder, and a 1x1 path from the photo itself at full resolution, so edges stay sharp.
`arch="fast"` is lite4's shape made for onnxruntime's CPU kernels, about twice as fast at the same
multiply-adds (benchmarks/cpu_arch.py): the convs pad with zeros themselves (no Pad operators), instance
norm only inside the residual blocks at 1/4 size (the encoder and decoder convs keep their biases), and a
decoder of 1x1 convs and depth-to-space steps whose last 3x3 conv runs at half size, so nothing but the
photo's own 1x1 path runs at full size. Trained by distillation, it learns its own borders.

I/O convention, the same as the ONNX files we export: RGB float (N, 3, H, W), values 0-255 in and out.
Any H and W work: the input is reflection-padded to a multiple of 4 and the output cropped back.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

PAD_MULTIPLE = 4
ARCHS = ("full", "lite", "lite4", "fast")
ARCH_DEFAULTS = {"full": (16, 5), "lite": (16, 4), "lite4": (16, 4), "fast": (12, 4)}  # full at 16: the width jcjohnson ships, 4x cheaper than 32


class ConvLayer(nn.Sequential):
    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int = 1, upsample: int = 1):
        layers: list[nn.Module] = []
        if upsample > 1:
            layers.append(nn.Upsample(scale_factor=upsample, mode="nearest"))
        layers += [nn.ReflectionPad2d(kernel // 2), nn.Conv2d(in_ch, out_ch, kernel, stride)]
        super().__init__(*layers)


class ConvNormReLU(nn.Sequential):
    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int = 1, upsample: int = 1):
        super().__init__(ConvLayer(in_ch, out_ch, kernel, stride, upsample),
                         nn.InstanceNorm2d(out_ch, affine=True), nn.ReLU(inplace=True))


class ResidualBlock(nn.Module):
    def __init__(self, ch: int):
        super().__init__()
        self.body = nn.Sequential(
            ConvLayer(ch, ch, 3), nn.InstanceNorm2d(ch, affine=True), nn.ReLU(inplace=True),
            ConvLayer(ch, ch, 3), nn.InstanceNorm2d(ch, affine=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class SeparableConv(nn.Sequential):
    """Depthwise 3x3 then pointwise 1x1: about 1/8 the cost of a full 3x3 conv at 64 channels."""

    def __init__(self, ch: int):
        super().__init__(nn.ReflectionPad2d(1), nn.Conv2d(ch, ch, 3, groups=ch), nn.Conv2d(ch, ch, 1))


class SeparableResidualBlock(nn.Module):
    def __init__(self, ch: int):
        super().__init__()
        self.body = nn.Sequential(
            SeparableConv(ch), nn.InstanceNorm2d(ch, affine=True), nn.ReLU(inplace=True),
            SeparableConv(ch), nn.InstanceNorm2d(ch, affine=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class SeparableUp(nn.Sequential):
    """Nearest upsampling, then a depthwise 3x3 and a pointwise conv to fewer channels: a decoder step at
    about 1/8 the cost of upsample + full 3x3 conv."""

    def __init__(self, in_ch: int, out_ch: int):
        super().__init__(nn.Upsample(scale_factor=2, mode="nearest"), nn.ReflectionPad2d(1),
                         nn.Conv2d(in_ch, in_ch, 3, groups=in_ch), nn.Conv2d(in_ch, out_ch, 1),
                         nn.InstanceNorm2d(out_ch, affine=True), nn.ReLU(inplace=True))


class ZeroPadSeparableBlock(nn.Module):
    """SeparableResidualBlock with the convs' own zero padding: onnxruntime runs it without Pad operators."""

    def __init__(self, ch: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(ch, ch, 3, padding=1, groups=ch), nn.Conv2d(ch, ch, 1), nn.InstanceNorm2d(ch, affine=True),
            nn.ReLU(inplace=True),
            nn.Conv2d(ch, ch, 3, padding=1, groups=ch), nn.Conv2d(ch, ch, 1), nn.InstanceNorm2d(ch, affine=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class TransformerNet(nn.Module):
    """Johnson's network (arch "full") or a CPU network (arch "lite", "lite4", "fast"), same I/O."""

    def __init__(self, width: int = 32, blocks: int = 5, arch: str = "full"):
        super().__init__()
        if arch not in ARCHS:
            raise ValueError(f"arch {arch!r}: use one of {', '.join(ARCHS)}")
        self.width = width
        self.blocks = blocks
        self.arch = arch
        w = width
        self.skip: nn.Module | None = None
        if arch == "fast":
            self.net = nn.Sequential(
                nn.Conv2d(3, w, 3, 2, padding=1), nn.ReLU(inplace=True),
                nn.Conv2d(w, 4 * w, 3, 2, padding=1), nn.ReLU(inplace=True),
                *[ZeroPadSeparableBlock(4 * w) for _ in range(blocks)],
                nn.Conv2d(4 * w, 8 * w, 1), nn.PixelShuffle(2), nn.ReLU(inplace=True),  # to 1/2 size, 2w channels
                nn.Conv2d(2 * w, 2 * w, 3, padding=1, groups=2 * w), nn.Conv2d(2 * w, 2 * w, 1), nn.ReLU(inplace=True),
                nn.Conv2d(2 * w, 3 * 4, 3, padding=1), nn.PixelShuffle(2),  # each half-size pixel draws a 2x2 block
            )
            self.skip = nn.Conv2d(3, 3, 1)
            return
        if arch == "lite4":
            # Down to 1/4 size in two strided convs; separable blocks there; a separable decoder; the photo
            # reaches the output through a 1x1 conv at full resolution (its edges, not a 1/8 tile grid).
            self.net = nn.Sequential(
                ConvNormReLU(3, w, 3, stride=2),
                ConvNormReLU(w, 4 * w, 3, stride=2),
                *[SeparableResidualBlock(4 * w) for _ in range(blocks)],
                SeparableUp(4 * w, 2 * w),
                SeparableUp(2 * w, w),
                ConvLayer(w, 3, 3),
            )
            self.skip = nn.Conv2d(3, 3, 1)
            return
        if arch == "lite":
            # Strided 3x3 convs down to 1/8 size; the cheap blocks there see a wide context; upsample+conv back.
            self.net = nn.Sequential(
                ConvNormReLU(3, w, 3, stride=2),
                ConvNormReLU(w, 2 * w, 3, stride=2),
                ConvNormReLU(2 * w, 4 * w, 3, stride=2),
                *[SeparableResidualBlock(4 * w) for _ in range(blocks)],
                ConvNormReLU(4 * w, 2 * w, 3, upsample=2),
                ConvNormReLU(2 * w, w, 3, upsample=2),
                ConvLayer(w, 3, 3, upsample=2),
            )
            return
        self.net = nn.Sequential(
            ConvNormReLU(3, w, 9),
            ConvNormReLU(w, 2 * w, 3, stride=2),
            ConvNormReLU(2 * w, 4 * w, 3, stride=2),
            *[ResidualBlock(4 * w) for _ in range(blocks)],
            ConvNormReLU(4 * w, 2 * w, 3, upsample=2),
            ConvNormReLU(2 * w, w, 3, upsample=2),
            ConvLayer(w, 3, 9),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        multiple = self.pad_multiple
        pad_h = (multiple - h % multiple) % multiple
        pad_w = (multiple - w % multiple) % multiple
        # Always pad (possibly by zero) so the exported graph computes the padding from the input's shape.
        x = F.pad(x, (0, pad_w, 0, pad_h), mode="reflect")
        x = x / 127.5 - 1.0
        y = self.net(x) if self.skip is None else self.net(x) + self.skip(x)
        y = y * 127.5 + 127.5
        return y[..., :h, :w]


    @property
    def pad_multiple(self) -> int:
        return PAD_MULTIPLE * (2 if self.arch == "lite" else 1)


def defaults(arch: str) -> tuple[int, int]:
    """(width, residual blocks) that `realtime train --arch` uses when not given."""
    return ARCH_DEFAULTS[arch]
