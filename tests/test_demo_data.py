"""The embedded demo data: its portraits and their sources, the generator's determinism, the face swaps."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import cv2
import numpy as np
import pytest

from dfembed.core.errors import OutputExistsError
from dfembed.demo_data import (
    FACES_FILE,
    PORTRAITS,
    RECORD_NAME,
    SOURCES_FILE,
    DemoDataConfig,
    View,
    face_swap,
    feather,
    load_portraits,
    view_matrix,
    write_demo_data,
)
from dfembed.faces.alignment import apply_affine, similarity_transform
from dfembed.faces.media import read_image, sample_video_frames
from dfembed.faces.regions import landmark_outline, polygon_mask

SMALL = DemoDataConfig(views=2, view_size=96, video_frames=3)


def _sections(text: str) -> dict[str, str]:
    """``## name`` heading → the text below it, up to the next heading."""
    parts = re.split(r"^## (.+)$", text, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2]))


def test_every_embedded_file_is_listed_in_the_sources_with_its_licence() -> None:
    sections = _sections((PORTRAITS / SOURCES_FILE).read_text(encoding="utf-8"))
    images = sorted(p.name for p in PORTRAITS.glob("*.jpg"))
    assert images == ["collins.jpg", "hopper.jpg"]
    for name in images:
        section = sections[name]
        for field in ("Subject", "Author/agency", "Source", "Licence", "Changes"):
            assert f"**{field}:**" in section, (name, field)
        assert re.search(r"\*\*Licence:\*\* public domain", section), name
    assert FACES_FILE in sections


def test_the_portraits_are_modest_jpegs_listed_in_faces_json() -> None:
    listed = json.loads((PORTRAITS / FACES_FILE).read_text(encoding="utf-8"))["portraits"]
    assert sorted(entry["file"] for entry in listed.values()) == ["collins.jpg", "hopper.jpg"]
    assert sum(p.stat().st_size for p in PORTRAITS.iterdir()) < 200_000
    for portrait in load_portraits():
        assert max(portrait.image.shape[:2]) <= 512
        x1, y1, x2, y2 = portrait.box
        inside = (portrait.landmarks >= [x1, y1]) & (portrait.landmarks <= [x2, y2])
        assert inside.all(), portrait.name  # eyes, nose and mouth lie in the face box


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != RECORD_NAME}


def test_the_same_seed_writes_the_same_bytes_and_another_seed_other_bytes(tmp_path: Path) -> None:
    first = _files(write_demo_data(tmp_path / "a", SMALL).folder)
    again = _files(write_demo_data(tmp_path / "b", SMALL).folder)
    other = _files(write_demo_data(tmp_path / "c", dataclasses.replace(SMALL, seed=1)).folder)
    assert first == again
    assert first.keys() == other.keys()
    media = [name for name in first if not name.endswith(".json")]
    assert len(media) == 2 * 4 + 4  # two views of each of four scenes, one clip per scene
    assert all(first[name] != other[name] for name in media)


def test_the_data_set_is_labelled_as_the_crop_and_evaluate_stages_read_it(tmp_path: Path) -> None:
    from dfembed.evaluate.labels import read_labels

    data = write_demo_data(tmp_path / "data", SMALL)
    frames = read_labels(data.folder / "frames").labels
    assert sorted(frames.values()) == [0, 0, 0, 0, 1, 1, 1, 1]  # 2 portraits and 2 swaps, 2 views each
    assert all(key.startswith("fake/") == bool(label) for key, label in frames.items())
    videos = read_labels(data.folder / "videos").labels
    assert videos == {"collins.mp4": 0, "hopper.mp4": 0, "hopper-face-on-collins.mp4": 1,
                      "collins-face-on-hopper.mp4": 1}
    assert data.counts == {"frames real": 4, "frames fake": 4, "videos real": 2, "videos fake": 2}
    clip = sample_video_frames(data.folder / "videos" / "collins.mp4", 3)
    assert [frame.shape for _, frame in clip] == [(96, 96, 3)] * 3
    assert read_image(data.folder / "frames" / "real" / "hopper-001.jpg").shape == (96, 96, 3)


def test_a_folder_is_replaced_only_when_its_record_names_every_file(tmp_path: Path) -> None:
    folder = write_demo_data(tmp_path / "data", SMALL).folder
    write_demo_data(folder, SMALL)  # an earlier demo data set: replaced
    (folder / "frames" / "real" / "mine.jpg").write_bytes(b"a user's file")
    with pytest.raises(OutputExistsError, match="mine.jpg: not written by dfembed"):
        write_demo_data(folder, SMALL)
    assert (folder / "frames" / "real" / "mine.jpg").read_bytes() == b"a user's file"


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("direction", ["hopper onto collins", "collins onto hopper"])
def test_a_swap_shows_the_source_face_inside_and_the_target_outside(direction: str, seed: int) -> None:
    collins, hopper = load_portraits()
    source, target = (hopper, collins) if direction.startswith("hopper") else (collins, hopper)
    swap = face_swap(source, target, np.random.default_rng(seed))
    height, width = target.image.shape[:2]
    region = polygon_mask((height, width), landmark_outline(target.landmarks, forehead=False))

    outside = region == 0
    assert np.array_equal(swap.image[outside], target.image[outside])  # the target untouched beyond the face
    core = cv2.erode(region, np.ones((15, 15), np.uint8)) > 0
    aligned = cv2.warpAffine(source.image, similarity_transform(source.landmarks, target.landmarks), (width, height))

    def mean_difference(image: np.ndarray) -> float:
        return float(np.abs(swap.image[core].astype(float) - image[core]).mean())

    def correlation(image: np.ndarray) -> float:
        gray = [cv2.cvtColor(x, cv2.COLOR_RGB2GRAY)[core].astype(float) for x in (swap.image, image)]
        return float(np.corrcoef(*gray)[0, 1])

    # inside, it is neither real face: far from the target's pixels, and recoloured from the source's
    assert mean_difference(target.image) > 15 and mean_difference(aligned) > 15
    # but its structure is the source's face (the eyes, nose and mouth of the other person)
    assert correlation(aligned) > 0.7 > correlation(target.image) + 0.15


def test_feather_keeps_within_the_region_and_reaches_one_inside() -> None:
    region = np.zeros((40, 40), np.float32)
    region[10:30, 5:35] = 1.0
    soft = feather(region, 4)
    assert soft[region == 0].max() == 0.0  # erosion by 4, blur within 4: nothing leaks out
    assert soft[20, 20] == pytest.approx(1.0, abs=1e-6)  # 10 px from every edge: fully the source
    assert 0.0 < soft[10, 20] < soft[14, 20] < soft[18, 20] <= 1.0  # rising inwards from the edge
    assert np.array_equal(feather(region, 0), region)


def test_view_matrix_centres_scales_rotates_and_mirrors() -> None:
    # a 50 px window centred on (100, 60), shown at 101 px: scale 2.02, the centre lands on pixel 50
    plain = view_matrix(View((100.0, 60.0), 50.0, 0.0, False, 1.0, 0.0), 101)
    points = apply_affine(plain, np.array([[100.0, 60.0], [110.0, 60.0], [100.0, 50.0]]))
    np.testing.assert_allclose(points, [[50.0, 50.0], [70.2, 50.0], [50.0, 29.8]], atol=1e-9)
    # rotated 90° counter-clockwise: a point to the right of the centre moves above it
    turned = view_matrix(View((100.0, 60.0), 50.0, 90.0, False, 1.0, 0.0), 101)
    np.testing.assert_allclose(apply_affine(turned, np.array([[110.0, 60.0]])), [[50.0, 29.8]], atol=1e-9)
    # mirrored: x runs from the right edge, pixel 0 ↔ pixel 100
    mirrored = view_matrix(View((100.0, 60.0), 50.0, 0.0, True, 1.0, 0.0), 101)
    np.testing.assert_allclose(apply_affine(mirrored, np.array([[110.0, 60.0]])), [[29.8, 50.0]], atol=1e-9)


@pytest.mark.slow
def test_the_stored_faces_are_where_the_detector_finds_them() -> None:
    from dfembed.faces.config import CropConfig
    from dfembed.faces.detector import build_detector

    detector = build_detector(CropConfig())
    for portrait in load_portraits():
        faces = detector.detect([portrait.image])[0]
        assert len(faces) == 1, portrait.name
        np.testing.assert_allclose(faces[0].box, portrait.box, atol=0.1)  # faces.json rounds to 0.1 px
        np.testing.assert_allclose(faces[0].landmarks, portrait.landmarks, atol=0.1)
