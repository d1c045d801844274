"""`realtime evaluate`: losses on real photos, warping error on real video, scene cuts, contact sheet."""

from __future__ import annotations

import itertools
import json

import cv2
import numpy as np

from realtime.tools import evaluate as ev
from realtime.media import images
from realtime.samples import BUNNY
from tests.conftest import PHOTOS, REPO, STYLE
from tests.helpers import cli

TRAINED = REPO / "models" / "starry_night.onnx"


def test_warping_error_is_zero_for_the_input_itself_and_higher_for_noise():
    frames = list(ev.read_frames(BUNNY, max_frames=12, long_side=320))
    same = ev.temporal(frames, lambda f: f)
    assert same.pairs == 11 and same.skipped_cuts == 0
    assert abs(same.warping_error - same.input_warping_error) < 1e-9
    rng = np.random.default_rng(0)
    noisy = ev.temporal(frames, lambda f: np.clip(f + rng.normal(0, 20, f.shape), 0, 255).astype(np.uint8))
    assert noisy.warping_error > 5 * same.warping_error


def test_scene_cuts_are_skipped_not_averaged():
    """Six frames of the sample, then six of another scene (a Kodak photo panned across, as a camera would)."""
    a = list(ev.read_frames(BUNNY, max_frames=6, long_side=320))
    h, w = a[0].shape[:2]
    photo = cv2.resize(images.read_bgr(PHOTOS / "kodim13.jpg"), (w + 30, h + 30), interpolation=cv2.INTER_AREA)
    b = [np.ascontiguousarray(photo[3 * k:3 * k + h, 5 * k:5 * k + w]) for k in range(6)]
    result = ev.temporal(itertools.chain(a, b), lambda f: f)
    assert result.skipped_cuts >= 1
    assert result.pairs + result.skipped_cuts == 11


def test_evaluate_command_tables_a_trained_network_and_ours(tiny_onnx, tmp_path):
    """The shipped Starry Night network (trained on the same painting as tests/data/starry_night.jpg) beside
    the tiny one, on three photos and the bundled clip."""
    out, sheet = tmp_path / "eval.json", tmp_path / "sheet.png"
    photos = tmp_path / "photos"
    photos.mkdir()
    for p in sorted(PHOTOS.glob("*.jpg"))[:3]:
        (photos / p.name).write_bytes(p.read_bytes())
    result = cli("evaluate", TRAINED, tiny_onnx, "--style-image", STYLE, "--photos", photos, "--size", 128,
                 "--clip", BUNNY, "--max-frames", 8, "--clip-size", 320, "--json", out, "--sheet", sheet,
                 "--device", "cpu")
    assert result.code == 0, result.stderr
    data = json.loads(out.read_text())
    losses = data["photos"]["losses"]
    assert losses["photo"]["content"] == 0
    # A trained Starry Night network: closer to the painting's Gram statistics than the photos are.
    assert losses["starry_night"]["style"] < losses["photo"]["style"]
    clip = data["clip"]["results"]
    for name in ("starry_night", "tiny"):
        assert clip[name]["warping_error"] > 0 and clip[name]["input_warping_error"] > 0 and clip[name]["fps"] > 0
    # A per-frame style network adds texture that shimmers: more temporal error than the input itself.
    trained = clip["starry_night"]
    assert trained["warping_error"] > trained["input_warping_error"]
    grid = images.read_bgr(sheet)
    assert grid.shape[1] == 3 * 256 and grid.shape[0] == 28 + 3 * 256



def test_two_networks_of_the_same_name_are_both_measured(tiny_onnx, tmp_path):
    """A new the_scream.onnx beside the shipped the_scream.onnx: both rows, told apart by their folders
    (they were one row, the second silently replacing the first)."""
    newer = tmp_path / "trial" / tiny_onnx.name
    newer.parent.mkdir()
    newer.write_bytes(tiny_onnx.read_bytes())
    out = tmp_path / "eval.json"
    result = cli("evaluate", tiny_onnx, newer, "--clip", BUNNY, "--max-frames", 3, "--clip-size", 160,
                 "--json", out, "--device", "cpu")
    assert result.code == 0, result.stderr
    models = json.loads(out.read_text())["models"]
    assert sorted(models.values()) == sorted([str(tiny_onnx), str(newer)])
    assert f"trial/{tiny_onnx.stem}" in models
    twice = cli("evaluate", tiny_onnx, tiny_onnx, "--clip", BUNNY, "--device", "cpu")
    assert twice.code != 0 and "given twice" in twice.stderr
