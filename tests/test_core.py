"""Loss network, Gatys mode, the transformer network and training: real weights, real photos."""

from __future__ import annotations

import json
import re
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from realtime.media import images
from realtime.errors import UserError
from realtime.training.losses import GATYS_CONTENT, GATYS_STYLE, TRAIN_CONTENT, TRAIN_STYLE, PerceptualLoss
from realtime.training.transformer import TransformerNet
from tests.conftest import PHOTOS, REPO, STYLE
from tests.helpers import assert_clean_error, cli, ctrl_c_works


def test_weights_are_the_original_vgg19(vgg_weights):
    from realtime.training import vgg

    assert vgg_weights.source_md5 == vgg.H5_MD5
    sidecar = json.loads(vgg_weights.path.with_suffix(".json").read_text())
    assert sidecar["sha256"] == vgg_weights.sha256 == vgg.file_digest(vgg_weights.path, "sha256")
    state = torch.load(vgg_weights.path, weights_only=True)
    assert state["conv1_1.weight"].shape == (64, 3, 3, 3)
    assert state["conv5_4.weight"].shape == (512, 512, 3, 3)


def test_weights_command_prints_path_and_hash(vgg_weights):
    result = cli("weights")
    assert result.code == 0, result.stderr
    assert str(vgg_weights.path) in result.stdout and vgg_weights.sha256 in result.stdout


def test_local_weights_with_wrong_hash_are_refused(tmp_path):
    from realtime.training.vgg import ensure_weights

    fake = tmp_path / "vgg19.h5"
    fake.write_bytes(b"not weights")
    with pytest.raises(UserError, match="md5"):
        ensure_weights(fake)
    result = cli("weights", env={"REALTIME_VGG": str(tmp_path / "missing.h5")})
    assert_clean_error(result, "missing.h5")


def test_vgg_style_loss_tells_paintings_from_photos(vgg_weights):
    from realtime.engine import Engine
    from realtime.training.vgg import load_features

    features, _ = load_features(GATYS_STYLE + [GATYS_CONTENT])
    starry = images.bgr_to_tensor(images.resize_long_side(images.read_bgr(STYLE), 256))
    # another painting's style: a photo as the shipped mosaic network paints it
    mosaic = Engine(REPO / "models" / "mosaic.onnx", device="cpu")(images.read_bgr(PHOTOS / "kodim13.jpg"))
    scream = images.bgr_to_tensor(mosaic)
    photo = images.bgr_to_tensor(images.read_bgr(PHOTOS / "kodim05.jpg"))
    loss = PerceptualLoss(features, starry, GATYS_STYLE, GATYS_CONTENT, 1, 1, 0)
    with torch.no_grad():
        own = float(loss.style_loss_of(features(starry)))
        other_painting = float(loss.style_loss_of(features(scream)))
        a_photo = float(loss.style_loss_of(features(photo)))
    assert own < 1e-3 * other_painting
    assert other_painting > 0 and a_photo > 0


def test_gatys_stylises_and_lowers_style_loss(tmp_path, vgg_weights):
    out = tmp_path / "starry.png"
    result = cli("gatys", PHOTOS / "kodim05.jpg", STYLE, "-o", out,
                 "--size", 128, "--steps", 40)
    assert result.code == 0, result.stderr
    stylised = images.read_bgr(out)
    assert max(stylised.shape[:2]) == 128
    line = [l for l in result.stderr.splitlines() if l.startswith("wrote")][-1]
    match = re.search(r"style loss ([\d.]+) \(photo\) -> ([\d.]+)", line)
    assert match, line
    photo_loss, final_loss = float(match.group(1)), float(match.group(2))
    assert final_loss < 0.1 * photo_loss
    photo = images.resize_long_side(images.read_bgr(PHOTOS / "kodim05.jpg"), 128)
    assert np.abs(stylised.astype(float) - photo.astype(float)).mean() > 10


def test_gatys_adam_from_noise_runs(tmp_path, vgg_weights):
    import torch as _t

    from realtime.training.gatys import GatysSettings, stylise
    from realtime.training.vgg import load_features

    features, _ = load_features(GATYS_STYLE + [GATYS_CONTENT])
    result = stylise(images.read_bgr(PHOTOS / "kodim07.jpg"), images.read_bgr(STYLE), features,
                     GatysSettings(size=64, steps=12, optimizer="adam", init="noise", lr=10), _t.device("cpu"))
    assert result.history[-1]["total"] < result.history[0]["total"]


@pytest.mark.parametrize("size", [(256, 256), (333, 517), (61, 47)])
def test_transformer_keeps_size_and_has_no_border_artefacts(size):
    torch.manual_seed(0)
    net = TransformerNet(width=8).eval()
    with torch.no_grad():
        flat = net(torch.full((1, 3, *size), 120.0))
        photo = net(torch.rand(1, 3, *size) * 255)
    assert flat.shape == photo.shape == (1, 3, *size)
    # Reflection padding throughout: a flat input stays flat right up to the border.
    assert float(flat.std(dim=(2, 3)).max()) < 1e-3


def test_training_lowers_style_loss_on_unseen_photos(tmp_path, vgg_weights):
    """A short CPU run (the README records the longer one) must already move unseen photos toward the style."""
    import shutil

    from realtime.training.train import TrainSettings, mean_losses, train
    from realtime.training import checkpoint
    from realtime.training.vgg import load_features

    every = sorted(PHOTOS.glob("*.jpg"))
    seen, unseen = every[:5], every[5:]  # train on five of the repository's photos, judge on the other three
    data = tmp_path / "train"
    data.mkdir()
    for photo in seen:
        shutil.copy(photo, data / photo.name)
    settings = TrainSettings(style_image=str(STYLE), data=str(data), name="starry",
                             out_dir=str(tmp_path), steps=100, batch_size=2, image_size=96, small_size=64,
                             style_size=192, width=16, preview_every=50, checkpoint_every=0, device="cpu",
                             warmup_steps=30)
    ckpt = train(settings)
    net, payload = checkpoint.load_model(ckpt)
    assert payload["step"] == 100
    features, _ = load_features(TRAIN_STYLE + [TRAIN_CONTENT])
    style = images.bgr_to_tensor(images.resize_long_side(images.read_bgr(STYLE), 192))
    loss = PerceptualLoss(features, style, TRAIN_STYLE, TRAIN_CONTENT, 1, 1, 0, relative=True)  # what it trains
    trained = mean_losses(net, unseen, loss, 128)
    untouched = mean_losses(lambda x: x, unseen, loss, 128)
    # 100 tiny steps: the relative style error (the training objective) must fall clearly below the photos'
    assert trained["style"] < 0.8 * untouched["style"], (trained, untouched)
    card = json.loads((tmp_path / "starry.json").read_text())
    for key in ("style_image_sha256", "vgg19_sha256", "final_losses", "width", "io", "date", "settings"):
        assert key in card
    assert card["io"]["color_order"] == "RGB" and card["width"] == 16
    assert (tmp_path / "previews" / "starry-000100.png").is_file()


def test_resume_continues_exactly(tmp_path, vgg_weights, monkeypatch):
    """A run stopped by Ctrl-C and resumed ends with the very weights of an uninterrupted run: same crops,
    same crop-size and learning-rate schedule, same optimiser state (warm-up and finish phase included),
    same precision: resumed with --precision auto it keeps the one the run used, whatever a new timing says."""
    from realtime.training import train as train_mod
    from realtime.training.train import TrainSettings, train

    def settings(out: Path, preview_every: int = 0, precision: str = "fp32") -> TrainSettings:
        return TrainSettings(style_image=str(STYLE), data=str(PHOTOS), name="candy", out_dir=str(out),
                             steps=6, batch_size=2, image_size=48, small_size=32, finish_fraction=0.5,
                             style_size=96, width=4, preview_every=preview_every, checkpoint_every=0,
                             device="cpu", warmup_steps=3, precision=precision)

    straight = train(settings(tmp_path / "a"))

    def ctrl_c(*args):  # the user presses Ctrl-C at the first preview, step 2
        raise KeyboardInterrupt

    monkeypatch.setattr(train_mod, "_preview", ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        train(settings(tmp_path / "b", preview_every=2))
    half = tmp_path / "b" / "candy.ckpt"
    assert torch.load(half, weights_only=True)["step"] == 2
    monkeypatch.undo()
    resumed = train(settings(tmp_path / "b", precision="auto"), resume=str(half))
    assert json.loads(resumed.with_suffix(".json").read_text())["precision"] == "fp32"
    a = torch.load(straight, weights_only=True)["model"]
    b = torch.load(resumed, weights_only=True)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_ctrl_c_leaves_a_usable_checkpoint(tmp_path, vgg_weights):
    cmd = [sys.executable, "-m", "realtime", "train", "--recipe", "custom", STYLE, "--data", PHOTOS, "--name", "udnie",
           "--out-dir", tmp_path, "--steps", 100000, "--batch-size", 1, "--image-size", 48, "--width", 4,
           "--device", "cpu", "--preview-every", 1]
    proc = subprocess.Popen(list(map(str, cmd)), stderr=subprocess.PIPE, text=True, preexec_fn=ctrl_c_works)
    deadline = time.time() + 240
    ckpt = tmp_path / "udnie.ckpt"
    # Start-up (torch import, VGG load) takes 10-60 s with other work on the machine: press Ctrl-C once
    # the first step's preview is written, not after a fixed wait.
    while time.time() < deadline and proc.poll() is None and not list(tmp_path.glob("previews/*.png")):
        time.sleep(0.5)
    while time.time() < deadline and proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            continue
    if proc.poll() is None:  # never leave a 100000-step run behind, whatever happened
        proc.kill()
        proc.wait()
    stderr = proc.stderr.read() if proc.stderr else ""
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr and "--resume" in stderr
    payload = torch.load(ckpt, weights_only=True)
    assert payload["step"] > 0
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "temporary files left behind"


def test_training_folder_checks(tmp_path, vgg_weights):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("not a photo")
    result = cli("train", "--recipe", "custom", STYLE, "--data", empty, "--name", "x", "--out-dir", tmp_path / "o",
                 "--steps", 1)
    assert_clean_error(result, "no JPEG or PNG photos")
    assert "skipping 1 file" in result.stderr
    assert not (tmp_path / "o" / "x.ckpt").exists()


def test_training_out_dir_that_cannot_be_made_is_named_at_once(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("a file where a folder should be")
    assert_clean_error(cli("train", "--recipe", "custom", STYLE, "--data", PHOTOS, "--name", "x", "--out-dir", blocker / "o", "--steps", 1),
                       "--out-dir")
    assert_clean_error(cli("distill", "--recipe", "custom", "mosaic", "--data", PHOTOS, "--name", "x", "--out-dir", blocker, "--steps", 1),
                       "--out-dir")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]


@pytest.mark.parametrize("case", ["missing_content", "corrupt_content", "bad_style", "unwritable"])
def test_gatys_bad_input_is_one_line_and_leaves_nothing(tmp_path, case):
    content, style, out = PHOTOS / "kodim05.jpg", STYLE, tmp_path / "out.png"
    if case == "missing_content":
        content = tmp_path / "nope.jpg"
    elif case == "corrupt_content":
        content = tmp_path / "corrupt.jpg"
        content.write_bytes(os.urandom(2000))
    elif case == "bad_style":
        style = tmp_path / "style.png"
        style.write_bytes(b"")
    else:
        blocker = tmp_path / "a-file"
        blocker.write_text("a file where a folder should be")
        out = blocker / "out.png"
    result = cli("gatys", content, style, "-o", out, "--size", 64, "--steps", 2)
    assert_clean_error(result)
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
