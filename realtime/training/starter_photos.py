"""Photos to train on when the user brings none: scikit-image's sample photos, public domain and CC0.

`realtime train PAINTING.jpg` without `--data` learns from these eight. They travel inside the
scikit-image wheel on PyPI, so they are fetched as the other outside data is (realtime.fetch): the pinned
wheel for one platform (the files are the same in every wheel), its sha256 checked, each photo's too;
only the photos are kept, under cache_dir()/photos, with where each comes from and its licence.
A folder of a few hundred photos of one's own (--data) still gives the better network.
"""

from __future__ import annotations

import json
import tempfile
import zipfile
from pathlib import Path
from typing import Callable

from realtime.errors import UserError
from realtime.fetch import PinnedWheel, pinned_wheel, sha256
from realtime.files import atomic_path
from realtime.machine import cache_dir

WHEEL = PinnedWheel(
    "scikit-image==0.26.0", "scikit_image-0.26.0-cp311-cp311-manylinux_2_24_x86_64.manylinux_2_28_x86_64.whl",
    "74aa5518ccea28121f57a95374581d3b979839adc25bb03f289b1bc9b99c58af", "REALTIME_STARTER_PHOTOS",
    "the starter photos", platform=("manylinux_2_28_x86_64", "3.11"))
PHOTOS = {  # file in skimage/data/: sha256, what it shows, its author and licence (from scikit-image's notes)
    "astronaut.png": ("88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5",
                      "Eileen Collins, astronaut; NASA", "public domain"),
    "chelsea.png": ("596aa1e7cb875eb79f437e310381d26b338a81c2da23439704a73c4651e8c4bb",
                    "a cat; Stefan van der Walt", "CC0"),
    "coffee.png": ("cc02f8ca188b167c775a7101b5d767d1e71792cf762c33d6fa15a4599b5a8de7",
                   "a cup of coffee; Rachel Michetti", "CC0"),
    "rocket.jpg": ("c2dd0de7c538df8d111e479619b129464d0269d0ae5fd18ca91d33a7fdfea95c",
                   "a Falcon 9 launch; SpaceX", "public domain"),
    "camera.png": ("b0793d2adda0fa6ae899c03989482bff9a42d3d5690fc7e3648f2795d730c23a",
                   "a photographer (greyscale); Lav Varshney", "CC0"),
    "brick.png": ("7966caf324f6ba843118d98f7a07746d22f6a343430add0233eca5f6eaaa8fcf",
                  "a brick wall (greyscale); CC0Textures", "CC0"),
    "grass.png": ("b6b6022426b38936c43a4ac09635cd78af074e90f42ffa8227ac8b7452d39f89",
                  "grass (greyscale); CC0Textures", "CC0"),
    "gravel.png": ("c48615b451bf1e606fbd72c0aa9f8cc0f068ab7111ef7d93bb9b0f2586440c12",
                   "gravel (greyscale); CC0Textures", "CC0"),
}
SOURCES = "sources.json"
CREDIT = "8 public-domain and CC0 sample photos from scikit-image 0.26.0"


def folder() -> Path:
    return cache_dir() / "photos" / "skimage-0.26.0"


def cached() -> Path | None:
    """The folder if every photo is there unchanged, else None (they are then fetched again)."""
    where = folder()
    try:
        ok = (where / SOURCES).is_file() and all(sha256((where / name).read_bytes()) == digest
                                                 for name, (digest, _, _) in PHOTOS.items())
    except OSError:
        return None
    return where if ok else None


def ensure(notify: Callable[[str], None] = lambda msg: None) -> Path:
    """The photo folder, fetched and checked the first time (a 14 MB wheel, 2.7 MB of photos kept)."""
    where = cached()
    if where is not None:
        return where
    notify(f"fetching the starter photos once: {CREDIT}, through pip ({WHEEL.package})")
    with tempfile.TemporaryDirectory(prefix="realtime-photos-") as tmp:
        wheel = pinned_wheel(WHEEL, Path(tmp))
        with zipfile.ZipFile(wheel) as archive:
            data = {name: archive.read(f"skimage/data/{name}") for name in PHOTOS}
    for name, (digest, _, _) in PHOTOS.items():
        if sha256(data[name]) != digest:
            raise UserError(f"{wheel.name}: {name} is not the photo it should be; retry, or set {WHEEL.env_var}")
    where = folder()
    where.mkdir(parents=True, exist_ok=True)
    for name, payload in data.items():
        with atomic_path(where / name) as tmp_path:
            tmp_path.write_bytes(payload)
    meta = {"source": WHEEL.package, "wheel_sha256": WHEEL.sha256,
            "photos": {name: {"sha256": d, "shows": shows, "licence": licence} for name, (d, shows, licence) in PHOTOS.items()}}
    with atomic_path(where / SOURCES) as tmp_path:  # last: its presence marks a complete cache
        tmp_path.write_text(json.dumps(meta, indent=2))
    return where
