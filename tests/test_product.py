"""The product around the networks: the --style grammar, recipes, doctor, and the wheel a user installs."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from realtime.catalog.spec import parse_style
from realtime.errors import UserError
from tests.conftest import PHOTOS, REPO, STYLE
from tests.helpers import assert_clean_error, cli


# -- the --style grammar -------------------------------------------------------------------------------
def test_style_grammar_names_paths_lists_and_blends(tmp_path):
    assert parse_style("mosaic").styles == ("mosaic",) and not parse_style("mosaic").is_blend
    assert parse_style(["mosaic,candy", "wave"]).styles == ("mosaic", "candy", "wave")
    assert parse_style(r"C:\nets\mine.onnx").styles == (r"C:\nets\mine.onnx",)  # a drive letter is no weight
    odd = tmp_path / "a,b.onnx"
    odd.write_bytes(b"")
    assert parse_style(str(odd)).styles == (str(odd),)  # an existing path is taken whole, comma and all
    blend = parse_style("mosaic:3,candy:1")
    assert blend.is_blend and blend.styles == ("mosaic", "candy") and blend.weights == (0.75, 0.25)
    assert parse_style(r"C:\nets\mine.onnx:0.5,mosaic:0.5").styles == (r"C:\nets\mine.onnx", "mosaic")
    assert parse_style("mosaic").single == "mosaic"
    for bad, says in (("mosaic:0.6,candy", "every style a weight"), ("mosaic:-1,candy:2", "negative"),
                      ("mosaic:0,candy:0", "not all be 0"), ("mosaic:1,mosaic:1", "twice"), (" , ", "give a style")):
        with pytest.raises(UserError, match=says):
            parse_style(bad)
    with pytest.raises(UserError, match="one style"):
        parse_style("mosaic,candy").single
    assert parse_style("mosaic:0.5,candy:0.5").single == "mosaic:0.5,candy:0.5"  # the runtime finds its network


def test_commands_refuse_what_they_cannot_mix_in_one_line(tmp_path):
    photo = PHOTOS / "kodim23.jpg"
    assert_clean_error(cli("image", photo, "-o", tmp_path / "o.png", "--style", "mosaic,candy"), "one style")
    assert_clean_error(cli("image", photo, "-o", tmp_path / "o.png", "--style", "mosaic:0.5,nosuch:0.5"), "multi-style")
    assert not (tmp_path / "o.png").exists()


# -- recipes -----------------------------------------------------------------------------------------
def test_the_gallery_recipe_is_the_sequence_a_shipped_style_went_through():
    """starry_night's card: a 500-step start, 250 steps on 256-px crops with the gallery's loss, then the
    40-step finish on whole 384-px scenes, whose settings are the card's own."""
    from realtime.training import recipes
    from realtime.training.train import TrainSettings

    card = json.loads((REPO / "models" / "starry_night.json").read_text())
    start, crops, finish = recipes.TRAIN["gallery"].stages
    assert start.steps == 500 and "500 steps" in card["lineage"][0]
    flags = dict(re.findall(r"--([a-z-]+) ([0-9.,]+)", card["lineage"][1]))
    assert crops.steps == int(card["lineage"][1].split()[0])
    for flag, value in flags.items():
        got = crops.settings[flag.replace("-", "_")]
        if flag == "small-size" and value == "0":  # --small-size 0: no small-crop phase, None in the settings
            assert got is None
            continue
        assert (list(got) if isinstance(got, tuple) else got) == \
            ([float(v) for v in value.split(",")] if "," in value else type(got)(float(value))), flag
    assert "style weight 10" in card["lineage"][1] and crops.settings["style_weight"] == 10
    planned = recipes.plan(recipes.TRAIN["gallery"], TrainSettings("starry_night.jpg", "train", "starry_night"), {})
    settings = vars(planned[-1].settings)
    for key in ("steps", "image_size", "small_size", "photo_size", "style_weight", "content_tap", "lr", "lr_ramp",
                "stability_weight"):
        assert settings[key] == card["settings"][key], key
    assert list(settings["style_tap_weights"]) == card["settings"]["style_tap_weights"]
    assert planned[1].settings.init == str(Path(".") / "starry_night-start.ckpt")  # each stage from the last
    assert planned[-1].settings.init == str(Path(".") / "starry_night-crops.ckpt")


def test_a_recipe_runs_its_stages_and_a_second_run_continues_where_it_stopped(tmp_path, vgg_weights):
    """Two real two-step stages: the second starts from the first; run again, both are found complete."""
    from realtime.training import recipes, train as train_mod

    tiny = recipes.Recipe("tiny", "two tiny stages", (
        recipes.Stage("a", 2, {"init": "mosaic", "image_size": 64, "small_size": None}, "two steps from mosaic"),
        recipes.Stage("b", 2, {"image_size": 64, "small_size": None, "style_weight": 10.0}, "two more at weight 10"),
    ))
    base = train_mod.TrainSettings(str(STYLE), str(PHOTOS), "tiny", out_dir=str(tmp_path), batch_size=1,
                                   preview_every=0, device="cpu", precision="fp32")
    said: list[str] = []
    one = lambda s, resume, entry: train_mod.train(s, resume=resume, recipe=entry)  # noqa: E731
    final = recipes.run(tiny, base, {}, one, said.append)
    card = json.loads(final.with_suffix(".json").read_text())
    assert final == tmp_path / "tiny.ckpt" and (tmp_path / "tiny-a.ckpt").is_file()
    assert card["init"] == "tiny-a.ckpt" and card["settings"]["style_weight"] == 10
    assert card["train_recipe"]["name"] == "tiny" and card["train_recipe"]["stage"] == "b"
    assert card["train_recipe"]["lineage"] == ["a: two steps from mosaic", "b: two more at weight 10"]
    before = final.stat().st_mtime_ns
    said.clear()
    recipes.run(tiny, base, {}, one, said.append)
    assert said == [f"stage a: {tmp_path / 'tiny-a.ckpt'} is complete, skipped",
                    f"stage b: {tmp_path / 'tiny.ckpt'} is complete, skipped"]
    assert final.stat().st_mtime_ns == before


def test_quick_is_the_default_and_removed_options_say_what_replaces_them(tmp_path):
    result = cli("train", STYLE, "--data", PHOTOS, "--name", "q", "--out-dir", tmp_path, "--steps", 1, "--batch-size", 1,
                 "--image-size", 64, "--preview-every", 0, "--device", "cpu", timeout=600)
    assert result.code == 0, result.stderr
    card = json.loads((tmp_path / "q.json").read_text())
    assert card["init"] == "gallery" and card["train_recipe"]["name"] == "quick" and card["steps"] == 1
    assert card["settings"]["init_mix"] and card["settings"]["lr_ramp"] == 10  # from the gallery's nearest blend
    assert card["train_recipe"]["overrides"] == {"steps": 1, "image_size": 64}
    assert_clean_error(cli("train", STYLE, "--data", PHOTOS, "--name", "q", "--style-statistic", "covariance"),
                       "--style-statistic was removed")
    assert_clean_error(cli("train", STYLE, "--data", PHOTOS, "--name", "q", "--recipe", "slow"), "--recipe slow")


def test_train_help_puts_the_first_options_first():
    result = cli("train", "--help")
    assert result.code == 0
    text = result.stdout
    main = text[:text.index("Loss")]
    for option in ("--data", "--name", "--recipe", "--steps", "--init"):
        assert option in main, option
    for option in ("--lr-ramp", "--width", "--seed", "--batch-size"):
        assert option not in main and option in text, option
    assert "--style-statistic" not in text


# -- doctor --------------------------------------------------------------------------------------------
def test_doctor_says_plainly_what_this_machine_lacks():
    result = cli("doctor", "--json")
    assert result.code == 0, result.stderr
    report = json.loads(result.stdout)
    for key in ("realtime", "onnxruntime providers", "CUDA", "CPU", "styles", "training", "VGG19 weights", "cameras"):
        assert key in report, key
    assert report["styles"]["ok"] and "mosaic" in report["styles"]["names"]
    from realtime.engine.session import cuda_driver_present

    if not cuda_driver_present():
        assert not report["CUDA"]["ok"] and "CPU" in report["CUDA"]["state"] and report["CUDA"]["hint"]
    screen = cli("doctor")
    assert screen.code == 0 and "CUDA" in screen.stdout and "cameras" in screen.stdout


# -- the wheel -----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def wheel_env(tmp_path_factory) -> Path:
    """The wheel built from this checkout, installed with its default dependencies (no torch) in a fresh
    virtual environment, as `pip install realtime-style` would."""
    root = tmp_path_factory.mktemp("wheel")
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(root / "dist"), str(REPO)],
                           capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stderr[-2000:]
    wheel = next((root / "dist").glob("realtime_style-*.whl"))
    subprocess.run([sys.executable, "-m", "venv", str(root / "venv")], check=True, timeout=300)
    pip = subprocess.run([str(root / "venv" / "bin" / "pip"), "install", "-q", str(wheel)], capture_output=True,
                         text=True, timeout=1200)
    assert pip.returncode == 0, pip.stderr[-2000:]
    return root / "venv" / "bin"


def run_installed(bin_dir: Path, *args: object, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "REALTIME_MODELS")}
    return subprocess.run([str(bin_dir / "realtime"), *map(str, args)], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=env)


def test_the_wheel_runs_outside_the_checkout_without_torch(wheel_env, tmp_path):
    where = subprocess.run([str(wheel_env / "python"), "-c", "import importlib.util, realtime; "
                            "print(realtime.__file__); print(importlib.util.find_spec('torch') is None)"],
                           cwd=tmp_path, capture_output=True, text=True)
    location, no_torch = where.stdout.split()
    assert not location.startswith(str(REPO)) and no_torch == "True"
    styles = run_installed(wheel_env, "styles", "--json", cwd=tmp_path)
    assert styles.returncode == 0, styles.stderr
    listed = json.loads(styles.stdout)
    assert len([s for s in listed if "styles" not in s["card"]]) == 12, [s["name"] for s in listed]
    assert [s["name"] for s in listed if "styles" in s["card"]] == ["gallery"]  # the blends' network ships too
    clip = Path(location).parent / "samples" / "big_buck_bunny_360p.mp4"
    video = run_installed(wheel_env, "video", clip, "-o", "out.mp4", "--style", "mosaic", "--size", "160",
                          "--preset", "ultrafast", cwd=tmp_path)
    assert video.returncode == 0 and "132 frames" in video.stderr and "copied" in video.stderr, video.stderr
    live = run_installed(wheel_env, "webcam", "--source", clip, "--style", "candy", "--no-display", "--max-frames", 5,
                         "--width", 160, "--height", 90, cwd=tmp_path)
    assert live.returncode == 0 and "5 frames" in live.stdout, live.stderr
    doctor = run_installed(wheel_env, "doctor", "--json", cwd=tmp_path)
    assert doctor.returncode == 0 and not json.loads(doctor.stdout)["training"]["ok"]
    train = run_installed(wheel_env, "train", STYLE, "--data", PHOTOS, "--name", "x", cwd=tmp_path)
    assert train.returncode == 2 and train.stderr.strip().splitlines() == [
        "error: `realtime train` needs PyTorch and the training extras (torch, h5py, onnxscript missing): "
        "pip install 'realtime-style[train]'"]


def test_the_wheel_serves_the_browser_page(wheel_env, tmp_path):
    if not shutil.which("npm"):
        pytest.skip("npm not found: the page's onnxruntime-web is installed with npm")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    proc = subprocess.Popen([str(wheel_env / "realtime"), "web", "--port", "0"], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        match = re.search(r"http://\S+/", line)
        assert match, (line, proc.stderr.read() if proc.poll() is not None and proc.stderr else "")
        import urllib.request

        listing = json.loads(urllib.request.urlopen(match.group(0) + "styles.json", timeout=30).read())
        assert {s["name"] for s in listing["styles"]} >= {"mosaic", "candy"}
        page = urllib.request.urlopen(match.group(0), timeout=30).read().decode()
        assert "<html" in page
        assert (tmp_path / "cache" / "realtime" / "web" / "node_modules" / "onnxruntime-web").is_dir()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
