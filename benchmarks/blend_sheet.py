"""A halfway blend beside a 50/50 cross-fade of the two styles' pictures, on photos the network never saw.

For each pair of styles: style A, the blend A:0.5,B:0.5 run inside the multi-style network, the RGB
cross-fade of A's and B's outputs, and style B, one row per photo. A blend should show both styles'
strokes and palettes as one picture; a cross-fade is a double exposure. Also prints, per pair, how far
(PSNR) the blend is from the cross-fade and from each end.

    python benchmarks/blend_sheet.py --network models/gallery.onnx --pairs mosaic:udnie,candy:the_scream
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np

from realtime.engine.frames import Engine
from realtime.machine import cpu_model
from realtime.media import images
from realtime.tools.gallery import labelled_tile

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
EVAL = ROOT.parent / "shared" / "data" / "eval"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--network", default=str(ROOT / "models" / "gallery.onnx"))
    p.add_argument("--pairs", default="mosaic:udnie,candy:the_scream,starry_night:pencil")
    p.add_argument("--photos", default="kodim05,kodim14,kodim23")
    p.add_argument("--size", type=int, default=384)
    p.add_argument("--tile", type=int, default=256)
    p.add_argument("--out", default=str(RESULTS / "blend_sheet.jpg"))
    args = p.parse_args()
    engine = Engine(args.network, device="cpu", tile=None)
    rows, figures = [], {}
    for pair in args.pairs.split(","):
        a, b = pair.split(":")
        for name in args.photos.split(","):
            photo = images.resize_long_side(images.read_bgr(EVAL / f"kodak24_{name}.jpg"), args.size)
            out = {}
            for label, mix in ((a, {a: 1.0}), ("blend", {a: 0.5, b: 0.5}), (b, {b: 1.0})):
                engine.mix = mix
                out[label] = engine(photo)
            fade = cv2.addWeighted(out[a], 0.5, out[b], 0.5, 0)
            figures.setdefault(pair, []).append({"photo": name, "blend_vs_fade_db": round(cv2.PSNR(out["blend"], fade), 2),
                                                 "blend_vs_a_db": round(cv2.PSNR(out["blend"], out[a]), 2),
                                                 "blend_vs_b_db": round(cv2.PSNR(out["blend"], out[b]), 2)})
            rows.append(np.hstack([labelled_tile(out[a], a, args.tile), labelled_tile(out["blend"], f"{a}+{b} blend", args.tile),
                                   labelled_tile(fade, "50/50 cross-fade", args.tile), labelled_tile(out[b], b, args.tile)]))
    images.write_bgr(Path(args.out), np.vstack(rows))
    print(f"{'pair':28} {'blend vs fade':>14} {'blend vs A':>11} {'blend vs B':>11}  (dB, mean over photos)")
    for pair, rows_ in figures.items():
        mean = {k: np.mean([r[k] for r in rows_]) for k in ("blend_vs_fade_db", "blend_vs_a_db", "blend_vs_b_db")}
        print(f"{pair:28} {mean['blend_vs_fade_db']:14.2f} {mean['blend_vs_a_db']:11.2f} {mean['blend_vs_b_db']:11.2f}")
    Path(args.out).with_suffix(".json").write_text(json.dumps(
        {"cpu": cpu_model(), "network": Path(args.network).name, "pairs": figures}, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
