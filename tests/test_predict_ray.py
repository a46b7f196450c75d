"""``wildfer predict --ray`` on a real local Ray cluster of 2 CPUs, with real clips, a photo, the
shipped model and MTCNN: the same outputs as one process, a spoiled source reported while the
others finish, ``--resume`` redoing only what is missing, and one-line errors for usage mistakes."""

from __future__ import annotations

import contextlib
import io
import logging
import shutil
import sys

import pytest
from PIL import Image

from pipeline_fixtures import face_clip, portrait, same_outputs, table
from wildfer.cli import main

# As in test_predict_workers: no plots (matplotlib's import costs each worker seconds).
ARGS = ["--quiet", "--no-plots", "--abaw", "--detect-every", "2", "--batch-size", "4"]


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    """Clips of 6 frames and of 10 (two people), and a photo; longest first (c, a, b) is not input order."""
    d = tmp_path_factory.mktemp("ray_media")
    Image.fromarray(portrait(0.5)).save(d / "b.jpg")
    return [face_clip(d / "a.mp4", n_face=5, n_empty=1), d / "b.jpg",
            face_clip(d / "c.mp4", n_face=8, n_empty=2, two=True)]


@pytest.fixture(scope="module")
def reference(media, tmp_path_factory):
    """One process over the media: (output folder, stdout)."""
    out = tmp_path_factory.mktemp("ray_ref")
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main(["predict", *map(str, media), "--out", str(out), *ARGS]) == 0
    return out, buf.getvalue()


@pytest.fixture(scope="module")
def cluster(monkeypatch_module):
    """A real Ray cluster on this machine with 2 CPUs; ``predict --ray`` uses it, as it uses any
    cluster the calling process already joined."""
    import ray

    monkeypatch_module.setenv("RAY_USAGE_STATS_ENABLED", "0")  # nothing leaves the machine
    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level=logging.WARNING)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as mp:
        yield mp


def run(args, capsys) -> tuple[int, str, str]:
    code = main(["predict", *(str(a) for a in args)])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_usage_mistakes_are_one_line_errors(media, tmp_path, capsys, monkeypatch):
    """Before any cluster is joined (this test runs first: ``predict`` reuses a joined one)."""
    import ray

    assert not ray.is_initialized()
    code, _, err = run([media[0], "--out", tmp_path, "--ray", "127.0.0.1:1"], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "--ray 127.0.0.1:1: nothing answers at 127.0.0.1:1" in err
    code, _, err = run([media[0], "--out", tmp_path, "--ray", "local", "--workers", "-1"], capsys)
    assert code == 2 and "--workers must be >= 1 (--workers 0 with --ray)" in err
    monkeypatch.setitem(sys.modules, "ray", None)  # as where the extra is not installed
    code, _, err = run([media[0], "--out", tmp_path, "--ray", "local"], capsys)
    assert code == 2 and err.strip() == "wildfer: error: --ray needs Ray: pip install 'wildfer[ray]'"


def test_ray_writes_what_one_process_writes(cluster, media, reference, tmp_path, capsys):
    ref, ref_out = reference
    code, out, err = run([*media, "--out", tmp_path / "w2", *ARGS, "--ray", "local", "--workers", "2"], capsys)
    assert code == 0, err
    same_outputs(ref, tmp_path / "w2")
    assert table(out) == table(ref_out)
    assert sorted(p.stem for p in (tmp_path / "w2" / ".done").glob("*.json")) == ["a", "b", "c"]
    # More workers than the cluster's CPUs would wait forever: refused before any starts.
    code, _, err = run([*media, "--out", tmp_path / "w3", *ARGS, "--ray", "local", "--workers", "3"], capsys)
    assert code == 2 and "--workers 3 with --threads 1 needs 3 CPU(s)" in err and "has 2 CPU(s) on 1 machine" in err


def test_spoiled_source_is_reported_and_resume_redoes_only_it(cluster, media, reference, tmp_path, capsys,
                                                               monkeypatch):
    """A clip replaced by garbage after the up-front check (as when a file changes during a long
    run): it fails with its reason, the others finish; once it is fixed, ``--resume`` processes it
    alone and the outputs are those of one uninterrupted process."""
    import wildfer.runners.run as run_mod

    ref, _ = reference
    gone = tmp_path / "in" / "c.mp4"  # same name as media[2]: the same output files; its rows name its own path
    gone.parent.mkdir()
    shutil.copy(media[2], gone)
    probe = run_mod.probe

    def probe_then_spoil(src):
        n = probe(src)
        if src.path == gone:
            gone.write_text("no longer a video\n" * 50)
        return n

    monkeypatch.setattr(run_mod, "probe", probe_then_spoil)
    out = tmp_path / "out"
    code, said, err = run([media[0], media[1], gone, "--out", out, *ARGS, "--ray", "local", "--workers", "1"], capsys)
    assert code == 1 and len(err.strip().splitlines()) == 2 and "Traceback" not in err
    assert f"wildfer: warning: not read: {gone}: not a readable video" in err
    assert f"1 input(s) could not be read, the rest are done (--resume retries only these): {gone}: not a readable" in err
    assert "from 2 source(s), 1 face(s) in 1 photo(s) (0 without a face), 1 failed;" in said.strip().splitlines()[-1]
    ref_rows = (ref / "predictions.csv").read_text().splitlines()
    assert (out / "predictions.csv").read_text().splitlines() == [r for r in ref_rows if not r.startswith(f"{media[2]},")]
    assert sorted(p.stem for p in (out / ".done").glob("*.json")) == ["a", "b"]

    monkeypatch.setattr(run_mod, "probe", probe)
    shutil.copy(media[2], gone)
    kept = {p.name: p.stat().st_mtime_ns for p in (out / "summaries").iterdir()}
    code, said, err = run([media[0], media[1], gone, "--out", out, *ARGS, "--ray", "local", "--resume"], capsys)
    assert code == 0, err
    assert "2 source(s) finished by an earlier run were kept" in said and "from 1 source(s);" in said
    assert {p.name: p.stat().st_mtime_ns for p in (out / "summaries").iterdir() if p.name in kept} == kept
    # predictions.csv's source is the path as given, which for c.mp4 is another folder's
    assert (out / "predictions.csv").read_text() == (ref / "predictions.csv").read_text().replace(f"{media[2]},", f"{gone},")
    assert (out / "abaw_predictions.txt").read_text() == (ref / "abaw_predictions.txt").read_text()
    assert sorted(p.stem for p in (out / ".done").glob("*.json")) == ["a", "b", "c"] and not (out / ".parts").exists()
