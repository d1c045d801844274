"""Widening a trained network (`realtime train --init NET --width 2x`): same pictures, then room to grow."""

from __future__ import annotations

import pytest
import torch

from helpers import assert_clean_error, cli, fine_tune
from conftest import PHOTOS, STYLE
from realtime.media import images
from realtime.training.checkpoint import network
from realtime.training.widen import widen


def photo() -> torch.Tensor:
    return images.bgr_to_tensor(images.read_bgr(sorted(PHOTOS.glob("*.jpg"))[0]))


@pytest.mark.parametrize("style, factor", [("mosaic", 2), ("mosaic-lite", 2), ("candy", 3)])
def test_a_widened_network_draws_the_same_picture(style, factor):
    narrow = network(style)
    wide = widen(narrow, narrow.width * factor).eval()
    assert wide.width == narrow.width * factor and wide.arch == narrow.arch
    assert sum(p.numel() for p in wide.parameters()) > 3 * sum(p.numel() for p in narrow.parameters())
    x = photo()
    with torch.no_grad():
        diff = (wide(x) - narrow(x)).abs()
    assert float(diff.max()) < 0.05, float(diff.max())  # 0-255 scale: the same picture


def test_widening_refuses_a_width_that_is_not_a_multiple():
    with pytest.raises(ValueError, match="multiple"):
        widen(network("mosaic"), 24)


def test_train_widens_and_the_twins_learn_apart(tmp_path, vgg_weights):
    out = tmp_path / "out"
    result = fine_tune(out, "wide", 3, "--width", 32)
    assert result.code == 0, result.stderr
    assert "widened from 16 to 32" in result.stderr
    ckpt = torch.load(out / "wide.ckpt", weights_only=True)
    assert ckpt["width"] == 32
    first = ckpt["model"]["net.0.0.1.weight"]  # the 9x9 conv's 32 filters: twin pairs (0, 1), (2, 3), ...
    gap = (first[0::2] - first[1::2]).abs().amax(dim=(1, 2, 3))
    # Without the jitter every gap is exactly 0 (identical twins get identical gradients): the width is wasted.
    assert bool((gap > 0).all()), gap


def test_train_refuses_a_width_that_does_not_fit_the_init(tmp_path):
    """The mismatch shows only once the --init network has loaded: the --out-dir it names is not made."""
    result = cli("train", "--recipe", "custom", STYLE, "--data", PHOTOS, "--name", "w", "--out-dir", tmp_path / "new", "--init", "mosaic",
                 "--width", 24, "--steps", 1)
    assert_clean_error(result, "--width")
    assert not list(tmp_path.iterdir())
