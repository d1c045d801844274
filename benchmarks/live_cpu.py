"""`realtime webcam` end to end on a CPU with the CPU network: fps, latency and where a frame's time goes.

Runs the command a user runs, `realtime webcam --source CLIP --width W --height H --no-display --device cpu
--style STYLE-lite`, at 640x480 and 1280x720, for a baseline (today's defaults) and each candidate
setting (`lite4 reference`: the same command on the lite4 CPU network, a fixed reference across machines), in interleaved rounds (baseline, candidates, baseline, ...) so a slow spell hits them alike. Reads
fps, latency and the per-stage split (capture+decode, colour/resize, network, post, display/encode) from the
summary line. Candidates that are not command-line options (onnxruntime's spinning) are applied by running
the command through this script, which sets them on every session before the command starts.

    python benchmarks/live_cpu.py --clip ../shared/data/video/office.mp4 --rounds 2

The cores are shared: pause any training first (`kill -STOP`), or give its process id as `--pause PID`,
which stops it for each run only and resumes it between runs. Prints a table and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from realtime.machine import cpu_model

RESULTS = Path(__file__).resolve().parent / "results"
SUMMARY = re.compile(r"webcam: (\d+) frames in ([\d.]+) s, ([\d.]+) fps mean, (\d+) ms a frame")
STAGE = re.compile(r"(capture\+decode|colour/resize|network|post|display/encode) ([\d.]+)")
SIZES = {"640x480": (640, 480), "1280x720": (1280, 720)}
BASELINE = "baseline"
LITE4 = "lite4 reference"
THREADS = "intra_op_num_threads"  # not a session config entry: set as the sessions' intra-op thread count
# name -> (extra webcam options, onnxruntime session config entries set by this script)
SETTINGS: dict[str, tuple[list[str], dict[str, str]]] = {
    BASELINE: ([], {}),  # the shipped default: two frames in flight, one thread each
    "in-flight 1": (["--in-flight", "1"], {}),  # one frame, two onnxruntime threads
    "in-flight 1 no-spin": (["--in-flight", "1"], {"session.intra_op.allow_spinning": "0"}),  # idle threads sleep
    "in-flight 3": (["--in-flight", "3"], {}),  # three one-thread sessions on two cores
    # The fixed baseline across machines and network changes: the lite4 CPU network (width 12, 4 blocks, the
    # CPU copies' architecture before `fast`) with seeded random weights; its cost does not depend on them.
    LITE4: ([], {}),
}


def child(config: dict[str, str], argv: list[str]) -> None:
    """Run `realtime ARGV` with `config` entries added to every onnxruntime session it makes (THREADS:
    that many intra-op threads per session instead of the command's choice)."""
    from realtime.engine import session

    plain = session.session_options

    def with_config(*args, **kwargs):
        options = plain(*args, **kwargs)
        for key, value in config.items():
            if key == THREADS:
                options.intra_op_num_threads = int(value)
            else:
                options.add_session_config_entry(key, value)
        return options

    session.session_options = with_config
    sys.argv = ["realtime", *argv]
    from realtime.cli import main

    main()


def busy_seconds() -> float:
    """CPU seconds this machine has spent busy (all cores, all processes) since boot; 0 where unknown."""
    try:
        fields = [float(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return 0.0
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0.0)
    return (sum(fields) - idle) / os.sysconf("SC_CLK_TCK")


def wait_quiet(limit_s: float, paused: int | None, sample_s: float = 1.0, idle: float = 0.05) -> None:
    """Wait (up to `limit_s`) until the machine's cores are idle but for `idle` of them over `sample_s`;
    the paused process runs again while we wait, so it is never held stopped for long."""
    deadline = time.monotonic() + limit_s
    while True:
        before = busy_seconds()
        time.sleep(sample_s)
        if (busy_seconds() - before) / (sample_s * (os.cpu_count() or 1)) <= idle or time.monotonic() > deadline:
            return
        if paused:
            os.kill(paused, signal.SIGCONT)
        time.sleep(5)
        if paused:
            os.kill(paused, signal.SIGSTOP)


def child_seconds() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def lite4_reference(folder: Path) -> Path:
    """The lite4 CPU network (width 12, 4 blocks) with seeded random weights, exported as the engine runs it."""
    import torch

    from realtime.training import checkpoint
    from realtime.training.transformer import TransformerNet
    from realtime.tools.export import export

    torch.manual_seed(0)
    net = TransformerNet(12, 4, "lite4")
    with torch.no_grad():  # distinct norms, as trained ones are (identical ones would be shared in the file)
        for p in net.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    ckpt = folder / "lite4-reference.ckpt"
    checkpoint.save(ckpt, net, None, 0, {"arch": "lite4", "width": 12, "blocks": 4})
    # NAME-lite: the webcam runs a file so named as a CPU network (two one-thread frames in flight)
    return export(ckpt, folder / "reference-lite.onnx").path


def run_once(style: str, clip: Path, size: str, frames: int, setting: str) -> dict[str, object]:
    """fps, latency and stage milliseconds of one run, and how busy other processes kept the cores meanwhile
    (a run beside another job's burst is slower for reasons of its own)."""
    extra, config = SETTINGS[setting]
    w, h = SIZES[size]
    argv = ["webcam", "--style", style, "--source", str(clip), "--width", str(w), "--height", str(h),
            "--no-display", "--device", "cpu", "--max-frames", str(frames), *extra]
    command = [sys.executable, __file__, "--child", json.dumps(config), "--", *argv]
    busy, mine, start = busy_seconds(), child_seconds(), time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - start
    others = max(0.0, (busy_seconds() - busy) - (child_seconds() - mine)) / (wall * (os.cpu_count() or 1))
    match = SUMMARY.search(done.stdout)
    if match is None:
        raise SystemExit(f"no summary line in: {done.stdout}\n{done.stderr}")
    line = done.stdout[match.start():].splitlines()[0]
    stages = {name: float(ms) for name, ms in STAGE.findall(line.split("; per frame ", 1)[-1])}
    return {"fps": float(match.group(3)), "latency_ms": float(match.group(4)), "stages_ms": stages,
            "others_cpu": round(others, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--style", default="mosaic-lite")
    parser.add_argument("--clip", type=Path, default=Path("../shared/data/video/office.mp4"))
    parser.add_argument("--frames", type=int, default=90, help="Frames per run (the first, slower ones included).")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--sizes", default=",".join(SIZES), help="Comma-separated: " + ", ".join(SIZES))
    parser.add_argument("--settings", default=",".join(SETTINGS), help="Comma-separated settings; the baseline is always run.")
    parser.add_argument("--json", type=Path, default=RESULTS / "live_cpu.json")
    parser.add_argument("--pause", type=int, metavar="PID", help="A process to stop during each run (a training job).")
    parser.add_argument("--wait-quiet", type=float, default=0.0, metavar="S",
                        help="Before each run, wait up to S seconds for other processes to leave the cores idle.")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args, rest = parser.parse_known_args()
    if args.child is not None:
        child(json.loads(args.child), [a for a in rest if a != "--"])
        return

    settings = [BASELINE] + [s for s in args.settings.split(",") if s and s != BASELINE]
    for s in settings:
        if s not in SETTINGS:
            raise SystemExit(f"--settings {s}: use {', '.join(SETTINGS)}")
    sizes = [s for s in args.sizes.split(",") if s]
    runs: dict[tuple[str, str], list[dict[str, object]]] = {(z, s): [] for z in sizes for s in settings}
    scratch = tempfile.TemporaryDirectory()
    reference = str(lite4_reference(Path(scratch.name))) if LITE4 in settings else None
    for _ in range(args.rounds):
        for size in sizes:
            for setting in settings:
                if args.pause:
                    os.kill(args.pause, signal.SIGSTOP)
                try:
                    wait_quiet(args.wait_quiet, args.pause)
                    style = reference if setting == LITE4 else args.style
                    runs[(size, setting)].append(run_once(style, args.clip, size, args.frames, setting))
                finally:
                    if args.pause:
                        os.kill(args.pause, signal.SIGCONT)

    cpu = cpu_model()
    rows = []
    for (size, setting), done in runs.items():
        fps = [r["fps"] for r in done]
        stages = {k: statistics.median(r["stages_ms"].get(k, 0.0) for r in done) for k in done[0]["stages_ms"]}
        rows.append({"size": size, "setting": setting, "fps": fps, "median_fps": statistics.median(fps),
                     "median_latency_ms": statistics.median(r["latency_ms"] for r in done), "stages_ms": stages,
                     "others_cpu": max(r["others_cpu"] for r in done)})
    base = {r["size"]: r["median_fps"] for r in rows if r["setting"] == BASELINE}
    print(f"realtime webcam --style {args.style}, {args.clip.name}, {args.frames} frames a run, "
          f"{args.rounds} interleaved rounds, {cpu}")
    names = list(rows[0]["stages_ms"])
    print(f"{'size':>8}  {'setting':<20} {'fps':>5} {'x base':>6} {'lat ms':>6} {'others':>6}  " + "  ".join(f"{n:>14}" for n in names))
    for r in rows:
        r["over_baseline"] = round(r["median_fps"] / base[r["size"]], 3)
        print(f"{r['size']:>8}  {r['setting']:<20} {r['median_fps']:>5.1f} {r['over_baseline']:>6.2f} "
              f"{r['median_latency_ms']:>6.0f} {r['others_cpu']:>6.0%}  " + "  ".join(f"{r['stages_ms'][n]:>14.1f}" for n in names))
    print("others: the most the other processes kept the cores busy in a run of that row (a valid trial: ~0 %)")
    print("stages: mean ms a frame in the thread that does it; frames in flight overlap, so they add to more than 1/fps")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"style": args.style, "clip": args.clip.name, "frames": args.frames,
                                     "rounds": args.rounds, "cpu": cpu, "rows": rows}, indent=2) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
