"""Grow a trained network to a wider one that draws the same pictures (Net2WiderNet, Chen et al. 2016).

A 16-wide network that has stopped improving can go on training at width 32 without starting over: each
channel becomes k twins, each twin's outgoing weights are divided by k, so the wider network computes
exactly what the narrow one did (instance norm sees identical twins, so it keeps them identical). Twins
with identical weights would also get identical gradients forever, so their outgoing shares get a small
zero-sum jitter: the picture is unchanged, and training can pull the twins apart into new features.
"""

from __future__ import annotations

import torch
from torch import nn

from .transformer import TransformerNet


def _layers(net: nn.Module) -> list[nn.Module]:
    return [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.InstanceNorm2d))]


def _split_inputs(weight: torch.Tensor, factor: int, jitter: float, generator: torch.Generator) -> torch.Tensor:
    """Each input channel becomes `factor` twins sharing its weight; the shares sum to the original."""
    if factor == 1:
        return weight
    shares = weight.repeat_interleave(factor, dim=1) / factor
    noise = torch.randn(shares.shape, generator=generator) * (jitter * float(weight.std()) / factor)
    grouped = noise.view(shares.shape[0], -1, factor, *shares.shape[2:])
    grouped -= grouped.mean(dim=2, keepdim=True)  # zero-sum over each channel's twins: the output is unchanged
    return shares + grouped.view_as(shares)


def widen(narrow: TransformerNet, width: int, jitter: float = 0.05, seed: int = 0) -> TransformerNet:
    """A `width`-wide copy of `narrow` (same arch and blocks) computing the same function.

    `width` must be a whole multiple of `narrow.width`: twins are whole copies of a channel.
    """
    if width % narrow.width:
        raise ValueError(f"width {width} is not a whole multiple of {narrow.width}")
    wide = TransformerNet(width, narrow.blocks, narrow.arch)
    generator = torch.Generator().manual_seed(seed)
    # Before a depth-to-space step, each channel of the r-times larger picture is a block of r*r of the
    # conv's output channels: twins there are whole blocks.
    layers = list(narrow.net)
    shuffled = {id(conv): step.upscale_factor ** 2 for conv, step in zip(layers, layers[1:])
              if isinstance(conv, nn.Conv2d) and isinstance(step, nn.PixelShuffle)}
    with torch.no_grad():
        for old, new in zip(_layers(narrow), _layers(wide), strict=True):
            if isinstance(old, nn.InstanceNorm2d):
                k = new.num_features // old.num_features
                new.weight.copy_(old.weight.repeat_interleave(k))
                new.bias.copy_(old.bias.repeat_interleave(k))
                continue
            k_out = new.weight.shape[0] // old.weight.shape[0]
            k_in = new.weight.shape[1] // old.weight.shape[1]
            block = shuffled.get(id(old), 1)
            weight = old.weight.unflatten(0, (-1, block)).repeat_interleave(k_out, dim=0).flatten(0, 1)
            new.weight.copy_(_split_inputs(weight, k_in, jitter, generator))
            new.bias.copy_(old.bias.unflatten(0, (-1, block)).repeat_interleave(k_out, dim=0).flatten())
    return wide
