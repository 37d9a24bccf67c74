"""Ground truth for the detector comparison: dlib XML and CSV boxes, matching to files, counting hits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dfembed.core.errors import InputError
from dfembed.detectors.truth import count_matched, match_truth, read_truth, read_truths

XML = """<?xml version='1.0' encoding='ISO-8859-1'?>
<dataset><images>
  <image file='a.jpg'>
    <box top='10' left='20' width='30' height='40'/>
    <box top='0' left='0' width='5' height='5' ignore='1'/>
  </image>
  <image file='sub/b.jpg'/>
</images></dataset>
"""


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_dlib_xml_boxes_become_corners_without_ignored_ones(tmp_path: Path) -> None:
    truth = read_truth(_write(tmp_path / "t.xml", XML))
    np.testing.assert_allclose(truth["a.jpg"], [[20, 10, 50, 50]])  # left, top, left + width, top + height
    assert truth["sub/b.jpg"].shape == (0, 4)


def test_csv_with_corners_or_sizes_and_a_file_without_faces(tmp_path: Path) -> None:
    corners = read_truth(_write(tmp_path / "c.csv", "file,x1,y1,x2,y2\na.jpg,1,2,3,4\na.jpg,5,6,7,8\nb.jpg,,,,\n"))
    np.testing.assert_allclose(corners["a.jpg"], [[1, 2, 3, 4], [5, 6, 7, 8]])
    assert corners["b.jpg"].shape == (0, 4)
    sizes = read_truth(_write(tmp_path / "s.csv", "path,x,y,width,height\na.jpg,1,2,10,20\n"))
    np.testing.assert_allclose(sizes["a.jpg"], [[1, 2, 11, 22]])


def test_several_files_join_their_boxes(tmp_path: Path) -> None:
    one = _write(tmp_path / "one.csv", "file,x1,y1,x2,y2\na.jpg,1,2,3,4\n")
    two = _write(tmp_path / "two.csv", "file,x1,y1,x2,y2\na.jpg,5,6,7,8\n")
    np.testing.assert_allclose(read_truths([one, two])["a.jpg"], [[1, 2, 3, 4], [5, 6, 7, 8]])


@pytest.mark.parametrize(
    ("name", "text", "fragment"),
    [("bad.xml", "<images><image file='a.jpg'>", "not valid XML"),
     ("nofile.xml", "<images><image><box/></image></images>", "has no file attribute"),
     ("nonum.xml", "<images><image file='a.jpg'><box top='x' left='1' width='2' height='3'/></image></images>",
      "lacks a number"),
     ("cols.csv", "name,a,b\nx,1,2\n", "expected a file column"),
     ("nums.csv", "file,x1,y1,x2,y2\na.jpg,1,2,three,4\n", "line 2"),
     ("t.txt", "", "expected a dlib .xml file or a .csv")],
)
def test_bad_ground_truth_names_the_file_and_the_problem(tmp_path: Path, name: str, text: str, fragment: str) -> None:
    path = _write(tmp_path / name, text)
    with pytest.raises(InputError, match=fragment) as info:
        read_truth(path)
    assert str(path) in str(info.value)


def test_missing_ground_truth_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        read_truth(tmp_path / "none.xml")


def test_keys_match_by_relative_path_else_by_file_name() -> None:
    boxes = np.zeros((1, 4))
    matched = match_truth({"x/a.jpg": boxes, "b.jpg": boxes, "./c/d.png": boxes, "zzz.jpg": boxes},
                          ["x/a.jpg", "y/a.jpg", "deep/b.jpg", "c/d.png"])
    assert sorted(matched) == ["c/d.png", "deep/b.jpg", "x/a.jpg"]


def test_an_ambiguous_file_name_is_an_error() -> None:
    with pytest.raises(InputError, match="matches several files: x/a.jpg, y/a.jpg"):
        match_truth({"a.jpg": np.zeros((1, 4))}, ["x/a.jpg", "y/a.jpg"])


def test_count_matched_at_the_iou_threshold() -> None:
    truth = np.array([[0, 0, 10, 10], [100, 100, 110, 110]])
    # IoU of (0, 0, 10, 20) with the first box: 100 / 200 = 0.5, exactly the threshold
    assert count_matched(truth, np.array([[0, 0, 10, 20]]), 0.5) == 1
    assert count_matched(truth, np.array([[0, 0, 10, 20]]), 0.51) == 0
    assert count_matched(truth, np.zeros((0, 4)), 0.5) == 0
