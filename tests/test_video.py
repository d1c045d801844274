"""`realtime video` on real video (the bundled sample, and clips the tests encode from it): frames, rate, size and audio kept; Ctrl-C and refusals as a user sees them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from realtime.media import video
from realtime.errors import UserError
from realtime.samples import BUNNY
from tests.conftest import bunny_frames, write_clip
from tests.helpers import REPO, assert_clean_error, cli, ctrl_c_works

NTSC = Fraction(30000, 1001)
FAST = ("--device", "cpu", "--scale", "0.25", "--preset", "ultrafast")  # the network at 160x90: seconds, not minutes


def probe(path: Path) -> dict:
    """What a player would see: decoded frame count and times, rate, size, and the audio packets."""
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        info = {"rate": v.average_rate, "size": (v.codec_context.width, v.codec_context.height),
                "pix_fmt": v.codec_context.pix_fmt, "audio": [s.codec_context.name for s in c.streams.audio]}
        info["times"] = [float(f.pts * f.time_base) for f in c.decode(v)]
    info["frames"] = len(info["times"])
    if info["audio"]:
        with av.open(str(path)) as c:
            packets = [p for p in c.demux(c.streams.audio[0]) if p.dts is not None]
            info["audio_packets"] = len(packets)
            info["audio_bytes"] = sum(p.size for p in packets)
            info["audio_seconds"] = float((packets[-1].pts + packets[-1].duration - packets[0].pts) * packets[0].time_base)
    return info


def frames_at(path: Path, indices: list[int]) -> list[np.ndarray]:
    out = []
    with av.open(str(path)) as c:
        for i, frame in enumerate(c.decode(video=0)):
            if i in indices:
                out.append(frame.to_ndarray(format="bgr24").astype(np.float32))
            if i >= max(indices):
                break
    return out


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


@pytest.fixture(scope="session")
def short_clip(tmp_path_factory) -> Path:
    """60 frames of the bundled sample at 29.97 fps (30000/1001, like broadcast video), with AAC audio."""
    return write_clip(tmp_path_factory.mktemp("clips") / "short.mp4", bunny_frames(60), rate=NTSC)


@pytest.fixture(scope="session")
def ntsc_clip(tmp_path_factory) -> Path:
    """The whole bundled sample (132 frames) retimed to 29.97 fps, with AAC audio."""
    return write_clip(tmp_path_factory.mktemp("clips") / "ntsc.mp4", bunny_frames(132), rate=NTSC)


# ------------------------------------------------------------------------------------ whole clips, real CLI

@pytest.mark.parametrize("which", ["bundled", "ntsc"])
def test_a_clip_keeps_every_frame_the_rate_the_size_and_the_audio(which, tiny_onnx, ntsc_clip, tmp_path):
    """The bundled sample as it ships (25 fps, AAC), and retimed to 29.97 fps (timestamps that do not fall
    on whole milliseconds)."""
    src, out = (BUNNY if which == "bundled" else ntsc_clip), tmp_path / "styled.mp4"
    rate = Fraction(25) if which == "bundled" else NTSC
    result = cli("video", src, "-o", out, "--style", tiny_onnx, *FAST)
    assert result.code == 0, result.stderr
    assert "wrote" in result.stderr and "132 frames" in result.stderr
    before, after = probe(src), probe(out)
    assert after["frames"] == before["frames"] == 132
    assert after["rate"] == rate
    assert after["size"] == (640, 360) and after["pix_fmt"] == "yuv420p"
    assert np.allclose(after["times"], before["times"], atol=1e-3)  # same timestamps, not just the same count
    assert after["audio"] == ["aac"]
    assert after["audio_packets"] == before["audio_packets"]
    assert after["audio_bytes"] == before["audio_bytes"]  # remuxed, not re-encoded
    assert after["audio_seconds"] == pytest.approx(before["audio_seconds"], abs=0.05)
    assert leftovers(tmp_path) == []
    # stylised: far from the input, well above codec noise (crf 18 is ~1-3 grey levels)
    for a, b in zip(frames_at(src, [0, 66, 131]), frames_at(out, [0, 66, 131])):
        assert np.abs(a - b).mean() > 10


def test_avi_with_aac_to_mp4_and_size_sets_the_long_side(tiny_onnx, tmp_path):
    """An AVI like many cameras write: H.264 with B-frames stamped in decode order, a header that says
    50 fps for 25 fps content (a frame every other tick), and an AAC track."""
    src, out = tmp_path / "camera.avi", tmp_path / "camera.mp4"
    # fast: B-frames. 341 frames (13.6 s): the output's average rate comes from first and last time stamps,
    # and AVI stamps the last B-frame 20 ms early; over a short clip that alone moves it past 25 +- 0.1
    write_clip(src, bunny_frames(341), rate=25, ticks=2, x264={"preset": "fast"})
    before = probe(src)
    assert before["rate"] == 50 and np.any(np.diff(before["times"]) < 0)  # the file is what it should be
    result = cli("video", src, "-o", out, "--style", tiny_onnx, "--size", "320", *FAST)
    assert result.code == 0, result.stderr
    after = probe(out)
    assert after["frames"] == before["frames"] == 341
    assert after["size"] == (320, 180)
    assert np.all(np.diff(after["times"]) > 0)
    assert np.allclose(after["times"], sorted(before["times"]), atol=1e-3)  # display order, input times
    assert float(after["rate"]) == pytest.approx(25, abs=0.1)
    assert after["audio"] == ["aac"] and after["audio_bytes"] == before["audio_bytes"]
    assert after["audio_packets"] == before["audio_packets"]


def test_no_audio_and_overwrite(tiny_onnx, short_clip, tmp_path):
    out = tmp_path / "quiet.mp4"
    out.write_bytes(b"an older result")
    refused = cli("video", short_clip, "-o", out, "--style", tiny_onnx, *FAST)
    assert_clean_error(refused, "--overwrite")
    assert out.read_bytes() == b"an older result"
    result = cli("video", short_clip, "-o", out, "--style", tiny_onnx, "--no-audio", "--overwrite", *FAST)
    assert result.code == 0, result.stderr
    after = probe(out)
    assert after["audio"] == [] and after["frames"] == 60 and after["rate"] == Fraction(30000, 1001)
    assert oct(out.stat().st_mode & 0o777) != oct(0o600)  # not the temp file's private mode
    assert leftovers(tmp_path) == []


@pytest.mark.skipif(os.name == "nt", reason="POSIX signals")
def test_ctrl_c_leaves_a_playable_partial_file(tiny_onnx, long_clip, tmp_path):
    out = tmp_path / "partial.mp4"
    cmd = [sys.executable, "-m", "realtime", "video", str(long_clip), "-o", str(out),
           "--style", str(tiny_onnx), "--device", "cpu", "--scale", "0.5"]
    # a child of a non-interactive shell may inherit SIGINT ignored; give it the default so Python handles it
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
                            env={**os.environ, "COLUMNS": "200"},
                            preexec_fn=ctrl_c_works)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        partial = [p for p in tmp_path.glob(".partial.*.mp4") if p.stat().st_size > 150_000]
        if partial:  # encoded frames are reaching the disk
            break
        time.sleep(0.2)
    assert proc.poll() is None, "finished before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    lines = [line for line in stderr.splitlines() if line.startswith("interrupted:")]
    assert len(lines) == 1 and lines[0].endswith(f"frames to {out} (playable)"), stderr
    written = int(lines[0].split()[2])
    after = probe(out)
    assert 0 < after["frames"] == written < 600
    assert after["rate"] == 25 and after["audio"] == ["aac"]
    assert leftovers(tmp_path) == []


def test_odd_size_is_kept_exactly_with_444(tiny_onnx, tmp_path):
    src = write_clip(tmp_path / "odd.mp4", bunny_frames(20, (321, 181)), rate=NTSC, pix_fmt="yuv444p", audio=None)
    out = tmp_path / "odd_out.mp4"
    result = cli("video", src, "-o", out, "--style", tiny_onnx, *FAST)
    assert result.code == 0, result.stderr
    assert "4:4:4" in result.stderr
    after = probe(out)
    assert after["size"] == (321, 181) and after["pix_fmt"] == "yuv444p" and after["frames"] == 20


def test_audio_the_container_cannot_hold_is_reencoded_to_aac(tiny_onnx, tmp_path):
    src = write_clip(tmp_path / "mulaw.mov", bunny_frames(30), rate=NTSC, audio="pcm_mulaw")  # .mov takes mu-law, .mp4 does not
    out = tmp_path / "mulaw.mp4"
    result = cli("video", src, "-o", out, "--style", tiny_onnx, *FAST)
    assert result.code == 0, result.stderr
    assert "re-encoding" in result.stderr and "AAC" in result.stderr
    before, after = probe(src), probe(out)
    assert before["audio"] == ["pcm_mulaw"] and after["audio"] == ["aac"]
    assert after["audio_seconds"] == pytest.approx(before["audio_seconds"], abs=0.1)
    assert after["frames"] == 30


# ------------------------------------------------------------------------------------ refusals, real CLI

def _corrupt(tmp_path: Path) -> Path:
    path = tmp_path / "corrupt.mp4"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 200_000, dtype=np.uint8).tobytes())
    return path


def _empty(tmp_path: Path) -> Path:
    path = tmp_path / "empty.mp4"
    path.write_bytes(b"")
    return path


def _audio_only(tmp_path: Path) -> Path:
    path = tmp_path / "sound.m4a"
    with av.open(str(BUNNY)) as inp, av.open(str(path), "w") as out:
        stream = out.add_stream_from_template(inp.streams.audio[0])
        for i, packet in enumerate(inp.demux(inp.streams.audio[0])):
            if packet.dts is not None and i < 50:
                packet.stream = stream
                out.mux(packet)
    return path


@pytest.mark.parametrize("make, needle", [(_corrupt, "corrupt.mp4"), (_empty, "empty.mp4"),
                                          (_audio_only, "no video stream")])
def test_unreadable_inputs_are_refused_in_one_line(make, needle, tiny_onnx, tmp_path):
    src = make(tmp_path)
    out = tmp_path / "out.mp4"
    result = cli("video", src, "-o", out, "--style", tiny_onnx, "--device", "cpu")
    assert_clean_error(result, needle)
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not out.exists() and leftovers(tmp_path) == []


def test_output_that_is_the_input_is_refused(tiny_onnx, short_clip, tmp_path):
    src = tmp_path / "mine.mp4"
    src.write_bytes(short_clip.read_bytes())
    link = tmp_path / "same.mp4"
    os.link(src, link)
    for target in (src, tmp_path / "." / "mine.mp4", link):
        result = cli("video", src, "-o", target, "--style", tiny_onnx, "--overwrite")
        assert_clean_error(result, "would overwrite the input")
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert src.read_bytes() == short_clip.read_bytes()
    assert leftovers(tmp_path) == []


def test_unknown_style_is_refused(short_clip, tmp_path):
    out = tmp_path / "out.mp4"
    result = cli("video", short_clip, "-o", out, "--style", "no_such_style_here")
    assert_clean_error(result, "no_such_style_here")
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not out.exists()


# ------------------------------------------------------------------------------------ the module itself

def test_pipeline_keeps_colours_and_pixels_with_an_identity_engine(short_clip, tmp_path):
    """Through decode -> engine -> encode with a do-nothing engine the picture must come back (no BGR/RGB swap)."""
    out = tmp_path / "same.mp4"
    job = video.prepare(short_clip, out, video.VideoSettings())
    result = video.stylise_video(job, lambda frame: frame, show_progress=False)
    assert result.complete and result.frames == 60 and result.fps == pytest.approx(29.97, abs=0.01)
    for a, b in zip(frames_at(short_clip, [5, 40]), frames_at(out, [5, 40])):
        assert np.abs(a - b).mean() < 3
        assert abs((b - a).mean()) < 1  # no drift in brightness (swscale's default rounding loses ~2 levels)
        assert np.abs(a[:, :, ::-1] - b).mean() > 3 * np.abs(a - b).mean()


def test_an_error_mid_way_keeps_the_frames_done(short_clip, tmp_path):
    out = tmp_path / "broken.mp4"
    job = video.prepare(short_clip, out, video.VideoSettings())
    calls, said = [], []

    def engine(frame: np.ndarray) -> np.ndarray:
        calls.append(1)
        if len(calls) > 25:
            raise UserError("the network fell over")
        return frame

    with pytest.raises(UserError, match="fell over"):
        video.stylise_video(job, engine, notify=said.append, show_progress=False)
    assert probe(out)["frames"] == 25
    assert any(line.startswith("stopped by an error: wrote 25 of 60 frames") for line in said), said


def test_retimer_puts_decode_order_times_back_in_display_order():
    class Frame:
        def __init__(self, pts):
            self.pts, self.dts = pts, None

    retimer = video.Retimer(step=2, depth=4)
    got = []
    for pts in [2, 6, 8, 10, 12, 4, 16, 18, 14, None]:  # AVI-like: B-frames carry their packet's time
        got += [t for t, _ in retimer.push(Frame(pts))]
    got += [t for t, _ in retimer.flush()]
    assert got == [2, 4, 6, 8, 10, 12, 14, 16, 18, 20]

