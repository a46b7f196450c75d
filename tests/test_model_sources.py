"""Where a model comes from, said everywhere: ``--model RUN_DIR`` takes the run's best.safetensors,
``wildfer export --int8`` prints how often the int8 copy agrees with the float model on its
calibration faces (checked against an independent computation), and the README's output folders
are git-ignored."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from fer_fixtures import write_fer
from script_fixtures import REPO, real_fer_rows, run_script
from wildfer.cli import main
from wildfer.labels import FERPLUS
from wildfer.models.registry import create_model
from wildfer.models.weights import WeightsMeta, resolve, save_checkpoint


def run_folder(tmp_path: Path) -> Path:
    """A run folder as training leaves it, with a small (untrained) 48 px grey ResNet-18."""
    run = tmp_path / "runs" / "small"
    run.mkdir(parents=True)
    torch.manual_seed(0)
    model = create_model("resnet18", len(FERPLUS), 1, 48, channels=[8, 16, 32, 64], stem_width=8)
    meta = WeightsMeta("resnet18", "ferplus", list(FERPLUS.names), 48, 1, [0.5], [0.25],
                       model_kwargs={"channels": [8, 16, 32, 64], "stem_width": 8})
    save_checkpoint(model, meta, run / "best.safetensors")
    return run


def test_a_run_folder_is_its_best_checkpoint(tmp_path, capsys):
    run = run_folder(tmp_path)
    assert resolve(run) == run / "best.safetensors"
    empty = tmp_path / "runs" / "fresh"
    empty.mkdir()
    rc = main(["evaluate", "--root", str(tmp_path), "--model", str(empty), "--out", str(tmp_path / "e")])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err == (f"wildfer: error: {empty}: a folder without best.safetensors (a training run folder "
                               "holds one after its first epoch; or name a checkpoint file)")


@pytest.mark.parametrize("source", [pytest.param("real", marks=pytest.mark.shared_data), "fixture"])
def test_export_int8_prints_its_agreement_with_the_float_model(tmp_path, source):
    pytest.importorskip("onnx", reason="the onnx extra is not installed")
    from wildfer.models.onnx_model import OnnxModel
    from wildfer.models.preprocess import normalize
    from wildfer.models.quantize import calibration_faces
    from wildfer.models.weights import load_model

    calib = real_fer_rows(tmp_path / "fer", 64, 1) if source == "real" else write_fer(tmp_path / "fer", 64, 1)
    run = run_folder(tmp_path)
    r = run_script(["export", "runs/small", "small.int8.onnx", "--int8", "--calib", calib, "--calib-n", "64"], tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    said = re.search(r"int8 vs float on the 64 calibration faces: same top class for ([\d.]+)%, "
                     r"mean \|p_int8 - p_float\| ([\d.]+) \(faces it was calibrated on: an optimistic figure", r.stdout)
    assert said, r.stdout
    model, meta = load_model(run)
    faces = calibration_faces(calib, meta, 64)
    x = normalize(torch.from_numpy(faces), meta.mean, meta.std)
    with torch.no_grad():
        p_float = torch.softmax(model(x), 1).numpy()
    p_int8 = torch.softmax(torch.from_numpy(OnnxModel(tmp_path / "small.int8.onnx")(x.numpy())), 1).numpy()
    assert said.group(1) == f"{100 * np.mean(p_float.argmax(1) == p_int8.argmax(1)):.1f}"
    assert float(said.group(2)) == pytest.approx(np.abs(p_float - p_int8).mean(), abs=2e-4)


def test_readme_output_folders_are_git_ignored(tmp_path):
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    for path in ("runs/x/best.safetensors", "evals/fer/report.md", "pred_photos/predictions.csv", "demo_out/a.csv"):
        r = subprocess.run(["git", "check-ignore", "-q", path], cwd=REPO)
        assert r.returncode == 0, f"{path} is not git-ignored"
    assert subprocess.run(["git", "check-ignore", "-q", "src/wildfer/cli.py"], cwd=REPO).returncode == 1
