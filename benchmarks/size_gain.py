"""Is a network as strong on whole photos as on its training crops? Its training objective by size and gain.

The objective (relative Gram style error over relu1_1..relu4_1 with its card's tap weights and style weight,
relative content error at its content tap) on whole unseen Kodak photos at several long sides, for its output
as it is and with its contrast around each channel's mean raised by a gain k.

    python benchmarks/size_gain.py models/the_scream.onnx --shared ../shared --sizes 256,512,768 --gains 1,1.04,1.08

If the objective is lowest at k = 1 the network is calibrated at that size; if a gain lowers it, the
network draws the style too weakly there (a network trained on 256-px crops of 360-px photos did, on
512- and 768-px photos: results/size_gain_the_scream.json). Prints a table and writes the JSON to --out.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from gallery import judged_photos  # benchmarks/gallery.py, beside this script
from peek import stylise_fn
from realtime.media import images
from realtime.training.losses import PerceptualLoss
from realtime.training.train import TRAIN_STYLE
from realtime.training.vgg import load_features


def gained(out: np.ndarray, k: float) -> np.ndarray:
    """Contrast around each channel's mean times k: the one knob a network's last layer has for strength."""
    o = out.astype(np.float32)
    m = o.mean(axis=(0, 1), keepdims=True)
    return np.clip(m + k * (o - m), 0, 255).astype(np.uint8)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", type=Path, help="an .onnx with its .json card beside it, or a .ckpt from `realtime train`")
    ap.add_argument("--shared", type=Path, required=True)
    ap.add_argument("--sizes", default="256,512,768")
    ap.add_argument("--gains", default="1,1.04,1.08")
    ap.add_argument("--photos", type=int, default=6)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/size_gain.json"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    settings = json.loads(args.model.with_suffix(".json").read_text())["settings"]
    taps = list(settings.get("style_tap_weights") or [1, 1, 1, 1])
    content_tap = settings.get("content_tap", "relu2_2")
    vgg, _ = load_features(TRAIN_STYLE + [content_tap])
    style_path = args.shared / "data" / "styles" / Path(settings["style_image"]).name
    style = images.bgr_to_tensor(images.resize_long_side(images.read_bgr(style_path), settings.get("style_size", 512)))
    loss = PerceptualLoss(vgg, style, TRAIN_STYLE, content_tap, 1.0, settings["style_weight"], 0.0, relative=True,
                          tap_weights=taps)
    stylise = stylise_fn(args.model)
    photos = judged_photos(args.shared, args.photos)
    sizes = [int(s) for s in args.sizes.split(",")]
    gains = [float(k) for k in args.gains.split(",")]
    rows = []
    for size in sizes:
        sums = {k: [0.0, 0.0] for k in gains}
        for path in photos:
            photo = images.resize_long_side(images.read_bgr(path), size)
            out = stylise(photo)
            with torch.no_grad():
                content = loss.content_features(images.bgr_to_tensor(photo))
                for k in gains:
                    feats = vgg(images.bgr_to_tensor(gained(out, k)))
                    sums[k][0] += float(loss.style_loss_of(feats)) / len(photos)
                    sums[k][1] += float(loss.content_loss_of(feats, content)) / len(photos)
        for k, (s, c) in sums.items():
            rows.append({"long_side": size, "gain": k, "style": s, "content": c, "objective": settings["style_weight"] * s + c})
    print(f"{args.model.name}: style weight {settings['style_weight']}, taps {taps}, content {content_tap}, "
          f"{len(photos)} Kodak photos")
    print(f"{'long side':>9} {'gain':>6} {'style':>8} {'content':>8} {'objective':>10}")
    for r in rows:
        best = min(x["objective"] for x in rows if x["long_side"] == r["long_side"])
        mark = "  <- lowest" if r["objective"] == best else ""
        print(f"{r['long_side']:>9} {r['gain']:>6.2f} {r['style']:>8.4f} {r['content']:>8.4f} {r['objective']:>10.4f}{mark}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"model": args.model.name, "photos": len(photos), "rows": rows}, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
