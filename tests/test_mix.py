"""Blends and morphs: styles mixed inside one multi-style network, in the engine, the API, image, video
and the webcam. The network is made here from shipped networks (mosaic's convolutions, each style's own
norms), so the styles differ as a trained network's do, and a mix is a real mix of norm parameters."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

import realtime
from realtime.catalog import registry
from realtime.catalog.schedule import parse_schedule
from realtime.engine import Engine
from realtime.engine.build import EngineOptions, Runtime
from realtime.errors import UserError
from realtime.live import LiveLoop, LiveOptions
from realtime.live.styles import GLIDE_S, Styles, style_entries
from tests.conftest import PHOTOS, bunny_frames, write_clip
from tests.helpers import assert_clean_error, cli
from tests.test_webcam import ListCapture, ScriptedDisplay, read_video

STYLES = ("mosaic", "candy", "udnie")


@pytest.fixture(scope="module")
def trio(tmp_path_factory):
    """A folder holding one multi-style network, `trio`, and its card."""
    from realtime.training import multistyle

    folder = tmp_path_factory.mktemp("mix_models")
    model = multistyle.from_shipped({s: s for s in STYLES}).eval()
    multistyle.export_onnx(model, folder / "trio.onnx", step=0)
    return folder


@pytest.fixture
def models(trio, monkeypatch):
    monkeypatch.setenv(registry.ENV_VAR, str(trio))
    return trio


def photo() -> np.ndarray:
    return cv2.imread(str(PHOTOS / "kodim05.jpg"))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(cv2.PSNR(a, b))


def test_a_blend_runs_on_the_network_that_holds_its_styles(models):
    runtime = Runtime(EngineOptions(device="cpu"))
    target = runtime.model("mosaic:3,candy:1")
    assert target == registry.Mix(models / "trio.onnx", (("mosaic", 0.75), ("candy", 0.25)))
    assert runtime.model("mosaic").name == "mosaic-lite.onnx"  # a single style keeps its own network
    assert [n.name for n in registry.multistyle_networks()][0] == "trio"
    with pytest.raises(UserError, match="no multi-style network holds all of these; installed: trio: mosaic, candy, udnie"):
        runtime.model("mosaic:0.5,nosuch:0.5")
    engine = runtime.engine("mosaic:3,candy:1")
    assert engine.info.styles == STYLES and engine.mix == {"mosaic": 0.75, "candy": 0.25}
    with pytest.raises(UserError, match="not in trio.onnx; it holds mosaic, candy, udnie"):
        engine.mix = {"pencil": 1.0}
    with pytest.raises(UserError, match="negative"):
        engine.mix = {"mosaic": -1.0, "candy": 2.0}


def test_a_blend_lies_between_its_two_styles(trio):
    engine = Engine(trio / "trio.onnx", device="cpu")
    img = photo()
    outputs = {}
    for name, mix in (("a", {"mosaic": 1}), ("b", {"udnie": 1}), ("half", {"mosaic": 0.5, "udnie": 0.5})):
        engine.mix = mix
        outputs[name] = engine(img)
    a, b, half = outputs["a"], outputs["b"], outputs["half"]
    apart = psnr(a, b)
    assert psnr(half, a) > apart + 1 and psnr(half, b) > apart + 1, (apart, psnr(half, a), psnr(half, b))
    assert np.array_equal(Engine(trio / "trio.onnx", device="cpu", mix={"mosaic": 1})(img), a)  # the default path agrees


def test_a_mix_takes_the_same_path_through_uint8_float_and_tiles(trio):
    img = cv2.resize(photo(), (720, 400))
    mix = {"candy": 0.3, "udnie": 0.7}
    whole = Engine(trio / "trio.onnx", device="cpu", mix=mix, tile=None)
    assert whole.io == "uint8"
    floats = Engine(trio / "trio.onnx", device="cpu", mix=mix, tile=None, uint8_io=False)(img)
    assert np.abs(whole(img).astype(int) - floats).max() <= 1
    tiled = Engine(trio / "trio.onnx", device="cpu", mix=mix, tile=120_000)
    tiler = tiled.tiler()
    tiler.statistics = lambda frame: tiler.split.affine(tiler._measure(frame, 1.0))  # the frame's own statistics
    assert psnr(tiled(img), whole(img)) > 45  # tiles share the mix and the whole frame's norms: no seams


def test_the_api_takes_a_blend_and_changes_it_between_frames(models):
    stylizer = realtime.Stylizer({"mosaic": 0.6, "candy": 0.4}, device="cpu", notify=lambda m: None)
    engine = stylizer._engine
    first = stylizer(photo())
    stylizer.style = {"mosaic": 0.2, "candy": 0.8}
    assert stylizer._engine is engine and engine.mix == pytest.approx({"mosaic": 0.2, "candy": 0.8})
    assert stylizer.style == "mosaic:0.2,candy:0.8"
    assert psnr(stylizer(photo()), first) < 40
    stylizer.style = "udnie"  # a single style: its own network
    assert stylizer.model.name == "udnie-lite.onnx"


def test_image_command_writes_a_blend_and_refuses_a_style_the_network_lacks(models, tmp_path):
    env = {registry.ENV_VAR: str(models)}
    out = tmp_path / "blend.png"
    done = cli("image", PHOTOS / "kodim05.jpg", "-o", out, "--style", "mosaic:0.5,candy:0.5", "--device", "cpu", env=env)
    assert done.code == 0, done.stderr
    engine = Engine(models / "trio.onnx", device="cpu", mix={"mosaic": 0.5, "candy": 0.5})
    assert psnr(cv2.imread(str(out)), engine(photo())) > 40
    assert_clean_error(cli("image", PHOTOS / "kodim05.jpg", "-o", tmp_path / "x.png", "--style", "mosaic:0.5,nosuch:0.5",
                           env=env), "no multi-style network holds all of these")


def test_schedule_grammar_and_its_mixes():
    schedule = parse_schedule("5:candy, 0:mosaic ,12:udnie")
    assert str(schedule) == "0:mosaic,5:candy,12:udnie" and schedule.styles == ["mosaic", "candy", "udnie"]
    assert schedule.at(-1) == {"mosaic": 1.0} and schedule.at(5) == {"candy": 1.0} and schedule.at(99) == {"udnie": 1.0}
    half = schedule.at(2.5)
    assert half == pytest.approx({"mosaic": 0.5, "candy": 0.5})
    assert schedule.at(1)["mosaic"] > 0.8  # eased: slow at the ends
    for bad, says in (("mosaic", "SECONDS:STYLE"), ("x:mosaic", "SECONDS:STYLE"), ("0:mosaic,0:candy", "same second"),
                      ("", "SECONDS:STYLE")):
        with pytest.raises(UserError, match=says):
            parse_schedule(bad)


def test_video_morphs_along_a_schedule(models, tmp_path):
    clip = write_clip(tmp_path / "in.mp4", bunny_frames(20, (128, 72)), rate=10, audio=None)
    env = {registry.ENV_VAR: str(models)}
    morph = tmp_path / "morph.mp4"
    done = cli("video", clip, "-o", morph, "--style-schedule", "0:mosaic,1.9:udnie", "--device", "cpu", env=env)
    assert done.code == 0, done.stderr
    got, _ = read_video(morph)
    ends = {}
    for name in ("mosaic", "udnie"):
        out = tmp_path / f"{name}.mp4"
        assert cli("video", clip, "-o", out, "--style", f"{name}:1", "--device", "cpu", env=env).code == 0
        ends[name] = read_video(out)[0]
    assert len(got) == 20
    m, u = ends["mosaic"], ends["udnie"]  # each frame is coded in its own clip: compare by margins, not identity
    assert psnr(got[0], m[0]) > psnr(got[0], u[0]) + 5 and psnr(got[19], u[19]) > psnr(got[19], m[19]) + 5
    apart = psnr(m[10], u[10])  # about halfway: between the two
    assert psnr(got[10], m[10]) > apart + 1 and psnr(got[10], u[10]) > apart + 1
    assert_clean_error(cli("video", clip, "-o", tmp_path / "x.mp4", "--style", "mosaic", "--style-schedule", "0:mosaic",
                           env=env), "--style or --style-schedule")
    assert_clean_error(cli("video", clip, "-o", tmp_path / "x.mp4", "--style-schedule", "0:mosaic,3:nosuch", env=env),
                       "no multi-style network holds all of these")


def test_webcam_glides_between_styles_of_one_network_and_tours(models):
    runtime = Runtime(EngineOptions(device="cpu"))
    entries = style_entries(["mosaic:0.5,candy:0.5"], runtime)
    assert [e.name for e in entries] == ["mosaic 50% + candy 50%", "mosaic", "candy", "udnie"]
    assert [e.name for e in style_entries(["trio"], runtime)] == list(STYLES)  # the network's name: its styles
    styles = Styles(entries, lambda path: runtime.engine(path), flight=1)
    frames = bunny_frames(12, (96, 64))
    clock = iter(np.repeat(np.arange(0, 100, 0.1), 2)).__next__  # frames 0.1 s apart, two readings each
    display = ScriptedDisplay({2: "n", 9: "g"})
    loop = LiveLoop(ListCapture(frames), styles, display, LiveOptions(), clock=clock)
    seen = []
    run = LiveLoop.take

    def take(self, image, *rest):
        job = run(self, image, *rest)
        seen.append(job.mix)
        return job

    LiveLoop.take = take
    try:
        loop.run()
    finally:
        LiveLoop.take = run
    assert len(styles.engines) == 1  # one network's engines serve every style in it
    assert seen[0] == pytest.approx({"mosaic": 0.5, "candy": 0.5})
    glide = seen[2:2 + round(GLIDE_S / 0.1) + 1]
    assert glide[0] == pytest.approx({"mosaic": 0.5, "candy": 0.5})  # the glide starts where the view was
    weights = [m.get("mosaic", 0.0) for m in glide]
    assert all(x < y for x, y in zip(weights, weights[1:])) and weights[-1] == pytest.approx(1.0)  # on to mosaic
    assert styles.tour


def test_a_network_at_a_mix_draws_what_the_multi_style_network_draws(trio):
    """at_mix folds a blend into one plain network; without() takes a style's rows out."""
    import torch

    from realtime.training import multistyle

    model = multistyle.read_any(trio / "trio.onnx")
    assert model.styles == list(STYLES) and multistyle.is_multistyle(trio / "trio.onnx")
    assert not multistyle.is_multistyle(registry.resolve("mosaic"))
    x = torch.rand(1, 3, 64, 80) * 255
    w = torch.tensor([[0.2, 0.0, 0.8]])
    with torch.no_grad():
        assert torch.allclose(multistyle.at_mix(model, w)(x), model(x, w), atol=1e-3)
        two = multistyle.without(model, "candy")
        assert two.styles == ["mosaic", "udnie"]
        assert torch.allclose(two(x, torch.tensor([[0.2, 0.8]])), model(x, w), atol=1e-3)


@pytest.mark.parametrize("tune", ["norms", "all"])
def test_a_new_painting_starts_from_the_nearest_blend(tune, trio, tmp_path, vgg_weights):
    """`train --init TRIO --tune norms` keeps the convolutions and moves only the norms; `--tune all` moves
    both. Either starts at a fitted blend of the network's styles, written on the card, and exports."""
    import json

    import torch

    from realtime.training import checkpoint, multistyle
    from realtime.training.nearest_mix import weights_of
    from tests.conftest import STYLE

    out = tmp_path / "out"
    result = cli("train", STYLE, "--data", PHOTOS, "--name", "new", "--out-dir", out, "--init", trio / "trio.onnx",
                 "--tune", tune, "--recipe", "custom", "--steps", 3, "--batch-size", 1, "--image-size", 64,
                 "--small-size", 0, "--stability-weight", 0, "--preview-every", 0)
    assert result.code == 0, result.stderr
    assert "starting from trio at " in result.stderr
    card = json.loads((out / "new.json").read_text())
    mix = dict((k, float(v)) for k, v in (part.split(":") for part in card["settings"]["init_mix"].split(",")))
    assert set(mix) <= set(STYLES) and abs(sum(mix.values()) - 1) < 0.01 and card["settings"]["tune"] == tune
    start = multistyle.at_mix(multistyle.read_any(trio / "trio.onnx"), weights_of(multistyle.read_any(trio / "trio.onnx"), mix))
    trained = checkpoint.load(out / "new.ckpt")["model"]
    moved = {k: not torch.equal(v, trained[k]) for k, v in start.state_dict().items()}
    norm_names = [n for n, m in start.named_modules() if isinstance(m, torch.nn.InstanceNorm2d)]
    norms = [f"{n}.{p}" for n in norm_names for p in ("weight", "bias")]
    convs = [k for k in moved if k not in norms]
    assert norms and any(moved[k] for k in norms)
    assert any(moved[k] for k in convs) == (tune == "all"), [k for k in convs if moved[k]]
    exported = out / "new.onnx"
    assert cli("export", out / "new.ckpt", "-o", exported).code == 0
    assert Engine(exported, device="cpu")(photo()).shape == photo().shape


def test_tune_norms_needs_a_network_to_keep(tmp_path):
    from tests.conftest import STYLE

    result = cli("train", STYLE, "--data", PHOTOS, "--name", "n", "--out-dir", tmp_path, "--recipe", "custom",
                 "--tune", "norms", "--steps", 1)
    assert_clean_error(result, "--tune norms")
