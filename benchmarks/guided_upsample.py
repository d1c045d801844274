"""Does guided upsampling keep the full-resolution look at a lower internal resolution?

For each photo (Kodak, cropped to the frame's aspect) and clip frame, at 640x480 and 1280x720, the CPU
network runs at full resolution (the reference) and at --scale S; the small result comes back to size by
bilinear resizing, by He & Sun's fast guided filter as published ("fgf") and by the engine's guided
upsampling (`guided_upsample` below). Each is set against the reference: PSNR, sharpness (mean grey gradient as a
fraction of the reference's) and, at 640x480 on the photos, the Gram style loss of
realtime.tools.evaluate.photo_losses (lower is closer to the painting). "ceiling" is the reference itself
shrunk to S and resized back bilinearly: what perfect small results would score, so the gap between it and
bilinear is the network's own change of look with size, which no upsampling can undo.

    python benchmarks/guided_upsample.py --sheet /tmp/guided_sheet.png

Prints a table and writes JSON (benchmarks/results/guided_upsample.json).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from realtime.engine.frames import Engine
from realtime.machine import cpu_model
from realtime.tools.evaluate import photo_losses, psnr

RADIUS = 2  # box radius on the statistics grid (half the internal resolution): benchmarks/guided_upsample.py
EPS = 1e-3  # regulariser on the grey variance (values 0..1): smaller follows the guide's edges harder
SUBSAMPLE = 2  # the gain is smooth: its statistics run on a grid this much coarser than the small result


def _mean(img: np.ndarray, radius: int) -> np.ndarray:
    k = 2 * radius + 1
    return cv2.boxFilter(img, -1, (k, k), borderType=cv2.BORDER_REFLECT)


def detail_gain(small_in: np.ndarray, small_out: np.ndarray, radius: int = RADIUS, eps: float = EPS) -> np.ndarray:
    """How strongly the result's grey follows the input's grey around each pixel (float32, at a grid
    SUBSAMPLE times coarser than the small images): the local linear fit's slope, box-averaged."""
    grids = []
    for img in (small_in, small_out):
        grey = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
        h, w = grey.shape
        if min(h, w) >= 8 * SUBSAMPLE:
            grey = cv2.resize(grey, (w // SUBSAMPLE, h // SUBSAMPLE), interpolation=cv2.INTER_AREA)
        grids.append(grey.astype(np.float32) * np.float32(1 / 255))
    g, y = grids
    mean_g, mean_y = _mean(g, radius), _mean(y, radius)
    a = (_mean(g * y, radius) - mean_g * mean_y) / (_mean(g * g, radius) - mean_g * mean_g + np.float32(eps))
    return _mean(a, radius)


def guided_upsample(frame: np.ndarray, small_in: np.ndarray, small_out: np.ndarray, radius: int = RADIUS,
                    eps: float = EPS) -> np.ndarray:
    """`small_out` (the network's result on `small_in`, a smaller copy of `frame`) at `frame`'s size, with
    the detail of `frame` that `small_in` lost added where the result follows the input; all BGR uint8."""
    h, w = frame.shape[:2]
    gain = cv2.resize(detail_gain(small_in, small_out, radius, eps), (w, h), interpolation=cv2.INTER_LINEAR)
    small_grey = cv2.resize(cv2.cvtColor(small_in, cv2.COLOR_BGR2GRAY), (w, h), interpolation=cv2.INTER_LINEAR)
    lost = cv2.subtract(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY), small_grey, dtype=cv2.CV_32F)
    detail = cv2.multiply(lost, gain, dtype=cv2.CV_16S)
    base = cv2.resize(small_out, (w, h), interpolation=cv2.INTER_LINEAR)
    return cv2.add(base, cv2.merge([detail, detail, detail]), dtype=cv2.CV_8U)  # saturates to 0..255

RESULTS = Path(__file__).resolve().parent / "results"
DATA = Path(__file__).resolve().parents[1] / "../shared/data"
PHOTOS = (1, 3, 5, 7, 13, 15, 19, 23)
SIZES = ((640, 480), (1280, 720))
Up = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def fit(img: np.ndarray, w: int, h: int) -> np.ndarray:
    """The centre crop of `img` at w:h, resized to w x h."""
    ih, iw = img.shape[:2]
    cw, ch = min(iw, ih * w // h), min(ih, iw * h // w)
    x, y = (iw - cw) // 2, (ih - ch) // 2
    crop = img[y:y + ch, x:x + cw]
    return cv2.resize(crop, (w, h), interpolation=cv2.INTER_AREA if cw >= w else cv2.INTER_CUBIC)


def sharpness(img: np.ndarray) -> float:
    grey = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY).astype(np.float32)
    return float(np.abs(cv2.Sobel(grey, cv2.CV_32F, 1, 0)).mean() + np.abs(cv2.Sobel(grey, cv2.CV_32F, 0, 1)).mean())


def fast_guided_filter(frame: np.ndarray, small_in: np.ndarray, small_out: np.ndarray, radius: int = RADIUS,
                       eps: float = EPS) -> np.ndarray:
    """He & Sun's fast guided filter as published (grey guide, each colour channel, box-averaged a and b
    at the small size, a * full grey + b): the form the engine does not use, for comparison."""
    h, w = frame.shape[:2]
    guide = cv2.cvtColor(small_in, cv2.COLOR_BGR2GRAY).astype(np.float32) / 255
    result = small_out.astype(np.float32) / 255
    mean_i = _mean(guide, radius)
    var_i = _mean(guide * guide, radius) - mean_i * mean_i
    mean_p = _mean(result, radius)
    cov_ip = _mean(result * guide[..., None], radius) - mean_p * mean_i[..., None]
    a = cov_ip / (var_i + np.float32(eps))[..., None]
    b = _mean(mean_p - a * mean_i[..., None], radius)
    a = cv2.resize(_mean(a, radius), (w, h))
    b = cv2.resize(b, (w, h))
    full = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY).astype(np.float32) / 255
    return np.clip((a * full[..., None] + b) * 255 + 0.5, 0, 255).astype(np.uint8)


def methods(radius: int, eps: float) -> dict[str, Up]:
    def bilinear(frame, small_in, small_out):
        return cv2.resize(small_out, frame.shape[1::-1], interpolation=cv2.INTER_LINEAR)

    return {"bilinear": bilinear,
            "fgf": lambda f, si, so: fast_guided_filter(f, si, so, radius, eps),
            "guided": lambda f, si, so: guided_upsample(f, si, so, radius, eps)}


def variants(engine: Engine, scales: list[float], ups: dict[str, Up]) -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    """name -> frame -> output, the reference ("full") first."""
    def small(frame: np.ndarray, s: float) -> np.ndarray:
        h, w = frame.shape[:2]
        return cv2.resize(frame, (max(4, round(w * s)), max(4, round(h * s))), interpolation=cv2.INTER_AREA)

    def run(s: float, up: Up) -> Callable[[np.ndarray], np.ndarray]:
        def go(frame: np.ndarray) -> np.ndarray:
            src = small(frame, s)
            return up(frame, src, engine.stylise(src))
        return go

    def ceiling(s: float) -> Callable[[np.ndarray], np.ndarray]:
        return lambda frame: cv2.resize(small(engine.stylise(frame), s), frame.shape[1::-1], interpolation=cv2.INTER_LINEAR)

    out: dict[str, Callable[[np.ndarray], np.ndarray]] = {"full": engine.stylise}
    for s in scales:
        out[f"{s} ceiling"] = ceiling(s)
        for name, up in ups.items():
            out[f"{s} {name}"] = run(s, up)
    return out


def clip_frames(path: Path, count: int) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) or 300
    frames = []
    for k in range(count):
        cap.set(cv2.CAP_PROP_POS_FRAMES, (k + 1) * total // (count + 1))
        ok, frame = cap.read()
        if ok:
            frames.append(frame)
    return frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--style", default="mosaic")
    parser.add_argument("--scales", default="0.5,0.7")
    parser.add_argument("--radius", type=int, default=RADIUS)
    parser.add_argument("--eps", type=float, default=EPS)
    parser.add_argument("--clip", type=Path, default=DATA / "video/office.mp4")
    parser.add_argument("--clip-frames", type=int, default=4)
    parser.add_argument("--no-style-loss", action="store_true", help="Skip the VGG style loss (minutes on a CPU).")
    parser.add_argument("--sheet", type=Path, help="Write a contact sheet of 1:1 crops (PNG) here.")
    parser.add_argument("--json", type=Path, default=RESULTS / "guided_upsample.json")
    args = parser.parse_args()

    model = Path(__file__).resolve().parents[1] / f"models/{args.style}-lite.onnx"
    engine = Engine(model, device="cpu")
    scales = [float(s) for s in args.scales.split(",")]
    runs = variants(engine, scales, methods(args.radius, args.eps))
    photos = [cv2.imread(str(DATA / f"eval/kodak24_kodim{n:02d}.jpg")) for n in PHOTOS]
    clips = clip_frames(args.clip, args.clip_frames)
    rows: list[dict[str, object]] = []
    crops: list[list[np.ndarray]] = []
    for w, h in SIZES:
        for source, frames in (("kodak", photos), (args.clip.stem, clips)):
            scores: dict[str, list[tuple[float, float]]] = {name: [] for name in runs}
            for i, img in enumerate(frames):
                frame = fit(img, w, h)
                outs = {name: fn(frame) for name, fn in runs.items()}
                ref = outs["full"]
                for name, out in outs.items():
                    scores[name].append((psnr(ref, out) if name != "full" else float("inf"), sharpness(out) / sharpness(ref)))
                if args.sheet and (w, h) == SIZES[0] and i == 0:
                    y, x = h // 4, w // 4
                    crops.append([frame[y:y + h // 2, x:x + w // 2]] + [o[y:y + h // 2, x:x + w // 2] for o in outs.values()])
            for name, vals in scores.items():
                rows.append({"size": f"{w}x{h}", "source": source, "frames": len(frames), "setting": name,
                             "psnr_db": round(float(np.mean([v[0] for v in vals])), 2),
                             "sharpness": round(float(np.mean([v[1] for v in vals])), 3)})
    losses: dict[str, dict[str, float]] = {}
    if not args.no_style_loss:
        paths = [DATA / f"eval/kodak24_kodim{n:02d}.jpg" for n in PHOTOS]
        style = cv2.imread(str(DATA / f"styles/{args.style}.jpg"))
        losses, _ = photo_losses(dict(runs), paths, style, SIZES[0][0])
    for row in rows:
        if row["size"] == "640x480" and row["source"] == "kodak" and row["setting"] in losses:
            row["style_loss"] = round(losses[row["setting"]]["style"], 4)
    cpu = cpu_model()
    print(f"{args.style}-lite, against its own output at full resolution; guided radius {args.radius}, eps {args.eps}; {cpu}")
    print(f"{'size':>9} {'source':<7} {'setting':<14} {'PSNR dB':>8} {'sharp':>6} {'style':>8}")
    for r in rows:
        style_loss = f"{r['style_loss']:>8.4f}" if "style_loss" in r else f"{'':>8}"
        print(f"{r['size']:>9} {r['source']:<7} {r['setting']:<14} {r['psnr_db']:>8.2f} {r['sharpness']:>6.2f} {style_loss}")
    if losses:
        print(f"style loss of the photos themselves: {losses['photo']['style']:.4f} (Kodak, long side 640)")
    print("sharp: mean grey gradient over the full-resolution output's")
    if args.sheet and crops:
        from realtime.tools.evaluate import contact_sheet

        cv2.imwrite(str(args.sheet), contact_sheet(crops, ["photo", *runs], cell=320))
        print(f"wrote {args.sheet}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"style": f"{args.style}-lite", "radius": args.radius, "eps": args.eps, "cpu": cpu,
                                     "photos": [f"kodim{n:02d}" for n in PHOTOS], "clip": args.clip.name,
                                     "rows": rows, "style_loss_photo": losses.get("photo", {}).get("style"),
                                     "date": time.strftime("%Y-%m-%d")}, indent=2) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
