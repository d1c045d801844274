"""The browser page (realtime/web/page/): `realtime web` serving it, and Debian's Chromium, headless, running the shipped
style on a fake camera fed from a real clip (Chromium's own --use-file-for-fake-video-capture).

The stylised frame is checked against onnxruntime in Python on the very frame the page fed the network
(the page keeps it in a hidden canvas), so the test proves the page's pre- and post-processing, not just
that something was drawn. A screenshot goes to benchmarks/ to be looked at. A multi-style network made
here from shipped networks gets the page's morph: on a still camera, its two ends and a blend differ and
each matches onnxruntime in Python with the same style weights.
"""

from __future__ import annotations

import base64
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from email.message import Message
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np
import pytest

from realtime.web import server as webserve
from realtime.errors import UserError
from realtime.samples import BUNNY
from tests.helpers import REPO, ctrl_c_works

CHROMIUM = Path("/usr/bin/chromium")
WEB = REPO / "realtime" / "web" / "page"
# Saved where the committed one lives only when asked (REALTIME_SAVE_SCREENSHOTS=1), so a test run leaves
# the checkout clean; otherwise into the test's temporary folder.
SCREENSHOT = REPO / "benchmarks" / "web_chromium_screenshot.png"
CLIP = BUNNY  # the bundled sample, 640x360 at 25 fps


@pytest.fixture(scope="module")
def ort_web() -> Path:
    """onnxruntime-web in the page folder's node_modules, installed from the lock file as a user (or CI) would."""
    dist = WEB / "node_modules" / "onnxruntime-web" / "dist"
    if not (dist / "ort.min.mjs").is_file():
        npm = shutil.which("npm")
        if not npm:
            pytest.skip("npm not found: cannot install onnxruntime-web (npm ci) for the browser page")
        proc = subprocess.run([npm, "ci", "--prefix", str(WEB), "--no-audit", "--no-fund"], capture_output=True,
                              text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-2000:]
    assert (dist / "ort.min.mjs").is_file()
    return dist


@pytest.fixture(scope="module")
def fake_camera(tmp_path_factory) -> Path:
    """40 frames of the bundled sample at 640x360 as Y4M (4:2:0, BT.601 limited range), which Chromium loops."""
    path = tmp_path_factory.mktemp("camera") / "bunny.y4m"
    cap = cv2.VideoCapture(str(CLIP))
    assert cap.isOpened(), CLIP
    frames = 0
    with open(path, "wb") as out:
        out.write(b"YUV4MPEG2 W640 H360 F25:1 Ip A1:1 C420\n")
        while frames < 40:
            ok, frame = cap.read()
            if not ok:
                break
            frame = cv2.resize(frame, (640, 360), interpolation=cv2.INTER_AREA)
            out.write(b"FRAME\n" + cv2.cvtColor(frame, cv2.COLOR_BGR2YUV_I420).tobytes())
            frames += 1
    cap.release()
    assert frames == 40
    return path


@pytest.fixture(scope="module")
def still_camera(tmp_path_factory) -> Path:
    """One frame of the bundled sample at 640x360, twice, as Y4M: a camera that does not move, so two
    stylised frames differ only by what the page fed the network."""
    path = tmp_path_factory.mktemp("still") / "still.y4m"
    cap = cv2.VideoCapture(str(CLIP))
    for _ in range(12):
        ok, frame = cap.read()
        assert ok, CLIP
    cap.release()
    frame = cv2.cvtColor(cv2.resize(frame, (640, 360), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2YUV_I420)
    path.write_bytes(b"YUV4MPEG2 W640 H360 F25:1 Ip A1:1 C420\n" + (b"FRAME\n" + frame.tobytes()) * 2)
    return path


MIXED = ("mosaic", "candy", "udnie")


@pytest.fixture(scope="module")
def trio_models(tmp_path_factory) -> Path:
    """A folder holding a multi-style network, `trio` (mosaic, candy, udnie from the shipped networks), and
    a copy of it as its CPU network, trio-lite."""
    from realtime.training import multistyle

    folder = tmp_path_factory.mktemp("web_models")
    model = multistyle.from_shipped({s: s for s in MIXED}).eval()
    multistyle.export_onnx(model, folder / "trio.onnx", step=0)
    shutil.copy(folder / "trio.onnx", folder / "trio-lite.onnx")
    shutil.copy(folder / "trio.json", folder / "trio-lite.json")
    return folder


def serve(**kwargs) -> Iterator[str]:
    server = webserve.make_server("127.0.0.1", 0, say=lambda msg: None, **kwargs)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield webserve.url(server)
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def local_server(ort_web) -> Iterator[str]:
    """The same server in this process, on a free port; yields its URL."""
    yield from serve()


@pytest.fixture
def trio_server(ort_web, trio_models, monkeypatch) -> Iterator[str]:
    """The server with the trio folder in REALTIME_MODELS."""
    from realtime.catalog import registry

    monkeypatch.setenv(registry.ENV_VAR, str(trio_models))
    yield from serve()


def get(base: str, path: str) -> tuple[int, Message, bytes]:
    try:
        with urllib.request.urlopen(base.rstrip("/") + path, timeout=30) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, b""


def need_chromium() -> None:
    if not CHROMIUM.is_file():
        print(f"\nbrowser test skipped: {CHROMIUM} not installed (apt-get install chromium)", file=sys.stderr)
        pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium): the browser test needs Debian's Chromium")


def launch(playwright, *extra: str):
    """Debian's Chromium, headless; root needs --no-sandbox (Chromium refuses to sandbox as root)."""
    args = ["--disable-dev-shm-usage", *extra]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args.append("--no-sandbox")
    return playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=args, timeout=60_000)


def canvas_pixels(page, element_id: str) -> np.ndarray:
    """A canvas's pixels as RGB uint8, through a lossless PNG data URL."""
    url = page.evaluate(f"document.getElementById({element_id!r}).toDataURL('image/png')")
    png = np.frombuffer(base64.b64decode(url.split(",", 1)[1]), np.uint8)
    bgr = cv2.imdecode(png, cv2.IMREAD_COLOR)
    assert bgr is not None, element_id
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def reference(rgb: np.ndarray) -> np.ndarray:
    """The shipped style run by onnxruntime in Python on the same frame (RGB 0-255 NCHW in and out)."""
    import onnxruntime as ort

    from realtime.catalog import registry

    session = ort.InferenceSession(str(registry.resolve("mosaic")), providers=["CPUExecutionProvider"])
    blob = rgb.astype(np.float32).transpose(2, 0, 1)[None]
    out = session.run(None, {"input": blob})[0][0].transpose(1, 2, 0)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def read_url(proc: subprocess.Popen, timeout: float) -> str:
    """The URL that `realtime web` prints once it listens."""
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.5)
        except queue.Empty:
            if proc.poll() is not None:
                break
            continue
        if "http://" in line:
            return line[line.index("http://"):].split()[0]
    proc.kill()
    pytest.fail(f"realtime web printed no URL: {proc.stderr.read() if proc.stderr else ''}")


# -- the server alone ---------------------------------------------------------------------------------
def test_server_routes_types_and_isolation(local_server):
    def get(path: str) -> tuple[int, Message, bytes]:
        return globals()["get"](local_server, path)

    status, headers, body = get("/")
    assert status == 200 and b'src="app.js"' in body
    assert headers["Cross-Origin-Opener-Policy"] == "same-origin"  # isolation: threaded WASM
    assert headers["Cross-Origin-Embedder-Policy"] == "require-corp"
    for path, mime in [("/app.js", "text/javascript"), ("/ort/ort.min.mjs", "text/javascript"),
                       ("/ort/ort-wasm-simd-threaded.jsep.wasm", "application/wasm"),
                       ("/models/mosaic.onnx", "application/octet-stream"), ("/styles.json", "application/json")]:
        status, headers, body = get(path)
        assert status == 200 and headers["Content-Type"].startswith(mime) and body, (path, status, headers)
    import json

    listing = json.loads(get("/styles.json")[2])["styles"]
    mosaic = next(s for s in listing if s["name"] == "mosaic")
    assert mosaic["url"] == "/models/mosaic.onnx"
    assert mosaic["io"] == {"color_order": "RGB", "value_range": "0-255", "pad_multiple": 1}
    for path in ["/node_modules/onnxruntime-web/package.json", "/ort/", "/models/../../README.md",
                 "/models/nope.onnx", "/.gitignore", "/%2e%2e/README.md", "/ort/../../package.json"]:
        assert get(path)[0] == 404, path


def test_styles_json_lists_a_multi_style_network_with_its_styles(trio_server, trio_models):
    import json

    listing = json.loads(get(trio_server, "/styles.json")[2])
    assert "trio" not in [s["name"] for s in listing["styles"]]  # the page cannot run it without a mix
    assert "mosaic" in [s["name"] for s in listing["styles"]]
    (trio,) = [n for n in listing["networks"] if n["name"] == "trio"]
    assert trio["styles"] == list(MIXED) and trio["weights_input"] == "style_weights"
    assert trio["url"] == "/models/trio.onnx" and trio["io"]["color_order"] == "RGB"
    assert trio["cpu"]["url"] == "/models/trio-lite.onnx" and trio["cpu"]["styles"] == list(MIXED)
    for url, file in [(trio["url"], "trio.onnx"), (trio["cpu"]["url"], "trio-lite.onnx")]:
        status, headers, body = get(trio_server, url)
        assert status == 200 and body == (trio_models / file).read_bytes(), url


def test_missing_onnxruntime_web_says_how_to_install(tmp_path):
    (tmp_path / "index.html").write_text("<!doctype html>")
    with pytest.raises(UserError, match=r"npm ci --prefix"):
        webserve.make_server("127.0.0.1", 0, web_dir=tmp_path, npm=None)


def test_missing_onnxruntime_web_is_installed_from_the_lock_file(tmp_path):
    npm = shutil.which("npm")
    if not npm:
        pytest.skip("npm not found: cannot check the automatic `npm ci`")
    for name in ("index.html", "package.json", "package-lock.json"):
        shutil.copy(WEB / name, tmp_path / name)
    said: list[str] = []
    server = webserve.make_server("127.0.0.1", 0, web_dir=tmp_path, say=said.append, npm=npm)
    server.server_close()
    assert any("npm ci --prefix" in line for line in said), said
    assert (tmp_path / "node_modules" / "onnxruntime-web" / "dist" / "ort.min.mjs").is_file()


# -- the page in Chromium -----------------------------------------------------------------------------
def test_page_stylises_the_fake_camera(ort_web, fake_camera, tmp_path):
    """`realtime web` as a user starts it; Chromium's fake camera plays the clip; frames are stylised."""
    need_chromium()
    from playwright.sync_api import sync_playwright

    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "realtime", "web", "--port", "0"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, preexec_fn=ctrl_c_works, cwd=REPO)
    try:
        url = read_url(proc, timeout=60)
        assert url.startswith("http://127.0.0.1:"), url
        with sync_playwright() as pw:
            browser = launch(pw, "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                             f"--use-file-for-fake-video-capture={fake_camera}")
            try:
                page = browser.new_page(viewport={"width": 1300, "height": 560})
                problems: list[str] = []
                page.on("pageerror", lambda exc: problems.append(str(exc)))
                page.goto(url)
                page.wait_for_function("() => { const s = window.realtimeStatus;"
                                       " return s && (s.error || s.frames >= 4); }", timeout=90_000, polling=250)
                status = page.evaluate("window.realtimeStatus")
                assert status["error"] is None, status
                assert not problems, problems
                assert status["frames"] >= 4 and status["style"] == "mosaic", status
                assert status["backend"] in ("webgpu", "wasm"), status
                assert (status["width"], status["height"]) == (320, 180), status  # default width, clip's aspect
                assert status["camera"]["width"] == 640 and status["camera"]["height"] == 360, status
                assert f"backend {status['backend']}" in page.inner_text("#status")
                shot = SCREENSHOT if os.environ.get("REALTIME_SAVE_SCREENSHOTS") == "1" else tmp_path / SCREENSHOT.name
                page.screenshot(path=str(shot))
                assert shot.stat().st_size > 10_000

                page.click("#pause")  # the loop stops after its frame: the two canvases then hold one pair
                page.wait_for_function("window.realtimeStatus.paused", timeout=30_000, polling=100)
                fed = canvas_pixels(page, "input")
                shown = canvas_pixels(page, "stylised")

                page.select_option("#width", "160")  # the processing size is the user's to change
                page.click("#pause")
                page.wait_for_function("() => { const s = window.realtimeStatus;"
                                       " return s.error || (!s.paused && s.width === 160); }", timeout=30_000)
                assert page.evaluate("window.realtimeStatus")["height"] == 90
            finally:
                browser.close()
        print(f"\nbrowser: {status['backend']} ({status.get('threads')} threads) {status['fps']:.2f} fps at "
              f"320x180, {status['frames']} frames; {time.monotonic() - started:.1f} s in all", file=sys.stderr)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            code = proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    stderr = proc.stderr.read()
    assert code == 130 and "stopped" in stderr, stderr

    assert fed.shape == shown.shape == (180, 320, 3)
    assert fed.std() > 30, "the camera frame is blank: the fake camera did not deliver the clip"
    assert shown.std() > 15 and len(np.unique(shown.reshape(-1, 3), axis=0)) > 1000, "stylised frame is flat"
    change = np.abs(shown.astype(np.int16) - fed.astype(np.int16)).mean()
    assert change > 20, f"stylised frame is too close to the camera frame (mean |diff| {change:.1f})"
    ref = reference(fed)
    diff = np.abs(shown.astype(np.int16) - ref.astype(np.int16))
    tolerance = 1.0 if status["backend"] == "wasm" else 3.0  # GPUs reorder float sums more freely
    print(f"browser vs onnxruntime (Python, CPU) on the same frame: mean |diff| {diff.mean():.3f}, "
          f"max {diff.max()} (0-255)", file=sys.stderr)
    assert diff.mean() < tolerance and np.percentile(diff, 99.9) <= 8 * tolerance, (
        f"browser vs onnxruntime: mean {diff.mean():.2f}, p99.9 {np.percentile(diff, 99.9)}, max {diff.max()}")


def test_page_reports_no_camera_and_a_failed_model(local_server):
    """Readable errors on the page: no camera at all, and a style file that cannot be fetched."""
    need_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = launch(pw)  # no fake device: no camera (or, beside a real one, no permission)
        try:
            page = browser.new_page()
            page.goto(local_server)
            page.wait_for_function("() => window.realtimeStatus && window.realtimeStatus.errors.camera", timeout=60_000)
            error = page.inner_text("#error")
            assert ("No camera was found" in error or "Camera access was refused" in error) and "video file" in error, error

            page = browser.new_page()
            page.route("**/models/*.onnx", lambda route: route.fulfill(status=404, body="gone"))
            page.goto(local_server)
            page.wait_for_function("() => window.realtimeStatus && window.realtimeStatus.errors.style", timeout=60_000)
            error = page.inner_text("#error")  # the camera's error is there too, on its own line
            assert 'The style "mosaic" could not be downloaded' in error and "404" in error, error
        finally:
            browser.close()


def mixed_reference(rgb: np.ndarray, model: Path, weights: list[float]) -> np.ndarray:
    """A multi-style network run by onnxruntime in Python on one frame with these style weights."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    blob = rgb.astype(np.float32).transpose(2, 0, 1)[None]
    out = session.run(None, {"input": blob, "style_weights": np.array([weights], np.float32)})[0][0]
    return np.clip(np.rint(out.transpose(1, 2, 0)), 0, 255).astype(np.uint8)


def test_page_morphs_a_multi_style_network(trio_server, trio_models, still_camera):
    """Pick the multi-style network, then A, B and the slider: each frame feeds the mix, and the same
    camera frame comes out as style A, style B and a blend unlike both, from one session."""
    need_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = launch(pw, "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                         f"--use-file-for-fake-video-capture={still_camera}")
        try:
            page = browser.new_page()
            problems: list[str] = []
            page.on("pageerror", lambda exc: problems.append(str(exc)))
            page.goto(trio_server + "?width=160")
            page.wait_for_function("() => { const s = window.realtimeStatus; return s && (s.error || s.frames >= 1); }",
                                   timeout=90_000, polling=250)
            assert page.evaluate("window.realtimeStatus.style") == "mosaic" and page.is_hidden("#morph")

            page.select_option("#style", "trio")
            page.wait_for_function("() => { const s = window.realtimeStatus;"
                                   " return s.error || (s.style === 'trio' && s.frames >= 1 && s.mixText); }",
                                   timeout=60_000, polling=100)
            status = page.evaluate("window.realtimeStatus")
            assert status["error"] is None and not problems, (status, problems)
            assert page.is_visible("#morph")
            assert page.eval_on_selector_all("#mix-a option", "os => os.map(o => o.value)") == list(MIXED)
            cpu = status["backend"] == "wasm"
            assert status["model"] == ("/models/trio-lite.onnx" if cpu else "/models/trio.onnx"), status
            sessions = status["sessions"]

            page.select_option("#mix-a", "mosaic")
            page.select_option("#mix-b", "udnie")
            shots: dict[int, tuple[np.ndarray, np.ndarray]] = {}
            texts = {0: "mosaic", 100: "udnie", 50: "mosaic 50% + udnie 50%"}
            for at, text in texts.items():
                page.evaluate("(v) => { const s = document.getElementById('mix-t'); s.value = v;"
                              " s.dispatchEvent(new Event('input', { bubbles: true })); }", str(at))
                page.wait_for_function("(t) => { const s = window.realtimeStatus; return s.error || s.mixText === t; }",
                                       arg=text, timeout=30_000, polling=50)
                page.click("#pause")
                page.wait_for_function("window.realtimeStatus.paused", timeout=30_000, polling=50)
                shots[at] = canvas_pixels(page, "input"), canvas_pixels(page, "stylised")
                assert text in page.inner_text("#status") and page.inner_text("#mix-text") == text
                page.click("#pause")
                page.wait_for_function("!window.realtimeStatus.paused", timeout=30_000, polling=50)

            page.click("#tour")  # from 50% the tour glides on to udnie, then on to candy
            page.wait_for_function("() => { const s = window.realtimeStatus; return s.error || s.mixText === 'udnie'; }",
                                   timeout=30_000, polling=50)
            assert page.evaluate("window.realtimeStatus.tour") and page.inner_text("#tour") == "stop tour"
            page.click("#tour")
            status = page.evaluate("window.realtimeStatus")
            assert status["error"] is None and not problems, (status, problems)
            assert status["sessions"] == sessions, "a mix change rebuilt the session"
        finally:
            browser.close()

    fed = shots[0][0]
    assert fed.shape == (90, 160, 3) and fed.std() > 30
    for at, (frame, _) in shots.items():
        assert np.abs(frame.astype(np.int16) - fed).mean() < 0.5, f"the still camera moved at {at}%"
    a, b, mid = (shots[at][1].astype(np.int16) for at in (0, 100, 50))
    apart = np.abs(a - b).mean()
    to_a, to_b = np.abs(mid - a).mean(), np.abs(mid - b).mean()
    print(f"\nmorph at 160x90: |A-B| {apart:.1f}, |mid-A| {to_a:.1f}, |mid-B| {to_b:.1f} (0-255)", file=sys.stderr)
    assert apart > 20, f"the two ends look alike (mean |diff| {apart:.1f})"
    assert 5 < to_a < apart and 5 < to_b < apart, (apart, to_a, to_b)
    tolerance = 1.0 if cpu else 3.0
    for at, weights in [(0, [1, 0, 0]), (100, [0, 0, 1]), (50, [0.5, 0, 0.5])]:
        ref = mixed_reference(shots[at][0], trio_models / "trio.onnx", weights)
        diff = np.abs(shots[at][1].astype(np.int16) - ref)
        assert diff.mean() < tolerance, f"{at}%: browser vs onnxruntime mean |diff| {diff.mean():.2f}"
