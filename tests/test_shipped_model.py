"""The shipped default model and its int8 copy: load offline from the package, say what they
expect, agree with each other, classify real faces; ``predict`` picks the int8 copy by default."""

import csv
import gzip
import hashlib
import json
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from pipeline_fixtures import portrait
from wildfer.cli import main
from wildfer.config import load_config
from wildfer.labels import FERPLUS
from wildfer.models.weights import INT8_COPY, SHIPPED, load_model
from wildfer.pipeline.classify import Classifier

REPO = Path(__file__).resolve().parents[1]
# Bound on |p_int8 - p_float| (any class, any face) on clean frontal faces. Measured with the
# default.int8.onnx shipped with this test: per-face max over classes on all 3,579 FER2013
# PublicTest faces median 0.008, 99th percentile 0.041, max 0.098; on the portrait crops below at
# most 0.021. 0.05 leaves ~2.4x headroom on the crops. Their float top-2 margins are >= 0.25 > 2 x
# 0.05, so within the bound their argmax cannot flip. A stale pair (float re-shipped, int8 not)
# breaks it; so does a preprocessing mismatch between the two files' metadata.
P_TOL = 0.05

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


def test_default_weights_ship_inside_the_package():
    assert SHIPPED["default"].is_file() and SHIPPED["default"].suffix == ".safetensors"
    model, meta = load_model("default")
    assert meta.labels == "ferplus" and tuple(meta.label_names) == FERPLUS.names
    assert (meta.input_size, meta.in_chans) == (48, 1)
    with torch.inference_mode():
        p = torch.softmax(model(torch.zeros(2, 1, 48, 48)), -1)
    assert p.shape == (2, 8) and torch.allclose(p.sum(-1), torch.ones(2))
    # It is what recipes/fer_student_hires.yaml trains (RESULTS.md reproduces it from there).
    recipe = load_config(Path(__file__).resolve().parents[1] / "recipes" / "fer_student_hires.yaml")
    assert meta.config["name"] == recipe.name and meta.config["data"]["teacher"] == recipe.data.teacher
    assert {k: v for k, v in meta.model_kwargs.items() if k != "drop_rate"} == recipe.model.kwargs


@pytest.mark.shared_data
def test_default_model_on_real_publictest(tmp_path):
    root = SHARED / "fer2013"
    if not (root / "fer2013.csv.gz").is_file():
        pytest.skip(f"{root} is absent (../shared/data is not on this machine)")
    out = tmp_path / "eval"
    assert main(["evaluate", "--dataset", "fer2013", "--root", str(root), "--split", "PublicTest",
                 "--labels", "ferplus", "--out", str(out)]) == 0
    m = json.loads((out / "metrics.json").read_text())
    # far above chance (the majority class is ~36%): catches a broken map, crop or normalisation
    assert m["n"] > 3000 and m["accuracy"] > 0.6, m["accuracy"]


def _ort():
    return pytest.importorskip("onnxruntime", reason="onnxruntime not installed (pip install 'wildfer[onnx]')")


def test_int8_copy_ships_beside_the_default_and_was_made_from_it():
    from wildfer.models.onnx_export import read_onnx_meta

    _ort()
    assert set(INT8_COPY) <= set(SHIPPED) and set(INT8_COPY.values()) <= set(SHIPPED)
    assert SHIPPED["default-int8"].is_file() and SHIPPED["default-int8"].suffix == ".onnx"
    q, (_, f) = read_onnx_meta("default-int8"), load_model("default")
    assert (q.label_names, q.input_size, q.in_chans, q.mean, q.std) == (f.label_names, f.input_size, f.in_chans, f.mean, f.std)
    assert q.metrics["precision"] == "int8" and q.metrics["calibration_images"] == 512
    assert q.metrics["calibration"].startswith("FER2013 Training split")
    # The pair belongs together: scripts/ship_default.py wrote both from the same float16 bytes.
    assert q.config["quantised_from"] == SHIPPED["default"].name
    assert q.config["quantised_from_sha256"] == hashlib.sha256(SHIPPED["default"].read_bytes()).hexdigest()
    package_data = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["wildfer"]
    assert {"weights/*.safetensors", "weights/*.onnx"} <= set(package_data)


def test_int8_reads_its_metadata_without_the_onnx_package(monkeypatch):
    _ort()
    monkeypatch.setitem(sys.modules, "onnx", None)  # only onnxruntime is needed at run time
    clf = Classifier("default-int8", "onnx", threads=1)
    assert clf.describe() == {"model": "default-int8", "backend": "onnx", "precision": "int8"}


@pytest.fixture(scope="module")
def portrait_crops():
    """Real face crops (48 px grey, aligned as predict aligns them): the portrait at two sizes,
    each as found, mirrored, darker and brighter: uint8 (8, 1, 48, 48)."""
    from wildfer.pipeline.align import align_faces
    from wildfer.pipeline.detect import create_detector

    det = create_detector("mtcnn", max_side=None, min_face=20)
    crops = []
    for scale in (1.0, 0.3):
        img = portrait(scale)
        faces = det(img)
        assert len(faces) == 1
        crops.append(align_faces(img, faces.landmarks, 48, 1, "fer"))
    c = np.concatenate(crops)
    return np.concatenate([c, c[..., ::-1], (c * 0.6).astype(np.uint8), np.clip(c * 1.3 + 20, 0, 255).astype(np.uint8)])


def test_int8_agrees_with_the_float_model_on_real_faces(portrait_crops):
    _ort()
    f, q = Classifier("default", "torch"), Classifier("default-int8", "onnx", threads=1)
    pf, pq = f(portrait_crops), q(portrait_crops)
    assert pq.shape == pf.shape == (8, 8) and np.allclose(pq.sum(1), 1, atol=1e-5)
    assert np.abs(pq - pf).max() < P_TOL
    assert (pq.argmax(1) == pf.argmax(1)).all()
    assert (Classifier("default", "auto")(portrait_crops) == pq).all()  # auto runs that very file


def _publictest_faces(n: int) -> np.ndarray:
    """The first ``n`` PublicTest faces of ../shared/data/fer2013, uint8 (n, 1, 48, 48); read line
    by line (2 s) rather than parsing the whole file."""
    path = REPO / ".." / "shared" / "data" / "fer2013" / "fer2013.csv.gz"
    if not path.is_file():
        pytest.skip(f"{path} is absent (../shared/data is not on this machine)")
    faces = []
    with gzip.open(path, "rt") as f:
        for line in f:
            if line.rstrip().endswith(",PublicTest"):
                faces.append(np.array(line.split(",")[1].split(), np.uint8).reshape(1, 48, 48))
                if len(faces) == n:
                    break
    return np.stack(faces)


@pytest.mark.shared_data
def test_int8_agrees_with_the_float_model_on_fer2013_faces():
    _ort()
    x = _publictest_faces(1000)
    pf, pq = Classifier("default", "torch")(x), Classifier("default-int8", "onnx", threads=1)(x)
    d = np.abs(pq - pf).max(1)
    # Measured on these 1,000: argmax agreement 98.2%, 99th percentile of d 0.041, max 0.088;
    # flips happen only on faces the float model itself hesitates on (top-2 margin <= 0.12).
    assert (pq.argmax(1) == pf.argmax(1)).mean() >= 0.97
    assert np.quantile(d, 0.99) < 0.06 and d.max() < 0.15


def _predict_photo(tmp_path, capsys, *extra) -> tuple[str, dict, str]:
    photo = tmp_path / "face.jpg"
    if not photo.is_file():
        Image.fromarray(portrait(0.5)).save(photo)
    out = tmp_path / ("out" + "".join(extra).replace("-", "_"))
    code = main(["predict", str(photo), "--out", str(out), "--quiet", "--no-plots", *extra])
    o = capsys.readouterr()
    assert code == 0, o.err
    with open(out / "predictions.csv") as f:
        (row,) = list(csv.DictReader(f))  # one face
    return o.out.strip().splitlines()[-1], json.loads((out / "summaries" / "face.jpg.json").read_text()), row["label"]


def test_predict_runs_the_int8_copy_by_default_and_says_so(tmp_path, capsys):
    _ort()
    line, summary, label = _predict_photo(tmp_path, capsys)
    assert "classifier: default-int8 (onnx, int8)" in line
    assert (summary["model"], summary["backend"], summary["precision"]) == ("default-int8", "onnx", "int8")
    line, summary, label_torch = _predict_photo(tmp_path, capsys, "--backend", "torch")  # as before
    assert "classifier: default (torch, float32)" in line
    assert (summary["model"], summary["backend"], summary["precision"]) == ("default", "torch", "float32")
    assert label == label_torch


def test_predict_falls_back_to_torch_without_onnxruntime(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # `import onnxruntime` now raises ImportError
    line, summary, _ = _predict_photo(tmp_path, capsys)
    assert "classifier: default (torch, float32; onnxruntime is not installed, so not 'default-int8')" in line
    assert (summary["model"], summary["backend"], summary["precision"]) == ("default", "torch", "float32")
    # An explicit onnx backend or an .onnx model still needs onnxruntime: one line, no traceback.
    assert main(["predict", str(tmp_path / "face.jpg"), "--out", str(tmp_path / "o"), "--model", "default-int8"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "default-int8" in err and "onnxruntime" in err


def test_evaluate_scores_the_int8_copy_by_name(tmp_path, capsys):
    from fer_fixtures import write_fer

    _ort()
    fer = write_fer(tmp_path / "fer", n_train=7, n_test=14)
    assert main(["evaluate", "--root", str(fer), "--model", "default-int8", "--out", str(tmp_path / "ev")]) == 0, \
        capsys.readouterr().err
    m = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert (m["n"], m["model"], m["backend"], m["precision"]) == (14, "default-int8", "onnx", "int8")
