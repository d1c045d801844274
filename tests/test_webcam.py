"""The live loop: real clips played as a camera, headless and in a real X window (Xvfb), hotkeys,
recordings, Ctrl-C, a camera that vanishes, and the one-line refusals."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from realtime.media import capture as capture_mod
from realtime.media.capture import Capture, Frame, LatestFrame
from realtime.engine import Engine
from realtime.errors import UserError
from realtime.engine.inflight import cpu_workers
from realtime.live import (LiveLoop, LiveOptions, NullDisplay, Recorder, StyleEntry, Styles, WebcamSettings,
                             live_flight, style_entries)
from realtime.samples import BUNNY
from tests.helpers import REPO, Result, assert_clean_error, cli, ctrl_c_works

CLIP = BUNNY  # the bundled sample (640x360, 25 fps, 132 frames): these tests run from a clone alone


def source_frames(n: int, size: tuple[int, int] | None = None, path: Path = CLIP) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    frames = []
    while len(frames) < n:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(cv2.resize(frame, size, interpolation=cv2.INTER_AREA) if size else frame)
    cap.release()
    return frames


def read_video(path: Path) -> tuple[list[np.ndarray], float]:
    cap = cv2.VideoCapture(str(path))
    assert cap.isOpened(), path
    fps = cap.get(cv2.CAP_PROP_FPS)
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    return frames, fps


def mad(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.float32) - b.astype(np.float32)).mean())


# -- the command, as a user runs it ------------------------------------------------------------------
def test_headless_source_processes_every_frame(tiny_onnx):
    result = cli("webcam", "--style", tiny_onnx, "--source", CLIP, "--no-display", "--max-frames", 50,
                 "--device", "cpu", timeout=300)
    assert result.code == 0, result.stderr
    line = result.stdout.strip().splitlines()[-1]
    assert line.startswith("webcam: 50 frames in "), line
    assert "fps mean" in line and "CPUExecutionProvider" in line, line
    assert "skipped" not in line, line  # --source with --no-display drops nothing
    fps = float(line.split(" s, ")[1].split(" fps")[0])
    latency = float(line.split("fps mean, ")[1].split(" ms a frame")[0])
    assert fps > 0 and 0 < latency < 1000 * 50 / fps


def test_record_has_every_frame_and_stylised_content(tiny_onnx, tmp_path):
    out = tmp_path / "live.mp4"
    result = cli("webcam", "--style", tiny_onnx, "--source", CLIP, "--no-display", "--max-frames", 20,
                 "--width", 320, "--height", 180, "--record", out, "--device", "cpu", timeout=300)
    assert result.code == 0, result.stderr
    assert f"wrote {out} (20 frames at 25 fps)" in result.stderr
    frames, fps = read_video(out)
    assert len(frames) == 20 and fps == pytest.approx(25.0)
    assert frames[0].shape == (180, 320, 3)
    originals = source_frames(20, (320, 180))
    engine = Engine(tiny_onnx, device="cpu")
    for i in (0, 9, 19):
        expected = engine(originals[i])
        assert mad(frames[i], originals[i]) > 10, "the recording holds the camera image, not the style"
        assert mad(frames[i], expected) < 6, f"frame {i} is not the stylised frame {i}"
    assert not list(tmp_path.glob(".live.*")), "temporary file left behind"


def test_missing_camera_is_one_clean_error(tiny_onnx):
    result = cli("webcam", "--style", tiny_onnx, "--camera", 57, "--no-display", timeout=120)
    assert_clean_error(result, "camera 57 could not be opened", "--source VIDEO")
    assert "WARN" not in result.stderr and "[ERROR" not in result.stderr, result.stderr


def test_unknown_style_is_one_clean_error():
    result = cli("webcam", "--style", "no-such-style", "--source", CLIP, "--no-display", timeout=120)
    assert_clean_error(result, "no-such-style", "unknown style")


def test_bad_options_are_clean_errors(tiny_onnx, tmp_path):
    both = cli("webcam", "--style", tiny_onnx, "--camera", 0, "--source", CLIP, "--no-display", timeout=120)
    assert_clean_error(both, "--camera and --source")
    missing = cli("webcam", "--style", tiny_onnx, "--source", tmp_path / "nope.mp4", "--no-display", timeout=120)
    assert_clean_error(missing, "nope.mp4", "not found")
    wrong = cli("webcam", "--style", tiny_onnx, "--source", CLIP, "--no-display", "--record", tmp_path / "x.png")
    assert_clean_error(wrong, "--record", ".mp4")


def test_window_needs_a_display(tiny_onnx):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    proc = subprocess.run([sys.executable, "-m", "realtime", "webcam", "--style", str(tiny_onnx), "--source", str(CLIP)],
                          capture_output=True, text=True, timeout=120, env={**env, "COLUMNS": "200"})
    assert_clean_error(Result(proc.returncode, proc.stdout, proc.stderr), "DISPLAY", "--no-display")


class Running:
    """The CLI in the background, its stderr read line by line as it comes (to wait for a message)."""

    def __init__(self, *args: object, env: dict[str, str] | None = None, cwd: Path | None = None):
        self.proc = subprocess.Popen([sys.executable, "-m", "realtime", *map(str, args)], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, cwd=cwd, preexec_fn=ctrl_c_works,
                                     env={**os.environ, "COLUMNS": "200", **(env or {})})
        self.lines: list[str] = []
        self.out: list[str] = []
        self._threads = [threading.Thread(target=self.lines.extend, args=(self.proc.stderr,), daemon=True),
                         threading.Thread(target=self.out.extend, args=(self.proc.stdout,), daemon=True)]
        for t in self._threads:
            t.start()

    @property
    def stderr(self) -> str:
        return "".join(self.lines)

    def wait_for(self, text: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while not any(text in line for line in self.lines):
            assert self.proc.poll() is None, f"exited before saying {text!r}:\n{self.stderr}{''.join(self.out)}"
            assert time.monotonic() < deadline, f"no {text!r} after {timeout} s:\n{self.stderr}"
            time.sleep(0.05)

    def finish(self, timeout: float = 120) -> tuple[int, str, str]:
        code = self.proc.wait(timeout)
        for t in self._threads:
            t.join(10)
        return code, "".join(self.out), self.stderr


def test_ctrl_c_finalises_the_recording(tiny_onnx, long_clip, tmp_path):
    out = tmp_path / "interrupted.mp4"
    run = Running("webcam", "--style", tiny_onnx, "--source", long_clip, "--no-display", "--width", 160, "--height", 90,
                  "--record", out, "--device", "cpu")
    run.wait_for("recording to")
    time.sleep(1.0)  # let some frames through
    run.proc.send_signal(signal.SIGINT)
    code, stdout, stderr = run.finish()
    assert code == 130, stderr
    assert "Traceback" not in stderr, stderr
    assert "interrupted; 1 recording(s) finalised" in stderr, stderr
    assert "interrupted (Ctrl-C)" in stdout, stdout
    frames, fps = read_video(out)
    n = int(stdout.split("webcam: ")[1].split(" frames")[0])
    assert 0 < len(frames) == n and fps == pytest.approx(25.0)
    assert f"wrote {out} ({n} frames" in stderr


# -- the window, for real, under Xvfb ----------------------------------------------------------------
def read_xwd(data: bytes) -> np.ndarray:
    """An XWD screen dump (ZPixmap, 24/32-bit TrueColor, as Xvfb writes it) -> BGR array."""
    header = np.frombuffer(data[:100], dtype=">u4")
    header_size, fmt, depth, width, height = (int(v) for v in header[[0, 2, 3, 4, 5]])
    byte_order, bpp, bytes_per_line, ncolors = int(header[7]), int(header[11]), int(header[12]), int(header[19])
    assert fmt == 2 and bpp in (24, 32) and depth == 24, (fmt, bpp, depth)
    step = bpp // 8
    start = header_size + 12 * ncolors
    rows = np.frombuffer(data[start:start + height * bytes_per_line], dtype=np.uint8).reshape(height, bytes_per_line)
    pixels = rows[:, :width * step].reshape(height, width, step)
    if byte_order != 0:  # MSBFirst: xRGB / RGB
        pixels = pixels[:, :, ::-1]
    return np.ascontiguousarray(pixels[:, :, :3])  # LSBFirst: BGR(x)


def test_window_under_xvfb_shows_the_stylised_frame_with_overlay(tiny_onnx, tmp_path, xvfb):
    shot, rec = tmp_path / "shown.png", tmp_path / "shown.mp4"
    env = {**os.environ, "DISPLAY": xvfb, "QT_QPA_PLATFORM": "xcb", "COLUMNS": "200"}
    proc = subprocess.Popen([sys.executable, "-m", "realtime", "webcam", "--style", str(tiny_onnx), "--source", str(CLIP),
                             "--width", "640", "--height", "360", "--max-frames", "30", "--device", "cpu",
                             "--screenshot", str(shot), "--record", str(rec)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    grab = None
    if shutil.which("xwininfo") and shutil.which("xwd"):  # a real grab of the screen while the window is up
        deadline = time.monotonic() + 120
        while proc.poll() is None and time.monotonic() < deadline:
            tree = subprocess.run(["xwininfo", "-root", "-tree"], capture_output=True, text=True, env=env).stdout
            if '"realtime"' in tree and "640x360" in tree:
                time.sleep(1.0)
                dump = subprocess.run(["xwd", "-root", "-silent"], capture_output=True, env=env)
                if dump.returncode == 0 and proc.poll() is None:
                    grab = read_xwd(dump.stdout)
                break
            time.sleep(0.2)
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr
    assert "Traceback" not in stderr, stderr
    if Path("/usr/share/fonts/truetype").is_dir():  # we point Qt at the system fonts instead of its empty folder
        assert "QFontDatabase" not in stderr, stderr
    summary = stdout.strip().splitlines()[-1]
    n = int(summary.split("webcam: ")[1].split(" frames")[0])
    # the file is paced like a camera: a slow machine skips stale frames, and may reach its end first
    assert 5 <= n <= 30 and ("--max-frames 30 reached" in summary or f"end of {CLIP.name}" in summary), summary

    shown = cv2.imread(str(shot))
    assert shown is not None and shown.shape == (360, 640, 3)
    recorded, _ = read_video(rec)
    assert len(recorded) == n
    last = recorded[-1]  # the last stylised frame, without the overlay
    below = slice(120, 360)
    assert mad(shown[below], last[below]) < 6, "the window does not show the last stylised frame"
    band = shown[:36, :56].astype(np.float32)  # inside the overlay's dark box at 360p
    assert band.mean() < last[:36, :56].astype(np.float32).mean() * 0.75, "no dark overlay band top-left"
    assert (band.min(axis=2) > 200).mean() > 0.01, "no white overlay text"
    assert mad(last, source_frames(1, (640, 360))[0]) > 10  # stylised, not the camera image

    if os.environ.get("REALTIME_SCREENSHOT_TO"):  # e.g. benchmarks/webcam_xvfb_screenshot.png, to look at
        shutil.copyfile(shot, REPO / os.environ["REALTIME_SCREENSHOT_TO"])
    if grab is not None:
        window = grab[:360, :640]  # no window manager: the window sits at the top-left corner
        # a blank window is one flat fill (std near 0); the tiny test network's frames measure 15-30
        assert window.std() > 5, "the window is blank on the real screen"
        assert mad(window[below], shown[below]) < 40  # an earlier frame of the same scene
        cv2.imwrite(str(tmp_path / "screen.png"), grab)


def x_window(env: dict[str, str], name: str = "realtime") -> int | None:
    """The id of the top-level window called `name`, from xwininfo; None while there is none."""
    tree = subprocess.run(["xwininfo", "-root", "-tree"], capture_output=True, text=True, env=env).stdout
    for line in tree.splitlines():
        if f'"{name}"' in line:
            return int(line.split()[0], 16)
    return None


def close_like_a_window_manager(window: int, display: str) -> None:
    """Send WM_DELETE_WINDOW, what a window manager sends when the user clicks the close button."""
    import ctypes
    import ctypes.util

    class ClientMessage(ctypes.Structure):
        _fields_ = [("type", ctypes.c_int), ("serial", ctypes.c_ulong), ("send_event", ctypes.c_int),
                    ("display", ctypes.c_void_p), ("window", ctypes.c_ulong), ("message_type", ctypes.c_ulong),
                    ("format", ctypes.c_int), ("data", ctypes.c_long * 5)]

    class Event(ctypes.Union):
        _fields_ = [("xclient", ClientMessage), ("pad", ctypes.c_long * 24)]

    x11 = ctypes.cdll.LoadLibrary(ctypes.util.find_library("X11") or "libX11.so.6")
    x11.XOpenDisplay.restype = ctypes.c_void_p
    x11.XOpenDisplay.argtypes = [ctypes.c_char_p]
    x11.XInternAtom.restype = ctypes.c_ulong
    x11.XInternAtom.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
    x11.XSendEvent.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int, ctypes.c_long, ctypes.POINTER(Event)]
    x11.XFlush.argtypes = x11.XCloseDisplay.argtypes = [ctypes.c_void_p]
    dpy = x11.XOpenDisplay(display.encode())
    assert dpy, f"cannot open X display {display}"
    event = Event()
    event.xclient.type = 33  # ClientMessage
    event.xclient.window = window
    event.xclient.message_type = x11.XInternAtom(dpy, b"WM_PROTOCOLS", 0)
    event.xclient.format = 32
    event.xclient.data[0] = x11.XInternAtom(dpy, b"WM_DELETE_WINDOW", 0)
    x11.XSendEvent(dpy, window, 0, 0, ctypes.byref(event))
    x11.XFlush(dpy)
    x11.XCloseDisplay(dpy)


def test_real_key_presses_and_closing_the_window_under_xvfb(two_styles, long_clip, tmp_path, xvfb):
    if not (shutil.which("xdotool") and shutil.which("xwininfo")):
        pytest.skip("xdotool and xwininfo (apt-get install xdotool x11-utils) are needed to press keys in the window")
    env = {"DISPLAY": xvfb, "QT_QPA_PLATFORM": "xcb"}
    shot = tmp_path / "shown.png"
    run = Running("webcam", "--style", two_styles[0].path, "--style", two_styles[1].path, "--source", long_clip,
                  "--width", 320, "--height", 180, "--device", "cpu", "--snapshot-dir", tmp_path / "snaps",
                  "--screenshot", shot, env=env, cwd=tmp_path)
    deadline = time.monotonic() + 120
    while (window := x_window(env)) is None:
        assert run.proc.poll() is None and time.monotonic() < deadline, run.stderr
        time.sleep(0.1)
    xdo = lambda *a: subprocess.run(["xdotool", *a], env={**os.environ, **env}, check=True)  # noqa: E731
    xdo("mousemove", "40", "40")  # no window manager: keys go to the window under the pointer
    for key, said in (("n", "style 2/2: second"), ("s", "side by side on"), ("Left", "style 1/2: tiny"),
                      ("space", "snapshot "), ("m", "mirror on")):
        xdo("key", key)
        run.wait_for(said, timeout=30)
    close_like_a_window_manager(window, xvfb)
    code, stdout, stderr = run.finish()
    assert code == 0, stderr
    assert stdout.strip().endswith("; window closed"), stdout
    (snap,) = (tmp_path / "snaps").glob("realtime-tiny-*.png")
    assert cv2.imread(str(snap)).shape == (180, 640, 3)  # side by side: camera image | stylised
    assert cv2.imread(str(shot)).shape == (180, 640, 3)


# -- the loop in-process: hotkeys, recordings, snapshots ----------------------------------------------
class ListCapture:
    """Frames from a list, every one handed over, like --source with --no-display."""

    policy = capture_mod.EVERY
    fps = 25.0
    dropped = 0

    def __init__(self, frames: list[np.ndarray]):
        self.frames = list(frames)
        self.index = 0
        self.stopped = False
        self.end_reason = ""

    def get(self, timeout: float | None = None) -> Frame | None:
        if self.index >= len(self.frames):
            self.end_reason = "end of list"
            return None
        self.index += 1
        return Frame(self.frames[self.index - 1], self.index - 1, time.perf_counter())

    def stop(self) -> None:
        self.stopped = True


class ScriptedDisplay(NullDisplay):
    """A pretend window: records what it is shown and presses `keys[n]` after the n-th frame."""

    shows = True

    def __init__(self, keys: dict[int, str | int] | None = None, close_after: int = 0):
        super().__init__()
        self.keys = keys or {}
        self.close_after = close_after
        self.views: list[np.ndarray] = []
        self.was_closed = False

    def show(self, view: np.ndarray) -> None:
        super().show(view)
        self.views.append(view)

    def poll_key(self) -> int:
        key = self.keys.pop(len(self.views), -1)
        if key == "ctrl-c":
            raise KeyboardInterrupt
        return ord(key) if isinstance(key, str) else key

    @property
    def closed(self) -> bool:
        return bool(self.close_after) and len(self.views) >= self.close_after

    def close(self) -> None:
        self.was_closed = True


def make_styles(entries: list[StyleEntry], messages: list[str]) -> Styles:
    return Styles(entries, lambda path: Engine(path, device="cpu"), messages.append)


def test_hotkeys_switch_mirror_split_snapshot_record_and_quit(two_styles, tmp_path):
    frames = source_frames(20, (160, 90))
    messages: list[str] = []
    keys = {1: "n", 2: "p", 3: "2", 4: "9", 5: "m", 6: "s", 7: "c", 8: "r", 11: "R", 12: "q"}
    display = ScriptedDisplay(keys)
    loop = LiveLoop(ListCapture(frames), make_styles(two_styles, messages), display,
                    LiveOptions(snapshot_dir=tmp_path), messages.append)
    summary = loop.run()

    assert summary.frames == 12 and summary.reason == "quit" and display.was_closed
    assert "style 2/2: second" in messages and "style 1/2: tiny" in messages
    assert any(m.startswith("no style 9") for m in messages)
    assert loop.styles.current.name == "second" and len(loop.styles.engines) == 2
    assert loop.mirror and loop.side_by_side
    assert display.views[5].shape == (90, 160, 3) and display.views[6].shape == (90, 320, 3)
    # side by side with mirroring: the left half is the mirrored camera frame, untouched
    assert np.array_equal(loop.last_clean[:, :160], cv2.flip(frames[11], 1))
    (snap,) = summary.snapshots
    assert snap.parent == tmp_path and snap.name.startswith("realtime-second-") and snap.suffix == ".png"
    assert cv2.imread(str(snap)).shape == (90, 320, 3)
    (recording,) = summary.recordings
    path, count, fps = recording
    assert count == 3 and fps == 25.0 and path.parent == tmp_path
    got, _ = read_video(path)
    assert len(got) == 3 and got[0].shape == (90, 160, 3)  # the stylised frames only, without the split
    assert mad(got[0], cv2.flip(frames[8], 1)) > 10


def test_special_keys_never_pass_for_letters(two_styles):
    loop = LiveLoop(ListCapture([]), make_styles(two_styles, []), NullDisplay(), LiveOptions())
    assert loop.handle_key(0xFF51) is None and loop.styles.index == 1  # GTK's Left (& 0xFF is "Q"): previous
    assert loop.handle_key(0x1000014) is None and loop.styles.index == 0  # Qt's Right: next
    assert loop.handle_key(0xFFE1) is None and loop.handle_key(-1) is None  # Shift alone, no key
    assert loop.handle_key(27) == "quit" and loop.handle_key(ord("Q")) == "quit"


def test_fps_overlay_and_window_close(two_styles, tmp_path):
    frames = source_frames(8, (320, 180))
    display = ScriptedDisplay(close_after=6)
    loop = LiveLoop(ListCapture(frames), make_styles(two_styles[:1], []), display,
                    LiveOptions(screenshot=tmp_path / "s.png"),
                    clock=iter(np.repeat(np.arange(0, 100, 0.04), 2)).__next__)  # two readings a tick: take, show
    summary = loop.run()
    assert summary.frames == 6 and summary.reason == "window closed"
    shot = cv2.imread(str(tmp_path / "s.png"))
    assert np.array_equal(shot, display.views[-1])
    assert not np.array_equal(shot, loop.last_clean)  # the overlay is drawn on the shown frame only
    assert loop.meter.fps == pytest.approx(25.0)  # frames 0.04 s apart on the injected clock
    assert summary.latency_ms == pytest.approx(40.0)  # the start reading shifts the pairs: shown a tick after taken


def test_recording_rate_is_measured_when_frames_can_be_dropped(tmp_path):
    rec = Recorder(tmp_path / "m.mp4")  # no fps: measure
    frame = np.full((64, 96, 3), 128, np.uint8)
    for i in range(12):
        rec.write(frame, now=i * 0.1)  # 10 frames a second
    assert rec.finish() == tmp_path / "m.mp4" and rec.fps == pytest.approx(10.0)
    got, fps = read_video(tmp_path / "m.mp4")
    assert len(got) == 12 and fps == pytest.approx(10.0)
    empty = Recorder(tmp_path / "empty.mp4")
    assert empty.finish() is None and not (tmp_path / "empty.mp4").exists()
    assert not list(tmp_path.glob(".*"))


def test_ctrl_c_in_process_finalises_and_reports(two_styles, tmp_path):
    frames = source_frames(10, (160, 90))
    display = ScriptedDisplay({4: "ctrl-c"})
    cap = ListCapture(frames)
    summary = LiveLoop(cap, make_styles(two_styles[:1], []), display,
                       LiveOptions(record=tmp_path / "r.mp4")).run()
    assert summary.interrupted and summary.frames == 4 and cap.stopped and display.was_closed
    got, _ = read_video(tmp_path / "r.mp4")
    assert len(got) == 4


class CtrlCSink:
    """A pretend virtual camera at whose `n`-th frame the user presses Ctrl-C `times` times: a real SIGINT
    that lands mid-frame, after the frame is recorded and before it is counted."""

    def __init__(self, n: int, times: int = 1):
        self.n, self.times, self.frames = n, times, 0

    def send(self, frame: np.ndarray) -> None:
        self.frames += 1
        if self.frames == self.n:
            for _ in range(self.times):
                os.kill(os.getpid(), signal.SIGINT)

    def close(self) -> None:
        pass


def test_ctrl_c_mid_frame_finishes_that_frame_so_recording_and_count_agree(two_styles, tmp_path):
    before = signal.getsignal(signal.SIGINT)  # Python's default, or SIG_IGN when the suite runs in the background
    summary = LiveLoop(ListCapture(source_frames(10, (160, 90))), make_styles(two_styles[:1], []), NullDisplay(),
                       LiveOptions(record=tmp_path / "r.mp4", virtual_cam=CtrlCSink(3))).run()
    assert summary.interrupted and summary.reason == "interrupted (Ctrl-C)"
    (path, recorded, _), = summary.recordings
    assert summary.frames == recorded == len(read_video(path)[0]) == 3
    assert signal.getsignal(signal.SIGINT) == before  # whatever Ctrl-C did before the loop, it does again


def test_second_ctrl_c_stops_at_once_and_still_finalises_the_recording(two_styles, tmp_path):
    summary = LiveLoop(ListCapture(source_frames(10, (160, 90))), make_styles(two_styles[:1], []), NullDisplay(),
                       LiveOptions(record=tmp_path / "r.mp4", virtual_cam=CtrlCSink(3, times=2))).run()
    assert summary.interrupted
    (path, recorded, _), = summary.recordings
    assert recorded == len(read_video(path)[0]) == 3 and summary.frames == 2  # cut off before frame 3 was counted


def test_style_that_fails_to_load_is_skipped(two_styles, tmp_path):
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not an onnx file")
    messages: list[str] = []
    styles = make_styles([two_styles[0], StyleEntry("broken", broken)], messages)
    styles.engine()
    assert not styles.step(+1)
    assert len(styles) == 1 and styles.current.name == "tiny"
    assert any("skipping style broken" in m and "cannot load" in m for m in messages)


def cpu_runtime(net: str = "full", notify=lambda message: None):
    from realtime.engine import EngineOptions, Runtime

    return Runtime(EngineOptions(device="cpu", net=net), notify)


def test_style_list_from_options(tiny_onnx, tmp_path, monkeypatch):
    zoo_dir = tmp_path / "zoo"
    zoo_dir.mkdir()
    shutil.copy(tiny_onnx, zoo_dir / "zoostyle.onnx")
    shutil.copy(tiny_onnx, zoo_dir / "other.onnx")
    monkeypatch.setenv("REALTIME_MODELS", str(zoo_dir))
    from realtime.catalog import registry

    one = style_entries([str(tiny_onnx)], cpu_runtime())
    installed = [s.name for s in registry.list_styles()  # the zoo folder's two plus the shipped styles
                 if not registry.held_styles(s.card)]  # (a multi-style network's name is its styles, not one)
    assert {"other", "zoostyle"} <= set(installed)
    assert [e.name for e in one] == ["tiny", *installed]  # the given one, then the installed ones
    several = style_entries(["zoostyle,other"], cpu_runtime())
    assert [e.name for e in several] == ["zoostyle", "other"]
    assert [e.name for e in style_entries(["other", "other"], cpu_runtime())] == ["other"]
    with pytest.raises(UserError, match="unknown style"):
        style_entries(["zoostyle,missing"], cpu_runtime())


def test_cpu_styles_run_their_lite_networks_and_say_so_once():
    """On the CPU, --net auto cycles through the shipped NAME-lite networks; only the chosen style's switch
    to its CPU network is said (twelve such lines buried it)."""
    messages: list[str] = []
    entries = style_entries(["mosaic"], cpu_runtime("auto", messages.append))
    assert len(entries) >= 12 and all(e.path.stem == f"{e.name}-lite" for e in entries)
    assert messages == ["mosaic: running mosaic-lite, the CPU network (--net full for the full one)"]
    assert all(e.path.stem == e.name for e in style_entries(["mosaic"], cpu_runtime("full")))


def test_two_frames_in_flight_show_every_frame_in_order_and_switch_style_between_frames():
    """Two one-thread engines in flight (the CPU networks' default): each view is its own frame stylised, in
    order; a style key changes the frames taken after it, never one already in flight."""
    frames = source_frames(16, (160, 90))
    entries = [StyleEntry(n, REPO / "models" / f"{n}.onnx") for n in ("mosaic-lite", "candy-lite")]
    display = ScriptedDisplay({6: "n"})
    styles = Styles(entries, lambda path: Engine(path, device="cpu", threads=1), flight=2)
    summary = LiveLoop(ListCapture(frames), styles, display, LiveOptions(overlay=False)).run()
    assert summary.frames == 16 and len(display.views) == 16 and summary.reason == "end of list"
    assert all(len(group) == 2 for group in styles.engines.values())
    reference = {e.name: Engine(e.path, device="cpu", threads=1) for e in entries}
    shown = []
    for i, (frame, view) in enumerate(zip(frames, display.views)):
        same = [name for name, engine in reference.items() if mad(view, engine(frame)) < 0.5]
        assert len(same) == 1, f"view {i} is not frame {i} stylised by one of the styles"
        shown.append(same[0])
    switch = shown.index("candy-lite")
    assert shown == ["mosaic-lite"] * switch + ["candy-lite"] * (16 - switch)
    assert switch in (6, 7), "n pressed after the 6th view: the frame in flight then may keep the old style"


def test_cpu_networks_run_two_frames_in_flight_and_say_so(tmp_path):
    lite = [StyleEntry("mosaic", REPO / "models" / "mosaic-lite.onnx")]
    full = [StyleEntry("mosaic", REPO / "models" / "mosaic.onnx")]
    assert live_flight(lite, on_cpu=True) == cpu_workers()
    assert live_flight(full, on_cpu=True) == 1 and live_flight(lite, on_cpu=False) == 1
    assert live_flight(full, on_cpu=True, asked=3) == 3
    result = cli("webcam", "--style", "mosaic", "--source", CLIP, "--no-display", "--max-frames", 12,
                 "--device", "cpu", timeout=300)
    assert result.code == 0, result.stderr
    assert "webcam: 12 frames in " in result.stdout
    if cpu_workers() > 1:
        assert "2 frames in flight, one core each (--in-flight 1 for the least latency)" in result.stderr
    result = cli("webcam", "--style", "mosaic", "--source", CLIP, "--no-display", "--in-flight", 9)
    assert_clean_error(result, "--in-flight 9")


# -- the capture thread --------------------------------------------------------------------------------
def test_latest_frame_box_drops_stale_frames_or_keeps_every_one():
    stop = threading.Event()
    frame = lambda i: Frame(np.zeros((2, 2, 3), np.uint8), i, 0.0)  # noqa: E731
    latest = LatestFrame(drop=True)
    for i in range(3):
        assert latest.put(frame(i), stop)
    assert latest.get().index == 2 and latest.dropped == 2
    with pytest.raises(TimeoutError):
        latest.get(timeout=0.05)

    every = LatestFrame(drop=False)
    producer = threading.Thread(target=lambda: [every.put(frame(i), stop) for i in range(5)] and every.close("done"))
    producer.start()
    got = []
    while (f := every.get(timeout=5)) is not None:
        got.append(f.index)
    producer.join(5)
    assert got == [0, 1, 2, 3, 4] and every.dropped == 0 and every.reason == "done"


class FlakyCamera:
    """A pretend cv2.VideoCapture: `good` frames, then unplugged (read fails), or an exception."""

    def __init__(self, frames: list[np.ndarray], error: Exception | None = None):
        self.frames = list(frames)
        self.error = error
        self.released = threading.Event()

    def read(self):
        time.sleep(0.01)
        if self.frames:
            return True, self.frames.pop(0)
        if self.error is not None:
            raise self.error
        return False, None

    def get(self, prop: int) -> float:
        return 0.0

    def release(self) -> None:
        self.released.set()


def test_camera_that_vanishes_ends_the_run_cleanly_with_the_recording(two_styles, tmp_path, monkeypatch):
    monkeypatch.setattr(capture_mod, "CAMERA_MAX_FAILURES", 3)
    cam = FlakyCamera(source_frames(6, (160, 90)))
    cap = Capture(cam, "camera 3", is_camera=True, fps=0, policy=capture_mod.EVERY).start()  # EVERY: deterministic
    summary = LiveLoop(cap, make_styles(two_styles[:1], []), NullDisplay(),
                       LiveOptions(record=tmp_path / "cam.mp4")).run()
    assert summary.frames == 6 and "camera 3 stopped delivering frames" in summary.reason
    assert "camera 3 stopped delivering frames" in summary.line()
    assert cam.released.wait(5)
    got, _ = read_video(tmp_path / "cam.mp4")
    assert len(got) == 6


@pytest.mark.parametrize("error, kind", [(RuntimeError("boom"), RuntimeError), (cv2.error("driver broke"), UserError)])
def test_capture_thread_errors_reach_the_main_thread(two_styles, tmp_path, error, kind):
    cam = FlakyCamera(source_frames(3, (160, 90)), error=error)
    cap = Capture(cam, "camera 0", is_camera=True, fps=0, policy=capture_mod.EVERY).start()
    loop = LiveLoop(cap, make_styles(two_styles[:1], []), NullDisplay(), LiveOptions(record=tmp_path / "e.mp4"))
    with pytest.raises(kind):
        loop.run()
    got, _ = read_video(tmp_path / "e.mp4")  # finalised on the error path too
    assert len(got) == 3 and cam.released.wait(5)


def test_paced_source_plays_like_a_camera():
    """Without --no-display a file keeps its own clock: a slow consumer gets fresh frames, not a backlog."""
    cap = capture_mod.open_video(CLIP, 160, 90, every_frame=False).start()
    try:
        first = cap.get(timeout=10)
        time.sleep(0.5)  # a slow frame: ~12 frames of the 25 fps clip go by
        second = cap.get(timeout=10)
    finally:
        cap.stop()
    assert first.image.shape == (90, 160, 3)
    assert second.index - first.index >= 8 and cap.dropped >= 7


@pytest.mark.parametrize("fps", [153.234, 72.631, 29.97, 240.0])
def test_recorder_opens_at_any_measured_rate(tmp_path, fps):
    """MPEG-4 part 2 refuses time bases finer than 1/65535: rates like 153.234 must still record."""
    recorder = Recorder(tmp_path / "r.mp4", fps=fps)
    for _ in range(3):
        recorder.write(np.zeros((90, 160, 3), np.uint8))
    assert recorder.finish() == tmp_path / "r.mp4"
    assert cv2.VideoCapture(str(tmp_path / "r.mp4")).isOpened()


def test_max_fps_caps_the_loop_and_bad_caps_are_refused(tmp_path):
    """A cap leaves the cores to what shares the machine: the loop takes frames no faster than it."""
    result = cli("webcam", "--source", BUNNY, "--style", "mosaic", "--no-display", "--max-frames", 8, "--max-fps", 4,
                 "--width", 160, "--height", 90, "--device", "cpu")
    assert result.code == 0, result.stderr
    fps = float(result.stdout.split(" fps mean")[0].rsplit(" ", 1)[1])
    assert 0 < fps <= 4.4, result.stdout
    assert_clean_error(cli("webcam", "--source", BUNNY, "--style", "mosaic", "--no-display", "--max-fps", -1),
                       "--max-fps")


# A stand-in for pyvirtualcam, whose real devices (v4l2loopback, OBS) a test machine lacks: it takes the
# frames and writes the niceness of every thread of the process sending them to $REALTIME_TEST_NICE.
FAKE_PYVIRTUALCAM = """
import enum
import os


class PixelFormat(enum.Enum):
    BGR = "bgr"


class Camera:
    def __init__(self, width, height, fps, fmt=None, device=None):
        self.width, self.height, self.device = width, height, device or "/dev/video-test"

    def send(self, frame):
        tasks = os.listdir("/proc/self/task") if os.path.isdir("/proc/self/task") else ["0"]
        nice = []
        for task in tasks:
            try:
                nice.append(os.getpriority(os.PRIO_PROCESS, int(task)))
            except OSError:  # a thread that ended meanwhile
                pass
        with open(os.environ["REALTIME_TEST_NICE"], "w") as out:
            out.write(" ".join(map(str, nice)))

    def close(self):
        pass
"""
PRIORITY_LINE = "running at lower priority (nice {}) so the video call's own work comes first; --nice 0 lifts it"


def virtual_cam_run(tiny_onnx, tmp_path, *extra: object) -> tuple[Result, list[int]]:
    """`webcam --virtual-cam` through the stand-in camera: the result and its threads' niceness."""
    fake = tmp_path / "fakecam"
    fake.mkdir(exist_ok=True)
    (fake / "pyvirtualcam.py").write_text(FAKE_PYVIRTUALCAM)
    seen = tmp_path / "nice.txt"
    seen.unlink(missing_ok=True)
    path = os.pathsep.join(p for p in (str(fake), os.environ.get("PYTHONPATH", "")) if p)
    result = cli("webcam", "--style", tiny_onnx, "--source", CLIP, "--no-display", "--max-frames", 3,
                 "--width", 160, "--height", 90, "--device", "cpu", "--virtual-cam", *extra, timeout=300,
                 env={"PYTHONPATH": path, "REALTIME_TEST_NICE": str(seen)})
    assert result.code == 0, result.stderr
    assert "virtual camera /dev/video-test: 3 frames sent" in result.stderr, result.stderr
    return result, [int(v) for v in seen.read_text().split()]


@pytest.mark.skipif(not hasattr(os, "getpriority"), reason="no niceness on this system")
def test_virtual_camera_yields_the_cpu_to_the_call_by_default(tiny_onnx, tmp_path):
    """With --virtual-cam every thread of the loop runs at nice 10, said in one line; --nice sets another
    niceness and says nothing; --nice 0 keeps the priority the command started with."""
    start = os.getpriority(os.PRIO_PROCESS, 0)  # the children start at this test's niceness (nice -n 10 pytest)
    default, nice = virtual_cam_run(tiny_onnx, tmp_path)
    assert default.stderr.count(PRIORITY_LINE.format(max(start, 10))) == 1, default.stderr
    assert len(nice) > 2 and set(nice) == {max(start, 10)}, nice  # the capture and library threads included
    lifted, nice = virtual_cam_run(tiny_onnx, tmp_path, "--nice", 0)
    assert "lower priority" not in lifted.stderr, lifted.stderr
    assert set(nice) == {start}, nice
    chosen, nice = virtual_cam_run(tiny_onnx, tmp_path, "--nice", 15)
    assert "lower priority" not in chosen.stderr, chosen.stderr
    assert set(nice) == {max(start, 15)}, nice


def test_the_lower_priority_is_for_a_virtual_camera_only(tiny_onnx):
    """A window or a recording keeps the normal priority: nothing shares the cores with them by design."""
    plain = cli("webcam", "--style", tiny_onnx, "--source", CLIP, "--no-display", "--max-frames", 3,
                "--width", 160, "--height", 90, "--device", "cpu", timeout=300)
    assert plain.code == 0, plain.stderr
    assert "priority" not in plain.stderr and "nice" not in plain.stderr, plain.stderr
    assert WebcamSettings().niceness() == 0
    assert WebcamSettings(virtual_cam=True).niceness() == WebcamSettings(virtual_device="/dev/video9").niceness() == 10
    assert WebcamSettings(virtual_cam=True, nice=0).niceness() == 0
    assert WebcamSettings(nice=5).niceness() == 5


@pytest.mark.parametrize("option, value", [("--nice", -1), ("--nice", 20), ("--max-fps", "nan"), ("--max-fps", "inf")])
def test_bad_priorities_and_caps_are_one_clean_error(option, value):
    result = cli("webcam", "--source", BUNNY, "--style", "mosaic", "--no-display", "--virtual-cam", option, value)
    assert_clean_error(result, f"{option} ")
    assert "lower priority" not in result.stderr, result.stderr


STAGE_SPLIT = re.compile(r"; per frame capture\+decode ([\d.]+), colour/resize ([\d.]+), network ([\d.]+), "
                         r"post ([\d.]+), display/encode ([\d.]+) ms")


def test_summary_splits_a_frame_into_stages(tiny_onnx, tmp_path):
    """The summary says where a frame's time went; a recording shows up as encode time, a smaller size as resizing."""
    plain = cli("webcam", "--style", tiny_onnx, "--source", CLIP, "--no-display", "--max-frames", 12,
                "--device", "cpu", timeout=300)
    recorded = cli("webcam", "--style", tiny_onnx, "--source", CLIP, "--no-display", "--max-frames", 12,
                   "--width", 320, "--height", 180, "--record", tmp_path / "r.mp4", "--device", "cpu", timeout=300)
    stages = []
    for result in (plain, recorded):
        assert result.code == 0, result.stderr
        line = result.stdout.strip().splitlines()[-1]
        assert line.startswith("webcam: 12 frames in "), line
        match = STAGE_SPLIT.search(line)
        assert match is not None, line
        stages.append([float(v) for v in match.groups()])
    for capture, resize, network, post, output in stages:
        assert capture > 0 and network > 0 and resize >= 0 and post >= 0 and output >= 0
    assert stages[0][4] < stages[1][4]  # encoding the recording costs display/encode time
    assert stages[1][1] > 0  # 640x360 frames scaled to 320x180 in the reader are counted as resizing
