"""Train, export and judge one shipped style on the CPU, beside another project's network of it (its anchor).

    python benchmarks/gallery.py mosaic --shared ../shared --steps 1200
    python benchmarks/gallery.py candy --shared ../shared --steps 400 --init mosaic

Trains with `realtime train`'s defaults (plus what is given here) into --work, exports models/NAME.onnx
with its model card (the style image's author and copyright from shared/data/styles/MANIFEST.csv), then
measures it on the 24 unseen Kodak photos at 512 px beside the anchor of the same style, if there is
one: style and content loss (the `realtime evaluate` definitions), L* contrast and colourfulness. Writes
benchmarks/styles/NAME.json and NAME_sheet.jpg (photo | ours | anchor).
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from dataclasses import fields
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
import torch

from realtime.tools import evaluate as ev
from realtime.media import images
from realtime.engine import Engine
from realtime.tools.export import export
from realtime.training.train import TrainSettings, train

REPO = Path(__file__).resolve().parent.parent
ANCHORS = {"mosaic": "pytorch_examples_nc16_mosaic.onnx", "candy": "pytorch_examples_nc16_candy.onnx",
           "udnie": "pytorch_examples_nc16_udnie.onnx", "the_scream": "lengstrom_scream.onnx",
           "wave": "lengstrom_wave.onnx", "shipwreck": "lengstrom_wreck.onnx"}
UNKNOWN_AUTHOR = {"mosaic", "candy", "feathers", "pencil"}
SHEET_WIDTH = 1600


def write_sheet(path: Path, sheet: np.ndarray) -> None:
    """A contact sheet as the READMEs show it: JPEG at quality 85, at most SHEET_WIDTH pixels wide."""
    height, width = sheet.shape[:2]
    if width > SHEET_WIDTH:
        sheet = cv2.resize(sheet, (SHEET_WIDTH, round(height * SHEET_WIDTH / width)), interpolation=cv2.INTER_AREA)
    ok, encoded = cv2.imencode(".jpg", sheet, [cv2.IMWRITE_JPEG_QUALITY, 85])
    if not ok:
        raise SystemExit(f"could not encode {path}")
    path.write_bytes(encoded.tobytes())


def style_credit(shared: Path, name: str) -> dict[str, str]:
    with open(shared / "data" / "styles" / "MANIFEST.csv", newline="") as f:
        row = next(r for r in csv.DictReader(f) if r["file"] == f"{name}.jpg")
    copyright_ = ("unknown authorship; shipped as the community's standard example" if name in UNKNOWN_AUTHOR
                  else "public domain")
    return {"style_author": row["author and status"], "style_copyright": copyright_, "style_origin": row["origin"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("style")
    ap.add_argument("--shared", type=Path, required=True)
    ap.add_argument("--steps", type=int, default=1200)
    ap.add_argument("--init", default=None)
    ap.add_argument("--image-size", type=int, default=192)
    ap.add_argument("--style-weight", type=float, default=None)
    ap.add_argument("--style-size", type=int, default=None)
    ap.add_argument("--work", type=Path, default=Path("/tmp/gallery"))
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: its default); two runs side by side: 1 each")
    ap.add_argument("--skip-train", action="store_true", help="export and judge the checkpoint already in --work")
    ap.add_argument("--judge-only", action="store_true", help="only judge models/NAME.onnx")
    ap.add_argument("--photos", type=int, default=24, help="how many Kodak photos to judge on (VGG19 at 512 px costs about a minute each here)")
    ap.add_argument("--lineage", default=None, help="how this run started, appended to the shipped card's lineage (e.g. 'udnie: 1,500 steps at style weight 1.7 from there')")
    ap.add_argument("--lineage-from", type=Path, default=None,
                    help="the card whose lineage --lineage continues (default models/NAME.json): a run from a trial "
                         "network keeps that trial's stages")
    args = ap.parse_args()

    name, shared = args.style, args.shared
    if args.threads:
        torch.set_num_threads(args.threads)
    extra = {k: v for k, v in (("style_weight", args.style_weight), ("style_size", args.style_size)) if v is not None}
    settings = TrainSettings(style_image=str(shared / "data" / "styles" / f"{name}.jpg"), data=str(shared / "data" / "train"),
                             name=name, out_dir=str(args.work), steps=args.steps, image_size=args.image_size, width=16,
                             blocks=5, init=args.init, checkpoint_every=100, preview_every=100, device="cpu", **extra)
    ckpt = args.work / f"{name}.ckpt"
    out = REPO / "models" / f"{name}.onnx"
    if not args.judge_only:
        card = train_and_export(args, settings, ckpt, out)
    else:
        card = json.loads(out.with_suffix(".json").read_text())
    judge(name, shared, out, settings.style_image, card, args.photos)


# Settings that say where files go or how often to write them (for `train` and `distill` alike): not part of
# how a network was trained.
NOT_RECIPE = {"style_image", "teacher", "data", "name", "out_dir", "checkpoint_every", "preview_every", "device", "vgg"}
# Settings whose None means "off", which the command line spells 0 (leaving the flag out would bring back
# its default: --small-size 128).
OFF_IS_ZERO = {"small_size"}


def command_line(command: str, source: str, settings_type: type, settings: dict) -> str:
    """The `realtime COMMAND` line that reproduces a run, from its card's portable settings (every field of
    `settings_type` that shapes the network, so a new option cannot be left out). `source` names the
    positional setting: the style image for train, the teacher for distill."""
    flags = [f"realtime {command} {settings[source]} --data {settings['data']} --name {settings['name']}"]
    for field in fields(settings_type):
        value = settings.get(field.name)
        if value is None and field.name in OFF_IS_ZERO:
            value = 0
        if field.name not in NOT_RECIPE and value is not None:
            flag = field.name.replace('_', '-')
            if isinstance(value, bool):
                flags.append(f"--{flag}" if value else f"--no-{flag}")
                continue
            if isinstance(value, (list, tuple)):
                value = ",".join(f"{v:g}" for v in value)
            flags.append(f"--{flag} {value}")
    return " ".join(flags)


def train_and_export(args, settings: TrainSettings, ckpt: Path, out: Path) -> dict:
    name, shared = args.style, args.shared
    if not args.skip_train:
        ckpt = train(settings, resume=str(ckpt) if ckpt.is_file() and not args.init else None)
    card = json.loads(ckpt.with_suffix(".json").read_text())
    card.update(style_credit(shared, name))
    card["training_command"] = command_line("train", "style_image", TrainSettings, card["settings"])
    if args.lineage:
        card["lineage"] = grown_lineage(args.lineage_from or REPO / "models" / f"{name}.json", args.lineage)
    export(ckpt, out)
    (REPO / "models" / f"{name}.json").write_text(json.dumps({**card, "file": out.name, "opset": 17}, indent=2))
    return card


THIS_CARD = " (this card's settings)"


def past_lineage(shipped: Path) -> list[str]:
    """The shipped card's lineage without its settings marker (the new newest entry carries it). A card
    written before lineages were kept starts it with its own steps and training command."""
    card = json.loads(shipped.read_text()) if shipped.is_file() else {}
    old = card.get("lineage") or ([f"{card['steps']} steps: {card['training_command']}"]
                                  if card.get("training_command") else [])
    return [entry.replace(THIS_CARD, "") for entry in old]


def grown_lineage(shipped: Path, step: str) -> list[str]:
    """The shipped card's lineage with `step` as its newest entry: a retrained style keeps the history of
    the networks it started from, and only the newest entry carries this card's settings. Shipping the same
    run again (--skip-train, to re-judge it) replaces its entry rather than adding a second."""
    step = step.replace(THIS_CARD, "")
    old = past_lineage(shipped)
    if old and old[-1] == step:
        old = old[:-1]
    return old + [step + THIS_CARD]


def judged_photos(shared: Path, count: int) -> list[Path]:
    """`count` of the Kodak photos, spread evenly over the 24 (peek.py --losses judges on the same)."""
    photos = sorted((shared / "data" / "eval").glob("*.jpg"))
    return [photos[i] for i in sorted(set(round(k * len(photos) / count) for k in range(count)))]


def judge(name: str, shared: Path, out: Path, style_image: str, card: dict, count: int) -> None:
    stylisers = {name: Engine(out, device="cpu")}
    anchor = ANCHORS.get(name)
    if anchor:
        stylisers[f"anchor {anchor.removesuffix('.onnx')}"] = Engine(shared / "anchors" / anchor, device="cpu")
    photos = judged_photos(shared, count)
    t = time.time()
    means, outputs = ev.photo_losses(stylisers, photos, images.read_bgr(style_image), 512)
    labels = list(outputs)
    picks = list(range(len(photos)))[:: max(1, len(photos) // 8)][:8]
    sheet = ev.contact_sheet([[outputs[n][i] for n in labels] for i in picks], labels, cell=320)
    write_sheet(REPO / "benchmarks" / "styles" / f"{name}_sheet.jpg", sheet)
    result = {"style": name, "photos": f"{len(photos)} of shared/data/eval (Kodak24, never trained on)",
              "files": [p.name for p in photos], "size": 512, "figures": means,
              "model_card": {k: card.get(k) for k in ("steps", "train_seconds", "precision", "cpu", "recipe", "init")},
              "onnxruntime": ort.__version__}
    (REPO / "benchmarks" / "styles" / f"{name}.json").write_text(json.dumps(result, indent=2))
    print(f"{'model':<40} {'style':>9} {'content':>9} {'L* contrast':>12} {'colourful':>10} {'colour kept':>12} {'shading kept':>13}")
    for model, m in means.items():
        print(f"{model:<40} {m['style']:>9.1f} {m['content']:>9.1f} {m['contrast']:>12.1f} {m['colourfulness']:>10.1f}"
              f" {m['colour_kept']:>12.2f} {m['shading_kept']:>13.2f}")
    print(f"(judged in {time.time() - t:.0f} s)")


if __name__ == "__main__":
    main()
