"""Post-processing a stylised frame against its input: keep the input's colours, or dial the style down.

Both work on (input frame, stylised frame) pairs of uint8 BGR arrays of the same size, after the
network has run, so they cost no inference and can change from one frame to the next (webcam keys).

Everything happens in CIE Lab (OpenCV's float Lab: L 0-100, a/b about -128..127), not in YCrCb:

- Lab separates lightness from colour perceptually: keeping a/b while L changes keeps the hue and
  the chroma a viewer sees. YCrCb's Cr/Cb are differences of gamma-encoded RGB, so the same Cr/Cb
  at another Y looks more or less saturated (dark areas turn garish, light ones pale).
- The strength blend needs a space where chroma is a distance from grey (|a, b|) so it can be kept
  up; doing both in the same space shares the two colour conversions when both are on.
- The cost is small next to inference: see `python -m realtime.engine.blend` for the ms per 720p frame.

Colour preservation follows Gatys et al. 2017 ("Controlling Perceptual Factors in Neural Style
Transfer", luminance-only transfer): the result's lightness is the stylised frame's, its a/b the
input's.
"""

from __future__ import annotations

import cv2
import numpy as np

from realtime.errors import UserError

STRENGTH_STEP = 0.25  # the webcam's [ and ] keys
_MAX_CHROMA_GAIN = 4.0  # where two opposite hues cancel, do not blow noise up into colour
_MAX_DETAIL_GAIN = 2.0


def check_strength(strength: float) -> float:
    """--strength must lie in 0..1; one clean error otherwise."""
    if not 0.0 <= strength <= 1.0:  # NaN fails this too
        raise UserError(f"--strength {strength}: use a value between 0 (the photo) and 1 (full style)")
    return float(strength)


def to_lab(bgr: np.ndarray) -> np.ndarray:
    """uint8 BGR -> OpenCV's 8-bit Lab (L scaled to 0-255, a/b offset by 128): 2x faster than float Lab,
    and its steps (0.4 L, 1 a/b unit) are below what 8-bit sRGB can show anyway."""
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2Lab)


def from_lab(lab: np.ndarray) -> np.ndarray:
    """8-bit Lab (or float in the same units, rounded and clipped) -> uint8 BGR."""
    if lab.dtype != np.uint8:
        lab = cv2.convertScaleAbs(lab)  # rounds and saturates to 0..255
    return cv2.cvtColor(lab, cv2.COLOR_Lab2BGR)


def chroma(bgr: np.ndarray) -> np.ndarray:
    """Lab chroma |(a, b)| per pixel (float32, a/b units): distance from grey, saturation as seen."""
    ab = to_lab(bgr)[..., 1:].astype(np.float32) - np.float32(128)
    return cv2.magnitude(np.ascontiguousarray(ab[..., 0]), np.ascontiguousarray(ab[..., 1]))


def _check_pair(content: np.ndarray, stylised: np.ndarray) -> None:
    if content.shape != stylised.shape or content.dtype != np.uint8 or stylised.dtype != np.uint8 \
            or content.ndim != 3 or content.shape[2] != 3:
        raise ValueError("blend expects two uint8 BGR frames of the same shape (H, W, 3)")


def preserve_color(content: np.ndarray, stylised: np.ndarray) -> np.ndarray:
    """The stylised frame's lightness with the input's colour (a/b): luminance-only style transfer."""
    _check_pair(content, stylised)
    return blend(content, stylised, 1.0, keep_color=True)


def alpha_blend(content: np.ndarray, stylised: np.ndarray, strength: float) -> np.ndarray:
    """Plain RGB cross-fade: only for comparison; it greys out differing hues and halves both textures."""
    _check_pair(content, stylised)
    return cv2.addWeighted(content, 1.0 - strength, stylised, strength, 0.0)


def _detail_window(shape: tuple[int, ...]) -> int:
    """Box size splitting "layout" from "texture": about 1/64 of the short side, odd, at least 3."""
    return max(3, round(min(shape[:2]) / 64)) | 1


def _local_sd(x2: np.ndarray, k: int, small: tuple[int, int]) -> np.ndarray:
    """sqrt of the box-averaged squares, computed at 1/4 size: the map is smooth, so that is enough."""
    low = cv2.resize(x2, small, interpolation=cv2.INTER_AREA)
    return cv2.sqrt(cv2.blur(low, (max(1, k // 4) | 1,) * 2))


def _mix_lightness(l_in: np.ndarray, l_st: np.ndarray, s: float) -> np.ndarray:
    """Lightness at strength s without the double exposure's flat, ghosted texture.

    L = base + detail, base a box blur. The bases (the tonal layout) are cross-faded linearly. The
    details (edges, brush strokes) are cross-faded too, but where the two textures do not line up
    they partly cancel, so a 50/50 mix has less local contrast than either: the washed-out look.
    The mixed detail is therefore rescaled so its local standard deviation is the interpolation of
    the two inputs' (gain clamped to 1..2, so it only ever restores contrast, never invents it).
    """
    h, w = l_in.shape
    k = _detail_window(l_in.shape)
    small = (max(1, w // 4), max(1, h // 4))
    base_in, base_st = cv2.blur(l_in, (k, k)), cv2.blur(l_st, (k, k))
    d_in, d_st = l_in - base_in, l_st - base_st
    detail = cv2.addWeighted(d_in, 1.0 - s, d_st, s, 0.0)
    target = cv2.addWeighted(_local_sd(d_in * d_in, k, small), 1.0 - s, _local_sd(d_st * d_st, k, small), s, 0.0)
    gain = np.clip(target / (_local_sd(detail * detail, k, small) + np.float32(0.05)), 1.0, _MAX_DETAIL_GAIN)
    gain = cv2.resize(gain, (w, h), interpolation=cv2.INTER_LINEAR)
    return cv2.addWeighted(base_in, 1.0 - s, base_st, s, 0.0) + detail * gain


def _mix_color(a_in: np.ndarray, b_in: np.ndarray, a_st: np.ndarray, b_st: np.ndarray,
               s: float) -> tuple[np.ndarray, np.ndarray]:
    """a/b (centred on 0) at strength s: the hue follows the straight a/b mix, the chroma is interpolated.

    Averaging a/b of two different hues lands near grey (red + green -> brown-grey): that is what
    makes an RGB cross-fade look desaturated. Here the mixed (a, b) vector only gives the direction;
    its length is set to the interpolated chroma, so a 50/50 mix of two vivid colours stays vivid.
    """
    a_mix = cv2.addWeighted(a_in, 1.0 - s, a_st, s, 0.0)
    b_mix = cv2.addWeighted(b_in, 1.0 - s, b_st, s, 0.0)
    target = cv2.addWeighted(cv2.magnitude(a_in, b_in), 1.0 - s, cv2.magnitude(a_st, b_st), s, 0.0)
    gain = cv2.divide(target, cv2.max(cv2.magnitude(a_mix, b_mix), 1e-3))
    gain = cv2.min(gain, _MAX_CHROMA_GAIN)
    return cv2.multiply(a_mix, gain), cv2.multiply(b_mix, gain)


def blend(content: np.ndarray, stylised: np.ndarray, strength: float = 1.0,
          keep_color: bool = False) -> np.ndarray:
    """The engine's post-process: `strength` of the style (0 the input, 1 the stylised frame), then
    optionally the input's colours. Strength 1 without colour keeping returns `stylised` itself."""
    _check_pair(content, stylised)
    s = check_strength(strength)
    if s == 1.0 and not keep_color:
        return stylised
    if s == 0.0:
        return content.copy()
    lab_in, lab_st = to_lab(content), to_lab(stylised)
    if s == 1.0:  # keep_color: the stylised L, the input's a/b, all in 8 bits
        return from_lab(cv2.merge([lab_st[..., 0], lab_in[..., 1], lab_in[..., 2]]))
    l_in, a_in, b_in = (c.astype(np.float32) for c in cv2.split(lab_in))
    l_st, a_st, b_st = (c.astype(np.float32) for c in cv2.split(lab_st))
    lightness = _mix_lightness(l_in, l_st, s)
    if keep_color:
        return from_lab(cv2.merge([lightness, a_in, b_in]))
    grey = np.float32(128)
    a_mix, b_mix = _mix_color(a_in - grey, b_in - grey, a_st - grey, b_st - grey, s)
    return from_lab(cv2.merge([lightness, a_mix + grey, b_mix + grey]))


def _bench() -> None:  # pragma: no cover - a measuring aid: python -m realtime.engine.blend
    import time

    rng = np.random.default_rng(0)
    a = cv2.GaussianBlur(rng.integers(0, 256, (720, 1280, 3), dtype=np.uint8), (0, 0), 3)
    b = cv2.GaussianBlur(rng.integers(0, 256, (720, 1280, 3), dtype=np.uint8), (0, 0), 1)
    for name, fn in (("preserve colour", lambda: blend(a, b, 1.0, True)), ("strength 0.5", lambda: blend(a, b, 0.5)),
                     ("both", lambda: blend(a, b, 0.5, True)), ("alpha (naive)", lambda: alpha_blend(a, b, 0.5))):
        fn()
        n, start = 0, time.perf_counter()
        while time.perf_counter() - start < 1.0:
            fn()
            n += 1
        print(f"{name:16s} {1000 * (time.perf_counter() - start) / n:6.1f} ms per 1280x720 frame")


if __name__ == "__main__":  # pragma: no cover
    _bench()
