"""The shipped default model: loads offline from the package, says what it expects, and classifies real faces."""

import json
from pathlib import Path

import pytest
import torch

from wildfer.cli import main
from wildfer.labels import FERPLUS
from wildfer.models.weights import SHIPPED, load_model

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


def test_default_weights_ship_inside_the_package():
    assert SHIPPED["default"].is_file() and SHIPPED["default"].suffix == ".safetensors"
    model, meta = load_model("default")
    assert meta.labels == "ferplus" and tuple(meta.label_names) == FERPLUS.names
    assert (meta.input_size, meta.in_chans) == (48, 1)
    with torch.inference_mode():
        p = torch.softmax(model(torch.zeros(2, 1, 48, 48)), -1)
    assert p.shape == (2, 8) and torch.allclose(p.sum(-1), torch.ones(2))


@pytest.mark.shared_data
def test_default_model_on_real_publictest(tmp_path):
    root = SHARED / "fer2013"
    if not (root / "fer2013.csv.gz").is_file():
        pytest.skip(f"{root} is absent (../shared/data is not on this machine)")
    out = tmp_path / "eval"
    assert main(["evaluate", "--dataset", "fer2013", "--root", str(root), "--split", "PublicTest",
                 "--labels", "ferplus", "--out", str(out)]) == 0
    m = json.loads((out / "metrics.json").read_text())
    # far above chance (the majority class is ~36%): catches a broken map, crop or normalisation
    assert m["n"] > 3000 and m["accuracy"] > 0.6, m["accuracy"]
