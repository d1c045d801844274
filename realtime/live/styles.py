"""The styles the live loop cycles through (n / p), with their engines made on first showing.

Styles held by one multi-style network share its engines; stepping between two of them glides: the mix
moves from one to the other over `GLIDE_S` instead of cutting (a tour glides slower, `TOUR_GLIDE_S`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from realtime.engine.build import Runtime
from realtime.engine.inflight import cpu_workers
from realtime.errors import UserError
from realtime.catalog import registry
from realtime.catalog.registry import Mix
from realtime.catalog.schedule import lerp
from realtime.catalog.spec import Paintings, parse_style

GLIDE_S = 0.5  # n / p between styles of one multi-style network
TOUR_GLIDE_S = 2.0  # the tour (g): a slow glide ...
TOUR_STAY_S = 4.0  # ... every this many seconds


@dataclass(frozen=True)
class StyleEntry:
    name: str
    path: Path | Paintings | Mix  # a network's file, paintings (realtime.engine.arbitrary), or a multi-style mix

    @property
    def key(self) -> Path | Paintings:
        """What its engines are made from: the styles of one multi-style network share them."""
        return self.path.path if isinstance(self.path, Mix) else self.path


def style_entries(specs: list[str], runtime: Runtime) -> list[StyleEntry]:
    """--style values (repeatable, comma separated) -> styles to cycle through.

    One style given: that one first, then every installed style for n / p. Several: just those.
    A blend, or a style held by a multi-style network: it first, then that network's styles, which n / p
    glide between. The name of a multi-style network: its styles.
    The runtime picks each style's file (full or CPU network, fp16 or int8 copy).
    """
    spec = parse_style(specs)
    names = [spec.single] if spec.is_blend else list(spec.styles)  # paintings blend as one style
    networks = {n.name: registry.held_styles(n.card) for n in registry.multistyle_networks()}
    if len(names) == 1 and names[0] in networks:
        names = networks[names[0]]

    def entry(name: str, quiet: bool = False) -> StyleEntry:
        target = runtime.model(name, quiet)
        if isinstance(target, Paintings):
            return StyleEntry(target.name, target)
        if isinstance(target, Mix):
            return StyleEntry(target.describe(), target)
        return StyleEntry(Path(name).stem if registry.is_path_like(name) else name, target)

    entries = [entry(n) for n in names]
    if len(names) == 1 and isinstance(entries[0].path, Mix):  # the network's styles for n / p: glides
        held = next(styles for styles in networks.values() if set(entries[0].path.as_dict()) <= set(styles))
        entries += [entry(f"{s}:1", quiet=True) for s in held]
    elif len(names) == 1:  # the rest for n / p, quietly: their notices would bury the chosen style's
        entries += [entry(s.name, quiet=True) for s in registry.list_styles() if s.name not in networks]
    unique: list[StyleEntry] = []
    seen: set = set()
    for entry in entries:
        key = entry.path.resolve() if isinstance(entry.path, Path) else entry.path
        if isinstance(key, Mix):
            key = (key.path.resolve(), key.weights)
        if key not in seen:
            seen.add(key)
            unique.append(entry)
    return unique


class Styles:
    """The styles to cycle through, with their engines made lazily and cached: `flight` engines per style
    (one per frame in flight, realtime.engine.inflight)."""

    def __init__(self, entries: list[StyleEntry], make_engine: Callable[[Path | Paintings], object],
                 say: Callable[[str], None] = lambda msg: None, flight: int = 1):
        if not entries:
            raise UserError("no style to show")
        self.entries = list(entries)
        self.make_engine = make_engine
        self.say = say
        self.flight = max(1, flight)
        self.engines: dict[Path | Paintings, list] = {}
        self.index = 0
        self.tour = False
        self._glide: tuple[dict[str, float], float, float | None] | None = None  # from, seconds, start (None: next frame)
        self._stepped_at: float | None = None
        self._last_mix: dict[str, float] | None = None

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def current(self) -> StyleEntry:
        return self.entries[self.index]

    def engine_set(self) -> list:
        """The current style's engines, made now if this is its first showing."""
        key = self.current.key
        if key not in self.engines:
            self.engines[key] = [self.make_engine(self.current.path) for _ in range(self.flight)]
        return self.engines[key]

    def mix_at(self, now: float) -> dict[str, float] | None:
        """The mix for a frame taken at `now`: the current style's, or on the way to it; None for a style
        that is not a multi-style mix. A tour steps on here, when its time has come."""
        if self.tour and len(self.entries) > 1:
            if self._stepped_at is None:
                self._stepped_at = now
            elif now - self._stepped_at >= TOUR_STAY_S:
                self._stepped_at = now
                self.step(+1, glide=TOUR_GLIDE_S)
        target = self.current.path
        if not isinstance(target, Mix):
            self._last_mix = None
            return None
        mix = target.as_dict()
        if self._glide is not None:
            start, seconds, began = self._glide
            if began is None:
                began = now
                self._glide = (start, seconds, began)
            if (now - began) / seconds >= 1:
                self._glide = None
            else:
                mix = lerp(start, mix, (now - began) / seconds)
        self._last_mix = mix
        return mix

    def toggle_tour(self) -> bool:
        self.tour, self._stepped_at = not self.tour, None
        return self.tour

    def engine(self):
        return self.engine_set()[0]

    def select(self, index: int, glide: float = GLIDE_S) -> bool:
        """Show style `index` (0-based), loading it now; a style that fails to load is dropped. Between
        styles of one multi-style network the mix glides there over `glide` seconds."""
        if not 0 <= index < len(self.entries):
            self.say(f"no style {index + 1}: {len(self.entries)} loaded (n / p to cycle)")
            return False
        previous = self.index
        before, after = self.current.path, self.entries[index].path
        if isinstance(before, Mix) and isinstance(after, Mix) and before.path == after.path and glide > 0:
            self._glide = (self._mix_now(before), glide, None)
        else:
            self._glide = None
        self.index = index
        try:
            self.engine()
        except UserError as exc:
            self.say(f"skipping style {self.entries[index].name}: {exc}")
            del self.entries[index]
            self.index = previous if previous < index else max(0, previous - 1)
            return False
        self.say(f"style {self.index + 1}/{len(self.entries)}: {self.current.name}")
        return True

    def _mix_now(self, current: Mix) -> dict[str, float]:
        """Where a glide starts: mid-glide, from the last mix shown (no jump back)."""
        return dict(self._last_mix) if self._glide is not None and self._last_mix else current.as_dict()

    def step(self, delta: int, glide: float = GLIDE_S) -> bool:
        if len(self.entries) < 2:
            self.say("only one style loaded; give several --style or install styles (see `realtime styles`)")
            return False
        return self.select((self.index + delta) % len(self.entries), glide)

    def providers(self) -> list[str]:
        return sorted({getattr(e, "provider", "?") for group in self.engines.values() for e in group})

    def devices(self) -> list[str]:
        return sorted({getattr(e, "device", "?") for group in self.engines.values() for e in group})


def live_flight(entries: list[StyleEntry], on_cpu: bool, asked: int = 0) -> int:
    """Frames in flight for the live loop; `asked` 0 chooses.

    On a CPU of two or more cores the CPU networks (NAME-lite) run as two one-thread onnxruntime sessions fed
    alternate frames: the webcam loop at 640x480 ran 19.4 fps against 14.8 for one session on both cores,
    for 102 ms from taking a frame to its result instead of 67 (benchmarks/webcam_flight.py). A full
    network's frame already takes a fifth of a second there, so it keeps one frame in flight, as does a GPU.
    """
    if asked:
        return asked
    first = entries[0].path
    lite = isinstance(first, Path) and first.stem.split(".")[0].endswith(registry.LITE_SUFFIX)  # NAME-lite(.int8).onnx
    return cpu_workers() if on_cpu and lite else 1
