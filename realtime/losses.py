"""Perceptual losses (Gatys et al. 2016; Johnson et al. 2016): Gram style loss, feature content loss, TV."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from realtime.vgg import VGG19Features

# Style taps as in Gatys et al.; content at relu4_2 for optimisation, relu2_2 for fast networks (Johnson).
GATYS_STYLE = ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]
GATYS_CONTENT = "relu4_2"
TRAIN_STYLE = ["relu1_1", "relu2_1", "relu3_1", "relu4_1"]
TRAIN_CONTENT = "relu2_2"


def gram(features: torch.Tensor) -> torch.Tensor:
    """Gram matrix normalised by C*H*W so layers and image sizes are comparable."""
    n, c, h, w = features.shape
    f = features.reshape(n, c, h * w)
    return torch.bmm(f, f.transpose(1, 2)) / (c * h * w)


def total_variation(image: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference of neighbouring pixels, in 0-255 units."""
    dh = (image[:, :, 1:, :] - image[:, :, :-1, :]).abs().mean()
    dw = (image[:, :, :, 1:] - image[:, :, :, :-1]).abs().mean()
    return dh + dw


@dataclass
class LossParts:
    content: torch.Tensor
    style: torch.Tensor
    tv: torch.Tensor
    total: torch.Tensor

    def as_floats(self) -> dict[str, float]:
        return {k: float(getattr(self, k).detach()) for k in ("content", "style", "tv", "total")}


class PerceptualLoss(torch.nn.Module):
    """Style, content and TV losses against one style image, through a frozen VGG19.

    The raw losses are on a unit scale (mean squared feature / Gram differences); the weights bring them
    together. Style is the sum over taps of the squared Gram difference, scaled by 1e-5 so that default
    weights near 1 are meaningful.
    """

    STYLE_SCALE = 1e-5
    CONTENT_SCALE = 1e-3

    def __init__(self, vgg: VGG19Features, style_image: torch.Tensor, style_taps: list[str], content_tap: str,
                 content_weight: float, style_weight: float, tv_weight: float):
        super().__init__()
        self.vgg = vgg
        self.style_taps = style_taps
        self.content_tap = content_tap
        self.content_weight = content_weight
        self.style_weight = style_weight
        self.tv_weight = tv_weight
        with torch.no_grad():
            feats = vgg(style_image)
        for i, tap in enumerate(style_taps):
            self.register_buffer(f"target_gram_{i}", gram(feats[tap]).detach())

    def target_grams(self) -> list[torch.Tensor]:
        return [getattr(self, f"target_gram_{i}") for i in range(len(self.style_taps))]

    def style_loss_of(self, feats: dict[str, torch.Tensor]) -> torch.Tensor:
        total = 0.0
        for tap, target in zip(self.style_taps, self.target_grams()):
            g = gram(feats[tap])
            total = total + F.mse_loss(g, target.expand_as(g), reduction="mean") * target.shape[-1]
        return total * self.STYLE_SCALE  # type: ignore[return-value]

    def content_loss_of(self, feats: dict[str, torch.Tensor], content_feats: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(feats[self.content_tap], content_feats) * self.CONTENT_SCALE

    def content_features(self, content: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.vgg(content)[self.content_tap].detach()

    def forward(self, output: torch.Tensor, content_feats: torch.Tensor) -> LossParts:
        feats = self.vgg(output)
        content = self.content_loss_of(feats, content_feats)
        style = self.style_loss_of(feats)
        tv = total_variation(output)
        total = self.content_weight * content + self.style_weight * style + self.tv_weight * tv
        return LossParts(content, style, tv, total)
