"""Named recipes for `train` and `distill`: the sequence of stages a style goes through, as data.

A recipe is a list of stages; each stage sets some fields of TrainSettings / DistillSettings (the rest keep
their defaults) and starts from the stage before it. Options given on the command line override every
stage; the model card records the recipe, the stage and the overrides. `quick` is a usable style in
about a minute on a CPU; `gallery` is the sequence the shipped styles went through (docs/training.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Callable

from realtime.errors import UserError

GALLERY_TAPS = (0.25, 0.5, 1.0, 2.25)  # relu1_1..relu4_1: strokes from relu4_1, the palette from the early taps


@dataclass(frozen=True)
class Stage:
    name: str
    steps: int
    settings: dict[str, Any] = field(default_factory=dict)
    what: str = ""  # one line for the model card's lineage


@dataclass(frozen=True)
class Recipe:
    name: str
    summary: str
    stages: tuple[Stage, ...]

    @property
    def steps(self) -> int:
        return sum(s.steps for s in self.stages)


CUSTOM = "custom"  # one run, every setting from the options or its default: for research and tests

TRAIN = {
    CUSTOM: Recipe(CUSTOM, "one run, every setting from the options or its default", (Stage("run", 2000),)),
    "quick": Recipe("quick", "a usable style in about a minute: 120 steps on 128-px crops from the shipped gallery "
                    "network at the blend of its styles nearest the painting", (
        Stage("fine-tune", 120, {"init": "gallery", "lr_ramp": 10},
              "120 steps on 128-px crops from the shipped gallery network at the blend of its styles nearest the "
              "painting, the rate ramped up over 10"),
    )),
    "gallery": Recipe("gallery", "the shipped styles' sequence: a fine-tune, 256-px crops with the gallery's loss, "
                      "then a finish on whole 384-px scenes", (
        Stage("start", 500, {"init": "mosaic"}, "500 steps on 128-px crops from the shipped mosaic network"),
        Stage("crops", 250, {"small_size": None, "image_size": 256, "photo_size": 360, "content_tap": "relu4_2",
                             "style_weight": 10.0, "style_tap_weights": GALLERY_TAPS, "stability_weight": 0.001,
                             "lr": 5e-4, "lr_ramp": 30},
              "250 steps on 256-px crops of photos scaled to a 360-px short side, content at relu4_2, "
              "style taps 0.25,0.5,1,2.25 at weight 10"),
        Stage("finish", 40, {"small_size": None, "image_size": 384, "photo_size": 0, "content_tap": "relu4_2",
                             "style_weight": 10.0, "style_tap_weights": GALLERY_TAPS, "stability_weight": 0.001,
                             "lr": 2.5e-4, "lr_ramp": 15},
              "40 steps on whole scenes at 384 px, the same loss"),
    )),
}

_LITE = {"arch": "fast", "width": 12, "blocks": 4, "image_size": 160, "edge_weight": 2.0, "lr": 1e-3}
# The fast network's zero padding is learnt, and the Gram term lets its borders drift lighter: the border term
# holds them there. Not in a plain stage, where it outweighs the pixel L1 (pencil: 19.9 dB against 25.5).
_GRAM = {"gram_weight": 20000.0, "gram_tap_weights": (1.0, 1.0, 1.0, 8.0), "border_weight": 20.0}
DISTILL = {
    CUSTOM: Recipe(CUSTOM, "one run, every setting from the options or its default", (Stage("run", 1500),)),
    "quick": Recipe("quick", "a CPU copy in minutes: 300 plain steps and 100 Gram steps from mosaic-lite", (
        Stage("plain", 300, {**_LITE, "init": "mosaic-lite", "colour_match": False},
              "300 steps of pixel and edge L1 to the teacher from the shipped mosaic-lite"),
        Stage("gram", 100, {**_LITE, **_GRAM},
              "100 steps with the teacher's Gram matrices at weight 20000, taps 1,1,1,8, border weight 20; colour map "
              "folded in"),
    )),
    "gallery": Recipe("gallery", "the shipped CPU copies' sequence: 600 plain steps, then 300 with the teacher's "
                      "Gram matrices", (
        Stage("plain", 600, {**_LITE, "init": "mosaic-lite", "colour_match": False},
              "600 steps of pixel and edge L1 to the teacher from the shipped mosaic-lite"),
        Stage("gram", 300, {**_LITE, **_GRAM},
              "300 steps with the teacher's Gram matrices at weight 20000, taps 1,1,1,8, border weight 20; colour map "
              "folded in"),
    )),
}


def get(recipes: dict[str, Recipe], name: str) -> Recipe:
    if name not in recipes:
        raise UserError(f"--recipe {name}: use one of {', '.join(recipes)}")
    return recipes[name]


@dataclass(frozen=True)
class Planned:
    stage: Stage
    settings: Any  # TrainSettings or DistillSettings
    last: bool


def plan(recipe: Recipe, base: Any, overrides: dict[str, Any]) -> list[Planned]:
    """Each stage's settings: the dataclass defaults in `base`, the stage's fields, then `overrides`.

    `steps` in overrides sets the last stage's steps (a quick recipe has one). Every stage but the last
    writes NAME-STAGE.ckpt and the next starts from it; the last writes NAME.ckpt."""
    known = {f.name for f in fields(base)}
    unknown = set(overrides) - known
    if unknown:
        raise ValueError(f"not settings: {sorted(unknown)}")
    out: list[Planned] = []
    previous: Path | None = None
    for i, stage in enumerate(recipe.stages):
        last = i == len(recipe.stages) - 1
        values = {**stage.settings, **{k: v for k, v in overrides.items() if k != "steps"}}
        steps = overrides.get("steps", stage.steps) if last else stage.steps
        name = base.name if last else f"{base.name}-{stage.name}"
        if previous is not None:
            values["init"] = str(previous)
        settings = replace(base, **values, steps=steps, name=name)
        out.append(Planned(stage, settings, last))
        previous = Path(settings.out_dir) / f"{name}.ckpt"
    return out


def card_entry(recipe: Recipe, stage: Stage, overrides: dict[str, Any]) -> dict[str, Any]:
    """What a model card records of the recipe that made it."""
    return {"name": recipe.name, "stage": stage.name, "stages": [s.name for s in recipe.stages],
            "lineage": [f"{s.name}: {s.what}" for s in recipe.stages[: recipe.stages.index(stage) + 1]],
            "overrides": {k: (list(v) if isinstance(v, tuple) else v) for k, v in overrides.items()}}


def run(recipe: Recipe, base: Any, overrides: dict[str, Any], one: Callable[[Any, str | None, dict], Path],
        say: Callable[[str], None], resume: str | None = None) -> Path:
    """Run the stages in order. A stage whose checkpoint is already complete (its card says so) is skipped,
    an interrupted one resumed: running the same command again continues where it stopped."""
    import json

    result = None
    for planned in plan(recipe, base, overrides):
        s = planned.settings
        ckpt = Path(s.out_dir) / f"{s.name}.ckpt"
        card = ckpt.with_suffix(".json")
        entry = card_entry(recipe, planned.stage, overrides)
        this_resume = resume if planned.last and resume else None
        if this_resume is None and ckpt.is_file() and card.is_file() and len(recipe.stages) > 1:
            try:
                written = json.loads(card.read_text())
            except (OSError, json.JSONDecodeError):
                written = {}
            if written.get("train_recipe", {}).get("stage") == planned.stage.name:
                if not written.get("interrupted") and written.get("steps") == s.steps:
                    say(f"stage {planned.stage.name}: {ckpt} is complete, skipped")
                    result = ckpt
                    continue
                this_resume = str(ckpt)
        say(f"recipe {recipe.name}, stage {planned.stage.name} ({recipe.stages.index(planned.stage) + 1}/"
            f"{len(recipe.stages)}): {planned.stage.what}")
        result = one(s, this_resume, entry)
    assert result is not None
    return result
