"""Resuming an interrupted ``predict``: per-source done markers and a trimmed ``predictions.csv``.

On disk (inside the ``--out`` folder)::

    out/.done/<name>.json   written atomically (temp file + rename) *after* a source's rows are
                            flushed and its summary/plots/ABAW files written: ``source`` (resolved
                            path), ``size`` (bytes), ``mtime_ns`` and ``outputs`` (lists of paths,
                            relative to ``out`` so the folder may move, under the keys
                            ``summaries``, ``plots``, ``videos``, ``abaw``).
    out/.parts/<name>.csv   ``--workers N`` only: one source's rows (with the CSV header) as its
                            worker wrote them; deleted once copied into ``predictions.csv``.

A source counts as done only when its marker exists and still describes the same file (path,
size, modification time). A done source's rows are either in ``predictions.csv`` (no part file
left) or, complete, in its part file (not yet copied: its rows in ``predictions.csv``, if any, are
a partial copy). On resume, ``predictions.csv`` keeps only the rows of done sources without a part
file; every other source's rows are cut (partial rows of the source being processed when the run
died) and the source processed again, except done sources with a part file, whose part is copied
in at its turn. Either way, done sources are not redone; and since rows only ever reach
``predictions.csv`` in input order, the rows kept are those of its first sources, so with the same
inputs the resumed file ends up in input order too, as an uninterrupted run writes it (except the
rows of a source that had failed and is retried: they come after those kept).
"""

from __future__ import annotations

import csv
import json
import os
import tempfile
from pathlib import Path

from ..errors import ConfigError, DataError
from ..pipeline.sources import Source
from .results import FIXED_COLUMNS, CSVSink

DONE_DIR = ".done"
PARTS_DIR = ".parts"


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


def part_path(out: Path, name: str) -> Path:
    """Where a worker writes the rows of source ``name`` (``predict --workers``)."""
    return out / PARTS_DIR / f"{name}.csv"


def merge_part(sink: CSVSink, out: Path, name: str) -> None:
    """Copy source ``name``'s part file into ``sink`` (predictions.csv), then delete it.

    In this order: a kill between the two leaves the part, so a resume cuts the copied rows and
    copies them again, never losing or doubling one."""
    part = part_path(out, name)
    sink.append_part(part)
    part.unlink()


def drop_parts_folder(out: Path) -> None:
    """Remove ``out/.parts`` once a run copied every part in (it is then empty; else it stays)."""
    try:
        (out / PARTS_DIR).rmdir()
    except OSError:
        pass


def unmerged_parts(out: Path, done: set[str]) -> set[str]:
    """Names of done sources whose rows wait in a part file; deletes every other (stale) part file."""
    folder = out / PARTS_DIR
    if not folder.is_dir():
        return set()
    keep = set()
    for p in folder.iterdir():
        if p.suffix == ".csv" and p.stem in done:
            keep.add(p.stem)
        else:  # the partial part of a source that was not finished, or a temp file: its rows are redone
            p.unlink(missing_ok=True)
    return keep


def mark_done(out: Path, name: str, src: Source, outputs: dict[str, list[Path]]) -> None:
    """Record that every output of source ``name`` is complete (call after its rows are flushed)."""
    def rel(p: Path) -> str:
        return str(p.relative_to(out)) if p.is_relative_to(out) else str(p)

    rec = _fingerprint(src) | {"outputs": {k: [rel(Path(p)) for p in v] for k, v in outputs.items()}}
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
        done[name] = {k: [out / x for x in v if isinstance(x, str)] for k, v in outputs.items() if isinstance(v, list)}
    return done


def trim_predictions(path: Path, header: list[str], keep: set[str]) -> bool:
    """Keep only rows of sources in ``keep`` in ``predictions.csv`` (streamed into a temp file,
    which then replaces it: a kill mid-way leaves the old file whole).

    Returns True when the file exists and may be appended to, False when there is none yet.
    Raises :class:`ConfigError` if the file was written for other classes (another model).
    """
    if not path.is_file():
        return False
    tmp, written = None, False
    try:
        with open(path, newline="") as f:
            reader = csv.reader(f)
            old = next(reader, None)
            if old is None:
                return False
            if old != header:
                raise ConfigError(f"{path}: written with other columns ({old[len(FIXED_COLUMNS):]}: another model's "
                                  "classes, or an earlier wildfer's); resume with the same --model and wildfer, or "
                                  "use a new --out folder")
            with tempfile.NamedTemporaryFile("w", dir=path.parent, suffix=".tmp", delete=False, newline="") as g:
                tmp = g.name
                w = csv.writer(g)
                w.writerow(header)
                w.writerows(r for r in reader if r and r[0] in keep)
            written = True
    except (UnicodeDecodeError, csv.Error) as e:
        raise DataError(f"{path}: cannot resume from this file ({e})") from None
    finally:
        if tmp is not None and not written:
            os.unlink(tmp)
    os.replace(tmp, path)
    return True
