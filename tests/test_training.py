"""Fast CPU training: precision choice, crop and learning-rate schedule, the relative losses, --init."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
import torch

from helpers import assert_clean_error, cli, fine_tune
from conftest import PHOTOS, REPO, STYLE


def test_precision_auto_follows_the_cpu():
    from realtime.errors import UserError
    from realtime.training.precision import cpu_has_native_bf16, pick_precision

    cpu = torch.device("cpu")
    precision, why = pick_precision("auto", cpu)
    assert precision == ("bf16" if cpu_has_native_bf16() else "fp32"), why
    if cpu_has_native_bf16():  # with a trial, auto takes the faster of the two, and says it measured
        calls = []
        slow_bf16 = lambda context: (calls.append(type(context).__name__), time.sleep(0.03 if isinstance(context, torch.autocast) else 0.0))
        precision, why = pick_precision("auto", cpu, slow_bf16)
        assert precision == "fp32" and "measured" in why and "autocast" in calls
    else:
        assert pick_precision("auto", cpu, lambda context: None)[0] == "fp32"
    assert pick_precision("fp32", cpu)[0] == "fp32"
    forced, why = pick_precision("bf16", cpu)
    assert forced == "bf16" and (cpu_has_native_bf16() or "EMULATED" in why)
    with pytest.raises(UserError):
        pick_precision("fp8", cpu)


def test_crop_and_learning_rate_schedule():
    from realtime.training.train import TrainSettings, crop_schedule, learning_rate

    s = TrainSettings(style_image="s.jpg", data="d", name="n", steps=1000, image_size=256, small_size=128,
                      finish_fraction=0.1, lr=2e-3)
    sizes = [crop_schedule(s)(k) for k in range(s.steps)]
    assert sizes[:900] == [128] * 900 and sizes[900:] == [256] * 100
    rates = [learning_rate(s, k) for k in range(s.steps + 1)]
    assert rates[0] == pytest.approx(2e-3) and rates[-1] == pytest.approx(1e-4)
    assert all(a >= b for a, b in zip(rates, rates[1:]))
    tune = TrainSettings(style_image="s.jpg", data="d", name="n", steps=1000, lr=2e-3, init="mosaic", lr_ramp=100)
    ramped = [learning_rate(tune, k) for k in range(s.steps + 1)]
    assert ramped[0] == pytest.approx(2e-5) and all(a < b for a, b in zip(ramped[:100], ramped[1:101]))
    assert ramped[100:] == pytest.approx(rates[100:])  # after the ramp, the same cosine
    whole = TrainSettings(style_image="s.jpg", data="d", name="n", steps=10, image_size=64, small_size=None)
    assert {crop_schedule(whole)(k) for k in range(10)} == {64}


def test_vgg_stops_at_the_content_tap(vgg_weights):
    from realtime.training.losses import TRAIN_CONTENT, TRAIN_STYLE
    from realtime.training.vgg import load_features

    vgg, _ = load_features(TRAIN_STYLE + [TRAIN_CONTENT])
    x = torch.rand(1, 3, 64, 64) * 255
    with torch.no_grad():
        full, early = vgg(x), vgg(x, [TRAIN_CONTENT])
    assert set(early) == {TRAIN_CONTENT} and set(full) == set(TRAIN_STYLE) | {TRAIN_CONTENT}
    assert torch.equal(full[TRAIN_CONTENT], early[TRAIN_CONTENT])


def test_relative_losses_give_every_tap_a_say(vgg_weights):
    """Scaled the old way, relu4_1 outweighs relu1_1 by orders of magnitude; relative errors are comparable."""
    from realtime.media import images
    from realtime.training.losses import TRAIN_STYLE, gram, relative_error
    from realtime.training.vgg import load_features

    vgg, _ = load_features(TRAIN_STYLE)
    style = images.bgr_to_tensor(images.resize_long_side(images.read_bgr(STYLE), 256))
    photo = images.bgr_to_tensor(images.resize_long_side(images.read_bgr(PHOTOS / "kodim05.jpg"), 256))
    with torch.no_grad():
        fs, fp = vgg(style), vgg(photo)
    old = [float(torch.nn.functional.mse_loss(gram(fp[t]), gram(fs[t]))) * fs[t].shape[1] for t in TRAIN_STYLE]
    new = [float(relative_error(gram(fp[t]), gram(fs[t]))) for t in TRAIN_STYLE]
    assert max(old) / min(old) > 1000
    assert max(new) / min(new) < 5 and all(0 < v < 2 for v in new)
    assert float(relative_error(3 * gram(fp["relu1_1"]), 3 * gram(fs["relu1_1"]))) == pytest.approx(new[0], rel=1e-4)


def test_init_reads_a_shipped_style_back_exactly():
    """--init mosaic starts from the very network that ships: PyTorch with its weights matches onnxruntime."""
    import onnxruntime as ort

    from realtime.catalog import registry
    from realtime.training.checkpoint import network

    net = network("mosaic")
    x = torch.from_numpy(np.random.default_rng(0).uniform(0, 255, (1, 3, 96, 128)).astype(np.float32))
    with torch.no_grad():
        ours = net(x).clamp(0, 255).numpy()  # the export adds the final clip
    theirs = ort.InferenceSession(str(registry.resolve("mosaic")), providers=["CPUExecutionProvider"]).run(None, {"input": x.numpy()})[0]
    assert np.abs(ours - theirs).max() < 0.05


def test_train_init_fine_tunes_and_the_card_travels(tmp_path, vgg_weights):
    out = tmp_path / "out"
    result = fine_tune(out, "candy", 3)
    assert result.code == 0, result.stderr
    assert "fp32" in result.stderr or "bf16" in result.stderr  # it says which precision it runs
    ckpt = torch.load(out / "candy.ckpt", weights_only=True)
    assert ckpt["width"] == 16 and ckpt["step"] == 3  # the shape came from the shipped mosaic
    card = json.loads((out / "candy.json").read_text())
    assert card["init"] == "mosaic" and card["precision"] in ("fp32", "bf16") and card["recipe"]
    assert not any("/" in str(v) for v in card["settings"].values()), card["settings"]  # file names, no paths


def test_train_init_refuses_a_foreign_network(tmp_path, foreign_onnx):
    result = cli("train", "--recipe", "custom", STYLE, "--data", PHOTOS, "--name", "c", "--out-dir", tmp_path,
                 "--init", foreign_onnx, "--steps", 1)
    assert_clean_error(result, "--init")
    assert not list(tmp_path.iterdir())


def test_styles_sheet_shows_every_style_on_the_photo(tmp_path):
    from realtime.media import images
    from realtime.catalog import registry
    from realtime.tools.gallery import LABEL_HEIGHT

    photo = tmp_path / "photo.png"
    images.write_bgr(photo, np.tile(np.linspace(0, 255, 160, dtype=np.uint8)[None, :, None], (120, 1, 3)))
    sheet = tmp_path / "sheet.png"
    result = cli("styles", "--sheet", photo, "-o", sheet, "--size", 128)
    assert result.code == 0, result.stderr
    grid = images.read_bgr(sheet)
    tiles = 1 + len(registry.list_styles())
    columns = min(4, tiles)
    rows = -(-tiles // columns)
    assert grid.shape == (rows * (320 + LABEL_HEIGHT), columns * 320, 3)
    assert grid[:, 320:640].std() > 5  # the first style's tile holds a picture, not a blank
    assert_clean_error(cli("styles", "--sheet", photo, "-o", photo), "overwrite")
    assert_clean_error(cli("styles", "--sheet", photo), "-o")


def test_contrast_and_colourfulness_figures():
    from realtime.tools.evaluate import colourfulness, lightness_contrast

    grey = np.full((32, 32, 3), 128, np.uint8)
    halves = grey.copy()
    halves[:16], halves[16:] = 0, 255
    red = np.zeros_like(grey)
    red[..., 2] = 255
    assert lightness_contrast(grey) == pytest.approx(0, abs=1e-3)
    assert lightness_contrast(halves) == pytest.approx(50, abs=0.1)
    assert colourfulness(grey) == 0 and colourfulness(halves) == 0
    assert colourfulness(red) > 50


def test_colour_kept_tells_the_photo_s_own_colours_from_a_repainted_palette():
    """On a real photo: itself keeps all of its colour, a grey copy none, half the chroma half, opposite
    hues a negative share, and the same lightness repainted in one palette colour (a style's average) far
    less than the photo's own hues, though it is as colourful."""
    import cv2

    from realtime.media import images
    from realtime.tools.evaluate import colour_kept, colourfulness

    photo = images.resize_long_side(images.read_bgr(PHOTOS / "kodim05.jpg"), 256)
    lab = cv2.cvtColor(photo.astype(np.float32) / 255, cv2.COLOR_BGR2Lab)

    def from_lab(a_b_scale: float, fixed_chroma: tuple[float, float] | None = None) -> np.ndarray:
        out = lab.copy()
        if fixed_chroma is None:
            out[..., 1:] *= a_b_scale
        else:
            out[..., 1], out[..., 2] = fixed_chroma
        return (np.clip(cv2.cvtColor(out, cv2.COLOR_Lab2BGR), 0, 1) * 255).round().astype(np.uint8)

    grey = cv2.cvtColor(cv2.cvtColor(photo, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    assert colour_kept(photo, photo) == pytest.approx(1, abs=0.01)
    assert colour_kept(photo, grey) == pytest.approx(0, abs=0.05)
    assert colour_kept(photo, from_lab(0.5)) == pytest.approx(0.5, abs=0.06)
    assert colour_kept(photo, from_lab(-1)) < -0.7
    slate = from_lab(1, fixed_chroma=(-5.0, -25.0))
    assert colourfulness(slate) > 0.5 * colourfulness(photo)
    assert colour_kept(photo, slate) < 0.5
    assert colour_kept(photo, cv2.resize(photo, (200, 150))) > 0.9  # another size is compared at the photo's


def test_shading_kept_tells_the_photo_s_light_and_dark_from_a_new_one():
    """On a real photo: itself, brightened, or with fine dark lines drawn over it keeps its shading; in
    negative it is -1; a flat grey or a tiled pattern of the photo's own pixels keeps little."""
    import cv2

    from realtime.media import images
    from realtime.tools.evaluate import shading_kept

    photo = images.resize_long_side(images.read_bgr(PHOTOS / "kodim05.jpg"), 256)
    brighter = cv2.convertScaleAbs(photo, alpha=0.7, beta=70)
    lined = photo.copy()
    lined[::12] = 20  # a lead line every 12 rows, the kind a mosaic draws
    shuffled = np.roll(np.roll(photo, photo.shape[0] // 2, axis=0), photo.shape[1] // 2, axis=1)
    assert shading_kept(photo, photo) == pytest.approx(1, abs=1e-6)
    assert shading_kept(photo, brighter) > 0.95
    assert shading_kept(photo, lined) > 0.8
    assert shading_kept(photo, 255 - photo) < -0.95
    assert shading_kept(photo, np.full_like(photo, 128)) == 0
    assert abs(shading_kept(photo, shuffled)) < 0.5


def _per_tap_style_losses(taps: list[str]):
    """A relative-error PerceptualLoss over `taps` (weights -> loss), a photo's VGG features, and the style
    loss of that photo with each tap weighted alone."""
    from realtime.media import images
    from realtime.training.losses import PerceptualLoss
    from realtime.training.vgg import load_features

    vgg, _ = load_features(taps + ["relu2_2"])
    style = images.bgr_to_tensor(images.resize_long_side(images.read_bgr(STYLE), 128))
    photo = images.bgr_to_tensor(images.resize_long_side(images.read_bgr(sorted(PHOTOS.glob("*.jpg"))[0]), 128))
    loss = lambda w: PerceptualLoss(vgg, style, taps, "relu2_2", 1, 1, 0, relative=True, tap_weights=w)
    with torch.no_grad():
        fp = vgg(photo)
        alone = [[1.0 if i == k else 0.0 for i in range(len(taps))] for k in range(len(taps))]
        per_tap = [float(loss(w).style_loss_of(fp)) for w in alone]
    return loss, fp, per_tap


def _card_tap_weights(out, weights: str) -> list[float]:
    """One tiny training step with --style-tap-weights; the weights its card records."""
    result = cli("train", "--recipe", "custom", STYLE, "--data", PHOTOS, "--name", "t", "--out-dir", out, "--steps", 1, "--batch-size", 1,
                 "--image-size", 48, "--style-size", 64, "--width", 8, "--warmup-steps", 0, "--style-tap-weights", weights,
                 "--stability-weight", 0, "--preview-every", 0, "--device", "cpu")
    assert result.code == 0, result.stderr
    return json.loads((out / "t.json").read_text())["settings"]["style_tap_weights"]


def test_style_tap_weights_are_a_weighted_mean(tmp_path, vgg_weights):
    """--style-tap-weights: the style loss is the weighted mean of the taps' relative errors (0 drops a tap,
    equal weights give the plain mean), recorded in the card; a malformed list is one error line."""
    from realtime.training.losses import TRAIN_STYLE

    loss, fp, per_tap = _per_tap_style_losses(TRAIN_STYLE)
    assert len(set(round(v, 6) for v in per_tap)) == 4
    with torch.no_grad():
        assert float(loss(None).style_loss_of(fp)) == pytest.approx(sum(per_tap) / 4, rel=1e-5)
        assert float(loss([2, 2, 2, 2]).style_loss_of(fp)) == pytest.approx(sum(per_tap) / 4, rel=1e-5)
        assert float(loss([0, 0, 1, 3]).style_loss_of(fp)) == pytest.approx((per_tap[2] + 3 * per_tap[3]) / 4, rel=1e-5)
    with pytest.raises(ValueError):
        loss([1, 1, 1])
    out = tmp_path / "out"
    assert _card_tap_weights(out, "0,0.5,1,4") == [0, 0.5, 1, 4]
    for bad in ("1,1,1", "1,1,1,-1", "0,0,0,0", "a,b,c,d", "1,1,1,1,1,1"):
        assert_clean_error(cli("train", "--recipe", "custom", STYLE, "--data", PHOTOS, "--name", "t", "--out-dir", out,
                               "--style-tap-weights", bad), "--style-tap-weights")


def test_colour_term_measures_lost_hue_not_detail():
    """0 for the photo itself and for the photo with its fine detail repainted; about 1 for the photo in
    grey; above 1 for its colours swapped."""
    from realtime.media import images
    from realtime.training.losses import colour_error

    photo = images.bgr_to_tensor(images.resize_long_side(images.read_bgr(sorted(PHOTOS.glob("*.jpg"))[0]), 128))
    grey = photo.mean(dim=1, keepdim=True).expand_as(photo)
    detail = photo + 40 * torch.sign(torch.randn(1, 1, *photo.shape[2:], generator=torch.Generator().manual_seed(0)))
    assert float(colour_error(photo, photo)) == 0
    assert float(colour_error(detail, photo)) < 0.05  # the same grey-level noise on every channel: no hue change
    assert float(colour_error(grey, photo)) == pytest.approx(1.0, abs=0.05)
    assert float(colour_error(photo[:, [2, 0, 1]], photo)) > 1.2


def test_shading_share_measures_lost_light_and_dark_not_tone():
    """The shading share leaves the photo brightened as a whole alone and counts a photo whose dark and
    light regions swap (the same hues), which the chroma part alone cannot see."""
    from realtime.media import images
    from realtime.training.losses import colour_error

    photo = images.bgr_to_tensor(images.resize_long_side(images.read_bgr(sorted(PHOTOS.glob("*.jpg"))[0]), 128))
    brighter = (photo + 30).clamp(max=255)
    luma = (0.299 * photo[:, 0] + 0.587 * photo[:, 1] + 0.114 * photo[:, 2]).unsqueeze(1)
    swapped = photo + (255 - 2 * luma)  # lightness inverted, opponent chroma (channel differences) unchanged
    assert float(colour_error(swapped, photo)) < 0.05
    assert float(colour_error(swapped, photo, shading=1)) > 2
    assert float(colour_error(brighter, photo, shading=1)) < 0.1


def test_training_with_the_colour_term_records_it(tmp_path, vgg_weights):
    out = tmp_path / "out"
    result = cli("train", "--recipe", "custom", STYLE, "--data", PHOTOS, "--name", "c", "--out-dir", out, "--steps", 2, "--batch-size", 1,
                 "--image-size", 48, "--style-size", 64, "--width", 8, "--warmup-steps", 0, "--colour-weight", 2,
                 "--colour-shading", 1, "--stability-weight", 0, "--preview-every", 0, "--device", "cpu")
    assert result.code == 0, result.stderr
    card = json.loads((out / "c.json").read_text())
    assert card["settings"]["colour_weight"] == 2 and card["final_losses"]["colour"] > 0
    assert card["settings"]["colour_shading"] == 1
    assert_clean_error(cli("train", "--recipe", "custom", STYLE, "--data", PHOTOS, "--name", "c", "--out-dir", out, "--colour-weight", -1), "weight")
    assert_clean_error(cli("train", "--recipe", "custom", STYLE, "--data", PHOTOS, "--name", "c", "--out-dir", out, "--colour-shading", 1),
                       "--colour-weight")


def test_every_shipped_style_has_a_portable_card():
    """models/: each network has its card, trained by our code on a named CPU or GPU, with the recipe, the
    steps and seconds, the style image's author, and file names only (no paths of the training machine)."""
    from realtime.catalog import registry

    shipped = [s for s in registry.list_styles() if s.path.parent.resolve() == (REPO / "models").resolve()]
    assert {"mosaic", "candy"} <= {s.name for s in shipped}
    for network in [s for s in shipped if registry.held_styles(s.card)]:  # a multi-style network: its own lineage
        card, names = network.card, {s.name for s in shipped}
        assert set(card["styles"]) <= names and card["lineage"]["steps"] > 0 and card["lineage"]["cpu"], network.name
        assert card["lineage"]["distilled_from"] == [f"{s}.onnx" for s in card["styles"]], network.name
        assert "/tmp/" not in json.dumps(card) and "/work/" not in json.dumps(card), network.name
    for style in [s for s in shipped if not registry.held_styles(s.card)]:
        card = style.card
        assert card.get("style_image") == f"{style.name}.jpg", style.name
        assert card.get("steps", 0) > 0 and card.get("train_seconds", 0) > 0 and card.get("precision"), style.name
        assert card.get("style_author") and card.get("style_copyright"), style.name
        if card.get("device") == "cpu":
            assert card.get("cpu"), style.name
        text = json.dumps(card)
        assert "/tmp/" not in text and "/work/" not in text and "/home/" not in text, style.name


def test_every_shipped_cpu_network_copies_the_shipped_teacher():
    """`--net auto` shows NAME-lite on a CPU: its card's teacher hash must be the shipped NAME.onnx, or CPU
    users see a style the full network no longer draws. A retrained style ships with its re-distilled copy."""
    import hashlib

    lites = sorted((REPO / "models").glob("*-lite.onnx"))
    assert len(lites) >= 12
    for lite in lites:
        card = json.loads(lite.with_suffix(".json").read_text())
        teacher = REPO / "models" / card["teacher"]
        assert teacher.name == lite.name.replace("-lite", ""), lite.name
        assert card["teacher_sha256"] == hashlib.sha256(teacher.read_bytes()).hexdigest(), (
            f"{lite.name} copies an older {teacher.name}: re-distil it (benchmarks/lite_gallery.py)")


def test_photo_size_makes_a_crop_a_window_not_a_thumbnail():
    """--photo-size: the same 64-px crop shows a quarter of the width of a photo scaled to 256, where by
    default it shows nearly all of it (objects at the scale of a 512-px still, not of a thumbnail)."""
    from realtime.training.photos import random_crop

    ramp = np.tile(np.linspace(0, 255, 600, dtype=np.float32), (400, 1))  # red = x position
    image = np.dstack([np.zeros_like(ramp), np.zeros_like(ramp), ramp]).astype(np.uint8)  # BGR
    rng = np.random.default_rng(0)
    span = lambda crop: int(crop[..., 2].max()) - int(crop[..., 2].min())  # noqa: E731
    whole = [span(random_crop(image, 64, rng)) for _ in range(20)]
    window = [span(random_crop(image, 64, rng, photo_size=256)) for _ in range(20)]
    assert min(whole) > 60 and max(window) < 45, (whole, window)  # 64/96..120 of the width against 64/384..480
    assert all(random_crop(image, 64, rng, photo_size=256).shape == (64, 64, 3) for _ in range(5))


def test_train_records_the_photo_size(tmp_path, vgg_weights):
    out = tmp_path / "out"
    result = fine_tune(out, "p", 2, "--photo-size", 160)
    assert result.code == 0, result.stderr
    assert json.loads((out / "p.json").read_text())["settings"]["photo_size"] == 160
    assert_clean_error(cli("train", "--recipe", "custom", STYLE, "--data", PHOTOS, "--name", "p", "--out-dir", out, "--photo-size", -1),
                       "--photo-size")


def test_the_ramp_keeps_a_fine_tune_from_shaking_the_network(tmp_path, vgg_weights):
    """--init with the default --lr-ramp: the first steps barely move the shipped picture; with --lr-ramp 0
    Adam's first full-size steps repaint it (what took the_scream's style loss from 213 to 291)."""
    from realtime.media import images
    from realtime.training.checkpoint import network

    photo = images.bgr_to_tensor(images.read_bgr(sorted(PHOTOS.glob("*.jpg"))[1]))
    with torch.no_grad():
        shipped = network("mosaic")(photo)
    moved = {}
    for ramp in (100, 0):
        out = tmp_path / f"ramp{ramp}"
        result = fine_tune(out, "t", 6, "--lr-ramp", ramp)
        assert result.code == 0, result.stderr
        with torch.no_grad():
            moved[ramp] = float((network(str(out / "t.ckpt"))(photo) - shipped).abs().mean())
    assert moved[100] < moved[0] / 4, moved


def test_content_tap_relu4_2_lets_strokes_move_edges(tmp_path, vgg_weights):
    """Why --content-tap exists: a photo whose edges sit 2 px off (as a brush stroke redraws a contour) costs
    relu2_2's relative content error over 3x what it costs relu4_2's (3.4-7x on these photos), while a 16-px shift (the shapes
    themselves moved) costs both about alike. A run records its tap in the card; an unknown tap is refused."""
    from realtime.media import images
    from realtime.training.losses import relative_error
    from realtime.training.vgg import load_features

    vgg, _ = load_features(["relu2_2", "relu4_2"])
    with torch.no_grad():
        for path in sorted(PHOTOS.glob("*.jpg"))[:4]:
            photo = images.bgr_to_tensor(images.read_bgr(path))
            f, error = vgg(photo), {}
            for shift in (2, 16):
                moved = vgg(torch.roll(photo, (shift, shift), (2, 3)))
                for tap in ("relu2_2", "relu4_2"):
                    error[shift, tap] = float(relative_error(moved[tap], f[tap]))
            assert error[2, "relu4_2"] < error[2, "relu2_2"] / 3, (path.name, error)
            assert error[16, "relu4_2"] > error[16, "relu2_2"] / 2, (path.name, error)

    out = tmp_path / "out"
    result = fine_tune(out, "c", 2, "--content-tap", "relu4_2")
    assert result.code == 0, result.stderr
    assert json.loads((out / "c.json").read_text())["settings"]["content_tap"] == "relu4_2"
    refused = cli("train", "--recipe", "custom", STYLE, "--data", PHOTOS, "--name", "c", "--out-dir", out, "--content-tap", "relu9_9")
    assert refused.code != 0 and "--content-tap" in refused.stderr and "Traceback" not in refused.stderr
