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


@pytest.fixture(scope="session", autouse=True)
def int8_auto_off(tmp_path_factory):
    """In the suite, auto means float (REALTIME_INT8=off: no int8 copy made, nothing timed while other tests
    time things), and a copy a test forces lands in this run's folder, not the user's cache;
    tests/test_int8_auto.py turns auto on with a cache of its own."""
    names = ("REALTIME_INT8", "REALTIME_INT8_CACHE")
    saved = {name: os.environ.get(name) for name in names}
    os.environ.setdefault("REALTIME_INT8", "off")
    os.environ.setdefault("REALTIME_INT8_CACHE", str(tmp_path_factory.mktemp("int8-cache")))
    yield
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(scope="session")
def shared() -> Path:
    need_shared()
    return SHARED


@pytest.fixture(scope="session")
def vgg_weights():
    """The real VGG19 weights, through the project's own fetch (cached after the first run)."""
    from realtime.training.vgg import ensure_weights

    return ensure_weights()


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory, vgg_weights) -> Path:
    """A width-8 network trained for a few steps on the repository's photos against The Starry Night."""
    from realtime.training.train import TrainSettings, train

    out = tmp_path_factory.mktemp("tiny")
    settings = TrainSettings(style_image=str(STYLE), data=str(PHOTOS), name="tiny",
                             out_dir=str(out), steps=8, batch_size=2, image_size=64, style_size=128,
                             width=8, preview_every=0, checkpoint_every=0, device="cpu", lr=1e-2)
    return train(settings)


@pytest.fixture(scope="session")
def tiny_onnx(tiny_checkpoint) -> Path:
    """The tiny network exported to ONNX with our exporter (fp32, dynamic H x W, metadata)."""
    from realtime.tools.export import export

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
    from realtime.live import StyleEntry

    folder = tmp_path_factory.mktemp("two")
    second = folder / "second.onnx"
    shutil.copy(tiny_onnx, second)
    return [StyleEntry("tiny", tiny_onnx), StyleEntry("second", second)]


# -- clips and a foreign network made by the tests themselves (no ../shared needed) -------------------
def bunny_frames(n: int, size: tuple[int, int] | None = None, start: int = 0) -> list:
    """n BGR frames of the bundled sample (640x360, 25 fps, 132 frames, one continuous shot), from `start`;
    past the end it plays backwards and forwards again (no jump, so no scene cut). size=(w, h) resizes."""
    import cv2

    from realtime.samples import BUNNY

    cap = cv2.VideoCapture(str(BUNNY))
    clip = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        clip.append(frame)
    cap.release()
    assert len(clip) == 132, len(clip)
    cycle = clip + clip[-2:0:-1]  # 0..131, 130..1: ping-pong
    frames = [cycle[(start + i) % len(cycle)] for i in range(n)]
    if size:
        frames = [cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in frames]
    return frames


def write_clip(dst: Path, frames: list, rate=25, pix_fmt: str = "yuv420p", audio: str | None = "aac",
               x264: dict[str, str] | None = None, ticks: int = 1, shown: tuple[float, bool] | None = None,
               tags: dict[str, str] | None = None) -> Path:
    """Encode BGR frames to H.264 in dst's container (by its suffix) at `rate` (an int or a Fraction),
    with a synthetic audio track (a 440 Hz sine, stereo 48 kHz) as long as the video, in `audio` (an
    encoder name: aac, pcm_mulaw, ...) or none. ticks > 1 stamps the stream at ticks x rate with a frame
    every `ticks` ticks (an AVI header then claims the higher rate, as some cameras' files do).
    shown=(degrees anticlockwise, mirrored) writes a display matrix, as phones do; `tags` go on the video
    stream (a `rotate` tag, as older tools wrote)."""
    from fractions import Fraction

    import av
    import numpy as np

    rate = Fraction(rate)
    height, width = frames[0].shape[:2]
    with av.open(str(dst), "w") as out:
        ov = out.add_stream("libx264", rate=rate * ticks)
        ov.width, ov.height, ov.pix_fmt = width, height, pix_fmt
        ov.codec_context.time_base = Fraction(1) / (rate * ticks)
        ov.codec_context.options = {"preset": "ultrafast", "crf": "20", **(x264 or {})}
        if shown is not None:
            ov.set_display_rotation(shown[0], hflip=shown[1])
        if tags:
            ov.metadata.update(tags)
        oa = None if audio is None else out.add_stream(audio, rate=48000, layout="stereo")
        for i, frame in enumerate(frames):
            vf = av.VideoFrame.from_ndarray(frame, format="bgr24").reformat(format=pix_fmt)
            vf.pts = i * ticks
            for p in ov.encode(vf):
                out.mux(p)
        for p in ov.encode(None):
            out.mux(p)
        if oa is not None:
            total = int(round(len(frames) / rate * 48000))
            resampler = av.AudioResampler(format=oa.format.name, layout="stereo", rate=48000)
            for at in range(0, total, 1024):
                n = min(1024, total - at)
                t = (at + np.arange(n)) / 48000
                tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
                af = av.AudioFrame.from_ndarray(np.stack([tone, tone]), format="fltp", layout="stereo")
                af.sample_rate, af.pts = 48000, at
                for rf in resampler.resample(af):
                    for p in oa.encode(rf):
                        out.mux(p)
            for p in oa.encode(None):
                out.mux(p)
    return dst


@pytest.fixture(scope="session")
def foreign_onnx(tmp_path_factory) -> Path:
    """A network from another project, as far as the engine can tell: exported here with torch.onnx, no
    realtime metadata, its own input/output names, RGB 0-255 NCHW in and out, and two stride-2 stages, so
    it takes only multiples of 4 (like the fast-style anchors, which cannot ship)."""
    import torch

    class Foreign(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.down = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, 2, 1), torch.nn.ReLU(),
                                            torch.nn.Conv2d(8, 8, 3, 2, 1), torch.nn.ReLU())
            self.up = torch.nn.Sequential(torch.nn.ConvTranspose2d(8, 8, 4, 2, 1), torch.nn.ReLU(),
                                          torch.nn.ConvTranspose2d(8, 3, 4, 2, 1))

        def forward(self, x):  # noqa: ANN001
            return (x + 60 * torch.tanh(self.up(self.down(x / 255)))).clamp(0, 255)

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("foreign") / "foreign_style.onnx"
    h, w = torch.export.Dim("h", min=8, max=4096), torch.export.Dim("w", min=8, max=4096)
    program = torch.onnx.export(Foreign().eval(), (torch.rand(1, 3, 64, 64) * 255,), dynamo=True, opset_version=18,
                                input_names=["img"], output_names=["stylised"],
                                dynamic_shapes={"x": {2: 4 * h, 3: 4 * w}}, verbose=False)
    program.save(str(path))
    return path


@pytest.fixture(scope="session")
def long_clip(tmp_path_factory) -> Path:
    """600 frames (24 s at 25 fps) of the bundled sample played back and forth, 640x360, with AAC audio:
    long enough to interrupt a run part way."""
    return write_clip(tmp_path_factory.mktemp("long") / "long.mp4", bunny_frames(600), rate=25)
