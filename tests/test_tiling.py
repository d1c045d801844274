"""Tiled inference (realtime.engine.tiling): big frames in tiles that join without seams, tiny frames padded up.
Runs from the repository alone: the shipped mosaic network and a frame of the bundled sample clip."""

from __future__ import annotations

import subprocess
import sys

import cv2
import numpy as np
import pytest

from realtime.engine import tiling
from realtime.engine import Engine
from realtime.errors import UserError
from realtime.samples import BUNNY
from tests.conftest import REPO

MOSAIC = REPO / "models" / "mosaic.onnx"


@pytest.fixture(scope="module")
def big_frame() -> np.ndarray:
    """A real frame (the bundled clip, 640x360) enlarged to 1536x864: 1.3 MP."""
    cap = cv2.VideoCapture(str(BUNNY))
    for _ in range(40):
        ok, frame = cap.read()
    assert ok
    return cv2.resize(frame, (1536, 864), interpolation=cv2.INTER_CUBIC)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(255 ** 2 / max(((a.astype(np.float64) - b) ** 2).mean(), 1e-12)))


def boundary_jumps(image: np.ndarray, cuts: list[int]) -> list[float]:
    """For each cut (a column), the mean step across it over the median step of the columns around it:
    near 1 where nothing happens there, well above 1 at a seam."""
    steps = np.abs(np.diff(image.astype(np.float32), axis=1)).mean(axis=(0, 2))
    return [float(steps[c - 1] / np.median(steps[c - 12:c + 12])) for c in cuts]


def test_tiles_join_without_seams(big_frame):
    whole = Engine(MOSAIC, device="cpu", tile=None)(big_frame)
    engine = Engine(MOSAIC, device="cpu", tile=800_000)
    tiled = engine(big_frame)
    cores = list(engine.tiler().tiles(*big_frame.shape[:2]))
    assert len(cores) >= 4, "the budget should split this frame into several tiles"
    # Above the budget the statistics are extrapolated from scaled copies: an even difference of a few grey
    # levels, never a seam (the jumps below). It grows with how bold the network is: 0.9 levels for candy,
    # 2.9 (34.5 dB) and 3.4 (32.8 dB) for two earlier mosaics, each with jumps of 1.0 at the cuts.
    assert np.abs(tiled.astype(np.float32) - whole.astype(np.float32)).mean() < 4.0
    cols = sorted({box[2] for box, _ in cores} - {0})
    rows = sorted({box[0] for box, _ in cores} - {0})
    assert cols and rows
    for ratio in boundary_jumps(tiled, cols) + boundary_jumps(tiled.transpose(1, 0, 2), rows):
        assert ratio < 1.6, ratio
    # the same search does find a seam: tiles normalised each on their own
    alone = Engine(MOSAIC, device="cpu", tile=800_000)
    alone.tiler().split = None
    alone.tiler().tile_session = alone.session
    seams = alone(big_frame)
    assert psnr(seams, whole) < psnr(tiled, whole) - 3
    assert max(boundary_jumps(seams, cols) + boundary_jumps(seams.transpose(1, 0, 2), rows)) > 1.6


def test_frames_within_the_budget_are_not_tiled(big_frame):
    engine = Engine(MOSAIC, device="cpu", tile=2_000_000)
    out = engine(big_frame)
    assert engine._tiler is None
    assert np.array_equal(out, Engine(MOSAIC, device="cpu", tile=None)(big_frame))


@pytest.mark.parametrize("value,expected", [("auto", tiling.DEFAULT_BUDGET), ("off", None), ("OFF", None),
                                            ("1000000", 1_000_000), ("4e6", 4_000_000)])
def test_tile_option_values(value, expected):
    assert tiling.parse_tile(value) == expected


@pytest.mark.parametrize("value", ["0", "-5", "1000", "big", ""])
def test_tile_option_refuses_nonsense(value):
    with pytest.raises(UserError, match="--tile"):
        tiling.parse_tile(value)


@pytest.mark.parametrize("shape", [(1, 1), (2, 3), (3000, 7), (7, 3000), (31, 33)])
def test_tiny_and_thin_frames_keep_their_size(shape):
    frame = np.random.default_rng(0).integers(0, 256, shape + (3,), dtype=np.uint8)
    out = Engine(MOSAIC, device="cpu")(frame)
    assert out.shape == frame.shape and out.dtype == np.uint8


def test_tile_flag_on_the_command_line(big_frame, tmp_path):
    src, out = tmp_path / "big.png", tmp_path / "out.png"
    cv2.imwrite(str(src), big_frame)
    run = subprocess.run([sys.executable, "-m", "realtime", "image", str(src), "-o", str(out), "--style", str(MOSAIC),
                          "--device", "cpu", "--tile", "500000"], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert cv2.imread(str(out)).shape == big_frame.shape
    bad = subprocess.run([sys.executable, "-m", "realtime", "image", str(src), "-o", str(tmp_path / "x.png"),
                          "--style", str(MOSAIC), "--tile", "lots"], capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.startswith("error: --tile lots") and "Traceback" not in bad.stderr
    assert not (tmp_path / "x.png").exists()
