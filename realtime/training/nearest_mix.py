"""The mix of a multi-style network's styles that comes nearest a new painting, fitted in seconds.

A fine-tune toward a new painting starts closer, and gets further in a minute, from the gallery's blend that
already draws like it: every style one-hot is scored by the style loss against the painting (VGG Gram
matrices, the training loss's own measure) on a few photos, then the mix is refined from the best one by a
few gradient steps on the softmax of its weights, the network itself frozen.
"""

from __future__ import annotations

import torch

from realtime.training.losses import PerceptualLoss
from realtime.training.multistyle import MultiStyleTransformer

SMALLEST_SHARE = 0.05  # shares below this are dropped: the mix reads as its main styles


def fit_mix(model: MultiStyleTransformer, loss_fn: PerceptualLoss, photos: torch.Tensor, steps: int = 15,
            lr: float = 0.3) -> dict[str, float]:
    """{style: share} nearest the painting `loss_fn` holds, judged on `photos` (N, 3, H, W, RGB 0-255)."""
    model = model.eval().requires_grad_(False)
    n = model.n_styles
    photos = photos.float()

    def style_loss(w: torch.Tensor) -> torch.Tensor:
        return loss_fn.style_loss_of(loss_fn.vgg(model(photos, w.expand(len(photos), n))))

    with torch.no_grad():
        scores = [float(style_loss(model.one_hot(i))) for i in range(n)]
    best = min(range(n), key=scores.__getitem__)
    logits = (model.one_hot(best)[0] * 2.0).requires_grad_(True)
    optimizer = torch.optim.Adam([logits], lr=lr)
    kept, kept_loss = torch.softmax(logits.detach(), 0), float("inf")
    for _ in range(steps):
        w = torch.softmax(logits, 0)[None]
        loss = style_loss(w)
        if loss.item() < kept_loss:
            kept, kept_loss = w.detach()[0], loss.item()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    if scores[best] <= kept_loss:
        return {model.styles[best]: 1.0}
    shares = {name: float(v) for name, v in zip(model.styles, kept) if v >= SMALLEST_SHARE}
    total = sum(shares.values())
    return {name: round(v / total, 3) for name, v in sorted(shares.items(), key=lambda kv: -kv[1])}


def weights_of(model: MultiStyleTransformer, shares: dict[str, float]) -> torch.Tensor:
    """The (1, n_styles) weight vector of a {style: share} mix."""
    w = torch.zeros(1, model.n_styles)
    for name, share in shares.items():
        w[0, model.styles.index(name)] = share
    return w


def describe(shares: dict[str, float]) -> str:
    return ",".join(f"{name}:{share:g}" for name, share in shares.items())
