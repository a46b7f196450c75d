"""Did a change leave ``wildfer predict``'s outputs alone? Byte for byte, on the shared photos and clips.

``run DIR`` runs ``predict --abaw`` on every photo in DATA/faces/images and the six clips in
DATA/faces/videos three ways, one fresh process each, into::

    DIR/serial/      one process
    DIR/workers2/    --workers 2
    DIR/ray/         --ray local (a Ray cluster on this machine's cores, started and stopped by the run)
    DIR/<mode>.log   what the run printed (the face table, the closing line; stderr)

with every other option at the CLI's default (``--quiet`` aside). The ``wildfer`` that runs is the one
this Python imports (``PYTHONPATH`` included): the line it prints first names the file.

``compare BEFORE AFTER`` compares, per mode, byte for byte: ``predictions.csv``, ``abaw_predictions.txt``,
``summaries/*.json`` and ``abaw/*.txt`` (the same file names on both sides, and the same bytes); it prints
one line per mode and exits 1 when any differs. It then compares, for information, the run's other
files: ``plots/*.png`` byte for byte, and ``report.html`` and the console output (``<mode>.log``)
with the date and time of the run and its ``--out`` folder blanked out, the two things in them that
differ between any two runs.

    PYTHONPATH=src python benchmarks/compare_outputs.py run /tmp/before [--data ../shared/data]
    (change the code)
    PYTHONPATH=src python benchmarks/compare_outputs.py run /tmp/after
    python benchmarks/compare_outputs.py compare /tmp/before /tmp/after
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MODES = {"serial": [], "workers2": ["--workers", "2"], "ray": ["--ray", "local"]}
COMPARED = ("predictions.csv", "abaw_predictions.txt", "summaries/*.json", "abaw/*.txt")
PLOTS = ("plots/*.png",)
DATE = re.compile(rb"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:[.,]\d+)?")  # a log line's milliseconds too


def run(into: Path, data: Path) -> None:
    """The three runs of the module docstring, into ``into/<mode>/`` (each must not exist yet)."""
    images, videos = data / "faces" / "images", data / "faces" / "videos"
    if not images.is_dir() or not videos.is_dir():
        sys.exit(f"compare_outputs: {data}/faces/images or videos not found (give --data)")
    where = subprocess.run([sys.executable, "-c", "import wildfer; print(wildfer.__file__)"],
                           capture_output=True, text=True, check=True).stdout.strip()
    print(f"wildfer from {where}", flush=True)
    into.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0")
    for mode, extra in MODES.items():
        out = into / mode
        if out.exists():
            sys.exit(f"compare_outputs: {out} exists; choose a new DIR")
        cmd = [sys.executable, "-m", "wildfer", "predict", str(images), str(videos), "--out", str(out),
               "--abaw", "--quiet", *extra]
        t0 = time.perf_counter()
        with open(into / f"{mode}.log", "w") as log:
            done = subprocess.run(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
        print(f"{mode}: exit {done.returncode} in {time.perf_counter() - t0:.0f} s", flush=True)
        if done.returncode != 0:
            sys.exit(f"compare_outputs: {mode} failed; see {into / mode}.log")


def _files(out: Path, patterns: tuple[str, ...]) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for pat in patterns for p in sorted(out.glob(pat))}


def _differing(a: dict[str, bytes], b: dict[str, bytes]) -> list[str]:
    return sorted(n for n in a.keys() | b.keys() if a.get(n) != b.get(n))


def compare(before: Path, after: Path) -> bool:
    """Print one line per mode; True when every compared file is byte-identical."""
    same = True
    for mode in MODES:
        a, b = _files(before / mode, COMPARED), _files(after / mode, COMPARED)
        if not a:
            sys.exit(f"compare_outputs: nothing to compare in {before / mode}")
        bad = _differing(a, b)
        same &= not bad
        print(f"{mode}: {len(a)} files, {sum(map(len, a.values())):,} bytes: "
              + ("byte-identical" if not bad else f"{len(bad)} differ: {', '.join(bad[:10])}"))
        info = _differing(_files(before / mode, PLOTS), _files(after / mode, PLOTS))
        info += [name for name, a_path, b_path in (("report.html", before / mode / "report.html",
                                                    after / mode / "report.html"),
                                                   (f"{mode}.log", before / f"{mode}.log", after / f"{mode}.log"))
                 if _blanked(a_path, before / mode) != _blanked(b_path, after / mode)]
        print("  for information: plots, report.html and the console output (date and --out blanked): "
              + (f"{', '.join(info[:10])} differ" if info else "the same"))
    return same


def _blanked(path: Path, out: Path) -> bytes | None:
    """``path``'s bytes with every date-time and the run's ``--out`` folder blanked; None if absent."""
    if not path.is_file():
        return None
    return DATE.sub(b"DATE", path.read_bytes().replace(str(out.resolve()).encode(), b"OUT")
                    .replace(str(out).encode(), b"OUT"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="verb", required=True)
    r = sub.add_parser("run", help="run predict three ways into DIR")
    r.add_argument("dir", type=Path)
    r.add_argument("--data", type=Path, default=REPO / ".." / "shared" / "data")
    c = sub.add_parser("compare", help="compare two DIRs made by run")
    c.add_argument("before", type=Path)
    c.add_argument("after", type=Path)
    args = ap.parse_args()
    if args.verb == "run":
        run(args.dir, args.data)
    else:
        sys.exit(0 if compare(args.before, args.after) else 1)


if __name__ == "__main__":
    main()
