"""Long runs: RSS and open files of `realtime video` and `realtime webcam --source` over a 20,000-frame clip.

    python benchmarks/soak.py --frames 20000 --out benchmarks/results/soak_cpu.json

Makes the clip itself (the bundled Big Buck Bunny frames at 256x144, looped at 30 fps, its audio looped in
stereo AAC), runs each command as a subprocess on the CPU network and samples the process tree's resident
memory (VmRSS, children included), open file descriptors and threads twice a second until it ends. A
soak, not a timed test: the acceptance is that after the first minute RSS grows by less than 20 MB and
the count of open files stays constant. `--virtual-cam` is added to the webcam run only where a
v4l2loopback device (/dev/video*) exists. The judged span runs from 60 s to the exit (the last 1.5 s,
when the command closes its files and frees its buffers, is recorded apart). Each run is stopped with
Ctrl-C (SIGINT) after `--timeout` seconds; the frames it got through are recorded. Prints a table and
writes JSON.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from realtime.machine import SPEED_FLAGS, cpu_flags, cpu_model

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "realtime" / "samples" / "big_buck_bunny_360p.mp4"
RESULTS = Path(__file__).resolve().parent / "results"
WEBCAM_SUMMARY = re.compile(r"webcam: (\d+) frames in ([\d.]+) s, ([\d.]+) fps mean")
AFTER_S = 60.0  # "after the first minute"
LIMIT_MB = 20.0
EXIT_S = 1.5  # the last samples, taken while the command closes its files and exits, are the exit, not the run


# -- the clip ---------------------------------------------------------------------------------------
def make_clip(path: Path, frames: int, width: int, height: int, fps: int, audio: bool) -> dict:
    """`frames` frames of the bundled clip at width x height, looped, at `fps`; its audio looped (stereo AAC)."""
    pictures, sound = [], []
    with av.open(str(SAMPLE)) as src:
        resampler = av.AudioResampler(format="fltp", layout="stereo", rate=48000)
        for frame in src.decode(*src.streams.video, *src.streams.audio):
            if isinstance(frame, av.VideoFrame):
                pictures.append(frame.reformat(width, height, "yuv420p").to_ndarray())
            elif audio:
                for out in resampler.resample(frame):
                    sound.append(out.to_ndarray())
    samples = np.concatenate(sound, axis=1).astype(np.float32) if sound else None
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.options = {"preset": "veryfast", "crf": "23"}
        aac = out.add_stream("aac", rate=48000, layout="stereo") if samples is not None else None
        chunk, sent = 1024, 0  # audio samples sent so far
        for i in range(frames):
            picture = av.VideoFrame.from_ndarray(pictures[i % len(pictures)], format="yuv420p")
            picture.pts, picture.time_base = i, Fraction(1, fps)
            out.mux(video.encode(picture))
            while aac is not None and sent < (i + 1) * 48000 // fps:
                idx = (np.arange(sent, sent + chunk) % samples.shape[1])
                block = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples[:, idx]), format="fltp", layout="stereo")
                block.sample_rate, block.pts, block.time_base = 48000, sent, Fraction(1, 48000)
                out.mux(aac.encode(block))
                sent += chunk
        out.mux(video.encode())
        if aac is not None:
            out.mux(aac.encode())
    return {"frames": frames, "size": f"{width}x{height}", "fps": fps, "audio": "stereo AAC, looped" if aac else "none",
            "from": SAMPLE.name, "bytes": path.stat().st_size}


# -- sampling ---------------------------------------------------------------------------------------
def tree(pid: int) -> list[int]:
    """`pid` and its descendants."""
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        for children in glob.glob(f"/proc/{p}/task/*/children"):
            try:
                todo.extend(int(c) for c in Path(children).read_text().split())
            except OSError:
                pass
    return found


def sample(pid: int) -> tuple[float, int, int] | None:
    """(RSS MB, open fds, threads) over the process tree, or None once it has gone."""
    rss_kb = fds = threads = 0
    seen = False
    for p in tree(pid):
        try:
            status = Path(f"/proc/{p}/status").read_text()
            count = len(os.listdir(f"/proc/{p}/fd"))
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if "VmRSS" not in fields:  # a zombie
            continue
        seen = True
        rss_kb += int(fields["VmRSS"].split()[0])
        threads += int(fields["Threads"])
        fds += count
    return (rss_kb / 1024, fds, threads) if seen else None


def soak(name: str, args_: list[str], interval: float, timeout: float, log: Path) -> dict:
    """Run `realtime ARGS` and sample it until it ends (SIGINT after `timeout` s)."""
    command = [sys.executable, "-m", "realtime", *args_]
    curve: dict[str, list] = {"t": [], "rss_mb": [], "fds": [], "threads": []}
    stopped = False
    with log.open("w") as sink:
        start = time.monotonic()
        proc = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, cwd=ROOT,
                                env={**os.environ, "COLUMNS": "120"})
        while proc.poll() is None:
            t = time.monotonic() - start
            if t > timeout and not stopped:
                proc.send_signal(signal.SIGINT)
                stopped = True
            got = sample(proc.pid)
            if got is not None and got[0] >= 5 and proc.poll() is None:  # not the fork before exec
                for key, value in zip(curve, (round(t, 2), round(got[0], 1), got[1], got[2])):
                    curve[key].append(value)
            time.sleep(interval)
        wall = time.monotonic() - start
    text = log.read_text(errors="replace")
    return {"name": name, "command": "realtime " + " ".join(args_), "returncode": proc.returncode,
            "stopped_at_timeout": stopped, "wall_s": round(wall, 1), "curve": curve,
            "output_tail": text.strip().splitlines()[-6:]}


def judge(run: dict) -> None:
    """The figures after the first minute, and pass / fail against the acceptance.

    The steady state is judged: from the first sample at 60 s to the last one before the exit (the final
    EXIT_S seconds, when the command closes its files and frees its buffers, are reported apart)."""
    c = run["curve"]
    points = [dict(zip(c, values)) for values in zip(*c.values())]
    end_t = points[-1]["t"] if points else 0.0
    late = [p for p in points if AFTER_S <= p["t"] <= end_t - EXIT_S]
    if len(late) < 2:
        run.update(passed=None, note="ended within the first minute: nothing to judge")
        return
    at60, end = late[0], late[-1]
    rss = np.array([p["rss_mb"] for p in late])
    slope = float(np.polyfit([p["t"] for p in late], rss, 1)[0]) * 60
    fds = [p["fds"] for p in late]
    threads = [p["threads"] for p in late]
    exit_ = [p for p in points if p["t"] > end_t - EXIT_S]
    run.update(
        rss_first_minute_mb=[min(p["rss_mb"] for p in points if p["t"] < AFTER_S),
                             max(p["rss_mb"] for p in points if p["t"] < AFTER_S)],
        rss_at_60s_mb=at60["rss_mb"], rss_end_mb=end["rss_mb"], rss_end_t=end["t"],
        rss_growth_after_60s_mb=round(end["rss_mb"] - at60["rss_mb"], 1),
        rss_peak_growth_after_60s_mb=round(float(rss.max()) - at60["rss_mb"], 1),
        rss_slope_after_60s_mb_per_min=round(slope, 2),
        fds_at_60s=at60["fds"], fds_after_60s=[min(fds), max(fds)], threads_after_60s=[min(threads), max(threads)],
        at_exit=[{"t": p["t"], "rss_mb": p["rss_mb"], "fds": p["fds"], "threads": p["threads"]} for p in exit_],
    )
    run["passed"] = (run["rss_growth_after_60s_mb"] < LIMIT_MB and run["rss_peak_growth_after_60s_mb"] < LIMIT_MB
                     and min(fds) == max(fds))


def video_frames(path: Path) -> int:
    try:
        with av.open(str(path)) as c:
            stream = c.streams.video[0]
            return stream.frames or sum(1 for _ in c.demux(stream) if _.size)
    except (OSError, av.FFmpegError, IndexError):
        return 0


def write(path: Path, made: dict, args: argparse.Namespace, runs: list[dict]) -> None:
    """The JSON, each curve's columns on one line each."""
    flags = [f for f in SPEED_FLAGS if f in cpu_flags()]
    result = {"machine": {"cpu": cpu_model(), "cores": os.cpu_count(), "flags": " ".join(flags),
                          "load_average_at_end": [round(v, 2) for v in os.getloadavg()]},
              "clip": made, "interval_s": args.interval, "timeout_s": args.timeout,
              "acceptance": f"from {AFTER_S:g} s to the exit: RSS (end and peak) grows by < {LIMIT_MB:g} MB "
                            "and the open fds stay constant",
              "runs": runs}
    text = json.dumps(result, indent=1)
    text = re.sub(r"\[([-\d.,\s]+)\]", lambda m: "[" + ", ".join(v.strip() for v in m.group(1).split(",")) + "]", text)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=20000)
    parser.add_argument("--size", default="256x144", help="clip size WxH")
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--style", default="mosaic")
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between samples")
    parser.add_argument("--timeout", type=float, default=480, help="seconds before a run is stopped with Ctrl-C")
    parser.add_argument("--runs", default="video,webcam", help="which of video,webcam")
    parser.add_argument("--no-audio", action="store_true", help="make the clip without audio")
    parser.add_argument("--keep", type=Path, help="keep the clip and outputs in this folder")
    parser.add_argument("--out", type=Path, default=RESULTS / "soak_cpu.json")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))

    work = Path(tempfile.mkdtemp(prefix="realtime-soak-")) if args.keep is None else args.keep
    work.mkdir(parents=True, exist_ok=True)
    clip = work / f"long_{args.frames}.mp4"
    t0 = time.monotonic()
    made = make_clip(clip, args.frames, width, height, args.fps, not args.no_audio)
    made["seconds_to_make"] = round(time.monotonic() - t0, 1)
    print(f"clip: {made}", flush=True)

    loopback = sorted(glob.glob("/dev/video*"))
    runs = []
    for which in args.runs.split(","):
        if which == "video":
            output = work / "out.mp4"
            cli = ["video", str(clip), "-o", str(output), "--style", args.style, "--net", "lite",
                   "--preset", "ultrafast", "--device", "cpu", "--overwrite"]
        elif which == "webcam":
            cli = ["webcam", "--source", str(clip), "--style", args.style, "--net", "lite", "--no-display",
                   "--max-frames", str(args.frames), "--device", "cpu"]
            if loopback:
                cli.append("--virtual-cam")
        else:
            raise SystemExit(f"unknown run {which}")
        print(f"running realtime {' '.join(cli)}", flush=True)
        run = soak(which, cli, args.interval, args.timeout, work / f"{which}.log")
        if which == "video":
            run["frames"] = video_frames(output)
        else:
            match = WEBCAM_SUMMARY.search("\n".join(run["output_tail"]))
            run["frames"] = int(match.group(1)) if match else None
            run["virtual_cam"] = loopback[0] if loopback else "none: no v4l2loopback device (/dev/video*)"
        run["fps"] = round(run["frames"] / run["wall_s"], 1) if run["frames"] else None
        judge(run)
        runs.append(run)
        write(args.out, made, args, runs)
        print(f"  {run['frames']} frames in {run['wall_s']} s, exit {run['returncode']}, passed {run['passed']}", flush=True)

    print(f"\n{cpu_model()}, {os.cpu_count()} cores; clip {made['frames']} frames {made['size']} at {made['fps']} fps")
    print(f"{'run':<7} {'frames':>6} {'wall s':>7} {'fps':>5} {'RSS 60s':>8} {'RSS end':>8} {'growth':>7} "
          f"{'peak+':>6} {'MB/min':>7} {'fds>60s':>8} {'pass':>5}")
    for r in runs:
        if r.get("passed") is None:
            print(f"{r['name']:<7} {r['frames']!s:>6} {r['wall_s']:>7} {r.get('note', '')}")
            continue
        fds = r["fds_after_60s"]
        print(f"{r['name']:<7} {r['frames']!s:>6} {r['wall_s']:>7} {r['fps']!s:>5} {r['rss_at_60s_mb']:>8.1f} "
              f"{r['rss_end_mb']:>8.1f} {r['rss_growth_after_60s_mb']:>7.1f} {r['rss_peak_growth_after_60s_mb']:>6.1f} "
              f"{r['rss_slope_after_60s_mb_per_min']:>7.2f} {f'{fds[0]}-{fds[1]}':>8} {'yes' if r['passed'] else 'NO':>5}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
