"""fp32 against its static int8 copy (`realtime export --int8`) on this CPU: fps at 640x480, PSNR, VGG losses.

For each fp32 network given, quantises it with `realtime.tools.quantize` (calibrated on the shipped sample clip,
as `realtime export --int8` does), then:
  - fps of whole frames (BGR in, BGR out, the engine's path) at 640x480, fp32 and int8 timed in
    alternating rounds so that load from other work on the machine hits both alike (the load average is
    recorded too);
  - PSNR of the int8 output against the fp32 output on the evaluation photos (long side 640) and on
    frames of the shared clips;
  - the mean VGG style and content losses (realtime.tools.evaluate.photo_losses) on the evaluation photos;
  - side-by-side JPEGs (fp32 | int8, one row per network) of the centre of two photos at full resolution.

    python benchmarks/int8_cpu.py --shared ../shared --model mosaic=models/mosaic.onnx \
        --out benchmarks/results/int8_cpu.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from realtime.tools import bench
from realtime.media import images
from realtime.engine import Engine
from realtime.tools.evaluate import photo_losses, read_frames
from realtime.tools.quantize import psnr, quantize

COMPARE_PHOTOS = ("kodak24_kodim05.jpg", "kodak24_kodim23.jpg")
CLIPS = ("fox.mp4", "traffic.mp4", "office.mp4")


def interleaved_fps(engines: dict[str, Engine], size: tuple[int, int], rounds: int, per_round: int) -> dict[str, dict]:
    """Median and best ms per frame for each engine, timed in alternating rounds on one random frame."""
    h, w = size
    frame = np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)
    times: dict[str, list[float]] = {name: [] for name in engines}
    for engine in engines.values():
        engine(frame)  # warm-up
    for _ in range(rounds):
        for name, engine in engines.items():
            for _ in range(per_round):
                t0 = time.perf_counter()
                engine(frame)
                times[name].append(time.perf_counter() - t0)
    out = {}
    for name, ts in times.items():
        med = statistics.median(ts)
        out[name] = {"ms_median": round(med * 1000, 1), "ms_best": round(min(ts) * 1000, 1),
                     "fps_median": round(1 / med, 2), "fps_best": round(1 / min(ts), 2), "frames": len(ts)}
    return out


def clip_frames(shared: Path, per_clip: int) -> list[np.ndarray]:
    frames = []
    for clip in CLIPS:
        path = shared / "data" / "video" / clip
        if path.is_file():
            decoded = list(read_frames(path, max_frames=120, long_side=640))
            frames += [decoded[i] for i in np.linspace(0, len(decoded) - 1, per_clip).round().astype(int)]
    return frames


def compare_cells(label: str, fp32: np.ndarray, int8: np.ndarray, score: float) -> list[np.ndarray]:
    """The central 400x300 of both outputs at full resolution: int8 noise hides in a downscaled whole."""
    h, w = fp32.shape[:2]
    y, x = max(0, (h - 300) // 2), max(0, (w - 400) // 2)
    return [labelled(fp32[y:y + 300, x:x + 400], f"{label} fp32"),
            labelled(int8[y:y + 300, x:x + 400], f"{label} int8 ({score:.1f} dB)")]


def labelled(img: np.ndarray, text: str) -> np.ndarray:
    img = img.copy()
    cv2.putText(img, text, (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(img, text, (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (255, 255, 255), 1, cv2.LINE_AA)
    return img


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, required=True, help="The shared data folder (eval photos, styles, clips).")
    parser.add_argument("--model", action="append", default=[], metavar="LABEL=FP32.onnx",
                        help="A network to compare (repeat); default: mosaic=models/mosaic.onnx.")
    parser.add_argument("--style", default="mosaic", help="Style image (in shared/data/styles) for the losses.")
    parser.add_argument("--loss-size", type=int, default=256, help="Long side for the VGG losses (as `realtime evaluate`).")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--per-round", type=int, default=2)
    parser.add_argument("--work", type=Path, default=Path("/tmp/realtime-int8"), help="Where the int8 files go.")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    models = dict(m.split("=", 1) for m in (args.model or ["mosaic=models/mosaic.onnx"]))
    args.work.mkdir(parents=True, exist_ok=True)
    results_dir = args.out.parent
    photos = sorted((args.shared / "data" / "eval").glob("*.jpg"))
    style_bgr = images.read_bgr(args.shared / "data" / "styles" / f"{args.style}.jpg")
    clips = clip_frames(args.shared, 4)
    compare: dict[str, list[np.ndarray]] = {name: [] for name in COMPARE_PHOTOS}
    report: dict[str, object] = {
        "command": "python " + " ".join(sys.argv),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": bench.machine(),
        "frame": "640x480 BGR uint8 in and out (engine path), CPU provider",
        "loss_photos": len(photos), "loss_size": args.loss_size, "style_image": f"{args.style}.jpg",
        "psnr_clips": [c for c in CLIPS if (args.shared / "data" / "video" / c).is_file()],
        "models": {},
    }
    rows = []
    for label, fp32_path in models.items():
        fp32_path = Path(fp32_path)
        int8_file = args.work / f"{fp32_path.stem}.int8.onnx"
        t0 = time.time()
        q = quantize(fp32_path, int8_file)
        quantise_s = time.time() - t0
        engines = {"fp32": Engine(fp32_path, device="cpu"), "int8": Engine(int8_file, device="cpu")}
        load_before = os.getloadavg()
        speed = interleaved_fps(engines, (480, 640), args.rounds, args.per_round)
        load_after = os.getloadavg()
        photo_psnr = []
        for path in photos:
            bgr = images.resize_long_side(images.read_bgr(path), 640)
            a, b = engines["fp32"](bgr), engines["int8"](bgr)
            photo_psnr.append(psnr(a, b))
            if path.name in compare:
                compare[path.name] += compare_cells(label, a, b, photo_psnr[-1])
        clip_psnr = [psnr(engines["fp32"](f), engines["int8"](f)) for f in clips]
        losses, _ = photo_losses(engines, photos, style_bgr, args.loss_size)
        entry = {
            "fp32_file": str(fp32_path), "int8_file": str(int8_file),
            "width": engines["fp32"].info.metadata.get("realtime.width"),
            "size_mb": {"fp32": round(fp32_path.stat().st_size / 1e6, 2), "int8": round(int8_file.stat().st_size / 1e6, 2)},
            "quantise_seconds": round(quantise_s, 1), "quantised_convs": f"{q.quantised_convs}/{q.convs}",
            "calibration": f"{q.calibration_frames} frames of {q.calibration}",
            "speed_640x480": speed, "load_average_before_after": [round(load_before[0], 2), round(load_after[0], 2)],
            "speedup_median": round(speed["fp32"]["ms_median"] / speed["int8"]["ms_median"], 2),
            "speedup_best": round(speed["fp32"]["ms_best"] / speed["int8"]["ms_best"], 2),
            "psnr_db": {"check_frames_of_calibration_clip": [round(p, 2) for p in q.psnr_db],
                        "photos_mean": round(float(np.mean(photo_psnr)), 2), "photos_min": round(min(photo_psnr), 2),
                        "clips_mean": round(float(np.mean(clip_psnr)), 2) if clip_psnr else None,
                        "clips_min": round(min(clip_psnr), 2) if clip_psnr else None},
            "losses": {k: {m: round(v, 2) for m, v in vals.items()} for k, vals in losses.items()},
        }
        report["models"][label] = entry  # type: ignore[index]
        rows.append((label, entry))
        print(f"{label}: fp32 {speed['fp32']['fps_median']} fps, int8 {speed['int8']['fps_median']} fps "
              f"(x{entry['speedup_median']}; load {load_before[0]:.1f}->{load_after[0]:.1f})", flush=True)

    for name, cells in compare.items():
        if cells:
            grid = np.vstack([np.hstack(cells[i:i + 2]) for i in range(0, len(cells), 2)])
            images.write_bgr(results_dir / f"int8_compare_{Path(name).stem}.jpg", grid)
    print(f"\n{'network':<10} {'fp32 fps':>9} {'int8 fps':>9} {'speedup':>8} {'PSNR photos':>12} {'PSNR clips':>11} "
          f"{'style fp32':>11} {'style int8':>11} {'content fp32':>13} {'content int8':>13}")
    for label, e in rows:
        s, p, l = e["speed_640x480"], e["psnr_db"], e["losses"]
        print(f"{label:<10} {s['fp32']['fps_median']:>9.2f} {s['int8']['fps_median']:>9.2f} {e['speedup_median']:>7.2f}x "
              f"{p['photos_mean']:>9.1f} dB {p['clips_mean'] or float('nan'):>8.1f} dB {l['fp32']['style']:>11.1f} "
              f"{l['int8']['style']:>11.1f} {l['fp32']['content']:>13.1f} {l['int8']['content']:>13.1f}")
    print(f"(photos themselves: style {report['models'][rows[0][0]]['losses']['photo']['style']:.1f})")  # type: ignore[index]
    args.out.write_text(json.dumps(report, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
