"""The installed ``wildfer`` console script, and real FER2013 rows for the tests that train with it.

``run_script`` runs the entry point a user runs (it imports typer and whatever click pip resolved,
not a test double) with this checkout's ``src`` first on ``PYTHONPATH``. ``real_fer_rows`` copies
the first rows of each split of ``../shared/data/fer2013`` (and their FER+ votes, kept at the
same row positions) into a test's temporary folder, and skips the test when ``../shared`` is
absent; nothing of it enters the repository.
"""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_FER = REPO / ".." / "shared" / "data" / "fer2013"


def wildfer_script() -> str:
    """The ``wildfer`` console script pip installed beside this interpreter."""
    script = Path(sys.executable).parent / "wildfer"
    found = str(script) if script.is_file() else shutil.which("wildfer")
    assert found, "the wildfer console script is not installed; run the README's install command"
    return found


def run_script(args, cwd: Path, pythonpath: tuple[str | Path, ...] = (), timeout: float = 300) -> subprocess.CompletedProcess:
    """``wildfer ARGS`` in ``cwd``; ``pythonpath``: folders after ``src`` (a plugin's, say)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(map(str, (REPO / "src", *pythonpath))), PYTHONUNBUFFERED="1")
    return subprocess.run([wildfer_script(), *map(str, args)], env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)


def one_line_error(r: subprocess.CompletedProcess) -> str:
    """The single ``wildfer: error:`` line of a run that exited 2 (asserted)."""
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1 and lines[0].startswith("wildfer: error:"), (r.returncode, r.stderr)
    return lines[0]


def real_fer_rows(dst: Path, n_train: int = 300, n_test: int = 100) -> Path:
    """The first ``n_train`` Training and ``n_test`` PublicTest rows of the real FER2013 csv, and the
    same rows of ``fer2013new.csv`` (FER+ aligns by row position), written to ``dst``."""
    src_csv, src_votes = SHARED_FER / "fer2013.csv.gz", SHARED_FER / "fer2013new.csv"
    if not (src_csv.is_file() and src_votes.is_file()):
        pytest.skip(f"{SHARED_FER} is absent (../shared is not on this machine): no real FER2013 rows")
    keep: dict[int, str] = {}
    need = {"Training": n_train, "PublicTest": n_test}
    with gzip.open(src_csv, "rt") as f:
        header = next(f).rstrip("\n")
        for i, line in enumerate(f, start=1):
            usage = line.rstrip("\n").rsplit(",", 1)[-1]
            if need.get(usage, 0) > 0:
                keep[i] = line.rstrip("\n")
                need[usage] -= 1
            if not any(need.values()):
                break
    votes = src_votes.read_text().splitlines()
    dst.mkdir(parents=True, exist_ok=True)
    (dst / "fer2013.csv").write_text("\n".join([header, *keep.values()]) + "\n")
    (dst / "fer2013new.csv").write_text("\n".join([votes[0], *(votes[i] for i in keep)]) + "\n")
    return dst
