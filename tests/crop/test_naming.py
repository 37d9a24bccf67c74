"""Crop file names: safe, unique, inside DST, and parsed back into the source's group."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import pytest

from dfembed.crop.naming import crop_file, crop_stems, group_from_stem, is_crop_name, is_tile_name, tile_file
from dfembed.crop.discovery import Source


def _source(relative: str, label: str = "unlabeled") -> Source:
    return Source(Path("/src") / relative, relative, label, relative)


def test_crop_names_stay_inside_dst_and_are_unique() -> None:
    sources = [_source("real/x.jpg", "real"), _source("x.jpg"), _source("x.png"), _source("..a/..b.jpg"),
               _source("sp ace/é.jpg"), _source("sp_ace/_.jpg"), _source("A.JPG"), _source("a.jpg")]
    stems = crop_stems(sources)
    assert stems["real/x.jpg"] == PurePosixPath("real/x_jpg")
    assert stems["x.png"] == PurePosixPath("unlabeled/x_png")
    names = [str(s).lower() for s in stems.values()]
    assert len(set(names)) == len(names)
    for stem in stems.values():
        assert ".." not in stem.parts and not stem.is_absolute()
        assert all(part and not part.startswith(".") for part in stem.parts)
    assert crop_file(stems["x.jpg"], 7, 1, "png") == PurePosixPath("unlabeled/x_jpg_f00007_01.png")


@pytest.mark.parametrize(
    ("stem", "group"),
    [("abarnvbtwb-003-01", "abarnvbtwb"), ("abarnvbtwb-003", "abarnvbtwb"), ("id12-clip-7-000-00", "id12-clip-7"),
     ("portrait", "portrait"), ("v1_mp4_f00012_01", "v1_mp4"), ("a_b_mp4_0123abcd_f00300_00", "a_b_mp4_0123abcd")],
)
def test_group_from_stem_drops_frame_and_face_indices(stem: str, group: str) -> None:
    assert group_from_stem(stem) == group


@pytest.mark.parametrize(
    ("name", "ours"),
    [("x_jpg_f00007_01.png", True), ("a_b_mp4_0123abcd_f00300_00.jpg", True), ("x_jpg_f7_1.png", False),
     ("photo.jpg", False), ("x_jpg_f00007_01.png.bak", False)],
)
def test_is_crop_name_recognises_only_crop_files(name: str, ours: bool) -> None:
    assert is_crop_name(name) is ours


def test_audio_tiles_use_the_crop_stem_and_are_recognised() -> None:
    stem = crop_stems([_source("fake/sub/abc.mp4", "fake")])["fake/sub/abc.mp4"]
    assert tile_file(stem, 12) == PurePosixPath("fake/sub/abc_mp4_t000012.png")
    assert group_from_stem("abc_mp4_t000012") == "abc_mp4"
    assert is_tile_name("abc_mp4_t000012.png") and not is_tile_name("abc_mp4_t12.png")
    assert not is_tile_name("abc_mp4_f00012_00.png") and not is_crop_name("abc_mp4_t000012.png")
