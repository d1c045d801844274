"""Offline video stylisation: decode (PyAV) -> `Engine` -> encode (libx264), overlapped in threads.

Three stages run at once so the network never waits on the codecs: a decode thread fills a bounded
queue with BGR frames, the main thread stylises them (and is where Ctrl-C lands), an encode thread
writes them. Audio packets ride along the same queues in demux order and are remuxed untouched.

What the output keeps: every frame, the input's timestamps (so 29.97 stays 30000/1001 and audio stays
in sync), the size (unless --size), the colour tags and the audio. A clip stored turned (a phone's
portrait video: a display matrix or `rotate` tag) is stylised and written upright, without the matrix,
so it plays the way it was shot (realtime.media.orientation). Whatever happens, the file under
OUTPUT is a finished, playable container: the work goes to a hidden file beside it, which is renamed
onto OUTPUT when done *or* when stopped part-way with frames in it, and removed when it has none.

Odd sizes: H.264 4:2:0 cannot code an odd width or height (chroma is subsampled 2x2), so those are
encoded as H.264 4:4:4 (yuv444p, High 4:4:4 profile) at the exact size, with a notice, because
not every player (browsers, phones) plays 4:4:4. --size rounds the short side to an even number.
"""

from __future__ import annotations

import contextlib
import heapq
import os
import queue
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

import av
import numpy as np
from av.video.reformatter import Interpolation

from realtime.errors import UserError
from realtime.files import check_distinct, check_output_path, temp_beside
from realtime.engine.inflight import Ordered
from realtime.media.interrupts import stops_held
from realtime.media.orientation import Orientation, of_stream

if TYPE_CHECKING:
    from rich.progress import Progress

SUFFIXES = (".mp4", ".m4v", ".mov", ".mkv", ".avi")
PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")
QUEUE_DEPTH = 8  # frames in flight per queue: enough to absorb jitter, small enough for 4K memory
REORDER_DEPTH = 16  # frames looked ahead to put decode-order (AVI) timestamps back in display order
FALLBACK_AUDIO = "aac"
# swscale's defaults round YUV<->RGB sloppily (a grey frame comes back ~2 levels darker per round trip);
# accurate rounding with full chroma interpolation makes the round trip unbiased for ~3 ms a 720p frame.
_ACCURATE = Interpolation.ACCURATE_RND | Interpolation.FULL_CHR_H_INT


@dataclass(frozen=True)
class VideoSettings:
    """What the user asked for, validated by `prepare`."""

    size: int | None = None  # long side of the output; None keeps the input size
    audio: bool = True
    overwrite: bool = False
    crf: int = 18  # visually near-lossless; the stylised look has fine texture worth keeping
    preset: str = "medium"


@dataclass(frozen=True)
class Job:
    """A checked input/output pair and the facts about the input that the run needs."""

    input: Path
    output: Path
    settings: VideoSettings
    width: int  # output size
    height: int
    total: int | None  # frames expected (None: unknown)
    total_is_estimate: bool
    rate: Fraction
    orientation: Orientation = Orientation()  # how stored frames are turned upright


@dataclass
class Result:
    output: Path
    frames: int  # frames written (and playable) in OUTPUT
    total: int | None
    complete: bool
    width: int
    height: int
    pix_fmt: str
    audio: list[str] = field(default_factory=list)  # one line per input audio stream: what happened to it
    skipped_packets: int = 0  # undecodable video packets skipped
    fps: float | None = None  # measured on the written timestamps


class Interrupted(Exception):
    """Ctrl-C mid-way; carries what was written. Its message is the one line the CLI prints."""

    def __init__(self, result: Result):
        self.result = result
        if result.frames:
            msg = f"interrupted: wrote {result.frames} of {_of_total(result)} frames to {result.output} (playable)"
        else:
            msg = f"interrupted: no frames written; {result.output} not created"
        super().__init__(msg)


def _of_total(result: Result) -> str:
    return "?" if result.total is None else str(result.total)


# --------------------------------------------------------------------------------------------- checks

def prepare(input_path: Path | str, output: Path | str, settings: VideoSettings) -> Job:
    """Check paths, options and the input's video stream before any slow work (model load, decoding)."""
    src, dst = Path(input_path), Path(output)
    if settings.size is not None and not 16 <= settings.size <= 8192:
        raise UserError(f"--size {settings.size}: use a long side between 16 and 8192 pixels")
    if not 0 <= settings.crf <= 51:
        raise UserError(f"--crf {settings.crf}: use 0 (lossless) to 51; 18-23 is usual")
    if settings.preset not in PRESETS:
        raise UserError(f"--preset {settings.preset}: use one of {', '.join(PRESETS)}")
    if not src.is_file():
        raise UserError(f"{src}: input video not found")
    if dst.suffix.lower() not in SUFFIXES:
        raise UserError(f"{dst}: unknown video format {dst.suffix or '(none)'}; use {', '.join(SUFFIXES)}")
    check_distinct(dst, [src])
    check_output_path(dst)
    if dst.exists() and not settings.overwrite:
        raise UserError(f"{dst}: already exists; pass --overwrite to replace it")
    if src.stat().st_size == 0:
        raise UserError(f"{src}: empty file, not a video")

    container = _open_input(src)
    try:
        stream = container.streams.video[0]
        if stream.codec_context is None or stream.codec_context.codec is None:
            raise UserError(f"{src}: video codec not supported by this FFmpeg build")
        first = _first_frame(container, stream)
        if first is None:
            raise UserError(f"{src}: no video frame could be decoded (corrupt or truncated video)")
        rate = _frame_rate(stream)
        orientation = of_stream(first, stream, str(src))
        width, height = _output_size(*orientation.shown_size(first.width, first.height), settings.size)
        total, estimate = _expected_frames(container, stream, rate)
        is_avi = container.format.name == "avi"
    finally:
        container.close()
    if is_avi:  # AVI headers count empty (dropped-frame) chunks as frames too
        total, estimate = _count_video_packets(src), False
    return Job(src, dst, settings, width, height, total, estimate, rate, orientation)


def _open_input(src: Path) -> Any:
    """Open with PyAV, turning its errors into a one-line UserError naming the file."""
    try:
        container = av.open(str(src), mode="r")
    except av.error.FFmpegError as exc:
        raise UserError(f"{src}: cannot read this video ({_reason(exc)}); is it a video file?") from exc
    if not container.streams.video:
        container.close()
        raise UserError(f"{src}: no video stream in this file")
    return container


def _reason(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return str(text).strip().splitlines()[0][:200]


def _first_frame(container: Any, stream: Any, max_packets: int = 300) -> Any:
    """Decode until the first frame (a few packets), or None: catches files that open but do not decode."""
    seen = 0
    try:
        for packet in container.demux(stream):
            seen += 1
            try:
                frames = packet.decode()
            except av.error.InvalidDataError:
                frames = []
            if frames:
                return frames[0]
            if seen >= max_packets:
                break
    except av.error.FFmpegError:
        return None
    return None


def _frame_rate(stream: Any) -> Fraction:
    """The input's average rate (30000/1001 stays exact); guessed rate or 25 when the header has none."""
    for rate in (stream.average_rate, stream.guessed_rate):
        if rate:
            return Fraction(rate)
    return Fraction(25)


def _output_size(width: int, height: int, long_side: int | None) -> tuple[int, int]:
    """Keep the size, or scale to `long_side` with the short side rounded to an even number (4:2:0)."""
    if not long_side:
        return width, height
    if width >= height:
        return long_side, max(2, 2 * round(height * long_side / width / 2))
    return max(2, 2 * round(width * long_side / height / 2)), long_side


def _expected_frames(container: Any, stream: Any, rate: Fraction) -> tuple[int | None, bool]:
    if stream.frames:
        return int(stream.frames), False
    seconds = None
    if stream.duration and stream.time_base:
        seconds = float(stream.duration * stream.time_base)
    elif container.duration:
        seconds = container.duration / av.time_base
    return (max(1, round(seconds * rate)), True) if seconds else (None, True)


def _count_video_packets(src: Path) -> int:
    """Count non-empty video packets (no decoding): AVI's own frame count includes empty chunks."""
    with av.open(str(src)) as container:
        return sum(1 for p in container.demux(container.streams.video[0]) if p.size)


# --------------------------------------------------------------------------------------------- timing

class Retimer:
    """Give decoded frames increasing timestamps, keeping the input's when they are sane.

    Decoders emit frames in display order, but some containers (AVI) stamp packets in decode order,
    so B-frames come out with times out of order. The i-th frame out gets the i-th smallest time
    seen, looking `depth` frames ahead; a time that still does not increase is nudged one frame on.
    """

    def __init__(self, step: int, depth: int = REORDER_DEPTH):
        self.step, self.depth = max(1, step), depth
        self.pending: deque[Any] = deque()
        self.times: list[int] = []
        self.last: int | None = None

    def push(self, frame: Any) -> list[tuple[int, Any]]:
        self.pending.append(frame)
        t = frame.pts if frame.pts is not None else frame.dts
        if t is not None:
            heapq.heappush(self.times, t)
        out = []
        while len(self.pending) > self.depth:
            out.append(self._pop())
        return out

    def flush(self) -> list[tuple[int, Any]]:
        return [self._pop() for _ in range(len(self.pending))]

    def _pop(self) -> tuple[int, Any]:
        frame = self.pending.popleft()
        t = heapq.heappop(self.times) if self.times else None
        if t is None or (self.last is not None and t <= self.last):
            t = 0 if self.last is None else self.last + self.step
        self.last = t
        return t, frame


# --------------------------------------------------------------------------------------------- the run

_DONE = None  # queue sentinel


@dataclass
class _Shared:
    """State the three threads share; errors are stored here and re-raised in the main thread."""

    stop: threading.Event = field(default_factory=threading.Event)
    decode_error: BaseException | None = None
    encode_error: BaseException | None = None
    stylised: int = 0  # frames through the engine
    written: int = 0
    skipped_packets: int = 0
    first_pts: int | None = None  # of the written frames, in the encoder's time base
    last_pts: int | None = None


def _put(q: queue.Queue, item: Any, keep_going: Callable[[], bool]) -> bool:
    """Blocking put that gives up when the other side has stopped (no deadlock on errors)."""
    while keep_going():
        try:
            q.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


def stylise_video(job: Job, engine: Callable[[np.ndarray], np.ndarray] | Sequence[Callable[[np.ndarray], np.ndarray]],
                  notify: Callable[[str], None] = lambda msg: None, show_progress: bool = True,
                  post: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
                  bar: Progress | None = None, schedule: Callable[[float], dict[str, float]] | None = None) -> Result:
    """Run the whole file through `engine` (BGR uint8 in and out) and write OUTPUT. Several engines keep
    that many frames in flight (realtime.engine.inflight), written in order; `post(frame, stylised)`
    (the stabiliser) sees the frames in that order. `bar`: a running progress display to add this
    file's task to (a folder of videos shows one display); by default the file gets its own.
    `schedule(seconds)` gives each frame its mix of a multi-style network's styles (`--style-schedule`):
    the engines' `mix` is set per frame, by the thread that runs it.

    Raises Interrupted on Ctrl-C (or SIGTERM / SIGHUP, which the CLI turns into one) and re-raises
    errors, in both cases after leaving whatever frames were done as a playable OUTPUT (and saying so
    through `notify` for errors) and no temporary file.
    """
    from rich.progress import TextColumn

    from realtime import progress

    settings = job.settings
    tmp: Path | None = None
    src = out = None
    shared = _Shared()
    result = Result(job.output, 0, job.total, False, job.width, job.height, "")
    interrupted = False
    failure: BaseException | None = None
    ordered: Ordered | None = None
    own_bar = bar is None
    if bar is None:
        bar = progress.bar(TextColumn("{task.fields[fps]}"), disable=not show_progress)
    task = None
    if not job.orientation.upright:
        notify(f"note: {job.input} is meant to be shown {job.orientation.describe()}; "
               f"stylising and writing it upright ({job.width}x{job.height})")
    try:
        tmp = temp_beside(job.output)
        src = _open_input(job.input)
        in_video = src.streams.video[0]
        in_video.thread_type = "AUTO"
        out = av.open(str(tmp), mode="w")
        out_video, result.pix_fmt = _add_video_stream(out, in_video, job, notify)
        audio_map = _add_audio_streams(out, src, job, result, notify) if settings.audio else {}
        if not settings.audio and src.streams.audio:
            result.audio = [f"audio: dropped {len(src.streams.audio)} stream(s) (--no-audio)"]
        others = len(src.streams) - len(src.streams.video) - len(src.streams.audio)
        if others or len(src.streams.video) > 1:
            notify(f"note: only the first video stream and the audio are written; "
                   f"{others + len(src.streams.video) - 1} other stream(s) left out")
        decoded_q: queue.Queue = queue.Queue(QUEUE_DEPTH)
        encode_q: queue.Queue = queue.Queue(QUEUE_DEPTH)
        decoder = threading.Thread(target=_decode_loop, name="video-decode", daemon=True,
                                   args=(src, in_video, list(audio_map), job, decoded_q, shared))
        encoder = threading.Thread(target=_encode_loop, name="video-encode", daemon=True,
                                   args=(out, out_video, audio_map, encode_q, shared, _time_map(in_video, out_video)))
    except BaseException:
        with stops_held():
            for c in (src, out):
                _close_quietly(c)
            if tmp is not None:
                tmp.unlink(missing_ok=True)
        raise
    try:
        decoder.start()
        encoder.start()
        with bar if own_bar else contextlib.nullcontext():
            task = bar.add_task("video" if own_bar else job.input.name, total=job.total, fps="")
            started = time.perf_counter()

            def emit(item: Any, styled: np.ndarray | None) -> bool:
                if item[0] != "video":
                    return _put(encode_q, item, lambda: encoder.is_alive())
                if post is not None:
                    styled = post(item[2], styled)
                if not _put(encode_q, ("video", item[1], styled), lambda: encoder.is_alive()):
                    return False
                shared.stylised += 1
                elapsed = time.perf_counter() - started
                bar.update(task, completed=shared.stylised, fps=f"{shared.stylised / max(elapsed, 1e-9):.1f} fps")
                return True

            engines = [engine] if callable(engine) else list(engine)
            work: Callable[[Any], Any] = lambda item: item[2]  # noqa: E731
            if schedule is not None:
                engines = [_Scheduled(e) for e in engines]
                start: list[int] = []

                def work(item: Any) -> tuple[np.ndarray, dict[str, float]]:
                    if not start:
                        start.append(item[1])
                    return item[2], schedule(float((item[1] - start[0]) * in_video.time_base))
            ordered = Ordered(engines, emit)
            while True:
                item = _get(decoded_q, decoder, shared)
                if item is _DONE:
                    ordered.flush()
                    break
                if not (ordered.push(item, work(item)) if item[0] == "video" else ordered.push(item)):
                    break
            if shared.decode_error is None and shared.encode_error is None:
                bar.update(task, total=shared.stylised, completed=shared.stylised)
    except KeyboardInterrupt:
        interrupted = True
    except BaseException as exc:  # engine failure: keep the frames done, then report it
        failure = exc
    finally:
        with stops_held():  # a further stop signal must not cut the finishing short: the temp file would stay
            if ordered is not None:
                ordered.close()
            if task is not None and not own_bar:
                bar.remove_task(task)
            if interrupted or failure is not None:
                shared.stop.set()
            _put(encode_q, _DONE, lambda: encoder.is_alive())
            if encoder.ident is not None:
                encoder.join()  # it flushes and closes the output
            else:  # stopped before it started
                _close_quietly(out)
            shared.stop.set()
            if decoder.ident is not None:
                decoder.join(timeout=10)
            if not decoder.is_alive():  # never free a container a thread may still be reading
                _close_quietly(src)
            result.frames = shared.written
            result.skipped_packets = shared.skipped_packets
            if shared.written:
                os.replace(tmp, job.output)
            else:
                tmp.unlink(missing_ok=True)

    failure = failure or shared.encode_error or shared.decode_error
    if interrupted:
        raise Interrupted(result)
    if failure is not None:
        if shared.written:
            notify(f"stopped by an error: wrote {shared.written} of {_of_total(result)} frames to {job.output} (playable)")
        error = _as_user_error(failure, job)
        if error is failure:
            raise failure
        raise error from failure
    if shared.written == 0:
        raise UserError(f"{job.input}: no video frame could be decoded (corrupt or truncated video)")
    result.complete = True
    if shared.written > 1 and shared.last_pts != shared.first_pts:
        span = (shared.last_pts - shared.first_pts) * Fraction(out_video.codec_context.time_base)
        result.fps = float((shared.written - 1) / span)
    result.total = shared.written if job.total_is_estimate or job.total is None else job.total
    if result.skipped_packets:
        notify(f"warning: skipped {result.skipped_packets} undecodable video packet(s) in {job.input}")
    return result


class _Scheduled:
    """An engine fed (frame, mix): the mix is set just before the frame runs, on the engine's own thread."""

    def __init__(self, engine: Any):
        self.engine = engine

    def __call__(self, work: tuple[np.ndarray, dict[str, float]]) -> np.ndarray:
        frame, mix = work
        self.engine.mix = mix
        return self.engine(frame)


def _get(q: queue.Queue, producer: threading.Thread, shared: _Shared) -> Any:
    """Next decoded item; short timeouts keep Ctrl-C prompt and notice a dead encoder."""
    while True:
        if shared.encode_error is not None:
            raise shared.encode_error
        try:
            return q.get(timeout=0.1)
        except queue.Empty:
            if not producer.is_alive() and q.empty():
                return _DONE


def _close_quietly(container: Any) -> None:
    if container is None:
        return
    try:
        container.close()
    except Exception:  # noqa: BLE001 - closing after another failure; that failure is what gets reported
        pass


def _as_user_error(exc: BaseException, job: Job) -> BaseException:
    if isinstance(exc, UserError):
        return exc
    if isinstance(exc, OSError) and not isinstance(exc, av.error.FFmpegError):
        return UserError(f"{job.output}: cannot write ({exc.strerror or exc})")
    if isinstance(exc, av.error.FFmpegError):
        return UserError(f"{job.input} -> {job.output}: video processing failed ({_reason(exc)})")
    return exc


def _add_video_stream(out: Any, in_video: Any, job: Job, notify: Callable[[str], None]) -> tuple[Any, str]:
    """libx264 at the output size, in the input's time base, with the input's colour tags."""
    pix_fmt = "yuv420p"
    if job.width % 2 or job.height % 2:
        pix_fmt = "yuv444p"
        notify(f"{job.output}: {job.width}x{job.height} has an odd side, which H.264 4:2:0 cannot hold; "
               "encoding H.264 4:4:4 at the exact size (some browsers and phones cannot play it; "
               "--size gives an even size)")
    stream = out.add_stream("libx264", rate=job.rate)
    ctx = stream.codec_context
    ctx.width, ctx.height, ctx.pix_fmt = job.width, job.height, pix_fmt
    ctx.options = {"crf": str(job.settings.crf), "preset": job.settings.preset}
    if out.format.name == "avi":  # AVI stores no presentation times: B-frames would shift the video
        ctx.max_b_frames = 0
    tb = _output_time_base(in_video, job, out)
    ctx.time_base = tb
    stream.time_base = tb
    src_ctx = in_video.codec_context
    if in_video.sample_aspect_ratio:  # --size scales both sides alike, so the pixel shape stays
        sar = Fraction(in_video.sample_aspect_ratio)
        ctx.sample_aspect_ratio = 1 / sar if job.orientation.transpose and sar else sar  # turned pixels
    for attr in ("colorspace", "color_primaries", "color_trc"):
        value = getattr(src_ctx, attr, None)
        if value is not None:
            try:
                setattr(ctx, attr, value)
            except (ValueError, TypeError):
                pass
    ctx.color_range = 1  # we always write limited ("tv") range, which every player expects
    return stream, pix_fmt


def _output_time_base(in_video: Any, job: Job, out: Any) -> Fraction:
    """The input's own time base keeps pts exact; AVI counts frames, so it gets 1/rate."""
    if out.format.name == "avi":
        return 1 / job.rate
    return Fraction(in_video.time_base) if in_video.time_base else 1 / job.rate


def _time_map(in_video: Any, out_video: Any) -> Callable[[int], int]:
    """Input pts -> encoder pts; the identity unless the output time base differs (AVI)."""
    tb_in = Fraction(in_video.time_base) if in_video.time_base else None
    tb_out = Fraction(out_video.codec_context.time_base)
    if tb_in is None or tb_in == tb_out:
        return lambda pts: pts
    last = [-1]

    def convert(pts: int) -> int:
        value = max(round(pts * tb_in / tb_out), last[0] + 1)
        last[0] = value
        return value

    return convert


@dataclass
class AudioRoute:
    """Where one input audio stream goes: remuxed as is, or (container cannot hold it) through AAC.

    Re-encoded audio is fed to the encoder with sample-counted times from 0 (PyAV's frame-size FIFO
    demands that) and shifted back by the input's start time, so it stays in sync with the video.
    """

    target: Any
    transcode: bool
    samples: int = 0
    offset: int | None = None  # input start, in 1/sample_rate units

    def encode(self, out: Any, frame: Any) -> None:
        if frame is not None:
            rate = frame.sample_rate
            if self.offset is None:
                start = frame.pts if frame.pts is not None and frame.time_base else 0
                self.offset = round(start * Fraction(frame.time_base) * rate) if start else 0
            frame.pts, frame.time_base = self.samples, Fraction(1, rate)
            self.samples += frame.samples
        for packet in self.target.encode(frame):
            if self.offset:
                if packet.pts is not None:
                    packet.pts += self.offset
                if packet.dts is not None:
                    packet.dts += self.offset
            out.mux(packet)


def _add_audio_streams(out: Any, src: Any, job: Job, result: Result,
                       notify: Callable[[str], None]) -> dict[Any, AudioRoute]:
    """Map each input audio stream to (output stream, transcode?): remux when the container takes the
    codec, else AAC (said once per stream)."""
    mapping: dict[Any, AudioRoute] = {}
    supported = out.supported_codecs
    for stream in src.streams.audio:
        name = stream.codec_context.name if stream.codec_context is not None else "unknown"
        if name in supported:
            try:
                mapping[stream] = AudioRoute(out.add_stream_from_template(stream), transcode=False)
                result.audio.append(f"audio: copied {name} stream #{stream.index} unchanged")
                continue
            except (ValueError, av.error.FFmpegError):
                pass
        if stream.codec_context is None or stream.codec_context.codec is None:
            notify(f"audio stream #{stream.index} ({name}) cannot be copied into {job.output.suffix} nor decoded; left out")
            continue
        ctx = stream.codec_context
        layout = _aac_layout(ctx.layout)
        target = out.add_stream(FALLBACK_AUDIO, rate=ctx.sample_rate or 48000, layout=layout)
        target.codec_context.bit_rate = 192_000
        mapping[stream] = AudioRoute(target, transcode=True)
        message = f"audio: {name} cannot go in {job.output.suffix}; re-encoding stream #{stream.index} to AAC"
        result.audio.append(message)
        notify(message)
    return mapping


_NAMED_LAYOUTS = {1: "mono", 2: "stereo", 3: "3.0", 4: "quad", 5: "5.0", 6: "5.1", 7: "6.1", 8: "7.1"}


def _aac_layout(layout: Any) -> str:
    """AAC needs a named channel layout; AVI and WAV often give only a count ("2 channels")."""
    if layout is None or not layout.nb_channels:
        return "stereo"
    if "channels" not in layout.name and layout.nb_channels <= 8:
        return layout.name
    return _NAMED_LAYOUTS.get(layout.nb_channels, "stereo")  # more than 8: downmixed to stereo


def frame_to_bgr(frame: Any, size: tuple[int, int] | None = None) -> np.ndarray:
    """A decoded PyAV frame as BGR uint8, resized to `size` (w, h) if given, without swscale's colour bias."""
    kwargs: dict[str, Any] = {"format": "bgr24", "src_color_range": frame.color_range,
                              "interpolation": Interpolation.BILINEAR | _ACCURATE}
    if size and (frame.width, frame.height) != size:
        shrinking = size[0] * size[1] < frame.width * frame.height
        scaler = Interpolation.AREA if shrinking else Interpolation.BICUBIC
        kwargs.update(width=size[0], height=size[1], interpolation=scaler | _ACCURATE)
    return frame.to_ndarray(**kwargs)


def _decode_loop(src: Any, in_video: Any, audio_streams: list[Any], job: Job,
                 q: queue.Queue, shared: _Shared) -> None:
    """Demux video + kept audio; decode video to BGR (at the output size) in display order."""
    keep_going = lambda: not shared.stop.is_set()  # noqa: E731
    try:
        step = round(1 / (job.rate * in_video.time_base)) if in_video.time_base else 1
        retimer = Retimer(step)

        stored = job.orientation.shown_size(job.width, job.height)  # the size to scale to before turning

        def to_bgr(frame: Any) -> np.ndarray:
            return job.orientation.apply(frame_to_bgr(frame, stored))

        for packet in src.demux([in_video, *audio_streams]):
            if shared.stop.is_set():
                return
            if packet.stream.type == "audio":
                if packet.dts is not None and not _put(q, ("audio", packet), keep_going):
                    return
                continue
            try:
                frames = packet.decode()
            except av.error.InvalidDataError:
                shared.skipped_packets += 1
                continue
            for frame in frames:
                for pts, ready in retimer.push(frame):
                    if not _put(q, ("video", pts, to_bgr(ready)), keep_going):
                        return
        for pts, ready in retimer.flush():
            if not _put(q, ("video", pts, to_bgr(ready)), keep_going):
                return
    except BaseException as exc:  # noqa: BLE001 - handed to the main thread
        shared.decode_error = exc if not isinstance(exc, av.error.FFmpegError) else UserError(
            f"{job.input}: cannot decode this video ({_reason(exc)})")
    finally:
        _put(q, _DONE, keep_going)


def _encode_loop(out: Any, out_video: Any, audio_map: dict[Any, AudioRoute], q: queue.Queue,
                 shared: _Shared, time_map: Callable[[int], int]) -> None:
    """Encode stylised frames and mux audio until the sentinel, then flush and close: always a valid file."""
    tb = out_video.codec_context.time_base
    ctx = out_video.codec_context
    colorspace = ctx.colorspace if ctx.colorspace not in (None, 0, 2) else None
    try:
        while True:
            item = q.get()
            if item is _DONE:
                break
            if item[0] == "video":
                _, pts, bgr = item
                frame = av.VideoFrame.from_ndarray(bgr, format="bgr24")
                frame = frame.reformat(format=ctx.pix_fmt, dst_colorspace=colorspace, dst_color_range=1,
                                       interpolation=Interpolation.BILINEAR | _ACCURATE)
                frame.pts = time_map(pts)
                frame.time_base = tb
                if shared.first_pts is None:
                    shared.first_pts = frame.pts
                shared.last_pts = frame.pts
                for packet in out_video.encode(frame):
                    out.mux(packet)
                shared.written += 1
            else:
                _mux_audio(out, item[1], audio_map)
        _flush(out, out_video, audio_map)
    except BaseException as exc:  # noqa: BLE001 - handed to the main thread
        shared.encode_error = exc
        shared.stop.set()
        try:
            _flush(out, out_video, audio_map)
        except BaseException:  # noqa: BLE001 - the first error is the one reported
            pass
    finally:
        _close_quietly(out)


def _mux_audio(out: Any, packet: Any, audio_map: dict[Any, AudioRoute]) -> None:
    route = audio_map[packet.stream]
    if not route.transcode:
        packet.stream = route.target
        out.mux(packet)
        return
    try:
        frames = packet.decode()
    except av.error.InvalidDataError:
        return
    for frame in frames:
        route.encode(out, frame)


def _flush(out: Any, out_video: Any, audio_map: dict[Any, AudioRoute]) -> None:
    for packet in out_video.encode(None):
        out.mux(packet)
    for source, route in audio_map.items():
        if route.transcode:
            for frame in source.codec_context.decode(None):
                route.encode(out, frame)
            route.encode(out, None)
