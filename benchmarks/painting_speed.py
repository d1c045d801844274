"""What a painting costs: the arbitrary-style engine against a CPU network, per frame, on this CPU.

Times whole engine calls (BGR uint8 frame in and out, as the commands run them) on frames of the bundled
clip, alternating the two engines frame by frame so that a neighbour's load on shared cores hits both alike;
the median and the best of the runs per engine, at each size, with one onnxruntime thread and with
onnxruntime's own count, plus the webcam's painting default (--scale 0.5 at 640x480).

    python benchmarks/painting_speed.py --painting tests/data/starry_night.jpg --against mosaic-lite --runs 9

Pause any training first (`kill -STOP`): the cores are shared. Prints a table and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import cv2
import numpy as np

from realtime.engine.build import EngineOptions, Runtime
from realtime.machine import cpu_model
from realtime.samples import BUNNY

RESULTS = Path(__file__).resolve().parent / "results"
SIZES = ((640, 480, 1.0), (1280, 720, 1.0), (640, 480, 0.5))


def frames(size: tuple[int, int], n: int = 4) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(BUNNY))
    out = []
    while len(out) < n:
        ok, frame = cap.read()
        if not ok:
            break
        out.append(cv2.resize(frame, size, interpolation=cv2.INTER_AREA))
    cap.release()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--painting", default="tests/data/starry_night.jpg")
    parser.add_argument("--against", default="models/mosaic-lite.onnx", help="a style name or .onnx file")
    parser.add_argument("--runs", type=int, default=9, help="timed calls per engine and size")
    args = parser.parse_args()
    rows = []
    for threads in (1, None):
        runtime = Runtime(EngineOptions(device="cpu", threads=threads))
        for w, h, scale in SIZES:
            painting = runtime.engine(args.painting, scale=scale, quiet=True)
            other = runtime.engine(Path(args.against) if args.against.endswith(".onnx") else args.against,
                                   scale=scale, quiet=True)
            clip = frames((w, h))
            painting(clip[0]), other(clip[0])
            times: dict[str, list[float]] = {"painting": [], "other": []}
            for k in range(args.runs):
                frame = clip[k % len(clip)]
                for name, engine in (("painting", painting), ("other", other)):
                    start = time.perf_counter()
                    engine(frame)
                    times[name].append(1000 * (time.perf_counter() - start))
            row = {"threads": threads or "default", "size": f"{w}x{h}", "scale": scale,
                   **{f"{n}_ms_median": float(np.median(t)) for n, t in times.items()},
                   **{f"{n}_ms_best": float(np.min(t)) for n, t in times.items()}}
            row["ratio_median"] = row["painting_ms_median"] / row["other_ms_median"]
            rows.append(row)
            print(f"threads {row['threads']!s:>7} {row['size']:>9} scale {scale:<4g} painting "
                  f"{row['painting_ms_median']:6.0f} ms (best {row['painting_ms_best']:4.0f})  {Path(args.against).stem} "
                  f"{row['other_ms_median']:6.0f} ms (best {row['other_ms_best']:4.0f})  x{row['ratio_median']:.2f}")
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "painting_speed.json"
    out.write_text(json.dumps({"cpu": cpu_model(), "painting": args.painting, "against": args.against, "rows": rows},
                              indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
