"""Does a network's style error on training crops predict its error on the stills it is judged on?

    python benchmarks/crop_scale.py --shared ../shared --style the_scream models/the_scream.onnx \
        ../shared/anchors/lengstrom_scream.onnx run/the_scream.ckpt

Training measures each VGG tap's relative Gram error (||G - G_style||^2 / ||G_style||^2, the style image at
512 px long side) on small random crops; the gallery judges 512-px stills. This prints, for each model (a
.onnx the engine runs or a .ckpt from `realtime train`), that relative error per tap on the 24 unseen Kodak
photos served as training serves crops (`--crops`: SIZE@PHOTO, PHOTO the short side the photo is scaled to
first, 0 for most of the photo in the crop) and on the whole photos at 512 px. A network whose relu4_1 error
falls on 128-px crops while it rises on stills has learned something that only holds at the crop's size.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from peek import stylise_fn
from realtime import images
from realtime.losses import GATYS_STYLE, gram, relative_error
from realtime.photos import random_crop
from realtime.vgg import load_features

STILL = "still 512"


def samples(photos: list[Path], crops: list[str], seed: int) -> dict[str, list[np.ndarray]]:
    """The same crops for every model: a seeded draw per setting, as `realtime train` cuts them."""
    bgr = [images.read_bgr(p) for p in photos]
    out = {}
    for spec in crops:
        size, photo = (int(v) for v in spec.split("@"))
        rng = np.random.default_rng(seed)
        out[f"crop {size} @ {photo}"] = [np.ascontiguousarray(random_crop(b, size, rng, photo)) for b in bgr]
    out[STILL] = [images.resize_long_side(b, 512) for b in bgr]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+", type=Path)
    ap.add_argument("--shared", type=Path, required=True)
    ap.add_argument("--style", required=True, help="Style image name in SHARED/data/styles.")
    ap.add_argument("--crops", default="128@0,128@340,256@360", help="SIZE@PHOTO settings, comma-separated.")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, help="Write the table here too.")
    args = ap.parse_args()
    torch.set_num_threads(1)

    photos = sorted((args.shared / "data/eval").glob("*.jpg"))
    vgg, _ = load_features(GATYS_STYLE)
    style = images.bgr_to_tensor(images.resize_long_side(images.read_bgr(args.shared / f"data/styles/{args.style}.jpg"), 512))
    with torch.no_grad():
        targets = {tap: gram(f) for tap, f in vgg(style).items()}
    sets = samples(photos, args.crops.split(","), args.seed)

    rows = []
    print(f"| model | images | {' | '.join(GATYS_STYLE)} |")
    print("|---|---|" + "---|" * len(GATYS_STYLE))
    for model in args.models:
        run = stylise_fn(model)
        for name, inputs in sets.items():
            errors = np.zeros(len(GATYS_STYLE))
            for bgr in inputs:
                with torch.no_grad():
                    feats = vgg(images.bgr_to_tensor(run(bgr)))
                errors += [float(relative_error(gram(feats[tap]), targets[tap])) for tap in GATYS_STYLE]
            errors /= len(inputs)
            rows.append({"model": model.name, "images": name, **dict(zip(GATYS_STYLE, errors.round(4).tolist()))})
            print(f"| {model.name} | {name} | " + " | ".join(f"{e:.3f}" for e in errors) + " |", flush=True)
    if args.json:
        args.json.write_text(json.dumps({"style": args.style, "photos": f"{len(photos)} Kodak (unseen)",
                                         "measure": "relative Gram error per tap, style at 512 px", "rows": rows},
                                        indent=2))


if __name__ == "__main__":
    main()
