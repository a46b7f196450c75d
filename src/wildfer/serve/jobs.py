"""Video jobs: stored under ``--data``, run by ``wildfer predict``'s pipeline in processes of their own.

On disk (``DATA`` = ``--data``)::

    DATA/jobs/<id>/job.json       the server's record (written atomically): id, state, filename
                                  (the client's: a label for display and the outputs' source,
                                  never a path), input, created/started/finished (Unix seconds),
                                  attempts, error, frames_total, annotate, model
    DATA/jobs/<id>/input<.ext>    the upload (the extension its bytes say: wildfer.serve.media)
    DATA/jobs/<id>/out/           predict's --out: predictions.csv, summaries/input<.ext>.json,
                                  report.html, plots/, annotated/ (and .done/, .sections/)
    DATA/jobs/<id>/progress.json  the job process's frame count (every PROGRESS_EVERY_S)
    DATA/jobs/<id>/result.json    the job process's outcome, written last: state, error, frames
    DATA/jobs/<id>/runner.log     the job process's output
    DATA/tmp/                     uploads being received and photos being analysed (emptied at start)

``<id>`` is 32 hex digits (uuid4), the only name a folder ever gets. States: ``queued`` ->
``running`` -> ``done`` | ``failed``. A folder without ``job.json`` is an upload that never
finished, removed at start. At start every ``queued`` or ``running`` job is queued again, in
the order they came, unless its ``result.json`` says it had finished, or it has been started
``MAX_ATTEMPTS`` times (then it fails, saying so): so a job is never lost silently. A job runs
as ``python -m wildfer.serve.runner DATA/jobs/<id>``, which calls ``predict`` with
``resume=True``: a video that had finished before the server was killed is not redone; one cut
off mid-way is processed again from its start (predict resumes by whole sources). The job
process dies with the server (PR_SET_PDEATHSIG) and holds ``lock`` while it runs, so two never
write one folder.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import deque
from pathlib import Path

MAX_ATTEMPTS = 3
ID_CHARS = set("0123456789abcdef")
STATES = ("queued", "running", "done", "failed")


class QueueFull(Exception):
    """No room for another job: the caller answers 503."""


def new_id() -> str:
    return uuid.uuid4().hex


def valid_id(job_id: str) -> bool:
    """``job_id`` has the form :func:`new_id` gives (so it can name a folder)."""
    return len(job_id) == 32 and set(job_id) <= ID_CHARS


def write_json(path: Path, obj: dict) -> None:
    """``obj`` as JSON into ``path`` atomically (temp file + rename): readers see old or new, whole."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(obj, f, indent=1)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def read_json(path: Path) -> dict | None:
    try:
        obj = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return obj if isinstance(obj, dict) else None


class JobStore:
    """The jobs under ``DATA/jobs`` (module docstring) and the thread that starts and watches
    their processes: at most ``workers`` at once, at most ``queue`` waiting. ``ray``: the Ray
    address the job processes give ``predict`` (None: on this machine)."""

    def __init__(self, data: Path, workers: int = 1, queue: int = 64, ray: str | None = None):
        self.root = data / "jobs"
        self.tmp = data / "tmp"
        self.workers, self.capacity, self.ray = workers, queue, ray
        self.root.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.tmp.mkdir(parents=True)
        self._lock = threading.RLock()
        self._jobs: dict[str, dict] = {}
        self._queue: deque[str] = deque()
        self._running: dict[str, subprocess.Popen] = {}
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._recover()

    # --- records ---------------------------------------------------------------------------------

    def folder(self, job_id: str) -> Path:
        assert valid_id(job_id)
        return self.root / job_id

    def _save(self, job: dict) -> None:
        write_json(self.folder(job["id"]) / "job.json", job)

    def _recover(self) -> None:
        """Load every job on disk; queue again what was queued or running (module docstring)."""
        found = []
        for d in self.root.iterdir():
            job = read_json(d / "job.json") if d.is_dir() and valid_id(d.name) else None
            if job is None or job.get("id") != d.name or job.get("state") not in STATES:
                shutil.rmtree(d, ignore_errors=True) if d.is_dir() else d.unlink(missing_ok=True)
                continue
            found.append(job)
        for job in sorted(found, key=lambda j: j.get("created", 0)):
            self._jobs[job["id"]] = job
            if job["state"] in ("queued", "running"):
                if not self._take_result(job):
                    if job.get("attempts", 0) >= MAX_ATTEMPTS:
                        self._fail(job, f"stopped {job['attempts']} times before it finished (the server or the "
                                        "job's process was killed each time); not tried again")
                    else:
                        job.update(state="queued", note="interrupted; resumed when the server started again")
                        self._save(job)
                        self._queue.append(job["id"])

    def add(self, job_id: str, filename: str, input_name: str, frames_total: int, annotate: bool,
            model: str = "default") -> dict:
        """Queue the job whose upload is in ``folder(job_id)/input_name``, to run ``model``;
        :class:`QueueFull` if ``queue`` jobs already wait."""
        with self._lock:
            if len(self._queue) >= self.capacity:
                raise QueueFull(f"{len(self._queue)} video jobs are waiting already; try again later")
            job = {"id": job_id, "state": "queued", "filename": filename, "input": input_name,
                   "created": time.time(), "started": None, "finished": None, "attempts": 0, "error": None,
                   "frames_total": frames_total, "annotate": annotate, "model": model}
            self._save(job)
            self._jobs[job_id] = job
            self._queue.append(job_id)
        self._wake.set()
        return job

    def get(self, job_id: str) -> dict | None:
        """The job's record with its progress (``frames_done``, ``progress`` 0..1 or None when
        the length is unknown); None for an unknown id."""
        with self._lock:
            job = self._jobs.get(job_id) if valid_id(job_id) else None
            if job is None:
                return None
            job = dict(job)
            job["queue_position"] = (list(self._queue).index(job_id) + 1) if job_id in self._queue else None
        prog = read_json(self.folder(job_id) / "progress.json") or {}
        done = int(prog.get("frames_done", 0))
        finished = job["state"] in ("done", "failed")
        result = (read_json(self.folder(job_id) / "result.json") or {}) if finished else {}
        if job["state"] == "done":
            done = max(done, int(result.get("frames", done)))
        # every problem, in words: why it failed, or a decoding error that ended the video early
        job["errors"] = [e for e in (job.get("error"), result.get("decode_error") and
                                     f"decoding stopped early ({result['decode_error']})") if e]
        total = job.get("frames_total") or 0
        job["frames_done"] = done
        job["progress"] = 1.0 if job["state"] == "done" else (round(min(done / total, 1.0), 4) if total else None)
        return job

    def list(self) -> list[dict]:
        with self._lock:
            ids = list(self._jobs)
        return [j for j in map(self.get, ids) if j is not None]

    def waiting(self) -> int:
        with self._lock:
            return len(self._queue)

    def delete(self, job_id: str) -> bool:
        """Stop the job if it runs, forget it and remove its folder; False for an unknown id."""
        with self._lock:
            if job_id not in self._jobs:
                return False
            self._jobs.pop(job_id)
            if job_id in self._queue:
                self._queue.remove(job_id)
            proc = self._running.pop(job_id, None)
        if proc is not None:
            _end(proc)
        shutil.rmtree(self.folder(job_id), ignore_errors=True)
        self._wake.set()
        return True

    def _fail(self, job: dict, error: str) -> None:
        job.update(state="failed", error=error, finished=time.time())
        self._save(job)

    def _take_result(self, job: dict) -> bool:
        """Apply the job process's ``result.json`` if it wrote one; True if it did."""
        res = read_json(self.folder(job["id"]) / "result.json")
        if res is None or res.get("state") not in ("done", "failed"):
            return False
        job.update(state=res["state"], error=res.get("error"), finished=res.get("finished") or time.time())
        job.pop("note", None)
        self._save(job)
        return True

    # --- the scheduler ---------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="wildfer-jobs", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the scheduler and the running job processes; their jobs stay queued on disk (a
        graceful stop does not count as an attempt) and resume at the next start."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        with self._lock:
            running = list(self._running.items())
            self._running.clear()
        for job_id, proc in running:
            _end(proc)
            job = self._jobs.get(job_id)
            if job is not None and not self._take_result(job):
                job.update(state="queued", attempts=max(0, job.get("attempts", 1) - 1),
                           note="interrupted by the server's shutdown; resumed when it starts again")
                self._save(job)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(0.25)
            self._wake.clear()
            with self._lock:
                for job_id, proc in list(self._running.items()):
                    if proc.poll() is not None:
                        self._running.pop(job_id)
                        self._finished(self._jobs[job_id], proc.returncode)
                while len(self._running) < self.workers and self._queue and not self._stop.is_set():
                    self._launch(self._jobs[self._queue.popleft()])

    def _launch(self, job: dict) -> None:
        folder = self.folder(job["id"])
        job.update(state="running", started=time.time(), attempts=job.get("attempts", 0) + 1)
        self._save(job)
        env = dict(os.environ, TMPDIR=str(self.tmp), PYTHONPATH=os.pathsep.join(
            [str(Path(__file__).resolve().parents[2]), *filter(None, [os.environ.get("PYTHONPATH")])]))
        args = [sys.executable, "-m", "wildfer.serve.runner", str(folder), str(os.getpid())]
        if self.ray:
            args += ["--ray", self.ray]
        with open(folder / "runner.log", "ab") as log:
            self._running[job["id"]] = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log,
                                                        stderr=subprocess.STDOUT, env=env, cwd=folder)

    def _finished(self, job: dict, code: int) -> None:
        if self._take_result(job):
            return
        how = f"was killed by signal {-code}" if code < 0 else f"ended with exit code {code}"
        self._fail(job, f"the job's process {how} before it finished (see runner.log in its folder)")


def _end(proc: subprocess.Popen) -> None:
    """Stop a job process: SIGTERM, then SIGKILL after 5 s."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
