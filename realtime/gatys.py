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

from realtime import images
from realtime.losses import GATYS_CONTENT, GATYS_STYLE, PerceptualLoss
from realtime.vgg import VGG19Features


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


def stylise(content_bgr: np.ndarray, style_bgr: np.ndarray, vgg: VGG19Features, settings: GatysSettings,
            device: torch.device, on_step: Callable[[int, int, dict[str, float]], None] | None = None) -> GatysResult:
    """Return the stylised image (uint8 BGR, long side `settings.size`) and the loss history."""
    gen = torch.Generator().manual_seed(settings.seed)
    plan = stage_sizes(settings.size, settings.stage_fractions, settings.steps)
    total_steps = sum(n for _, n in plan)
    history: list[dict[str, float]] = []
    x: torch.Tensor | None = None
    photo_style = float("nan")
    done = 0
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
        x = x.detach().requires_grad_(True)
        last: dict[str, float] = {}

        def closure() -> torch.Tensor:
            nonlocal last
            opt.zero_grad(set_to_none=True)
            parts = loss_fn(x, content_feats)
            parts.total.backward()
            last = parts.as_floats()
            return parts.total

        if settings.optimizer == "lbfgs":
            opt: torch.optim.Optimizer = torch.optim.LBFGS([x], lr=1.0, max_iter=1, history_size=50,
                                                          tolerance_grad=0, tolerance_change=0)
        else:
            opt = torch.optim.Adam([x], lr=settings.lr)
        for _ in range(n_steps):
            opt.step(closure)
            with torch.no_grad():
                x.clamp_(0, 255)
            done += 1
            last = dict(last, size=float(long_side))
            history.append(last)
            if on_step:
                on_step(done, total_steps, last)
    assert x is not None
    return GatysResult(images.tensor_to_bgr(x), history, photo_style, history[-1] if history else {})
