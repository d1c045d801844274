"""`realtime webcam` beside a video call on the same cores: what a cap, threads and priority leave the call.

The "call" is a stand-in for a video call's encoder: 1280x720 frames at 30 fps, real-time paced (frame i
is due at i/30 s, as a camera delivers it), H.264 through libx264 (preset veryfast, tune zerolatency,
2.5 Mbit/s, its own thread choice), converting each BGR camera frame to YUV 4:2:0 first. A frame not
started before its slot ends is dropped, as a call's encoder drops frames it cannot keep up with. For the
call it records the frames encoded per second, those finished after their slot (late) and those dropped,
and how late frames finish (ms after they were due).

The loop is the command a user runs (`realtime webcam --style mosaic-lite --source CLIP --width 640 --height
480 --no-display --device cpu --max-frames N` plus each setting's options), run through live_cpu.py's child
so onnxruntime settings that are not options (intra-op threads) can be tried too; `--nice 10` is the
default of `webcam --virtual-cam`. Each round runs the call alone, then for each setting the loop alone
and the loop with the call beside it; the call's figures are taken over exactly the loop's run (its
clock, from the first frame taken to the last shown).

    python benchmarks/share_cpu.py --clip ../shared/data/video/office.mp4 --rounds 3 \\
        --pause PID --lock /tmp/timing.lock

`--pause PID` stops another process (a training job) for each run only; `--lock FILE` holds that file's
flock for each run, so another timing job's runs never overlap these; `--wait-quiet S` waits for idle
cores before each run, and a run beside another process's burst is run again (left out of the medians
where its setting has a clean run); `--add` adds rounds to a trial's JSON. Prints a table and writes JSON.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import live_cpu  # noqa: E402 - benchmarks/ is not a package
from realtime.machine import cpu_model  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
CALL_SIZE = (1280, 720)
CALL_FPS = 30.0
CALL_WARMUP_S = 1.5  # the call runs this long before the loop starts (encoder settled)
CALL_ALONE_S = 10.0
# name -> (extra webcam options, onnxruntime session settings set by live_cpu's child)
SETTINGS: dict[str, tuple[list[str], dict[str, str]]] = {
    "default": ([], {}),  # two frames in flight, one thread each, no cap
    "max-fps 15": (["--max-fps", "15"], {}),
    "max-fps 10": (["--max-fps", "10"], {}),
    "in-flight 1": (["--in-flight", "1"], {}),  # one frame, onnxruntime's two threads
    "in-flight 1 max-fps 10": (["--in-flight", "1", "--max-fps", "10"], {}),
    "in-flight 1 threads 1": (["--in-flight", "1"], {live_cpu.THREADS: "1"}),  # one core left to the call
    "nice 10": (["--nice", "10"], {}),  # the loop at a lower priority than the call's, no cap
}


# -- the call ------------------------------------------------------------------------------------------
def call_frames(clip: Path | None, count: int = 30):
    """BGR 1280x720 frames to encode: the clip's first `count`, else moving noise."""
    import numpy as np

    w, h = CALL_SIZE
    if clip is not None:
        import av

        frames = []
        with av.open(str(clip)) as source:
            for frame in source.decode(video=0):
                frames.append(frame.to_ndarray(width=w, height=h, format="bgr24"))
                if len(frames) >= count:
                    break
        if frames:
            return frames
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for _ in range(count)]


def run_call(clip: Path | None, seconds: float, preset: str, bitrate: int) -> list[tuple[float, float, float]]:
    """Encode at the call's pace until `seconds` pass or SIGTERM: (due, done, 0) per frame encoded and
    (due, 0, 1) per frame dropped, in time.monotonic() seconds (one clock for every process)."""
    import av

    frames = call_frames(clip)
    codec = av.CodecContext.create("libx264", "w")
    codec.width, codec.height = CALL_SIZE
    codec.pix_fmt = "yuv420p"
    codec.framerate = Fraction(int(CALL_FPS))
    codec.time_base = Fraction(1, int(CALL_FPS))
    codec.bit_rate = bitrate
    codec.options = {"preset": preset, "tune": "zerolatency"}
    codec.open()
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    slot = 1.0 / CALL_FPS
    records: list[tuple[float, float, float]] = []
    start = time.monotonic()
    i = 0
    while not stop and time.monotonic() - start < seconds:
        due = start + i * slot
        wait = due - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        elif -wait > slot:  # its slot is over before it started: dropped, as a call drops what it cannot send
            records.append((due, 0.0, 1.0))
            i += 1
            continue
        frame = av.VideoFrame.from_ndarray(frames[i % len(frames)], format="bgr24").reformat(format="yuv420p")
        frame.pts = i
        for _ in codec.encode(frame):
            pass
        records.append((due, time.monotonic(), 0.0))
        i += 1
    return records


def call_figures(records: list, begin: float, end: float) -> dict[str, float]:
    """The call over [begin, end] (frames due then): fps encoded, late and dropped frames, lateness."""
    slot = 1.0 / CALL_FPS
    due = [r for r in records if begin <= r[0] < end]
    sent = [r for r in due if not r[2]]
    late = [r for r in sent if r[1] - r[0] > slot]
    lateness = sorted(1000 * (r[1] - r[0]) for r in sent) or [0.0]
    return {"due": len(due), "fps": round(len(sent) / (end - begin), 2), "late": len(late),
            "dropped": len(due) - len(sent), "on_time": round((len(sent) - len(late)) / max(1, len(due)), 3),
            "lateness_p50_ms": round(statistics.median(lateness), 1),
            "lateness_p95_ms": round(lateness[min(len(lateness) - 1, int(0.95 * len(lateness)))], 1)}


@contextmanager
def call_beside(clip: Path | None, preset: str, bitrate: int):
    """The call running in its own process; yields a function that stops it and returns its records."""
    command = [sys.executable, __file__, "--call", "--seconds", "600", "--preset", preset,
               "--bitrate", str(bitrate), *(["--clip", str(clip)] if clip else [])]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    records: list = []

    def stop() -> list:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
        records.extend(json.loads(out))
        return records

    try:
        time.sleep(CALL_WARMUP_S)
        yield stop
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# -- the loop --------------------------------------------------------------------------------------------
def run_loop(style: str, clip: Path, frames: int, setting: str) -> dict[str, object]:
    """One `realtime webcam` run: fps, latency, stages and the monotonic span of its loop."""
    extra, config = SETTINGS[setting]
    argv = ["webcam", "--style", style, "--source", str(clip), "--width", "640", "--height", "480",
            "--no-display", "--device", "cpu", "--max-frames", str(frames), *extra]
    command = [sys.executable, __file__, "--loop", json.dumps(config), "--", *argv]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    match = live_cpu.SUMMARY.search(done.stdout)
    ended = [line for line in done.stderr.splitlines() if line.startswith("loop-ended ")]
    if match is None or not ended:
        raise SystemExit(f"no summary line in: {done.stdout}\n{done.stderr}")
    line = done.stdout[match.start():].splitlines()[0]
    stages = {name: float(ms) for name, ms in live_cpu.STAGE.findall(line.split("; per frame ", 1)[-1])}
    seconds, end = float(match.group(2)), float(ended[-1].split()[1])
    return {"fps": float(match.group(3)), "latency_ms": float(match.group(4)), "stages_ms": stages,
            "span": (end - seconds, end)}


def loop_child(config: dict[str, str], argv: list[str]) -> None:
    """live_cpu's child, saying on stderr when the command ended (monotonic), so the call's figures can be
    taken over exactly the loop's run."""
    try:
        live_cpu.child(config, argv)
    finally:
        print(f"loop-ended {time.monotonic()}", file=sys.stderr, flush=True)


# -- rounds ----------------------------------------------------------------------------------------------
@contextmanager
def held(lock: Path | None):
    if lock is None:
        yield
        return
    with open(lock, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def signal_if_there(pid: int | None, sig: int) -> None:
    try:
        if pid:
            os.kill(pid, sig)
    except ProcessLookupError:  # the paused job ended meanwhile
        pass


@contextmanager
def paused(pid: int | None):
    signal_if_there(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        signal_if_there(pid, signal.SIGCONT)


def others_busy(run) -> tuple[object, float]:
    """Run `run()`; with it, how busy processes other than this one's children kept the cores (0..1)."""
    busy, mine, start = live_cpu.busy_seconds(), live_cpu.child_seconds(), time.perf_counter()
    result = run()
    wall = time.perf_counter() - start
    others = max(0.0, (live_cpu.busy_seconds() - busy) - (live_cpu.child_seconds() - mine))
    return result, round(others / (wall * (os.cpu_count() or 1)), 3)


def one_round(args, settings: list[str]) -> list[dict[str, object]]:
    rows = []

    def measured(run) -> tuple[object, float]:
        """`run()` with the paused process stopped, after waiting for quiet cores; run again (up to
        --retries times) when other processes kept the cores busier than --busy meanwhile."""
        for attempt in range(args.retries + 1):
            with held(args.lock), paused(args.pause):
                live_cpu.wait_quiet(args.wait_quiet, args.pause)
                result, others = others_busy(run)
            if others <= args.busy:
                break
            print(f"  (others kept the cores {others:.0%} busy; again)", flush=True)
        return result, others

    def call_alone():
        with call_beside(args.call_clip, args.preset, args.bitrate) as stop:
            begin = time.monotonic()
            time.sleep(CALL_ALONE_S)
            end = time.monotonic()
            return call_figures(stop(), begin, end)

    call, others = measured(call_alone)
    rows.append({"case": "call alone", "setting": "", "call": call, "others_cpu": others})
    print(f"  call alone: {call}", flush=True)
    for setting in settings:
        loop, others = measured(lambda: run_loop(args.style, args.clip, args.frames, setting))
        rows.append({"case": "loop alone", "setting": setting, "loop": loop, "others_cpu": others})
        print(f"  loop alone, {setting}: {loop['fps']} fps, {loop['latency_ms']} ms", flush=True)

        def together():
            with call_beside(args.call_clip, args.preset, args.bitrate) as stop:
                loop = run_loop(args.style, args.clip, args.frames, setting)
                return loop, call_figures(stop(), *loop["span"])

        (loop, call), others = measured(together)
        rows.append({"case": "with the call", "setting": setting, "loop": loop, "call": call, "others_cpu": others})
        print(f"  with the call, {setting}: {loop['fps']} fps, {loop['latency_ms']} ms; call {call}", flush=True)
    return rows


def summarise(runs: list[dict[str, object]], busy: float) -> list[dict[str, object]]:
    """Medians over the rounds, one row per case and setting, in the order first run; a setting's
    loop-alone and with-the-call rows are from the same rounds."""
    keys: list[tuple[str, str]] = []
    for r in runs:
        if (r["case"], r["setting"]) not in keys:
            keys.append((r["case"], r["setting"]))
    rows = []
    for case, setting in keys:
        done = [r for r in runs if (r["case"], r["setting"]) == (case, setting)]
        clean = [r for r in done if r["others_cpu"] <= busy]
        done = clean or done  # runs beside another process's burst count only when no other run is left
        row: dict[str, object] = {"case": case, "setting": setting, "runs": len(done),
                                  "others_cpu": max(r["others_cpu"] for r in done)}
        if "loop" in done[0]:
            row["loop_fps"] = [r["loop"]["fps"] for r in done]
            row["loop_median_fps"] = statistics.median(row["loop_fps"])
            row["loop_median_latency_ms"] = statistics.median(r["loop"]["latency_ms"] for r in done)
            row["loop_network_ms"] = statistics.median(r["loop"]["stages_ms"].get("network", 0.0) for r in done)
        if "call" in done[0]:
            for key in ("fps", "late", "dropped", "on_time", "lateness_p50_ms", "lateness_p95_ms"):
                row[f"call_{key}"] = statistics.median(r["call"][key] for r in done)
            row["call_on_time_runs"] = [r["call"]["on_time"] for r in done]
        rows.append(row)
    return rows


def print_table(rows: list[dict[str, object]], header: str) -> None:
    print(header)
    print(f"{'case':<14} {'setting':<24} {'runs':>4} {'loop fps':>8} {'lat ms':>6} {'net ms':>6} | {'call fps':>8} "
          f"{'on time':>7} {'late':>5} {'dropped':>7} {'p50 ms':>6} {'p95 ms':>6} | {'others':>6}")
    for r in rows:
        loop = (f"{r['loop_median_fps']:>8.1f} {r['loop_median_latency_ms']:>6.0f} {r['loop_network_ms']:>6.0f}"
                if "loop_median_fps" in r else f"{'':>8} {'':>6} {'':>6}")
        call = (f"{r['call_fps']:>8.1f} {r['call_on_time']:>7.0%} {r['call_late']:>5.0f} {r['call_dropped']:>7.0f} "
                f"{r['call_lateness_p50_ms']:>6.0f} {r['call_lateness_p95_ms']:>6.0f}"
                if "call_fps" in r else f"{'':>8} {'':>7} {'':>5} {'':>7} {'':>6} {'':>6}")
        print(f"{r['case']:<14} {r['setting']:<24} {r['runs']:>4} {loop} | {call} | {r['others_cpu']:>6.0%}")
    print("call: 1280x720 at 30 fps, libx264; on time: frames due that were encoded within their 33 ms slot; "
          "late / dropped: frames a run (median); p50 / p95: ms from a frame being due to its encode ending")
    print("runs: rounds in the medians (a run beside another process's burst, over --busy after the retries, "
          "counts only where no other is left); others: the most that processes outside this benchmark kept "
          "the cores busy in those runs (a valid trial: ~0 %)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--style", default="mosaic-lite")
    parser.add_argument("--clip", type=Path, default=Path("../shared/data/video/office.mp4"),
                        help="The loop's source, played as a 640x480 camera.")
    parser.add_argument("--call-clip", type=Path, help="Frames for the call to encode (default: --clip's).")
    parser.add_argument("--frames", type=int, default=100, help="The loop's frames a run.")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--settings", default=",".join(SETTINGS), help="Comma-separated: " + ", ".join(SETTINGS))
    parser.add_argument("--preset", default="veryfast", help="The call's libx264 preset.")
    parser.add_argument("--bitrate", type=int, default=2_500_000, help="The call's bit rate.")
    parser.add_argument("--json", type=Path, default=RESULTS / "share_cpu.json")
    parser.add_argument("--add", action="store_true", help="Add the rounds to those already in --json.")
    parser.add_argument("--pause", type=int, metavar="PID", help="A process to stop during each run (a training job).")
    parser.add_argument("--lock", type=Path, metavar="FILE", help="Hold this file's flock for each run.")
    parser.add_argument("--wait-quiet", type=float, default=0.0, metavar="S",
                        help="Before each run, wait up to S seconds for other processes to leave the cores idle.")
    parser.add_argument("--busy", type=float, default=0.10, metavar="F",
                        help="Run again when other processes kept more than this share of the cores busy.")
    parser.add_argument("--retries", type=int, default=3, help="How many times to run a busy run again.")
    parser.add_argument("--call", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, default=CALL_ALONE_S, help=argparse.SUPPRESS)
    parser.add_argument("--loop", help=argparse.SUPPRESS)
    args, rest = parser.parse_known_args()
    if args.call:
        print(json.dumps(run_call(args.clip, args.seconds, args.preset, args.bitrate)))
        return
    if args.loop is not None:
        loop_child(json.loads(args.loop), [a for a in rest if a != "--"])
        return
    if args.call_clip is None:
        args.call_clip = args.clip
    settings = [s for s in args.settings.split(",") if s]
    for s in settings:
        if s not in SETTINGS:
            raise SystemExit(f"--settings {s}: use {', '.join(SETTINGS)}")

    cpu = cpu_model()
    runs: list[dict[str, object]] = []
    done_rounds = 0
    if args.add and args.json.exists():  # more rounds for the same trial, e.g. when the cores are quiet again
        before = json.loads(args.json.read_text())
        if before.get("cpu") != cpu or before.get("frames") != args.frames or before.get("style") != args.style:
            raise SystemExit(f"--add: {args.json} holds another trial (CPU, style or frames differ)")
        runs, done_rounds = before["runs"], before["rounds"]
    for k in range(args.rounds):
        print(f"round {done_rounds + k + 1}", flush=True)
        runs.extend(one_round(args, settings))
        report(args, cpu, runs, done_rounds + k + 1)  # after every round: a stopped trial keeps its rounds


def report(args, cpu: str, runs: list[dict[str, object]], rounds: int) -> None:
    rows = summarise(runs, args.busy)
    print_table(rows, f"realtime webcam --style {args.style}, {args.clip.name} at 640x480, {args.frames} frames a run, "
                      f"beside a 720p30 libx264 {args.preset} encode; medians of {rounds} rounds; {cpu}, "
                      f"{os.cpu_count()} cores")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"style": args.style, "clip": args.clip.name, "frames": args.frames,
                                     "rounds": rounds, "cpu": cpu, "cores": os.cpu_count(),
                                     "call": {"size": "x".join(map(str, CALL_SIZE)), "fps": CALL_FPS,
                                              "codec": "libx264", "preset": args.preset, "tune": "zerolatency",
                                              "bitrate": args.bitrate, "clip": args.call_clip.name},
                                     "rows": rows, "runs": runs}, indent=2) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
