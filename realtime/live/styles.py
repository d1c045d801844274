"""The styles the live loop cycles through (n / p), with their engines made on first showing."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from realtime.engine.build import Runtime
from realtime.engine.inflight import cpu_workers
from realtime.errors import UserError
from realtime.catalog import registry
from realtime.catalog.spec import Paintings, parse_style


@dataclass(frozen=True)
class StyleEntry:
    name: str
    path: Path | Paintings  # a network's file, or paintings (realtime.engine.arbitrary)


def style_entries(specs: list[str], runtime: Runtime) -> list[StyleEntry]:
    """--style values (repeatable, comma separated) -> styles to cycle through.

    One style given: that one first, then every installed style for n / p. Several: just those.
    The runtime picks each style's file (full or CPU network, fp16 or int8 copy).
    """
    spec = parse_style(specs)
    names = [spec.single] if spec.is_blend else list(spec.styles)  # paintings blend as one style; other blends are refused

    def entry(name: str, quiet: bool = False) -> StyleEntry:
        target = runtime.model(name, quiet)
        if isinstance(target, Paintings):
            return StyleEntry(target.name, target)
        return StyleEntry(Path(name).stem if registry.is_path_like(name) else name, target)

    entries = [entry(n) for n in names]
    if len(names) == 1:  # the rest for n / p, quietly: their notices would bury the chosen style's
        entries += [entry(s.name, quiet=True) for s in registry.list_styles()]
    unique: list[StyleEntry] = []
    seen: set[Path | Paintings] = set()
    for entry in entries:
        key = entry.path.resolve() if isinstance(entry.path, Path) else entry.path
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

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def current(self) -> StyleEntry:
        return self.entries[self.index]

    def engine_set(self) -> list:
        """The current style's engines, made now if this is its first showing."""
        entry = self.current
        if entry.path not in self.engines:
            self.engines[entry.path] = [self.make_engine(entry.path) for _ in range(self.flight)]
        return self.engines[entry.path]

    def engine(self):
        return self.engine_set()[0]

    def select(self, index: int) -> bool:
        """Show style `index` (0-based), loading it now; a style that fails to load is dropped."""
        if not 0 <= index < len(self.entries):
            self.say(f"no style {index + 1}: {len(self.entries)} loaded (n / p to cycle)")
            return False
        previous = self.index
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

    def step(self, delta: int) -> bool:
        if len(self.entries) < 2:
            self.say("only one style loaded; give several --style or install styles (see `realtime styles`)")
            return False
        return self.select((self.index + delta) % len(self.entries))

    def providers(self) -> list[str]:
        return sorted({getattr(e, "provider", "?") for group in self.engines.values() for e in group})

    def devices(self) -> list[str]:
        return sorted({getattr(e, "device", "?") for group in self.engines.values() for e in group})


def live_flight(entries: list[StyleEntry], on_cpu: bool, asked: int = 0) -> int:
    """Frames in flight for the live loop; `asked` 0 chooses.

    On a CPU of two or more cores the CPU networks (NAME-lite) run as two one-thread sessions fed
    alternate frames: the webcam loop at 640x480 ran 19.4 fps against 14.8 for one session on both cores,
    for 102 ms from taking a frame to its result instead of 67 (benchmarks/webcam_flight.py). A full
    network's frame already takes a fifth of a second there, so it keeps one frame in flight, as does a GPU.
    """
    if asked:
        return asked
    first = entries[0].path
    lite = isinstance(first, Path) and first.stem.split(".")[0].endswith(registry.LITE_SUFFIX)  # NAME-lite(.int8).onnx
    return cpu_workers() if on_cpu and lite else 1
