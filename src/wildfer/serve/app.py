"""The HTTP API and the page: :func:`create_app` builds the FastAPI application.

Routes (every one but ``/healthz``, the page and its icon needs ``Authorization: Bearer TOKEN``
when a token is set; the page holds no data: it takes the token once as ``/?token=``, or asks for
it, and sends it with every call)::

    GET    /healthz                         {"ok": true, "version": ...}
    GET    /                                the page (wildfer/serve/page.html): drop photos or a video
    GET    /favicon.ico                     the page's icon (no token needed)
    GET    /v1/models                       {"models": [...]}: the models offered (--model), the default first
    POST   /v1/analyze[?annotate=1][&model=M]   multipart field ``file``: one photo -> {"faces": [...]}
                                            (wildfer.Face's fields), or the annotated JPEG
    POST   /v1/videos[?annotate=1][&model=M]    multipart field ``file``: one video -> 202 {"id", ...}
    GET    /v1/jobs                         {"jobs": [...]}, oldest first, finished ones included
    GET    /v1/jobs/{id}                    state, progress, frames_done, errors (error: why it failed), links
    GET    /v1/jobs/{id}/predictions.csv    | report.html | summary.json (once done; 409 before)
    GET    /v1/jobs/{id}/plots/...png, /annotated/...mp4    the files report.html links to
    DELETE /v1/jobs/{id}                    stops and removes the job
    GET    /docs, /redoc, /openapi.json     FastAPI's OpenAPI docs

Every error is JSON ``{"error": "one line"}`` with a 4xx status (401 token, 404 unknown, 409 not
ready, 413 too large, 415 not a photo/video or the wrong route, 422 unreadable, an unknown query
parameter or a model not offered, 503 queue full); a bug is a 500 with no detail but the
traceback in the server's log. Every request is one line of the log (method, path without its
query, which may hold the token, status, milliseconds).
"""

# No `from __future__ import annotations`: FastAPI reads the routes' annotations, imported in create_app.

import asyncio
import hmac
import json
import logging
import os
import shutil
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, contextmanager
from dataclasses import asdict, replace
from pathlib import Path

from .config import ServeConfig
from .jobs import JobStore, QueueFull, new_id, valid_id
from .media import Media, Refused, display_name, sniff

log = logging.getLogger("wildfer.serve")
PAGE = Path(__file__).with_name("page.html")
CHUNK = 1 << 20
# The page's icon: a face, drawn in SVG (also inline in the page, so a browser never asks for it there).
ICON = ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><circle cx="16" cy="16" r="15" fill="#ff7f0e"/>'
        '<circle cx="11" cy="12" r="2.5"/><circle cx="21" cy="12" r="2.5"/>'
        '<path d="M9 19q7 8 14 0" stroke="#000" stroke-width="2.5" fill="none"/></svg>')
# The routes that need no token: liveness, and the page and its icon, which hold no data (the page
# asks for the token, or takes it once from /?token=T, and sends it with every call it makes).
OPEN_PATHS = ("/healthz", "/", "/favicon.ico")


def error(status: int, reason: str, headers: dict | None = None):
    from fastapi.responses import JSONResponse

    return JSONResponse({"error": reason}, status_code=status, headers=headers)


class Front:
    """The ASGI application uvicorn runs: the Bearer token (module docstring) on every route but
    ``OPEN_PATHS``, and a body whose declared ``Content-Length`` is over the limit answered 413,
    both before any byte of the body is read; then the FastAPI app. In front of FastAPI rather
    than inside it, so that it also guards FastAPI's docs and unknown paths, and so that these
    413s are JSON like every other error (FastAPI's own max_body_size, which checks the bytes
    of a body that streams in without a length, answers a declared one in plain text). It logs
    one line per request, whoever answered it (:meth:`_logged`)."""

    def __init__(self, app, token: str | None, max_bytes: int, too_large: str):
        self.app, self.token, self.max_bytes, self.too_large = app, token, max_bytes, too_large

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        status, t0 = [0], time.perf_counter()

        async def send_seen(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self._answer(scope, receive, send_seen)
        finally:
            self._logged(scope, status[0], time.perf_counter() - t0)

    async def _answer(self, scope, receive, send):
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if self.token and scope["path"] not in OPEN_PATHS and not self._authorised(headers):
            return await error(401, "missing or wrong token: send 'Authorization: Bearer TOKEN'",
                               {"WWW-Authenticate": "Bearer"})(scope, receive, send)
        length = headers.get("content-length", "")
        if length.isdigit() and int(length) > self.max_bytes:
            return await error(413, self.too_large, {"Connection": "close"})(scope, receive, send)
        return await self.app(scope, receive, send)

    @staticmethod
    def _logged(scope, status: int, seconds: float) -> None:
        """One line per request: client, method, path (never the query: ``/?token=T`` holds the
        token), status (0: the connection closed before an answer) and time."""
        client = scope.get("client") or ("-", 0)
        log.info("%s %s %s %d %.0f ms", client[0], scope["method"], scope["path"], status, seconds * 1000)

    def _authorised(self, headers: dict) -> bool:
        scheme, _, value = headers.get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), self.token.encode())


class Photos:
    """A :class:`wildfer.Recognizer` per model offered (``models``, the first the default), shared
    by ``workers`` threads (each thread runs models of its own, loaded when it starts: the
    Recognizer's thread safety); at most ``workers + queue`` photos in the server at once, more
    get 503. Built before the server starts: a model that does not load stops it in one line."""

    def __init__(self, models: tuple[str, ...], workers: int, queue: int):
        from ..api import Recognizer

        # predict's other defaults, as wildfer.analyze's (api.default_recognizer): the same faces for the same file
        self.recognizers = {m: Recognizer(model=m) for m in models}
        self.default = models[0]
        self.executor = ThreadPoolExecutor(workers, thread_name_prefix="wildfer-photo", initializer=self._load)
        self.capacity, self.in_flight = workers + queue, 0

    def _load(self) -> None:
        for rec in self.recognizers.values():  # this thread's models, before its first photo
            rec.classifier  # noqa: B018 -- loads them

    def describe(self) -> list[dict]:
        """What ``GET /v1/models`` lists: name, whether it is the default, classes and the classifier
        that runs (model, backend, precision)."""
        return [{"name": m, "default": m == self.default, "classes": rec.class_names, **rec.classifier.describe()}
                for m, rec in self.recognizers.items()]

    def pick(self, model: str | None) -> str:
        """``model`` (None: the default) if offered, else :class:`Refused` 422 naming the offered ones."""
        if model is None:
            return self.default
        if model not in self.recognizers:
            raise Refused(422, f"model {model[:60]!r} is not offered by this server (wildfer serve --model NAME "
                               f"offers one); offered: {', '.join(self.recognizers)} (GET /v1/models)")
        return model

    async def run(self, model: str, fn):
        """``fn(recognizer of model)`` in a worker thread."""
        rec = self.recognizers[model]
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, rec)


async def _save_upload(file, folder: Path, name: str) -> Path:
    """The upload's bytes into ``folder/name`` (never a client-given name)."""
    path = folder / name
    with open(path, "wb") as f:
        while chunk := await file.read(CHUNK):
            f.write(chunk)
    return path


def _check_multipart(request) -> None:
    ctype = request.headers.get("content-type", "")
    if not ctype.lower().startswith("multipart/form-data"):
        raise Refused(415, f"send multipart/form-data with the file in field 'file', not {ctype or 'no content type'}")


async def _form_file(request):
    """The ``file`` field of a multipart request (415/422 for anything else)."""
    from starlette.datastructures import UploadFile
    from starlette.exceptions import HTTPException

    _check_multipart(request)
    try:
        form = await request.form(max_files=1, max_fields=8)
    except HTTPException as e:
        if e.status_code == 413:  # the body grew past max_body_size (FastAPI's limit) while it streamed in
            raise
        raise Refused(422, f"malformed multipart body ({e.detail})") from None
    except Exception as e:  # MultiPartException, a broken body: the parser's own words
        raise Refused(422, f"malformed multipart body ({type(e).__name__}: {e})") from None
    file = form.get("file")
    if not isinstance(file, UploadFile):
        raise Refused(422, "no file in field 'file' (multipart/form-data, field name 'file')")
    return file


def _upload_body(what: str) -> dict:
    """The OpenAPI request body of an upload route: multipart, one file in field ``file``. (The
    routes read the form themselves, so that every malformed body gets its own one-line reason.)"""
    schema = {"type": "object", "required": ["file"],
              "properties": {"file": {"type": "string", "format": "binary", "description": what}}}
    return {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": schema}}}}


def _analyze(rec, path: Path, annotate: bool) -> tuple[list, bytes | None]:
    """The faces of the photo at ``path`` (:meth:`wildfer.Recognizer.analyze`) and, with
    ``annotate``, the photo as a JPEG with each face's box and ``id: label score`` drawn (as
    ``predict --annotate`` draws it)."""
    faces = rec.analyze(path)
    return faces, (_annotated_jpeg(path, faces, rec.class_names) if annotate else None)


def _annotated_jpeg(path: Path, faces, class_names: list[str]) -> bytes:
    import io

    import numpy as np
    from PIL import Image

    from ..data.datasets import load_image
    from ..outputs.render import draw_rows

    img = np.array(load_image(path, 3))
    if faces:
        k = np.array([class_names.index(f.label) for f in faces])
        draw_rows(img, np.array([f.box for f in faces]), np.array([f.face_id for f in faces]), k,
                  np.array([f.score for f in faces]), class_names)
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def _start_ray(address: str | None):
    """For ``--ray local``: a Ray cluster on this machine for the server's lifetime, which every
    job's process joins (one ``predict --ray local`` per job would start and stop one each time);
    the ``ray`` module, or None for any other address (the jobs join that cluster themselves)."""
    if address != "local":
        return None
    import signal

    from ..runners.ray_exec import import_ray

    ray = import_ray()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # nothing leaves the machine
    # Ray's driver installs its own SIGTERM handler (log, then abort); uvicorn's (a graceful stop) stays.
    handlers = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    ray.init(address="local", include_dashboard=False, logging_level=logging.WARNING)
    for s, h in handlers.items():
        signal.signal(s, h)
    return ray


def _known_query(request) -> None:
    """Every route's guard (a FastAPI dependency, ``request`` a ``Request``): a query parameter the
    route does not take is 422, naming it and those it takes (``?model=fast`` on a route without
    models, a typo in ``?anotate=1``), instead of being ignored. ``GET /`` also takes ``token``."""
    route = request.scope.get("route")
    known = {p.alias for p in route.dependant.query_params} if route is not None else set()
    if request.url.path == "/":
        known.add("token")
    unknown = sorted(set(request.query_params) - known)
    if unknown:
        raise Refused(422, f"unknown query parameter(s) {', '.join(u[:40] for u in unknown[:5])}; "
                           f"{request.method} {request.url.path[:60]} takes {', '.join(sorted(known)) or 'none'}")


def create_app(cfg: ServeConfig) -> Front:
    """The application for ``cfg`` (checked by :func:`wildfer.serve.config.resolve`): :class:`Front`
    around the FastAPI app (``.app``). Loads the models here (a model that does not load fails
    before the server starts) and recovers the jobs under ``cfg.data`` at start-up (lifespan)."""
    from fastapi import Depends, FastAPI, Query, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import FileResponse, HTMLResponse, Response
    from starlette.exceptions import HTTPException

    from .. import __version__

    state: dict = {"photos": Photos(cfg.models, cfg.workers, cfg.queue)}

    def known_query(request: Request) -> None:  # annotated here, where FastAPI reads it: not a query parameter
        _known_query(request)

    @asynccontextmanager
    async def lifespan(app):
        cfg.data.mkdir(parents=True, exist_ok=True)
        ray = _start_ray(cfg.ray)
        jobs = JobStore(cfg.data, cfg.workers, cfg.queue, ray.get_runtime_context().gcs_address if ray else cfg.ray)
        # Temporary files go under --data too: multipart uploads spill to disk there, and
        # libraries that write to $TMPDIR (onnxruntime leaves a .ses file at import) follow it.
        os.environ["TMPDIR"] = tempfile.tempdir = str(jobs.tmp)
        state["jobs"] = jobs
        jobs.start()
        yield
        jobs.stop()
        state["photos"].executor.shutdown(wait=False, cancel_futures=True)
        if ray is not None:
            ray.shutdown()

    # max_body_size: FastAPI's own limit (>= 0.164), on the declared length and on the bytes
    # that stream in; it raises a 413 HTTPException, answered below in wildfer's words.
    app = FastAPI(title="wildfer", version=__version__, lifespan=lifespan, max_body_size=cfg.max_upload_bytes,
                  dependencies=[Depends(known_query)],
                  description="Facial expressions of the faces in photos and videos (wildfer serve).")
    model_query = Query(None, description="the model to run: one of GET /v1/models (default: the server's first)")
    too_large = f"request body over this server's limit of {cfg.max_upload_mb:g} MB (--max-upload-mb)"

    @app.exception_handler(Refused)
    async def refused(request, e: Refused):
        return error(e.status, e.reason)

    @app.exception_handler(HTTPException)
    async def http_error(request, e: HTTPException):
        reason = e.detail if isinstance(e.detail, str) else json.dumps(e.detail)
        if e.status_code == 413:
            reason = too_large
        return error(e.status_code, reason, getattr(e, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def invalid(request, e: RequestValidationError):
        first = e.errors()[0] if e.errors() else {}
        where = ".".join(str(x) for x in first.get("loc", ()) if x not in ("body", "query"))
        return error(422, f"{where or 'request'}: {first.get('msg', 'invalid')}")

    @app.exception_handler(Exception)
    async def bug(request, e: Exception):
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return error(500, "internal error (the server's log has the details)")

    @app.get("/healthz", summary="Liveness (no token needed)")
    async def healthz():
        return {"ok": True, "version": __version__}

    @app.get("/", response_class=HTMLResponse, summary="The page: drop photos or a video")
    async def page():
        return HTMLResponse(PAGE.read_text(encoding="utf-8"),
                            headers={"Referrer-Policy": "no-referrer", "Cache-Control": "no-store"})

    @app.get("/favicon.ico", summary="The page's icon (no token needed)", include_in_schema=False)
    async def favicon():
        return Response(ICON, media_type="image/svg+xml", headers={"Cache-Control": "max-age=86400"})

    @app.get("/v1/models", summary="The models this server offers (?model=NAME), the default first")
    async def models():
        return {"models": state["photos"].describe()}

    @app.post("/v1/analyze", summary="The faces in one photo", openapi_extra=_upload_body("the photo (JPEG, PNG, ...)"),
              responses={200: {"content": {"image/jpeg": {}}, "description": "faces JSON, or the annotated JPEG"}})
    async def analyze(request: Request,
                      annotate: bool = Query(False, description="return the photo annotated, as a JPEG"),
                      model: str | None = model_query):
        from ..errors import WildferError

        photos: Photos = state["photos"]
        model = photos.pick(model)
        if photos.in_flight >= photos.capacity:
            return error(503, f"{photos.in_flight} photos are being analysed or waiting; try again later",
                         {"Retry-After": "1"})
        photos.in_flight += 1
        path = None
        try:
            upload = await _form_file(request)
            name = display_name(upload.filename)
            path = await _save_upload(upload, state["jobs"].tmp, uuid.uuid4().hex)
            media = sniff(path, name, cfg.max_pixels)
            if media.kind != "image":
                raise Refused(415, f"{name}: a video; POST it to /v1/videos")
            path = path.rename(path.with_suffix(media.ext))
            try:
                faces, jpeg = await photos.run(model, lambda rec: _analyze(rec, path, annotate))
            except WildferError as e:  # the CLI's reason, naming the client's file instead of ours
                raise Refused(422, str(e).replace(str(path), name)) from None
            if annotate:
                return Response(jpeg, media_type="image/jpeg")
            return {"faces": [asdict(replace(f, source=name)) for f in faces]}  # the client's name, not ours
        finally:
            photos.in_flight -= 1
            if path is not None:
                path.unlink(missing_ok=True)

    @app.post("/v1/videos", status_code=202, summary="Queue one video; 202 and the job",
              openapi_extra=_upload_body("the video (MP4, MKV, WebM, AVI, ...)"))
    async def videos(request: Request, annotate: bool = Query(False, description="also write the annotated MP4"),
                     model: str | None = model_query):
        from ..errors import WildferError
        from ..pipeline.sources import Source, probe

        model = state["photos"].pick(model)
        jobs: JobStore = state["jobs"]
        if jobs.waiting() >= jobs.capacity:
            return error(503, f"{jobs.waiting()} video jobs are waiting already; try again later",
                         {"Retry-After": "10"})
        job_id = new_id()
        folder = jobs.folder(job_id)
        folder.mkdir()
        try:
            upload = await _form_file(request)
            name = display_name(upload.filename)
            path = await _save_upload(upload, folder, "upload")
            media: Media = sniff(path, name, cfg.max_pixels)
            if media.kind != "video":
                raise Refused(415, f"{name}: a photo; POST it to /v1/analyze")
            path = path.rename(folder / f"input{media.ext}")
            try:  # headers only, as predict checks its inputs before any work
                frames = await asyncio.get_running_loop().run_in_executor(None, probe, Source(path, "video"))
            except WildferError as e:
                raise Refused(422, str(e).replace(str(path), name)) from None
            job = jobs.add(job_id, name, path.name, frames, annotate, model)
        except QueueFull as e:
            shutil.rmtree(folder, ignore_errors=True)
            return error(503, str(e), {"Retry-After": "10"})
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        return _with_links(jobs.get(job_id) or job, status=202)

    def _with_links(job: dict, status: int = 200):
        from fastapi.responses import JSONResponse

        base = f"/v1/jobs/{job['id']}"
        job["links"] = {"self": base, "predictions.csv": f"{base}/predictions.csv",
                        "report.html": f"{base}/report.html", "summary.json": f"{base}/summary.json"}
        if job.get("annotate"):
            job["links"]["annotated.mp4"] = f"{base}/annotated/{Path(job['input']).stem}.mp4"
        return JSONResponse(job, status_code=status, headers={"Location": base} if status == 202 else None)

    def _job(job_id: str) -> dict:
        job = state["jobs"].get(job_id) if valid_id(job_id) else None
        if job is None:
            raise Refused(404, f"no job {job_id[:40]!r} (GET /v1/jobs lists them)")
        return job

    @app.get("/v1/jobs", summary="Every job, oldest first")
    async def list_jobs():
        return {"jobs": state["jobs"].list()}

    @app.get("/v1/jobs/{job_id}", summary="A job's state and progress")
    async def get_job(job_id: str):
        return _with_links(_job(job_id))

    def _output(job_id: str, rel: str, media_type: str, headers: dict | None = None):
        job = _job(job_id)
        if job["state"] != "done":
            what = f"failed: {job['error']}" if job["state"] == "failed" else f"is {job['state']}"
            raise Refused(409, f"job {job_id} {what}; its outputs are there once it is done")
        path = state["jobs"].folder(job_id) / "out" / rel
        if not path.is_file():
            raise Refused(404, f"job {job_id} has no {rel}")
        return FileResponse(path, media_type=media_type, headers=headers)

    @app.get("/v1/jobs/{job_id}/predictions.csv", summary="predict's rows for the video")
    async def job_csv(job_id: str):
        return _output(job_id, "predictions.csv", "text/csv")

    @app.get("/v1/jobs/{job_id}/report.html", response_class=HTMLResponse, summary="predict's report.html")
    async def job_report(job_id: str):
        # The report holds no script; this keeps it so (and off the network) whatever it shows.
        csp = "default-src 'none'; img-src data: 'self'; style-src 'unsafe-inline'; media-src 'self'"
        return _output(job_id, "report.html", "text/html", {"Content-Security-Policy": csp})

    @app.get("/v1/jobs/{job_id}/summary.json", summary="predict's summary of the video")
    async def job_summary(job_id: str):
        job = _job(job_id)
        return _output(job_id, f"summaries/{job['input']}.json", "application/json")

    def _named(job_id: str, folder: str, name: str, ext: str, media_type: str):
        """``out/<folder>/<input's stem><ext>``: the one file of that kind a job has (report.html links to it)."""
        if name != f"{Path(_job(job_id)['input']).stem}{ext}":
            raise Refused(404, f"job {job_id} has no {folder}/{name[:40]}")
        return _output(job_id, f"{folder}/{name}", media_type)

    @app.get("/v1/jobs/{job_id}/plots/{name}", summary="the timeline plot report.html links to")
    async def job_plot(job_id: str, name: str):
        return _named(job_id, "plots", name, ".png", "image/png")

    @app.get("/v1/jobs/{job_id}/annotated/{name}", summary="the annotated video (annotate=1)")
    async def job_video(job_id: str, name: str):
        return _named(job_id, "annotated", name, ".mp4", "video/mp4")

    @app.delete("/v1/jobs/{job_id}", summary="Stop and remove a job")
    async def delete_job(job_id: str):
        _job(job_id)
        await asyncio.get_running_loop().run_in_executor(None, state["jobs"].delete, job_id)
        return {"id": job_id, "deleted": True}

    return Front(app, cfg.token, cfg.max_upload_bytes, too_large)


@contextmanager
def _temporary_files_in(folder: Path):
    """``$TMPDIR`` (and :mod:`tempfile`'s) at ``folder`` for the block, then as it was: what the
    block writes there stays under ``--data``, and ``--ray local``'s cluster, started next (its
    sockets need a short path), gets the system's folder. The lifespan then moves them under
    ``--data`` for good (JobStore empties it at start)."""
    folder.mkdir(parents=True, exist_ok=True)
    before, before_py = os.environ.get("TMPDIR"), tempfile.tempdir
    os.environ["TMPDIR"] = tempfile.tempdir = str(folder)
    try:
        yield
    finally:
        tempfile.tempdir = before_py
        if before is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = before


def _check_port(host: str, port: int) -> None:
    """A one-line :class:`~wildfer.errors.ConfigError` when ``host:port`` cannot be listened on
    (in use, or not an address of this machine), before the models load."""
    import socket

    from ..errors import ConfigError

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        with socket.socket(infos[0][0], socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
            s.bind(infos[0][4])
    except OSError as e:
        raise ConfigError(f"--host {host} --port {port}: cannot listen there ({e.strerror or e})") from None


def serve(cfg: ServeConfig) -> None:
    """Run the server until Ctrl-C or SIGTERM (then running jobs stop and resume at the next start)."""
    import uvicorn

    from .config import resolve

    cfg = resolve(cfg)
    _check_port(cfg.host, cfg.port)
    if cfg.ray:
        from ..runners.ray_exec import check_ray

        check_ray(cfg.ray)  # Ray installed, something at that address: one line before starting
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    log.info("wildfer serve: http://%s:%d/ (data: %s; token: %s)", cfg.host, cfg.port, cfg.data,
             "required" if cfg.token else "none")
    with _temporary_files_in(cfg.data / "tmp"):  # the models load here: onnxruntime leaves a file in $TMPDIR
        app = create_app(cfg)
    uvicorn.run(app, host=cfg.host, port=cfg.port, log_level="info", access_log=False,
                timeout_graceful_shutdown=10)
