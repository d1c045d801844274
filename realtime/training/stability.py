"""The stability term for training (Gupta et al. 2017; Huang et al. 2017): no video needed.

A fast network flickers because a tiny change of its input (a one-pixel move, a little sensor noise)
changes its output far more than the same move would. So each step also stylises a slightly moved,
scaled, rotated and noisy copy of the batch and asks that output to equal the same movement applied to
the output for the original: || f(T(x) + n) - T(f(x)) ||^2, in 0-255 units, away from the borders the
movement exposes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class Perturbation:
    """How far the copy may move; about what a steady hand-held camera does between two frames."""

    shift_px: float = 3.0
    scale: float = 0.02
    rotate_deg: float = 1.0
    noise: float = 3.0  # standard deviation, 0-255 units
    margin_px: int = 8  # border rows/columns left out of the loss


def random_affine(n: int, height: int, width: int, p: Perturbation, gen: torch.Generator) -> torch.Tensor:
    """(n, 2, 3) theta for `F.affine_grid` (normalised coordinates) of a small random similarity."""
    u = torch.rand(n, 4, generator=gen) * 2 - 1
    angle = u[:, 0] * math.radians(p.rotate_deg)
    s = 1 + u[:, 1] * p.scale
    tx, ty = u[:, 2] * p.shift_px * 2 / width, u[:, 3] * p.shift_px * 2 / height
    cos, sin = torch.cos(angle) * s, torch.sin(angle) * s
    # affine_grid works in normalised units where x spans the width and y the height: correct the
    # rotation for the aspect ratio so a square stays square.
    aspect = width / height
    return torch.stack([torch.stack([cos, -sin / aspect, tx], 1), torch.stack([sin * aspect, cos, ty], 1)], 1)


def move(images: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    grid = F.affine_grid(theta.to(images.dtype), list(images.shape), align_corners=False)
    return F.grid_sample(images, grid.to(images.device), mode="bilinear", padding_mode="reflection",
                         align_corners=False)


class StabilityLoss:
    """Mean squared difference between f(moved + noise) and moved f(x), inside a margin."""

    def __init__(self, perturbation: Perturbation = Perturbation()):
        self.p = perturbation

    def perturb(self, batch: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """The moved, noisy copy of `batch` and the movement (to apply to the output)."""
        n, _, h, w = batch.shape
        theta = random_affine(n, h, w, self.p, gen)
        noise = torch.randn(batch.shape, generator=gen) * self.p.noise
        moved = (move(batch.float(), theta) + noise.to(batch.device)).clamp(0, 255)
        return moved.to(batch.dtype), theta

    def __call__(self, out: torch.Tensor, out_moved: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
        target = move(out.float(), theta)
        m = self.p.margin_px
        diff = out_moved.float()[..., m:-m, m:-m] - target[..., m:-m, m:-m]
        return (diff ** 2).mean()
