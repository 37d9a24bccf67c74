"""Discovering SRC: layouts, labels, group keys, reported skips, and safe crop names."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dfembed.core.errors import InputError
from dfembed.crop.manifest import MANIFEST_COLUMNS, CsvAppender, read_rows
from dfembed.crop.discovery import Source
from dfembed.crop.sources import discover_sources
from tests.support import shared_path


def _touch(root: Path, *relatives: str) -> None:
    for relative in relatives:
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")


def test_labelled_tree_at_any_depth(tmp_path: Path) -> None:
    _touch(tmp_path, "real/a/b/c/one.JPG", "Fake/two.png", "fake/v.mp4", "notes.txt", "other/three.jpg")
    found = discover_sources(tmp_path)
    assert found.layout == "labelled"
    assert {(s.relative, s.label) for s in found.sources} == {
        ("real/a/b/c/one.JPG", "real"), ("Fake/two.png", "fake"), ("fake/v.mp4", "fake")}
    assert {(s.relative, s.reason) for s in found.skipped} == {
        ("notes.txt", "not a media file"), ("other/three.jpg", "outside real/ and fake/")}
    assert all(s.group == s.relative for s in found.sources)


def test_dfdc_folder_counts_missing_and_unlisted(tmp_path: Path) -> None:
    metadata = {"a.mp4": {"label": "FAKE", "original": "o.mp4"}, "o.mp4": {"label": "REAL", "original": None},
                "gone.mp4": {"label": "FAKE", "original": "o.mp4"}}
    (tmp_path / "metadata.json").write_text(json.dumps(metadata))
    _touch(tmp_path, "a.mp4", "o.mp4", "extra.mp4")
    found = discover_sources(tmp_path)
    assert found.layout == "dfdc"
    assert [(s.relative, s.label, s.group) for s in found.sources] == [
        ("a.mp4", "fake", "o.mp4"), ("o.mp4", "real", "o.mp4")]
    assert {(s.relative, s.reason) for s in found.skipped} == {
        ("gone.mp4", "missing file"), ("extra.mp4", "not listed in metadata.json")}


def test_dfdc_unsafe_names_are_reported_not_fatal(tmp_path: Path) -> None:
    src = tmp_path / "src"
    metadata = {"/etc/abs.mp4": {"label": "FAKE"}, "../up.mp4": {"label": "REAL"}, "ok.mp4": {"label": "REAL"}}
    (src / "sub").mkdir(parents=True)
    (src / "sub" / "metadata.json").write_text(json.dumps(metadata))
    _touch(src, "sub/ok.mp4")
    _touch(tmp_path, "up.mp4")
    found = discover_sources(src)
    assert [s.relative for s in found.sources] == ["sub/ok.mp4"]
    assert {(s.relative, s.label, s.reason) for s in found.skipped} == {
        ("/etc/abs.mp4", "fake", "unsafe name"), ("sub/../up.mp4", "real", "unsafe name")}


def test_shared_frames_tree_groups_by_original() -> None:
    found = discover_sources(shared_path("dfdc_sample", "frames"))
    assert found.layout == "labelled" and len(found.sources) == 55 and found.skipped == []
    groups = {s.relative: s.group for s in found.sources}
    assert groups["fake/aagfhgtpmv-000.png"] == "vudstovrck.mp4"  # a fake's original
    assert groups["real/abarnvbtwb-003.png"] == "abarnvbtwb.mp4"  # a real video's own name
    assert sum(s.label == "real" for s in found.sources) == 11


def test_shared_video_folder() -> None:
    found = discover_sources(shared_path("dfdc_sample", "videos"))
    assert [s.relative for s in found.sources] == ["abofeumbvv.mp4", "abqwwspghj.mp4"]
    reasons = sorted(s.reason for s in found.skipped)
    assert reasons == ["missing file"] * 3 + ["not listed in metadata.json"]


def test_unlabelled_with_group_regex(tmp_path: Path) -> None:
    _touch(tmp_path, "p1/img_001.jpg", "p1/img_002.jpg", "p2/x.png")
    found = discover_sources(tmp_path, group_regex=r"^(p\d)/")
    assert found.layout == "unlabelled"
    assert [(s.label, s.group) for s in found.sources] == [("unlabeled", "p1"), ("unlabeled", "p1"),
                                                           ("unlabeled", "p2")]
    assert discover_sources(tmp_path).sources[0].group == "p1/img_001.jpg"


def test_missing_src_and_bad_metadata(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        discover_sources(tmp_path / "absent")
    (tmp_path / "metadata.json").write_text('{"a.mp4": {"label": "MAYBE"}}')
    with pytest.raises(InputError, match="metadata.json: entry 'a.mp4' has no label"):
        discover_sources(tmp_path)


def _source(relative: str, label: str = "unlabeled") -> Source:
    return Source(Path("/src") / relative, relative, label, relative)


def test_torn_last_line_is_dropped(tmp_path: Path) -> None:
    path = tmp_path / "manifest.csv"
    with CsvAppender(path, MANIFEST_COLUMNS) as out:
        out.append([dict.fromkeys(MANIFEST_COLUMNS, "1")])
    with open(path, "a", encoding="utf-8") as handle:
        handle.write("2,2,2")  # a write cut short by a kill
    assert read_rows(path, MANIFEST_COLUMNS) == [dict.fromkeys(MANIFEST_COLUMNS, "1")]
