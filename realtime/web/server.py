"""Serving the browser page (`realtime/web/page/`): the page, onnxruntime-web's files and the installed styles.

Standard library only (http.server), bound to localhost by default: browsers let a page use the camera
only from a secure context, and http://localhost counts as one. Every response carries the
cross-origin-isolation headers, because onnxruntime-web's WASM backend needs SharedArrayBuffer (that
is, isolation) to run on more than one thread.

URL layout: `/` and other plain paths -> the page; `/ort/FILE` -> `node_modules/onnxruntime-web/dist/`
(installed from the npm registry by `npm ci`, never fetched from a CDN: `ort_home` says where); `/styles.json` ->
the installed styles (realtime.catalog.registry) with their I/O convention, and the multi-style networks with
their styles and weights input; `/models/NAME.onnx` -> those files (and a network's CPU copy, NAME-lite.onnx).
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Optional
from urllib.parse import unquote, urlsplit

from realtime.errors import UserError
from realtime.machine import cache_dir

ORT_PACKAGE = "onnxruntime-web"
MIME_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",  # module scripts are refused under any other type
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".wasm": "application/wasm",  # WebAssembly.instantiateStreaming insists on it
    ".onnx": "application/octet-stream",
    ".png": "image/png",
    ".svg": "image/svg+xml",
    ".map": "application/json",
}
ISOLATION_HEADERS = {
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Embedder-Policy": "require-corp",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Cache-Control": "no-cache",
}


@dataclass(frozen=True)
class Site:
    """What the handler serves; one per server, so handlers need no globals."""

    web_dir: Path
    ort_dir: Path
    models: dict[str, Path]
    listing: bytes
    log: Callable[[str], None]


PAGE = Path(__file__).resolve().parent / "page"


def find_web_dir() -> Path:
    """The page ships inside the package (realtime/web/page), in a wheel and a checkout alike."""
    if not (PAGE / "index.html").is_file():
        raise UserError(f"the browser page is missing from this installation ({PAGE}/index.html): reinstall realtime-style")
    return PAGE


def ort_home(web_dir: Path) -> Path:
    """Where onnxruntime-web is installed for a page: beside it in a source checkout or a folder given
    explicitly, in the cache for an installed wheel (site-packages is no place for node_modules)."""
    installed = web_dir == PAGE and not (PAGE.parents[2] / "pyproject.toml").is_file()
    return cache_dir() / "web" if installed else web_dir


def ensure_ort(web_dir: Path, npm: Optional[str], say: Callable[[str], None]) -> Path:
    """onnxruntime-web's dist folder; installed from the page's package-lock.json with `npm ci` when missing."""
    home = ort_home(web_dir)
    dist = home / "node_modules" / ORT_PACKAGE / "dist"
    if (dist / "ort.min.mjs").is_file():
        return dist
    command = f"npm ci --prefix {home}"
    if not npm:
        raise UserError(f"{ORT_PACKAGE} is not installed in {home / 'node_modules'} and npm was not found: "
                        f"install Node.js/npm and run `{command}`")
    if home != web_dir:
        home.mkdir(parents=True, exist_ok=True)
        for name in ("package.json", "package-lock.json"):
            shutil.copy(web_dir / name, home / name)
    say(f"installing {ORT_PACKAGE} from {web_dir / 'package-lock.json'}: {command}")
    proc = subprocess.run([npm, "ci", "--prefix", str(home), "--no-audit", "--no-fund"],
                          capture_output=True, text=True)
    if proc.returncode != 0 or not (dist / "ort.min.mjs").is_file():
        tail = " ".join((proc.stderr or proc.stdout).strip().splitlines()[-3:])[:300]
        raise UserError(f"`{command}` failed ({tail or f'exit {proc.returncode}'}); run it yourself and retry")
    return dist


def read_meta(path: Path) -> dict[str, str]:
    """The model's ONNX metadata (the weights are not loaded)."""
    import onnx

    try:
        return {p.key: p.value for p in onnx.load_model(str(path), load_external_data=False).metadata_props}
    except Exception as exc:  # a corrupt file: leave it out of the listing rather than fail the page
        raise UserError(f"{path}: cannot read this ONNX model ({exc})") from exc


def read_io(path: Path, meta: Optional[dict[str, str]] = None) -> dict[str, Any]:
    """The I/O convention from the model's metadata (as realtime.engine reads it), for the page."""
    meta = read_meta(path) if meta is None else meta
    return {"color_order": meta.get("realtime.color_order", "RGB").upper(),
            "value_range": meta.get("realtime.value_range", "0-255"),
            "pad_multiple": int(meta.get("realtime.pad_multiple", "4"))}


def read_mixing(path: Path) -> dict[str, Any]:
    """A multi-style network's file for the page: its I/O convention, its styles in weight order and the
    name of its weights input (from the metadata, as realtime.engine.session reads them)."""
    meta = read_meta(path)
    weights = meta.get("realtime.style_weights_name")
    styles = [s for s in meta.get("realtime.styles", "").split(",") if s]
    if not weights or not styles:
        raise UserError(f"{path}: its card lists styles but the model has no realtime.styles and "
                        f"realtime.style_weights_name metadata, so the page cannot mix them")
    return {"io": read_io(path, meta), "styles": styles, "weights_input": weights}


FIRST_STYLE = "mosaic"  # the page opens on the style the README shows, when it is installed


def style_listing(say: Callable[[str], None]) -> tuple[dict[str, Path], list[dict[str, Any]], list[dict[str, Any]]]:
    """The installed styles (fp32 files) as the page's style selector wants them, mosaic first, and the
    multi-style networks apart (the page feeds them a mix), each with its CPU copy (NAME-lite) when installed."""
    from realtime.catalog import registry

    models: dict[str, Path] = {}
    listing: list[dict[str, Any]] = []
    networks: list[dict[str, Any]] = []
    for style in sorted(registry.list_styles(), key=lambda s: s.name != FIRST_STYLE):
        note = style.card.get("summary") or style.card.get("note", "")
        try:
            if registry.held_styles(style.card):
                networks.append({"name": style.name, "url": f"/models/{style.name}.onnx", **read_mixing(style.path),
                                 "note": note, "bytes": style.path.stat().st_size})
            else:
                listing.append({"name": style.name, "url": f"/models/{style.name}.onnx", "io": read_io(style.path),
                                "note": note, "bytes": style.path.stat().st_size})
        except UserError as exc:
            say(f"warning: left out of the page: {exc}")
            continue
        models[style.name] = style.path
    for network in networks:
        lite = registry.lite_variant(network["name"])
        if lite is None:
            continue
        try:
            mixing = read_mixing(lite)
        except UserError as exc:
            say(f"warning: left out of the page: {exc}")
            continue
        if mixing["styles"] != network["styles"]:
            say(f"warning: left out of the page: {lite} holds {', '.join(mixing['styles'])}, "
                f"not {', '.join(network['styles'])} as {network['name']}.onnx does")
            continue
        models[lite.stem] = lite
        network["cpu"] = {"url": f"/models/{lite.stem}.onnx", **mixing, "bytes": lite.stat().st_size}
    return models, listing, networks


class Handler(SimpleHTTPRequestHandler):
    """Static files with the routes above; `site` is set on a per-server subclass."""

    site: Site
    protocol_version = "HTTP/1.1"  # keep-alive: the page fetches a few large files
    extensions_map = {**SimpleHTTPRequestHandler.extensions_map, **MIME_TYPES}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, directory=str(self.site.web_dir), **kwargs)

    def end_headers(self) -> None:
        for key, value in ISOLATION_HEADERS.items():
            self.send_header(key, value)
        super().end_headers()

    def send_head(self):  # noqa: ANN201 (a file object or None, as in the base class)
        if urlsplit(self.path).path == "/styles.json":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(self.site.listing)))
            self.end_headers()
            return io.BytesIO(self.site.listing)
        return super().send_head()

    def translate_path(self, path: str) -> str:
        """Map a URL to a file; anything outside the three places gets a path that does not exist."""
        parts = [p for p in unquote(urlsplit(path).path).split("/") if p]
        missing = str(self.site.web_dir / ".missing")
        if any(p.startswith(".") or "\\" in p for p in parts):
            return missing
        if parts[:1] == ["ort"]:
            return str(self.site.ort_dir / parts[1]) if len(parts) == 2 else missing
        if parts[:1] == ["models"]:
            name = parts[1][:-len(".onnx")] if len(parts) == 2 and parts[1].endswith(".onnx") else ""
            return str(self.site.models[name]) if name in self.site.models else missing
        if parts[:1] == ["node_modules"]:
            return missing
        return str(self.site.web_dir.joinpath(*parts))

    def list_directory(self, path):  # noqa: ANN001, ANN201
        self.send_error(404, "no directory listings")
        return None

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass  # successes are noise; errors still reach log_message through log_error

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base class's name)
        self.site.log(f"web: {self.address_string()} {self.command} {self.path}: {format % args}")


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:  # noqa: ANN001
        """A browser that drops a connection (a cancelled model download) is not an error worth a traceback."""
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def make_server(host: str = "127.0.0.1", port: int = 8000, web_dir: Optional[Path] = None,
                say: Callable[[str], None] = print, npm: Optional[str] = "auto") -> Server:
    """A bound (not yet serving) HTTP server for the page; port 0 picks a free one."""
    web = web_dir or find_web_dir()
    ort_dir = ensure_ort(web, shutil.which("npm") if npm == "auto" else npm, say)
    models, listing, networks = style_listing(say)
    if not models:
        say("warning: no styles installed; the page will have nothing to run (see `realtime styles`)")
    site = Site(web, ort_dir, models, json.dumps({"styles": listing, "networks": networks}).encode(), say)
    handler = type("SiteHandler", (Handler,), {"site": site})
    try:
        return Server((host, port), handler)
    except OSError as exc:
        raise UserError(f"cannot listen on {host}:{port} ({exc.strerror or exc}); pick another --port") from exc


def url(server: Server) -> str:
    """The address to open; a wildcard bind is shown as loopback, which browsers trust with the camera."""
    host, port = server.server_address[:2]
    return f"http://{'127.0.0.1' if host == '0.0.0.0' else host}:{port}/"


def is_loopback(host: str) -> bool:
    return host in ("localhost", "0.0.0.0", "::1") or host.startswith("127.")
