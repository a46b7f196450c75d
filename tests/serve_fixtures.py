"""A real ``wildfer serve`` process on 127.0.0.1 (a free port) for the server tests, and the
media they upload (made here: photos from matplotlib's portrait, clips encoded with PyAV)."""

from __future__ import annotations

import os
import signal
import socket
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "test-token-0123456789"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``python -m wildfer serve`` in its own working directory (``cwd``) and with its own
    ``TMPDIR`` (``sys_tmp``): both must stay empty, everything goes under ``data``."""

    def __init__(self, base: Path, *args: str, token: str | None = TOKEN, own_tmpdir: bool = True):
        """``own_tmpdir``: give the server its own ``TMPDIR`` (False for ``--ray local``: Ray puts
        its sockets there, and a pytest folder's path is too long for a Unix socket's)."""
        self.base, self.args, self.token, self.own_tmpdir = base, list(args), token, own_tmpdir
        self.data, self.cwd, self.sys_tmp = base / "data", base / "cwd", base / "sys_tmp"
        for d in (self.cwd, self.sys_tmp):
            d.mkdir(parents=True, exist_ok=True)
        self.proc: subprocess.Popen | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # Time-outs are upper bounds for a loaded machine (a shared 2-core one took 112 s to start a
    # server while other test suites and a training job ran); idle, a start takes ~5 s.
    def start(self, timeout: float = 400) -> "Server":
        self.port = free_port()
        args = [sys.executable, "-m", "wildfer", "serve", "--port", str(self.port), "--data", str(self.data),
                *self.args] + (["--token", self.token] if self.token else [])
        env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
        if self.own_tmpdir:
            env["TMPDIR"] = str(self.sys_tmp)
        env.pop("WILDFER_TOKEN", None)
        self.log = open(self.base / f"server-{self.port}.log", "wb")
        self.proc = subprocess.Popen(args, cwd=self.cwd, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            assert self.proc.poll() is None, f"the server exited: {self.read_log()}"
            try:
                if requests.get(self.url + "/healthz", timeout=2).ok:
                    return self
            except requests.ConnectionError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"the server did not answer within {timeout} s: {self.read_log()}")

    def read_log(self) -> str:
        return (self.base / f"server-{self.port}.log").read_text(errors="replace")[-3000:]

    def headers(self) -> dict:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def get(self, path: str, auth: bool = True, **kw) -> requests.Response:
        """GET with the token (``auth``) and any other ``headers``."""
        headers = (self.headers() if auth else {}) | kw.pop("headers", {})
        return requests.get(self.url + path, headers=headers, timeout=60, **kw)

    def post(self, path: str, auth: bool = True, **kw) -> requests.Response:
        headers = (self.headers() if auth else {}) | kw.pop("headers", {})
        return requests.post(self.url + path, headers=headers, timeout=120, **kw)

    def delete(self, path: str) -> requests.Response:
        return requests.delete(self.url + path, headers=self.headers(), timeout=60)

    def alive(self) -> bool:
        return self.proc.poll() is None and requests.get(self.url + "/healthz", timeout=10).json()["ok"]

    def wait_job(self, job_id: str, until=lambda j: j["state"] in ("done", "failed"), timeout: float = 600) -> dict:
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            job = self.get(f"/v1/jobs/{job_id}").json()
            if until(job):
                return job
            time.sleep(0.1)
        raise AssertionError(f"job {job_id} still {job} after {timeout} s")

    def stop(self, sig: int = signal.SIGTERM) -> int:
        """Send ``sig``; the exit code. uvicorn shuts down gracefully on SIGTERM and SIGINT (the
        log then says so), then dies of the same signal (-15) or, for Ctrl-C, wildfer says 130."""
        self.proc.send_signal(sig)
        code = self.proc.wait(60)
        self.log.close()
        return code


def post_video(server: Server, clip: Path) -> dict:
    """POST ``clip`` to /v1/videos: the job (202)."""
    r = server.post("/v1/videos", files={"file": (clip.name, clip.read_bytes())})
    assert r.status_code == 202, r.text
    return r.json()


def job_processes(folder: Path) -> list[int]:
    """Ids of the running job processes of job folder ``folder`` (from /proc)."""
    pids = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                cmd = (p / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"wildfer.serve.runner" in cmd and str(folder).encode() in cmd:
                pids.append(int(p.name))
    return pids


def png_header_bomb(width: int, height: int) -> bytes:
    """A valid 1-bit greyscale PNG of ``width`` x ``height`` pixels, all black, compressed: a few
    hundred kB that decode to ``width * height`` pixels (a decompression bomb)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    row = b"\0" * (1 + (width + 7) // 8)  # filter byte + packed bits
    z = zlib.compressobj(9)
    body = b"".join(z.compress(row) for _ in range(height)) + z.flush()
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0))
            + chunk(b"IDAT", body) + chunk(b"IEND", b""))


def wav_bytes(seconds: float = 0.2) -> bytes:
    """A silent mono WAV: a real media file with no video in it."""
    import io
    import wave

    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\0\0" * int(8000 * seconds))
    return buf.getvalue()
