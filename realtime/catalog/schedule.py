"""`--style-schedule "0:mosaic,5:candy,12:wave"`: a video morphs from style to style along the clip.

At each key time (seconds from the start) the frame is that style alone; between two keys the mix glides
from one to the next (`lerp`, the live loop's glide too); before the first key and after
the last the frame keeps that key's style. All the styles must be held by one multi-style network.
"""

from __future__ import annotations

from dataclasses import dataclass

from realtime.errors import UserError

OPTION = "--style-schedule"


def ease(t: float) -> float:
    """Smoothstep: a glide starts and ends without a jolt."""
    t = min(1.0, max(0.0, t))
    return t * t * (3 - 2 * t)


def lerp(a: dict[str, float], b: dict[str, float], t: float) -> dict[str, float]:
    """The mix a fraction `t` of the way from `a` to `b`, eased (no jolt at either end)."""
    t = ease(t)
    names = list(dict.fromkeys([*a, *b]))
    mixed = {n: float((1 - t) * a.get(n, 0.0) + t * b.get(n, 0.0)) for n in names}
    return {n: w for n, w in mixed.items() if w > 0}


@dataclass(frozen=True)
class StyleSchedule:
    keys: tuple[tuple[float, str], ...]  # (seconds, style), times increasing

    @property
    def styles(self) -> list[str]:
        return list(dict.fromkeys(name for _, name in self.keys))

    def at(self, seconds: float) -> dict[str, float]:
        """The mix for a frame `seconds` into the clip."""
        keys = self.keys
        if seconds <= keys[0][0]:
            return {keys[0][1]: 1.0}
        for (t0, a), (t1, b) in zip(keys, keys[1:]):
            if seconds < t1:
                return lerp({a: 1.0}, {b: 1.0}, (seconds - t0) / (t1 - t0))
        return {keys[-1][1]: 1.0}

    def __str__(self) -> str:
        return ",".join(f"{t:g}:{name}" for t, name in self.keys)


def parse_schedule(text: str) -> StyleSchedule:
    """`SECONDS:STYLE,...` -> a StyleSchedule; mistakes are refused in one line naming the item."""
    keys = []
    for item in (part.strip() for part in text.split(",") if part.strip()):
        when, _, name = item.partition(":")
        try:
            seconds = float(when)
        except ValueError:
            seconds = -1.0
        if not name.strip() or seconds < 0:
            raise UserError(f"{OPTION} {item!r}: give SECONDS:STYLE items, e.g. \"0:mosaic,5:candy,12:wave\"")
        keys.append((seconds, name.strip()))
    if not keys:
        raise UserError(f"{OPTION}: give SECONDS:STYLE items, e.g. \"0:mosaic,5:candy,12:wave\"")
    times = [t for t, _ in keys]
    if len(set(times)) != len(times):
        raise UserError(f"{OPTION} {text}: two styles at the same second")
    return StyleSchedule(tuple(sorted(keys)))
