"""The ``ensemble`` model and ``scripts/make_ensemble.py``: probabilities are the members' mean (with the
mirrored faces when ``flip``), the checkpoint runs through evaluate, and its ONNX export gives the same."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from fer_fixtures import write_fer
from pipeline_fixtures import tiny_checkpoint
from wildfer.errors import WildferError

REPO = Path(__file__).resolve().parents[1]


def _script():
    spec = importlib.util.spec_from_file_location("make_ensemble", REPO / "scripts" / "make_ensemble.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _member(path: Path, seed: int) -> Path:
    torch.manual_seed(seed)
    return tiny_checkpoint(path)  # random weights; seed makes the members differ


@pytest.mark.parametrize("flip", [False, True])
def test_probabilities_are_the_members_mean(tmp_path, flip):
    from wildfer.models.weights import load_model

    a, b = _member(tmp_path / "a.safetensors", 1), _member(tmp_path / "b.safetensors", 2)
    torch.manual_seed(5)
    b_net, _ = load_model(b)
    with torch.no_grad():  # make b differ from a (tiny_checkpoint seeds itself)
        for p in b_net.parameters():
            p.add_(0.05 * torch.randn_like(p))
    from wildfer.models.weights import read_checkpoint, save_checkpoint

    save_checkpoint(b_net, read_checkpoint(b)[1], b)
    out = _script().make_ensemble([str(a), str(b)], tmp_path / "e.safetensors", flip=flip)
    ens, meta = load_model(out)
    nets = [load_model(a)[0], load_model(b)[0]]
    x = torch.rand(5, 1, 48, 48)
    with torch.no_grad():
        views = [x, x.flip(-1)] if flip else [x]
        want = torch.stack([torch.softmax(n(v), -1) for n in nets for v in views]).mean(0)
        got = torch.softmax(ens(x), -1)
    assert torch.allclose(got, want, atol=1e-6)
    assert meta.model == "ensemble" and meta.model_kwargs["flip"] is flip
    assert [m["checkpoint"] for m in meta.config["members"]] == [str(a), str(b)]


def test_ensemble_checkpoint_evaluates_and_exports(tmp_path, capsys):
    from wildfer.cli import main
    from wildfer.models.onnx_export import export_onnx
    from wildfer.models.onnx_model import OnnxModel
    from wildfer.models.weights import load_model

    a, b = _member(tmp_path / "a.safetensors", 1), _member(tmp_path / "b.safetensors", 2)
    out = _script().make_ensemble([str(a), str(b)], tmp_path / "e.safetensors", flip=True)
    fer = write_fer(tmp_path / "fer", n_train=7, n_test=14)
    for backend in ("torch", "onnx"):
        assert main(["evaluate", "--dataset", "fer2013", "--root", str(fer), "--model", str(out), "--backend", backend,
                     "--out", str(tmp_path / f"ev_{backend}"), "--quiet"]) == 0, capsys.readouterr().err
    t = json.loads((tmp_path / "ev_torch" / "metrics.json").read_text())
    o = json.loads((tmp_path / "ev_onnx" / "metrics.json").read_text())
    assert t["accuracy"] == o["accuracy"] and t["n"] == 14
    net, _ = load_model(out)
    runner, _ = OnnxModel.load(export_onnx(out, tmp_path / "e.onnx"))
    x = torch.rand(3, 1, 48, 48)
    with torch.no_grad():
        ref = torch.softmax(net(x), -1).numpy()
    assert np.abs(torch.softmax(torch.from_numpy(runner(x.numpy())), -1).numpy() - ref).max() < 1e-5


def test_members_must_share_input_and_classes(tmp_path):
    from wildfer.labels import FER2013
    from wildfer.models.registry import create_model
    from wildfer.models.weights import WeightsMeta, save_checkpoint

    a = _member(tmp_path / "a.safetensors", 1)
    other = tmp_path / "o.safetensors"
    save_checkpoint(create_model("resnet18", len(FER2013), 1, 48),
                    WeightsMeta("resnet18", FER2013.key, list(FER2013.names), 48, 1, [0.5], [0.25]), other)
    with pytest.raises(WildferError, match="differ"):
        _script().make_ensemble([str(a), str(other)], tmp_path / "e.safetensors")


def test_members_with_other_inputs_get_their_crop_inside_the_graph(tmp_path):
    """The shipped 48 px grey ``fer`` model beside a 112 px RGB ``abaw`` member: one 112 px crop per
    face, the 48 px member's crop made from it in the graph, which classifies a real face as that
    model does on its own crop cut from the photo (benchmarks/bench_reframe.py: 94.7% arg-max
    agreement on 1,330 in-the-wild faces, accuracy 0.402 vs 0.401); the ONNX export agrees."""
    from pipeline_fixtures import portrait

    from wildfer.detectors import create_photo_detector
    from wildfer.labels import FERPLUS
    from wildfer.models.onnx_export import export_onnx
    from wildfer.models.onnx_model import OnnxModel
    from wildfer.models.reframe import Reframe
    from wildfer.models.registry import create_model
    from wildfer.models.weights import WeightsMeta, load_model, save_checkpoint
    from wildfer.geometry.align import align_faces

    torch.manual_seed(3)
    wide = tmp_path / "wide.safetensors"
    save_checkpoint(create_model("resnet18", len(FERPLUS), 3, 112, channels=[8, 16, 16, 16], stem_width=8),
                    WeightsMeta("resnet18", "ferplus", list(FERPLUS.names), 112, 3, [0.0] * 3, [1.0] * 3,
                                model_kwargs={"channels": [8, 16, 16, 16], "stem_width": 8}, template="abaw"), wide)
    out = _script().make_ensemble(["fast", str(wide)], tmp_path / "e.safetensors")
    ens, meta = load_model(out)
    assert (meta.input_size, meta.in_chans, meta.template, meta.mean, meta.std) == (112, 3, "abaw", [0.0] * 3, [1.0] * 3)
    assert isinstance(ens.members[0], Reframe) and not isinstance(ens.members[1], Reframe)
    assert meta.model_kwargs["members"][0]["input"]["template"] == "fer"

    rgb = portrait(0.5)
    faces = create_photo_detector(None)(rgb)
    assert len(faces) >= 1
    own = align_faces(rgb, faces.landmarks, 48, 1, "fer")
    big = align_faces(rgb, faces.landmarks, 112, 3, "abaw")
    fast, fmeta = load_model("fast")
    with torch.no_grad():
        direct = torch.softmax(fast((torch.from_numpy(own).float() / 255 - fmeta.mean[0]) / fmeta.std[0]), -1)
        inside = torch.softmax(ens.members[0](torch.from_numpy(big).float() / 255), -1)
    assert torch.equal(direct.argmax(-1), inside.argmax(-1))
    assert (direct - inside).abs().max() < 0.1, (direct, inside)

    runner, _ = OnnxModel.load(export_onnx(out, tmp_path / "e.onnx"))
    x = torch.from_numpy(big).float() / 255
    with torch.no_grad():
        ref = torch.softmax(ens(x), -1).numpy()
    assert np.abs(torch.softmax(torch.from_numpy(runner(x.numpy())), -1).numpy() - ref).max() < 1e-4


def _differing(path: Path, seed: int) -> Path:
    """A tiny member whose weights differ from every other's (tiny_checkpoint seeds itself)."""
    from wildfer.models.weights import load_model, read_checkpoint, save_checkpoint

    net, _ = load_model(_member(path, seed))
    torch.manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.05 * torch.randn_like(p))
    save_checkpoint(net, read_checkpoint(path)[1], path)
    return path


def test_an_ensemble_member_joins_with_its_members_and_weights_share_it(tmp_path):
    """An ensemble of two, mirrored, beside one more model with weights 1:1, only the pair's members
    mirrored: each of the pair's members weighs 1/4, the other 1/2 on the face alone, and the
    probabilities are that weighted mean."""
    from wildfer.models.weights import load_model

    a, b = _differing(tmp_path / "a.safetensors", 1), _differing(tmp_path / "b.safetensors", 2)
    pair = _script().make_ensemble([str(a), str(b)], tmp_path / "pair.safetensors", flip=True)
    other = _differing(tmp_path / "o.safetensors", 4)
    out = _script().make_ensemble([str(pair), str(other)], tmp_path / "e.safetensors", flip=[True, False],
                                  weights=[1, 1])
    ens, meta = load_model(out)
    assert len(ens.members) == 3 and meta.model_kwargs["weights"] == pytest.approx([1 / 4] * 2 + [1 / 2])
    assert ens.flips == [True, True, False]
    assert [m["checkpoint"] for m in meta.config["members"]] == [f"{pair} member {i}" for i in range(2)] + [str(other)]
    assert [m["backbone"] for m in meta.config["members"]] == [{}] * 3  # none has a pretrained backbone
    first, _ = load_model(pair)
    net, _ = load_model(other)
    x = torch.rand(4, 1, 48, 48)
    with torch.no_grad():
        want = (torch.softmax(first(x), -1) + torch.softmax(net(x), -1)) / 2
        assert torch.allclose(torch.softmax(ens(x), -1), want, atol=1e-5)
    with pytest.raises(WildferError, match="2 weights for 1 members"):
        _script().make_ensemble([str(other)], tmp_path / "f.safetensors", weights=[1, 2])
