"""wildfer: facial expressions of people in in-the-wild photos and video.

The public face (``wildfer.api``), imported on first use so that ``import wildfer`` stays cheap
(no torch, no models) for the CLI's start-up and for ``wildfer --version``:

- :func:`analyze` -- the faces in a photo (path, PIL image or RGB uint8 array);
- :class:`Recognizer` -- the models loaded once: ``.analyze(image)``, ``.analyze_video(path)``;
- :class:`Face`, :class:`FrameResult` -- what they return (frozen dataclasses);
- :func:`read_predictions` -- ``wildfer predict``'s ``predictions.csv`` as a pandas DataFrame;
- :class:`WildferError` -- what bad input raises (``wildfer.errors`` has its subclasses).
"""

from . import errors
from .errors import WildferError
from .version import __version__

_API = ("Face", "FrameResult", "Recognizer", "analyze", "read_predictions")
__all__ = [*_API, "WildferError", "errors", "__version__"]


def __getattr__(name: str):
    if name in _API:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'wildfer' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_API))
