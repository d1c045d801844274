"""`realtime evaluate`: losses on real photos, warping error on real clips, scene cuts, contact sheet."""

from __future__ import annotations

import itertools
import json

import numpy as np

from realtime import evaluate as ev, images
from tests.conftest import ANCHORS, EVAL, STYLES, VIDEO
from tests.helpers import cli


def test_warping_error_is_zero_for_the_input_itself_and_higher_for_noise(shared):
    frames = list(ev.read_frames(VIDEO / "office.mp4", max_frames=12, long_side=320))
    same = ev.temporal(frames, lambda f: f)
    assert same.pairs == 11 and same.skipped_cuts == 0
    assert abs(same.warping_error - same.input_warping_error) < 1e-9
    rng = np.random.default_rng(0)
    noisy = ev.temporal(frames, lambda f: np.clip(f + rng.normal(0, 20, f.shape), 0, 255).astype(np.uint8))
    assert noisy.warping_error > 5 * same.warping_error


def test_scene_cuts_are_skipped_not_averaged(shared):
    a = list(ev.read_frames(VIDEO / "office.mp4", max_frames=6, long_side=320))
    b = [f[:, : a[0].shape[1]] for f in ev.read_frames(VIDEO / "fox.mp4", max_frames=6, long_side=320)]
    b = [np.ascontiguousarray(np.resize(f, a[0].shape)) for f in b]
    result = ev.temporal(itertools.chain(a, b), lambda f: f)
    assert result.skipped_cuts >= 1
    assert result.pairs + result.skipped_cuts == 11


def test_evaluate_command_tables_anchor_and_ours(tiny_onnx, tmp_path, shared):
    out, sheet = tmp_path / "eval.json", tmp_path / "sheet.png"
    photos = tmp_path / "photos"
    photos.mkdir()
    for p in sorted(EVAL.glob("*.jpg"))[:3]:
        (photos / p.name).write_bytes(p.read_bytes())
    result = cli("evaluate", ANCHORS / "pytorch_examples_nc16_mosaic.onnx", tiny_onnx, "--style-image",
                 STYLES / "mosaic.jpg", "--photos", photos, "--size", 128, "--clip", VIDEO / "traffic.mp4",
                 "--max-frames", 8, "--clip-size", 320, "--json", out, "--sheet", sheet, "--device", "cpu")
    assert result.code == 0, result.stderr
    data = json.loads(out.read_text())
    losses = data["photos"]["losses"]
    assert losses["photo"]["content"] == 0
    # The anchor is a trained mosaic network: closer to the painting's Gram statistics than the photos are.
    assert losses["pytorch_examples_nc16_mosaic"]["style"] < losses["photo"]["style"]
    clip = data["clip"]["results"]
    for name in ("pytorch_examples_nc16_mosaic", "tiny"):
        assert clip[name]["warping_error"] > 0 and clip[name]["input_warping_error"] > 0 and clip[name]["fps"] > 0
    # A per-frame style network adds texture that shimmers: more temporal error than the input itself.
    anchor = clip["pytorch_examples_nc16_mosaic"]
    assert anchor["warping_error"] > anchor["input_warping_error"]
    grid = images.read_bgr(sheet)
    assert grid.shape[1] == 3 * 256 and grid.shape[0] == 28 + 3 * 256
