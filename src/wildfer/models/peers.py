"""Third-party expression classifiers run as they ship, beside wildfer's models (``wildfer evaluate
--model opencv-zoo-fer`` or ``--model PATH.onnx``).

A peer is a :mod:`.pretrained` entry whose file is a whole classifier (``classes`` set): its ONNX
file carries no wildfer metadata, so :mod:`.onnx_model` makes the metadata from the entry (its
classes, input size, colour order, normalisation and alignment template), and a file is
recognised by its sha256, never by its name. The file is the user's copy (``WILDFER_BACKBONES``), checked as a
backbone is. No torch.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from .pretrained import BACKBONES, BackboneCfg, check_sha, locate


def peers() -> dict[str, BackboneCfg]:
    return {n: c for n, c in BACKBONES.items() if c.classes and c.format == "onnx-int8"}


def locate_peer(name: str) -> Path | None:
    """The user's copy of the peer ``name`` (None: ``name`` is not a peer); errors name what is missing."""
    cfg = peers().get(str(name))
    if cfg is None:
        return None
    path = locate(cfg)
    check_sha(cfg, path)
    return path


def peer_of(path: str | Path) -> BackboneCfg | None:
    """The peer whose file ``path`` is (by sha256), or None."""
    h = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    return next((c for c in peers().values() if c.sha256 == h), None)
