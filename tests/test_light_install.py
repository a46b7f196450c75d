"""The light install (``pip install .``, no extras) in a virtualenv of its own: no torch, torchvision or
timm in it, and ``wildfer predict`` there writes the same rows as this (full) install: the same faces,
identical labels, scores within 1e-4 (same models, same runtimes). Its size is a measured figure
(``benchmarks/bench_light_install.py``, RESULTS.md "The light install"), not a test: the test only
guards against a heavy dependency slipping in (torch alone is GBs) with a bound well above today's size.

``.ci/run`` builds that venv and sets ``WILDFER_LIGHT_PYTHON`` to its interpreter (and
``WILDFER_REQUIRE_LIGHT=1``, so a missing venv fails there instead of skipping). By hand:

    python3 -m venv .venv-light && .venv-light/bin/pip install . && \\
        WILDFER_LIGHT_PYTHON=$PWD/.venv-light/bin/python .venv/bin/python -m pytest tests/test_light_install.py
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from pipeline_fixtures import SHARED, face_clip, portrait

LIGHT = os.environ.get("WILDFER_LIGHT_PYTHON")
if not LIGHT or not Path(LIGHT).is_file():
    if os.environ.get("WILDFER_REQUIRE_LIGHT"):
        raise RuntimeError(f"WILDFER_REQUIRE_LIGHT is set but WILDFER_LIGHT_PYTHON={LIGHT!r} is not an interpreter")
    pytest.skip("no light install to test (set WILDFER_LIGHT_PYTHON to a venv with `pip install .`; .ci/run does)",
                allow_module_level=True)
LIGHT_BIN = Path(LIGHT).parent


def _venv_mb(python: Path) -> float:
    root = python.parent.parent
    return sum(f.stat().st_size for f in root.rglob("*") if f.is_file() and not f.is_symlink()) / 1e6


# About 520-560 MB in December 2026 (RESULTS.md); a dependency's next wheel may be a few MB bigger,
# torch or scikit-learn slipping in would add hundreds.
HEAVY_MB = 800


def test_the_light_venv_has_no_torch_and_no_heavy_dependency():
    r = subprocess.run([LIGHT, "-c", "import importlib.util as u; print([m for m in ('torch', 'torchvision', 'timm') "
                                     "if u.find_spec(m)])"], capture_output=True, text=True, check=True)
    assert r.stdout.strip() == "[]"
    mb = _venv_mb(Path(LIGHT))
    assert mb < HEAVY_MB, f"the light venv holds {mb:.0f} MB: has a heavy dependency slipped in?"


def _rows(out: Path) -> list[dict]:
    with open(out / "predictions.csv", newline="") as f:
        return list(csv.DictReader(f))


def _same_rows(a: list[dict], b: list[dict]) -> None:
    assert len(a) == len(b) > 0
    for x, y in zip(a, b):
        assert (x["source"], x["frame"], x["face_id"], x["label"]) == (y["source"], y["frame"], y["face_id"], y["label"])
        for k in x:
            if k == "score" or k.startswith("p_") or k in ("x0", "y0", "x1", "y1", "time_s"):
                assert abs(float(x[k]) - float(y[k])) <= (1e-4 if k == "score" or k.startswith("p_") else 1e-3), (k, x, y)


def _predict(wildfer: Path, inputs: list[Path], out: Path, *extra: str) -> list[dict]:
    r = subprocess.run([str(wildfer), "predict", *map(str, inputs), "--out", str(out), "--quiet", "--no-plots", *extra],
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    return _rows(out)


@pytest.mark.parametrize("model", ["default", "fast"])
def test_light_and_full_installs_write_the_same_rows(tmp_path, model):
    Image.fromarray(portrait(0.5)).save(tmp_path / "p.jpg")
    clip = face_clip(tmp_path / "c.mp4", n_face=10, n_empty=2, two=True)
    inputs = [tmp_path / "p.jpg", clip]
    full = _predict(Path(sys.executable).parent / "wildfer", inputs, tmp_path / "full", "--model", model)
    light = _predict(LIGHT_BIN / "wildfer", inputs, tmp_path / "light", "--model", model)
    _same_rows(full, light)


@pytest.mark.shared_data
def test_light_install_on_the_shared_photos_and_clips(tmp_path):
    photos = sorted((SHARED / "faces" / "images").glob("*.jpg"))[:20]
    clips = [SHARED / "faces" / "videos" / n for n in ("single_face.mp4", "short_hamilton_clip.mp4")]
    if not photos or not all(c.is_file() for c in clips):
        pytest.skip("../shared/data/faces is absent")
    inputs = photos + clips
    _same_rows(_predict(Path(sys.executable).parent / "wildfer", inputs, tmp_path / "full"),
               _predict(LIGHT_BIN / "wildfer", inputs, tmp_path / "light"))


def test_the_light_install_notes_the_missing_plots_only_where_a_plot_would_be(tmp_path):
    """No matplotlib here: a run with a video says once that its timeline plot is left out; a run
    of photos (which get none) and a --quiet run say nothing of it. HEIC reads here too."""
    Image.fromarray(portrait(0.5)).save(tmp_path / "p.heic")  # pillow-heif: a core dependency
    clip = face_clip(tmp_path / "c.mp4", n_face=4, n_empty=1)
    wildfer = str(LIGHT_BIN / "wildfer")
    said = {}
    for name, args in (("photo", [tmp_path / "p.heic"]), ("video", [clip]), ("quiet", [clip, "--quiet"])):
        r = subprocess.run([wildfer, "predict", *map(str, args), "--out", str(tmp_path / name)], capture_output=True,
                           text=True, timeout=600)
        assert r.returncode == 0, r.stderr[-3000:]
        said[name] = r.stderr.count("timeline plots need matplotlib")
    assert said == {"photo": 0, "video": 1, "quiet": 0}
    assert len(_rows(tmp_path / "photo")) == 1  # the HEIC photo's face
