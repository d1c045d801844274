"""Peak memory of `realtime image` (4K, 8K stills) and `realtime video` (4K clip), tiled against whole.

Stills run with `--tile auto` and `--tile off`; the tiled result's PSNR against the whole one is recorded.

Each run is a fresh `realtime` process; its peak resident set size comes from wait4's rusage, so the
figure includes Python, onnxruntime, the decoded image and everything else a user's run holds.

    python benchmarks/tiling_memory.py --shared ../shared --out benchmarks/results/tiling_memory.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

STILLS = {"4K": (3840, 2160), "8K": (7680, 4320)}


def run(args: list[str]) -> tuple[float, float]:
    """Peak RSS in GB and wall seconds of one `realtime` process."""
    start = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "realtime", *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    stderr = proc.stderr.read().decode() if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"realtime {' '.join(args)} failed:\n{stderr}")
    return usage.ru_maxrss / 1024 ** 2, time.monotonic() - start  # ru_maxrss is in KiB on Linux


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(((a.astype(np.float64) - b) ** 2).mean())
    return 99.0 if mse == 0 else 10 * np.log10(255 ** 2 / mse)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path, required=True)
    ap.add_argument("--style", default="mosaic")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/tiling_memory.json"))
    ap.add_argument("--whole", default="4K,8K", help="sizes also run with --tile off (8K whole needs about 15 GB)")
    args = ap.parse_args()
    photo = cv2.imread(str(args.shared / "data" / "eval" / "kodak24_kodim23.jpg"))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for label, (w, h) in STILLS.items():
            src = work / f"{label}.png"
            cv2.imwrite(str(src), cv2.resize(photo, (w, h), interpolation=cv2.INTER_CUBIC))
            outs = {}
            for tile in ["auto"] + (["off"] if label in args.whole.split(",") else []):
                outs[tile] = work / f"{label}-{tile}.png"
                gb, secs = run(["image", str(src), "-o", str(outs[tile]), "--style", args.style, "--device", "cpu", "--tile", tile])
                rows.append({"input": f"{label} still {w}x{h}", "command": "image", "tile": tile, "peak_rss_gb": round(gb, 2),
                             "seconds": round(secs, 1)})
                print(f"{label:>3} still  --tile {tile:<4}  peak RSS {gb:5.2f} GB  {secs:6.1f} s", flush=True)
            if "off" in outs:
                rows[-2]["psnr_vs_whole_db"] = round(psnr(cv2.imread(str(outs["auto"])), cv2.imread(str(outs["off"]))), 2)
                print(f"    tiled vs whole: {rows[-2]['psnr_vs_whole_db']} dB", flush=True)
        clip = work / "4k.mp4"
        cap = cv2.VideoCapture(str(args.shared / "data" / "video" / "office.mp4"))
        writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"mp4v"), 25, STILLS["4K"])
        for _ in range(12):
            ok, frame = cap.read()
            if not ok:
                break
            writer.write(cv2.resize(frame, STILLS["4K"], interpolation=cv2.INTER_CUBIC))
        writer.release()
        gb, secs = run(["video", str(clip), "-o", str(work / "4k-out.mp4"), "--style", args.style, "--device", "cpu"])
        rows.append({"input": "4K video, 12 frames", "command": "video", "tile": "auto", "peak_rss_gb": round(gb, 2), "seconds": round(secs, 1)})
        print(f" 4K video  --tile auto  peak RSS {gb:5.2f} GB  {secs:6.1f} s", flush=True)
    from realtime.training.precision import cpu_model

    result = {"machine": {"cpu": cpu_model(), "cores": os.cpu_count(),
                          "load_average_at_end": os.getloadavg()}, "style": args.style, "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
