"""Ground truth for the detector comparison: dlib XML and CSV boxes, matching to files, counting hits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dfembed.core.errors import InputError
from dfembed.detectors.truth import count_matched, fit_to_image, match_truth, read_truth, read_truths

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


@pytest.mark.parametrize(("name", "text", "fragment"), [
    ("nan.csv", "file,x1,y1,x2,y2\na.jpg,1,2,3,4\na.jpg,nan,2,30,40\n",
     "line 3: the box (x1=nan, y1=2, x2=30, y2=40) is not finite"),
    ("inf.csv", "file,x1,y1,x2,y2\na.jpg,1,2,inf,40\n", "line 2: the box (x1=1, y1=2, x2=inf, y2=40) is not finite"),
    ("huge.csv", "path,x,y,width,height\na.jpg,1,2,1e999,4\n",  # a number beyond float64 reads as infinity
     "line 2: the box (x=1, y=2, width=inf, height=4) is not finite"),
    ("inverted.csv", "file,x1,y1,x2,y2\na.jpg,30,2,10,40\n", "line 2: the box (x1=30, y1=2, x2=10, y2=40) is empty or"),
    ("flat.csv", "path,x,y,width,height\na.jpg,1,2,10,0\n", "the box (x=1, y=2, width=10, height=0) is empty or"),
    ("nan.xml", "<images><image file='a.jpg'><box top='1' left='1' width='2' height='2'/>"
                "<box top='NaN' left='1' width='2' height='2'/></image></images>",
     ": box 2 of a.jpg: the box (left=1, top=nan, width=2, height=2) is not finite"),
    ("negative.xml", "<images><image file='a.jpg'><box top='1' left='1' width='-2' height='2'/></image></images>",
     ": box 1 of a.jpg: the box (left=1, top=1, width=-2, height=2) is empty or inverted"),
])
def test_a_non_finite_or_empty_box_names_the_file_and_its_line_or_box(tmp_path: Path, name: str, text: str,
                                                                      fragment: str) -> None:
    path = _write(tmp_path / name, text)
    with pytest.raises(InputError) as info:
        read_truth(path)
    assert str(info.value).startswith(f"ground truth {path}") and fragment in str(info.value)


def test_boxes_partly_outside_the_image_are_clipped_and_wholly_outside_refused() -> None:
    boxes = np.array([[-10.0, 5.0, 30.0, 250.0], [10.0, 10.0, 20.0, 20.0]])
    # a 100 (wide) x 200 (high) image: the first box loses x < 0 and y > 200, the second stays
    np.testing.assert_array_equal(fit_to_image(boxes, 100, 200, "t.csv"), [[0, 5, 30, 200], [10, 10, 20, 20]])
    with pytest.raises(InputError, match=r"^t.csv, a.jpg: the box \(120, 10, 150, 40\) lies wholly outside the "
                                         r"100x200 image$"):
        fit_to_image(np.array([[120.0, 10.0, 150.0, 40.0]]), 100, 200, "t.csv, a.jpg")
    with pytest.raises(InputError, match=r"the box \(-30, -30, 0, 0\) lies wholly outside"):  # touches a corner only
        fit_to_image(np.array([[-30.0, -30.0, 0.0, 0.0]]), 100, 200, "t.csv")
