"""Training a fast style network (Johnson et al. 2016) on a folder of photos against one style image.

Runs unchanged on one CPU, one GPU, or under `torchrun --nproc_per_node N` (DDP: NCCL on GPUs, gloo on
CPUs); rank 0 alone writes checkpoints, previews and the model card.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import time
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Callable

import torch
import torch.distributed as dist
from rich.progress import TextColumn

from realtime import progress
from realtime.training import checkpoint
from realtime.media import images
from realtime.errors import UserError
from realtime.files import atomic_path, check_dir_creatable, check_distinct, check_writable_dir
from realtime.training.losses import TRAIN_CONTENT, TRAIN_STYLE, PerceptualLoss
from realtime.training.photos import BatchSource, find_photos
from realtime.training.precision import autocast, cpu_model, pick_precision
from realtime.training.stability import StabilityLoss
from realtime.training.transformer import TransformerNet
from realtime.training.widen import widen
from realtime.training.vgg import file_digest, load_features

KINDS = {
    "full": "realtime fast style network (Johnson et al. 2016, instance norm, upsample+conv)",
    "lite": "realtime CPU style network (strided to 1/8 size, depthwise-separable residual blocks, upsample+conv)",
    "lite4": "realtime CPU style network distilled from a full one (1/4 size, separable blocks and decoder, full-resolution photo path)",
    "fast": "realtime CPU style network distilled from a full one (1/4 size, zero-padded separable blocks, "
            "depth-to-space decoder, full-resolution photo path)",
}
IO_CONVENTION = {"input": "input", "output": "output", "layout": "NCHW", "color_order": "RGB",
                 "value_range": "0-255", "dtype": "float32"}


@dataclass
class TrainSettings:
    style_image: str
    data: str
    name: str
    out_dir: str = "."
    steps: int = 2000
    batch_size: int = 4
    image_size: int = 256
    small_size: int | None = 128  # crops for all but the finish; None: image_size throughout
    finish_fraction: float = 0.1  # the last steps, at image_size
    photo_size: int = 0  # short side photos are scaled to before cropping; 0: the crop size (whole scenes)
    style_size: int = 512
    style_weight: float = 5.0  # relative losses; the gallery's weight (20-40 washed mosaic out to lavender, udnie to two tones)
    content_weight: float = 1.0
    content_tap: str = TRAIN_CONTENT  # cli.ContentTap: relu2_2 (Johnson) holds every edge in place, relu4_2 (Gatys) the shapes
    style_tap_weights: tuple[float, ...] = (1.0, 1.0, 1.0, 1.0)  # relu1_1..relu4_1, a weighted mean
    tv_weight: float = 1e-4
    colour_weight: float = 0.0  # losses.colour_error: each region keeps the photo's hue
    colour_shading: float = 0.0  # and, at this share, which regions are darker or lighter
    lr: float = 1e-3  # cosine-decayed to lr / 20
    lr_ramp: int = 100  # with init: steps over which the rate ramps up from lr / 100 (learning_rate)
    warmup_steps: int = 200  # from scratch: learn to reproduce the photo first (no VGG, seconds)
    precision: str = "auto"
    init: str | None = None
    init_mix: str | None = None  # from a multi-style network: the mix of its styles nearest the painting (fitted)
    tune: str = "all"  # "norms": only the instance norms' scales and shifts train, the convolutions stay
    width: int = 16
    blocks: int = 5
    arch: str = "full"
    stability_weight: float = 5e-4  # about 5 % of the relative losses' total, as 0.02 was of the old scale
    seed: int = 0
    checkpoint_every: int = 500
    preview_every: int = 200
    device: str = "auto"
    vgg: str | None = None


RECIPE = "relative-gram-v3"  # the loss scaling and schedule the model card's figures refer to (v3: the --init ramp)


def small_crop(settings: TrainSettings) -> int:
    return min(settings.small_size or settings.image_size, settings.image_size)


def finish_start(settings: TrainSettings) -> int:
    """First step at full crop size (the stability term trains from there): 0 when there is no small phase."""
    if small_crop(settings) == settings.image_size:
        return 0
    return settings.steps - max(1, round(settings.steps * settings.finish_fraction))


def crop_schedule(settings: TrainSettings) -> Callable[[int], int]:
    """Small crops for most steps, the full size for the last `finish_fraction` (at least one step)."""
    small, finish_from = small_crop(settings), finish_start(settings)
    return lambda step: small if step < finish_from else settings.image_size


def learning_rate(settings: TrainSettings, step: int) -> float:
    """Cosine decay from lr to lr / 20: fast early progress, then the fine detail settles.

    A fine-tune (init) first ramps up from lr / 100 over lr_ramp steps: Adam's first steps have full size
    whatever the gradient, and at lr 1e-3 forty of them took the shipped the_scream's judged style loss
    from 213 to 291, which hundreds of steps then spent winning back."""
    t = min(step / max(1, settings.steps), 1.0)
    floor = settings.lr / 20
    rate = floor + (settings.lr - floor) * 0.5 * (1 + math.cos(math.pi * t))
    ramp = settings.lr_ramp if settings.init else 0  # distill's settings have both too
    return rate * min(1.0, 0.01 + 0.99 * step / ramp) if ramp else rate


def pick_device(choice: str) -> torch.device:
    """auto -> CUDA when torch can use it, else CPU; asking for CUDA without one is a user error."""
    if choice == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if choice == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda: PyTorch sees no CUDA GPU here; use --device cpu or auto")
    if choice not in ("cpu", "cuda"):
        raise UserError(f"--device {choice}: use auto, cpu or cuda")
    return torch.device(choice)


@dataclass
class Distributed:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def setup_distributed(device: torch.device) -> tuple[Distributed, torch.device]:
    """Join the process group torchrun describes through the environment; a no-op otherwise."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Distributed(), device
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        torch.cuda.set_device(local)
        device = torch.device("cuda", local)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return Distributed(rank, world, local), device


def _preview(model: TransformerNet, photo: torch.Tensor, path: Path) -> None:
    path.parent.mkdir(exist_ok=True)
    was_training = model.training
    model.eval()
    with torch.no_grad():
        out = model(photo)
    model.train(was_training)
    images.write_bgr(path, images.tensor_to_bgr(out))


PATH_SETTINGS = ("style_image", "teacher", "data", "out_dir", "vgg", "init")


def portable_settings(settings: Any) -> dict[str, Any]:
    """The settings (`train`'s or `distill`'s) with file names instead of this machine's paths: model cards
    travel."""
    values = asdict(settings)
    for key in PATH_SETTINGS:
        if values.get(key):
            values[key] = Path(values[key]).name
    return values


def card_facts(settings: Any, step: int, losses: dict[str, float], seconds: float, device: torch.device,
               precision: str, interrupted: bool) -> dict[str, Any]:
    """The model card's fields every trained network has (`train` and `distill` settings alike)."""
    return {
        "name": settings.name,
        "kind": KINDS[settings.arch],
        "arch": settings.arch,
        "width": settings.width,
        "residual_blocks": settings.blocks,
        "stability_weight": settings.stability_weight,
        "io": IO_CONVENTION,
        "steps": step,
        "interrupted": interrupted,
        "final_losses": losses,
        "train_seconds": round(seconds, 1),
        "device": str(device.type),
        "cpu": cpu_model() if device.type == "cpu" else None,
        "precision": precision,
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


def _card(settings: TrainSettings, style_sha: str, vgg_sha: str, step: int, losses: dict[str, float],
          seconds: float, world: int, device: torch.device, precision: str, interrupted: bool) -> dict[str, Any]:
    return {
        **card_facts(settings, step, losses, seconds, device, precision, interrupted),
        "style_image": Path(settings.style_image).name,
        "style_image_sha256": style_sha,
        "vgg19_sha256": vgg_sha,
        "processes": world,
        "recipe": RECIPE,
        "init": Path(settings.init).name if settings.init else None,
        "settings": portable_settings(settings),
    }


class RunningMean:
    """Exponential moving average of the loss parts, for the bar and the model card."""

    def __init__(self, beta: float = 0.9):
        self.beta, self.values = beta, {}  # type: ignore[var-annotated]

    def update(self, new: dict[str, float]) -> dict[str, float]:
        for k, v in new.items():
            self.values[k] = v if k not in self.values else self.beta * self.values[k] + (1 - self.beta) * v
        return dict(self.values)


def load_start(model: TransformerNet, optimizer: torch.optim.Optimizer, resume: str | None,
               init: str | None) -> tuple[int, dict[str, Any]]:
    """Weights (and, resuming, optimiser state and step) to start from, for `train` and `distill` alike.
    Returns the first step and the resumed run's config ({} for a new run)."""
    want = (model.arch, model.width, model.blocks)
    if resume:
        payload = checkpoint.load(resume)
        state, got, source = payload["model"], (payload.get("arch", "full"), payload["width"], payload["blocks"]), resume
    elif init:
        (state, got), source = checkpoint.initial_weights(init), init
    else:
        return 0, {}
    if not resume and got[0] == want[0] and got[2] == want[2] and want[1] > got[1] and want[1] % got[1] == 0:
        # A wider network from a trained narrow one: the same pictures at first, more capacity to improve.
        narrow = TransformerNet(int(got[1]), int(got[2]), str(got[0]))
        narrow.load_state_dict(state)
        state = widen(narrow, model.width).state_dict()
        progress.STDERR.print(f"{source}: widened from {got[1]} to {model.width} channels (draws the same pictures "
                              f"to start with; about {(model.width // got[1]) ** 2}x the work per frame)")
    elif tuple(got) != want:
        raise UserError(f"{source}: that network is arch {got[0]}, width {got[1]}, {got[2]} blocks; "
                        f"match it with --arch and --blocks, and --width (or a whole multiple of it, to widen)")
    model.load_state_dict(state)
    if resume:
        if payload["optimizer"]:
            optimizer.load_state_dict(payload["optimizer"])
        return int(payload["step"]), payload["config"]
    return 0, {}


def reconstruct(model: TransformerNet, source: BatchSource, steps: int, lr: float, device: torch.device,
                on_step: Callable[[int, float], None]) -> None:
    """Teach a fresh network to reproduce its input (pixel L1, no VGG: seconds on a CPU).

    Style training then starts from the photo instead of a grey smear, so the objects keep their own
    colours and shapes early, when a short CPU run would otherwise settle on the style's average palette.
    """
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    for step in range(steps):
        batch = source.batch(step).to(device).float().contiguous(memory_format=torch.channels_last)
        loss = (model(batch) - batch).abs().mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        on_step(step + 1, float(loss.detach()))


def _trial_pass(net: torch.nn.Module, loss_fn: PerceptualLoss, settings: TrainSettings,
                device: torch.device) -> Callable[[AbstractContextManager], None]:
    """One training step's forward and backward on a random batch of the first crop size, for timing;
    it leaves no gradient behind."""
    size = small_crop(settings)
    noise = torch.Generator(device).manual_seed(0)  # the run's own random stream stays untouched
    batch = torch.rand(settings.batch_size, 3, size, size, device=device, generator=noise) * 255
    batch = batch.contiguous(memory_format=torch.channels_last)

    def trial(context: AbstractContextManager) -> None:
        with context:
            total = loss_fn(net(batch), loss_fn.content_features(batch), batch).total
        total.backward()
        net.zero_grad(set_to_none=True)

    return trial


def tuned_parameters(model: TransformerNet, tune: str) -> list[torch.nn.Parameter]:
    """What the optimiser moves: every weight, or (tune "norms") the instance norms' scales and shifts only,
    the rest frozen: a style in a few KB on convolutions that already serve many."""
    if tune == "all":
        return list(model.parameters())
    norms = [m for m in model.modules() if isinstance(m, torch.nn.InstanceNorm2d)]
    model.requires_grad_(False)
    for m in norms:
        m.requires_grad_(True)
    return [p for m in norms for p in m.parameters()]


def start_from_nearest_mix(model: TransformerNet, settings: TrainSettings, loss_fn: PerceptualLoss,
                           photos: list[Path], device: torch.device) -> TrainSettings:
    """From a multi-style network, start at the blend of its styles nearest the painting (seconds)."""
    from realtime.training import multistyle, nearest_mix

    gallery = multistyle.read_any(checkpoint.multistyle_source(settings.init))
    sample = [images.bgr_to_tensor(images.resize_long_side(images.read_bgr(p), 160))[..., :112, :112]
              for p in photos[:2]]
    shares = nearest_mix.fit_mix(gallery.to(device), loss_fn, torch.cat(sample).to(device))
    start = multistyle.at_mix(gallery.cpu(), nearest_mix.weights_of(gallery, shares))
    model.load_state_dict(start.state_dict())
    mix = nearest_mix.describe(shares)
    progress.STDERR.print(f"starting from {Path(settings.init).stem} at {mix}: the blend of its styles nearest "
                          f"{Path(settings.style_image).name}", highlight=False)
    return replace(settings, init_mix=mix)


def check_outputs_spare_inputs(settings: TrainSettings, ckpt_path: Path) -> None:
    """The checkpoint, card and previews must not land on the style image or the --init network
    (--resume names NAME.ckpt on purpose: it continues there)."""
    inputs = [Path(settings.style_image)] + ([Path(settings.init)] if settings.init and Path(settings.init).is_file() else [])
    for written in (ckpt_path, ckpt_path.with_suffix(".json")):
        check_distinct(written, inputs, "--name or --out-dir")
    style = Path(settings.style_image).resolve()
    if style.parent == (ckpt_path.parent / "previews").resolve() and style.name.startswith(f"{settings.name}-"):
        raise UserError(f"{settings.style_image}: previews of this run would overwrite the style image; "
                        "choose another --name or --out-dir")


def train(settings: TrainSettings, resume: str | None = None, recipe: dict[str, Any] | None = None) -> Path:
    """Train, writing NAME.ckpt, NAME.json and previews into out_dir; return the checkpoint path.
    `recipe` (realtime.training.recipes.card_entry) goes into the model card as `train_recipe`."""
    device = pick_device(settings.device)
    ddp, device = setup_distributed(device)
    torch.manual_seed(settings.seed)
    out_dir = check_dir_creatable(Path(settings.out_dir)) if ddp.main else Path(settings.out_dir)
    ckpt_path = out_dir / f"{settings.name}.ckpt"
    check_outputs_spare_inputs(settings, ckpt_path)
    photos = find_photos(Path(settings.data))
    style_bgr = images.read_bgr(settings.style_image, "style image")
    style = images.bgr_to_tensor(images.resize_long_side(style_bgr, settings.style_size)).to(device)

    style_taps = TRAIN_STYLE
    vgg, vgg_file = load_features(style_taps + [settings.content_tap], settings.vgg)
    vgg = vgg.to(device).to(memory_format=torch.channels_last)  # oneDNN and cuDNN are faster on NHWC
    loss_fn = PerceptualLoss(vgg, style, style_taps, settings.content_tap, settings.content_weight,
                             settings.style_weight, settings.tv_weight, relative=True,
                             colour_weight=settings.colour_weight, colour_shading=settings.colour_shading,
                             tap_weights=list(settings.style_tap_weights)).to(device)
    model = TransformerNet(settings.width, settings.blocks, settings.arch).to(device)
    model = model.to(memory_format=torch.channels_last)
    stability = StabilityLoss() if settings.stability_weight > 0 else None
    optimizer = torch.optim.Adam(tuned_parameters(model, settings.tune), lr=settings.lr)
    start, resumed_config = load_start(model, optimizer, resume, settings.init)
    if settings.init and not resume and checkpoint.multistyle_source(settings.init) is not None:
        settings = start_from_nearest_mix(model, settings, loss_fn, photos, device)
    if ddp.main:  # every input has loaded: only now does the run leave a folder behind
        check_writable_dir(out_dir)
    net: torch.nn.Module = model
    if ddp.world > 1:
        net = torch.nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    earlier = resumed_config.get("precision_used")
    if settings.precision == "auto" and earlier:  # a resumed run keeps its precision: it continues exactly
        precision, why = earlier, f"{earlier}, as the run it continues"
    else:
        precision, why = pick_precision(settings.precision, device, _trial_pass(model, loss_fn, settings, device))
    amp = autocast(precision, device)
    crop_size, finish_from = crop_schedule(settings), finish_start(settings)

    workers = 4 if device.type == "cuda" else 2
    source = BatchSource(photos, crop_size, settings.batch_size, settings.seed, ddp.rank, workers=workers,
                         photo_size=settings.photo_size)
    preview_photo = images.bgr_to_tensor(images.resize_long_side(images.read_bgr(photos[0]), settings.image_size)).to(device)
    config = {**asdict(settings), "precision_used": precision}
    style_sha = file_digest(Path(settings.style_image), "sha256")
    mean = RunningMean()
    losses: dict[str, float] = {}
    step = start
    t0 = time.time()
    interrupted = False
    if ddp.main:
        crops = (f"crops {settings.image_size} px" if finish_from == 0 else
                 f"crops {small_crop(settings)} px, then {settings.image_size} px from step {finish_from}")
        progress.STDERR.print(f"training {settings.name} on {device.type}: {why}; {crops}", highlight=False)

    def write() -> None:
        if not ddp.main:
            return
        checkpoint.save(ckpt_path, model, optimizer, step, config, losses)
        card = _card(settings, style_sha, vgg_file.sha256, step, losses, time.time() - t0, ddp.world, device,
                     precision, interrupted)
        if recipe:
            card["train_recipe"] = recipe
        with atomic_path(out_dir / f"{settings.name}.json") as tmp:
            tmp.write_text(json.dumps(card, indent=2))

    columns = (TextColumn("{task.fields[losses]}"), TextColumn("{task.fields[rate]}"))
    bar = progress.bar(*columns, disable=not ddp.main)
    log_every = max(1, settings.steps // 20)  # plain lines when stderr is a log file, not a terminal
    model.train()
    try:
        with bar:
            if start == 0 and not resume and not settings.init and settings.warmup_steps > 0:
                warm = bar.add_task("reproduce the photo", total=settings.warmup_steps, losses="", rate="")
                warm_source = BatchSource(photos, crop_schedule(settings), settings.batch_size, settings.seed + 7919,
                                          ddp.rank, workers=workers, photo_size=settings.photo_size)
                try:
                    reconstruct(model, warm_source, settings.warmup_steps, settings.lr, device,
                                lambda k, l1: bar.update(warm, completed=k, losses=f"L1 {l1:.1f}"))
                finally:
                    warm_source.close()
            task = bar.add_task(f"train {settings.name}", total=settings.steps, completed=start, losses="", rate="")
            tick = time.time()
            while step < settings.steps:
                for group in optimizer.param_groups:
                    group["lr"] = learning_rate(settings, step)
                batch = source.batch(step).to(device, non_blocking=True).float()
                batch = batch.contiguous(memory_format=torch.channels_last)
                steady = stability is not None and step >= finish_from
                with amp:
                    content_feats = loss_fn.content_features(batch)
                    if not steady:
                        out = net(batch)
                    else:  # the moved copy rides in the same batch (instance norm is per image)
                        gen = torch.Generator().manual_seed(settings.seed * 1_000_003 + ddp.rank * 65_537 + step)
                        moved, theta = stability.perturb(batch, gen)
                        out, out_moved = net(torch.cat([batch, moved])).chunk(2)
                    parts = loss_fn(out, content_feats, batch)
                    total, values = parts.total, parts.as_floats()
                    if steady:
                        stab = stability(out, out_moved, theta)
                        total = total + settings.stability_weight * stab
                        values.update(stab=float(stab.detach()), total=float(total.detach()))
                optimizer.zero_grad(set_to_none=True)
                total.backward()
                optimizer.step()
                step += 1
                losses = mean.update(values)
                now = time.time()
                rate = 1.0 / max(now - tick, 1e-9)
                tick = now
                summary = f"style {losses['style']:.3f} content {losses['content']:.3f} tv {losses['tv']:.1f}"
                if "colour" in losses:
                    summary += f" colour {losses['colour']:.3f}"
                if "stab" in losses:
                    summary += f" stab {losses['stab']:.1f}"
                bar.update(task, completed=step, rate=f"{rate:.2f} it/s", losses=summary)
                if ddp.main and not bar.console.is_terminal and step % log_every == 0:
                    bar.console.print(f"step {step}/{settings.steps}  {summary}  {rate:.2f} it/s", highlight=False)
                if ddp.main and settings.preview_every and step % settings.preview_every == 0:
                    _preview(model, preview_photo, out_dir / "previews" / f"{settings.name}-{step:06d}.png")
                if settings.checkpoint_every and step % settings.checkpoint_every == 0 and step < settings.steps:
                    write()
    except KeyboardInterrupt:
        interrupted = True
        write()
        if ddp.main:
            progress.STDERR.print(f"interrupted at step {step}: checkpoint saved to {ckpt_path}; "
                                  f"continue with --resume {ckpt_path}")
        raise
    finally:
        source.close()
    write()
    if ddp.world > 1:
        dist.barrier()
        dist.destroy_process_group()
    return ckpt_path


def mean_losses(stylise, photos: list[Path], loss_fn: PerceptualLoss, size: int) -> dict[str, float]:
    """Mean style and content loss of `stylise(tensor) -> tensor` over photos (long side `size`)."""
    totals = {"style": 0.0, "content": 0.0}
    for path in photos:
        x = images.bgr_to_tensor(images.resize_long_side(images.read_bgr(path), size))
        with torch.no_grad():
            y = stylise(x).clamp(0, 255)
            feats = loss_fn.vgg(y)
            totals["style"] += float(loss_fn.style_loss_of(feats))
            totals["content"] += float(loss_fn.content_loss_of(feats, loss_fn.content_features(x)))
    return {k: v / len(photos) for k, v in totals.items()}

