"""One video job's process: ``python -m wildfer.serve.runner JOB_FOLDER PARENT_PID [--ray ADDRESS]``.

Runs ``wildfer predict`` (:func:`wildfer.runners.predict`, ``resume=True``, the job's model) on
the job's ``input<.ext>`` into its ``out/``, from inside the job folder, with the client's file
name as the source's label (outputs never name a server path), writes ``progress.json`` as frames are processed and
``result.json`` last (layout: :mod:`wildfer.serve.jobs`). It dies with the server that started
it (``PARENT_PID``) and holds the folder's ``lock`` while it runs.
"""

from __future__ import annotations

import fcntl
import os
import signal
import sys
import time
import traceback
from pathlib import Path

from .jobs import read_json, write_json

PROGRESS_EVERY_S = 0.5


def _die_with_parent(parent: int) -> None:
    """Linux: SIGKILL this process when the server dies, so a restarted server never finds an
    old job process still writing (elsewhere the folder lock alone guards that)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # it died before prctl took effect
        os._exit(1)


class Progress:
    """Counts processed frames into ``progress.json``, at most every PROGRESS_EVERY_S."""

    def __init__(self, path: Path):
        self.path, self.n, self.t = path, 0, 0.0

    def __call__(self) -> None:
        self.n += 1
        if time.monotonic() - self.t >= PROGRESS_EVERY_S:
            self.write()

    def write(self) -> None:
        write_json(self.path, {"frames_done": self.n, "updated": time.time()})
        self.t = time.monotonic()


def run(folder: Path, ray: str | None) -> dict:
    """The job's outcome (``result.json``'s content) after running predict on it."""
    from ..errors import WildferError
    from ..pipeline.options import PredictOptions
    from ..pipeline.sources import Source
    from ..outputs.console import run_summary
    from ..runners import predict

    job = read_json(folder / "job.json") or {}
    name, shown = job.get("input", ""), job.get("filename") or "upload"
    opts = PredictOptions(model=job.get("model") or "default", progress=False, resume=True,
                          annotate=bool(job.get("annotate")), ray=ray, workers=0 if ray else 1, strict=True)
    progress = Progress(folder / "progress.json")
    try:
        # the client's file name labels the outputs (predictions.csv's source, the summary, the report)
        res = predict([Source(Path(name), "video", shown=shown)], "out", opts, on_frame=progress)
    except WildferError as e:
        return {"state": "failed", "error": str(e).replace(name, shown)}
    progress.write()
    out = {"frames": res.frames or progress.n, "summary": run_summary(res), "decode_error": None}
    if res.logs and res.logs[0].info.error:
        out["decode_error"] = res.logs[0].info.error
    if res.failed:
        return out | {"state": "failed", "error": res.failed[0][1].replace(name, shown)}
    return out | {"state": "done", "error": None}


def main(argv: list[str]) -> int:
    folder, parent = Path(argv[0]), int(argv[1])
    ray = argv[3] if len(argv) > 3 and argv[2] == "--ray" else None
    _die_with_parent(parent)
    os.chdir(folder)
    lock = open("lock", "w")
    fcntl.flock(lock, fcntl.LOCK_EX)  # an old job process of this folder, if any, has ended
    try:
        result = run(Path("."), ray)
    except Exception as e:  # a bug or the machine (disk full): the job fails with the reason, the traceback in the log
        traceback.print_exc()
        result = {"state": "failed", "error": f"internal error in the job's process: {type(e).__name__}: {e}"}
    write_json(Path("result.json"), result | {"finished": time.time()})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
