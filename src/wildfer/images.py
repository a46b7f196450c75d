"""Opening a photo file as every viewer shows it: the one place wildfer decodes an image file
(``predict``, the Python API, ``serve``, evaluation and the training readers all come here).

- **Upright.** A photo whose EXIF ``Orientation`` says it is stored turned or mirrored (how phones
  store portrait shots: Orientation 6) is turned as viewers turn it, so faces are found in the
  upright picture and boxes are its pixels (:func:`PIL.ImageOps.exif_transpose`).
- **Phone formats.** HEIC/HEIF (an iPhone's default) through pillow-heif's opener for Pillow, a
  core dependency (HEIF's own rotation is applied by it); ``.jfif`` is JPEG.
- **One pixel limit**, :data:`MAX_PIXELS` (200 M pixels: a 200 MP phone photo fits), checked on
  the header before any pixel is decoded; a larger file is refused in one line naming it. Pillow
  warns from 89 M pixels (its decompression-bomb check) and refuses from 179 M: on first use its
  threshold is raised to wildfer's limit and its warning silenced, so a photo is either analysed
  without a word or refused in wildfer's line. ``wildfer serve --max-pixels`` lowers the limit.
"""

from __future__ import annotations

import functools
import io
from pathlib import Path
from typing import BinaryIO, Union

from .errors import DataError

IMAGE_EXTS = {".jpg", ".jpeg", ".jfif", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif", ".heic", ".heif"}
MAX_PIXELS = 200_000_000  # width x height; a 200 MP phone photo (16320 x 12240) is 199.8 M
# EXIF Orientation values that turn the picture by a quarter: its width and height swap
_QUARTER_TURNS = {5, 6, 7, 8}
ORIENTATION = 0x0112

ImageSource = Union[str, Path, bytes, BinaryIO]


@functools.cache
def pillow():
    """``PIL.Image``, set up once for wildfer (module docstring): the HEIF opener registered,
    the decompression-bomb threshold at :data:`MAX_PIXELS` and its warning silenced."""
    import warnings

    from PIL import Image

    try:
        from pillow_heif import register_heif_opener
    except ImportError:  # a broken install: .heic files then fail as unreadable, naming the file
        pass
    else:
        register_heif_opener()
    if Image.MAX_IMAGE_PIXELS is not None and Image.MAX_IMAGE_PIXELS < MAX_PIXELS:
        Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)
    return Image


def describe(source: ImageSource) -> str:
    """How messages name ``source``: the path, a file object's ``name``, else ``<bytes>``."""
    if isinstance(source, (str, Path)):
        return str(source)
    name = getattr(source, "name", None)
    return str(name) if isinstance(name, (str, Path)) else "<bytes>" if isinstance(source, bytes) else "<file object>"


def _fp(source: ImageSource):
    return io.BytesIO(source) if isinstance(source, (bytes, bytearray, memoryview)) else source


def upright_size(im) -> tuple[int, int]:
    """``(width, height)`` of an opened (not yet decoded) image as it is shown: swapped when its
    EXIF orientation turns it by a quarter."""
    w, h = im.size
    return (h, w) if im.getexif().get(ORIENTATION) in _QUARTER_TURNS else (w, h)


def _check_pixels(w: int, h: int, label: str, max_pixels: int) -> None:
    if w * h > max_pixels:
        raise DataError(f"{label}: {w} x {h} = {w * h / 1e6:.1f} M pixels, over the limit of "
                        f"{max_pixels / 1e6:g} M pixels (a decompression bomb?)")


def read_header(source: ImageSource, max_pixels: int = MAX_PIXELS) -> tuple[str, int, int]:
    """``(format, width, height)`` of an image from its header alone (Pillow's format name; the
    size upright). Raises :class:`DataError` naming ``source`` when no reader knows its bytes or it
    holds more than ``max_pixels``."""
    Image = pillow()
    label = describe(source)
    try:
        with Image.open(_fp(source)) as im:
            fmt, (w, h) = im.format, upright_size(im)
    except Image.DecompressionBombError as e:
        raise DataError(f"{label}: over the limit of {max_pixels / 1e6:g} M pixels ({e})") from None
    except (OSError, ValueError, SyntaxError) as e:  # UnidentifiedImageError is an OSError
        raise DataError(f"{label}: not a readable image ({e.__class__.__name__}: {e})") from None
    _check_pixels(w, h, label, max_pixels)
    return fmt, w, h


def open_image(source: ImageSource, max_pixels: int = MAX_PIXELS):
    """The picture in ``source`` (a path, bytes, or a binary file object), decoded whole and
    upright (module docstring), as a ``PIL.Image.Image`` in the file's own mode. Raises
    :class:`DataError` naming the file when it is not a readable image or holds more than
    ``max_pixels``."""
    from PIL import ImageOps

    Image = pillow()
    label = describe(source)
    try:
        with Image.open(_fp(source)) as im:
            _check_pixels(*upright_size(im), label, max_pixels)
            im.load()  # a full decode: a file cut off mid-scan fails here, not later
            ImageOps.exif_transpose(im, in_place=True)
            return im
    except Image.DecompressionBombError as e:
        raise DataError(f"{label}: over the limit of {max_pixels / 1e6:g} M pixels ({e})") from None
    except (OSError, ValueError, SyntaxError) as e:
        raise DataError(f"{label}: not a readable image ({e.__class__.__name__}: {e})") from None
