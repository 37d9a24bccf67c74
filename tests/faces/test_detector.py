"""The detector registry and the steps every built-in detector shares (downscale, batches, retry)."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import dfembed.faces.registry as registry_module
from dfembed.core.config import resolve_config
from dfembed.core.errors import ConfigError
from dfembed.faces.config import CropConfig
from dfembed.faces.detector import (
    DetectorError,
    DetectorSpec,
    Face,
    ResizingDetector,
    build_detector,
    check_available,
    confidence_floor,
    detector_names,
    detector_record,
    register_detector,
)
from dfembed.faces.extract import choose_faces


class _Recorder(ResizingDetector):
    """Finds one face at (1, 2, 11, 22) with landmarks at (1, 2) on every image it is given; fails on request."""

    label = "Recorder"

    def __init__(self, config: CropConfig, fail_on: int | None = None) -> None:
        super().__init__(config.batch_size)
        self.fail_on = fail_on  # image width that makes it fail
        self.calls: list[list[tuple[int, int]]] = []

    def detect_resized(self, images: list[np.ndarray]) -> list[list[Face]]:
        self.calls.append([image.shape[:2] for image in images])
        if self.fail_on is not None and len(images) > 1:
            raise ValueError("batch trouble")
        if self.fail_on is not None and images[0][0, 0, 0] == self.fail_on:
            raise ValueError("this frame")
        return [[Face((1.0, 2.0, 11.0, 22.0), 0.9, np.array([[1.0, 2.0]] * 5))] for _ in images]


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """A copy of the registry for one test: what it registers is gone afterwards."""
    monkeypatch.setattr(registry_module, "DETECTORS", registry_module.DETECTORS.copy())


def test_builtin_detectors_are_registered() -> None:
    assert {"mtcnn", "blazeface"} <= set(detector_names())


def test_unknown_detector_name_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"unknown face detector 'retina'.*blazeface, mtcnn"):
        build_detector(CropConfig(), name="retina")


def test_crop_config_rejects_an_unknown_detector_with_its_name() -> None:
    with pytest.raises(ConfigError, match="detector must be a registered face detector .*got 'yolo'"):
        resolve_config(CropConfig, None, {"detector": "yolo"})


def test_a_missing_package_says_how_to_install_it(registry: None) -> None:
    register_detector(DetectorSpec(
        name="absent", target="dfembed_absent_module:Nothing", summary="test only", option_fields=(),
        default_min_confidence=0.5, landmarks=False, packages=("dfembed-no-such-package",),
        install="pip install dfembed-no-such-package"))
    with pytest.raises(ConfigError, match="needs the package dfembed-no-such-package.*pip install dfembed-no-such"):
        check_available("absent")
    with pytest.raises(ConfigError, match="pip install dfembed-no-such-package"):
        build_detector(CropConfig(), name="absent")


def test_a_registered_detector_is_built_from_its_target(registry: None, monkeypatch: pytest.MonkeyPatch) -> None:
    module = type(sys)("dfembed_test_detectors")
    module.Recorder = _Recorder
    monkeypatch.setitem(sys.modules, "dfembed_test_detectors", module)
    register_detector(DetectorSpec(
        name="recorder", target="dfembed_test_detectors:Recorder", summary="test only", option_fields=("margin",),
        default_min_confidence=0.25, landmarks=True, packages=(), install=""))
    detector = build_detector(CropConfig(detector="recorder", margin=0.1))
    assert isinstance(detector, _Recorder)
    record = detector_record(CropConfig(detector="recorder", margin=0.1))
    assert record == {"name": "recorder", "versions": {}, "options": {"margin": 0.1}, "min_confidence": 0.25,
                      "landmarks": True}


def test_confidence_floor_is_the_detectors_default_unless_given() -> None:
    assert confidence_floor(CropConfig()) == 0.8
    assert confidence_floor(CropConfig(detector="blazeface")) == 0.5
    assert confidence_floor(CropConfig(detector="blazeface", min_confidence=0.7)) == 0.7
    faces = [Face((0, 0, 30, 30), 0.6), Face((0, 0, 40, 40), 0.4)]
    assert [f.confidence for f in choose_faces(faces, CropConfig(detector="blazeface", faces="all"))] == [0.6]
    assert choose_faces(faces, CropConfig(faces="all")) == []


def test_record_names_the_detectors_own_options() -> None:
    mtcnn = detector_record(CropConfig(thresholds=(0.5, 0.6, 0.7)))
    assert mtcnn["options"] == {"thresholds": [0.5, 0.6, 0.7], "detector_min_face_size": 20, "scale_factor": 0.709}
    assert "mtcnn" in mtcnn["versions"] and mtcnn["landmarks"] is True
    blaze = detector_record(CropConfig(detector="blazeface", blazeface_model="sparse"))
    assert blaze["options"] == {"blazeface_model": "sparse", "blazeface_nms": 0.3}
    assert blaze["min_confidence"] == 0.5 and blaze["landmarks"] is False


def test_frames_are_downscaled_batched_and_mapped_back() -> None:
    detector = _Recorder(CropConfig(batch_size=2))
    faces = detector.detect([np.zeros((1080, 1920, 3), np.uint8)] * 3)
    # 1920x1080 is detected at x0.33 (634x356), 2 frames per call
    assert detector.calls == [[(356, 634)] * 2, [(356, 634)]]
    assert len(faces) == 3
    np.testing.assert_allclose(faces[2][0].box, np.array([1, 2, 11, 22]) / 0.33)
    np.testing.assert_allclose(faces[2][0].landmarks, np.full((5, 2), [1, 2]) / 0.33)


def test_a_failing_batch_is_retried_frame_by_frame_and_a_failing_frame_raises() -> None:
    frames = [np.full((400, 400, 3), value, np.uint8) for value in (0, 0)]
    detector = _Recorder(CropConfig(), fail_on=7)
    assert [len(f) for f in detector.detect(frames)] == [1, 1]
    assert [len(c) for c in detector.calls] == [2, 1, 1]
    with pytest.raises(DetectorError, match="Recorder failed on a 400x400 frame: this frame"):
        detector.detect([np.full((400, 400, 3), 7, np.uint8)])


def test_no_landmarks_map_back_as_none() -> None:
    assert Face((10, 20, 30, 40), 0.5).scaled(0.5).landmarks is None
    assert Face((10, 20, 30, 40), 0.5).scaled(0.5).box == (20.0, 40.0, 60.0, 80.0)


def test_empty_input_and_bad_frames() -> None:
    detector = _Recorder(CropConfig())
    assert detector.detect([]) == []
    with pytest.raises(ValueError, match="RGB uint8"):
        detector.detect([np.zeros((4, 4), np.uint8)])
