"""Distillation: a CPU network (`arch fast`) trained to reproduce a full style network's output.

The teacher is one of our trained networks (a shipped style name, a .ckpt, or an .onnx from `realtime
export`). Its forward pass replaces VGG's forward and backward, so a step costs a fraction of a style
training step, and the target is the very picture the full network draws (its colours, strokes and
structure), not a second, weaker reading of the style image.

Loss: L1 to the teacher's output in 0-255 units, plus L1 of the difference of their image gradients (the
strokes and edges a pixel loss alone blurs away), optionally L1 of their chroma over 4x4 blocks (a pixel L1
that a small network cannot meet settles on a desaturated average where the teacher's tiles vary, and a
red door goes brown), optionally the difference of their brightness along each edge (a network with zero
padding, `fast`, must learn how its borders look, and the Gram term alone lets them drift lighter),
plus the stability term (Gupta et al. 2017) on a
moved copy, as in `train`. With a Gram weight, also the relative error of the student's VGG Gram
matrices against the teacher's output's, per photo: a pixel loss averages the texture a small network
cannot place exactly into a soft blur, while matching the Gram keeps the teacher's strokes and tiles,
which is what the style loss (and the eye) judges.

At the end, the student's colours are matched to the teacher's by a linear map folded into its last
layers (`realtime.training.colourmap`): a pixel loss leaves a small network's colours slightly greyer, and the
style loss reads that as a weaker style.
"""

from __future__ import annotations

import json
import time
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from rich.progress import TextColumn

from realtime import progress
from realtime.training import checkpoint
from realtime.training import colourmap
from realtime.errors import UserError
from realtime.files import atomic_path, check_dir_creatable, check_distinct, check_writable_dir
from realtime.training.photos import BatchSource, find_photos
from realtime.training.precision import Trial, autocast, pick_precision
from realtime.training.stability import StabilityLoss
from realtime.training.losses import TRAIN_STYLE, gram, mean_weights, relative_error
from realtime.training.train import RunningMean, card_facts, learning_rate, load_start, pick_device, portable_settings
from realtime.training.transformer import TransformerNet
from realtime.training.vgg import VGG19Features, file_digest, load_features


def recipe(settings: "DistillSettings") -> str:
    """The card's recipe name: which loss terms the run had."""
    name = "distill-l1-edges-gram" if settings.gram_weight > 0 else "distill-l1-edges"
    name += "-chroma" if settings.chroma_weight > 0 else ""
    return f"{name}-border-v1" if settings.border_weight > 0 else f"{name}-v1"


@dataclass
class DistillSettings:
    teacher: str
    data: str
    name: str
    out_dir: str = "."
    steps: int = 1500
    batch_size: int = 4
    image_size: int = 256
    arch: str = "fast"
    width: int = 12
    blocks: int = 4
    lr: float = 2e-3  # cosine-decayed to lr / 20 (train.learning_rate)
    lr_ramp: int = 100  # with init: the ramp up from lr / 100 (train.learning_rate)
    edge_weight: float = 1.0
    gram_weight: float = 0.0
    gram_tap_weights: tuple[float, ...] = (1.0, 1.0, 1.0, 1.0)  # relu1_1..relu4_1, a weighted mean
    chroma_weight: float = 0.0  # chroma_error: each region keeps the teacher's hue and saturation
    border_weight: float = 0.0  # border_error: the outer pixels keep the teacher's tone
    stability_weight: float = 5e-3  # squared 0-255 differences against an L1 of about 5-10: about 10 %
    seed: int = 0
    checkpoint_every: int = 250
    device: str = "auto"
    init: str | None = None  # a CPU network (e.g. another style's NAME-lite) to start from
    vgg: str | None = None
    colour_match: bool = True  # fold a colour map onto the teacher's colours into the finished network
    precision: str = "auto"  # as train's: bf16 autocast where it is measured faster, fp32 elsewhere


def edges(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return x[..., :, 1:] - x[..., :, :-1], x[..., 1:, :] - x[..., :-1, :]


def distill_loss(student: torch.Tensor, teacher: torch.Tensor) -> dict[str, torch.Tensor]:
    """Differences between the two outputs, both L1 in 0-255 units: pixels ("l1") and image gradients ("edge")."""
    (sx, sy), (tx, ty) = edges(student), edges(teacher)
    return {"l1": F.l1_loss(student, teacher), "edge": F.l1_loss(sx, tx) + F.l1_loss(sy, ty)}


CHROMA_BLOCK = 4  # px: averages a lead line's misplacement away, keeps a shutter's colour


def chroma_error(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """L1 of the two outputs' chroma (each pixel minus its grey level), averaged over CHROMA_BLOCK-px blocks,
    0-255 units. Brightness is left to the pixel L1, so this term pulls only towards the teacher's hue."""
    def chroma(x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(x - x.mean(1, keepdim=True), CHROMA_BLOCK, ceil_mode=True)
    return F.l1_loss(chroma(student), chroma(teacher))


BORDER_BAND = 4  # px: the rows the border test reads, and where a zero-padded network's tone goes wrong most


def border_error(student: torch.Tensor, teacher: torch.Tensor, band: int = BORDER_BAND) -> torch.Tensor:
    """How much lighter or darker than the teacher's the outer `band` rows of every side are, beyond the
    photo's own difference, on average over a batch's sides and photos (0-255 units): the tone a
    zero-padded network must learn at its borders. Texture a small network cannot place exactly averages
    out over a batch's sides; a lighter band, the same on every side, does not."""
    d = (student - teacher).mean(1)
    sides = torch.stack([side.mean((1, 2)) for side in (d[:, :band], d[:, -band:], d[:, :, :band], d[:, :, -band:])])
    return (sides - d.mean((1, 2))).mean().abs()


class GramMatch(torch.nn.Module):
    """Weighted mean over VGG taps of the relative Gram error of the student's output against the teacher's."""

    def __init__(self, vgg: VGG19Features, taps: list[str], weights: tuple[float, ...] | None = None):
        super().__init__()
        self.vgg, self.taps = vgg, taps
        self.weights = mean_weights(weights, len(taps))  # --gram-weight keeps its scale

    def forward(self, student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            target = self.vgg(teacher)
        feats = self.vgg(student)
        return sum(w * relative_error(gram(feats[t].float()), gram(target[t].float()))
                   for t, w in zip(self.taps, self.weights) if w > 0)


def load_teacher(source: str, device: torch.device) -> tuple[TransformerNet, str]:
    """The teacher network in eval mode and the sha256 of its file (the card says what it copied)."""
    net = checkpoint.network(source, "TEACHER")
    if net.arch != "full":
        raise UserError(f"TEACHER {source}: that is a {net.arch} network; distil from a full style network")
    from realtime.catalog import registry

    path = Path(source) if Path(source).suffix in (".ckpt", ".onnx") else registry.resolve(source)
    return net.to(device), file_digest(path, "sha256")


def distill(settings: DistillSettings, resume: str | None = None, recipe: dict[str, Any] | None = None) -> Path:
    """Train NAME.ckpt and NAME.json in out_dir to copy the teacher; return the checkpoint path."""
    device = pick_device(settings.device)
    torch.manual_seed(settings.seed)
    out_dir = check_dir_creatable(Path(settings.out_dir))
    ckpt_path = out_dir / f"{settings.name}.ckpt"
    if Path(settings.teacher).is_file():
        for written in (ckpt_path, ckpt_path.with_suffix(".json")):
            check_distinct(written, [Path(settings.teacher)], "--name or --out-dir")
    photos = find_photos(Path(settings.data))
    teacher, teacher_sha = load_teacher(settings.teacher, device)
    model = TransformerNet(settings.width, settings.blocks, settings.arch).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.lr)
    step, resumed_config = load_start(model, optimizer, resume, settings.init)
    check_writable_dir(out_dir)  # every input has loaded: only now does the run leave a folder behind
    match = None
    if settings.gram_weight > 0:
        vgg, _ = load_features(TRAIN_STYLE, settings.vgg)
        match = GramMatch(vgg.to(device), TRAIN_STYLE, settings.gram_tap_weights)
    stability = StabilityLoss() if settings.stability_weight > 0 else None
    earlier = resumed_config.get("precision_used")
    if settings.precision == "auto" and earlier:  # a resumed run keeps its precision: it continues exactly
        precision, why = earlier, f"{earlier}, as the run it continues"
    else:
        precision, why = pick_precision(settings.precision, device, _trial_step(model, teacher, match, settings, device))
    amp = autocast(precision, device)
    source = BatchSource(photos, lambda _: settings.image_size, settings.batch_size, settings.seed,
                         workers=4 if device.type == "cuda" else 2)
    config, mean, losses = {**asdict(settings), "precision_used": precision}, RunningMean(), {}
    t0, interrupted, colour = time.time(), False, None

    def write() -> None:
        checkpoint.save(ckpt_path, model, optimizer, step, config, losses)
        card = _card(settings, teacher_sha, step, losses, time.time() - t0, device, precision, interrupted)
        if colour is not None:
            card["colour_map"] = colour.card()
        if recipe:
            card["train_recipe"] = recipe
        with atomic_path(ckpt_path.with_suffix(".json")) as tmp:
            tmp.write_text(json.dumps(card, indent=2))

    bar = progress.bar(TextColumn("{task.fields[losses]}"))
    log_every = max(1, settings.steps // 20)
    progress.STDERR.print(f"distilling {settings.teacher} into {settings.name} ({settings.arch}, width "
                          f"{settings.width}) on {device.type}: {why}; {settings.image_size} px crops", highlight=False)
    model.train()
    try:
        with bar:
            task = bar.add_task(f"distil {settings.name}", total=settings.steps, completed=step, losses="")
            while step < settings.steps:
                for group in optimizer.param_groups:
                    group["lr"] = learning_rate(settings, step)  # type: ignore[arg-type]
                batch = source.batch(step).to(device).float()
                if stability is not None:
                    gen = torch.Generator().manual_seed(settings.seed * 1_000_003 + step)
                    moved, theta = stability.perturb(batch, gen)
                    batch = torch.cat([batch, moved])
                with amp:
                    total, values, out = step_losses(model, teacher, match, batch, settings)
                if stability is not None:
                    still, still_moved = out.chunk(2)
                    stab = stability(still, still_moved, theta)
                    total = total + settings.stability_weight * stab
                    values["stab"] = float(stab.detach())
                optimizer.zero_grad(set_to_none=True)
                total.backward()
                optimizer.step()
                step += 1
                losses = mean.update(values)
                summary = "  ".join(f"{k} {v:.2f}" for k, v in losses.items())
                bar.update(task, completed=step, losses=summary)
                if not bar.console.is_terminal and step % log_every == 0:
                    bar.console.print(f"step {step}/{settings.steps}  {summary}", highlight=False)
                if settings.checkpoint_every and step % settings.checkpoint_every == 0 and step < settings.steps:
                    write()
    except KeyboardInterrupt:
        interrupted = True
        write()
        progress.STDERR.print(f"interrupted at step {step}: checkpoint saved to {ckpt_path}; "
                              f"continue with --resume {ckpt_path}")
        raise
    finally:
        source.close()
    if settings.colour_match:
        fitted = colourmap.fitting_photos(photos)
        progress.STDERR.print(f"matching {settings.name}'s colours to the teacher's on {len(fitted)} training photos",
                              highlight=False)
        model.eval()
        colour = colourmap.fit(model, teacher, fitted, device=device)
        if colour.worth_folding:
            colourmap.fold(model, colour)
        else:
            progress.STDERR.print(f"colour match left out: it would cost {colour.psnr_before - colour.psnr_after:.1f} dB "
                                  f"of likeness to the teacher ({colour.psnr_before:.1f} dB now); the copy is not "
                                  f"close enough yet (more --steps)", highlight=False)
    write()
    return ckpt_path


def step_losses(model: TransformerNet, teacher: TransformerNet, match: GramMatch | None, batch: torch.Tensor,
            settings: DistillSettings) -> tuple[torch.Tensor, dict[str, float], torch.Tensor]:
    """(total, each term's value, the student's output) for one batch; the sums are fp32 under autocast."""
    with torch.no_grad():
        target = teacher(batch).float()
    out = model(batch).float()
    parts = distill_loss(out, target)
    total = parts["l1"] + settings.edge_weight * parts["edge"]
    if settings.chroma_weight > 0:
        parts["chroma"] = chroma_error(out, target)
        total = total + settings.chroma_weight * parts["chroma"]
    if settings.border_weight > 0:
        parts["border"] = border_error(out, target)
        total = total + settings.border_weight * parts["border"]
    values = {k: float(v.detach()) for k, v in parts.items()}
    if match is not None:  # on the unmoved photos only: the moved copies add cost, not texture
        n = settings.batch_size
        gram_error = match(out[:n], target[:n])
        total = total + settings.gram_weight * gram_error
        values["gram"] = float(gram_error.detach())
    return total, values, out


def _trial_step(model: TransformerNet, teacher: TransformerNet, match: GramMatch | None, settings: DistillSettings,
                device: torch.device) -> Trial:
    """One step's forward and backward on a random batch, for timing; it leaves no gradient behind."""
    noise = torch.Generator(device).manual_seed(0)  # the run's own random stream stays untouched
    batch = torch.rand(settings.batch_size, 3, settings.image_size, settings.image_size, device=device,
                       generator=noise) * 255

    def trial(context: AbstractContextManager) -> None:
        with context:
            total, _, _ = step_losses(model, teacher, match, batch, settings)
        total.backward()
        model.zero_grad(set_to_none=True)

    return trial


def _card(settings: DistillSettings, teacher_sha: str, step: int, losses: dict[str, float], seconds: float,
          device: torch.device, precision: str, interrupted: bool) -> dict[str, Any]:
    portable = portable_settings(settings)
    return {
        **card_facts(settings, step, losses, seconds, device, precision, interrupted),
        "teacher": portable["teacher"],
        "teacher_sha256": teacher_sha,
        "recipe": recipe(settings),
        "init": portable["init"],
        "settings": portable,
    }
