"""``wildfer evaluate --dataset boxes`` on photos the test builds around a real face, with the shipped model."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from PIL import Image

from pipeline_fixtures import SHARED, paste, portrait
from wildfer.errors import DataError


def _boxes_folder(tmp_path):
    from wildfer.detectors import create_detector

    root = tmp_path / "boxes"
    (root / "images").mkdir(parents=True)
    canvas = paste(np.full((300, 400, 3), 120, np.uint8), portrait(0.4), 20, 30)
    Image.fromarray(canvas).save(root / "images" / "a.jpg", quality=92)
    face = create_detector("mtcnn")(canvas).boxes[0]
    rows = [
        ["a.jpg", *face.round(1), "happy"],  # the real face: found end to end
        ["a.jpg", 300, 200, 380, 280, "sad"],  # an empty corner: no detection overlaps it
        ["a.jpg", 10, 10, 50, 50, "bored"],  # unknown label: dropped, counted
        ["gone.jpg", 10, 10, 50, 50, "happy"],  # missing image: dropped, counted
        ["a.jpg", 50, 50, 40, 60, "sad"],  # empty box: dropped, counted
    ]
    with open(root / "labels.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["image", "x0", "y0", "x1", "y1", "label"])
        w.writerows(rows)
    return root


def test_boxes_end_to_end_and_classifier_only(tmp_path):
    from wildfer.eval.evaluate import evaluate

    root = _boxes_folder(tmp_path)
    m = evaluate("boxes", root, tmp_path / "out", model="default", progress=False)
    assert m["n"] == 2 and m["classifier_only"]["n"] == 2
    assert m["detection_recall"] == 0.5
    assert m["missed_per_class"]["sad"] == 1 and m["missed_per_class"]["happy"] == 0
    assert m["accuracy"] <= 0.5  # the missed face counts as wrong
    assert m["read"]["dropped"] == {"bad box or unknown label": 1, "image file missing": 1, "empty box": 1}
    assert sum(map(sum, m["confusion_matrix"])) == 1  # missed faces are not in the cells
    with open(tmp_path / "out" / "faces.csv") as f:
        faces = list(csv.DictReader(f))
    assert [r["label"] for r in faces] == ["happy", "sad"]
    assert faces[0]["end_to_end"] and not faces[1]["end_to_end"] and float(faces[0]["iou"]) > 0.8
    probs = [float(v) for k, v in faces[0].items() if k.startswith("box_")]
    assert len(probs) == 8 and abs(sum(probs) - 1) < 1e-3  # the default's 8 FER+ classes
    on_disk = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert on_disk["classifier_only"]["accuracy"] == m["classifier_only"]["accuracy"]
    for name in ("report.md", "confusion.png", "confusion_classifier_only.png"):
        assert (tmp_path / "out" / name).stat().st_size > 0
    # the report's confusion matrix has a column of the missed faces: every row holds its class's faces
    report = (tmp_path / "out" / "report.md").read_text()
    matrix = report.split("# classifier only")[0].split("Confusion matrix (counts")[1]
    head, _, *rows = [line for line in matrix.splitlines() if line.startswith("| ")]
    assert head.endswith("| missed |")
    cells = {r.split(" | ")[0][2:]: [int(c) for c in r.strip(" |").split(" | ")[1:]] for r in rows}
    assert sum(cells["happy"]) == 1 and sum(cells["sad"]) == 1 and cells["sad"][-1] == 1


def test_evaluate_boxes_writes_plain_progress_lines_to_a_log(tmp_path):
    """stderr redirected to a file (here a pipe): progress as plain lines, no carriage return."""
    from pipeline_fixtures import run_script

    root = _boxes_folder(tmp_path)
    r = run_script(["evaluate", "--dataset", "boxes", "--root", root, "--out", tmp_path / "out"], tmp_path)
    assert r.returncode == 0, r.stderr
    assert "\r" not in r.stderr and "wildfer: detect 1/1 photos, " in r.stderr and "wildfer: boxes 1/1 photos, " in r.stderr


def test_boxes_folder_errors_name_the_file(tmp_path):
    from wildfer.data.boxes import read_boxes

    with pytest.raises(DataError, match="labels.csv"):
        read_boxes(tmp_path)
    (tmp_path / "labels.csv").write_text("image,label\na.jpg,happy\n")
    with pytest.raises(DataError, match="expected the columns"):
        read_boxes(tmp_path)


@pytest.mark.shared_data
def test_expw_dev_reads_balanced():
    from wildfer.data.boxes import read_boxes

    root = SHARED / "expw_dev"
    if not (root / "labels.csv").is_file():
        pytest.skip(f"{root} is absent (../shared/data is not on this machine)")
    data, report = read_boxes(root)
    assert len(data) == 1400 and data.label_set.key == "fer2013"
    assert np.bincount(data.targets).tolist() == [200] * 7
