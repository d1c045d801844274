"""The live loop: a camera (or a video played as one) through a style to a window, a recording, a virtual camera.

styles (what n / p cycle through) -> loop (frames, keys, in-flight order) -> display / recorder; run wires them.
"""

from realtime.live.display import NullDisplay, WindowDisplay
from realtime.live.loop import LiveLoop, LiveOptions, Summary
from realtime.live.recorder import Recorder
from realtime.live.run import WebcamSettings, run_webcam
from realtime.live.styles import StyleEntry, Styles, live_flight, style_entries

__all__ = ["LiveLoop", "LiveOptions", "NullDisplay", "Recorder", "StyleEntry", "Styles", "Summary", "WebcamSettings",
           "WindowDisplay", "live_flight", "run_webcam", "style_entries"]
