"""The engine: a style network on frames (BGR uint8 in and out), and the one path that builds it."""

from realtime.engine.build import EngineOptions, Runtime, open_engine
from realtime.engine.frames import Engine

__all__ = ["Engine", "EngineOptions", "Runtime", "open_engine"]
