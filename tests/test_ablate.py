"""``wildfer ablate``: a 2-cell grid of real (tiny) trainings, the comparison table and its
confusion matrices, resuming after a cell's result is lost, and clear errors for bad specs."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from fer_fixtures import write_fer

from wildfer.cli import main
from wildfer.config import load_config

RECIPES = Path(__file__).resolve().parents[1] / "recipes"


def _spec(tmp_path: Path) -> Path:
    root = write_fer(tmp_path / "fer", n_train=40, n_test=14)
    (tmp_path / "base.yaml").write_text(
        f"name: b\nepochs: 1\nbatch_size: 16\nthreads: 1\n"
        f"model: {{name: resnet18, input_size: 32, in_chans: 1}}\n"
        f"data: {{dataset: fer2013, root: {root}, labels: fer2013}}\n"
        f"optim: {{name: adam}}\n")
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        f"name: tiny grid\nout_dir: {tmp_path / 'out'}\nbase: base.yaml\n"
        f"grid:\n  optim.lr: [1.0e-3, 1.0e-2]\nmultires_test: [8, 16]\n")
    return spec


def test_grid_runs_compares_and_resumes(tmp_path, capsys):
    spec = _spec(tmp_path)
    assert main(["ablate", str(spec)]) == 0
    out = tmp_path / "out"
    rows = list(csv.DictReader(open(out / "results.csv")))
    assert [r["cell"] for r in rows] == ["lr-0.001", "lr-0.01"]
    for r in rows:
        assert r["n"] == "14" and 0 <= float(r["accuracy"]) <= 1 and 0 <= float(r["macro_f1"]) <= 1
        assert float(r["abaw2_score"]) == pytest.approx(0.33 * float(r["accuracy"]) + 0.67 * float(r["macro_f1"]))
        assert {"f1_angry", "f1_neutral", "acc_8px", "acc_16px", "params", "train_s"} <= set(r)
        assert int(r["params"]) > 1_000_000
        assert (out / "confusion" / f"{r['cell']}.png").stat().st_size > 1000
    md = (out / "results.md").read_text()
    assert "| lr-0.001 | resnet18 |" in md and f"wildfer ablate {spec}" in md
    cfg = load_config(out / "lr-0.01" / "config.yaml")
    assert cfg.optim.lr == 0.01 and cfg.name == "lr-0.01"

    # Lose one cell's result: the rerun skips the finished cell and re-scores the other without
    # training it again (its checkpoint says it is complete).
    kept = (out / "lr-0.001" / "result.json").read_text()
    log_before = (out / "lr-0.01" / "log.jsonl").read_text()
    (out / "lr-0.01" / "result.json").unlink()
    capsys.readouterr()
    assert main(["ablate", str(spec)]) == 0
    said = capsys.readouterr().out
    assert "[lr-0.001] finished earlier" in said and "[lr-0.01] training" in said
    assert (out / "lr-0.001" / "result.json").read_text() == kept
    assert (out / "lr-0.01" / "log.jsonl").read_text() == log_before
    again = json.loads((out / "lr-0.01" / "result.json").read_text())
    assert again["accuracy"] == pytest.approx(float(rows[1]["accuracy"]))
    assert len(list(csv.DictReader(open(out / "results.csv")))) == 2


@pytest.mark.parametrize("text, match", [
    ("grid:\n  optim.lr: 0.1\nbase: base.yaml\n", "grid.optim.lr must be a non-empty list"),
    ("cells:\n  - {name: a, recipe: missing.yaml}\n", "recipe missing.yaml not found"),
    ("cels: []\n", "unknown key cels"),
    ("name: x\n", "nothing to run"),
    ("base: base.yaml\ngrid:\n  optim.lrr: [1]\n", "unknown key optim.lrr"),
])
def test_bad_spec_is_a_clear_error(tmp_path, capsys, text, match):
    (tmp_path / "base.yaml").write_text("name: b\n")
    spec = tmp_path / "s.yaml"
    spec.write_text(text)
    assert main(["ablate", str(spec)]) == 2
    err = capsys.readouterr().err
    assert match in err and "wildfer: error:" in err


def test_fer2013_comparison_spec_resolves():
    """The committed comparison spec names real recipes and valid overrides for every cell."""
    from wildfer.train.ablate import expand, load_spec

    path = RECIPES / "ablate_fer2013.yaml"
    spec = load_spec(path)
    cells = expand(spec, path.parent)
    names = [c.name for c in cells]
    assert {"resnet18", "resnet18_multires", "seresnet50", "seresnet50_multires", "vgg16_fc", "mobilenetv2_fc"} == set(names)
    models = {load_config(c.recipe, c.overrides).model.name for c in cells}
    assert models == {"resnet18", "seresnet50_multires", "vgg16_fc", "mobilenetv2_fc"}
    assert spec.multires_test == (8, 16, 24, 48)
    for c in cells:
        cfg = load_config(c.recipe, c.overrides)
        assert cfg.data.dataset == "fer2013" and cfg.model.input_size == 48 and cfg.model.init is None
        assert (cfg.augment.multires is not None) == c.name.endswith("multires")
