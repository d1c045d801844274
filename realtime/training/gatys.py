"""Gatys et al. 2016: optimise the pixels of one still against a style image.

Coarse to fine: the image is optimised at a quarter, a half and then the full size, each stage starting
from the upscaled result of the last. The coarse stages set the large-scale structure cheaply, so a
512-px result on a 2-core CPU takes minutes instead of the quarter hour a single full-size run needs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from realtime.media import images
from realtime.training.losses import GATYS_CONTENT, GATYS_STYLE, PerceptualLoss
from realtime.training.vgg import VGG19Features


@dataclass
class GatysSettings:
    size: int = 512
    steps: int = 300
    optimizer: str = "lbfgs"
    content_weight: float = 1.0
    style_weight: float = 1.0
    tv_weight: float = 0.1
    init: str = "content"
    lr: float = 5.0  # Adam, in 0-255 pixel units
    seed: int = 0
    stage_fractions: tuple[float, ...] = field(default=(0.4, 0.4, 0.2))


@dataclass
class GatysResult:
    image: np.ndarray
    history: list[dict[str, float]]
    photo_style_loss: float
    final: dict[str, float]


def stage_sizes(size: int, fractions: tuple[float, ...], steps: int) -> list[tuple[int, int]]:
    """(long side, steps) for each stage; tiny targets get a single stage."""
    n = len(fractions)
    sizes = [max(64, size // (2 ** (n - 1 - i))) for i in range(n)]
    plan: dict[int, int] = {}
    for s, frac in zip(sizes, fractions):
        plan[s] = plan.get(s, 0) + max(1, round(steps * frac))
    return sorted(plan.items())


def _to_tensor(bgr: np.ndarray, long_side: int, device: torch.device) -> torch.Tensor:
    return images.bgr_to_tensor(images.resize_long_side(bgr, long_side)).to(device)


def _resize_to(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, size=like.shape[-2:], mode="bicubic", align_corners=False).clamp(0, 255)


def optimise_pixels(x: torch.Tensor, loss_fn: PerceptualLoss, content_feats: torch.Tensor, steps: int,
                    optimizer: str = "lbfgs", lr: float = 5.0,
                    on_step: Callable[[dict[str, float]], None] | None = None) -> torch.Tensor:
    """Optimise the pixels of `x` (0-255, kept in range) against `loss_fn`; `on_step` gets each step's
    losses."""
    x = x.detach().clone().requires_grad_(True)
    last: dict[str, float] = {}

    def closure() -> torch.Tensor:
        nonlocal last
        opt.zero_grad(set_to_none=True)
        parts = loss_fn(x, content_feats)
        parts.total.backward()
        last = parts.as_floats()
        return parts.total

    if optimizer == "lbfgs":
        opt: torch.optim.Optimizer = torch.optim.LBFGS([x], lr=1.0, max_iter=1, history_size=50,
                                                      tolerance_grad=0, tolerance_change=0)
    else:
        opt = torch.optim.Adam([x], lr=lr)
    for _ in range(steps):
        opt.step(closure)
        with torch.no_grad():
            x.clamp_(0, 255)
        if on_step:
            on_step(last)
    return x.detach()


def stylise(content_bgr: np.ndarray, style_bgr: np.ndarray, vgg: VGG19Features, settings: GatysSettings,
            device: torch.device, on_step: Callable[[int, int, dict[str, float]], None] | None = None) -> GatysResult:
    """Return the stylised image (uint8 BGR, long side `settings.size`) and the loss history."""
    gen = torch.Generator().manual_seed(settings.seed)
    plan = stage_sizes(settings.size, settings.stage_fractions, settings.steps)
    total_steps = sum(n for _, n in plan)
    history: list[dict[str, float]] = []
    x: torch.Tensor | None = None
    photo_style = float("nan")
    for long_side, n_steps in plan:
        content = _to_tensor(content_bgr, long_side, device)
        style = _to_tensor(style_bgr, long_side, device)
        loss_fn = PerceptualLoss(vgg, style, GATYS_STYLE, GATYS_CONTENT, settings.content_weight,
                                 settings.style_weight, settings.tv_weight).to(device)
        content_feats = loss_fn.content_features(content)
        if x is None:
            with torch.no_grad():
                photo_style = float(loss_fn.style_loss_of(vgg(content)))
            if settings.init == "noise":
                x = torch.rand(content.shape, generator=gen).to(device) * 255
            else:
                x = content.clone()
        else:
            x = _resize_to(x, content)

        def record(last: dict[str, float], size: float = float(long_side)) -> None:
            history.append(dict(last, size=size))
            if on_step:
                on_step(len(history), total_steps, history[-1])

        x = optimise_pixels(x, loss_fn, content_feats, n_steps, settings.optimizer, settings.lr, record)
    assert x is not None
    return GatysResult(images.tensor_to_bgr(x), history, photo_style, history[-1] if history else {})
