"""`wildfer evaluate` on FER2013-format fixtures, with a real (tiny, trained) checkpoint."""

import json

import pytest

from fer_fixtures import write_fer
from wildfer.cli import main
from wildfer.labels import FERPLUS
from wildfer.models import create_model
from wildfer.models.weights import WeightsMeta, save_checkpoint


@pytest.fixture()
def ckpt(tmp_path):
    model = create_model("resnet18", num_classes=8, in_chans=1, input_size=32)
    meta = WeightsMeta(model="resnet18", labels="ferplus", label_names=list(FERPLUS.names), input_size=32,
                       in_chans=1, mean=[0.5], std=[0.25])
    path = tmp_path / "m.safetensors"
    save_checkpoint(model, meta, path)
    return path


@pytest.mark.parametrize("labels, n_classes", [("fer2013", 7), ("ferplus", 8)])
def test_evaluate_contract(tmp_path, ckpt, capsys, labels, n_classes):
    root = write_fer(tmp_path / "fer", n_train=21, n_test=14)
    out = tmp_path / "out"
    rc = main(["evaluate", "--dataset", "fer2013", "--root", str(root), "--split", "PublicTest",
               "--labels", labels, "--model", str(ckpt), "--out", str(out)])
    assert rc == 0
    m = json.loads((out / "metrics.json").read_text())
    for key in ("accuracy", "macro_f1", "weighted_f1", "abaw2_score", "per_class", "n"):
        assert key in m
    assert m["n"] == 14 and len(m["per_class"]) == n_classes
    assert m["abaw2_score"] == pytest.approx(0.33 * m["accuracy"] + 0.67 * m["macro_f1"])
    assert (out / "report.md").read_text().startswith(f"# {ckpt} (resnet18) on fer2013 PublicTest")  # which checkpoint
    assert m["model"] == str(ckpt) and m["architecture"] == "resnet18"
    assert (out / "confusion.png").stat().st_size > 1000
    assert "accuracy=" in capsys.readouterr().out


def test_flags_train_duplicates(tmp_path, ckpt):
    import gzip

    first = write_fer(tmp_path / "first", n_train=21, n_test=14)
    with gzip.open(first / "fer2013.csv.gz", "rt") as f:
        training = [line.strip() for line in f if line.strip().endswith(",Training")]
    copies = [line.rsplit(",", 1)[0] + ",PublicTest" for line in training[:3]]  # test faces also in Training
    root = write_fer(tmp_path / "fer", n_train=21, n_test=14, extra_lines=copies)
    out = tmp_path / "out"
    assert main(["evaluate", "--root", str(root), "--model", str(ckpt), "--out", str(out)]) == 0
    m = json.loads((out / "metrics.json").read_text())
    report = (out / "report.md").read_text()
    assert "pixel-identical" in report
    clean = m["without_train_duplicates"]  # the fixture repeats images: some test faces are in Training
    assert clean["n"] < m["n"]
    # the same figures in report.md, beside those over every test face
    assert (f"| without the {m['n'] - clean['n']} also in Training (pixel-identical) | {clean['n']} | "
            f"{clean['accuracy']:.4f} | {clean['macro_f1']:.4f} |") in report


def test_the_report_counts_the_split_it_scored_on_real_fer2013_rows(tmp_path, ckpt):
    from script_fixtures import real_fer_rows

    root = real_fer_rows(tmp_path / "fer", n_train=300, n_test=100)
    out = tmp_path / "out"
    assert main(["evaluate", "--root", str(root), "--model", str(ckpt), "--out", str(out)]) == 0
    report = (out / "report.md").read_text()
    assert "- PublicTest: 100 faces, of the 400 rows read from fer2013.csv" in report and "kept" not in report
    assert json.loads((out / "metrics.json").read_text())["n"] == 100


@pytest.mark.parametrize("args, needle", [
    (["--root", "/nonexistent/fer"], "no fer2013.csv"),
    (["--model", "/nonexistent/m.safetensors"], "no such model file"),
    (["--labels", "affectnet"], "--labels must be"),
    (["--split", "PrivateTest"], "PrivateTest"),
])
def test_bad_input_is_one_line(tmp_path, ckpt, capsys, args, needle):
    root = write_fer(tmp_path / "fer", n_train=7, n_test=7)
    base = {"--root": str(root), "--model": str(ckpt)}
    for i in range(0, len(args), 2):
        base[args[i]] = args[i + 1]
    argv = ["evaluate", "--out", str(tmp_path / "o")] + [x for kv in base.items() for x in kv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err


def test_pickle_checkpoint_is_refused(tmp_path, capsys):
    import torch

    bad = tmp_path / "model.pt"
    torch.save({"w": torch.zeros(2)}, bad)
    root = write_fer(tmp_path / "fer", n_train=7, n_test=7)
    assert main(["evaluate", "--root", str(root), "--model", str(bad), "--out", str(tmp_path / "o")]) == 2
    assert "never unpickles" in capsys.readouterr().err
