"""What an upload is, decided by its bytes, and the limits it must keep.

The client's file name is never a path: one that holds a path or a control character is refused,
the others are used only as labels (:func:`display_name`: in messages, and as a video job's
``source``), never to decide what a file is. Bytes that Pillow or PyAV open are a photo or a video;
bytes that neither opens but that begin as a known format does (a JPEG cut off after its first
bytes, an MP4 without its index: :func:`_magic`) are that format, and get the one-line reason
``wildfer predict`` gives (``not a readable image (...)``, 422); any other bytes are neither (415),
whatever the name says. The file itself is stored as ``input<ext>`` or a random name under ``--data``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# Pillow's format name -> the extension the pipeline reads it by; other formats Pillow knows
# (ICO, PPM, PSD, ...) are refused (415), as `wildfer predict` refuses their extensions.
PIL_EXTS = {"JPEG": ".jpg", "MPO": ".jpg", "PNG": ".png", "BMP": ".bmp", "WEBP": ".webp", "TIFF": ".tif",
            "GIF": ".gif", "HEIF": ".heic"}
# FFmpeg's demuxer name (PyAV's container.format.name, a comma-separated list) -> extension.
AV_EXTS = {"mov": ".mp4", "mp4": ".mp4", "matroska": ".mkv", "webm": ".webm", "avi": ".avi", "mpegts": ".ts",
           "flv": ".flv", "mpeg": ".mpg", "asf": ".wmv"}


class Refused(Exception):
    """An upload the server does not take: an HTTP status and a one-line reason."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status, self.reason = status, reason


@dataclass(frozen=True)
class Media:
    kind: str  # "image" | "video"
    ext: str  # the extension the pipeline reads it by (IMAGE_EXTS | VIDEO_EXTS)
    pixels: int = 0  # width x height (a video: of its frames); 0 when the header did not say


def display_name(filename: str | None) -> str:
    """The client's file name, for messages only, at most 100 characters (``upload`` when none
    is given). A name that holds a path (``/``, ``\\``, ``..``) or a control character is
    refused (422): RFC 7578 says a file name carries no path, and a client that sends one is
    either broken or probing."""
    name = filename or ""
    if "/" in name or "\\" in name or name in (".", "..") or not name.isprintable():
        raise Refused(422, f"file name {name[:60]!r} holds a path or a control character; send the file's name only")
    return name.strip()[:100] or "upload"


def sniff(path: Path, name: str, max_pixels: int) -> Media:
    """What the file at ``path`` holds, by its bytes alone; ``name``: its display name. Raises
    :class:`Refused`: 422 for an empty file, 413 past ``max_pixels``, 415 for bytes of no
    format wildfer reads (module docstring)."""
    if path.stat().st_size == 0:
        raise Refused(422, f"{name}: empty file (0 bytes)")
    media = _pil(path, name) or _av(path, name) or _magic(path)
    if media is None:
        raise Refused(415, f"{name}: neither a photo nor a video (its bytes are of no format wildfer reads)")
    if media.pixels > max_pixels:
        raise Refused(413, f"{name}: {media.pixels / 1e6:.1f} M pixels, over this server's limit of "
                           f"{max_pixels / 1e6:g} M (--max-pixels)")
    return media


def _pil(path: Path, name: str) -> Media | None:
    from ..images import pillow, upright_size

    Image = pillow()  # with the HEIF opener
    try:
        with Image.open(path) as im:  # reads the header only: the size, not the pixels
            fmt, (w, h) = im.format, upright_size(im)
    except Image.DecompressionBombError as e:
        raise Refused(413, f"{name}: too many pixels to decode ({e})") from None
    except (OSError, ValueError, SyntaxError):  # UnidentifiedImageError is an OSError
        return None
    if fmt not in PIL_EXTS:
        raise Refused(415, f"{name}: {fmt} images are not read; send {', '.join(sorted(set(PIL_EXTS) - {'MPO'}))}")
    return Media("image", PIL_EXTS[fmt], w * h)


def _av(path: Path, name: str) -> Media | None:
    import av

    try:
        with av.open(str(path)) as c:
            formats = c.format.name.split(",")
            video = c.streams.video[0] if c.streams.video else None
            w, h = (video.codec_context.width, video.codec_context.height) if video else (0, 0)
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError):
        return None
    ext = next((AV_EXTS[f] for f in formats if f in AV_EXTS), None)
    if ext is None:  # FFmpeg reads nearly anything as something (text as "tty"): only video containers
        return None
    if video is None:
        raise Refused(415, f"{name}: no video stream")
    return Media("video", ext, w * h)


# The first bytes of the formats the pipeline reads, for files that Pillow and PyAV cannot open
# (cut short, damaged): (offset, bytes, kind, extension); an ISO BMFF ``ftyp`` box is told by its brand.
MAGIC = ((0, b"\xff\xd8\xff", "image", ".jpg"), (0, b"\x89PNG", "image", ".png"), (0, b"GIF8", "image", ".gif"),
         (8, b"WEBP", "image", ".webp"), (0, b"II*\x00", "image", ".tif"), (0, b"MM\x00*", "image", ".tif"),
         (0, b"\x1aE\xdf\xa3", "video", ".mkv"), (8, b"AVI ", "video", ".avi"))
HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"mif1", b"msf1"}


def _magic(path: Path) -> Media | None:
    """What a file that no reader opens began as (``MAGIC``), or None."""
    with open(path, "rb") as f:
        head = f.read(16)
    if head[4:8] == b"ftyp":
        return Media("image", ".heic") if head[8:12] in HEIF_BRANDS else Media("video", ".mp4")
    return next((Media(kind, ext) for at, magic, kind, ext in MAGIC if head[at:at + len(magic)] == magic), None)
