"""The ``--out`` folder of ``predict``: which files in it are wildfer's, and whether a run may use it.

A run writes, inside ``--out`` (the other modules describe each)::

    predictions.csv  report.html  abaw_predictions.txt
    summaries/*.json  plots/*.png  annotated/*.mp4  annotated/*.jpg  abaw/*.txt
    .sections/*.html  .sections/*.json  .done/*.json  .parts/*.csv   (and their *.tmp while being written)

A folder that holds any of these holds another run's outputs: a new run would replace some and
leave the rest mixed in with its own, so it is refused unless the run resumes that one (``--resume``)
or replaces it (``--overwrite``, which deletes exactly these files and then the folders they leave
empty; anything else in the folder stays, the inputs of ``--demo`` included).
"""

from __future__ import annotations

from pathlib import Path

from ..errors import ConfigError

OWN_FILES = ("predictions.csv", "report.html", "abaw_predictions.txt")
OWN_PATTERNS = {"summaries": ("*.json",), "plots": ("*.png",), "annotated": ("*.mp4", "*.jpg"), "abaw": ("*.txt",),
                ".sections": ("*.html", "*.json"), ".done": ("*.json", "*.tmp"), ".parts": ("*.csv", "*.tmp")}


def own_outputs(out: Path) -> list[Path]:
    """wildfer's files in ``out`` (see the module docstring), sorted; [] for a missing folder."""
    found = [out / name for name in OWN_FILES if (out / name).is_file()]
    for folder, patterns in OWN_PATTERNS.items():
        if (out / folder).is_dir():
            found += sorted(p for pat in patterns for p in (out / folder).glob(pat) if p.is_file())
    return found


def check_out(out: Path, resume: bool, overwrite: bool) -> list[Path]:
    """Refuse (:class:`~wildfer.errors.ConfigError`) a ``--out`` that is a file, or that holds another
    run's outputs when neither ``resume`` nor ``overwrite`` is set. Returns those outputs."""
    if resume and overwrite:
        raise ConfigError("--resume keeps an earlier run's outputs and --overwrite deletes them: give one")
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out}: --out must be a folder, and this is a file")
    found = own_outputs(out)
    if found and not (resume or overwrite):
        shown = ", ".join(p.relative_to(out).as_posix() for p in found[:3]) + (", ..." if len(found) > 3 else "")
        raise ConfigError(f"{out}: holds another run's outputs ({shown}); add --resume to finish that run, "
                          "--overwrite to replace it, or choose another --out")
    return found


def remove_outputs(out: Path) -> int:
    """Delete wildfer's files in ``out`` and the folders of :data:`OWN_PATTERNS` they leave empty;
    returns how many files went."""
    found = own_outputs(out)
    for p in found:
        p.unlink()
    for folder in OWN_PATTERNS:
        try:
            (out / folder).rmdir()
        except OSError:  # absent, or it holds something of the user's: it stays
            pass
    return len(found)
