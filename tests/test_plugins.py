"""Your own model from the ``wildfer`` command (wildfer.plugins): the README's plugin example, written here
and put on PYTHONPATH trains (recipe ``plugins:``), evaluates and predicts (``--plugin``); an
installed package's ``wildfer.plugins`` entry point (a real ``.dist-info`` that importlib.metadata
reads) registers its model with nothing named; import failures are one line naming the module."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from PIL import Image

from fer_fixtures import write_fer
from pipeline_fixtures import portrait
from script_fixtures import one_line_error, real_fer_rows, run_script

def readme_plugin() -> str:
    """The README's plugin example ("Your own models"), run here as the plugin module ``mymodels``."""
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    start = text.index("```python\n# mymodels.py") + len("```python\n")
    return text[start:text.index("```", start)]


PLUGIN = readme_plugin()


def write_recipe(path: Path, root: Path, **over) -> Path:
    cfg = {"name": "mine", "epochs": 1, "batch_size": 16, "max_iters": 4, "threads": 1, "out_dir": "runs",
           "model": {"name": "tiny_mlp", "input_size": 48, "in_chans": 1, "kwargs": {"hidden": 24}},
           "data": {"dataset": "fer2013", "root": str(root), "labels": "fer2013", "max_samples": 64}, **over}
    path.write_text(yaml.safe_dump(cfg))
    return path


def plugin_folder(tmp_path: Path) -> Path:
    plug = tmp_path / "plugins"
    plug.mkdir()
    (plug / "mymodels.py").write_text(PLUGIN)
    return plug


def train_and_evaluate(tmp_path: Path, root: Path, plug: Path) -> None:
    """Trains with the recipe's plugins: (recorded in config.yaml), evaluates with --plugin; the
    report names the checkpoint of the run folder given as --model."""
    r = run_script(["train", write_recipe(tmp_path / "r.yaml", root, plugins=["mymodels"])], tmp_path, (plug,))
    assert r.returncode == 0, r.stderr[-2000:]
    assert yaml.safe_load((tmp_path / "runs" / "mine" / "config.yaml").read_text())["plugins"] == ["mymodels"]
    r = run_script(evaluate_args(root) + ["--plugin", "mymodels"], tmp_path, (plug,))
    assert r.returncode == 0 and "-> evals/mine" in r.stdout, r.stderr[-2000:]
    m = json.loads((tmp_path / "evals" / "mine" / "metrics.json").read_text())
    assert m["model"] == "runs/mine/best.safetensors" and m["architecture"] == "tiny_mlp" and m["n"] > 0
    title = (tmp_path / "evals" / "mine" / "report.md").read_text().splitlines()[0]
    assert title == "# runs/mine/best.safetensors (tiny_mlp) on fer2013 PublicTest (fer2013 labels)"


def evaluate_args(root: Path) -> list:
    return ["evaluate", "--dataset", "fer2013", "--root", root, "--split", "PublicTest", "--model", "runs/mine",
            "--out", "evals/mine", "--quiet"]


@pytest.mark.shared_data
def test_plugin_model_trains_and_evaluates_on_real_fer2013(tmp_path):
    train_and_evaluate(tmp_path, real_fer_rows(tmp_path / "fer", 120, 40), plugin_folder(tmp_path))


def test_plugin_model_trains_evaluates_and_predicts(tmp_path):
    root, plug = write_fer(tmp_path / "fer", n_train=64, n_test=21), plugin_folder(tmp_path)
    err = one_line_error(run_script(["train", write_recipe(tmp_path / "bare.yaml", root)], tmp_path, (plug,)))
    assert "unknown model 'tiny_mlp'" in err and "plugins: [module] in the recipe or --plugin MODULE" in err
    assert not (tmp_path / "runs" / "mine" / "log.jsonl").exists()
    train_and_evaluate(tmp_path, root, plug)
    err = one_line_error(run_script(evaluate_args(root), tmp_path, (plug,)))  # without --plugin: which one
    assert "runs/mine/best.safetensors: metadata names a model wildfer cannot build" in err
    assert "trained with plugins ['mymodels']: pass --plugin for each" in err

    Image.fromarray(portrait(0.5)).save(tmp_path / "face.jpg", quality=92)
    r = run_script(["predict", "face.jpg", "--model", "runs/mine", "--plugin", "mymodels", "--out", "pred_mine",
                    "--quiet", "--no-plots"], tmp_path, (plug,))
    assert r.returncode == 0, r.stderr[-2000:]
    rows = (tmp_path / "pred_mine" / "predictions.csv").read_text().splitlines()
    assert len(rows) == 2 and rows[0].startswith("source,frame") and "p_angry" in rows[0]
    summary = json.loads((tmp_path / "pred_mine" / "summaries" / "face.jpg.json").read_text())
    assert summary["model"] == "runs/mine/best.safetensors"


def test_installed_entry_point_registers_its_model(tmp_path):
    """A package installed with an entry point in wildfer.plugins: what pip writes, a .dist-info
    with entry_points.txt beside the module on sys.path, which importlib.metadata reads."""
    site = tmp_path / "site"
    info = site / "mymodels-0.1.dist-info"
    info.mkdir(parents=True)
    (site / "mymodels.py").write_text(PLUGIN)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: mymodels\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[wildfer.plugins]\ntiny = mymodels\n")
    root = write_fer(tmp_path / "fer", n_train=64, n_test=21)
    r = run_script(["train", write_recipe(tmp_path / "r.yaml", root)], tmp_path, (site,))
    assert r.returncode == 0, r.stderr[-2000:]
    r = run_script(["evaluate", "--dataset", "fer2013", "--root", root, "--model", "runs/mine", "--out", "ev",
                    "--quiet"], tmp_path, (site,))
    assert r.returncode == 0 and "n=21" in r.stdout, r.stderr[-2000:]


@pytest.mark.parametrize("source, needle", [
    ("", "plugin 'nosuchmod': no such module (install it, or put its folder on PYTHONPATH)"),
    ("import nosuchdependency\n", "plugin 'brokenmod': importing it failed ("),
    ("x = 1 / 0\n", "brokenmod.py:1: ZeroDivisionError: division by zero)"),
], ids=["missing", "missing-dependency", "raises"])
def test_a_plugin_that_does_not_import_is_one_line(tmp_path, capsys, source, needle):
    from wildfer.cli import main

    name = "nosuchmod" if not source else "brokenmod"
    if source:
        (tmp_path / "brokenmod.py").write_text(source)
    import sys

    sys.path.insert(0, str(tmp_path))
    try:
        code = main(["evaluate", "--root", str(tmp_path), "--out", str(tmp_path / "o"), "--plugin", name])
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop(name, None)
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and needle in err, err
    if source.startswith("import"):
        assert "No module named 'nosuchdependency'" in err
