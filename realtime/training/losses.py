"""Perceptual losses (Gatys et al. 2016; Johnson et al. 2016): Gram style loss, feature content loss, TV."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from realtime.training.vgg import VGG19Features

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


def local_chroma(image: torch.Tensor, block: int = 8) -> torch.Tensor:
    """Opponent colour (red-green, yellow-blue) of an RGB 0-255 batch, averaged over block x block cells:
    the hue of each region, free of the fine detail a style repaints."""
    r, g, b = image.float().unbind(dim=1)
    opponent = torch.stack([r - g, 0.5 * (r + g) - b], dim=1) / 255
    return F.avg_pool2d(opponent, block, ceil_mode=True)


def local_shading(image: torch.Tensor, block: int = 8) -> torch.Tensor:
    """Lightness of an RGB 0-255 batch averaged over block x block cells, less the image's mean: which
    regions are darker or lighter than the rest, free of the overall tone a style may shift."""
    r, g, b = image.float().unbind(dim=1)
    luma = F.avg_pool2d(((0.299 * r + 0.587 * g + 0.114 * b) / 255).unsqueeze(1), block, ceil_mode=True)
    return luma - luma.mean(dim=(2, 3), keepdim=True)


def _floored_relative(out: torch.Tensor, ref: torch.Tensor, floor: float) -> torch.Tensor:
    floor = floor ** 2 * ref[0].numel()
    return ((out - ref) ** 2).sum((1, 2, 3)).div((ref ** 2).sum((1, 2, 3)).clamp_min(floor)).mean()


def colour_error(output: torch.Tensor, photo: torch.Tensor, shading: float = 0.0) -> torch.Tensor:
    """Relative squared error of the local chroma, against the photo's (floored, so grey photos do not
    blow it up): 0 keeps every region's hue, about 1 loses it. `shading` adds that share of the same
    error on the local lightness (`local_shading`): a chroma-only term cannot stop a network from
    lifting a dark red shutter to cream, which greys it whatever its hue."""
    error = _floored_relative(local_chroma(output), local_chroma(photo), 0.05)
    if shading:
        error = error + shading * _floored_relative(local_shading(output), local_shading(photo), 0.05)
    return error


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
    colour: torch.Tensor | None = None

    def as_floats(self) -> dict[str, float]:
        keys = ("content", "style", "tv", "total") + (("colour",) if self.colour is not None else ())
        return {k: float(getattr(self, k).detach()) for k in keys}


def relative_error(x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """||x - target||^2 / ||target||^2 per sample, averaged over the batch: scale-free."""
    dims = tuple(range(1, x.dim()))
    target = target.expand_as(x)
    return ((x - target) ** 2).sum(dims).div((target ** 2).sum(dims).clamp_min(1e-12)).mean()


def mean_weights(weights, count: int) -> list[float]:
    """Per-tap weights (None: equal) scaled to sum to 1, so a loss over taps is a weighted mean and its
    overall weight keeps its scale; `train --style-tap-weights` and `distill --gram-tap-weights` alike."""
    weights = list(weights) if weights else [1.0] * count
    if len(weights) != count or min(weights) < 0 or sum(weights) <= 0:
        raise ValueError(f"tap weights {weights}: give {count} weights, none negative, not all 0")
    return [w / sum(weights) for w in weights]


class PerceptualLoss(torch.nn.Module):
    """Style, content and TV losses against one style image, through a frozen VGG19.

    Two scalings:
    - `relative=False` (Gatys mode and `evaluate`): style is the sum over taps of the mean squared Gram
      difference times the tap's channel count, scaled by 1e-5; content the mean squared feature
      difference times 1e-3. In VGG19's units relu4_1 outweighs relu1_1 by about 10^4, so this measures
      mostly the coarse texture.
    - `relative=True` (training): each tap's squared Gram error is divided by the style Gram's squared
      norm, and the content error by the photo features' squared norm; style is the mean over taps. Every
      tap then has an equal say (relu1_1-relu2_1 carry colour and contrast, the ones a washed-out network
      misses), and one style weight fits every style image and every choice of taps.
    """

    STYLE_SCALE = 1e-5
    CONTENT_SCALE = 1e-3

    def __init__(self, vgg: VGG19Features, style_image: torch.Tensor, style_taps: list[str], content_tap: str,
                 content_weight: float, style_weight: float, tv_weight: float, relative: bool = False,
                 colour_weight: float = 0.0, tap_weights: list[float] | None = None,
                 colour_shading: float = 0.0):
        super().__init__()
        self.tap_weights = mean_weights(tap_weights, len(style_taps))  # --style-weight keeps its scale
        self.vgg = vgg
        self.relative = relative
        self.style_taps = style_taps
        self.content_tap = content_tap
        self.content_weight = content_weight
        self.style_weight = style_weight
        self.tv_weight = tv_weight
        self.colour_weight = colour_weight
        self.colour_shading = colour_shading
        with torch.no_grad():
            feats = vgg(style_image)
        for i, tap in enumerate(style_taps):
            self.register_buffer(f"target_gram_{i}", gram(feats[tap]).detach())

    def target_grams(self) -> list[torch.Tensor]:
        return [getattr(self, f"target_gram_{i}") for i in range(len(self.style_taps))]

    def _relative_style_error(self, i: int, features: torch.Tensor) -> torch.Tensor:
        return relative_error(gram(features.float()), getattr(self, f"target_gram_{i}"))

    def style_loss_of(self, feats: dict[str, torch.Tensor]) -> torch.Tensor:
        if self.relative:
            return sum(w * self._relative_style_error(i, feats[tap])
                       for i, (tap, w) in enumerate(zip(self.style_taps, self.tap_weights)) if w > 0)
        total = 0.0
        for tap, target in zip(self.style_taps, self.target_grams()):
            g = gram(feats[tap])
            total = total + F.mse_loss(g, target.expand_as(g), reduction="mean") * target.shape[-1]
        return total * self.STYLE_SCALE  # type: ignore[return-value]

    def content_loss_of(self, feats: dict[str, torch.Tensor], content_feats: torch.Tensor) -> torch.Tensor:
        if self.relative:
            return relative_error(feats[self.content_tap].float(), content_feats.float())
        return F.mse_loss(feats[self.content_tap], content_feats) * self.CONTENT_SCALE

    def content_features(self, content: torch.Tensor) -> torch.Tensor:
        """The content tap only: VGG stops there (relu2_2 is 4 of the 10 convs training runs)."""
        with torch.no_grad():
            return self.vgg(content, [self.content_tap])[self.content_tap].detach()

    def forward(self, output: torch.Tensor, content_feats: torch.Tensor, photo: torch.Tensor | None = None) -> LossParts:
        """`photo` (the network's input) is needed only with a colour weight."""
        feats = self.vgg(output)
        with torch.autocast(output.device.type, enabled=False):  # Gram sums and loss sums stay float32
            content = self.content_loss_of(feats, content_feats)
            style = self.style_loss_of(feats)
            tv = total_variation(output.float())
            total = self.content_weight * content + self.style_weight * style + self.tv_weight * tv
            colour = None
            if self.colour_weight and photo is not None:
                colour = colour_error(output, photo, self.colour_shading)
                total = total + self.colour_weight * colour
        return LossParts(content, style, tv, total, colour)
