"""Stills with transparency and deep samples: the colour is stylised, the alpha channel is carried through
untouched, and 16-bit files are written as 8-bit with a one-line notice. The images are made here."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from realtime.media import images
from tests.conftest import REPO
from tests.helpers import cli

MOSAIC = REPO / "models" / "mosaic.onnx"
W, H = 192, 112


def scene() -> np.ndarray:
    cap = cv2.VideoCapture(str(REPO / "realtime" / "samples" / "big_buck_bunny_360p.mp4"))
    ok, frame = cap.read()
    cap.release()
    assert ok
    return cv2.resize(frame, (W, H), interpolation=cv2.INTER_AREA)


def alpha_mask() -> np.ndarray:
    """A ramp left to right with a fully transparent hole and a fully opaque band: every kind of pixel."""
    alpha = np.tile(np.linspace(0, 255, W).round().astype(np.uint8), (H, 1))
    alpha[20:50, 30:70] = 0
    alpha[80:, :] = 255
    return alpha


def test_rgba_keeps_its_alpha_and_16_bit_is_said_once(tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    colour, alpha = scene(), alpha_mask()
    cv2.imwrite(str(src / "rgba.png"), np.dstack([colour, alpha]))
    cv2.imwrite(str(src / "rgba16.png"), np.dstack([colour, alpha]).astype(np.uint16) * 257)
    cv2.imwrite(str(src / "deep16.png"), colour.astype(np.uint16) * 257)
    cv2.imwrite(str(src / "plain.png"), colour)
    result = cli("image", src, "-o", str(out) + "/", "--style", MOSAIC, "--device", "cpu")
    assert result.code == 0, result.stderr
    for name in ("rgba", "rgba16"):
        written = cv2.imread(str(out / f"{name}.png"), cv2.IMREAD_UNCHANGED)
        assert written.shape == (H, W, 4) and written.dtype == np.uint8, name
        assert np.array_equal(written[:, :, 3], alpha), name  # carried through exactly
        assert np.abs(written[:, :, :3].astype(np.float32) - colour).mean() > 10, name  # the colour is stylised
    plain = cv2.imread(str(out / "plain.png"), cv2.IMREAD_UNCHANGED)
    assert plain.shape == (H, W, 3)  # no alpha invented
    deep = cv2.imread(str(out / "deep16.png"), cv2.IMREAD_UNCHANGED)
    assert deep.shape == (H, W, 3) and deep.dtype == np.uint8
    notices = [line for line in result.stderr.splitlines() if "16-bit samples, written as 8-bit" in line]
    assert len(notices) == 2 and any("deep16.png" in n for n in notices) and any("rgba16.png" in n for n in notices)
    # the same colour as an opaque copy: the alpha does not change how the picture is stylised
    assert np.abs(cv2.imread(str(out / "rgba.png"))[:, :, :3].astype(np.int16) - plain).max() <= 1


def test_alpha_survives_scale_and_a_format_without_it_says_so(tmp_path):
    colour, alpha = scene(), alpha_mask()
    src = tmp_path / "logo.png"
    cv2.imwrite(str(src), np.dstack([colour, alpha]))
    half = cli("image", src, "-o", tmp_path / "half.webp", "--style", MOSAIC, "--device", "cpu", "--scale", "0.5")
    assert half.code == 0, half.stderr
    written = cv2.imread(str(tmp_path / "half.webp"), cv2.IMREAD_UNCHANGED)
    assert written.shape == (H, W, 4) and np.abs(written[:, :, 3].astype(np.int16) - alpha).max() <= 2  # webp rounds
    jpeg = cli("image", src, "-o", tmp_path / "flat.jpg", "--style", MOSAIC, "--device", "cpu")
    assert jpeg.code == 0, jpeg.stderr
    assert "holds no transparency" in jpeg.stderr and "logo.png" in jpeg.stderr
    assert cv2.imread(str(tmp_path / "flat.jpg"), cv2.IMREAD_UNCHANGED).shape == (H, W, 3)


def test_alpha_is_turned_with_the_colour_by_the_exif_orientation(tmp_path):
    """OpenCV turns the colour by EXIF but hands alpha over as stored: read_still turns the alpha to match."""
    stored = np.dstack([scene(), alpha_mask()])
    shown = np.ascontiguousarray(np.rot90(stored[:, :, :3], -1))  # what an orientation-6 viewer shows
    turned = images._turned_like(stored[:, :, 3], stored[:, :, :3], shown)
    assert np.array_equal(turned, np.rot90(stored[:, :, 3], -1))
    path = tmp_path / "upright.png"
    cv2.imwrite(str(path), stored)
    still = images.read_still(path)
    assert still.bgr.shape == (H, W, 3) and np.array_equal(still.alpha, stored[:, :, 3]) and still.depth is None
    jpeg = tmp_path / "photo.jpg"
    cv2.imwrite(str(jpeg), stored[:, :, :3])
    assert images.read_still(jpeg).alpha is None


def test_write_refuses_alpha_where_the_format_has_none(tmp_path):
    with pytest.raises(ValueError):
        images.write_bgr(Path(tmp_path / "x.jpg"), scene(), alpha_mask())
    assert not list(tmp_path.iterdir())
