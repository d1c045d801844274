"""Colour kept and shading kept on unseen photos: each anchored style, its CPU copy and the anchor.

The one gap the sheets show that neither the style loss nor colourfulness measures is an object's own
colour lost (a red door turned slate blue).

    python benchmarks/colour_kept.py --shared ../shared [--size 512] [--extra udnie=run/udnie.onnx]

For each of the six styles that have an anchor: `models/NAME.onnx`, `models/NAME-lite.onnx` and the anchor
stylise all 24 unseen Kodak photos at --size (long side); the figure is `realtime.tools.evaluate.colour_kept`
(1: every 16-px cell keeps the photo's hue and chroma; 0: grey or unrelated hues), with
`realtime.tools.evaluate.shading_kept` (the correlation of 16-px cells' lightness with the photo's) and
colourfulness beside it. No VGG, so it takes about a minute. Prints a table and writes results/colour_kept.json.
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

import numpy as np
import onnxruntime as ort

from gallery import ANCHORS, REPO  # benchmarks/ is on the path when this script runs
from realtime.tools import evaluate as ev
from realtime.media import images
from realtime.engine import Engine


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", type=Path, required=True)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--extra", action="append", default=[], metavar="STYLE=MODEL.onnx",
                    help="also judge a candidate network for STYLE (repeatable)")
    ap.add_argument("-o", "--out", type=Path, default=REPO / "benchmarks" / "results" / "colour_kept.json")
    args = ap.parse_args()
    photos = [images.resize_long_side(images.read_bgr(p), args.size)
              for p in sorted((args.shared / "data" / "eval").glob("*.jpg"))]
    extras: dict[str, list[tuple[str, Path]]] = {}
    for item in args.extra:
        style, _, path = item.partition("=")
        extras.setdefault(style, []).append((Path(path).stem, Path(path)))
    rows = {}
    print(f"{'style':<12} {'network':<34} {'colour kept':>12} {'shading kept':>13} {'colourful':>10}")
    for style, anchor in ANCHORS.items():
        nets = [("ours", REPO / "models" / f"{style}.onnx"), ("ours-lite", REPO / "models" / f"{style}-lite.onnx"),
                *extras.get(style, []), ("anchor " + anchor.removesuffix(".onnx"), args.shared / "anchors" / anchor)]
        rows[style] = {}
        for label, path in nets:
            engine = Engine(path, device="cpu")
            outs = [engine(p) for p in photos]
            kept = float(np.mean([ev.colour_kept(p, o) for p, o in zip(photos, outs)]))
            shading = float(np.mean([ev.shading_kept(p, o) for p, o in zip(photos, outs)]))
            colourful = float(np.mean([ev.colourfulness(o) for o in outs]))
            rows[style][label] = {"colour_kept": kept, "shading_kept": shading, "colourfulness": colourful,
                                  "model": path.name}
            print(f"{style:<12} {label:<34} {kept:>12.3f} {shading:>13.3f} {colourful:>10.1f}", flush=True)
    result = {"photos": f"{len(photos)} Kodak photos (shared/data/eval) at {args.size} px", "figures": rows,
              "cpu": platform.processor() or platform.machine(), "onnxruntime": ort.__version__}
    args.out.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
