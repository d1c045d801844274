"""Sample media bundled with realtime (see ATTRIBUTION.md)."""

from pathlib import Path

BUNNY = Path(__file__).with_name("big_buck_bunny_360p.mp4")
