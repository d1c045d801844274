"""Print the gallery's figures as markdown tables, from the judgements gallery.py and lite_gallery.py wrote.

    python benchmarks/gallery_table.py

One row per shipped style with a judgement in benchmarks/styles/NAME.json: steps, minutes, and style loss,
content loss, L* contrast and colourfulness on the unseen photos, each beside its anchor's where there is
one (ours / anchor), and which of the gallery's three figures hold (style <= anchor, content <= 1.1 x anchor,
contrast >= 0.9 x anchor). Then one row per shipped CPU network (NAME-lite, benchmarks/lite_gallery.py)
beside its teacher: style loss and L* contrast as ratios to the teacher's (both are to be within 10 %),
colourfulness, and PSNR / SSIM against the teacher's outputs.
"""

from __future__ import annotations

import json
from pathlib import Path

STYLES = Path(__file__).resolve().parent / "styles"
MODELS = Path(__file__).resolve().parent.parent / "models"


def figure(value: float) -> str:
    """One decimal under 1000 (two where ours and the anchor's would still print alike), so a figure that
    holds by a hair does not read as a tie."""
    return f"{value:.1f}" if abs(value) < 1000 else f"{value:.0f}"


def row(name: str, judged: dict) -> str:
    figures = judged["figures"]
    ours = figures[name]
    anchor = next((v for k, v in figures.items() if k.startswith("anchor")), None)
    card = judged["model_card"]
    cells = [name, str(card["steps"]), f"{card['train_seconds'] / 60:.0f}"]
    for key in ("style", "content", "contrast", "colourfulness"):
        mine, theirs = figure(ours[key]), figure(anchor[key]) if anchor else None
        if mine == theirs:  # a hair apart: say which side
            mine, theirs = f"{ours[key]:.2f}", f"{anchor[key]:.2f}"
        cells.append(mine + (f" / {theirs}" if anchor else ""))
    if anchor:
        held = [ours["style"] <= anchor["style"], ours["content"] <= 1.1 * anchor["content"],
                ours["contrast"] >= 0.9 * anchor["contrast"]]
        cells.append(f"{sum(held)} of 3")
    else:
        cells.append("no anchor")
    return "| " + " | ".join(cells) + " |"


def lite_row(name: str, judged: dict) -> str:
    figures = judged["figures"]
    ours, teacher = figures[name], figures[f"teacher {name.removesuffix('-lite')}"]
    ratio = judged["ratios_to_teacher"]
    like = judged["likeness_to_teacher"]
    held = abs(ratio["style"] - 1) <= 0.1 and abs(ratio["contrast"] - 1) <= 0.1
    cells = [name, judged["photos"].split()[0], f"{ratio['style']:.2f}", f"{ratio['contrast']:.2f}",
             f"{ours['colourfulness']:.1f} / {teacher['colourfulness']:.1f}", f"{like['psnr']:.1f}", f"{like['ssim']:.3f}",
             "yes" if held else "no"]
    return "| " + " | ".join(cells) + " |"


def main() -> None:
    print("| style | steps | minutes | style loss | content loss | L* contrast | colourfulness | figures held |")
    print("|---|---|---|---|---|---|---|---|")
    for path in sorted(STYLES.glob("*.json")):
        judged = json.loads(path.read_text())
        name = judged.get("style")
        if name == path.stem and (MODELS / f"{name}.onnx").is_file() and name in judged.get("figures", {}) \
                and "teacher" not in judged:
            print(row(name, judged))
    print()
    print("| CPU network | photos | style x teacher | contrast x teacher | colourfulness (lite / teacher) | PSNR dB | SSIM | both within 10 % |")
    print("|---|---|---|---|---|---|---|---|")
    for path in sorted(STYLES.glob("*-lite.json")):
        judged = json.loads(path.read_text())
        if (MODELS / f"{path.stem}.onnx").is_file():
            print(lite_row(path.stem, judged))


if __name__ == "__main__":
    main()
