"""Int8 ONNX models: static post-training quantisation with onnxruntime, calibrated on faces.

``quantize_int8(model, out, calib)`` exports ``model`` (checkpoint, shipped name or ``.onnx``) to
float32 ONNX, then lets ``onnxruntime.quantization.quantize_static`` insert QuantizeLinear /
DequantizeLinear pairs (QDQ format): weights int8 per output channel, activations uint8 per
tensor, ranges from the min/max of the activations on the calibration faces. The result keeps the
graph contract and the embedded metadata of :mod:`wildfer.models.onnx_export`, so
``predict --backend onnx --model m.int8.onnx`` and ``evaluate --model m.int8.onnx`` take it as is.

Calibration faces (``calibration_faces``): the first ``n`` images of a FER2013 folder's Training
split (a folder holding ``fer2013.csv[.gz]``), the first ``n`` faces of a labelled-boxes folder
(``labels.csv`` + ``images/``, e.g. expw_train: cropped as predict crops them), or the first ``n``
images of an image folder (any depth), at the model's input size, colour mode and alignment
template, as uint8 ``(N, C, S, S)``. They should look like the faces the model will see: aligned
crops, not whole photos.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch

from ..errors import ConfigError, DataError
from ..images import IMAGE_EXTS
from .meta import INPUT
from .onnx_export import export_model
from .onnx_model import OnnxModel, read_onnx_meta
from .preprocess import normalize, softmax
from .weights import META_KEY, WeightsMeta, is_onnx, load_model, resolve


def calibration_faces(source: str | Path, meta: WeightsMeta, n: int = 512) -> np.ndarray:
    """Up to ``n`` uint8 faces ``(N, C, S, S)`` at ``meta``'s size/channels, aligned at its
    template and margin (see module docstring)."""
    from ..data.datasets import ArrayDataset, load_image

    src = Path(source)
    s, c = meta.input_size, meta.in_chans
    if any((src / f).is_file() for f in ("fer2013.csv", "fer2013.csv.gz")):
        from ..data.fer2013 import read_fer2013

        part = read_fer2013(src).split("Training")
        ds = ArrayDataset.from_numpy(part.images[:n], part.labels[:n], meta.label_set, s, c, None, None,
                                     meta.template, meta.margin)
        faces = ds.images.numpy()
    elif (src / "labels.csv").is_file() and (src / "images").is_dir():  # labelled boxes: as predict crops them
        from ..data.boxes import box_faces

        ds, _, _ = box_faces(src, c, s, progress=False, template=meta.template, margin=meta.margin)
        faces = ds.images[:n].numpy()
    elif src.is_dir():
        from ..geometry.align import reframe

        files = sorted(p for p in src.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTS)[:n]
        faces = np.stack([load_image(p, c, s).transpose(2, 0, 1) for p in files]) if files else np.zeros((0,))
        if len(faces) and (meta.template, meta.margin) != ("fer", 0.0):  # face crops framed as FER2013's
            faces = reframe(faces, s, meta.template, meta.margin)
    else:
        raise DataError(f"{src}: calibration source not found (a FER2013 folder or a folder of face images)")
    if len(faces) == 0:
        raise DataError(f"{src}: no calibration images found")
    return faces


def describe_calibration(source: str | Path, n_faces: int) -> str:
    """What :func:`calibration_faces` read from ``source``, for the int8 file's metadata (the
    folder's name only: an absolute path would say nothing on another machine)."""
    src = Path(source)
    csv = next((f for f in ("fer2013.csv", "fer2013.csv.gz") if (src / f).is_file()), None)
    if csv:
        return f"FER2013 Training split ({src.name}/{csv}), first {n_faces} faces"
    if (src / "labels.csv").is_file() and (src / "images").is_dir():
        return f"labelled boxes {src.name!r}, first {n_faces} faces as predict crops them"
    return f"image folder {src.name!r}, first {n_faces} images in sorted order"


class _Reader:
    """onnxruntime's CalibrationDataReader protocol over normalised batches of ``faces``."""

    def __init__(self, faces: np.ndarray, meta: WeightsMeta, batch: int = 64):
        self.batches = iter(
            normalize(torch.from_numpy(faces[i : i + batch]), meta.mean, meta.std).numpy()
            for i in range(0, len(faces), batch)
        )

    def get_next(self) -> dict | None:
        x = next(self.batches, None)
        return None if x is None else {INPUT: x}


def agreement(float_model, int8_model, faces: np.ndarray, meta: WeightsMeta, batch: int = 64) -> dict:
    """How closely ``int8_model`` follows ``float_model`` on uint8 ``faces`` ``(N, C, S, S)``:
    ``int8_agreement`` (share of faces with the same top class) and ``int8_mean_abs_prob_diff``
    (mean over faces and classes of |p_int8 - p_float|). On the calibration faces the ranges were
    fitted on, so an optimistic figure; benchmarks/RESULTS.md has held-out accuracy."""
    same, diff = 0, 0.0
    for i in range(0, len(faces), batch):
        x = normalize(faces[i : i + batch], meta.mean, meta.std)  # NumPy in, NumPy out (OnnxModel)
        pf, pq = (softmax(m(x)) for m in (float_model, int8_model))
        same += int((pf.argmax(1) == pq.argmax(1)).sum())
        diff += float(np.abs(pf - pq).mean(1).sum())
    return {"int8_agreement": same / len(faces), "int8_mean_abs_prob_diff": diff / len(faces)}


def quantize_int8(model: str | Path, out: str | Path, calib: str | Path | np.ndarray, n: int = 512,
                  config: dict | None = None) -> Path:
    """Write an int8 (QDQ) copy of ``model`` to ``out`` (``.onnx``); returns ``out``.

    ``calib``: uint8 faces ``(N, C, S, S)`` or a source for :func:`calibration_faces` (``n`` faces).
    The metadata gains, under ``metrics``, ``precision: int8``, ``calibration_images``, (for a
    folder) ``calibration`` (:func:`describe_calibration`), so a user can tell the files apart, and
    the int8 model's agreement with the float one on the calibration faces (:func:`agreement`);
    ``config`` entries (provenance, e.g. ``shipped_from``) are added to its ``config``. The other
    ``metrics`` are the float model's, copied as they are."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process
    import onnx

    out = Path(out)
    if out.suffix != ".onnx":
        raise ConfigError(f"{out}: the export file must end in .onnx")
    with tempfile.TemporaryDirectory(prefix="wildfer-int8-") as d:
        if is_onnx(model):
            fp32 = resolve(model)
            meta = read_onnx_meta(fp32)
        else:
            net, meta = load_model(model)
            if getattr(net, "is_temporal", False):
                raise ConfigError(f"{model}: int8 export covers frame models; export clip models in float32")
            fp32 = export_model(net, meta, Path(d) / "fp32.onnx")
        described = {}
        if not isinstance(calib, np.ndarray):
            faces = calibration_faces(calib, meta, n)
            described = {"calibration": describe_calibration(calib, len(faces))}
            calib = faces
        if calib.shape[1:] != (meta.in_chans, meta.input_size, meta.input_size):
            raise ConfigError(f"calibration faces are {calib.shape[1:]}, the model wants "
                              f"({meta.in_chans}, {meta.input_size}, {meta.input_size})")
        pre = Path(d) / "pre.onnx"
        quant_pre_process(str(fp32), str(pre))  # shape inference + folding, as onnxruntime advises
        tmp = Path(d) / "int8.onnx"
        # QDQ, per-channel int8 weights, uint8 activations: the layout onnxruntime's CPU kernels
        # fuse into integer convolutions. reduce_range keeps weights to 7 bits: on AVX2 without
        # VNNI the u8 x s8 multiply-add saturates at full range (onnxruntime's quantisation notes).
        quantize_static(str(pre), str(tmp), _Reader(calib, meta), quant_format=QuantFormat.QDQ,
                        per_channel=True, reduce_range=True, activation_type=QuantType.QUInt8,
                        weight_type=QuantType.QInt8, calibrate_method=CalibrationMethod.MinMax)
        agree = agreement(OnnxModel(fp32, meta, threads=1), OnnxModel(tmp, meta, threads=1), calib, meta)
        proto = onnx.load(str(tmp))
        qmeta = replace(meta, config={**meta.config, **(config or {})},
                        metrics={**meta.metrics, "precision": "int8", "calibration_images": int(len(calib)), **described,
                                 **agree})
        del proto.metadata_props[:]
        entry = proto.metadata_props.add()
        entry.key, entry.value = META_KEY, json.dumps(asdict(qmeta))
        proto.producer_name = "wildfer"
        out.parent.mkdir(parents=True, exist_ok=True)
        part = out.with_name(out.name + ".tmp")
        onnx.save(proto, str(part))
        part.replace(out)
    OnnxModel(out, qmeta, threads=1)  # fail here, naming the file, if onnxruntime cannot run it
    return out
