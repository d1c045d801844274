"""Shared fixtures: real data and a small style network made by our own training code.

The data in tests/data (8 Kodak photos, a public-domain style image) and the bundled sample clip let
most tests run from a clone alone; `shared` (../shared) is for the heavier checks, which skip without it."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("REALTIME_SHARED", REPO.parent / "shared"))
STYLES = SHARED / "data" / "styles"
TRAIN = SHARED / "data" / "train"
EVAL = SHARED / "data" / "eval"
VIDEO = SHARED / "data" / "video"
ANCHORS = SHARED / "anchors"
DATA = REPO / "tests" / "data"
PHOTOS = DATA / "photos"  # 8 Kodak photos, 288x288
STYLE = DATA / "starry_night.jpg"  # public domain, long side 256


def need_shared() -> None:
    if not (SHARED / "data").is_dir():
        pytest.skip(f"shared data not found at {SHARED} (set REALTIME_SHARED)")


@pytest.fixture(scope="session")
def shared() -> Path:
    need_shared()
    return SHARED


@pytest.fixture(scope="session")
def vgg_weights():
    """The real VGG19 weights, through the project's own fetch (cached after the first run)."""
    from realtime.vgg import ensure_weights

    return ensure_weights()


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory, vgg_weights) -> Path:
    """A width-8 network trained for a few steps on the repository's photos against The Starry Night."""
    from realtime.train import TrainSettings, train

    out = tmp_path_factory.mktemp("tiny")
    settings = TrainSettings(style_image=str(STYLE), data=str(PHOTOS), name="tiny",
                             out_dir=str(out), steps=8, batch_size=2, image_size=64, style_size=128,
                             width=8, preview_every=0, checkpoint_every=0, device="cpu", lr=1e-2)
    return train(settings)


@pytest.fixture(scope="session")
def tiny_onnx(tiny_checkpoint) -> Path:
    """The tiny network exported to ONNX with our exporter (fp32, dynamic H x W, metadata)."""
    from realtime.export import export

    out = tiny_checkpoint.parent / "tiny.onnx"
    export(tiny_checkpoint, out)
    return out


@pytest.fixture
def xvfb():
    """A private X server on a display number it picks itself (-displayfd); yields DISPLAY."""
    if not shutil.which("Xvfb"):
        pytest.skip("Xvfb not installed (apt-get install xvfb): the window test needs an X server")
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen(["Xvfb", "-displayfd", str(write_fd), "-screen", "0", "1600x1000x24", "-nolisten", "tcp"],
                            pass_fds=(write_fd,), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    os.close(write_fd)
    try:
        number = b""
        deadline = time.monotonic() + 30
        while not number.endswith(b"\n") and time.monotonic() < deadline and proc.poll() is None:
            chunk = os.read(read_fd, 16)
            if not chunk:
                break
            number += chunk
        if not number.strip():
            pytest.skip(f"Xvfb did not start: {proc.stderr.read().decode(errors='replace')[-300:] if proc.poll() is not None else 'no display number'}")
        yield f":{number.decode().strip()}"
    finally:
        os.close(read_fd)
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="session")
def two_styles(tiny_onnx, tmp_path_factory):
    """Two webcam styles (the tiny network under two names), for switching between them."""
    from realtime.webcam import StyleEntry

    folder = tmp_path_factory.mktemp("two")
    second = folder / "second.onnx"
    shutil.copy(tiny_onnx, second)
    return [StyleEntry("tiny", tiny_onnx), StyleEntry("second", second)]
