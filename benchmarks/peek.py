"""A quick look at training checkpoints beside an anchor, without VGG: a contact sheet and three figures.

The figures are the two that catch a washed-out network (L* contrast, colourfulness) and the one that
catches a network repainting every object in the painting's palette (colour kept), in seconds per
checkpoint; `--losses` adds the gallery's style and content loss. Also a helper for new_style.py and
size_gain.py (`stylise_fn`).

    python benchmarks/peek.py --shared ../shared --anchor pytorch_examples_nc16_mosaic.onnx \
        -o /tmp/peek.png run1/mosaic.ckpt run2/mosaic.ckpt models/mosaic.onnx

Each model (a .ckpt from `realtime train`, or any .onnx the engine runs) stylises the same unseen Kodak
photos at --size; the sheet is one row per photo: photo | each model | anchor. The full judgement (style
and content loss) is `benchmarks/gallery.py --judge-only`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from realtime.training import checkpoint
from realtime.media import images
from realtime.tools import evaluate as ev
from realtime.engine import Engine

PICKS = ("kodim05", "kodim15", "kodim23", "kodim03", "kodim19", "kodim08")  # Kodak24 files end in these


def stylise_fn(path: Path):
    if path.suffix == ".onnx":
        return Engine(path, device="cpu")
    model, _ = checkpoint.load_model(path)

    def run(bgr: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return images.tensor_to_bgr(model(images.bgr_to_tensor(bgr)))
    return run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+", type=Path)
    ap.add_argument("--shared", type=Path, required=True)
    ap.add_argument("--anchor", default=None, help="file name in shared/anchors")
    ap.add_argument("--photos", type=int, default=4)
    ap.add_argument("--pick", default=None, help="comma-separated Kodak names instead, e.g. kodim12,kodim21 (skies)")
    ap.add_argument("--size", type=int, default=384)
    ap.add_argument("-o", "--out", type=Path, required=True)
    ap.add_argument("--losses", type=Path, default=None, metavar="STYLE_IMAGE",
                    help="also the judged style and content losses at 512 px on gallery.py's 6 photos (VGG, ~1 min a model)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    photos = [next((args.shared / "data" / "eval").glob(f"*{pick}.jpg"))
              for pick in (args.pick.split(",") if args.pick else PICKS[:args.photos])]
    models = {f"{m.parent.name}/{m.stem}": stylise_fn(m) for m in args.models}
    if args.anchor:
        models["anchor"] = Engine(args.shared / "anchors" / args.anchor, device="cpu")
    rows, figures = [], {name: [] for name in ["photo", *models]}
    for path in photos:
        photo = images.resize_long_side(images.read_bgr(path), args.size)
        row = [photo]
        figures["photo"].append((ev.lightness_contrast(photo), ev.colourfulness(photo), 1.0, 1.0))
        for name, fn in models.items():
            out = fn(photo)
            row.append(out)
            figures[name].append((ev.lightness_contrast(out), ev.colourfulness(out), ev.colour_kept(photo, out),
                                  ev.shading_kept(photo, out)))
        rows.append(row)
    images.write_bgr(args.out, ev.contact_sheet(rows, ["photo", *models], cell=args.size))
    print(f"{'model':<40} {'L* contrast':>12} {'colourful':>10} {'colour kept':>12} {'shading kept':>13}")
    for name, values in figures.items():
        c, f, k, s = np.mean(values, axis=0)
        print(f"{name:<40} {c:>12.1f} {f:>10.1f} {k:>12.2f} {s:>13.2f}")
    print(f"wrote {args.out}")
    if args.losses:
        from gallery import judged_photos  # benchmarks/ is on the path when this script runs

        means, _ = ev.photo_losses(models, judged_photos(args.shared, 6), images.read_bgr(args.losses), 512)
        print(f"{'model (512 px, 6 photos)':<40} {'style':>8} {'content':>8} {'contrast':>9}")
        for name, m in means.items():
            print(f"{name:<40} {m['style']:>8.1f} {m['content']:>8.1f} {m['contrast']:>9.1f}")


if __name__ == "__main__":
    main()
