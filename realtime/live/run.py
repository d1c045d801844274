"""`realtime webcam`: a camera (or a video played as one) through the style to a window, a file, a virtual camera."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from realtime.catalog.spec import Paintings
from realtime.engine.arbitrary import LIVE_CPU_SCALE
from realtime.engine.build import EngineOptions, Runtime
from realtime.errors import UserError
from realtime.files import check_distinct, check_output_path
from realtime.live.display import NullDisplay, WindowDisplay
from realtime.live.loop import LiveLoop, LiveOptions, Summary
from realtime.live.recorder import check_record_path
from realtime.live.styles import Styles, live_flight, style_entries
from realtime.media import capture as capture_mod

MAX_IN_FLIGHT = 4
# With a virtual camera the loop yields the CPU to the video call beside it: at niceness 10 a 720p30 call
# encoding on the same two cores kept all its frames on time (99.6 % or more in every round) where it kept
# 74 % at normal priority, and the loop ran as fast (11.9 fps against 11.3), taking what the call leaves;
# a cap (--max-fps 10: 89 %) left the call less room, one one-thread onnxruntime session (100 %) the loop fewer frames
# (9.5 fps). docs/benchmarks.md, "Sharing two cores with a call"; benchmarks/share_cpu.py.
VIRTUAL_CAM_NICE = 10
MAX_NICE = 19


@dataclass(frozen=True)
class WebcamSettings:
    """Where frames come from and go to; how the engine runs is EngineOptions."""

    camera: Optional[int] = None  # camera index (default 0)
    source: Optional[Path] = None  # a video file played as a camera
    width: Optional[int] = None
    height: Optional[int] = None
    mirror: bool = False
    display: bool = True
    max_frames: int = 0
    record: Optional[Path] = None
    snapshot_dir: Optional[Path] = None
    screenshot: Optional[Path] = None
    virtual_cam: bool = False
    virtual_device: Optional[str] = None
    in_flight: int = 0  # 0 chooses (realtime.live.styles.live_flight)
    max_fps: float = 0.0  # 0: no cap
    nice: Optional[int] = None  # CPU priority as a niceness, 0-19; None: VIRTUAL_CAM_NICE with a virtual camera, else 0
    painting_cpu_scale: Optional[float] = LIVE_CPU_SCALE  # paintings on a CPU, when --scale is not given; None: --scale

    def check(self) -> "WebcamSettings":
        if self.camera is not None and self.source is not None:
            raise UserError("--camera and --source: give one of them (a camera index or a video file)")
        if not math.isfinite(self.max_fps) or self.max_fps < 0:
            raise UserError(f"--max-fps {self.max_fps}: use 0 (no cap) or a rate such as 15")
        if self.nice is not None and not 0 <= self.nice <= MAX_NICE:
            raise UserError(f"--nice {self.nice}: use 0 (normal priority) to {MAX_NICE} (yield the most)")
        if self.max_frames < 0:
            raise UserError(f"--max-frames {self.max_frames}: use 0 (no limit) or more")
        if not 0 <= self.in_flight <= MAX_IN_FLIGHT:
            raise UserError(f"--in-flight {self.in_flight}: use 1 to {MAX_IN_FLIGHT} frames, or 0 to let realtime choose")
        for written, option in ((self.record, "--record"), (self.screenshot, "--screenshot")):
            if written is not None and self.source is not None:
                check_distinct(written, [self.source], option)
        if self.record is not None:
            check_record_path(self.record)
        if self.screenshot is not None:
            check_output_path(self.screenshot)
        if self.snapshot_dir is not None and self.snapshot_dir.exists() and not self.snapshot_dir.is_dir():
            raise UserError(f"--snapshot-dir {self.snapshot_dir}: is a file; give a folder")
        return self

    @property
    def sends_to_call(self) -> bool:
        return self.virtual_cam or bool(self.virtual_device)

    def niceness(self) -> int:
        """The niceness to run at: --nice, else VIRTUAL_CAM_NICE when the frames go to a video call."""
        if self.nice is not None:
            return self.nice
        return VIRTUAL_CAM_NICE if self.sends_to_call else 0


def lower_priority(niceness: int) -> Optional[int]:
    """Run this process, every thread of it, at `niceness` or lower priority (never raised: that needs
    privileges); the niceness it runs at, or None where the system has none. Linux keeps a niceness per
    thread, so threads already started (the numerical libraries' pools) are set one by one; threads
    started later inherit it."""
    if not hasattr(os, "setpriority"):
        return None if niceness > 0 else 0
    target = max(niceness, os.getpriority(os.PRIO_PROCESS, 0))
    if niceness <= 0:
        return target
    try:
        tasks = [int(t) for t in os.listdir("/proc/self/task")]
    except OSError:
        tasks = [0]  # elsewhere the priority is the process's
    for task in tasks:
        try:
            if os.getpriority(os.PRIO_PROCESS, task) < target:
                os.setpriority(os.PRIO_PROCESS, task, target)
        except OSError:  # a thread that ended meanwhile
            pass
    return target


def run_webcam(styles: list[str], options: EngineOptions = EngineOptions(), settings: WebcamSettings = WebcamSettings(),
               say: Callable[[str], None] = lambda msg: None, notify: Optional[Callable[[str], None]] = None) -> Summary:
    """What `realtime webcam` does; the CLI only parses options and prints the summary.

    `notify` gets the engines' device notices; by default `say`, each distinct notice once (every
    style's engine would repeat "running on CPU: ...").

    With a virtual camera (and without `settings.nice`) this process, the caller's, goes on at niceness
    VIRTUAL_CAM_NICE: lowering a priority cannot be undone without privileges.
    """
    settings.check()
    told: set[str] = set()
    niceness = settings.niceness()
    running_at = lower_priority(niceness)
    if running_at is None:
        say(f"nice {niceness}: this system has no niceness to lower; running at normal priority")
    elif settings.nice is None and niceness:
        say(f"running at lower priority (nice {running_at}) so the video call's own work comes first; "
            "--nice 0 lifts it")

    def notify_once(message: str) -> None:
        if message not in told:
            told.add(message)
            say(message)

    runtime = Runtime(options, notify or notify_once)
    entries = style_entries(styles, runtime)
    flight = live_flight(entries, runtime.on_cpu, settings.in_flight)
    if flight > 1 and not settings.in_flight:
        say(f"{flight} frames in flight, one core each (--in-flight 1 for the least latency)")
    sink = None
    if settings.sends_to_call:
        from realtime.media.virtualcam import VirtualCam

        sink = VirtualCam(settings.virtual_device)
    shown: NullDisplay = WindowDisplay() if settings.display else NullDisplay()
    s = settings
    if s.source is not None:
        cap = capture_mod.open_video(s.source, s.width, s.height, every_frame=not s.display)
    else:
        cap = capture_mod.open_camera(0 if s.camera is None else s.camera, s.width, s.height)
    try:
        threads = 1 if flight > 1 and runtime.on_cpu else None
        frame = (s.width, s.height) if s.width and s.height else None  # what int8 is timed at (else 640x480)

        def make_engine(path):
            if isinstance(path, Paintings) and runtime.on_cpu and settings.painting_cpu_scale:
                notify_once(f"paintings run at --scale {settings.painting_cpu_scale:g} on a CPU (--scale 1 for full detail)")
                return runtime.engine(path, threads=threads, scale=settings.painting_cpu_scale)
            return runtime.engine(path, threads=threads, frame=frame)

        style_set = Styles(entries, make_engine, say, flight)
        style_set.engine()  # load the first style before the clock starts; errors surface here
    except BaseException:
        cap.stop()
        raise
    live = LiveOptions(mirror=s.mirror, max_frames=s.max_frames, record=s.record,
                       snapshot_dir=s.snapshot_dir or Path("."), screenshot=s.screenshot, strength=options.strength,
                       preserve_color=options.preserve_color, stabilize=options.stabilize, virtual_cam=sink,
                       max_fps=s.max_fps)
    cap.start()
    summary = LiveLoop(cap, style_set, shown, live, say).run()
    if sink is not None:
        say(f"virtual camera {sink.name}: {sink.frames} frames sent")
    return summary
