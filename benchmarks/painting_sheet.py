"""Where the any-painting network stands beside the trained ones: one sheet, photo | ours | any-painting.

Each gallery painting's trained network (full) and the arbitrary-style network given the same painting,
on Kodak photos none of them saw, at 384 px; the rows are paintings, labelled.

    python benchmarks/painting_sheet.py --shared ../shared --photos kodim23,kodim05 --out benchmarks/results/painting_sheet.jpg
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from realtime.catalog import registry
from realtime.engine.build import EngineOptions, Runtime
from realtime.media import images
from realtime.tools.gallery import labelled_tile


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path, default=Path("../shared"))
    ap.add_argument("--photos", default="kodim23", help="comma-separated Kodak photo names from data/eval")
    ap.add_argument("--size", type=int, default=384)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/painting_sheet.jpg"))
    args = ap.parse_args()
    runtime = Runtime(EngineOptions(device="cpu", net="full"))
    photos = [images.resize_long_side(images.read_bgr(args.shared / "data" / "eval" / f"kodak24_{n}.jpg"), args.size)
              for n in args.photos.split(",")]
    rows = []
    for style in registry.list_styles():
        painting = args.shared / "data" / "styles" / f"{style.name}.jpg"
        if not painting.is_file():
            continue
        ours, anyp = runtime.engine(style.name, quiet=True), runtime.engine(str(painting), quiet=True)
        tiles = [labelled_tile(images.resize_long_side(images.read_bgr(painting), args.size), style.name, args.size)]
        for photo in photos:
            tiles += [labelled_tile(ours(photo), "trained", args.size), labelled_tile(anyp(photo), "any painting", args.size)]
        rows.append(np.hstack(tiles))
        print(style.name)
    blank = np.full((args.size, args.size, 3), 255, np.uint8)
    header = [labelled_tile(blank, "painting", args.size)]
    for name, photo in zip(args.photos.split(","), photos):
        header += [labelled_tile(photo, f"photo {name}", args.size), labelled_tile(blank, "", args.size)]
    header = np.hstack(header)
    sheet = np.vstack([header] + rows)
    scale = min(1.0, 1600 / sheet.shape[1])
    sheet = cv2.resize(sheet, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.out), sheet, [cv2.IMWRITE_JPEG_QUALITY, 85])
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
