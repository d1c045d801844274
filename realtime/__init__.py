"""realtime: neural style transfer for webcams, video files and stills."""

__version__ = "0.1.0"
