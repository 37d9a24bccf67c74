"""The MTCNN face detector on real photographs, its safe pyramid and its failure handling."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from dfembed.faces.config import CropConfig
from dfembed.faces.detector import DetectorError, Face, FaceDetector, pyramid_scales
from dfembed.faces.extract import choose_faces
from dfembed.faces.geometry import iou
from dfembed.faces.media import read_image, sample_video_frames
from tests.support import shared_path

# measured with the default CropConfig: all 43 of dlib's boxes at IoU >= 0.5; allow one miss
DLIB_RECALL_FLOOR = 42 / 43


@pytest.fixture(scope="module")
def detector() -> FaceDetector:
    """One detector (TensorFlow and MTCNN weights load once per module)."""
    return FaceDetector(CropConfig())


def _faces(detector: FaceDetector, path: Path, **options: object) -> list[Face]:
    config = CropConfig(**options)
    return choose_faces(detector.detect([read_image(path)])[0], config)


def dlib_boxes(folder: Path) -> dict[str, np.ndarray]:
    """dlib's ground truth as ``x1, y1, x2, y2`` per image (``ignore='1'`` boxes left out)."""
    boxes: dict[str, list[list[float]]] = {}
    for name in ("training.xml", "testing.xml"):
        for image in ET.parse(folder / name).getroot().iter("image"):
            for box in image.iter("box"):
                if box.get("ignore") == "1":
                    continue
                x, y = float(box.get("left")), float(box.get("top"))
                w, h = float(box.get("width")), float(box.get("height"))
                boxes.setdefault(image.get("file"), []).append([x, y, x + w, y + h])
    return {k: np.asarray(v) for k, v in boxes.items()}


def test_pyramid_never_goes_below_the_pnet_window() -> None:
    # min_face_size 30 on a 1080p frame: mtcnn 1.0's own pyramid reaches 1080 * 0.0068 = 7 px
    scales = pyramid_scales(1920, 1080, 30, 0.709)
    assert scales[0] == pytest.approx(12 / 30)
    np.testing.assert_allclose(scales[1:] / scales[:-1], 0.709)
    assert 1080 * scales[-1] >= 12 > 1080 * scales[-1] * 0.709
    assert pyramid_scales(10, 10, 20, 0.709).size == 0


def test_astronaut_one_face_near_known_box(detector: FaceDetector) -> None:
    faces = _faces(detector, shared_path("faces", "astronaut.png"), faces="all")
    assert len(faces) == 1
    assert iou(faces[0].box, [182, 64, 265, 171])[0, 0] > 0.9
    assert faces[0].landmarks.shape == (5, 2)
    left_eye, right_eye = faces[0].landmarks[0], faces[0].landmarks[1]
    assert left_eye[0] < right_eye[0]  # image left to right


def test_recall_on_dlib_ground_truth(detector: FaceDetector) -> None:
    folder = shared_path("faces", "dlib")
    truth = dlib_boxes(folder)
    assert sum(len(b) for b in truth.values()) == 43
    found = 0
    for name, boxes in truth.items():
        faces = _faces(detector, folder / name, faces="all")
        if faces:
            found += int((iou(boxes, np.array([f.box for f in faces])).max(axis=1) >= 0.5).sum())
    assert found / 43 >= DLIB_RECALL_FLOOR


def test_no_face_in_dogs(detector: FaceDetector) -> None:
    assert _faces(detector, shared_path("faces", "dlib", "dogs.jpg"), faces="all") == []


def test_rgba_image_has_a_face(detector: FaceDetector) -> None:
    assert len(_faces(detector, shared_path("faces", "face_recognition", "32bit.png"))) == 1


def test_six_faces_in_t1_with_all(detector: FaceDetector) -> None:
    path = shared_path("faces", "insightface", "t1.jpg")
    # mtcnn at full size also reports a 14x17 px playing card; min_face_size drops it anyway
    assert len(_faces(detector, path, faces="all")) == 6
    assert len(_faces(detector, path, faces="largest")) == 1


def test_large_image_boxes_map_back_to_source_pixels(detector: FaceDetector) -> None:
    image = read_image(shared_path("faces", "astronaut.png"))
    big = np.repeat(np.repeat(image, 4, axis=0), 4, axis=1)  # 2048 px: detected at x0.33
    faces = choose_faces(detector.detect([big])[0], CropConfig())
    assert len(faces) == 1
    assert iou(faces[0].box, [182 * 4, 64 * 4, 265 * 4, 171 * 4])[0, 0] > 0.8


def test_1080p_frames_with_large_min_face_size_do_not_fail(detector: FaceDetector) -> None:
    frames = [f for _, f in sample_video_frames(shared_path("dfdc_sample", "videos", "abqwwspghj.mp4"), 2)]
    big_faces = detector.with_config(CropConfig(detector_min_face_size=40))
    results = big_faces.detect(frames)
    assert len(results) == 2
    assert all(len(faces) == 1 and faces[0].width > 120 for faces in results)  # the ~165 px face


class _FailingMTCNN:
    """Stands in for mtcnn: raises ValueError on batches (or always), like its Conv2D bug."""

    def __init__(self, fail_single: bool) -> None:
        self.fail_single = fail_single
        self.calls: list[int] = []

    def detect_faces(self, images: list[np.ndarray], **options: object) -> np.ndarray:
        self.calls.append(len(images))
        if len(images) > 1 or self.fail_single:
            raise ValueError("Negative dimension size caused by subtracting 3 from 2 for Conv2D")
        row = np.zeros(16)
        row[1:6] = [10, 20, 50, 70, 0.99]
        return row[None, :]


def test_value_error_is_retried_frame_by_frame() -> None:
    fake = _FailingMTCNN(fail_single=False)
    faces = FaceDetector(CropConfig(), mtcnn=fake).detect([np.zeros((400, 400, 3), np.uint8)] * 3)
    assert fake.calls == [3, 1, 1, 1]
    assert [len(f) for f in faces] == [1, 1, 1]
    assert faces[0][0].box == (10.0, 20.0, 50.0, 70.0)


def test_persistent_value_error_becomes_detector_error() -> None:
    with pytest.raises(DetectorError, match="400x400 frame"):
        FaceDetector(CropConfig(), mtcnn=_FailingMTCNN(fail_single=True)).detect([np.zeros((400, 400, 3), np.uint8)])


def test_frames_of_different_sizes_are_rejected() -> None:
    detector = FaceDetector(CropConfig(), mtcnn=_FailingMTCNN(fail_single=False))
    with pytest.raises(ValueError, match="one shape"):
        detector.detect([np.zeros((4, 4, 3), np.uint8), np.zeros((5, 4, 3), np.uint8)])


def test_mtcnn_box_lies_where_the_face_outline_expects_it(detector: FaceDetector) -> None:
    """regions.TEMPLATE_BOX (measured on other photographs) against the astronaut's box, mapped by her landmarks."""
    from dfembed.faces.alignment import FIVE_POINT_TEMPLATE, apply_affine, similarity_transform
    from dfembed.faces.regions import TEMPLATE_BOX

    face = _faces(detector, shared_path("faces", "astronaut.png"))[0]
    to_template = similarity_transform(np.asarray(face.landmarks), FIVE_POINT_TEMPLATE)
    x1, y1, x2, y2 = face.box
    corners = apply_affine(to_template, np.array([[x1, y1], [x2, y1], [x1, y2], [x2, y2]]))
    box = [*corners.min(axis=0), *corners.max(axis=0)]
    # the measured boxes spread by about +-7 px (10th to 90th percentile); the astronaut's top edge is 11 px low
    np.testing.assert_allclose(box, TEMPLATE_BOX, atol=12.0)
