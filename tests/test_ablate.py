"""``wildfer ablate``: a 2-cell grid of real (tiny) trainings, the comparison table and its
confusion matrices, resuming after a cell's result is lost, cells identified by their config (a
changed spec never reuses stale cells), and clear errors for bad specs."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import yaml
from fer_fixtures import write_fer
from script_fixtures import one_line_error, real_fer_rows, run_script

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


def _grid(tmp_path: Path, root: Path, overrides: list[str]) -> Path:
    (tmp_path / "base.yaml").write_text(yaml.safe_dump({
        "name": "b", "epochs": 1, "batch_size": 16, "max_iters": 2, "threads": 1,
        "model": {"name": "resnet18", "input_size": 48, "in_chans": 1, "kwargs": {"channels": [8, 16, 32, 64], "stem_width": 8}},
        "data": {"dataset": "fer2013", "root": str(root), "labels": "fer2013"}}))
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump({"name": "grid", "out_dir": str(tmp_path / "out"), "base": "base.yaml",
                                    "overrides": overrides, "grid": {"optim.lr": [1.0e-3, 1.0e-2]}}))
    return spec


def test_a_changed_spec_never_reuses_stale_cells(tmp_path, capsys):
    """A cell is its resolved config: after data.max_samples changes, the old cells are refused
    with the difference named (nothing trains, nothing is overwritten); a longer epochs extends
    them; the table and result.json record each cell's config."""
    spec = _grid(tmp_path, write_fer(tmp_path / "fer", n_train=48, n_test=14), ["data.max_samples=30"])
    out = tmp_path / "out"
    assert main(["ablate", str(spec)]) == 0
    rows = list(csv.DictReader(open(out / "results.csv")))
    assert [r["optim.lr"] for r in rows] == ["0.001", "0.01"] and "data.max_samples" not in rows[0]
    assert "| optim.lr |" in (out / "results.md").read_text().splitlines()[4]
    res = json.loads((out / "lr-0.01" / "result.json").read_text())
    assert res["config"]["data"]["max_samples"] == 30 and res["config"]["optim"]["lr"] == 0.01
    logs = {c: (out / c / "log.jsonl").read_text() for c in ("lr-0.001", "lr-0.01")}

    spec.write_text(spec.read_text().replace("data.max_samples=30", "data.max_samples=36"))
    capsys.readouterr()
    assert main(["ablate", str(spec)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "2 cell folder(s) were trained with another config" in err
    assert "lr-0.001: data.max_samples 30 -> 36; lr-0.01: data.max_samples 30 -> 36" in err
    assert {c: (out / c / "log.jsonl").read_text() for c in logs} == logs
    assert json.loads((out / "lr-0.01" / "result.json").read_text()) == res

    spec.write_text(spec.read_text().replace("data.max_samples=36", "data.max_samples=30").replace(
        "overrides:", "overrides:\n- epochs=2"))
    assert main(["ablate", str(spec)]) == 0
    said = capsys.readouterr().out
    assert "[lr-0.01] training" in said and "finished earlier" not in said
    for c in logs:
        assert [json.loads(x)["epoch"] for x in (out / c / "log.jsonl").read_text().splitlines()] == [1, 2]
        assert json.loads((out / c / "result.json").read_text())["epochs"] == 2


@pytest.mark.shared_data
def test_stale_cells_refused_on_real_fer2013_through_the_command(tmp_path):
    spec = _grid(tmp_path, real_fer_rows(tmp_path / "fer", 150, 50), ["data.max_samples=40"])
    r = run_script(["ablate", spec], tmp_path)
    assert r.returncode == 0 and "comparison:" in r.stdout, r.stderr[-2000:]
    spec.write_text(spec.read_text().replace("data.max_samples=40", "data.max_samples=48"))
    err = one_line_error(run_script(["ablate", spec], tmp_path))
    assert "lr-0.001: data.max_samples 40 -> 48; lr-0.01: data.max_samples 40 -> 48" in err
