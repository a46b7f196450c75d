"""The default inference path needs no torch (issue "Predict without torch"): in a fresh interpreter,
``wildfer.analyze`` on a photo, ``wildfer predict`` on a clip and ``wildfer evaluate`` of a shipped
model leave ``torch`` out of ``sys.modules``; and with torch made unimportable, they still run, while
every command that needs torch says so in one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from fer_fixtures import write_fer
from pipeline_fixtures import face_clip, portrait

ROOT = Path(__file__).resolve().parents[1]
ENV = {"PYTHONPATH": str(ROOT / "src")}
# Makes torch, torchvision and timm unimportable, as on an install without the train extra.
BLOCK = ("import sys, importlib.abc\n"
         "class _NoTorch(importlib.abc.MetaPathFinder):\n"
         "    def find_spec(self, name, path, target=None):\n"
         "        if name.split('.')[0] in ('torch', 'torchvision', 'timm'):\n"
         "            raise ModuleNotFoundError(f\"No module named '{name}'\")\n"
         "sys.meta_path.insert(0, _NoTorch())\n")
HEAVY = "print(sorted(m for m in ('torch', 'torchvision', 'timm') if m in sys.modules))"


def _python(code: str, *args, block: bool = False, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", (BLOCK if block else "import sys\n") + code, *map(str, args)],
                          capture_output=True, text=True, env=ENV, cwd=cwd, timeout=600)


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    d = tmp_path_factory.mktemp("media")
    Image.fromarray(portrait(0.5)).save(d / "p.jpg")
    face_clip(d / "c.mp4", n_face=8, n_empty=2)
    write_fer(d / "fer", n_train=14, n_test=14)
    return d


@pytest.mark.parametrize("block", [False, True], ids=["torch installed", "torch absent"])
def test_default_path_imports_no_torch(media, tmp_path, block):
    code = ("import wildfer\n"
            "faces = wildfer.analyze(sys.argv[1])\n"
            "assert len(faces) == 1, faces\n"
            "from wildfer.cli import main\n"
            "assert main(['predict', sys.argv[2], '--out', sys.argv[3], '--quiet']) == 0\n"
            "assert main(['evaluate', '--dataset', 'fer2013', '--root', sys.argv[4], '--model', 'fast',"
            " '--out', sys.argv[3] + '_eval', '--quiet']) == 0\n" + HEAVY)
    r = _python(code, media / "p.jpg", media / "c.mp4", tmp_path / "out", media / "fer", block=block)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.strip().splitlines()[-1] == "[]", r.stdout
    rows = (tmp_path / "out" / "predictions.csv").read_text().splitlines()
    assert len(rows) > 5 and "onnx" in (tmp_path / "out" / "summaries" / "c.mp4.json").read_text()


@pytest.mark.parametrize("argv", [
    ["train", "recipes/fast_wild.yaml", "--dry-run"],
    ["export", "fast", "x.onnx"],
    ["lr-find", "recipes/fast_wild.yaml"],
    ["ablate", "recipes/ablate_pretrained.yaml"],
    ["pack", "p", "--root", "r"],
    ["predict", "PHOTO", "--out", "o", "--backend", "torch"],
    ["evaluate", "--dataset", "fer2013", "--root", "FER", "--model", "fast", "--backend", "torch", "--out", "e"],
])
def test_commands_that_need_torch_say_so_in_one_line(media, tmp_path, argv):
    argv = [str(media / "p.jpg") if a == "PHOTO" else str(media / "fer") if a == "FER" else a for a in argv]
    code = f"from wildfer.cli import main\nrc = main({argv!r})\nprint('rc', rc)\n"
    r = _python(code, block=True, cwd=ROOT)
    assert r.stdout.strip().splitlines()[-1] == "rc 2", (r.stdout, r.stderr[-2000:])
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "pip install 'wildfer[train]'" in lines[0] and "Traceback" not in r.stderr, r.stderr
