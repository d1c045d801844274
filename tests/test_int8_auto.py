"""int8 or float on the CPU, chosen from a measurement made once and cached (realtime.engine.precision).

The shipped mosaic-lite (a CPU network, what auto is for), quantised for real on a few frames of the bundled
clip and timed for real for a fraction of a second: these tests never look at the speeds, only at what is
cached, reused, refused and said. The CPU's int8 flags are set per test, so the measuring path runs on every
machine and the no-VNNI path too."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from realtime.engine import precision
from realtime.engine.build import EngineOptions, Runtime
from realtime.engine.frames import Engine
from realtime.media import images
from realtime.errors import UserError
from tests.conftest import PHOTOS, REPO
from tests.helpers import assert_clean_error, cli

PHOTO = PHOTOS / "kodim23.jpg"


@pytest.fixture
def auto(tmp_path, monkeypatch):
    """auto on (the suite turns it off), a cache of this test's own, a CPU that has VNNI, and copies
    calibrated on 4 frames."""
    cache = tmp_path / "cache"
    monkeypatch.delenv(precision.MODE_ENV, raising=False)
    monkeypatch.setattr(precision, "CALIBRATION_FRAMES", 4)
    monkeypatch.setenv(precision.CACHE_ENV, str(cache))
    monkeypatch.setattr(precision, "fast_int8_flags", lambda: ["avx512_vnni"])
    return cache


@pytest.fixture
def net(tmp_path) -> Path:
    """The shipped CPU network under a name of this test's own, with no installed copy beside it."""
    path = tmp_path / "nets" / "liteauto.onnx"
    path.parent.mkdir()
    shutil.copy(REPO / "models" / "mosaic-lite.onnx", path)
    return path


def files(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}


def test_the_choice_is_measured_once_then_read_from_the_cache(auto, net):
    said: list[str] = []
    first = precision.choose(net, notify=said.append, seconds=0.2)
    assert first.measured and first.precision in ("int8", "fp32")
    assert any("making its int8 copy and timing it" in line for line in said), said
    record = first.record
    assert record["key"]["network_sha256"] == precision.sha256(net) and record["key"]["size"] == "640x480"
    assert record["fp32_ms"] > 0 and record["int8_ms"] > 0 and record["runs"] >= 3
    assert record["choice"] == ("int8" if record["speedup"] >= precision.MIN_GAIN else "fp32")
    assert min(record["psnr_db"]) >= precision.MIN_PSNR_DB  # the copy passed its check
    copies = list((auto / "copies").glob("*/*.int8.onnx"))
    assert len(copies) == 1 and record["copy"] == str(copies[0])
    if first.precision == "int8":
        assert first.path == copies[0] and "running int8" in first.line
    else:
        assert first.path == net and "running float" in first.line and "--int8 to force it" in first.line
    before = files(auto)

    said.clear()
    second = precision.choose(net, notify=said.append, seconds=0.2)
    assert not second.measured and second.record == record and second.path == first.path
    assert not any("making" in line for line in said) and files(auto) == before  # nothing made, timed or written
    # another size class is another measurement, of the same cached copy
    third = precision.choose(net, pixels=1280 * 720, seconds=0.2)
    assert third.measured and third.record["key"]["size"] == "1280x720" and third.record["copy"] == record["copy"]
    assert len(list((auto / "copies").glob("*/*.int8.onnx"))) == 1


def test_the_runtime_says_what_runs_and_reuses_the_choice(auto, net):
    said: list[str] = []
    engine = Runtime(EngineOptions(device="cpu"), said.append).engine(str(net))
    choice = precision.choose(net)
    assert not choice.measured  # the runtime's choice was cached
    assert engine.info.precision == choice.precision
    assert said[0].startswith("liteauto: making its int8 copy") and len(said) == 2
    assert said[1].startswith(f"liteauto: running {'int8' if choice.precision == 'int8' else 'float'} (")


def test_a_copy_that_loses_quality_is_refused_and_the_cache_says_why(auto, net):
    said: list[str] = []
    choice = precision.choose(net, notify=said.append, min_psnr=200.0)  # a bar no int8 copy meets
    assert choice.precision == "fp32" and choice.path == net and not choice.measured  # refused: nothing timed
    assert choice.line.startswith("liteauto: int8 copy refused (PSNR ") and "below 200 dB" in choice.line
    assert choice.line not in said  # choose returns the line; its caller says it
    record = json.loads(precision.choice_path(choice.record["key"]).read_text())
    assert record["choice"] == "fp32" and "refused" in record["no_copy"] and record["min_psnr_db"] == 200.0
    copy_records = list((auto / "copies").glob("*/copy.json"))
    assert len(copy_records) == 1 and json.loads(copy_records[0].read_text())["psnr_db"]
    assert not list((auto / "copies").glob("*/*.onnx"))  # the refused copy is not kept

    said.clear()
    again = precision.choose(net, notify=said.append, min_psnr=200.0)
    assert again.line == choice.line and not said  # from the cache: not quantised again
    forced = Runtime(EngineOptions(device="cpu", int8=True), said.append)
    assert forced.engine(str(net)).info.precision == "int8"  # the usual bar: the same figures pass, a copy is made
    assert not any("refused" in line for line in said)


def test_forced_float_and_int8_and_the_off_switch(auto, net, monkeypatch):
    said: list[str] = []
    fp32 = Runtime(EngineOptions(device="cpu", int8=False), said.append).engine(str(net))
    assert fp32.info.precision == "fp32" and not auto.exists()  # --no-int8: nothing made, nothing timed
    int8 = Runtime(EngineOptions(device="cpu", int8=True), said.append).engine(str(net))
    assert int8.info.precision == "int8" and int8.info.path.parent.parent == auto / "copies"
    assert not (auto / "choices").exists()  # --int8 times nothing
    monkeypatch.setenv(precision.MODE_ENV, "off")
    assert Runtime(EngineOptions(device="cpu"), said.append).engine(str(net)).info.precision == "fp32"
    assert not (auto / "choices").exists()
    monkeypatch.setenv(precision.MODE_ENV, "sometimes")
    with pytest.raises(UserError, match="REALTIME_INT8=sometimes: use auto"):
        Runtime(EngineOptions(device="cpu"), said.append).engine(str(net))


def test_without_vnni_auto_is_float_and_measures_nothing(auto, net, monkeypatch):
    monkeypatch.setattr(precision, "fast_int8_flags", lambda: [])
    choice = precision.choose(net)
    assert choice.precision == "fp32" and choice.path == net and not choice.line and not auto.exists()


def test_an_installed_copy_is_the_one_timed(auto, net, tmp_path):
    from realtime.tools.quantize import int8_path, quantize

    quantize(net, int8_path(net), frames=4)
    choice = precision.choose(net, seconds=0.2)
    assert choice.record["copy"] == str(int8_path(net)) and not (auto / "copies").exists()


def test_the_flag_on_the_command_line(auto, net, tmp_path):
    env = {precision.MODE_ENV: "auto", precision.CACHE_ENV: str(auto)}
    out = tmp_path / "out.png"
    result = cli("image", PHOTO, "-o", out, "--style", net, "--device", "cpu", "--no-int8", env=env, timeout=120)
    assert result.code == 0 and "int8 copy" not in result.stderr and not auto.exists(), result.stderr
    photo = images.read_bgr(PHOTO)
    assert np.array_equal(images.read_bgr(out), Engine(net, device="cpu")(photo))  # float ran
    copy = precision.int8_copy(net)  # made here on a few frames; the command finds it in the cache
    result = cli("image", PHOTO, "-o", out, "--style", net, "--device", "cpu", "--int8", env=env, timeout=120)
    assert result.code == 0 and "making" not in result.stderr and not (auto / "choices").exists(), result.stderr
    assert np.array_equal(images.read_bgr(out), Engine(copy.path, device="cpu")(photo))  # the cached copy ran
    assert_clean_error(cli("image", PHOTO, "-o", out, "--style", net, "--int8", "--fp16", env=env), "--fp16 and --int8")
    assert_clean_error(cli("image", PHOTO, "-o", out, "--style", net, "--device", "cpu",
                           env={**env, precision.MODE_ENV: "maybe"}), "REALTIME_INT8=maybe")
