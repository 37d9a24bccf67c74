"""Listing training crops: labels, groups from the manifest or the crop names, unreadable files."""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest

from dfembed.core.errors import InputError
from dfembed.crop.naming import crop_file, crop_stems
from dfembed.crop.discovery import Source
from dfembed.train.crops import list_crops
from tests.train.trees import write_tree


def test_crop_face_names_group_by_source_without_a_manifest(tmp_path: Path) -> None:
    # Real crop names from the crop stage's own naming; "a b.mp4" is renamed, so its stem gets a hash.
    sources = [Source(tmp_path / rel, rel, rel.split("/")[0], "") for rel in ("real/v1.mp4", "fake/x/a b.mp4")]
    stems = crop_stems(sources)
    for source in sources:
        for frame, face in ((0, 0), (12, 0), (12, 1), (300, 0)):
            path = tmp_path / "data" / crop_file(stems[source.relative], frame, face, "png")
            path.parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(path), np.zeros((8, 8, 3), np.uint8))
    groups = {c.path.parent.name + "|" + c.group for c in list_crops(tmp_path / "data").crops}
    assert len(groups) == 2
    assert "real|v1_mp4" in groups
    assert any(g.startswith("x|a_b_mp4_") and len(g) == len("x|a_b_mp4_") + 8 for g in groups)


def test_lists_images_at_any_depth_with_labels_and_groups(tmp_path: Path) -> None:
    root = write_tree(tmp_path, {"real": {"rvideo": 3}, "fake": {"fvideo": 2, "gvideo": 1}})
    crops = list_crops(root).crops
    assert Counter(c.label for c in crops) == {0: 3, 1: 3}
    assert {c.group for c in crops} == {"rvideo", "fvideo", "gvideo"}


def test_manifest_groups_win_over_file_names(tmp_path: Path) -> None:
    root = write_tree(tmp_path, {"real": {"orig": 2}, "fake": {"deep": 2}})
    lines = ["source,label,group,crop"] + [
        f"x.mp4,{p.parent.parent.name},orig,{p.relative_to(root).as_posix()}" for p in sorted(root.rglob("*.png"))
    ]
    (root / "manifest.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert {c.group for c in list_crops(root).crops} == {"orig"}


def test_manifest_without_group_column_is_an_error(tmp_path: Path) -> None:
    root = write_tree(tmp_path, {"real": {"a": 1}, "fake": {"b": 1}})
    (root / "manifest.csv").write_text("source,label,crop\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"manifest.csv: missing column\(s\) group"):
        list_crops(root)


def test_unreadable_crops_are_skipped_and_counted(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    root = write_tree(tmp_path, {"real": {"a": 2}, "fake": {"b": 2}})
    (root / "real" / "broken-000-00.png").write_bytes(b"this is not a PNG")
    (root / "fake" / "empty-000-00.jpg").write_bytes(b"")
    with caplog.at_level(logging.WARNING, logger="dfembed"):
        crops = list_crops(root, workers=2)
    assert len(crops.crops) == 4
    assert sorted(p.name for p, _ in crops.unreadable) == ["broken-000-00.png", "empty-000-00.jpg"]
    assert "skipped 2 unreadable crop(s) of 6" in caplog.text


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda root: None, "does not exist"),
        (lambda root: (root / "real").mkdir(parents=True), "has no fake/ folder"),
        (lambda root: [(root / n).mkdir(parents=True) for n in ("real", "fake")], "holds no image"),
    ],
)
def test_missing_or_empty_class_folders_are_errors(tmp_path: Path, make, message: str) -> None:
    root = tmp_path / "data"
    make(root)
    with pytest.raises(InputError, match=message):
        list_crops(root)


def test_a_class_with_only_unreadable_files_is_an_error(tmp_path: Path) -> None:
    root = write_tree(tmp_path, {"real": {"a": 2}})
    (root / "fake").mkdir()
    (root / "fake" / "x.png").write_bytes(b"junk")
    with pytest.raises(InputError, match=r"fake: no readable image \(1 unreadable"):
        list_crops(root)
