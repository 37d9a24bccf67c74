"""The HTTP application: ``POST /v1/score``, ``GET /v1/health``, ``GET /v1/model``, the review page at ``/``.

Every answer is JSON (the page and its files aside); an error is ``{"error": "<one line>"}``
with its status and never a server path or a traceback: 400 a malformed request, 401 a
missing or wrong token, 413 an upload or a decoded size above a limit, 415 not an image or
video by its content, 422 a file that cannot be decoded or is too small to hold a face,
429 the queue is full (with ``Retry-After``), 503 a worker died, 504 the time limit passed,
500 anything else (logged on the server).
"""

from __future__ import annotations

import concurrent.futures.process
import contextlib
import hmac
import logging
import shutil
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from dfembed.serve.service import ScoringService
from dfembed.serve.upload import UploadRefused, discard, new_folder, receive

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
#: Seconds a client is asked to wait after a 429.
RETRY_AFTER_S = 2
_UPLOAD_SCHEMA = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["file"],
    "properties": {"file": {"type": "string", "format": "binary", "description": "An image or a video"}}}}}}}


def error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """The one shape of every error answer."""
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def create_app(service: ScoringService, token: str | None = None) -> FastAPI:
    """The application over a loaded service.

    Args:
        service: The model, the workers and the limits.
        token: The bearer token every route but ``/v1/health`` and the page needs (``None``: none).

    Returns:
        The FastAPI application; uploads go to a private temporary folder made at startup.
    """

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.uploads = Path(tempfile.mkdtemp(prefix="dfembed-serve-"))  # mode 0700
        try:
            yield
        finally:
            shutil.rmtree(app.state.uploads, ignore_errors=True)

    app = FastAPI(title="dfembed", summary="Deepfake face scoring: P(fake) of an image or video, and why",
                  lifespan=lifespan)
    app.state.service = service
    _add_handlers(app)
    authorised = Depends(_token_check(token))
    app.add_api_route("/v1/health", _health, methods=["GET"], summary="Liveness and load")
    app.add_api_route("/v1/model", _model, methods=["GET"], dependencies=[authorised], summary="The model served")
    app.add_api_route("/v1/score", _score, methods=["POST"], dependencies=[authorised], openapi_extra=_UPLOAD_SCHEMA,
                      summary="P(fake) of an uploaded image or video, per frame and face")
    app.add_api_route("/", _page, methods=["GET"], include_in_schema=False)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def _add_handlers(app: FastAPI) -> None:
    from fastapi.exceptions import RequestValidationError
    from starlette.exceptions import HTTPException

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, err: HTTPException) -> JSONResponse:
        return error(err.status_code, str(err.detail), getattr(err, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, err: RequestValidationError) -> JSONResponse:
        return error(400, "invalid request: " + "; ".join(str(e.get("msg", "")) for e in err.errors())[:200])

    @app.exception_handler(Exception)
    async def internal(request: Request, err: Exception) -> JSONResponse:
        log.error("request %s %s failed", request.method, request.url.path, exc_info=err)
        return error(500, "internal error; the server's log has the details")


def _token_check(token: str | None) -> Any:
    bearer = HTTPBearer(auto_error=False, description="The service's token (dfembed serve --token)")

    async def check(credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:
        from starlette.exceptions import HTTPException

        if token is None:
            return
        given = credentials.credentials if credentials is not None else ""
        if not hmac.compare_digest(given.encode(), token.encode()):
            raise HTTPException(401, "a valid bearer token is needed (Authorization: Bearer <token>)",
                                headers={"WWW-Authenticate": "Bearer"})

    return check


async def _health(request: Request) -> dict[str, Any]:
    service: ScoringService = request.app.state.service
    return {"status": "ok", "active": service.admission.active, "capacity": service.admission.capacity}


async def _model(request: Request) -> dict[str, Any]:
    service: ScoringService = request.app.state.service
    config = service.config
    limits = {"max_upload_mb": config.max_upload_mb, "timeout_s": config.timeout, "workers": config.workers,
              "queue": config.queue, "max_video_frames": config.max_video_frames, "min_side": config.min_side}
    return {**service.identity.as_dict(), "aggregate": config.aggregate, "threshold": config.threshold,
            "no_face_score": config.no_face_score, "explain": service.can_explain, "limits": limits}


async def _page() -> FileResponse:
    return FileResponse(STATIC / "index.html", media_type="text/html")


async def _score(request: Request, explain: bool = False, crops: bool = False) -> Any:
    """Score the uploaded file (multipart field ``file``): ``?explain=1`` adds Grad-CAM overlays of the most
    suspicious faces (Keras models), ``?crops=1`` each face's crop."""
    service: ScoringService = request.app.state.service
    if not service.admission.enter():
        return error(429, "the service is busy; try again shortly", {"Retry-After": str(RETRY_AFTER_S)})
    folder = new_folder(request.app.state.uploads)
    try:
        return await _score_upload(request, service, folder, explain, crops)
    except UploadRefused as err:
        return error(err.status, err.message)
    except TimeoutError as err:
        return error(504, str(err))
    except concurrent.futures.process.BrokenProcessPool:
        return error(503, "a worker process ended while decoding this file; it has been restarted")
    finally:
        discard(folder)
        service.admission.leave()


async def _score_upload(request: Request, service: ScoringService, folder: Path, explain: bool,
                        crops: bool) -> Any:
    start = time.perf_counter()
    upload = await receive(request.headers.get("content-type", ""), request.stream(), folder,
                           service.config.max_upload_bytes)
    timings = {"upload_ms": _ms(start)}
    start = time.perf_counter()
    detected = await run_in_threadpool(service.detect, upload.path)
    timings["detect_ms"] = _ms(start)
    if detected.error is not None:
        return error(detected.status, detected.error)
    media = {"kind": upload.media.kind, "format": upload.media.format, "bytes": upload.size}
    answer = await run_in_threadpool(service.answer, detected, media, explain, crops, timings)
    timings["total_ms"] = round(sum(v for k, v in timings.items() if k != "total_ms"), 1)
    return answer


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 1)
