"""Flicker and edges on real video (the bundled sample; the border checks on ../shared's clips): `--stabilize`, the stability training term, border rows."""

from __future__ import annotations

import itertools

import cv2
import numpy as np
import pytest
import torch

from realtime.tools import evaluate as ev
from realtime.engine import Engine
from realtime.training.stability import Perturbation, StabilityLoss, move, random_affine
from realtime.engine.stabilize import Stabilizer
from realtime.training.transformer import TransformerNet
from realtime.catalog.registry import lite_variant, list_styles, resolve
from realtime.samples import BUNNY
from tests.conftest import PHOTOS, REPO, STYLE, VIDEO
from tests.helpers import assert_clean_error, cli

CLIPS = ("office.mp4", "traffic.mp4", "fox.mp4", "crowd.avi")


@pytest.fixture(scope="module")
def mosaic() -> Engine:
    """The shipped style: flicker is a property of a trained network, not of a random one."""
    return Engine(resolve("mosaic"), device="cpu")


def photo_scene(photo: str, like: np.ndarray) -> np.ndarray:
    """A Kodak photo cut to a frame's aspect and size: another scene, for a cut."""
    img = cv2.imread(str(PHOTOS / photo))
    h = img.shape[1] * like.shape[0] // like.shape[1]
    top = (img.shape[0] - h) // 2
    return cv2.resize(img[top:top + h], (like.shape[1], like.shape[0]), interpolation=cv2.INTER_AREA)


def test_stabilize_cuts_the_warping_error_on_real_clips(mosaic):
    """Two stretches of the bundled sample: the slow start, and the fastest motion (around frame 40)."""
    clip = list(ev.read_frames(BUNNY, max_frames=50, long_side=320))
    for start in (0, 35):
        frames = clip[start:start + 10]
        results = ev.temporal_variants(frames, mosaic, {"steady": Stabilizer(0.7)})
        plain, steady = results["per-frame"], results["steady"]
        assert plain.pairs == steady.pairs == 9 and plain.skipped_cuts == 0
        assert steady.warping_error < 0.6 * plain.warping_error, start  # the issue asks for a 25 % cut
        assert steady.warping_error > plain.input_warping_error  # but it does not pretend to beat the input
        assert 0 < steady.post_ms < 1000 / plain.fps  # cheaper than the inference it follows


def test_stabilize_keeps_the_style_and_never_blends_across_a_cut(mosaic):
    a = list(ev.read_frames(BUNNY, max_frames=5, long_side=320))
    b = [photo_scene("kodim13.jpg", a[0])] * 2  # the cut: a different scene, held for two frames
    stab = Stabilizer(0.9)
    outs, raw = [], []
    for frame in itertools.chain(a, b):
        raw.append(mosaic(frame))
        outs.append(stab(frame, raw[-1]))
    assert np.array_equal(outs[0], raw[0])  # nothing to blend with yet
    # Still the stylised frame (not the photo, not a blur): close to this frame's own output.
    for out, own, photo in zip(outs[1:5], raw[1:5], a[1:5]):
        assert np.abs(out.astype(int) - own).mean() < 0.5 * np.abs(out.astype(int) - photo).mean()
    # Right after the cut next to nothing of the old scene shows through: under a tenth of the difference
    # between the two scenes' outputs (a blend across the cut shows about 0.9 of it; an earlier mosaic
    # left 4.1 grey levels where the scenes differ by about 60).
    assert np.abs(outs[5].astype(int) - raw[5]).mean() < 0.1 * np.abs(raw[4].astype(int) - raw[5]).mean()


def test_stabilize_off_is_the_identity_and_bad_amounts_are_refused(mosaic):
    frames = list(ev.read_frames(BUNNY, max_frames=3, long_side=160))
    off = Stabilizer(0.0)
    assert all(np.array_equal(off(f, mosaic(f)), mosaic(f)) for f in frames)
    for bad in ("1.5", "-0.1"):
        assert_clean_error(cli("video", str(BUNNY), "-o", "x.mp4", "--style", "mosaic",
                               "--stabilize", bad), "--stabilize")


def test_video_stabilize_writes_every_frame(tmp_path):
    out = tmp_path / "steady.mp4"
    result = cli("video", str(BUNNY), "-o", str(out), "--style", "mosaic", "--stabilize", "0.7",
                 "--scale", "0.25", "--size", "320", "--preset", "ultrafast", "--device", "cpu", timeout=600)
    assert result.code == 0, result.stderr
    frames = list(ev.read_frames(out))
    assert len(frames) == 132 and frames[0].shape == (180, 320, 3)


def test_webcam_t_key_toggles_steady(tmp_path):
    from tests.test_webcam import ListCapture, ScriptedDisplay, make_styles, source_frames
    from realtime.live import LiveLoop, LiveOptions
    from tests.test_webcam import StyleEntry

    frames = source_frames(8, (160, 90))
    messages: list[str] = []
    loop = LiveLoop(ListCapture(frames), make_styles([StyleEntry("mosaic", resolve("mosaic"))], messages),
                    ScriptedDisplay({2: "t", 5: "t", 7: "q"}), LiveOptions(snapshot_dir=tmp_path), messages.append)
    loop.run()
    assert "steady on (0.70)" in messages and "steady off" in messages and not loop.steady


# -- the stability training term ---------------------------------------------------------------------
def test_perturbation_is_a_small_similarity_and_the_identity_is_stable():
    gen = torch.Generator().manual_seed(0)
    theta = random_affine(64, 120, 200, Perturbation(), gen)
    assert theta.shape == (64, 2, 3)
    # a unit move at zero: no rotation, scale 1, no shift leaves the image as it is
    x = torch.rand(1, 3, 40, 60, generator=torch.Generator().manual_seed(0)) * 255
    ident = torch.tensor([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]])
    assert float((move(x, ident) - x).abs().max()) < 1e-3
    # f = identity is perfectly stable: its loss is the added noise alone (sigma 3 -> about 9)
    loss = StabilityLoss()
    batch = torch.rand(4, 3, 96, 96) * 255
    moved, theta = loss.perturb(batch, torch.Generator().manual_seed(1))
    floor = float(loss(batch, moved, theta))
    assert 6 < floor < 12
    # a network that reacts to noise far more than to content is penalised far above that
    net = TransformerNet(8).eval()
    with torch.no_grad():
        assert float(loss(net(batch), net(moved), theta)) > 5 * floor


def test_training_with_the_stability_term_records_it(tmp_path, vgg_weights):
    from realtime.training.train import TrainSettings, train

    settings = TrainSettings(style_image=str(STYLE), data=str(PHOTOS),
                             name="steady", out_dir=str(tmp_path), steps=2, batch_size=2, image_size=64,
                             style_size=64, width=8, stability_weight=0.5, preview_every=0, checkpoint_every=0,
                             device="cpu")
    ckpt = train(settings)
    import json

    card = json.loads(ckpt.with_suffix(".json").read_text())
    assert card["stability_weight"] == 0.5 and card["final_losses"]["stab"] > 0
    assert card["final_losses"]["total"] > card["final_losses"]["content"]


# -- edges ----------------------------------------------------------------------------------------------
MARGIN = 32
# Grey levels per row below which a border band counts as flat. The smeared band that held a mosaic back
# replaced 17-24 (caught at 8 as at 5: test_the_border_check_sees_a_smeared_band). At 5, faint lead lines
# (5-6 levels a row) that the retrained mosaic and its copies draw in a flat sky in the whole frame, but not
# within 4 px of a crop's edge, read as a smear: the teacher at 0.064, two copies at 0.039 and 0.040
# (traffic.mp4, left, --scale 0.37), with no band to be seen when the two crops are put side by side at 4x.
TEXTURED = 8.0
# Rows whose texture decides whether a band could show a smear: more than the 4 compared. One lead line that
# the whole frame draws across those 4 rows of a flat sky is not texture. At the same place (traffic.mp4,
# left, --scale 0.37) the shipped mosaic's crop and the multi-style network's mosaic both change 0.3 levels a
# row there; the whole frames change 6.6 and 10.0 over the 4 rows but 1.9 and 2.7 over the next 8, so over
# 4 rows alone the one passed and the other read as a smear, with no band to be seen side by side at 3x.
# The smeared band's whole frame changes 24.4 over the 4 and 13.6 over the next 8 (17.5 and 6.9 at 0.5).
CONTEXT_ROWS = 12


def border_bands(engine: Engine, frame: np.ndarray) -> list[tuple[float, float]]:
    """Per side (top, bottom, left, right): how the outer 4 rows of a stylised crop compare with the same
    pixels stylised as interior of the whole frame. (mean brightness difference, row-to-row change ratio):
    a dark border is a negative first number, a smeared one (rows repeating) a second number near 0.
    Where the interior itself is nearly flat (under TEXTURED grey levels per row over the outer CONTEXT_ROWS)
    no smear can be seen, and the ratio is reported as 1."""
    ref = engine(frame).astype(np.float32)[MARGIN:-MARGIN, MARGIN:-MARGIN].mean(axis=2)
    got = engine(np.ascontiguousarray(frame[MARGIN:-MARGIN, MARGIN:-MARGIN])).astype(np.float32).mean(axis=2)
    bands = []
    for turn in (lambda g: g, lambda g: g[::-1], lambda g: g.T, lambda g: g.T[::-1]):
        r, g = turn(ref), turn(got)
        change = lambda x, rows=4: float(np.abs(np.diff(x[:rows], axis=0)).mean())  # noqa: E731
        ratio = change(g) / change(r) if change(r, CONTEXT_ROWS) >= TEXTURED else 1.0
        bands.append((float(g[:4].mean() - r[:4].mean()), ratio))
    return bands


def clip_frame(clip: str) -> np.ndarray:
    return next(itertools.islice(ev.read_frames(VIDEO / clip, long_side=480), 5, None))


SHIPPED = [style.name for style in list_styles()]
SHIPPED += [lite.stem for lite in map(lite_variant, SHIPPED) if lite is not None]  # the CPU networks too


def border_tone(engine: Engine) -> tuple[float, float]:
    """(mean brightness shift of the outer rows over every clip and side, smallest row-to-row change ratio).

    A padding artefact shifts every border the same way, so the mean over 4 clips x 4 sides shows it
    (zero-padded networks: 9 to 23 grey levels); a bold style restyles single borders by +-10 to 30 levels
    either way when the context around them changes (the reflection-padded pytorch/examples anchors too),
    which averages out. A smeared band repeats its rows: a change ratio near 0."""
    bands = np.array([border_bands(engine, clip_frame(clip)) for clip in CLIPS])
    return float(bands[..., 0].mean()), float(bands[..., 1].min())


@pytest.mark.parametrize("style", SHIPPED)
def test_no_dark_or_smeared_borders_on_any_clip(style, shared):
    """Every shipped style, at the scales people run on a CPU (a smeared bright band once held a mosaic
    back). A heavy check: calibrated on the four real clips in ../shared (the bundled clip and the Kodak
    photos do not separate a zero-padded network from ours at --scale 0.37)."""
    for scale in (1.0, 0.5, 0.37):
        shift, change = border_tone(Engine(resolve(style), device="cpu", scale=scale))
        assert abs(shift) < 6, (style, scale, "borders shifted in tone", shift)
        assert change > 0.05, (style, scale, "smeared border", change)


def test_the_border_check_sees_a_zero_padded_network(shared):
    """The same check on anchors with zero padding (lengstrom's) finds their border shift at every scale;
    on the reflection-padded pytorch/examples anchors it finds none."""
    for scale in (1.0, 0.5, 0.37):
        assert abs(border_tone(Engine(shared / "anchors" / "lengstrom_wave.onnx", device="cpu", scale=scale))[0]) > 6
        assert abs(border_tone(Engine(shared / "anchors" / "lengstrom_udnie.onnx", device="cpu", scale=scale))[0]) > 6
    for anchor in ("candy", "udnie", "mosaic"):
        shift, change = border_tone(Engine(shared / "anchors" / f"pytorch_examples_nc16_{anchor}.onnx", device="cpu"))
        assert abs(shift) < 6 and change > 0.05, (anchor, shift, change)


def test_the_border_check_sees_a_smeared_band(shared):
    """An early mosaic network (tests/data) that draws a bright, smeared band at its left edge at --scale 0.5 and 0.37."""
    for scale in (0.5, 0.37):
        _, change = border_tone(Engine(REPO / "tests" / "data" / "smeared_border_mosaic.onnx", device="cpu", scale=scale))
        assert change < 0.05, (scale, change)
