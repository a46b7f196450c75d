"""The light install's size: `pip install .` (no extras) into a fresh venv with an empty pip cache,
as a new machine gets it, then the venv's size and each installed distribution's share.

    .venv/bin/python benchmarks/bench_light_install.py            # a fresh venv in a temp folder
    .venv/bin/python benchmarks/bench_light_install.py --venv /tmp/light --keep

Prints the date, Python, every distribution with its version and installed MB (the files its RECORD
lists, as on disk), and the venv's total (every file under it, as tests/test_light_install.py counts).
"""

from __future__ import annotations

import argparse
import csv
import datetime
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def tree_mb(root: Path) -> float:
    return sum(f.stat().st_size for f in root.rglob("*") if f.is_file() and not f.is_symlink()) / 1e6


def distributions(venv: Path) -> list[tuple[str, str, float]]:
    """(name, version, MB) of every distribution in the venv's site-packages, largest first."""
    site = next(venv.glob("lib/python*/site-packages"))
    rows = []
    for info in site.glob("*.dist-info"):
        name, _, version = info.name[: -len(".dist-info")].partition("-")
        size = 0
        record = info / "RECORD"
        if record.is_file():
            with open(record, newline="") as f:
                for row in csv.reader(f):
                    p = (site / row[0]).resolve() if row else None
                    if p is not None and p.is_file():
                        size += p.stat().st_size
        rows.append((name, version, size / 1e6))
    return sorted(rows, key=lambda r: -r[2])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--venv", type=Path, help="where to build the venv (default: a temp folder)")
    ap.add_argument("--keep", action="store_true", help="keep the venv afterwards")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="wildfer-light-"))
    venv = args.venv or tmp / "venv"
    if venv.exists():
        shutil.rmtree(venv)
    try:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        # an empty cache of its own: every wheel comes from the index, as on a new machine
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "--cache-dir", str(tmp / "pip-cache"), str(ROOT)],
                       check=True)
        total = tree_mb(venv)
        py = subprocess.run([str(venv / "bin" / "python"), "-V"], capture_output=True, text=True).stdout.strip()
        print(f"date {datetime.date.today()}, {py}, `pip install .` into a fresh venv, empty pip cache")
        print("\n| distribution | version | MB |\n|---|---|---:|")
        for name, version, mb in distributions(venv):
            if mb >= 0.5:
                print(f"| {name} | {version} | {mb:.1f} |")
        small = [r for r in distributions(venv) if r[2] < 0.5]
        print(f"| {len(small)} smaller ones ({', '.join(n for n, _, _ in small)}) | | {sum(r[2] for r in small):.1f} |")
        print(f"\nvenv total: {total:.0f} MB")
    finally:
        if not args.keep:
            shutil.rmtree(venv, ignore_errors=True)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
