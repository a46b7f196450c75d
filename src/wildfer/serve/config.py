"""``wildfer serve``'s settings: one frozen dataclass, checked once before the server starts."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError
from ..images import MAX_PIXELS

TOKEN_ENV = "WILDFER_TOKEN"


@dataclass(frozen=True)
class ServeConfig:
    host: str = "127.0.0.1"
    port: int = 8000
    data: Path = Path("wildfer-data")  # jobs/, tmp/ (see wildfer.serve.jobs); nothing is written elsewhere
    token: str | None = None  # Bearer token on every route but /healthz; required for a non-local host
    workers: int = 1  # photos analysed at once (one loaded model each) and video jobs run at once
    ray: str | None = None  # video jobs on this Ray cluster (predict --ray ADDRESS)
    max_upload_mb: float = 200.0  # request bodies above this: 413
    max_pixels: int = MAX_PIXELS  # photo (or video frame) width x height above this: 413 (decompression bombs)
    queue: int = 64  # photos waiting for a model, and video jobs waiting to start, beyond which: 503
    # The expression models it offers (predict --model's names or files), the first the default;
    # a request picks one with ?model=NAME (GET /v1/models lists them).
    models: tuple[str, ...] = ("default",)

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)


def is_local(host: str) -> bool:
    """``host`` is a loopback name or address (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def resolve(cfg: ServeConfig) -> ServeConfig:
    """``cfg`` with the token taken from ``$WILDFER_TOKEN`` when not given; a one-line
    :class:`ConfigError` for a non-local host without a token, or a count out of range."""
    from dataclasses import replace

    token = cfg.token if cfg.token is not None else os.environ.get(TOKEN_ENV) or None
    if not is_local(cfg.host) and not token:
        raise ConfigError(f"--host {cfg.host} is reachable from other machines: give --token T (or set "
                          f"${TOKEN_ENV}); clients then send 'Authorization: Bearer T'")
    if token is not None and (len(token) < 8 or not token.isprintable() or " " in token):
        raise ConfigError("--token must be at least 8 printable characters without spaces")
    if cfg.workers < 1 or cfg.queue < 1:
        raise ConfigError("--workers and --queue must be >= 1")
    if cfg.max_upload_mb <= 0 or not 0 < cfg.max_pixels <= MAX_PIXELS:
        raise ConfigError(f"--max-upload-mb must be > 0 and --max-pixels 1 to {MAX_PIXELS} (wildfer's limit, "
                          f"which the pipeline keeps), got {cfg.max_upload_mb:g} and {cfg.max_pixels}")
    if not cfg.models or len(set(cfg.models)) != len(cfg.models):
        raise ConfigError(f"--model: give each model once (got {', '.join(cfg.models) or 'none'})")
    if not 0 < cfg.port < 65536:
        raise ConfigError(f"--port {cfg.port}: give 1-65535")
    data = Path(cfg.data)
    if data.exists() and not data.is_dir():
        raise ConfigError(f"{data}: --data must be a folder, and this is a file")
    return replace(cfg, token=token, data=data.resolve())
