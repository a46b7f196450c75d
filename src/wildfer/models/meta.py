"""What travels with a model's weights (:class:`WeightsMeta`), the shipped models by name, and
where a name or path points. No torch here: running a shipped ONNX model needs only this and
onnxruntime (:mod:`.onnx_model`); checkpoints are read and written by :mod:`.weights` (torch).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import CheckpointError
from ..labels import LabelSet, get_label_set

SHIPPED_DIR = Path(__file__).resolve().parent.parent / "weights"
# Shipped names -> files in the package. A name's runtime follows from its file (``.onnx``: the
# onnxruntime backend), never from the name. ``default`` is the most accurate model that keeps
# predict real-time; ``fast`` a small student distilled from it, for many faces and weak machines.
# ``<name>-int8`` is the int8 copy that scripts/ship_default.py writes beside each, calibrated on
# FER2013 Training faces.
SHIPPED = {
    "default": SHIPPED_DIR / "default.safetensors",
    "default-int8": SHIPPED_DIR / "default.int8.onnx",
    "fast": SHIPPED_DIR / "fast.safetensors",
    "fast-int8": SHIPPED_DIR / "fast.int8.onnx",
}
# The shipped name ``predict --backend auto`` runs instead of a float one when onnxruntime is
# importable (same classes and preprocessing, faster; benchmarks/RESULTS.md).
INT8_COPY = {"default": "default-int8", "fast": "fast-int8"}
META_KEY = "wildfer"
# An exported ONNX graph's input and output names (its layout: :mod:`.onnx_model`); the exporter
# writes them, the runner feeds and reads them.
INPUT, OUTPUT = "input", "logits"
FORMAT_VERSION = 1


@dataclass
class WeightsMeta:
    model: str
    labels: str  # label-set key (see wildfer.labels)
    label_names: list[str]
    input_size: int  # square side, pixels
    in_chans: int  # 1 = grey, 3 = RGB
    mean: list[float]  # per channel, on [0, 1] pixels
    std: list[float]
    model_kwargs: dict = field(default_factory=dict)
    seq_len: int = 1
    config: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    train_groups: list[str] = field(default_factory=list)  # videos/subjects trained on (leakage guard)
    # A pretrained backbone's lineage (models.backbones.lineage: origin, licence status, and its
    # graph without values, from which the architecture is rebuilt); {} for none.
    backbone: dict = field(default_factory=dict)
    # the training sets and their licences (wildfer.data.lineage): [{"dataset", "licence", "root"}]
    datasets: list = field(default_factory=list)
    format: int = FORMAT_VERSION
    # How its input crops are aligned (wildfer.geometry.align): the template the 5 landmarks are
    # moved onto and the margin around it; predict, evaluate and the readers crop faces this way.
    template: str = "fer"
    margin: float = 0.0

    @property
    def label_set(self) -> LabelSet:
        return get_label_set(self.labels)


def is_onnx(path_or_name: str | Path) -> bool:
    """Whether a shipped name, a peer's name (:mod:`.peers`) or a path names an ONNX file (by its
    suffix; the file need not exist)."""
    from .peers import peers

    return str(path_or_name) in peers() or SHIPPED.get(str(path_or_name), Path(path_or_name)).suffix == ".onnx"


RUN_BEST = "best.safetensors"  # what a training run folder given as a model stands for


def resolve(path_or_name: str | Path) -> Path:
    """A shipped name (``default``, ``default-int8``), a peer's name (``opencv-zoo-fer``: the user's
    copy, :mod:`.peers`), a path to a model file, or a training run folder (its ``best.safetensors``)."""
    from .peers import locate_peer

    peer = locate_peer(str(path_or_name))
    if peer is not None:
        return peer
    if str(path_or_name) in SHIPPED:
        p = SHIPPED[str(path_or_name)]
        if not p.is_file():
            raise CheckpointError(f"the shipped model {str(path_or_name)!r} is not installed (reinstall wildfer): {p} is missing")
        return p
    p = Path(path_or_name)
    if p.is_dir():
        if not (p / RUN_BEST).is_file():
            raise CheckpointError(f"{p}: a folder without {RUN_BEST} (a training run folder holds one after its first "
                                  "epoch; or name a checkpoint file)")
        return p / RUN_BEST
    if not p.is_file():
        raise CheckpointError(f"{p}: no such model file (shipped names: {', '.join(SHIPPED)})")
    return p


def model_label(path_or_name: str | Path) -> str:
    """How reports name a model: a shipped name or path as given, a run folder as its checkpoint."""
    p = Path(path_or_name)
    return str(p / RUN_BEST) if str(path_or_name) not in SHIPPED and p.is_dir() else str(path_or_name)


def parse_meta(raw: str, path: str | Path) -> WeightsMeta:
    """The :class:`WeightsMeta` stored as JSON under ``META_KEY`` (safetensors or ONNX metadata),
    checked; a defect raises :class:`CheckpointError` naming ``path``."""
    try:
        meta = WeightsMeta(**json.loads(raw))
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: bad wildfer metadata ({e})") from None
    problem = _meta_problem(meta)
    if problem:
        raise CheckpointError(f"{path}: bad wildfer metadata ({problem})")
    return meta


def _meta_problem(meta: WeightsMeta) -> str | None:
    """What is wrong with the field types/ranges of ``meta`` (None if nothing); the JSON comes from
    a file a user handed us, so nothing in it is trusted before it sizes a model or a resize."""
    def is_int(v) -> bool:
        return isinstance(v, int) and not isinstance(v, bool)

    if not isinstance(meta.model, str) or not isinstance(meta.labels, str):
        return "model and labels must be strings"
    if not isinstance(meta.label_names, list) or not all(isinstance(n, str) for n in meta.label_names):
        return "label_names must be a list of strings"
    if not is_int(meta.input_size) or not 8 <= meta.input_size <= 4096:
        return f"input_size must be an integer side in pixels (8..4096), got {meta.input_size!r}"
    if meta.in_chans not in (1, 3) or not is_int(meta.in_chans):
        return f"in_chans must be 1 or 3, got {meta.in_chans!r}"
    for name in ("mean", "std"):
        v = getattr(meta, name)
        if (not isinstance(v, list) or len(v) != meta.in_chans
                or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v)):
            return f"{name} must list {meta.in_chans} number(s), one per channel, got {v!r}"
    if not all(x > 0 for x in meta.std):
        return f"std must be > 0, got {meta.std!r}"
    if not isinstance(meta.model_kwargs, dict) or not is_int(meta.seq_len) or meta.seq_len < 1:
        return "model_kwargs must be a mapping and seq_len an integer >= 1"
    if meta.template not in ("fer", "abaw"):
        return f"template must be 'fer' or 'abaw', got {meta.template!r}"
    if not isinstance(meta.margin, (int, float)) or isinstance(meta.margin, bool) or not 0 <= meta.margin < 1:
        return f"margin must be a number in [0, 1), got {meta.margin!r}"
    if not isinstance(meta.datasets, list) or not all(isinstance(d, dict) for d in meta.datasets):
        return "datasets must be a list of mappings"
    if not isinstance(meta.backbone, dict) or (meta.backbone and not (
            isinstance(meta.backbone.get("name"), str) and isinstance(meta.backbone.get("graph"), dict))):
        return "backbone must be {} or a mapping with a name and a graph"
    return None
