"""Colour preservation and style strength (realtime.engine.blend) on real photos through a real, trained style network."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from realtime.engine import blend
from realtime.media import images
from realtime.engine import Engine
from realtime.live import LiveLoop, LiveOptions, NullDisplay, StyleEntry, Styles
from tests.conftest import PHOTOS, REPO
from tests.helpers import assert_clean_error, cli

SHIPPED = REPO / "models" / "mosaic.onnx"  # a trained network: its colours differ from the photo's
PAIR_PHOTOS = ("kodim03.jpg", "kodim05.jpg", "kodim23.jpg")


@pytest.fixture(scope="module")
def pairs() -> list[tuple[np.ndarray, np.ndarray]]:
    """(photo, stylised) at 320 px on the long side, through the shipped mosaic network."""
    engine = Engine(SHIPPED, device="cpu")
    out = []
    for name in PAIR_PHOTOS:
        photo = images.resize_long_side(images.read_bgr(PHOTOS / name), 320)
        out.append((photo, engine(photo)))
    return out


def lab(bgr: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2Lab).astype(np.float32)


def test_preserve_color_keeps_the_input_chroma_and_the_stylised_lightness(pairs):
    for photo, styled in pairs:
        out = lab(blend.preserve_color(photo, styled))
        # Lab -> 8-bit sRGB -> Lab is not exact where the new lightness pushes a colour out of gamut
        assert np.median(np.abs(out[..., 1:] - lab(photo)[..., 1:])) <= 1.0
        assert np.abs(out[..., 1:] - lab(photo)[..., 1:]).mean() < 3.0
        assert np.abs(out[..., 0] - lab(styled)[..., 0]).mean() < 3.0
        # and it is not just the photo: the stylised chroma differs from the photo's
        assert np.abs(lab(styled)[..., 1:] - lab(photo)[..., 1:]).mean() > 5.0


def test_strength_ends_are_the_photo_and_the_stylised_frame(pairs):
    photo, styled = pairs[0]
    assert np.array_equal(blend.blend(photo, styled, 1.0), styled)
    assert np.array_equal(blend.blend(photo, styled, 0.0), photo)
    # continuous near the ends too (not just the shortcuts)
    assert np.abs(blend.blend(photo, styled, 0.02).astype(float) - photo).mean() < 3.0
    assert np.abs(blend.blend(photo, styled, 0.98).astype(float) - styled).mean() < 3.0
    half = blend.blend(photo, styled, 0.5).astype(float)
    assert 5 < np.abs(half - photo).mean() and 5 < np.abs(half - styled).mean()


def test_half_strength_keeps_saturation_where_naive_alpha_loses_it(pairs):
    for photo, styled in pairs:
        both = (blend.chroma(photo).mean() + blend.chroma(styled).mean()) / 2
        ours = blend.chroma(blend.blend(photo, styled, 0.5)).mean()
        naive = blend.chroma(blend.alpha_blend(photo, styled, 0.5)).mean()
        assert ours > 0.9 * both, (ours, both)
        assert ours > naive + 1.0, (ours, naive)


def test_engine_applies_strength_and_preserve_color(pairs):
    photo, styled = pairs[1]
    engine = Engine(SHIPPED, device="cpu", strength=0.5, preserve_color=True)
    assert np.array_equal(engine(photo), blend.blend(photo, styled, 0.5, keep_color=True))
    engine.strength, engine.preserve_color = 1.0, False
    assert np.array_equal(engine(photo), styled)


def test_image_command_preserve_color_and_strength(tmp_path):
    photo = PHOTOS / "kodim23.jpg"
    out = tmp_path / "kept.png"
    result = cli("image", photo, "-o", out, "--style", SHIPPED, "--device", "cpu", "--preserve-color")
    assert result.code == 0, result.stderr
    got, src = lab(images.read_bgr(out)), lab(images.read_bgr(photo))
    assert got.shape == src.shape and np.median(np.abs(got[..., 1:] - src[..., 1:])) <= 1.0
    result = cli("image", photo, "-o", tmp_path / "x.png", "--style", SHIPPED, "--strength", "1.5")
    assert_clean_error(result, "--strength 1.5")
    assert not (tmp_path / "x.png").exists()


def test_webcam_keys_set_strength_and_colour_keeping():
    messages: list[str] = []
    styles = Styles([StyleEntry("mosaic", SHIPPED)], lambda path: Engine(path, device="cpu"), messages.append)
    loop = LiveLoop(None, styles, NullDisplay(), LiveOptions(), messages.append)
    frame = images.resize_long_side(images.read_bgr(PHOTOS / "kodim03.jpg"), 96)
    for key, strength in (("[", 0.75), ("[", 0.5), ("]", 0.75), ("]", 1.0), ("]", 1.0)):
        assert loop.handle_key(ord(key)) is None and loop.strength == strength
    loop.handle_key(ord("["))
    loop.handle_key(ord("k"))
    loop.process(frame)
    engine = styles.engine()
    assert engine.strength == 0.75 and engine.preserve_color
    assert "keep colours on" in messages and "strength 0.75" in messages
    for _ in range(5):
        loop.handle_key(ord("["))
    loop.handle_key(ord("k"))
    loop.process(frame)
    assert engine.strength == 0.0 and not engine.preserve_color
    assert np.array_equal(engine(frame), frame)  # strength 0: the camera image


def test_overlay_shows_strength_and_colour_kept(monkeypatch):
    import realtime.live.loop as webcam_mod

    lines: list[list[str]] = []
    monkeypatch.setattr(webcam_mod, "draw_overlay", lambda view, text, rec: (lines.append(text), view)[1])
    display = NullDisplay()
    display.shows = True
    styles = Styles([StyleEntry("mosaic", SHIPPED)], lambda path: Engine(path, device="cpu"))
    loop = LiveLoop(None, styles, display, LiveOptions(strength=0.5, preserve_color=True))
    loop.process(images.resize_long_side(images.read_bgr(PHOTOS / "kodim03.jpg"), 96))
    assert lines[-1][-1] == "strength 0.50, colour kept"
