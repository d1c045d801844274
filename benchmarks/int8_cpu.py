"""fp32 against its static int8 copy (`realtime export --int8`) on this CPU: fps per frame size, PSNR, VGG losses.

For each fp32 network given (full or CPU network), quantises it with `realtime.tools.quantize` (calibrated on
the shipped sample clip, as `realtime export --int8` does), then:
  - fps of whole frames (BGR in, BGR out, the engine's path) at each of --sizes, fp32 and int8 timed in
    alternating rounds so that load from other work on the machine hits both alike (the load average is
    recorded too);
  - PSNR of the int8 output against the fp32 output on the evaluation photos (long side 640) and on
    frames of the shared clips;
  - the mean VGG style and content losses (realtime.tools.evaluate.photo_losses) on the evaluation photos,
    against the network's own style image (LABEL without -lite, else --style);
  - side-by-side JPEGs (fp32 | int8, one row per network) of the centre of two photos at full resolution,
    named after --out.

    python benchmarks/int8_cpu.py --shared ../shared --model mosaic=models/mosaic.onnx \
        --sizes 640x480 --out benchmarks/results/int8_cpu.json
    python benchmarks/int8_cpu.py --shared ../shared --model mosaic-lite=models/mosaic-lite.onnx \
        --model candy-lite=models/candy-lite.onnx --rounds 10 --per-round 5 \
        --note "2-core Intel Xeon with AVX-512 VNNI and AMX" --out benchmarks/results/int8_lite_xeon_amx.json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from realtime.machine import cpu_flags
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


@contextlib.contextmanager
def paused(pid: int, quiet_s: float = 0.0):
    """SIGSTOP `pid` for the block (0: nothing), SIGCONT it after, whatever happens; first wait up to
    `quiet_s` for the other processes to leave the cores idle (live_cpu.wait_quiet)."""
    from live_cpu import wait_quiet  # beside this script

    if pid:
        os.kill(pid, signal.SIGSTOP)
    try:
        wait_quiet(quiet_s, pid or None)
        yield
    finally:
        if pid:
            os.kill(pid, signal.SIGCONT)


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
    parser.add_argument("--style", default="mosaic", help="Style image (in shared/data/styles) for the losses of a "
                        "network whose label (less -lite) names none.")
    parser.add_argument("--sizes", default="640x480,1280x720", help="Frame sizes to time, WIDTHxHEIGHT, comma-separated.")
    parser.add_argument("--note", default="", help="What the machine is (CPU, instruction sets, load), for the report.")
    parser.add_argument("--pause", type=int, default=0, metavar="PID",
                        help="Stop this process (a training run sharing the machine) while the rounds are timed, "
                        "and continue it after each network's rounds.")
    parser.add_argument("--threads", type=int, default=0,
                        help="Intra-op threads per session (0: onnxruntime's choice; 1: as each of the webcam's frames in flight).")
    parser.add_argument("--wait-quiet", type=float, default=0.0, metavar="S",
                        help="Before each network's rounds, wait up to S seconds for other processes to leave the cores idle.")
    parser.add_argument("--loss-size", type=int, default=256, help="Long side for the VGG losses (as `realtime evaluate`).")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--per-round", type=int, default=2)
    parser.add_argument("--work", type=Path, default=Path("/tmp/realtime-int8"), help="Where the int8 files go.")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    models = dict(m.split("=", 1) for m in (args.model or ["mosaic=models/mosaic.onnx"]))
    sizes = [(int(h), int(w)) for w, h in (s.split("x") for s in args.sizes.split(","))]
    args.work.mkdir(parents=True, exist_ok=True)
    results_dir = args.out.parent
    photos = sorted((args.shared / "data" / "eval").glob("*.jpg"))
    styles_dir = args.shared / "data" / "styles"

    def style_of(label: str) -> str:
        own = label.removesuffix("-lite")
        return own if (styles_dir / f"{own}.jpg").is_file() else args.style

    clips = clip_frames(args.shared, 4)
    compare: dict[str, list[np.ndarray]] = {name: [] for name in COMPARE_PHOTOS}
    machine = bench.machine()
    flags = set(cpu_flags())
    machine["int8_flags"] = sorted(flags & {"avx512_vnni", "avx_vnni", "amx_int8"})
    if args.note:
        machine["description"] = args.note
    report: dict[str, object] = {
        "command": "python " + " ".join(sys.argv),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": machine,
        "frame": f"{', '.join(f'{w}x{h}' for h, w in sizes)} BGR uint8 in and out (engine path), CPU provider",
        "threads": args.threads or "onnxruntime's choice",
        "loss_photos": len(photos), "loss_size": args.loss_size,
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
        threads = args.threads or None
        engines = {"fp32": Engine(fp32_path, device="cpu", threads=threads),
                   "int8": Engine(int8_file, device="cpu", threads=threads)}
        with paused(args.pause, args.wait_quiet):
            load_before = os.getloadavg()
            speed = {f"{w}x{h}": interleaved_fps(engines, (h, w), args.rounds, args.per_round) for h, w in sizes}
            load_after = os.getloadavg()
        photo_psnr = []
        for path in photos:
            bgr = images.resize_long_side(images.read_bgr(path), 640)
            a, b = engines["fp32"](bgr), engines["int8"](bgr)
            photo_psnr.append(psnr(a, b))
            if path.name in compare:
                compare[path.name] += compare_cells(label, a, b, photo_psnr[-1])
        clip_psnr = [psnr(engines["fp32"](f), engines["int8"](f)) for f in clips]
        style_bgr = images.read_bgr(styles_dir / f"{style_of(label)}.jpg")
        losses, _ = photo_losses(engines, photos, style_bgr, args.loss_size)
        entry = {
            "fp32_file": str(fp32_path), "int8_file": str(int8_file),
            "width": engines["fp32"].info.metadata.get("realtime.width"),
            "size_mb": {"fp32": round(fp32_path.stat().st_size / 1e6, 2), "int8": round(int8_file.stat().st_size / 1e6, 2)},
            "quantise_seconds": round(quantise_s, 1), "quantised_convs": f"{q.quantised_convs}/{q.convs}",
            "calibration": f"{q.calibration_frames} frames of {q.calibration}",
            "speed": speed, "load_average_before_after": [round(load_before[0], 2), round(load_after[0], 2)],
            "speedup_median": {k: round(s["fp32"]["ms_median"] / s["int8"]["ms_median"], 2) for k, s in speed.items()},
            "speedup_best": {k: round(s["fp32"]["ms_best"] / s["int8"]["ms_best"], 2) for k, s in speed.items()},
            "style_image": f"{style_of(label)}.jpg",
            "psnr_db": {"check_frames_of_calibration_clip": [round(p, 2) for p in q.psnr_db],
                        "photos_mean": round(float(np.mean(photo_psnr)), 2), "photos_min": round(min(photo_psnr), 2),
                        "clips_mean": round(float(np.mean(clip_psnr)), 2) if clip_psnr else None,
                        "clips_min": round(min(clip_psnr), 2) if clip_psnr else None},
            "losses": {k: {m: round(v, 2) for m, v in vals.items()} for k, vals in losses.items()},
        }
        report["models"][label] = entry  # type: ignore[index]
        rows.append((label, entry))
        for key, s in speed.items():
            print(f"{label} {key}: fp32 {s['fp32']['fps_median']} fps, int8 {s['int8']['fps_median']} fps "
                  f"(x{entry['speedup_median'][key]}; load {load_before[0]:.1f}->{load_after[0]:.1f})", flush=True)

    for name, cells in compare.items():
        if cells:
            grid = np.vstack([np.hstack(cells[i:i + 2]) for i in range(0, len(cells), 2)])
            images.write_bgr(results_dir / f"{args.out.stem}_{Path(name).stem}.jpg", grid)
    print(f"\n{'network':<18} {'size':>9} {'fp32 fps':>9} {'int8 fps':>9} {'speedup':>8} {'PSNR photos':>12} "
          f"{'PSNR clips':>11} {'style fp32':>11} {'style int8':>11} {'content fp32':>13} {'content int8':>13}")
    for label, e in rows:
        p, l = e["psnr_db"], e["losses"]
        for key, s in e["speed"].items():
            print(f"{label:<18} {key:>9} {s['fp32']['fps_median']:>9.2f} {s['int8']['fps_median']:>9.2f} "
                  f"{e['speedup_median'][key]:>7.2f}x {p['photos_mean']:>9.1f} dB {p['clips_mean'] or float('nan'):>8.1f} dB "
                  f"{l['fp32']['style']:>11.1f} {l['int8']['style']:>11.1f} {l['fp32']['content']:>13.1f} "
                  f"{l['int8']['content']:>13.1f}")
        print(f"{'':<18} (photos themselves: style {l['photo']['style']:.1f})")
    args.out.write_text(json.dumps(report, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
