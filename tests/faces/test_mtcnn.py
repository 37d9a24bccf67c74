"""The MTCNN detector: its safe pyramid, large minimum face sizes on video, and its failure handling.

The photographs every detector is checked on are in ``test_detectors_on_photos.py``.
"""

from __future__ import annotations

import numpy as np
import pytest

from dfembed.faces.config import CropConfig
from dfembed.faces.detector import DetectorError, build_detector
from dfembed.faces.media import sample_video_frames
from dfembed.faces.mtcnn import MTCNNDetector, pyramid_scales
from tests.support import shared_path


def test_pyramid_never_goes_below_the_pnet_window() -> None:
    # min_face_size 30 on a 1080p frame: mtcnn 1.0's own pyramid reaches 1080 * 0.0068 = 7 px
    scales = pyramid_scales(1920, 1080, 30, 0.709)
    assert scales[0] == pytest.approx(12 / 30)
    np.testing.assert_allclose(scales[1:] / scales[:-1], 0.709)
    assert 1080 * scales[-1] >= 12 > 1080 * scales[-1] * 0.709
    assert pyramid_scales(10, 10, 20, 0.709).size == 0


def test_1080p_frames_with_large_min_face_size_do_not_fail() -> None:
    frames = [f for _, f in sample_video_frames(shared_path("dfdc_sample", "videos", "abqwwspghj.mp4"), 2)]
    detector = build_detector(CropConfig())
    assert isinstance(detector, MTCNNDetector)
    results = detector.with_config(CropConfig(detector_min_face_size=40)).detect(frames)
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
        row[6:16] = [20, 40, 30, 25, 35, 30, 30, 40, 55, 55]  # 5 x then 5 y
        return row[None, :]


def test_value_error_is_retried_frame_by_frame() -> None:
    fake = _FailingMTCNN(fail_single=False)
    faces = MTCNNDetector(CropConfig(), mtcnn=fake).detect([np.zeros((400, 400, 3), np.uint8)] * 3)
    assert fake.calls == [3, 1, 1, 1]
    assert [len(f) for f in faces] == [1, 1, 1]
    assert faces[0][0].box == (10.0, 20.0, 50.0, 70.0)
    # mtcnn's rows hold the five x, then the five y: pairs (20, 30), (40, 30), (30, 40), (25, 55), (35, 55)
    np.testing.assert_allclose(faces[0][0].landmarks, [[20, 30], [40, 30], [30, 40], [25, 55], [35, 55]])


def test_boxes_of_a_downscaled_frame_are_in_source_pixels() -> None:
    # a 1920x1080 frame is detected at x0.33; the fake finds (10, 20, 50, 70) on the 634x356 image
    faces = MTCNNDetector(CropConfig(), mtcnn=_FailingMTCNN(fail_single=False)).detect(
        [np.zeros((1080, 1920, 3), np.uint8)])
    np.testing.assert_allclose(faces[0][0].box, np.array([10, 20, 50, 70]) / 0.33)


def test_persistent_value_error_becomes_detector_error() -> None:
    with pytest.raises(DetectorError, match="MTCNN failed on a 400x400 frame"):
        MTCNNDetector(CropConfig(), mtcnn=_FailingMTCNN(fail_single=True)).detect([np.zeros((400, 400, 3), np.uint8)])


def test_frames_of_different_sizes_are_rejected() -> None:
    detector = MTCNNDetector(CropConfig(), mtcnn=_FailingMTCNN(fail_single=False))
    with pytest.raises(ValueError, match="one shape"):
        detector.detect([np.zeros((4, 4, 3), np.uint8), np.zeros((5, 4, 3), np.uint8)])


def test_mtcnn_box_lies_where_the_face_outline_expects_it() -> None:
    """regions.TEMPLATE_BOX (measured on other photographs) against the astronaut's box, mapped by her landmarks."""
    from dfembed.faces.alignment import FIVE_POINT_TEMPLATE, apply_affine, similarity_transform
    from dfembed.faces.extract import choose_faces
    from dfembed.faces.media import read_image
    from dfembed.faces.regions import TEMPLATE_BOX

    image = read_image(shared_path("faces", "astronaut.png"))
    (face,) = choose_faces(build_detector(CropConfig()).detect([image])[0], CropConfig())
    to_template = similarity_transform(np.asarray(face.landmarks), FIVE_POINT_TEMPLATE)
    x1, y1, x2, y2 = face.box
    corners = apply_affine(to_template, np.array([[x1, y1], [x2, y1], [x1, y2], [x2, y2]]))
    box = [*corners.min(axis=0), *corners.max(axis=0)]
    # the measured boxes spread by about +-7 px (10th to 90th percentile); the astronaut's top edge is 11 px low
    np.testing.assert_allclose(box, TEMPLATE_BOX, atol=12.0)
