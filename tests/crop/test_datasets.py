"""FaceForensics++ and Celeb-DF v2 layouts: recognition, official splits, labels, groups, methods, reports."""

from __future__ import annotations

from pathlib import Path

import pytest

from dfembed.core.errors import ConfigError, InputError
from dfembed.crop.datasets import read_celebdf_list
from dfembed.crop.discovery import Selection
from dfembed.crop.sources import discover_sources
from tests.crop.trees import FFPP_TEST_PAIRS, FFPP_TRAIN_PAIR, celebdf_tree, ffpp_tree

YT = "original_sequences/youtube/c23/videos"


def _by_relative(discovery) -> dict[str, object]:
    return {s.relative: s for s in discovery.sources}


@pytest.fixture(scope="module")
def ffpp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = ffpp_tree(tmp_path_factory.mktemp("ffpp") / "FaceForensics++")
    (root / "manipulated_sequences/Deepfakes/masks/videos").mkdir(parents=True)
    (root / "manipulated_sequences/Deepfakes/masks/videos/953_974.mp4").write_bytes(b"mask")  # not a c23 video
    (root / "original_sequences/youtube/c40/videos").mkdir(parents=True)
    (root / "original_sequences/youtube/c40/videos/953.mp4").write_bytes(b"other quality")
    (root / f"{YT}/notes.txt").write_text("not a video")
    return root


def test_ffpp_is_recognised_and_the_test_split_taken(ffpp: Path) -> None:
    selection = Selection(split="test", methods=("Deepfakes", "FaceSwap"))
    discovery = discover_sources(ffpp, selection=selection)
    assert discovery.layout == "ffpp"
    sources = _by_relative(discovery)
    ids = sorted(i for pair in FFPP_TEST_PAIRS for i in pair)
    fakes = sorted(f"{a}_{b}" for t, s in FFPP_TEST_PAIRS for a, b in ((t, s), (s, t)))
    expected = {f"{YT}/{i}.mp4" for i in ids} | {
        f"manipulated_sequences/{m}/c23/videos/{f}.mp4" for m in ("Deepfakes", "FaceSwap") for f in fakes}
    assert set(sources) == expected  # the train pair 071/054, masks and c40 are left out
    original, fake = sources[f"{YT}/953.mp4"], sources["manipulated_sequences/FaceSwap/c23/videos/974_953.mp4"]
    assert (original.label, original.method) == ("real", "")
    assert (fake.label, fake.method) == ("fake", "FaceSwap")
    # a pair is one group: both originals and both fakes, whichever is target
    assert original.group == fake.group == sources[f"{YT}/974.mp4"].group == "youtube/953+974"


def test_ffpp_reports_missing_listed_videos_and_folders(ffpp: Path) -> None:
    discovery = discover_sources(ffpp, selection=Selection(split="val", methods=("Deepfakes", "Face2Face")))
    reasons = {(s.relative, s.reason) for s in discovery.skipped}
    assert ("manipulated_sequences/Face2Face/c23/videos", "missing folder") in reasons
    missing = [s for s in discovery.skipped if s.reason == "missing file"]
    # the tree holds no val video: 140 originals and 140 Deepfakes fakes are listed and absent
    assert len(missing) == 140 + 140 and not discovery.sources
    assert (f"{YT}/notes.txt", "not a media file") in reasons


def test_ffpp_all_takes_every_listed_pair_with_its_pair_group(ffpp: Path) -> None:
    sources = _by_relative(discover_sources(ffpp, selection=Selection(layout="ffpp", methods=("Deepfakes",))))
    target, source = FFPP_TRAIN_PAIR
    assert sources[f"manipulated_sequences/Deepfakes/c23/videos/{target}_{source}.mp4"].group == "youtube/054+071"
    assert len(sources) == 8 + 8  # 4 pairs: 8 originals, 8 Deepfakes fakes


def test_ffpp_deepfakedetection_needs_split_all(ffpp: Path) -> None:
    with pytest.raises(ConfigError, match="DeepFakeDetection is in none of"):
        discover_sources(ffpp, selection=Selection(split="test", methods=("DeepFakeDetection",)))


def test_ffpp_deepfakedetection_groups_a_fake_with_its_target_scene(tmp_path: Path) -> None:
    root = tmp_path / "ffpp"
    for name in ("original_sequences/actors/c23/videos/01__kitchen_pan.mp4",
                 "manipulated_sequences/DeepFakeDetection/c23/videos/01_02__kitchen_pan__ABCD1234.mp4"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(b"x")
    discovery = discover_sources(root, selection=Selection(methods=("DeepFakeDetection",)))
    groups = {s.label: s.group for s in discovery.sources}
    assert groups == {"real": "actors/01__kitchen_pan", "fake": "actors/01__kitchen_pan"}


@pytest.fixture(scope="module")
def celebdf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return celebdf_tree(tmp_path_factory.mktemp("celebdf") / "Celeb-DF-v2")


@pytest.mark.parametrize(
    ("split", "expected"),
    [("test", {"Celeb-real/id0_0000.mp4": "real", "YouTube-real/00001.mp4": "real",
               "Celeb-synthesis/id0_id1_0000.mp4": "fake"}),
     ("train", {"Celeb-real/id1_0003.mp4": "real", "Celeb-synthesis/id1_id0_0003.mp4": "fake"})],
)
def test_celebdf_splits_follow_the_test_list(celebdf: Path, split: str, expected: dict[str, str]) -> None:
    discovery = discover_sources(celebdf, selection=Selection(split=split))
    assert discovery.layout == "celebdf"
    assert {s.relative: s.label for s in discovery.sources} == expected


def test_celebdf_groups_and_method(celebdf: Path) -> None:
    sources = _by_relative(discover_sources(celebdf))
    fake = sources["Celeb-synthesis/id1_id0_0003.mp4"]
    assert (fake.group, fake.method) == ("Celeb-real/id1_0003", "Celeb-synthesis")
    assert sources["Celeb-real/id1_0003.mp4"].group == fake.group
    assert sources["YouTube-real/00001.mp4"].method == ""


def test_celebdf_list_says_1_for_real_and_0_for_fake(tmp_path: Path) -> None:
    path = tmp_path / "List_of_testing_videos.txt"
    path.write_text("1 YouTube-real/00001.mp4\n\n0 Celeb-synthesis/id0_id1_0000.mp4\n")
    assert read_celebdf_list(path) == {"YouTube-real/00001.mp4": 0, "Celeb-synthesis/id0_id1_0000.mp4": 1}
    path.write_text("1 YouTube-real/00001.mp4\nREAL Celeb-real/id0_0000.mp4\n")
    with pytest.raises(InputError, match="line 2"):
        read_celebdf_list(path)


def test_celebdf_list_contradicting_a_folder_is_an_error(tmp_path: Path) -> None:
    root = celebdf_tree(tmp_path / "c")
    (root / "List_of_testing_videos.txt").write_text("1 Celeb-synthesis/id0_id1_0000.mp4\n")
    with pytest.raises(InputError, match="lists Celeb-synthesis/id0_id1_0000.mp4 as 1 \\(real\\)"):
        discover_sources(root)


def test_celebdf_missing_listed_video_and_missing_list(tmp_path: Path) -> None:
    root = celebdf_tree(tmp_path / "c")
    (root / "YouTube-real/00001.mp4").unlink()
    missing = [s for s in discover_sources(root, selection=Selection(split="test")).skipped if s.reason == "missing file"]
    assert [(s.relative, s.label) for s in missing] == [("YouTube-real/00001.mp4", "real")]
    (root / "List_of_testing_videos.txt").unlink()
    with pytest.raises(InputError, match="List_of_testing_videos.txt is missing"):
        discover_sources(root, selection=Selection(split="test"))
    assert len(discover_sources(root).sources) == 4  # split all needs no list


def test_celebdf_has_no_validation_split(celebdf: Path) -> None:
    with pytest.raises(ConfigError, match="no validation list"):
        discover_sources(celebdf, selection=Selection(split="val"))


def test_forced_layout_wins_over_recognition(celebdf: Path) -> None:
    discovery = discover_sources(celebdf, selection=Selection(layout="unlabelled"))
    assert discovery.layout == "unlabelled" and all(s.label == "unlabeled" for s in discovery.sources)
