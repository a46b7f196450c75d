"""onnxruntime sessions built one way for every ONNX file wildfer runs (classifiers, detectors).

CPU only, ``threads`` intra-op threads, one inter-op thread (every graph here is a single chain),
and no busy-waiting between runs: in ``predict`` a detector, the tracker and the classifier take
turns on the same cores, and spinning pool threads would steal them (on the shared 2-core machine
the classifier gave 318 faces/s at batch 64 with 2 threads without spinning, 176 with it).
"""

from __future__ import annotations

from pathlib import Path

from .errors import CheckpointError, ConfigError


def cpu_session(path: str | Path, threads: int | None = 1, optimize: bool = True):
    """An ``onnxruntime.InferenceSession`` on ``path``; a file onnxruntime cannot load is a
    :class:`CheckpointError` naming it. ``optimize=False``: no graph optimisation (to read metadata)."""
    try:
        import onnxruntime as ort
    except ImportError:  # a core dependency: only a broken install gets here
        raise ConfigError("onnxruntime is not installed (pip install onnxruntime)") from None
    so = ort.SessionOptions()
    so.graph_optimization_level = (ort.GraphOptimizationLevel.ORT_ENABLE_ALL if optimize
                                   else ort.GraphOptimizationLevel.ORT_DISABLE_ALL)
    so.intra_op_num_threads, so.inter_op_num_threads = max(1, int(threads or 1)), 1
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    except Exception as e:  # InvalidProtobuf, Fail, NoSuchFile: onnxruntime's own classes
        first = (str(e).strip().splitlines() or [""])[0][:300]
        raise CheckpointError(f"{path}: not an ONNX model onnxruntime can load ({type(e).__name__}: {first})") from None
