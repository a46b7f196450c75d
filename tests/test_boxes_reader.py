"""The labelled-boxes training reader (``data.extra: [{dataset: boxes}]``, ``data.dataset: boxes``) and
``data.val_boxes``: faces cropped as ``predict`` sees them, the detector's misses counted, detections
cached; on photos the test builds around a real face and on the real ExpW training faces."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from fer_fixtures import write_fer
from pipeline_fixtures import SHARED, paste, portrait
from wildfer.errors import DataError

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """Detections cached in the test's own folder (the tests on ../shared use the user's cache:
    the real folders' detections are the same every run)."""
    monkeypatch.setenv("WILDFER_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _folder(root: Path, n: int = 4) -> Path:
    """``n`` photos, each with the portrait (a face the detector finds, labelled ``happy``) and an
    empty corner labelled ``sad`` (no detection overlaps it: the box-crop fallback)."""
    from wildfer.detectors import create_photo_detector

    (root / "images").mkdir(parents=True)
    det = create_photo_detector()
    rows = []
    for i in range(n):
        canvas = paste(np.full((260, 360, 3), 60 + 20 * i, np.uint8), portrait(0.35), 10 + 5 * i, 20)
        Image.fromarray(canvas).save(root / "images" / f"p{i}.jpg", quality=92)
        face = det(canvas).boxes[0]
        rows += [[f"p{i}.jpg", *face.round(1), "happy"], [f"p{i}.jpg", 280, 180, 350, 250, "sad"]]
    rows.append(["gone.jpg", 1, 1, 20, 20, "happy"])  # dropped, counted
    with open(root / "labels.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["image", "x0", "y0", "x1", "y1", "label"])
        w.writerows(rows)
    return root


def test_faces_are_cropped_as_predict_sees_them(tmp_path, cache):
    from wildfer.data.boxes import box_faces, read_boxes
    from wildfer.data.datasets import load_image
    from wildfer.detectors import create_photo_detector
    from wildfer.geometry.align import align_faces, crop_boxes

    root = _folder(tmp_path / "b")
    ds, report, found = box_faces(root, in_chans=1, size=48, progress=False)
    assert len(ds) == 8 and ds.images.shape == (8, 1, 48, 48) and ds.images.dtype == torch.uint8
    assert found.tolist() == [True, False] * 4
    assert ds.label_set.key == "fer2013" and [ds.label_set.names[t] for t in ds.targets[:2]] == ["happy", "sad"]
    assert report.dropped == {"image file missing": 1}
    missed = [k for k in report.counted if "missed" in k]
    assert len(missed) == 1 and report.counted[missed[0]] == 4  # every fallback is counted
    assert ds.groups.tolist()[:2] == ["p0.jpg", "p0.jpg"]  # one photo's faces stay together in splits
    # the same crops predict's photo path makes: detector landmarks on the fer template; else the box
    rgb = load_image(root / "images" / "p1.jpg", 3)
    faces = create_photo_detector()(rgb)
    assert torch.equal(ds.images[2], torch.from_numpy(align_faces(rgb, faces.landmarks[:1], 48, 1, "fer")[0]))
    data, _ = read_boxes(root)
    assert torch.equal(ds.images[3], torch.from_numpy(crop_boxes(rgb, data.boxes[3:4], 48, 1)[0]))


def test_detections_are_cached_and_a_changed_folder_detects_again(tmp_path, cache):
    from wildfer.data.boxes import box_faces

    root = _folder(tmp_path / "b", n=2)
    a, rep_a, _ = box_faces(root, 1, 32, progress=False)
    assert not any("cache" in k for k in rep_a.counted)
    files = list((cache / "boxes").glob("*.npz"))
    assert len(files) == 1
    b, rep_b, _ = box_faces(root, 3, 64, progress=False)  # another size and colour mode: same detections
    assert rep_b.counted["photos whose detections came from the cache"] == 2
    assert b.images.shape == (4, 3, 64, 64)
    c, _, _ = box_faces(root, 1, 32, progress=False)
    assert torch.equal(a.images, c.images)
    with open(root / "labels.csv", "a") as f:  # a new labelled face: the cached matches no longer fit
        f.write("p0.jpg,1,1,40,40,neutral\n")
    d, rep_d, _ = box_faces(root, 1, 32, progress=False)
    assert len(d) == 5 and not any("cache" in k for k in rep_d.counted)
    assert len(list((cache / "boxes").glob("*.npz"))) == 2
    files[0].write_bytes(b"not a zip")  # a damaged cache file is detected again, not trusted
    e, _, _ = box_faces(root, 1, 32, use_cache=True, progress=False)
    assert len(e) == 5


def test_missing_folder_is_one_line_naming_it(tmp_path, cache):
    from wildfer.data.boxes import read_box_faces

    with pytest.raises(DataError, match=r"expw_train/labels.csv: not found"):
        read_box_faces(tmp_path / "expw_train")


def _recipe(tmp_path, fer: Path, boxes: Path, **data) -> Path:
    import yaml

    cfg = {"name": "r", "epochs": 1, "batch_size": 8, "threads": 1, "out_dir": str(tmp_path / "runs"),
           "model": {"name": "resnet18", "input_size": 32, "kwargs": {"channels": [8, 8, 16, 16], "stem_width": 8}},
           "data": {"dataset": "fer2013", "root": str(fer), "labels": "mixed",
                    "extra": [{"dataset": "boxes", "root": str(boxes), "repeat": 2, "smoothing": 0.1,
                               "lineage": "Test photos (made by the test): no licence needed"}],
                    "val_boxes": [str(boxes)], **data}}
    p = tmp_path / "r.yaml"
    p.write_text(yaml.safe_dump(cfg))
    return p


def test_extra_boxes_train_and_val_boxes_score_end_to_end(tmp_path, cache, capsys):
    """A real run (FER2013-format fixture + the boxes folder twice an epoch): the boxes faces join
    training with smoothed one-hot targets, and the folder is scored after the epoch with the
    detector's misses counted wrong; the selection score is the mean of all three accuracies."""
    from wildfer.cli import main
    from wildfer.config import load_config
    from wildfer.data.builders import build_data

    fer = write_fer(tmp_path / "fer", n_train=30, n_test=14)
    boxes = _folder(tmp_path / "b")
    recipe = _recipe(tmp_path, fer, boxes)
    bundle = build_data(load_config(recipe))
    assert len(bundle.train) == 30 + 2 * 8
    soft = bundle.train.soft[-8:]
    assert np.allclose(soft.sum(1), 1) and np.isclose(soft.max(), 0.9 + 0.1 / 8)
    assert main(["train", str(recipe)]) == 0
    capsys.readouterr()
    log = [json.loads(line) for line in (tmp_path / "runs" / "r" / "log.jsonl").read_text().splitlines()]
    acc = log[-1]["val_b_accuracy"]
    assert acc <= 0.5  # the 4 missed faces of 8 count as wrong whatever the model says
    assert np.isclose(log[-1]["val_score"], np.mean([log[-1]["val_fer2013_accuracy"],
                                                     log[-1]["val_ferplus_accuracy"], acc]))
    from wildfer.models.weights import read_checkpoint

    datasets = read_checkpoint(tmp_path / "runs" / "r" / "best.safetensors")[1].datasets  # the lineage travels
    assert [d["dataset"].split(" ")[0] for d in datasets] == ["FER2013", "FER+", "Test"]
    assert datasets[1]["licence"] == "MIT" and datasets[2]["licence"] == "no licence needed"


def test_boxes_as_the_main_dataset_split_by_photo(tmp_path, cache):
    from wildfer.config import load_config
    from wildfer.data.builders import build_data

    boxes = _folder(tmp_path / "b")
    cfg = load_config(None, ["data.dataset=boxes", f"data.root={boxes}", "data.val_fraction=0.25",
                             "model.input_size=32"])
    bundle = build_data(cfg)
    assert len(bundle.train) + len(bundle.val) == 8
    assert not set(bundle.train.groups) & set(bundle.val.groups)


@pytest.mark.shared_data
def test_expw_train_reads_every_face():
    from wildfer.data.boxes import read_box_faces

    root = SHARED / "expw_train"
    if not (root / "labels.csv").is_file():
        pytest.skip(f"{root} is absent (../shared/data is not on this machine)")
    ds, report = read_box_faces(root, in_chans=1, size=48, progress=False)
    assert len(ds) == 2100 and np.bincount(ds.targets).tolist() == [300] * 7
    missed = sum(v for k, v in report.counted.items() if "missed" in k)
    assert 0 < missed < 0.1 * len(ds)  # YuNet finds ~94% of them; the rest are box crops
    assert ds.images.float().std() > 20  # real faces, not blank crops


WILD_RECIPES = sorted(p for p in (REPO / "recipes").glob("*.yaml")
                      if "expw_train" in p.read_text() and not p.name.startswith("ablate_"))  # ablate specs: not recipes


@pytest.mark.shared_data
@pytest.mark.parametrize("recipe", WILD_RECIPES, ids=lambda p: p.stem)
def test_recipes_with_expw_train_dry_run(recipe, tmp_path, capsys):
    """Each recipe that trains on expw_train runs one batch on the real data. The muxspace
    collection is not in ../shared (it is a public git repository a user clones); when it is not at
    the recipe's path, a tiny folder in its layout stands in for it."""
    from test_muxspace import _muxspace

    from wildfer.cli import main
    from wildfer.config import load_config

    if not (SHARED / "expw_train" / "labels.csv").is_file() or not (SHARED / "fer2013").is_dir():
        pytest.skip("../shared/data (expw_train, fer2013) is absent")
    from wildfer.models.weights import SHIPPED

    cfg = load_config(recipe)
    ov = ["threads=1"]
    # a run folder the recipe starts from or distils from (runs/...) is not in a fresh clone
    if cfg.model.init and cfg.model.init not in SHIPPED and not (REPO / cfg.model.init).is_file():
        ov.append("model.init=null")
    teachers = [cfg.data.teacher] if isinstance(cfg.data.teacher, str) else list(cfg.data.teacher or ())
    if any(t not in SHIPPED and not (REPO / t).is_file() for t in teachers):
        ov.append("data.teacher=null")
    extra = []
    for e in cfg.data.extra:
        root = e.root
        if e.dataset == "muxspace" and not (REPO / root / "data" / "legend.csv").is_file():
            root = str(_muxspace(tmp_path))
        extra.append(f"{{dataset: {e.dataset}, root: {root}, repeat: {e.repeat}, smoothing: {e.smoothing}}}")
    ov.append(f"data.extra=[{', '.join(extra)}]")
    if cfg.model.backbone:  # the folder of backbone folders: each is found one level down
        if not (REPO / ".." / "shared" / "backbones").is_dir():
            pytest.skip("../shared/backbones is absent")
        ov.append(f"model.backbone_root={REPO / '..' / 'shared' / 'backbones'}")
    import os

    cwd = os.getcwd()
    os.chdir(REPO)  # recipes name ../shared relative to the project root
    try:
        rc = main(["train", str(recipe), *ov, "--dry-run", "--out-dir", str(tmp_path / "runs"), "--name", "r"])
    finally:
        os.chdir(cwd)
    out = capsys.readouterr()
    assert rc == 0, out.err[-2000:]
    log = json.loads((tmp_path / "runs" / "dry_run" / "r" / "log.jsonl").read_text().splitlines()[0])
    assert log["val_expw_dev_accuracy"] is not None


def test_recipe_with_expw_train_absent_names_the_folder(tmp_path):
    """Without ../shared the recipe's data is missing: one line naming the folder, exit 2."""
    import subprocess
    import sys

    recipe = WILD_RECIPES[0] if WILD_RECIPES else None
    if recipe is None:
        pytest.skip("no recipe trains on expw_train")
    missing = tmp_path / "nowhere" / "expw_train"
    fer = write_fer(tmp_path / "fer")
    r = subprocess.run([sys.executable, "-m", "wildfer", "train", str(recipe), f"data.root={fer}", "model.init=null",
                        "data.teacher=null", "data.val_boxes=[]",
                        f"data.extra=[{{dataset: boxes, root: {missing}}}]", "--dry-run",
                        "--out-dir", str(tmp_path / "runs")], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 2, r.stderr[-2000:]
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and str(missing) in lines[0] and "Traceback" not in r.stderr
