"""Options shared by several commands, declared once, and the EngineOptions they build."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

ADVANCED = "Advanced"
ENGINE = "Engine"


class Device(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


class Net(str, Enum):
    auto = "auto"
    full = "full"
    lite = "lite"


class Precision(str, Enum):
    auto = "auto"
    fp32 = "fp32"
    bf16 = "bf16"


STABILIZE_HELP = "Less flicker: blend each frame with the previous output moved by optical flow, 0 (off) to 1."

# The commands that stylise (image, video, webcam).
STYLE_HELP = ("A style name (see `realtime styles`), a blend (mosaic:0.6,candy:0.4), a path to an .onnx file, "
              "or a painting: any image file (a.jpg:0.5,b.jpg:0.5 blends two).")
StyleOpt = Annotated[str, typer.Option(help=STYLE_HELP)]
RunDevice = Annotated[Device, typer.Option(help="auto: CUDA when onnxruntime can use it, else the CPU (said).",
                                            rich_help_panel=ENGINE)]
ScaleOpt = Annotated[float, typer.Option(help="Run the network at this fraction of the size (0.5 is about 4x faster).",
                                          rich_help_panel=ENGINE)]
Fp16Opt = Annotated[bool, typer.Option(help="Use the style's half-precision copy when there is one (GPUs).",
                                        rich_help_panel=ADVANCED)]
Int8Opt = Annotated[Optional[bool], typer.Option("--int8/--no-int8", show_default="auto", metavar="", rich_help_panel=ADVANCED, help=(
    "int8 copy or float. Neither (auto): on a CPU with VNNI or AMX, the style's int8 copy is made and timed against "
    "float once, and the faster runs (cached)."))]
NetOpt = Annotated[Net, typer.Option(help="auto: the style's CPU network (NAME-lite) on a CPU; full; lite.",
                                      rich_help_panel=ENGINE)]
StrengthOpt = Annotated[float, typer.Option(help="How much style, 0 (the photo) to 1 (full).")]
PreserveColorOpt = Annotated[bool, typer.Option("--preserve-color", help="Keep the input's colours; take the style's lightness only.")]
StabilizeOpt = Annotated[float, typer.Option(metavar="S", help=STABILIZE_HELP)]
TileOpt = Annotated[str, typer.Option(metavar="auto|off|PIXELS", rich_help_panel=ADVANCED, help=(
    "Frames above this many pixels (auto: 2.1 MP, so 1080p runs whole) run in overlapping tiles, in bounded memory."))]

# The training commands (train, distill).
DataOpt = Annotated[Optional[Path], typer.Option(help="Folder (searched recursively) of JPEG/PNG training photos, e.g. COCO train2014; train without it uses 8 public-domain sample photos.")]
NameOpt = Annotated[str, typer.Option(help="Network name: files are NAME.ckpt and NAME.json.")]
OutDirOpt = Annotated[Path, typer.Option(help="Where checkpoints, model card and previews go.")]
StepsOpt = Annotated[Optional[int], typer.Option(help="Training steps (batches); default: the recipe's.")]
BatchOpt = Annotated[int, typer.Option(help="Photos per batch (per process under torchrun).", rich_help_panel=ADVANCED)]
ResumeOpt = Annotated[Optional[Path], typer.Option(help="Continue from this checkpoint.")]
SeedOpt = Annotated[int, typer.Option(help="Seed for weights and crops.", rich_help_panel=ADVANCED)]
CheckpointEveryOpt = Annotated[int, typer.Option(help="Write a checkpoint every N steps.", rich_help_panel=ADVANCED)]
LrRampOpt = Annotated[Optional[int], typer.Option(help="With --init: steps over which the learning rate ramps up from a hundredth of --lr.",
                                                  rich_help_panel=ADVANCED)]
PrecisionOpt = Annotated[Precision, typer.Option(help="auto: bf16 where it is faster (CUDA; CPUs with AVX512-BF16 or AMX, timed at the start), else fp32.",
                                                 rich_help_panel=ADVANCED)]
TrainDevice = Annotated[Device, typer.Option(help="auto: CUDA when PyTorch sees a GPU.", rich_help_panel=ADVANCED)]
VggOpt = Annotated[Optional[Path], typer.Option(help="Local VGG19 weights (.h5 or converted .pt); also REALTIME_VGG.",
                                                rich_help_panel=ADVANCED)]


def engine_options(device: Device = Device.auto, net: Net = Net.auto, fp16: bool = False, int8: bool | None = None,
                   scale: float = 1.0, strength: float = 1.0, preserve_color: bool = False, tile: str = "auto",
                   stabilize: float = 0.0):
    """The shared options as the engine's one options object (realtime.engine.build)."""
    from realtime.engine.build import EngineOptions
    from realtime.engine.tiling import parse_tile

    return EngineOptions(device=device.value, net=net.value, fp16=fp16, int8=int8, scale=scale, strength=strength,
                         preserve_color=preserve_color, tile=parse_tile(tile), stabilize=stabilize).checked()
