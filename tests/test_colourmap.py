"""The colour match a distillation ends with: a Gaussian transport of colours, folded into the network."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from realtime.training import checkpoint
from realtime.training import colourmap
from realtime.tools import evaluate as ev
from realtime.media import images
from realtime.training.colourmap import ColourMap
from realtime.training.transformer import TransformerNet
from tests.conftest import PHOTOS

GREYER = 0.7 * np.eye(3) + 0.1  # keeps grey, pulls every colour 30 % of the way to it (symmetric, positive)


def photo_colours(name: str) -> np.ndarray:
    return images.read_bgr(PHOTOS / name)[..., ::-1].reshape(-1, 3).astype(np.float64)


def test_transport_undoes_a_greying_and_matches_any_spread():
    """Colours greyed by a symmetric map come back exactly (the least-moving map is its inverse); between
    two unrelated photos the map still gives the target's mean and covariance."""
    colours = photo_colours("kodim23.jpg")
    matrix, bias = colourmap.transport(colours @ GREYER.T, colours)
    assert np.allclose(matrix, np.linalg.inv(GREYER), atol=1e-6) and np.allclose(bias, 0, atol=1e-4)
    other = photo_colours("kodim05.jpg")
    matrix, bias = colourmap.transport(other, colours)
    moved = other @ matrix.T + bias
    assert np.allclose(moved.mean(0), colours.mean(0), atol=1e-6)
    assert np.allclose(np.cov(moved.T), np.cov(colours.T), rtol=1e-6)


@pytest.mark.parametrize("arch", ["lite4", "fast", "full"])
def test_folding_draws_the_map_of_what_the_network_drew(arch):
    torch.manual_seed(0)
    net = TransformerNet(8, 1, arch).eval()
    x = images.bgr_to_tensor(images.read_bgr(PHOTOS / "kodim05.jpg")[:96, :128])
    with torch.no_grad():
        before = net(x)
        colourmap.fold(net, ColourMap(GREYER, np.array([5.0, -3.0, 2.0]), 1))
        after = net(x)
    expected = torch.einsum("oi,nihw->nohw", torch.as_tensor(GREYER, dtype=torch.float32), before)
    expected += torch.tensor([5.0, -3.0, 2.0]).view(1, 3, 1, 1)
    assert torch.allclose(after, expected, atol=1e-2)


def test_a_greyed_copy_gets_its_teachers_colours_back():
    """The shipped candy-lite, greyed, then matched to its teacher on seven photos: on the eighth, unseen,
    its colourfulness is back near the teacher's, and its pixels nearer too."""
    student, teacher = checkpoint.network("candy-lite"), checkpoint.network("candy")
    colourmap.fold(student, ColourMap(GREYER, np.zeros(3), 1))
    photos = sorted(PHOTOS.glob("*.jpg"))
    held_out = images.read_bgr(photos[-1])
    run = lambda net: images.tensor_to_bgr(net(images.bgr_to_tensor(held_out)).detach())  # noqa: E731
    target, greyed = run(teacher), run(student)
    cmap = colourmap.fit(student, teacher, photos[:-1], size=192)
    colourmap.fold(student, cmap)
    matched = run(student)
    assert cmap.photos == 7 and cmap.card()["matrix"][0][0] > 1.2  # it undid most of the greying
    assert cmap.worth_folding and cmap.psnr_after > cmap.psnr_before
    assert ev.colourfulness(greyed) < 0.8 * ev.colourfulness(target)
    assert abs(ev.colourfulness(matched) - ev.colourfulness(target)) < 0.1 * ev.colourfulness(target)
    assert ev.psnr(matched, target) > ev.psnr(greyed, target) + 0.3
