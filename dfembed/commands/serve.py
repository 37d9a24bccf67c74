"""``dfembed serve MODEL [SVM]``: a scoring service over HTTP with a review page."""

from __future__ import annotations

import functools
import ipaddress
import logging
from pathlib import Path

import click

from dfembed.cli import config_option, stage_command, stage_options
from dfembed.serve.config import ServeConfig

log = logging.getLogger(__name__)
option = functools.partial(config_option, ServeConfig)


@stage_command(
    "serve",
    Network=("host", "port", "token"),
    Limits=("max_upload_mb", "workers", "queue", "timeout", "worker_memory_mb", "max_video_frames", "min_side"),
    Scoring=("aggregate", "no_face_score", "threshold", "explain_faces", "frames_per_video", "detector"),
    Safety=("trust_pickle",),
)
@click.argument("model", type=click.Path(exists=True, path_type=Path))
@click.argument("svm", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@option("host", help="Address to bind (another than the loopback address exposes the service).")
@option("port", help="TCP port.")
@click.option("--token", envvar="DFEMBED_SERVE_TOKEN", default=None, metavar="T",
              help="Bearer token every request but /v1/health and the page needs [env DFEMBED_SERVE_TOKEN; none].")
@option("max_upload_mb", help="Largest upload in MiB, counted as it streams in (then 413).")
@option("workers", help="Processes that decode media and detect faces.")
@option("queue", help="Requests that may wait for a worker; one more gets 429.")
@option("timeout", help="Seconds a request's decoding and detection may take (then 504).")
@option("worker_memory_mb", help="Address-space cap of each worker (RLIMIT_AS) in MiB; 0: none.")
@option("max_video_frames", help="Longest video accepted, in frames (then 413).")
@option("min_side", help="Smallest image or frame side accepted, in pixels (then 422).")
@option("aggregate", help="Frames → file score.")
@option("no_face_score", help="Score of a file without a face (the answer flags it).")
@option("threshold", help="P(fake) above which the verdict reads fake.")
@option("explain_faces", help="Faces whose Grad-CAM overlay ?explain=1 adds.")
@option("frames_per_video", none_text="as in training", help="Frames sampled from a video.")
@option("detector", metavar="NAME", none_text="as in training", help="Face detector: mtcnn or blazeface.")
@click.option("--trust-pickle", is_flag=True,
              help="Load SVM itself when it has no safe .npz beside it. Loading a pickle runs the code "
                   "stored in it: only for a file you made or trust.")
@stage_options
def serve_command(model: Path, svm: Path | None, token: str | None, trust_pickle: bool, config_file: Path | None,
                  **options: object) -> None:
    """Serve MODEL (MODEL_H5 SVM_PKL, or an exported .onnx) over HTTP until Ctrl-C.

    \b
    POST /v1/score     multipart field "file": an image or video → JSON verdict, frames, faces
                       (?explain=1: Grad-CAM overlays of the most suspicious faces, Keras models)
    GET  /v1/health    liveness and load (no token needed)
    GET  /v1/model     the model's identity and the limits
    GET  /             the review page; /docs: the OpenAPI description

    The model is loaded once; files are decoded and faces detected in --workers
    processes, each with a memory cap; a full queue answers 429 with Retry-After. The
    service binds the loopback address unless --host says otherwise: put it behind a
    reverse proxy with TLS to expose it.
    """
    from dfembed.core.config import resolve_config

    uvicorn = _serve_packages()
    config = resolve_config(ServeConfig, config_file, options)
    _warn_if_exposed(config.host, token)
    from dfembed.serve.app import create_app
    from dfembed.serve.service import load_service

    service = load_service(model, svm, config, trust_pickle)
    try:
        service.pool.warm_up()
        click.echo(f"serving {model.name} on http://{config.host}:{config.port}/ (Ctrl-C to stop)", err=True)
        uvicorn.run(create_app(service, token), host=config.host, port=config.port, log_level="warning")
    finally:
        service.close()


def _serve_packages():  # noqa: ANN202 - the uvicorn module
    from dfembed.core.errors import ConfigError

    try:
        import fastapi  # noqa: F401
        import python_multipart  # noqa: F401
        import uvicorn
    except ImportError as err:
        raise ConfigError(f"dfembed serve needs {err.name}, which is not installed: pip install -e \".[serve]\"") \
            from err
    return uvicorn


def _warn_if_exposed(host: str, token: str | None) -> None:
    """Warn when the service listens beyond this machine without a token."""
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback and token is None:
        log.warning("binding %s, which other machines can reach, without a token: anyone who reaches it can use "
                    "the service; set --token or DFEMBED_SERVE_TOKEN", host)
