"""`realtime distill`: a CPU network trained to copy a full network; `evaluate --teacher`."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import torch

from realtime.tools import evaluate as ev
from realtime.media import images
from realtime.engine import Engine
from realtime.training.transformer import TransformerNet
from realtime.catalog.registry import resolve
from tests.conftest import PHOTOS, STYLE
from tests.helpers import assert_clean_error, cli


def test_psnr_and_ssim_rate_likeness():
    photo = images.read_bgr(sorted(PHOTOS.glob("*.jpg"))[0])
    noisy = np.clip(photo.astype(np.int16) + np.random.default_rng(0).integers(-20, 21, photo.shape), 0, 255).astype(np.uint8)
    other = images.read_bgr(sorted(PHOTOS.glob("*.jpg"))[1])
    assert ev.psnr(photo, photo) == float("inf") and ev.ssim(photo, photo) == pytest.approx(1.0)
    assert 20 < ev.psnr(photo, noisy) < 30 and ev.psnr(photo, other) < ev.psnr(photo, noisy)
    assert ev.ssim(photo, other) < ev.ssim(photo, noisy) < 0.95


@pytest.fixture(scope="module")
def distilled(tmp_path_factory):
    """The shipped mosaic distilled into a small lite4 for 60 steps (the fast arch, the default, learns slower at
    this tiny size and rate; the mechanics are the same) on the repository's photos."""
    out = tmp_path_factory.mktemp("distill")
    result = cli("distill", "--recipe", "custom", "mosaic", "--data", PHOTOS, "--name", "mosaic-lite", "--out-dir", out, "--steps", 60,
                 "--batch-size", 2, "--image-size", 96, "--arch", "lite4", "--width", 8, "--blocks", 2, "--lr", 5e-3,
                 "--device", "cpu")
    assert result.code == 0, result.stderr
    assert "colour match left out" in result.stderr
    return out / "mosaic-lite.ckpt"


def test_distilled_network_copies_its_teacher_and_says_which(distilled, tmp_path):
    """After 60 steps the student is far closer to the teacher than at the start; the card names the teacher
    by file name and hash, and the colour map it fitted and why it left it out; the export runs in the engine
    at an odd size."""
    from realtime.training import checkpoint

    card = json.loads(distilled.with_suffix(".json").read_text())
    assert card["arch"] == "lite4" and card["teacher"] == "mosaic" and card["steps"] == 60
    assert card["teacher_sha256"] == hashlib.sha256(resolve("mosaic").read_bytes()).hexdigest()
    assert card["final_losses"]["stab"] > 0 and "/" not in json.dumps(card["settings"])
    colour = card["colour_map"]  # fitted on the 8 photos, and left out: 60 steps make no close copy
    assert colour["photos"] == 8 and np.array(colour["matrix"]).shape == (3, 3)
    assert colour["folded"] is False and colour["psnr_after"] < colour["psnr_before"] - 0.5
    student, _ = checkpoint.load_model(distilled)
    torch.manual_seed(0)
    untrained = TransformerNet(8, 2, "lite4").eval()
    teacher = Engine(resolve("mosaic"), device="cpu")
    photo = images.read_bgr(PHOTOS / "kodim23.jpg")
    target = teacher(photo)
    run = lambda net: images.tensor_to_bgr(net(images.bgr_to_tensor(photo)).detach())  # noqa: E731
    assert ev.psnr(run(student), target) > ev.psnr(run(untrained), target) + 4
    onnx_path = tmp_path / "mosaic-lite.onnx"
    assert cli("export", distilled, "-o", onnx_path).code == 0
    assert Engine(onnx_path, device="cpu")(photo[:61, :47]).shape == (61, 47, 3)


def test_evaluate_reports_likeness_to_the_teacher(distilled, tmp_path, vgg_weights):
    onnx_path = tmp_path / "mosaic-lite.onnx"
    assert cli("export", distilled, "-o", onnx_path).code == 0
    out = tmp_path / "eval.json"
    result = cli("evaluate", onnx_path, "--teacher", "mosaic", "--photos", PHOTOS, "--style-image", STYLE,
                 "--size", 96, "--device", "cpu", "--json", out)
    assert result.code == 0, result.stderr
    assert "PSNR vs teacher" in result.stdout and "SSIM vs teacher" in result.stdout
    like = json.loads(out.read_text())["photos"]["likeness_to_teacher"]
    assert set(like) == {"mosaic-lite"} and 10 < like["mosaic-lite"]["psnr"] < 60 and 0 < like["mosaic-lite"]["ssim"] < 1
    assert_clean_error(cli("evaluate", onnx_path, "--teacher", "mosaic", "--device", "cpu", "--clip", "x.mp4"), "--teacher")


def test_distill_runs_in_the_precision_asked_and_a_resumed_run_keeps_it(tmp_path):
    """bf16 autocast (which CPUs with AVX512-BF16 or AMX run about 1.5x faster here) copies the teacher as
    well as fp32 does over the same steps; the card and the first line say which ran, and --resume with
    auto continues in the run's own precision."""
    common = ("--data", PHOTOS, "--out-dir", tmp_path, "--batch-size", 2, "--image-size", 64, "--width", 8,
              "--blocks", 1, "--device", "cpu", "--no-colour-match", "--stability-weight", 0)
    cards = {}
    for precision in ("fp32", "bf16"):
        result = cli("distill", "--recipe", "custom", "mosaic", *common, "--steps", 4, "--name", precision, "--precision", precision)
        assert result.code == 0, result.stderr
        assert f"on cpu: {precision}" in result.stderr or "on cpu: bf16 autocast" in result.stderr, result.stderr
        cards[precision] = json.loads((tmp_path / f"{precision}.json").read_text())
        assert cards[precision]["precision"] == precision
    fp32, bf16 = (cards[p]["final_losses"]["l1"] for p in ("fp32", "bf16"))
    assert bf16 == pytest.approx(fp32, rel=0.05)
    resumed = cli("distill", "--recipe", "custom", "mosaic", *common, "--steps", 6, "--name", "bf16", "--resume", tmp_path / "bf16.ckpt")
    assert resumed.code == 0, resumed.stderr
    assert "as the run it continues" in resumed.stderr
    card = json.loads((tmp_path / "bf16.json").read_text())
    assert card["precision"] == "bf16" and card["steps"] == 6


def test_distill_refuses_bad_teachers_and_archs(tmp_path, distilled):
    common = ("--data", PHOTOS, "--name", "x", "--out-dir", tmp_path, "--steps", 1, "--device", "cpu")
    assert_clean_error(cli("distill", "--recipe", "custom", "no_such_style", *common), "TEACHER no_such_style")
    assert_clean_error(cli("distill", "--recipe", "custom", distilled, *common), "lite4")  # a CPU network is no teacher
    assert_clean_error(cli("distill", "--recipe", "custom", "mosaic", *common, "--arch", "full"), "--arch")
    assert_clean_error(cli("distill", "--recipe", "custom", "mosaic", *common, "--edge-weight", -1), "--edge-weight")
    assert_clean_error(cli("distill", "--recipe", "custom", "mosaic", *common, "--chroma-weight", -1), "--chroma-weight")
    assert_clean_error(cli("distill", "--recipe", "custom", "mosaic", *common, "--gram-tap-weights", "1,1"), "--gram-tap-weights")
    assert not (tmp_path / "x.ckpt").exists()
    later = ("--data", PHOTOS, "--name", "x", "--out-dir", tmp_path / "new", "--steps", 1, "--device", "cpu")
    assert_clean_error(cli("distill", "--recipe", "custom", "mosaic", *later, "--init", "candy"), "--arch")  # found once the teacher loaded
    assert not (tmp_path / "new").exists()


def test_gram_term_pulls_the_students_texture_towards_the_teachers(distilled, tmp_path, vgg_weights):
    """--init continues from the distilled student; with a Gram weight its VGG Gram matrices on an unseen
    photo move towards the teacher's output's (the Gram term alone: no colour match), and the card says which
    recipe and start it had. No --lr-ramp: 30 steps are all it gets."""
    from realtime.training import checkpoint
    from realtime.training.distill import GramMatch
    from realtime.training.losses import TRAIN_STYLE
    from realtime.training.vgg import load_features

    result = cli("distill", "--recipe", "custom", "mosaic", "--data", PHOTOS, "--name", "mosaic-lite-g", "--out-dir", tmp_path,
                 "--steps", 30, "--batch-size", 2, "--image-size", 96, "--arch", "lite4", "--width", 8, "--blocks", 2, "--lr", 3e-3,
                 "--edge-weight", 0, "--gram-weight", 1000, "--gram-tap-weights", "1,1,1,2", "--stability-weight", 0,
                 "--init", distilled, "--lr-ramp", 0, "--no-colour-match", "--device", "cpu")
    assert result.code == 0, result.stderr
    card = json.loads((tmp_path / "mosaic-lite-g.json").read_text())
    assert "colour_map" not in card and card["settings"]["colour_match"] is False
    assert card["recipe"] == "distill-l1-edges-gram-v1" and card["init"] == "mosaic-lite.ckpt"
    assert card["final_losses"]["gram"] > 0 and card["settings"]["gram_tap_weights"] == [1, 1, 1, 2]
    vgg, _ = load_features(TRAIN_STYLE)
    match = GramMatch(vgg, TRAIN_STYLE, (1, 1, 1, 2))
    photo = images.bgr_to_tensor(images.read_bgr(PHOTOS / "kodim23.jpg")[:192, :192])
    with torch.no_grad():
        target = Engine(resolve("mosaic"), device="cpu")(images.tensor_to_bgr(photo))
        target = images.bgr_to_tensor(target)
        errors = [float(match(checkpoint.load_model(ckpt)[0](photo), target))
                  for ckpt in (distilled, tmp_path / "mosaic-lite-g.ckpt")]
    assert errors[1] < 0.8 * errors[0], errors


def test_chroma_term_keeps_the_teachers_hue(distilled, tmp_path):
    """Two continuations of the distilled student, the same seed and steps, with and without --chroma-weight:
    the one with it ends nearer the teacher's chroma on a photo, and its card names the term."""
    from realtime.training import checkpoint
    from realtime.training.distill import chroma_error

    photo = images.bgr_to_tensor(images.read_bgr(PHOTOS / "kodim23.jpg")[:192, :192])
    with torch.no_grad():
        target = images.bgr_to_tensor(Engine(resolve("mosaic"), device="cpu")(images.tensor_to_bgr(photo)))
    errors = {}
    for weight in (0, 10):
        name = f"mosaic-lite-c{weight}"
        result = cli("distill", "--recipe", "custom", "mosaic", "--data", PHOTOS, "--name", name, "--out-dir", tmp_path, "--steps", 60,
                     "--batch-size", 2, "--image-size", 96, "--arch", "lite4", "--width", 8, "--blocks", 2, "--lr", 3e-3,
                     "--chroma-weight", weight, "--stability-weight", 0, "--init", distilled, "--lr-ramp", 0,
                     "--no-colour-match", "--device", "cpu")
        assert result.code == 0, result.stderr
        card = json.loads((tmp_path / f"{name}.json").read_text())
        assert card["settings"]["chroma_weight"] == weight and ("chroma" in card["final_losses"]) == (weight > 0)
        assert card["recipe"] == ("distill-l1-edges-chroma-v1" if weight else "distill-l1-edges-v1")
        with torch.no_grad():
            errors[weight] = float(chroma_error(checkpoint.load_model(tmp_path / f"{name}.ckpt")[0](photo), target))
    assert errors[10] < 0.9 * errors[0], errors


def test_border_term_reads_a_lighter_band_and_not_texture_or_tone():
    """The border term sees what the border test calls a padding artefact (the outer rows lighter than the
    teacher's on every side), not a network that is lighter everywhere or a texture placed differently."""
    from realtime.training.distill import border_error

    teacher = images.bgr_to_tensor(images.read_bgr(PHOTOS / "kodim23.jpg")).repeat(2, 1, 1, 1)
    band = torch.zeros_like(teacher)
    band[..., :4, :] = band[..., -4:, :] = band[..., :, :4] = band[..., :, -4:] = 6
    texture = torch.randn(teacher.shape, generator=torch.Generator().manual_seed(0)) * 20
    assert 5 < float(border_error(teacher + band, teacher)) < 6.5
    assert float(border_error(teacher + 10, teacher)) < 1e-4
    assert float(border_error(teacher + texture, teacher)) < 0.5


def test_border_weight_goes_into_the_run_and_its_card(tmp_path):
    """--border-weight trains with the term: its loss is on the card and the recipe names it."""
    result = cli("distill", "--recipe", "custom", "udnie", "--data", PHOTOS, "--name", "u", "--out-dir", tmp_path, "--steps", 2,
                 "--batch-size", 1, "--image-size", 64, "--init", "udnie-lite", "--border-weight", 20, "--stability-weight", 0,
                 "--no-colour-match", "--device", "cpu")
    assert result.code == 0, result.stderr
    card = json.loads((tmp_path / "u.json").read_text())
    assert card["settings"]["border_weight"] == 20 and card["final_losses"]["border"] >= 0
    assert card["recipe"] == "distill-l1-edges-border-v1"
    result = cli("distill", "udnie", "--data", PHOTOS, "--name", "v", "--out-dir", tmp_path, "--border-weight", -1)
    assert result.code != 0 and "--border-weight" in result.stderr
