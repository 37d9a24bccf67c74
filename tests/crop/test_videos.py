"""A crop folder read as videos, on hand-made manifests: order, labels, groups, gaps and the face track."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from dfembed.core.errors import InputError
from dfembed.crop.videos import read_crop_videos, video_of

COLUMNS = ("source", "label", "group", "frame_index", "face_index", "x1", "y1", "x2", "y2", "crop")
LEFT, RIGHT = (0, 0, 40, 40), (100, 0, 150, 50)  # two people; the right one is larger


def _manifest(root: Path, rows: list[tuple], columns: tuple[str, ...] = COLUMNS) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    lines = [",".join(columns)] + [",".join(str(v) for v in row) for row in rows]
    (root / "manifest.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


def _row(source: str, label: str, group: str, frame: int, face: int, box: tuple, crop: str) -> tuple:
    return (source, label, group, frame, face, *box, crop)


def test_rows_in_any_order_become_timelines_in_frame_order_with_labels_and_groups(tmp_path: Path) -> None:
    root = _manifest(tmp_path / "crops", [
        _row("fake/b.mp4", "fake", "orig.mp4", 20, 0, RIGHT, "fake/b_mp4_f00020_00.jpg"),
        _row("real/a.mp4", "real", "a.mp4", 5, 0, LEFT, "real/a_mp4_f00005_00.jpg"),
        _row("fake/b.mp4", "fake", "orig.mp4", 0, 0, RIGHT, "fake/b_mp4_f00000_00.jpg"),
        _row("fake/b.mp4", "fake", "orig.mp4", 10, 0, RIGHT, "fake/b_mp4_f00010_00.jpg"),
        _row("unlabeled/c.mp4", "unlabeled", "c.mp4", 3, 0, LEFT, "unlabeled/c_mp4_f00003_00.jpg"),
        _row("real/photo.jpg", "real", "real/photo.jpg", 0, 0, LEFT, "real/photo_jpg_f00000_00.jpg"),
    ])
    found = read_crop_videos(root)
    assert [(v.video, v.label, v.group, v.frames) for v in found.videos] == [
        ("fake/b.mp4", 1, "orig.mp4", (0, 10, 20)), ("real/a.mp4", 0, "a.mp4", (5,)),
        ("unlabeled/c.mp4", None, "c.mp4", (3,)),
    ]
    assert found.videos[0].crops == ("fake/b_mp4_f00000_00.jpg", "fake/b_mp4_f00010_00.jpg", "fake/b_mp4_f00020_00.jpg")
    assert found.not_frames == ("real/photo.jpg",)  # an image that is no video frame
    assert set(found.partial) == {"fake/b.mp4", "real/a.mp4", "unlabeled/c.mp4"}  # no source video to read


def test_a_second_face_does_not_enter_the_track_and_its_frame_is_a_gap(tmp_path: Path) -> None:
    root = _manifest(tmp_path / "crops", [
        _row("fake/v.mp4", "fake", "v", 0, 0, RIGHT, "r0.jpg"), _row("fake/v.mp4", "fake", "v", 0, 1, LEFT, "l0.jpg"),
        _row("fake/v.mp4", "fake", "v", 1, 0, LEFT, "l1.jpg"),  # only the other person
        _row("fake/v.mp4", "fake", "v", 2, 0, RIGHT, "r2.jpg"),
    ])
    (video,) = read_crop_videos(root, track="iou").videos
    assert video.crops == ("r0.jpg", None, "r2.jpg") and video.faces == 2
    np.testing.assert_array_equal(video.mask, [True, False, True])
    (largest,) = read_crop_videos(root, track="largest").videos
    assert largest.crops == ("r0.jpg", "l1.jpg", "r2.jpg")


def test_image_frames_form_a_video_and_images_without_a_face_are_gaps(tmp_path: Path) -> None:
    root = _manifest(tmp_path / "crops", [
        _row("fake/abc-003.png", "fake", "orig.mp4", 0, 0, LEFT, "fake/abc-003_png_f00000_00.png"),
        _row("fake/abc-000.png", "fake", "orig.mp4", 0, 0, LEFT, "fake/abc-000_png_f00000_00.png"),
        _row("fake/abc-001.png", "fake", "orig.mp4", 0, 0, LEFT, "fake/abc-001_png_f00000_00.png"),
    ])
    journal = ["source,label,group,status,crops,detail"] + [
        f"fake/abc-{k:03d}.png,fake,orig.mp4,{'no face' if k == 2 else 'cropped'},{0 if k == 2 else 1}," for k in range(4)
    ] + ["fake/xyz-000.png,fake,x.mp4,no face,0,"]
    (root / "sources.csv").write_text("\n".join(journal) + "\n", encoding="utf-8")
    found = read_crop_videos(root)
    (video,) = found.videos
    assert (video.video, video.frames, video.faces) == ("fake/abc", (0, 1, 2, 3), 3)
    assert video.crops[2] is None and video.crops[3] == "fake/abc-003_png_f00000_00.png"
    assert found.no_face == ("fake/xyz",) and found.partial == ()


def test_a_video_timeline_is_the_crop_runs_sample_of_the_source(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "fake").mkdir(parents=True)
    writer = cv2.VideoWriter(str(src / "fake" / "v.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 10, (32, 32))
    for _ in range(10):
        writer.write(np.zeros((32, 32, 3), np.uint8))
    writer.release()
    root = _manifest(tmp_path / "crops", [_row("fake/v.avi", "fake", "v", f, 0, LEFT, f"c{f}.jpg") for f in (0, 6)])
    record = {"src": str(src), "config": {"frames_per_video": 4}}
    (root / "dfembed-crop.json").write_text(json.dumps(record), encoding="utf-8")
    (video,) = read_crop_videos(root).videos
    # sample_indices(10, 4): linspace(0, 9, 4) = 0, 3, 6, 9
    assert (video.frames, video.crops) == ((0, 3, 6, 9), ("c0.jpg", None, "c6.jpg", None))
    record["config"]["frames_per_video"] = 3  # 0, 4.5→4, 9: frame 6 is not in it, so the sample is another run's
    (root / "dfembed-crop.json").write_text(json.dumps(record), encoding="utf-8")
    found = read_crop_videos(root)
    assert found.videos[0].frames == (0, 6) and found.partial == ("fake/v.avi",)


def test_video_of_names_videos_and_frames() -> None:
    assert video_of("fake/a.mp4") == ("fake/a.mp4", None)
    assert video_of("fake/sub/abc-012.png") == ("fake/sub/abc", 12)
    assert video_of("abc-7.jpg") == ("abc", 7)
    assert video_of("leaderboard/image_00001.jpg") is None and video_of("notes.txt") is None


@pytest.mark.parametrize(
    ("columns", "track", "fragment"),
    [(("source", "label", "crop"), "largest", "missing column"),
     (("source", "label", "group", "frame_index", "face_index", "crop"), "iou", "use --track largest")],
)
def test_missing_columns_are_named(tmp_path: Path, columns: tuple[str, ...], track: str, fragment: str) -> None:
    root = _manifest(tmp_path / "crops", [tuple("x" for _ in columns)], columns)
    with pytest.raises(InputError, match=fragment):
        read_crop_videos(root, track=track)


def test_a_manifest_without_boxes_can_use_the_largest_face(tmp_path: Path) -> None:
    columns = ("source", "label", "group", "frame_index", "face_index", "crop")
    root = _manifest(tmp_path / "crops", [("a.mp4", "real", "a", 0, 1, "small.jpg"), ("a.mp4", "real", "a", 0, 0, "big.jpg")],
                     columns)
    assert read_crop_videos(root, track="largest").videos[0].crops == ("big.jpg",)


def test_no_manifest_or_no_video_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="holds no manifest.csv"):
        read_crop_videos(tmp_path)
    root = _manifest(tmp_path / "crops", [_row("real/photo.jpg", "real", "p", 0, 0, LEFT, "p.jpg")])
    with pytest.raises(InputError, match="no video or video frames"):
        read_crop_videos(root)
