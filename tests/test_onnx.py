"""``wildfer export`` and ``predict --backend onnx``: real tiny models exported with torch.onnx and
run by onnxruntime, compared with the torch backend on the same inputs."""

from __future__ import annotations

import csv
from dataclasses import asdict

import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip("onnx", reason="onnx not installed (pip install 'wildfer[onnx]')")
pytest.importorskip("onnxruntime", reason="onnxruntime not installed (pip install 'wildfer[onnx]')")

from pipeline_fixtures import portrait, tiny_checkpoint  # noqa: E402
from wildfer.cli import main  # noqa: E402
from wildfer.errors import CheckpointError, ConfigError  # noqa: E402
from wildfer.labels import ABAW8, RAFDB  # noqa: E402
from wildfer.models.onnx_export import export_onnx  # noqa: E402
from wildfer.models.onnx_model import OnnxModel, read_onnx_meta  # noqa: E402
from wildfer.models.registry import create_model  # noqa: E402
from wildfer.models.weights import WeightsMeta, read_checkpoint, save_checkpoint  # noqa: E402
from wildfer.pipeline.classify import Classifier  # noqa: E402

TOL = 1e-4  # max |probability difference| between backends


def checkpoint(tmp_path, name="resnet18", size=32, chans=3, **kw):
    torch.manual_seed(0)
    model = create_model(name, num_classes=len(RAFDB), in_chans=chans, input_size=size, **kw)
    meta = WeightsMeta(model=name, labels=RAFDB.key, label_names=list(RAFDB.names), input_size=size, in_chans=chans,
                       mean=[0.4, 0.5, 0.6][:chans], std=[0.2, 0.25, 0.3][:chans], model_kwargs=kw,
                       metrics={"val_macro_f1": 0.5})
    path = tmp_path / f"{name}.safetensors"
    save_checkpoint(model, meta, path)
    return path


@pytest.mark.parametrize("name", ["resnet18", "mobilenetv2_fc"])
def test_export_cli_parity_metadata_and_dynamic_batch(tmp_path, capsys, name):
    ckpt = checkpoint(tmp_path, name)
    out = tmp_path / "m.onnx"
    assert main(["export", str(ckpt), str(out)]) == 0, capsys.readouterr().err
    assert asdict(read_onnx_meta(out)) == asdict(read_checkpoint(ckpt)[1])
    ref = Classifier(ckpt)
    rng = np.random.default_rng(0)
    for n in (1, 5, 64):  # batch axis is dynamic
        x = rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8)
        p_torch = ref(x)
        for clf in (Classifier(out, "onnx", threads=1), Classifier(ckpt, "onnx", threads=1)):
            p = clf(x)
            assert p.shape == (n, len(RAFDB))
            assert np.abs(p - p_torch).max() < TOL
            assert clf.class_names == list(RAFDB.names) and clf.crop_size == 32 and clf.in_chans == 3
    # float [0, 1] crops follow the same path
    xf = rng.random((3, 3, 32, 32), dtype=np.float32)
    assert np.abs(Classifier(out, "onnx")(xf) - ref(xf)).max() < TOL


@pytest.mark.parametrize("name,kw", [("resnet101_cbam_blstm", {"hidden": 8}),
                                     ("regnety016_transformer", {"embed": 16, "ff": 32})])
def test_temporal_models_export_with_fixed_clip_length(tmp_path, name, kw):
    torch.manual_seed(0)
    model = create_model(name, num_classes=len(ABAW8), in_chans=3, input_size=32, seq_len=4, backbone="test_resnet",
                         **kw).eval()
    meta = WeightsMeta(model=name, labels=ABAW8.key, label_names=list(ABAW8.names), input_size=32, in_chans=3,
                       mean=[0.5] * 3, std=[0.25] * 3, model_kwargs={"backbone": "test_resnet", **kw}, seq_len=4)
    ckpt = tmp_path / "t.safetensors"
    save_checkpoint(model, meta, ckpt)
    out = export_onnx(ckpt, tmp_path / "t.onnx")
    runner, m2 = OnnxModel.load(out, threads=1)
    assert runner.is_temporal and m2.seq_len == 4
    x = torch.rand(3, 4, 3, 32, 32)
    with torch.inference_mode():
        ref = model(x)
    got = torch.from_numpy(runner(x))  # the runner speaks NumPy (no torch needed to run it)
    assert got.shape == (3, 4, len(ABAW8))
    assert (got - ref).abs().max() < 1e-3  # logits
    with pytest.raises(ConfigError, match="temporal"):
        Classifier(out, "onnx")


def test_bad_inputs_fail_with_the_file_name(tmp_path, capsys):
    ckpt = checkpoint(tmp_path)
    assert main(["export", str(ckpt), str(tmp_path / "m.bin")]) == 2
    assert "m.bin" in capsys.readouterr().err
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a protobuf at all \x00\xff" * 10)
    with pytest.raises(CheckpointError, match="junk.onnx"):
        read_onnx_meta(junk)
    assert main(["export", str(tmp_path / "missing.safetensors"), str(tmp_path / "x.onnx")]) == 2
    assert "missing.safetensors" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="backend"):
        Classifier(ckpt, "tensorrt")
    with pytest.raises(ConfigError, match="--backend onnx"):
        Classifier(junk, "torch")


def _rows(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def test_predict_backend_onnx_matches_torch_on_a_photo(tmp_path, capsys):
    ckpt = tiny_checkpoint(tmp_path / "tiny.safetensors")
    photo = tmp_path / "face.jpg"
    Image.fromarray(portrait(0.5)).save(photo)
    got = {}
    for backend in ("torch", "onnx"):
        code = main(["predict", str(photo), "--out", str(tmp_path / backend), "--model", str(ckpt), "--backend", backend,
                     "--quiet", "--no-plots"])
        assert code == 0, capsys.readouterr().err
        got[backend] = _rows(tmp_path / backend / "predictions.csv")
    assert len(got["torch"]) == len(got["onnx"]) == 1  # one face
    a, b = got["torch"][0], got["onnx"][0]
    assert a["label"] == b["label"]
    p_cols = [k for k in a if k.startswith("p_")]
    # predictions.csv keeps 4 decimals: backends within TOL round at most one step apart.
    assert max(abs(float(a[k]) - float(b[k])) for k in p_cols) <= 1e-4 + 1e-9


def test_int8_export_is_quantised_close_to_float_and_scores_with_evaluate(tmp_path, capsys):
    import json

    import onnx

    from fer_fixtures import write_fer

    fer = write_fer(tmp_path / "fer", n_train=70, n_test=21)
    ckpt = tiny_checkpoint(tmp_path / "tiny.safetensors")  # 48 px grey, FER+ classes, like the default
    out = tmp_path / "tiny.int8.onnx"
    assert main(["export", str(ckpt), str(out), "--int8", "--calib", str(fer), "--calib-n", "64"]) == 0, \
        capsys.readouterr().err
    ops = {n.op_type for n in onnx.load(str(out)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    meta = read_onnx_meta(out)
    assert meta.metrics["precision"] == "int8" and meta.metrics["calibration_images"] == 64
    # Logits of the int8 graph follow the float model's on faces like the calibration ones.
    q, _ = OnnxModel.load(out, threads=1)
    f, _ = OnnxModel.load(ckpt, threads=1)
    from wildfer.data.fer2013 import read_fer2013
    from wildfer.models.preprocess import normalize

    x = normalize(torch.from_numpy(read_fer2013(fer).split("PublicTest").images[:, None].copy()), meta.mean, meta.std)
    lq, lf = q(x).ravel(), f(x).ravel()
    assert np.corrcoef(lq, lf)[0, 1] > 0.95
    assert main(["evaluate", "--dataset", "fer2013", "--root", str(fer), "--split", "PublicTest",
                 "--model", str(out), "--out", str(tmp_path / "ev")]) == 0, capsys.readouterr().err
    m = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert m["n"] == 21 and m["precision"] == "int8" and m["backend"] == "onnx"


def test_int8_export_bad_calibration_is_one_line(tmp_path, capsys):
    ckpt = tiny_checkpoint(tmp_path / "tiny.safetensors")
    assert main(["export", str(ckpt), str(tmp_path / "q.onnx"), "--int8"]) == 2
    assert "--calib" in capsys.readouterr().err
    assert main(["export", str(ckpt), str(tmp_path / "q.onnx"), "--int8", "--calib", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err
    assert "nowhere" in err and "Traceback" not in err
    (tmp_path / "empty").mkdir()
    assert main(["export", str(ckpt), str(tmp_path / "q.onnx"), "--int8", "--calib", str(tmp_path / "empty")]) == 2
    assert "no calibration images" in capsys.readouterr().err
