"""Colour match: a linear map that gives a distilled network its teacher's colour spread, folded into its
last layers.

A small network trained on a pixel loss against its teacher hedges towards the mean colour: its outputs
come out a little greyer and flatter (wave-lite: colourfulness 34.6 against the teacher's 38.4), and the
Gram style loss, whose shallow taps see colour, reads that as 1.2x the teacher's. A least-squares fit of
teacher on student colours would shrink them further (regression towards the mean), so the map is the
Monge-Kantorovich linear transport between the two colour distributions as Gaussians: it moves each colour
the least distance that makes the student's mean and covariance the teacher's. Being affine in RGB, it
folds exactly into the last convolution (and the full-resolution photo path) at no cost per frame.

Matching the spread is right only for a close copy: a student whose colours are still far from the
teacher's (a few dozen steps in) has its errors stretched with them. So a map that costs more than
MAX_PSNR_COST dB of likeness to the teacher on the photos it was fitted on is not folded in (on the
shipped copies it cost about 0.2 dB and took the style loss from 1.2x the teacher's to 1.03x). Nor does
it suit a near-grey style: pencil-lite's map stretched its faint chroma 1.7x, noise included, and its
style loss rose from 1.01x to 1.07x the teacher's, so pencil-lite ships without one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from realtime.media import images
from realtime.training.transformer import TransformerNet

MAX_PSNR_COST = 0.5
FIT_PHOTOS = 48  # training photos a map is fitted on, spread over the folder
Net = Callable[[torch.Tensor], torch.Tensor]  # RGB NCHW 0-255 -> same


@dataclass
class ColourMap:
    """out' = matrix @ out + bias per pixel, in RGB 0-255 units."""

    matrix: np.ndarray  # (3, 3)
    bias: np.ndarray  # (3,)
    photos: int
    psnr_before: float = float("nan")  # likeness to the teacher on the fitted photos, without and with it
    psnr_after: float = float("nan")

    @property
    def worth_folding(self) -> bool:
        return not self.psnr_after < self.psnr_before - MAX_PSNR_COST

    def card(self) -> dict:
        return {"matrix": np.round(self.matrix, 5).tolist(), "bias": np.round(self.bias, 3).tolist(),
                "photos": self.photos, "psnr_before": round(self.psnr_before, 2),
                "psnr_after": round(self.psnr_after, 2), "folded": self.worth_folding}


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(255.0 ** 2 / max(np.mean((a - b) ** 2), 1e-12)))


def _sqrtm(c: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh(c)
    return v @ np.diag(np.sqrt(np.maximum(w, 1e-9))) @ v.T


def transport(source: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The affine map (matrix, bias) taking colours `source` (N, 3) to the mean and covariance of `target`
    with the least mean squared displacement (Gaussian optimal transport)."""
    mu_s, mu_t = source.mean(0), target.mean(0)
    cs, ct = np.cov(source.T), np.cov(target.T)
    cs_half = _sqrtm(cs)
    cs_inv_half = np.linalg.inv(cs_half)
    matrix = cs_inv_half @ _sqrtm(cs_half @ ct @ cs_half) @ cs_inv_half
    return matrix, mu_t - matrix @ mu_s


def fitting_photos(photos: list[Path]) -> list[Path]:
    """FIT_PHOTOS of `photos`, spread evenly (all of them when there are fewer)."""
    return photos[:: max(1, len(photos) // FIT_PHOTOS)][:FIT_PHOTOS]


@torch.no_grad()
def fit(student: Net, teacher: Net, photos: list[Path], size: int = 256,
        device: torch.device = torch.device("cpu")) -> ColourMap:
    """The colour map from the student's outputs to the teacher's on `photos` (scaled to `size`)."""
    ours, theirs = [], []
    for path in photos:
        x = images.bgr_to_tensor(images.resize_long_side(images.read_bgr(path), size)).to(device)
        ours.append(student(x).clamp(0, 255).permute(0, 2, 3, 1).reshape(-1, 3).double().cpu().numpy())
        theirs.append(teacher(x).clamp(0, 255).permute(0, 2, 3, 1).reshape(-1, 3).double().cpu().numpy())
    ours_all, theirs_all = np.concatenate(ours), np.concatenate(theirs)
    matrix, bias = transport(ours_all, theirs_all)
    mapped = np.clip(ours_all @ matrix.T + bias, 0, 255)
    return ColourMap(matrix, bias, len(photos), _psnr(ours_all, theirs_all), _psnr(mapped, theirs_all))


@torch.no_grad()
def fold(net: TransformerNet, cmap: ColourMap) -> None:
    """Make `net` draw `cmap` applied to what it drew before (before its 0-255 clip), by rewriting its last
    convolution and its photo path in place."""
    m = torch.as_tensor(cmap.matrix, dtype=torch.float32)
    b = torch.as_tensor(cmap.bias, dtype=torch.float32)
    # The net draws y = 127.5 * (z + 1) from its layers' sum z; matrix @ y + bias = 127.5 * (matrix @ z + c + 1).
    c = (127.5 * m.sum(1) + b - 127.5) / 127.5
    last = [layer for layer in net.net.modules() if isinstance(layer, torch.nn.Conv2d)][-1]
    # A depth-to-space decoder's last conv draws each colour at r*r places: channel k*r*r + j is colour k.
    places = last.out_channels // 3
    weight = last.weight.unflatten(0, (3, places))
    last.weight.copy_(torch.einsum("oi,ijchw->ojchw", m, weight).flatten(0, 1))
    last.bias.copy_((m @ last.bias.view(3, places) + c[:, None]).flatten())
    if net.skip is not None:
        net.skip.weight.copy_(torch.einsum("oi,ichw->ochw", m, net.skip.weight))
        net.skip.bias.copy_(m @ net.skip.bias)
