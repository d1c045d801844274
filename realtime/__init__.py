"""realtime: neural style transfer for webcams, video files and stills.

The Python API is `Stylizer` and `styles()` (see `realtime.api`); the command line is `realtime --help`.
"""

from realtime.errors import UserError

__version__ = "0.1.0"
__all__ = ["Stylizer", "UserError", "styles", "__version__"]


def __getattr__(name: str):
    """`realtime.Stylizer` and `realtime.styles` load the engine on first use, so `import realtime`
    (and the command line's start) stays light."""
    if name in ("Stylizer", "styles"):
        from realtime import api

        return getattr(api, name)
    raise AttributeError(f"module 'realtime' has no attribute {name!r}")
