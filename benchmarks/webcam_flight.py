"""`realtime webcam` end to end on the CPU at 640x480: fps and latency with one frame in flight and with two.

Runs the command a user runs, `realtime webcam --source CLIP --width 640 --height 480 --no-display`,
`--runs` times per setting (`--in-flight 1` and `2`; the CPU networks' default is 2 on a multi-core
CPU), and reads the fps from its summary line. The summary counts the whole run from the first frame,
so the network's first (slower) frame is included, as a user would see it, and the mean milliseconds
from taking a frame to its result (what a second frame in flight costs).

    python benchmarks/webcam_flight.py --style mosaic --clip ../shared/data/video/office.mp4

Pause any training first (`kill -STOP`): the cores are shared. Prints a table and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
from pathlib import Path

from realtime.training.precision import cpu_model

RESULTS = Path(__file__).resolve().parent / "results"
SUMMARY = re.compile(r"webcam: (\d+) frames in ([\d.]+) s, ([\d.]+) fps mean, (\d+) ms a frame")


def run_once(style: str, clip: Path, flight: int, net: str) -> tuple[float, float]:
    """(fps, milliseconds from taking a frame to its result) of one run."""
    command = [sys.executable, "-m", "realtime", "webcam", "--style", style, "--source", str(clip),
               "--width", "640", "--height", "480", "--no-display", "--device", "cpu", "--net", net,
               "--in-flight", str(flight)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    match = SUMMARY.search(done.stdout)
    if match is None:
        raise SystemExit(f"no summary line in: {done.stdout}\n{done.stderr}")
    return float(match.group(3)), float(match.group(4))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--style", default="mosaic")
    parser.add_argument("--net", default="lite", choices=["lite", "full"])
    parser.add_argument("--clip", type=Path, default=Path("../shared/data/video/office.mp4"))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", type=Path, default=RESULTS / "webcam_flight_cpu.json")
    args = parser.parse_args()

    rows = []
    for flight in (1, 2):
        runs = [run_once(args.style, args.clip, flight, args.net) for _ in range(args.runs)]
        fps, latency = [r[0] for r in runs], [r[1] for r in runs]
        rows.append({"in_flight": flight, "fps": fps, "median_fps": statistics.median(fps),
                     "latency_ms": latency, "median_latency_ms": statistics.median(latency)})
    print(f"realtime webcam, {args.style} --net {args.net}, {args.clip.name} at 640x480, {cpu_model()}")
    print(f"{'in flight':>9}  {'median fps':>10}  {'latency ms':>10}  fps of each run")
    for row in rows:
        print(f"{row['in_flight']:>9}  {row['median_fps']:>10.1f}  {row['median_latency_ms']:>10.0f}  "
              f"{', '.join(f'{f:.1f}' for f in row['fps'])}")
    ratio = rows[1]["median_fps"] / rows[0]["median_fps"]
    print(f"two in flight / one: {ratio:.2f}x")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"style": args.style, "net": args.net, "clip": args.clip.name,
                                     "size": "640x480", "cpu": cpu_model(), "rows": rows,
                                     "ratio": ratio}, indent=2) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
