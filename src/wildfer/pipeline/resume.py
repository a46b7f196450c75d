"""Resuming an interrupted ``predict``: per-source done markers and a trimmed ``predictions.csv``.

On disk (inside the ``--out`` folder)::

    out/.done/<name>.json   written atomically (temp file + rename) *after* a source's rows are
                            flushed and its summary/plots/ABAW files written: ``source`` (resolved
                            path), ``size`` (bytes), ``mtime_ns`` and ``outputs`` (lists of paths
                            under the keys ``summaries``, ``plots``, ``videos``, ``abaw``).

A source counts as done only when its marker exists and still describes the same file (path,
size, modification time). On resume, rows of every other source are cut from
``predictions.csv`` (they are the partial rows of the source that was being processed when the
run died) and those sources are processed again; done sources are not redone.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import tempfile
from pathlib import Path

from ..errors import ConfigError, DataError
from .results import FIXED_COLUMNS
from .sources import Source

DONE_DIR = ".done"


def _fingerprint(src: Source) -> dict:
    st = src.path.stat()
    return {"source": str(src.path.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "w", newline="") as f:
            f.write(text)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def clear_done(out: Path) -> None:
    """A fresh (non-resumed) run starts a new ``predictions.csv``: old markers no longer hold."""
    shutil.rmtree(out / DONE_DIR, ignore_errors=True)


def mark_done(out: Path, name: str, src: Source, outputs: dict[str, list[Path]]) -> None:
    """Record that every output of source ``name`` is complete (call after its rows are flushed)."""
    rec = _fingerprint(src) | {"outputs": {k: [str(p) for p in v] for k, v in outputs.items()}}
    _atomic_write(out / DONE_DIR / f"{name}.json", json.dumps(rec, indent=1) + "\n")


def read_done(out: Path, sources: list[Source], names: list[str]) -> dict[str, dict[str, list[Path]]]:
    """``{name: outputs}`` of the sources a previous run finished (markers that match the file)."""
    done = {}
    for src, name in zip(sources, names):
        p = out / DONE_DIR / f"{name}.json"
        try:
            rec = json.loads(p.read_text())
        except (OSError, ValueError):
            continue  # no marker (or a foreign, unreadable one): process the source again
        if not isinstance(rec, dict) or any(rec.get(k) != v for k, v in _fingerprint(src).items()):
            continue
        outputs = rec.get("outputs") if isinstance(rec.get("outputs"), dict) else {}
        done[name] = {k: [Path(x) for x in v] for k, v in outputs.items() if isinstance(v, list)}
    return done


def trim_predictions(path: Path, header: list[str], keep: set[str]) -> bool:
    """Keep only rows of sources in ``keep`` in ``predictions.csv`` (rewritten atomically).

    Returns True when the file exists and may be appended to, False when there is none yet.
    Raises :class:`ConfigError` if the file was written for other classes (another model).
    """
    if not path.is_file():
        return False
    try:
        with open(path, newline="") as f:
            reader = csv.reader(f)
            old = next(reader, None)
            if old is None:
                return False
            if old != header:
                raise ConfigError(f"{path}: written by a model with other classes ({old[len(FIXED_COLUMNS):]}); "
                                  "resume with the same --model or use a new --out folder")
            rows = [r for r in reader if r and r[0] in keep]
    except (UnicodeDecodeError, csv.Error) as e:
        raise DataError(f"{path}: cannot resume from this file ({e})") from None
    with tempfile.NamedTemporaryFile("w", dir=path.parent, suffix=".tmp", delete=False, newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    os.replace(f.name, path)
    return True
