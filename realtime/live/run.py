"""`realtime webcam`: a camera (or a video played as one) through the style to a window, a file, a virtual camera."""

from __future__ import annotations

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
    painting_cpu_scale: Optional[float] = LIVE_CPU_SCALE  # paintings on a CPU, when --scale is not given; None: --scale

    def check(self) -> "WebcamSettings":
        if self.camera is not None and self.source is not None:
            raise UserError("--camera and --source: give one of them (a camera index or a video file)")
        if self.max_fps < 0:
            raise UserError(f"--max-fps {self.max_fps}: use 0 (no cap) or a rate such as 15")
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


def run_webcam(styles: list[str], options: EngineOptions = EngineOptions(), settings: WebcamSettings = WebcamSettings(),
               say: Callable[[str], None] = lambda msg: None, notify: Optional[Callable[[str], None]] = None) -> Summary:
    """What `realtime webcam` does; the CLI only parses options and prints the summary.

    `notify` gets the engines' device notices; by default `say`, each distinct notice once (every
    style's engine would repeat "running on CPU: ...").
    """
    settings.check()
    told: set[str] = set()

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
    if settings.virtual_cam or settings.virtual_device:
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
