"""OpenCV Zoo's FER MobileFaceNet (``opencv-zoo-fer``): rebuilt from the int8 ONNX file in
../shared/backbones as float layers that agree with onnxruntime on real faces, checked by sha256,
recorded in a checkpoint and rebuilt from it, its classifier seeding a model's head, its front
frozen and cached for training, and run as it ships as a peer by ``wildfer evaluate``."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from wildfer.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO / ".." / "shared"
ZOO = SHARED / "backbones" / "opencv_zoo_fer"
FILE = ZOO / "facial_expression_recognition_mobilefacenet_2022july_int8.onnx"
EXPW = SHARED / "data" / "expw_dev"

pytestmark = pytest.mark.skipif(not FILE.is_file(), reason="../shared/backbones/opencv_zoo_fer is absent")


def _box_crops(n: int) -> tuple[np.ndarray, list[str]]:
    """The labelled box of the first ``n`` expw_dev faces, squared and resized to 112 px RGB."""
    from wildfer.data.datasets import load_image
    from wildfer.geometry.align import crop_boxes

    if not (EXPW / "labels.csv").is_file():
        pytest.skip("../shared/data/expw_dev is absent")
    with open(EXPW / "labels.csv", newline="") as f:
        rows = list(csv.DictReader(f))[:n]
    crops = [crop_boxes(load_image(EXPW / "images" / r["image"], 3),
                        np.array([[float(r[k]) for k in ("x0", "y0", "x1", "y1")]]), 112, 3)[0] for r in rows]
    return np.stack(crops), [r["label"] for r in rows]


def test_the_float_rebuild_agrees_with_onnxruntime_on_real_faces():
    """benchmarks/bench_zoo_parity.py measures this on all 1,400 expw_dev faces (RESULTS.md): 93.6%
    arg-max agreement, mean |logit difference| 0.24; here on 48 faces, with slack for a small sample."""
    from wildfer.models.zoo_mobilefacenet import ZooMobileFaceNet, read_zoo_onnx
    from wildfer.ortsession import cpu_session

    crops, _ = _box_crops(48)
    x = ((crops.astype(np.float32) / 255 - 0.5) / 0.5).astype(np.float32)
    sess = cpu_session(FILE, 1)
    ref = np.concatenate([sess.run(None, {"data": x[i:i + 1]})[0] for i in range(len(x))])
    net = ZooMobileFaceNet()
    net.load_state_dict(read_zoo_onnx(FILE))
    with torch.inference_mode():
        ours = net.eval()(torch.from_numpy(x)).numpy()
    agree = (ref.argmax(1) == ours.argmax(1)).mean()
    diff = np.abs(ref - ours)
    assert agree >= 0.85, agree
    assert diff.mean() < 0.5 and diff.max() < 4.0, (diff.mean(), diff.max())
    # not a constant: the logits span several units and the faces get different classes
    assert ref.std() > 1 and len(set(ref.argmax(1))) >= 3


def test_a_modified_copy_is_refused_in_one_line(tmp_path):
    from wildfer.models.backbones import create_backbone

    bad = tmp_path / FILE.name
    data = bytearray(FILE.read_bytes())
    data[-100] ^= 1
    bad.write_bytes(bytes(data))
    with pytest.raises(ConfigError, match=r"sha256 .* another version or a modified copy"):
        create_backbone("opencv-zoo-fer", tmp_path)
    with pytest.raises(ConfigError, match=r"opencv-zoo-fer.*not found.*git clone https://github.com/opencv/opencv_zoo"):
        create_backbone("opencv-zoo-fer", tmp_path / "empty")


def test_found_in_a_folder_of_backbone_folders(monkeypatch):
    from wildfer.models.pretrained import get_backbone_cfg, locate

    monkeypatch.setenv("WILDFER_BACKBONES", str(SHARED / "backbones"))
    assert locate(get_backbone_cfg("opencv-zoo-fer")).resolve() == FILE.resolve()


def test_a_checkpoint_records_its_lineage_seeds_its_head_and_rebuilds_without_the_file(tmp_path):
    from wildfer.labels import FERPLUS
    from wildfer.models.backbones import ZooFerBackbone, lineage, seed_head
    from wildfer.models.registry import create_model
    from wildfer.models.weights import WeightsMeta, load_model, save_checkpoint

    model = create_model("frame_linear", 8, 3, 112, backbone="opencv-zoo-fer", backbone_root=str(ZOO))
    msg = seed_head(model, FERPLUS.names)
    assert msg == "head: 7 of 8 classes start from opencv-zoo-fer's classifier (contempt new)"
    body = model.backbone
    w, b = body.pretrained_head
    # FER+ order neutral, happiness, surprise, ...; the zoo's angry, disgust, fearful, happy, neutral, ...
    assert torch.equal(model.head[-1].weight[0], w[4]) and torch.equal(model.head[-1].weight[1], w[3])
    assert torch.equal(model.head[-1].bias[2], b[6])
    crops, _ = _box_crops(4)
    x = torch.from_numpy(crops).float() / 255
    with torch.inference_mode():
        want = model.eval()(x)
    rec = lineage(body)
    assert rec["graph"] == {"format": "opencv-zoo-mobilefacenet", "version": 1}
    assert "Apache-2.0" in rec["license"] and "RAF-DB" in rec["lineage_data"] and rec["template"] == "abaw"
    meta = WeightsMeta("frame_linear", "ferplus", list(FERPLUS.names), 112, 3, [0.0] * 3, [1.0] * 3,
                       backbone=json.loads(json.dumps(rec)), template="abaw")
    save_checkpoint(model, meta, tmp_path / "m.safetensors")
    twin, meta2 = load_model(tmp_path / "m.safetensors")  # no backbone root needed: the record rebuilds it
    assert isinstance(twin.backbone, ZooFerBackbone) and twin.backbone.pretrained_head is None
    assert meta2.template == "abaw"
    with torch.inference_mode():
        assert torch.allclose(twin.eval()(x), want, atol=1e-5)


def test_the_frozen_front_and_the_tail_compose_to_the_whole_network():
    from wildfer.models.backbones import create_backbone

    body = create_backbone("opencv-zoo-fer", ZOO).eval()
    x = torch.rand(2, 3, 112, 112)
    with torch.inference_mode():
        whole = body(x)
        for k in (0, 6, 12, body.num_stages):
            assert torch.allclose(body.tail(body.front(x, k), k), whole, atol=1e-5), k
    body.freeze(6)
    frozen = {n for n, p in body.named_parameters() if not p.requires_grad}
    assert "net.conv1.conv.weight" in frozen and "net.blocks.5.project.conv.bias" in frozen
    assert "net.blocks.6.expand.conv.weight" not in frozen and "net.linear1.conv.weight" not in frozen
    with pytest.raises(ConfigError, match="freeze_blocks"):
        body.freeze(99)


def test_cached_training_reuses_its_cache_and_trains_only_the_tail(tmp_path):
    """Two epochs on 40 real faces with the front cached: the cache is built once and reused by a
    second run, the frozen layers do not move, the others do."""
    from wildfer.config import load_config
    from wildfer.train.loop import fit
    from wildfer.models.weights import read_checkpoint

    crops, labels = _box_crops(40)
    folder = tmp_path / "faces"
    from PIL import Image

    for i, (c, lab) in enumerate(zip(crops, labels)):
        (folder / lab).mkdir(parents=True, exist_ok=True)
        Image.fromarray(c.transpose(1, 2, 0)).save(folder / lab / f"f{i}.jpg")
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"""
name: r
epochs: 2
batch_size: 8
threads: 1
out_dir: {tmp_path / 'runs'}
model: {{name: frame_linear, backbone: opencv-zoo-fer, backbone_root: {ZOO}, input_size: 112, in_chans: 3,
        freeze_blocks: 12, template: abaw}}
data: {{dataset: folder, root: {folder}, val_fraction: 0.25, cache_views: 2, cache_dir: {tmp_path / 'cache'}}}
optim: {{name: adamw, lr: 1.0e-3}}
augment: {{hflip: 0.5, rotate: 5.0}}
""")
    run = fit(load_config(recipe), quiet=True)
    files = sorted((tmp_path / "cache").glob("*.f16"))
    assert len(files) == 1
    info = json.loads(files[0].with_suffix(".json").read_text())
    assert info["k"] == 12 and info["views"] == 2 and info["shape"][1:] == [2, 128, 14, 14]
    before = files[0].stat().st_mtime_ns
    from wildfer.models.backbones import create_backbone

    start = create_backbone("opencv-zoo-fer", ZOO).state_dict()
    tensors, meta = read_checkpoint(run / "last.safetensors")
    assert meta.template == "abaw"
    assert torch.equal(tensors["backbone.net.blocks.3.dw.conv.weight"], start["net.blocks.3.dw.conv.weight"])
    assert not torch.equal(tensors["backbone.net.blocks.13.dw.conv.weight"], start["net.blocks.13.dw.conv.weight"])
    shutil.rmtree(run)
    fit(load_config(recipe), quiet=True)  # the same recipe again: the cache is read, not rebuilt
    assert sorted((tmp_path / "cache").glob("*.f16")) == files and files[0].stat().st_mtime_ns == before


def test_evaluate_runs_the_peer_as_it_ships_on_shared_photos(tmp_path, monkeypatch):
    """``wildfer evaluate --model opencv-zoo-fer`` (the user's copy) and ``--model PATH.onnx``:
    the file's own input convention and classes, end to end on labelled photos."""
    from wildfer.cli import main

    if not (EXPW / "labels.csv").is_file():
        pytest.skip("../shared/data/expw_dev is absent")
    root = tmp_path / "expw"
    (root / "images").mkdir(parents=True)
    with open(EXPW / "labels.csv", newline="") as f:
        rows = list(csv.DictReader(f))[:24]
    with open(root / "labels.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    for r in rows:
        shutil.copy(EXPW / "images" / r["image"], root / "images" / r["image"])
    monkeypatch.setenv("WILDFER_BACKBONES", str(SHARED / "backbones"))
    for model in ("opencv-zoo-fer", str(FILE)):
        out = tmp_path / f"out{len(model)}"
        assert main(["evaluate", "--dataset", "boxes", "--root", str(root), "--model", model, "--out", str(out)]) == 0
        m = json.loads((out / "metrics.json").read_text())
        assert m["n"] == 24 and m["precision"] == "int8" and m["backend"] == "onnx"
        assert m["model_labels"] == "opencv_zoo_fer" and m["detection_recall"] > 0.8
        assert m["accuracy"] > 0.15  # 7 balanced classes: chance is 0.14; the file scores ~0.37 on all 1,400
    other = tmp_path / "other.onnx"
    other.write_bytes(FILE.read_bytes()[:-1] + b"\x00")
    assert main(["evaluate", "--dataset", "boxes", "--root", str(root), "--model", str(other),
                 "--out", str(tmp_path / "o")]) == 2


def test_the_recipe_of_defaults_zoo_member_trains_a_dry_run(tmp_path, monkeypatch):
    """recipes/zoo_wild.yaml (default's fourth member) as written, on real FER2013 rows, without its
    extra sets (muxspace is fetched separately): the frozen front cached for 3 views, one batch."""
    from script_fixtures import real_fer_rows
    from wildfer.cli import main

    monkeypatch.setenv("WILDFER_BACKBONES", str(ZOO))
    root = real_fer_rows(tmp_path / "fer", 120, 40)
    rc = main(["train", str(REPO / "recipes" / "zoo_wild.yaml"), f"data.root={root}", "data.extra=[]",
               "data.val_boxes=[]", "batch_size=8", f"data.cache_dir={tmp_path / 'cache'}", "threads=1",
               "--dry-run", "--out-dir", str(tmp_path / "runs"), "--name", "z"])
    assert rc == 0
    from wildfer.models.weights import read_checkpoint

    _, meta = read_checkpoint(tmp_path / "runs" / "dry_run" / "z" / "last.safetensors")
    assert (meta.backbone["name"], meta.template, meta.input_size, meta.in_chans) == ("opencv-zoo-fer", "abaw", 112, 3)
    info = json.loads(next((tmp_path / "cache").glob("*.json")).read_text())
    assert info["k"] == 6 and info["views"] == 3
