"""The live loop: camera (or a video file played as one) -> style network -> window, at full speed.

Capture runs on its own thread (realtime.media.capture) and always hands over the newest frame; inference
runs with one Engine per style and frame in flight, made the first time a style is shown and then kept:
on the main thread, or for the CPU networks on a multi-core CPU two frames at once on worker threads
(realtime.engine.inflight), each frame taken only when an engine is free and shown in order. The window is
behind a small `Display` interface so the loop runs headless (`NullDisplay`, --no-display) and under
test with scripted key presses.

Hotkeys: n / p (or right / left) next / previous style (between styles of a multi-style network the
mix glides there in half a second), g a slow tour through the styles on / off, 1-9 style by number, m mirror, s side by side with the camera
image, c or space snapshot PNG, r recording on / off, k keep the camera's colours on / off, [ / ] less / more
style (strength down / up by 0.25), t steady (flow-warped blending against flicker, realtime.engine.stabilize) on / off,
q or Esc quit (closing the window quits too).

Recording (`--record` or r) writes the stylised frames (mirrored when the view is, without the
overlay and without the side-by-side original, so the size never changes mid-file) with OpenCV's
mp4v writer, atomically, and is finalised on every exit path, Ctrl-C included. Its frame rate is the
source's when every frame is processed (a file with --no-display), else the rate measured over the
first second of the recording, so the file plays at the speed the scene happened.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import cv2
import numpy as np

from realtime.engine.inflight import Ordered
from realtime.engine.blend import STRENGTH_STEP
from realtime.engine.stabilize import DEFAULT_STABILIZE, Stabilizer
from realtime.files import check_writable_dir
from realtime.live.display import FpsMeter, NullDisplay, draw_overlay
from realtime.live.recorder import Recorder, stamp, write_png
from realtime.catalog.registry import describe_mix
from realtime.live.styles import Styles
from realtime.media import capture as capture_mod
from realtime.media.interrupts import DeferredInterrupt, stops_held

ESC = 27
# Arrow keys as cv2.waitKeyEx reports them under Qt, GTK and Windows: left / right cycle styles too.
LEFT_KEYS = {0x1000012, 0xFF51, 0x250000}
RIGHT_KEYS = {0x1000014, 0xFF53, 0x270000}
QUIT = "quit"
# Where a frame's time goes, in the summary's order: the reader thread's read and decode, scaling and
# mirroring, the style network (colour conversion in the graph), blending, steadying and the overlay,
# then showing, recording and sending. Frames in flight overlap, so the parts add to more than 1/fps.
STAGES = {"capture": "capture+decode", "resize": "colour/resize", "network": "network", "post": "post",
          "output": "display/encode"}


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
    spent: dict = field(default_factory=dict)  # seconds per stage (STAGES), filled by whichever thread does each
    mix: Optional[dict] = None  # a multi-style network's mix for this frame (a glide moves it frame by frame)

    def run(self, slot: int) -> np.ndarray:
        """Stylise on engine `slot`: each worker thread owns one slot, so an engine runs one frame at a time."""
        engine = self.engines[slot]
        engine.strength, engine.preserve_color = self.strength, self.preserve_color  # engines are per style
        if self.mix is not None:
            engine.mix = self.mix
        start = time.perf_counter()
        out = engine(self.image)
        whole = time.perf_counter() - start
        parts = getattr(engine, "last_spent", {})  # engines that do not split their time count it all as network
        for stage, seconds in parts.items():
            self.spent[stage] = self.spent.get(stage, 0.0) + seconds
        self.spent["network"] = self.spent.get("network", 0.0) + whole - sum(parts.values())
        return out


@dataclass
class LiveOptions:
    mirror: bool = False
    side_by_side: bool = False
    max_frames: int = 0  # 0: until the source ends or the user quits
    record: Optional[Path] = None  # start recording here at once
    snapshot_dir: Path = Path(".")
    screenshot: Optional[Path] = None  # save the last view exactly as shown (overlay included)
    overlay: bool = True
    max_fps: float = 0.0  # take frames no faster than this (0: as fast as the engine goes)
    strength: float = 1.0  # style strength 0..1 ([ and ]), applied by every style's engine
    preserve_color: bool = False  # keep the camera's colours (k)
    stabilize: float = 0.0  # flow-warped blending with the previous output (t toggles; 0: off)
    virtual_cam: Optional[object] = None  # a realtime.media.virtualcam.VirtualCam to send the stylised frames to


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
    stages: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))  # seconds summed over frames

    def add(self, spent: dict[str, float]) -> None:
        for stage, seconds in spent.items():
            self.stages[stage] = self.stages.get(stage, 0.0) + seconds

    def stage_ms(self) -> dict[str, float]:
        """Mean milliseconds a frame spent in each stage, in the thread that did it."""
        return {stage: 1000 * self.stages.get(stage, 0.0) / self.frames if self.frames else 0.0 for stage in STAGES}

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
        if self.frames:
            text += "; per frame " + ", ".join(f"{STAGES[k]} {ms:.1f}" for k, ms in self.stage_ms().items()) + " ms"
        return text + (f"; {self.reason}" if self.reason else "")


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
        self._output_s = 0.0
        self._due = 0.0  # the loop's clock when the next frame may be taken (max_fps)
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
        elif ch == "g":
            self.say(f"tour {'on' if self.styles.toggle_tour() else 'off'}")
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
    def take(self, image: np.ndarray, frame: Optional[capture_mod.Frame] = None) -> "Job":
        """A frame's work, fixed as it is taken: a key pressed while it is in flight changes the next.
        `frame`: the capture's record of it, whose reader-thread times start the stage split."""
        start = time.perf_counter()
        if self.mirror:
            image = cv2.flip(image, 1)
        spent = {"capture": frame.decode_s if frame else 0.0,
                 "resize": (frame.resize_s if frame else 0.0) + time.perf_counter() - start}
        now = self.clock()
        mix = self.styles.mix_at(now)
        name = describe_mix(mix) if mix is not None else self.styles.current.name
        return Job(image, tuple(self.styles.engine_set()), self.styles.index, name,
                   self.mirror, self.strength, self.preserve_color, now, spent, mix)

    def process(self, image: np.ndarray) -> Optional[np.ndarray]:
        """One frame, start to end: stylise, record, and return the view to show (None when nothing is shown)."""
        job = self.take(image)
        return self.present(job, job.run(0))

    def present(self, job: "Job", styled: np.ndarray) -> Optional[np.ndarray]:
        """A stylised frame, in order: steady, record, send; the view to show (None when nothing is shown)."""
        image = job.image
        start = time.perf_counter()
        try:
            return self._present(job, styled, image)
        finally:
            job.spent["output"] = job.spent.get("output", 0.0) + self._output_s
            job.spent["post"] = job.spent.get("post", 0.0) + time.perf_counter() - start - self._output_s

    def _present(self, job: "Job", styled: np.ndarray, image: np.ndarray) -> Optional[np.ndarray]:
        self._output_s = 0.0  # recording and sending, kept apart from the post-processing around them
        if self.steady:
            key = (job.style, job.mirror, image.shape)
            if key != self._steady_key:  # never blend across a style change or a flip
                self.stabilizer.reset()
                self._steady_key = key
            styled = self.stabilizer(image, styled)
        now = self.clock()
        self.meter.tick(now)
        self.summary.latency_s += now - job.taken
        out_start = time.perf_counter()
        if self.recorder is not None:
            self.recorder.write(styled, now)
        if self.options.virtual_cam is not None:
            self.options.virtual_cam.send(styled)
        self._output_s = time.perf_counter() - out_start
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
        self.summary.reason = f"interrupted ({self._ctrl_c.why})"

    def _emit(self, job: "Job", styled: np.ndarray) -> bool:
        """Show a finished frame and answer the keys; False to stop (the reason is in the summary)."""
        view = self.present(job, styled)
        self.summary.frames += 1
        if view is not None:
            self.last_view = view
            start = time.perf_counter()
            self.display.show(view)
            job.spent["output"] += time.perf_counter() - start
        self.summary.add(job.spent)
        if self._interrupted():
            return False
        if self.handle_key(self.display.poll_key()) == QUIT:
            self.summary.reason = "quit"
        elif self.display.closed:
            self.summary.reason = "window closed"
        elif self.options.max_frames and self.summary.frames >= self.options.max_frames:
            self.summary.reason = f"--max-frames {self.options.max_frames} reached"
        return not self.summary.reason

    def _pace(self) -> bool:
        """With max_fps, wait for the next frame's turn, answering keys meanwhile: a loop capped below what
        the engine can do leaves the cores to what shares the machine (a video call). False: stop."""
        if not self.options.max_fps:
            return True
        while (wait := self._due - self.clock()) > 0:
            time.sleep(min(wait, 0.02))
            if self._interrupted():
                return False
            if self.handle_key(self.display.poll_key()) == QUIT:
                self.summary.reason = "quit"
                return False
            if self.display.closed:
                self.summary.reason = "window closed"
                return False
        self._due = max(self._due, self.clock()) + 1.0 / self.options.max_fps
        return True

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
        """Take a frame only when an engine is free (realtime.engine.inflight), so none waits in a queue."""
        slots = [(lambda job, k=k: job.run(k)) for k in range(self.styles.flight)]
        flight = Ordered(slots, self._emit)
        try:
            while flight.make_room() and not self._interrupted() and self._pace():
                frame = self._next_frame()
                if frame is None:
                    if not self.summary.reason and flight.flush():  # the source ended: show what is in flight
                        self.summary.reason = self.capture.end_reason
                    return
                job = self.take(frame.image, frame)
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
            with stops_held():
                self._tidy()
            self.summary.devices = self.styles.devices()
            self.summary.providers = self.styles.providers()
            self.summary.dropped = getattr(self.capture, "dropped", 0)
        return self.summary
