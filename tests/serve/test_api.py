"""The HTTP API through FastAPI's TestClient, on the hand-set region model with MTCNN in a worker process."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.serve import media

pytestmark = pytest.mark.slow


def _client(service, token: str | None = None, raise_errors: bool = True, **changes: object):  # noqa: ANN001, ANN202
    """A TestClient over ``service`` with other options (the same model; the same workers unless ``pool``)."""
    from fastapi.testclient import TestClient

    from dfembed.serve.app import create_app

    return TestClient(create_app(_with(service, **changes) if changes else service, token),
                      raise_server_exceptions=raise_errors)


def _with(service, **changes: object):  # noqa: ANN001, ANN202
    from dfembed.serve.service import ScoringService

    pool = changes.pop("pool", service.pool)
    return ScoringService(service.loaded, service.identity, dataclasses.replace(service.config, **changes), pool=pool)


@pytest.fixture(scope="module")
def client(service) -> Iterator[object]:  # noqa: ANN001
    from fastapi.testclient import TestClient

    from dfembed.serve.app import create_app

    with TestClient(create_app(service)) as test_client:
        yield test_client


def _post(client, data: bytes, name: str = "upload.bin", query: str = ""):  # noqa: ANN001, ANN202
    return client.post("/v1/score" + query, files={"file": (name, data, "application/octet-stream")})


def test_an_image_gets_a_verdict_its_face_with_box_and_landmarks_and_the_model_identity(client, region_pair) -> None:
    answer = _post(client, media.face_jpeg(), "portrait.jpg").json()
    verdict = answer["verdict"]
    assert 0.0 <= verdict["p_fake"] <= 1.0 and verdict["label"] in ("fake", "real") and not verdict["no_face"]
    assert verdict["aggregate"] == "confident" and "then confident" in verdict["rule"]
    (frame,) = answer["frames"]
    (face,) = frame["faces"]
    x1, y1, x2, y2 = face["box"]
    assert 100 < x1 < x2 < 450 and 50 < y1 < y2 < 450  # Grace Hopper's face in the 512×600 photograph
    assert len(face["landmarks"]) == 5 and frame["time_s"] is None
    assert face["p_fake"] == pytest.approx(verdict["p_fake"], abs=1e-6)  # one face: the file's score is its score
    assert answer["model"]["sha256"] == hashlib.sha256(region_pair["model"].read_bytes()).hexdigest()
    assert answer["model"]["backbone"] == "b0" and answer["model"]["detector"] == "mtcnn"
    assert answer["media"] == {"kind": "image", "format": "jpeg", "bytes": len(media.face_jpeg()), "frames_sampled": 1,
                               "fps": None, "size": [512, 600]}
    assert {"upload_ms", "detect_ms", "score_ms", "total_ms"} <= set(answer["timings"])


def test_a_video_is_scored_per_sampled_frame_with_its_time(client, tmp_path) -> None:
    answer = _post(client, media.face_video(tmp_path, frames=6), "clip.mp4").json()
    frames = answer["frames"]
    # the bundle's crop settings sample 3 of the 6 frames, evenly: 0, 2 or 3, 5 (5 fps: frame k at k/5 s)
    assert len(frames) == 3 and frames[0]["index"] == 0 and frames[-1]["index"] == 5
    assert [f["time_s"] for f in frames] == [f["index"] / 5 for f in frames]
    assert all(len(f["faces"]) == 1 for f in frames) and answer["media"]["kind"] == "video"


def test_explain_adds_grad_cam_overlays_of_the_faces_at_crop_size(client) -> None:
    answer = _post(client, media.face_jpeg(), query="?explain=1&crops=1").json()
    (explanation,) = answer["explanations"]
    for uri in (explanation["overlay"], answer["frames"][0]["faces"][0]["crop"]):
        assert uri.startswith("data:image/png;base64,")
        image = cv2.imdecode(np.frombuffer(base64.b64decode(uri.split(",", 1)[1]), np.uint8), cv2.IMREAD_COLOR)
        assert image.shape == (64, 64, 3)


def test_no_face_gets_the_no_face_score_and_a_flag(client) -> None:
    answer = _post(client, media.grey_png()).json()
    assert answer["verdict"]["no_face"] and answer["verdict"]["p_fake"] == 0.5 and answer["verdict"]["faces"] == 0
    assert answer["frames"] == [{"index": 0, "time_s": None, "faces": [], "p_fake": None}]


@pytest.mark.parametrize(("data", "status"), [
    (b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8, 422),  # PNG magic, then garbage
    (b"just some text, named like a photo\n", 415),
    (b"PK\x03\x04" + b"\x00" * 200, 415),  # a zip
    (b"", 400),
])
def test_broken_and_foreign_files_get_a_clear_status_without_a_server_path(client, data: bytes, status: int) -> None:
    response = _post(client, data, "photo.jpg")
    assert response.status_code == status
    assert set(response.json()) == {"error"} and "/tmp" not in response.text and "dfembed-serve" not in response.text


def test_an_upload_over_the_limit_is_413_counted_while_streaming(service) -> None:
    with _client(service, max_upload_mb=0.01) as client:  # 10 KiB
        response = _post(client, media.face_jpeg())
        assert response.status_code == 413 and "0.01 MiB" in response.json()["error"]
        assert list(client.app.state.uploads.iterdir()) == []  # the partial upload is gone
        assert client.app.state.uploads.stat().st_mode & 0o777 == 0o700  # a private folder


def test_the_token_is_needed_everywhere_but_health_and_the_page(service) -> None:
    with _client(service, token="s3cret") as client:
        assert client.get("/v1/health").status_code == 200 and client.get("/").status_code == 200
        assert client.get("/v1/model").status_code == 401
        wrong = client.get("/v1/model", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"
        assert _post(client, media.grey_png()).status_code == 401
        right = client.get("/v1/model", headers={"Authorization": "Bearer s3cret"})
        assert right.status_code == 200 and right.json()["limits"]["max_upload_mb"] == 200.0


class SlowPool:
    """A stand-in for the workers: takes ``delay`` seconds, then raises ``error`` or finds nothing."""

    def __init__(self, delay: float = 0.0, error: BaseException | None = None) -> None:
        self.delay = delay
        self.error = error

    def detect(self, path: Path, timeout: float, limits: object):  # noqa: ANN201
        from dfembed.serve.workers import Detected

        time.sleep(self.delay)
        if self.error is not None:
            raise self.error
        return Detected(sampled=[0], size=(64, 64))

    def close(self) -> None:
        return None


def test_a_full_queue_is_429_with_retry_after_and_the_admitted_request_completes(service) -> None:
    with _client(service, workers=1, queue=0, pool=SlowPool(delay=1.5)) as client:
        statuses: list[int] = []
        first = threading.Thread(target=lambda: statuses.append(_post(client, media.grey_png()).status_code))
        first.start()
        time.sleep(0.5)
        refused = _post(client, media.grey_png())
        first.join()
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
        assert statuses == [200] and client.get("/v1/health").json()["active"] == 0


@pytest.mark.parametrize(("error", "status"), [(TimeoutError("took longer than 1 s"), 504),
                                               (RuntimeError("/srv/secret/path exploded"), 500)])
def test_a_timeout_is_504_and_a_bug_is_500_without_its_message(service, error: BaseException, status: int) -> None:
    with _client(service, raise_errors=False, pool=SlowPool(error=error)) as client:
        response = _post(client, media.grey_png())
        assert response.status_code == status and "/srv/secret" not in response.text
        assert client.get("/v1/health").status_code == 200


def test_hostile_files_are_each_a_clear_4xx_and_the_service_keeps_answering(service, tmp_path) -> None:
    hostile = {
        "a 1×1 image": (media.png(np.zeros((1, 1, 3), np.uint8)), 422),
        "a PNG header claiming 20000×20000": (media.png_claiming(20000, 20000), 413),
        "a zip-bomb-like PNG (11000×11000 zeros)": (media.png_claiming(11000, 11000, rows=11000), 413),
        "a video of 400 frames of 8×8": (media.tiny_frames_video(tmp_path), 422),
        "a video longer than the frame limit": (media.tiny_frames_video(tmp_path, frames=1200, side=64), 413),
    }
    with _client(service, max_video_frames=1000) as client:
        for name, (data, status) in hostile.items():
            response = _post(client, data)
            assert response.status_code == status, (name, response.text)
            assert response.json()["error"] and "/tmp" not in response.text, name
        assert client.get("/v1/health").json()["status"] == "ok"
        assert list(client.app.state.uploads.iterdir()) == []


def test_the_page_its_files_and_the_openapi_description_are_served(client) -> None:
    page = client.get("/")
    assert page.status_code == 200 and "/static/app.js" in page.text
    assert client.get("/static/app.js").status_code == 200 and client.get("/static/style.css").status_code == 200
    schema = client.get("/openapi.json").json()
    assert {"/v1/score", "/v1/health", "/v1/model"} <= set(schema["paths"])
    assert "multipart/form-data" in schema["paths"]["/v1/score"]["post"]["requestBody"]["content"]
