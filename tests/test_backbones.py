"""TF.js graph loading (on graphs the tests write) and the pretrained backbones (real files when present)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from tfjs_fixtures import reference, tiny_weights, write_graph_model
from wildfer.errors import ConfigError
from wildfer.models.tfjs import GraphError, GraphModule, GraphSpec, read_tfjs

BACKBONES = Path(__file__).resolve().parents[1] / ".." / "shared" / "backbones" / "human-models-3.0.4"


def _x(n=2, size=9):
    return np.random.default_rng(1).uniform(-1, 1, (n, size, size, 3)).astype(np.float32)


@pytest.mark.parametrize("size", [9, 8])  # odd: TF's SAME padding is asymmetric at stride 2
def test_graph_matches_numpy_reference(tmp_path, size):
    m = GraphModule.from_tfjs(write_graph_model(tmp_path), ["fc"])
    x = _x(size=size)
    with torch.no_grad():
        y = m(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(y, reference(x), rtol=1e-4, atol=1e-5)


def test_float16_weights_are_dequantised(tmp_path):
    path = write_graph_model(tmp_path, float16=("dw/w", "c1/scale"))
    _, values = read_tfjs(path)
    w = tiny_weights()
    assert values["dw/w"].dtype == np.float32
    np.testing.assert_array_equal(values["dw/w"], w["dw/w"].astype(np.float16).astype(np.float32))
    m = GraphModule.from_tfjs(path, ["fc"])
    halved = dict(w, **{k: w[k].astype(np.float16).astype(np.float32) for k in ("dw/w", "c1/scale")})
    with torch.no_grad():
        np.testing.assert_allclose(m(torch.from_numpy(_x())).numpy(), reference(_x(), halved), rtol=1e-4, atol=1e-5)


def test_parameters_train_and_scalars_do_not(tmp_path):
    m = GraphModule.from_tfjs(write_graph_model(tmp_path), ["fc"])
    names = dict(m.named_parameters())
    assert "params.c1_w" in names and names["params.c1_w"].shape == (4, 3, 3, 3)  # OIHW
    assert names["params.dw_w"].shape == (8, 1, 3, 3)
    assert not any("six" in n or "axes" in n for n in names)  # ReLU6's 6.0 and the axes are constants
    x = torch.from_numpy(_x())
    opt = torch.optim.SGD(m.parameters(), lr=0.05)
    before = float((m(x) ** 2).mean().detach())
    for _ in range(5):
        opt.zero_grad()
        (m(x) ** 2).mean().backward()
        opt.step()
    assert float((m(x) ** 2).mean().detach()) < before


def test_spec_rebuilds_the_architecture_without_the_files(tmp_path):
    m = GraphModule.from_tfjs(write_graph_model(tmp_path / "a"), ["fc"])
    spec = GraphSpec.from_json(json.loads(json.dumps(m.spec.to_json())))
    twin = GraphModule(spec)
    twin.load_state_dict(m.state_dict())
    x = torch.from_numpy(_x())
    with torch.no_grad():
        torch.testing.assert_close(twin(x), m(x))


def test_pruning_keeps_only_what_the_output_needs(tmp_path):
    m = GraphModule.from_tfjs(write_graph_model(tmp_path), ["c1/relu6"])
    assert {n["name"] for n in m.spec.nodes} == {"input", "c1/conv", "c1/mul", "c1/add", "c1/min", "c1/relu6"}
    assert m(torch.from_numpy(_x())).shape == (2, 5, 5, 4)


def test_defects_are_one_line_errors_naming_the_file(tmp_path):
    path = write_graph_model(tmp_path / "trunc")
    bin_ = path.parent / "group1-shard1of1.bin"
    bin_.write_bytes(bin_.read_bytes()[:-8])
    with pytest.raises(GraphError, match="truncated"):
        read_tfjs(path)
    bin_.unlink()
    with pytest.raises(GraphError, match="group1-shard1of1.bin"):
        read_tfjs(path)
    with pytest.raises(GraphError, match="no such TF.js model file"):
        read_tfjs(tmp_path / "nope.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(GraphError, match="bad.json"):
        read_tfjs(tmp_path / "bad.json")
    odd = tiny_nodes_with("c1/mul", op="Erf")
    with pytest.raises(GraphError, match="Erf"):
        GraphModule.from_tfjs(write_graph_model(tmp_path / "op", nodes=odd), ["fc"])
    with pytest.raises(GraphError, match="no node 'missing'"):
        GraphModule.from_tfjs(write_graph_model(tmp_path / "out"), ["missing"])


def tiny_nodes_with(name: str, **change) -> list[dict]:
    from tfjs_fixtures import tiny_nodes

    return [dict(n, **change) if n["name"] == name else n for n in tiny_nodes()]


def test_backbone_location_errors_name_the_path(tmp_path, monkeypatch):
    from wildfer.models.backbones import create_backbone

    monkeypatch.delenv("WILDFER_BACKBONES", raising=False)
    with pytest.raises(ConfigError, match="WILDFER_BACKBONES"):
        create_backbone("faceres-deep")
    with pytest.raises(ConfigError, match=str(tmp_path / "models" / "faceres-deep.json")):
        create_backbone("faceres-deep", root=tmp_path)
    with pytest.raises(ConfigError, match="unknown backbone"):
        create_backbone("resnet9000")


needs_backbones = pytest.mark.skipif(not (BACKBONES / "models" / "faceres-deep.json").is_file(),
                                     reason=f"{BACKBONES} is absent (../shared/backbones is not on this machine)")


@pytest.mark.shared_data
@needs_backbones
@pytest.mark.parametrize("name,feats", [("faceres-deep", 1024), ("mobilefacenet", 512)])
def test_real_backbones_load_train_and_rebuild_from_their_lineage(name, feats):
    from wildfer.models.backbones import create_backbone, lineage

    body = create_backbone(name, root=BACKBONES)
    x = torch.rand(2, 1, 96, 96)  # grey, another size: fully convolutional up to the pooling
    with torch.no_grad():
        f = body(x)
    assert f.shape == (2, feats) and torch.isfinite(f).all() and f.abs().sum() > 0
    twin = create_backbone(name, graph=json.loads(json.dumps(lineage(body)["graph"])))
    twin.load_state_dict(body.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(twin(x), f)
    assert sum(p.numel() for p in body.parameters() if p.requires_grad) > 500_000


@pytest.mark.shared_data
@needs_backbones
def test_faceres_identity_features_separate_people():
    """faceres-deep is an identity network: the same person's two photos are closer than two people's
    (shared photos of the deepface test suite; a wrong colour order or normalisation breaks this)."""
    from wildfer.models.backbones import create_backbone
    from wildfer.geometry.align import align_faces
    from wildfer.detectors import create_detector
    from wildfer.data.datasets import load_image

    photos = BACKBONES.parents[1] / "data" / "faces" / "images"
    names = ["deepface_img1.jpg", "deepface_img2.jpg", "deepface_img3.jpg"]  # 1, 2: the same woman; 3: another
    if not all((photos / n).is_file() for n in names):
        pytest.skip(f"{photos} lacks {names}")
    det = create_detector("mtcnn")
    crops = []
    for n in names:
        rgb = load_image(photos / n, 3)
        faces = det(rgb)
        crops.append(align_faces(rgb, faces.landmarks[:1], 112, 3, "abaw")[0])
    body = create_backbone("faceres-deep", root=BACKBONES)
    with torch.no_grad():
        f = torch.nn.functional.normalize(body(torch.from_numpy(np.stack(crops)).float() / 255), dim=1)
    same, other = float(f[0] @ f[1]), float(f[0] @ f[2])
    assert same > other + 0.2, (same, other)


def test_converter_patterns_are_fused_and_change_nothing(tmp_path):
    m = GraphModule.from_tfjs(write_graph_model(tmp_path), ["fc"])
    ops = [n["op"] for n in m._plan]
    assert "_ConvScaleShift" in ops and "Mul" not in ops  # conv -> per-channel Mul -> Add is one conv
    assert [n["op"] for n in m.spec.nodes].count("Mul") == 1  # the spec (what checkpoints store) is kept


@pytest.mark.shared_data
@needs_backbones
def test_fused_faceres_equals_the_graph_as_converted():
    from wildfer.models.backbones import create_backbone

    body = create_backbone("faceres-deep", root=BACKBONES).eval()
    assert {"_ConvScaleShift", "_Clip"} <= {n["op"] for n in body.graph._plan}
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        fused = body(x)
        body.graph._plan = body.graph.spec.nodes
        torch.testing.assert_close(body(x), fused, atol=1e-5, rtol=1e-5)
