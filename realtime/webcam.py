"""The live loop: camera (or a video file played as one) -> style network -> window, at full speed.

Capture runs on its own thread (realtime.capture) and always hands over the newest frame; inference
runs with one Engine per style and frame in flight, made the first time a style is shown and then kept:
on the main thread, or for the CPU networks on a multi-core CPU two frames at once on worker threads
(realtime.inflight), each frame taken only when an engine is free and shown in order. The window is
behind a small `Display` interface so the loop runs headless (`NullDisplay`, --no-display) and under
test with scripted key presses.

Hotkeys: n / p (or right / left) next / previous style, 1-9 style by number, m mirror, s side by side with the camera
image, c or space snapshot PNG, r recording on / off, k keep the camera's colours on / off, [ / ] less / more
style (strength down / up by 0.25), t steady (flow-warped blending against flicker, realtime.stabilize) on / off,
q or Esc quit (closing the window quits too).

Recording (`--record` or r) writes the stylised frames (mirrored when the view is, without the
overlay and without the side-by-side original, so the size never changes mid-file) with OpenCV's
mp4v writer, atomically, and is finalised on every exit path, Ctrl-C included. Its frame rate is the
source's when every frame is processed (a file with --no-display), else the rate measured over the
first second of the recording, so the file plays at the speed the scene happened.
"""

from __future__ import annotations

import os
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import cv2
import numpy as np

from realtime import capture as capture_mod
from realtime.blend import STRENGTH_STEP, check_strength
from realtime.stabilize import DEFAULT_STABILIZE, Stabilizer, check_amount
from realtime.errors import UserError
from realtime.inflight import Ordered, cpu_workers
from realtime.interrupts import DeferredInterrupt, sigint_ignored
from realtime.zoo import LITE_SUFFIX
from realtime.files import atomic_path, check_distinct, check_output_path, check_writable_dir, temp_beside

WINDOW = "realtime"
ESC = 27
# Arrow keys as cv2.waitKeyEx reports them under Qt, GTK and Windows: left / right cycle styles too.
LEFT_KEYS = {0x1000012, 0xFF51, 0x250000}
RIGHT_KEYS = {0x1000014, 0xFF53, 0x270000}
QUIT = "quit"
RECORD_SUFFIXES = {".mp4", ".m4v", ".mov", ".avi", ".mkv"}
# Measure this long (or this many frames) before opening a recording whose rate is not known.
MEASURE_SECONDS = 1.0
MEASURE_FRAMES = 30
MAX_IN_FLIGHT = 4


def stamp() -> str:
    now = time.time()
    return time.strftime("%Y%m%d-%H%M%S", time.localtime(now)) + f"-{int(now * 1000) % 1000:03d}"


def write_png(path: Path, image: np.ndarray) -> None:
    ok, encoded = cv2.imencode(".png", image)
    if not ok:
        raise UserError(f"{path}: could not encode the image as PNG")
    with atomic_path(path) as tmp:
        encoded.tofile(str(tmp))


# -- styles ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class StyleEntry:
    name: str
    path: Path


def style_entries(specs: list[str], fp16: bool = False, net: str = "full", on_cpu: bool = True,
                  notify: Callable[[str], None] = lambda msg: None, int8: bool = False) -> list[StyleEntry]:
    """--style values (repeatable, comma separated) -> styles to cycle through.

    One style given: that one first, then every installed style for n / p. Several: just those.
    `net` and `int8` pick each style's file (realtime.zoo.pick).
    """
    from realtime import zoo

    names: list[str] = []
    for spec in specs:
        spec = spec.strip()
        if spec.endswith(".onnx") and Path(spec).expanduser().is_file():
            names.append(spec)  # a path that happens to contain a comma
        else:
            names += [s.strip() for s in spec.split(",") if s.strip()]
    if not names:
        raise UserError("--style: give a style name (see `realtime styles`) or a path to an .onnx file")
    def entry(name: str, say: Callable[[str], None] = notify) -> StyleEntry:
        return StyleEntry(Path(name).stem if zoo.is_path_like(name) else name,
                          zoo.pick(name, net, on_cpu, fp16=fp16, int8=int8, notify=say))

    entries = [entry(n) for n in names]
    if len(names) == 1:  # the rest for n / p, quietly: their notices would bury the chosen style's
        entries += [entry(s.name, lambda msg: None) for s in zoo.list_styles()]
    unique: list[StyleEntry] = []
    seen: set[Path] = set()
    for entry in entries:
        key = entry.path.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(entry)
    return unique


class Styles:
    """The styles to cycle through, with their engines made lazily and cached: `flight` engines per style
    (one per frame in flight, realtime.inflight)."""

    def __init__(self, entries: list[StyleEntry], make_engine: Callable[[Path], object],
                 say: Callable[[str], None] = lambda msg: None, flight: int = 1):
        if not entries:
            raise UserError("no style to show")
        self.entries = list(entries)
        self.make_engine = make_engine
        self.say = say
        self.flight = max(1, flight)
        self.engines: dict[Path, list] = {}
        self.index = 0

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def current(self) -> StyleEntry:
        return self.entries[self.index]

    def engine_set(self) -> list:
        """The current style's engines, made now if this is its first showing."""
        entry = self.current
        if entry.path not in self.engines:
            self.engines[entry.path] = [self.make_engine(entry.path) for _ in range(self.flight)]
        return self.engines[entry.path]

    def engine(self):
        return self.engine_set()[0]

    def select(self, index: int) -> bool:
        """Show style `index` (0-based), loading it now; a style that fails to load is dropped."""
        if not 0 <= index < len(self.entries):
            self.say(f"no style {index + 1}: {len(self.entries)} loaded (n / p to cycle)")
            return False
        previous = self.index
        self.index = index
        try:
            self.engine()
        except UserError as exc:
            self.say(f"skipping style {self.entries[index].name}: {exc}")
            del self.entries[index]
            self.index = previous if previous < index else max(0, previous - 1)
            return False
        self.say(f"style {self.index + 1}/{len(self.entries)}: {self.current.name}")
        return True

    def step(self, delta: int) -> bool:
        if len(self.entries) < 2:
            self.say("only one style loaded; give several --style or install styles (see `realtime styles`)")
            return False
        return self.select((self.index + delta) % len(self.entries))

    def providers(self) -> list[str]:
        return sorted({getattr(e, "provider", "?") for group in self.engines.values() for e in group})

    def devices(self) -> list[str]:
        return sorted({getattr(e, "device", "?") for group in self.engines.values() for e in group})


def live_flight(entries: list[StyleEntry], on_cpu: bool, asked: int = 0) -> int:
    """Frames in flight for the live loop; `asked` 0 chooses.

    On a CPU of two or more cores the CPU networks (NAME-lite) run as two one-thread sessions fed
    alternate frames: the webcam loop at 640x480 ran 19.4 fps against 14.8 for one session on both cores,
    for 102 ms from taking a frame to its result instead of 67 (benchmarks/webcam_flight.py). A full
    network's frame already takes a fifth of a second there, so it keeps one frame in flight, as does a GPU.
    """
    if asked:
        return asked
    lite = entries[0].path.stem.split(".")[0].endswith(LITE_SUFFIX)  # NAME-lite.onnx, NAME-lite.int8.onnx
    return cpu_workers() if on_cpu and lite else 1


# -- displays ----------------------------------------------------------------------------------------
class NullDisplay:
    """No window: --no-display. `shows` False tells the loop not to compose views at all."""

    shows = False

    def __init__(self) -> None:
        self.last: Optional[np.ndarray] = None

    def show(self, view: np.ndarray) -> None:
        self.last = view

    def poll_key(self) -> int:
        return -1

    @property
    def closed(self) -> bool:
        return False

    def close(self) -> None:
        pass


def check_gui() -> None:
    """Fail with a clear message instead of letting Qt abort the process when there is no display."""
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise UserError("no display to open a window on (DISPLAY is not set); use --no-display to run headless")
    if _headless_opencv():
        raise UserError("this OpenCV build has no GUI (opencv-python-headless?); install opencv-python "
                        "or use --no-display")


def _headless_opencv() -> bool:
    info = cv2.getBuildInformation()
    gui = [line for line in info.splitlines() if line.strip().startswith("GUI:")]
    return bool(gui) and gui[0].split(":", 1)[1].strip().upper() in ("NONE", "NO", "")


def _qt_fonts() -> None:
    """opencv-python's Qt looks for fonts in its own empty folder and complains on every frame."""
    if os.environ.get("QT_QPA_FONTDIR"):
        return
    own = Path(cv2.__file__).parent / "qt" / "fonts"
    if own.is_dir() and any(own.iterdir()):
        return
    for candidate in ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/truetype", "/usr/share/fonts"):
        if Path(candidate).is_dir():
            os.environ["QT_QPA_FONTDIR"] = candidate
            return


class WindowDisplay(NullDisplay):
    """An OpenCV window. Views bigger than `max_size` (w, h) are shown scaled down."""

    shows = True

    def __init__(self, name: str = WINDOW, max_size: tuple[int, int] = (1920, 1080)):
        super().__init__()
        check_gui()
        _qt_fonts()
        self.name = name
        self.max_size = max_size
        self._open = False
        self._closed = False

    def show(self, view: np.ndarray) -> None:
        h, w = view.shape[:2]
        factor = min(1.0, self.max_size[0] / w, self.max_size[1] / h)
        if factor < 1.0:
            view = cv2.resize(view, (max(1, round(w * factor)), max(1, round(h * factor))), interpolation=cv2.INTER_AREA)
        if not self._open:
            cv2.namedWindow(self.name, cv2.WINDOW_AUTOSIZE | cv2.WINDOW_GUI_NORMAL)
            self._open = True
        cv2.imshow(self.name, view)
        self.last = view

    def poll_key(self) -> int:
        if not self._open:
            return -1
        key = cv2.waitKeyEx(1)  # the full code: waitKey's & 0xFF makes arrows look like letters
        try:
            if cv2.getWindowProperty(self.name, cv2.WND_PROP_VISIBLE) < 1:
                self._closed = True
        except cv2.error:
            self._closed = True
        return key

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        if self._open:
            try:
                cv2.destroyWindow(self.name)
                cv2.waitKey(1)
            except cv2.error:
                pass
            self._open = False


# -- measuring and recording -------------------------------------------------------------------------
class FpsMeter:
    """Frames per second over the last `window` frames: steady enough to read, quick to follow."""

    def __init__(self, window: int = 30):
        self.times: deque[float] = deque(maxlen=window)

    def tick(self, now: Optional[float] = None) -> None:
        self.times.append(time.perf_counter() if now is None else now)

    @property
    def fps(self) -> float:
        if len(self.times) < 2 or self.times[-1] <= self.times[0]:
            return 0.0
        return (len(self.times) - 1) / (self.times[-1] - self.times[0])


def check_record_path(path: Path) -> Path:
    if path.suffix.lower() not in RECORD_SUFFIXES:
        raise UserError(f"--record {path}: use a .mp4 (or .avi, .mov, .mkv) file name")
    check_output_path(path)
    return path


class Recorder:
    """Writes frames to `path` through a temporary file renamed on `finish`, so a file appears whole.

    With `fps` None the rate is measured: frames are held for up to MEASURE_SECONDS / MEASURE_FRAMES,
    then the writer opens at the rate they arrived at.
    """

    def __init__(self, path: Path, fps: Optional[float] = None):
        self.path = Path(path)
        self.fps = fps
        self.frames = 0
        self._writer = None
        self._pending: list[tuple[float, np.ndarray]] = []
        self._tmp = temp_beside(self.path)

    def _open(self, size: tuple[int, int]) -> None:
        fps = self.fps if self.fps and self.fps > 0 else 30.0
        # Two decimals: MPEG-4 part 2 needs a time base denominator <= 65535, which 3 decimals can exceed.
        self.fps = round(min(max(fps, 1.0), 240.0), 2)
        writer = cv2.VideoWriter(str(self._tmp), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, size)
        if not writer.isOpened():
            self._tmp.unlink(missing_ok=True)
            raise UserError(f"--record {self.path}: OpenCV cannot write this video (mp4v codec missing?)")
        self._writer = writer
        self._size = size

    def write(self, frame: np.ndarray, now: Optional[float] = None) -> None:
        now = time.perf_counter() if now is None else now
        if self._writer is None and self.fps is None:
            self._pending.append((now, frame))
            span = now - self._pending[0][0]
            if span >= MEASURE_SECONDS or len(self._pending) >= MEASURE_FRAMES:
                self._flush_pending()
            return
        self._write(frame)

    def _flush_pending(self) -> None:
        if not self._pending:
            return
        if self.fps is None:
            span = self._pending[-1][0] - self._pending[0][0]
            self.fps = (len(self._pending) - 1) / span if len(self._pending) > 1 and span > 0 else None
        pending, self._pending = self._pending, []
        for _, frame in pending:
            self._write(frame)

    def _write(self, frame: np.ndarray) -> None:
        if self._writer is None:
            self._open((frame.shape[1], frame.shape[0]))
        if (frame.shape[1], frame.shape[0]) != self._size:
            frame = cv2.resize(frame, self._size, interpolation=cv2.INTER_AREA)
        self._writer.write(frame)
        self.frames += 1

    def finish(self) -> Optional[Path]:
        """Close the file and move it into place; None (and no file) when nothing was recorded."""
        try:
            self._flush_pending()
        except BaseException:
            if self.frames == 0:
                self._tmp.unlink(missing_ok=True)
            raise
        finally:
            if self._writer is not None:
                self._writer.release()
                self._writer = None
        if self.frames == 0:
            self._tmp.unlink(missing_ok=True)
            return None
        os.replace(self._tmp, self.path)
        return self.path


# -- the loop ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Job:
    """One frame and what to do with it, as the keys stood when it was taken."""

    image: np.ndarray
    engines: tuple  # the style's engines, one per frame in flight
    style: int
    name: str
    mirror: bool
    strength: float
    preserve_color: bool
    taken: float = 0.0  # the loop's clock when the frame was taken: latency is measured from here

    def run(self, slot: int) -> np.ndarray:
        """Stylise on engine `slot`: each worker thread owns one slot, so an engine runs one frame at a time."""
        engine = self.engines[slot]
        engine.strength, engine.preserve_color = self.strength, self.preserve_color  # engines are per style
        return engine(self.image)


@dataclass
class LiveOptions:
    mirror: bool = False
    side_by_side: bool = False
    max_frames: int = 0  # 0: until the source ends or the user quits
    record: Optional[Path] = None  # start recording here at once
    snapshot_dir: Path = Path(".")
    screenshot: Optional[Path] = None  # save the last view exactly as shown (overlay included)
    overlay: bool = True
    strength: float = 1.0  # style strength 0..1 ([ and ]), applied by every style's engine
    preserve_color: bool = False  # keep the camera's colours (k)
    stabilize: float = 0.0  # flow-warped blending with the previous output (t toggles; 0: off)
    virtual_cam: Optional[object] = None  # a realtime.virtualcam.VirtualCam to send the stylised frames to


@dataclass
class Summary:
    frames: int = 0
    seconds: float = 0.0
    reason: str = ""
    interrupted: bool = False
    devices: list[str] = field(default_factory=list)
    providers: list[str] = field(default_factory=list)
    recordings: list[tuple[Path, int, float]] = field(default_factory=list)
    snapshots: list[Path] = field(default_factory=list)
    dropped: int = 0
    latency_s: float = 0.0  # summed over the frames: from taking a frame to its result (frames in flight add to it)

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    @property
    def latency_ms(self) -> float:
        """Mean milliseconds from taking a frame to having its result, ready to show."""
        return 1000 * self.latency_s / self.frames if self.frames else 0.0

    def line(self) -> str:
        device = "/".join(self.devices) or "?"
        providers = ", ".join(self.providers) or "?"
        text = (f"webcam: {self.frames} frames in {self.seconds:.2f} s, {self.fps:.1f} fps mean, "
                f"{self.latency_ms:.0f} ms a frame from taking to result, device {device} ({providers})")
        if self.dropped:
            text += f", {self.dropped} stale source frames skipped"
        return text + (f"; {self.reason}" if self.reason else "")


def draw_overlay(view: np.ndarray, lines: list[str], recording: bool) -> np.ndarray:
    """Text top-left on a dark band, a red REC mark top-right while recording."""
    out = view.copy()
    h, w = out.shape[:2]
    scale = max(0.5, min(1.2, h / 720 * 0.9))
    thick = max(1, round(scale * 2))
    font = cv2.FONT_HERSHEY_SIMPLEX
    pad = round(8 * scale) + 2
    sizes = [cv2.getTextSize(t, font, scale, thick)[0] for t in lines]
    line_h = max(s[1] for s in sizes) + pad
    box_w = min(w, max(s[0] for s in sizes) + 2 * pad)
    box_h = min(h, line_h * len(lines) + pad)
    roi = out[:box_h, :box_w]
    roi[:] = (roi.astype(np.uint16) * 2 // 5).astype(np.uint8)  # darken 60%
    for i, text in enumerate(lines):
        y = pad + line_h * i + sizes[i][1]
        cv2.putText(out, text, (pad, y), font, scale, (255, 255, 255), thick, cv2.LINE_AA)
    if recording:
        (tw, th), _ = cv2.getTextSize("REC", font, scale, thick)
        cx, cy, r = w - tw - 3 * pad, pad + th // 2, max(4, th // 2)
        cv2.circle(out, (cx, cy), r, (0, 0, 255), -1, cv2.LINE_AA)
        cv2.putText(out, "REC", (cx + r + pad // 2, cy + th // 2), font, scale, (0, 0, 255), thick, cv2.LINE_AA)
    return out


class LiveLoop:
    """Frames from `capture` through the current style to `display`, with the hotkeys.

    `capture` needs get(timeout) -> Frame | None, stop(), end_reason, dropped, and `fps`/`policy`
    when recordings should take the source's rate.
    """

    def __init__(self, capture, styles: Styles, display: NullDisplay, options: LiveOptions,
                 say: Callable[[str], None] = lambda msg: None, clock: Callable[[], float] = time.perf_counter):
        self.capture = capture
        self.styles = styles
        self.display = display
        self.options = options
        self.say = say
        self.clock = clock
        self.mirror = options.mirror
        self.side_by_side = options.side_by_side
        self.strength = options.strength
        self.preserve_color = options.preserve_color
        self.stabilizer = Stabilizer(options.stabilize or DEFAULT_STABILIZE)
        self.steady = options.stabilize > 0
        self._steady_key: tuple = ()
        self.meter = FpsMeter()
        self.recorder: Optional[Recorder] = None
        self.summary = Summary()
        self.last_clean: Optional[np.ndarray] = None
        self.last_view: Optional[np.ndarray] = None
        self._used_record_path = False
        self._ctrl_c = DeferredInterrupt()

    # -- keys -----------------------------------------------------------------------------------
    def handle_key(self, key: int) -> Optional[str]:
        if key is None or key < 0:
            return None
        if key in LEFT_KEYS or key in RIGHT_KEYS:
            self.styles.step(-1 if key in LEFT_KEYS else +1)
            return None
        if key > 0xFF:  # other special keys; masking them would turn e.g. GTK's Left (0xFF51) into "Q"
            return None
        ch = chr(key).lower()
        if key == ESC or ch == "q":
            return QUIT
        if ch == "n":
            self.styles.step(+1)
        elif ch == "p":
            self.styles.step(-1)
        elif "1" <= ch <= "9":
            self.styles.select(int(ch) - 1)
        elif ch == "m":
            self.mirror = not self.mirror
            self.say(f"mirror {'on' if self.mirror else 'off'}")
        elif ch == "s":
            self.side_by_side = not self.side_by_side
            self.say(f"side by side {'on' if self.side_by_side else 'off'}")
        elif ch == "k":
            self.preserve_color = not self.preserve_color
            self.say(f"keep colours {'on' if self.preserve_color else 'off'}")
        elif ch in ("[", "]"):
            step = STRENGTH_STEP if ch == "]" else -STRENGTH_STEP
            self.strength = min(1.0, max(0.0, self.strength + step))
            self.say(f"strength {self.strength:.2f}")
        elif ch == "t":
            self.steady = not self.steady
            self.say(f"steady {'on (' + format(self.stabilizer.amount, '.2f') + ')' if self.steady else 'off'}")
        elif ch in ("c", " "):
            self.snapshot()
        elif ch == "r":
            if self.recorder is None:
                self.start_recording()
            else:
                self.stop_recording()
        return None

    def snapshot(self) -> Optional[Path]:
        if self.last_clean is None:
            self.say("no frame yet to snapshot")
            return None
        folder = check_writable_dir(self.options.snapshot_dir)
        path = folder / f"realtime-{self.styles.current.name}-{stamp()}.png"
        write_png(path, self.last_clean)
        self.summary.snapshots.append(path)
        self.say(f"snapshot {path}")
        return path

    # -- recording ------------------------------------------------------------------------------
    def _record_path(self) -> Path:
        record = self.options.record
        if record is not None and not self._used_record_path:
            self._used_record_path = True
            return record
        if record is not None:
            return record.with_name(f"{record.stem}-{stamp()}{record.suffix}")
        return check_writable_dir(self.options.snapshot_dir) / f"realtime-{stamp()}.mp4"

    def start_recording(self) -> None:
        path = self._record_path()
        every = getattr(self.capture, "policy", None) == capture_mod.EVERY
        fps = getattr(self.capture, "fps", None) if every else None
        self.recorder = Recorder(path, fps=fps or None)
        self.say(f"recording to {path}")

    def stop_recording(self) -> None:
        recorder, self.recorder = self.recorder, None
        if recorder is None:
            return
        done = recorder.finish()
        if done is None:
            self.say(f"recording {recorder.path}: no frames, nothing written")
            return
        self.summary.recordings.append((done, recorder.frames, recorder.fps or 0.0))
        self.say(f"wrote {done} ({recorder.frames} frames at {recorder.fps:g} fps)")

    # -- frames ---------------------------------------------------------------------------------
    def take(self, image: np.ndarray) -> "Job":
        """A frame's work, fixed as it is taken: a key pressed while it is in flight changes the next."""
        if self.mirror:
            image = cv2.flip(image, 1)
        return Job(image, tuple(self.styles.engine_set()), self.styles.index, self.styles.current.name,
                   self.mirror, self.strength, self.preserve_color, self.clock())

    def process(self, image: np.ndarray) -> Optional[np.ndarray]:
        """One frame, start to end: stylise, record, and return the view to show (None when nothing is shown)."""
        job = self.take(image)
        return self.present(job, job.run(0))

    def present(self, job: "Job", styled: np.ndarray) -> Optional[np.ndarray]:
        """A stylised frame, in order: steady, record, send; the view to show (None when nothing is shown)."""
        image = job.image
        if self.steady:
            key = (job.style, job.mirror, image.shape)
            if key != self._steady_key:  # never blend across a style change or a flip
                self.stabilizer.reset()
                self._steady_key = key
            styled = self.stabilizer(image, styled)
        now = self.clock()
        self.meter.tick(now)
        self.summary.latency_s += now - job.taken
        if self.recorder is not None:
            self.recorder.write(styled, now)
        if self.options.virtual_cam is not None:
            self.options.virtual_cam.send(styled)
        if not (self.display.shows or self.options.screenshot):
            return None
        clean = np.hstack([image, styled]) if self.side_by_side else styled
        self.last_clean = clean
        if not self.options.overlay:
            return clean
        fps = self.meter.fps
        lines = [f"{fps:.1f} fps" if fps else "-- fps", f"{job.name} [{job.style + 1}/{len(self.styles)}]"]
        if job.strength != 1.0 or job.preserve_color:
            lines.append(f"strength {job.strength:.2f}" + (", colour kept" if job.preserve_color else ""))
        if self.steady:
            lines.append(f"steady {self.stabilizer.amount:.2f}")
        return draw_overlay(clean, lines, self.recorder is not None)

    def _interrupted(self) -> bool:
        """Ctrl-C is acted on here, between frames, so the recording and the count always agree."""
        if self._ctrl_c.requested:
            self._mark_interrupted()
        return self._ctrl_c.requested

    def _mark_interrupted(self) -> None:
        self.summary.interrupted = True
        self.summary.reason = "interrupted (Ctrl-C)"

    def _emit(self, job: "Job", styled: np.ndarray) -> bool:
        """Show a finished frame and answer the keys; False to stop (the reason is in the summary)."""
        view = self.present(job, styled)
        self.summary.frames += 1
        if view is not None:
            self.last_view = view
            self.display.show(view)
        if self._interrupted():
            return False
        if self.handle_key(self.display.poll_key()) == QUIT:
            self.summary.reason = "quit"
        elif self.display.closed:
            self.summary.reason = "window closed"
        elif self.options.max_frames and self.summary.frames >= self.options.max_frames:
            self.summary.reason = f"--max-frames {self.options.max_frames} reached"
        return not self.summary.reason

    def _next_frame(self):
        """The next frame, keeping the window responsive while waiting; None at the end."""
        while True:
            try:
                return self.capture.get(timeout=0.05)
            except TimeoutError:
                if self._interrupted():
                    return None
                if self.handle_key(self.display.poll_key()) == QUIT:
                    self.summary.reason = "quit"
                    return None
                if self.display.closed:
                    self.summary.reason = "window closed"
                    return None

    def _loop(self) -> None:
        """Take a frame only when an engine is free (realtime.inflight), so none waits in a queue."""
        slots = [(lambda job, k=k: job.run(k)) for k in range(self.styles.flight)]
        flight = Ordered(slots, self._emit)
        try:
            while flight.make_room() and not self._interrupted():
                frame = self._next_frame()
                if frame is None:
                    if not self.summary.reason and flight.flush():  # the source ended: show what is in flight
                        self.summary.reason = self.capture.end_reason
                    return
                job = self.take(frame.image)
                if not flight.push(job, job):
                    return
        finally:
            flight.close()

    def _tidy(self) -> None:
        """Stop the source, finalise the recording and the screenshot, close the window: on every exit path."""
        try:
            self.capture.stop()
            self.stop_recording()
            if self.options.virtual_cam is not None:
                self.options.virtual_cam.close()
            if self.options.screenshot is not None and self.last_view is not None:
                shown = self.display.last if self.display.last is not None else self.last_view
                write_png(self.options.screenshot, shown)
        finally:
            self.display.close()

    def run(self) -> Summary:
        """Run until the source ends, the user quits or --max-frames; tidy up on every path.

        Ctrl-C stops the loop after the frame at hand (a second one at once); the recording is finalised,
        unbroken by a further Ctrl-C, and the summary says `interrupted`. Other exceptions (the capture
        thread's included) propagate after the same tidying.
        """
        start = self.clock()
        try:
            with self._ctrl_c:
                if self.options.record is not None:
                    self.start_recording()
                self._loop()
        except KeyboardInterrupt:
            self._mark_interrupted()
        finally:
            self.summary.seconds = self.clock() - start
            with sigint_ignored():
                self._tidy()
            self.summary.devices = self.styles.devices()
            self.summary.providers = self.styles.providers()
            self.summary.dropped = getattr(self.capture, "dropped", 0)
        return self.summary


# -- the command ------------------------------------------------------------------------------------
def run_webcam(styles: list[str], camera: Optional[int] = None, source: Optional[Path] = None,
               width: Optional[int] = None, height: Optional[int] = None, mirror: bool = False,
               scale: float = 1.0, device: str = "auto", fp16: bool = False, record: Optional[Path] = None,
               display: bool = True, max_frames: int = 0, snapshot_dir: Optional[Path] = None,
               screenshot: Optional[Path] = None, say: Callable[[str], None] = lambda msg: None,
               notify: Optional[Callable[[str], None]] = None, strength: float = 1.0,
               preserve_color: bool = False, stabilize: float = 0.0, virtual_cam: bool = False,
               virtual_device: Optional[str] = None, net: str = "auto", int8: bool = False,
               in_flight: int = 0) -> Summary:
    """What `realtime webcam` does; the CLI only parses options and prints the summary.

    `notify` gets the engines' device notices; by default `say`, each distinct notice once (every
    style's engine would repeat "running on CPU: ...").
    """
    from realtime.engine import Engine, runs_on_cpu

    if camera is not None and source is not None:
        raise UserError("--camera and --source: give one of them (a camera index or a video file)")
    if max_frames < 0:
        raise UserError(f"--max-frames {max_frames}: use 0 (no limit) or more")
    if not 0.05 <= scale <= 4:
        raise UserError(f"--scale {scale}: use a factor between 0.05 and 4")
    if not 0 <= in_flight <= MAX_IN_FLIGHT:
        raise UserError(f"--in-flight {in_flight}: use 1 to {MAX_IN_FLIGHT} frames, or 0 to let realtime choose")
    check_strength(strength)
    check_amount(stabilize)
    for written, option in ((record, "--record"), (screenshot, "--screenshot")):
        if written is not None and source is not None:
            check_distinct(written, [source], option)
    if record is not None:
        check_record_path(record)
    if screenshot is not None:
        check_output_path(screenshot)
    if snapshot_dir is not None and snapshot_dir.exists() and not snapshot_dir.is_dir():
        raise UserError(f"--snapshot-dir {snapshot_dir}: is a file; give a folder")
    told: set[str] = set()

    def notify_once(message: str) -> None:
        if message not in told:
            told.add(message)
            say(message)

    engine_notify = notify or notify_once
    on_cpu = runs_on_cpu(device)
    entries = style_entries(styles, fp16=fp16, net=net, on_cpu=on_cpu, notify=notify_once, int8=int8)
    flight = live_flight(entries, on_cpu, in_flight)
    if flight > 1 and not in_flight:
        say(f"{flight} frames in flight, one core each (--in-flight 1 for the least latency)")
    sink = None
    if virtual_cam or virtual_device:
        from realtime.virtualcam import VirtualCam

        sink = VirtualCam(virtual_device)
    shown: NullDisplay = WindowDisplay() if display else NullDisplay()

    if source is not None:
        cap = capture_mod.open_video(source, width, height, every_frame=not display)
    else:
        cap = capture_mod.open_camera(0 if camera is None else camera, width, height)
    try:
        threads = 1 if flight > 1 and on_cpu else None
        style_set = Styles(entries, lambda path: Engine(path, device=device, scale=scale, notify=engine_notify,
                                                        threads=threads), say, flight)
        style_set.engine()  # load the first style before the clock starts; errors surface here
    except BaseException:
        cap.stop()
        raise
    options = LiveOptions(mirror=mirror, max_frames=max_frames, record=record,
                          snapshot_dir=snapshot_dir or Path("."), screenshot=screenshot, strength=strength,
                          preserve_color=preserve_color, stabilize=stabilize, virtual_cam=sink)
    cap.start()
    summary = LiveLoop(cap, style_set, shown, options, say).run()
    if sink is not None:
        say(f"virtual camera {sink.name}: {sink.frames} frames sent")
    return summary
