"""Submission CSVs: format detection, order and extra columns kept, matching, errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from dfembed.core.errors import ConfigError, InputError, OutputExistsError
from dfembed.infer.submission import (
    DACON,
    DFDC,
    choose_format,
    default_output,
    detect_format,
    fill,
    format_value,
    match_rows,
    new_submission,
    read_submission,
    write_submission,
)

REPO = Path(__file__).resolve().parents[2]
TEMPLATES = REPO / "dfembed" / "resources" / "templates"


def _write(tmp_path: Path, text: str, name: str = "sub.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    return path


def test_templates_are_recognised() -> None:
    assert read_submission(TEMPLATES / "dacon_submission.csv").format == DACON
    assert read_submission(TEMPLATES / "dfdc_submission.csv").format == DFDC


def test_detect_format_by_header() -> None:
    assert detect_format(["path", "y"]) == DACON
    assert detect_format(["id", "filename", "label"]) == DFDC
    with pytest.raises(InputError, match="both"):
        detect_format(["path", "y", "filename", "label"])


def test_order_and_extra_columns_kept_through_fill_and_write(tmp_path: Path) -> None:
    src = _write(tmp_path, "\ufeffid,path,y,note\n7,b.jpg,0,x\n3,a.jpg,0,\"q,r\"\n")
    sub = read_submission(src)
    assert sub.keys == ["b.jpg", "a.jpg"]
    out = write_submission(fill(sub, ["0.250000", "1"]), tmp_path / "out.csv")
    assert out.read_text() == 'id,path,y,note\n7,b.jpg,0.250000,x\n3,a.jpg,1,"q,r"\n'


def test_write_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    sub = new_submission(["a.mp4"], DFDC)
    target = _write(tmp_path, "old\n", "out.csv")
    with pytest.raises(OutputExistsError, match="--force"):
        write_submission(sub, target)
    assert target.read_text() == "old\n"
    write_submission(fill(sub, ["0.5"]), target, force=True)
    assert target.read_text() == "filename,label\na.mp4,0.5\n"


def test_match_by_relative_path_then_basename() -> None:
    files = ["leaderboard/img_1.jpg", "other/img_1.jpg", "x/y/clip.mp4", "extra.png"]
    keys = ["leaderboard/img_1.jpg", "clip.mp4", "y/clip.mp4", "absent.jpg"]
    matching = match_rows(keys, files)
    assert matching.row_files == ["leaderboard/img_1.jpg", "x/y/clip.mp4", "x/y/clip.mp4", None]
    assert matching.missing_rows == ["absent.jpg"]
    assert matching.unmatched_files == ["other/img_1.jpg", "extra.png"]


def test_dacon_keys_match_when_test_is_the_leaderboard_folder() -> None:
    matching = match_rows(["leaderboard/image_00001.jpg", ".\\leaderboard\\image_00002.jpg"],
                          ["image_00002.jpg", "image_00001.jpg"])
    assert matching.row_files == ["image_00001.jpg", "image_00002.jpg"]
    assert matching.unmatched_files == []


def test_ambiguous_basename_is_an_error() -> None:
    with pytest.raises(InputError, match=r"'img\.jpg' matches several files \(a/img\.jpg, b/img\.jpg\)"):
        match_rows(["img.jpg"], ["a/img.jpg", "b/img.jpg"])
    with pytest.raises(InputError, match="matches several files"):
        match_rows(["c/img.jpg"], ["a/img.jpg", "b/img.jpg"])


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "is empty"),
        ("name,score\na.jpg,0\n", "not a known submission format"),
        ("path,y\na.jpg,0,1\n", "line 2: 3 fields where the header has 2"),
        ("path,y\na.jpg\n", "line 2: 1 fields"),
        ("path,y\n,0\n", "row 1: the file column is empty"),
        ("path,y\na.jpg,0\na.jpg,1\n", "'a.jpg' appears in more than one row"),
    ],
)
def test_bad_csv_errors_name_the_file(tmp_path: Path, text: str, fragment: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(InputError, match=fragment) as info:
        read_submission(path)
    assert str(path) in str(info.value)


def test_non_utf8_csv(tmp_path: Path) -> None:
    path = tmp_path / "sub.csv"
    path.write_bytes(b"path,y\n\xff\xfe.jpg,0\n")
    with pytest.raises(InputError, match="not UTF-8"):
        read_submission(path)


def test_format_value_modes() -> None:
    assert format_value(0.1234567) == "0.123457"
    assert format_value(0.001, clip=(0.01, 0.99)) == "0.010000"
    assert format_value(0.999, clip=(0.01, 0.99)) == "0.990000"
    assert format_value(0.5, hard_labels=True) == "0"
    assert format_value(0.51, hard_labels=True) == "1"
    assert format_value(0.3, hard_labels=True, threshold=0.2) == "1"


def test_choose_format_for_new_submission() -> None:
    assert choose_format("auto", ["a.mp4", "b/c.MP4", "d.mkv"]) == DFDC
    assert choose_format("auto", ["a.mp4", "b.jpg"]) == DACON
    assert choose_format("auto", []) == DACON
    assert choose_format("dfdc", ["b.jpg"]) == DFDC
    with pytest.raises(ConfigError, match="unknown submission format 'kaggle'"):
        choose_format("kaggle", [])


def test_default_output(tmp_path: Path) -> None:
    existing = _write(tmp_path, "path,y\n")
    assert default_output(existing) == tmp_path / "sub_out.csv"
    assert default_output(tmp_path / "new.csv") == tmp_path / "new.csv"
