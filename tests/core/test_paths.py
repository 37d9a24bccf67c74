"""Containment, distinct outputs, overlapping folders and writable folders: the checks before any work."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dfembed.core.errors import ConfigError, InputError, OutputError
from dfembed.core.paths import (
    check_distinct,
    check_inside,
    check_separate,
    check_writable,
    contained,
    remove_inside,
)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """``out/`` with a plain folder, a link to a folder outside it and a link to a folder inside it."""
    (tmp_path / "out" / "plain").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "out" / "escape").symlink_to(tmp_path / "elsewhere")
    (tmp_path / "out" / "inner").symlink_to(tmp_path / "out" / "plain")
    return tmp_path


def test_containment_follows_the_links_of_the_folder_but_not_the_last_component(tree: Path) -> None:
    out = tree / "out"
    assert contained(out / "plain" / "a.jpg", out)
    assert contained(out / "inner" / "a.jpg", out)  # a link that stays inside
    assert not contained(out / "escape" / "a.jpg", out)
    assert not contained(out / "plain" / ".." / ".." / "a.jpg", out)
    (out / "plain" / "link.jpg").symlink_to(tree / "elsewhere" / "target.jpg")
    assert contained(out / "plain" / "link.jpg", out)  # replacing or deleting the link touches only the link
    with pytest.raises(InputError, match=r"crop .*escape/a.jpg would be written outside .* leads to .*elsewhere"):
        check_inside(out / "escape" / "a.jpg", out, "crop")


def test_remove_inside_deletes_links_never_their_targets(tree: Path) -> None:
    out = tree / "out"
    target = tree / "elsewhere" / "x_f00000_00.jpg"
    target.write_bytes(b"input")
    assert not remove_inside(out / "escape" / "x_f00000_00.jpg", out)
    assert target.read_bytes() == b"input"
    link = out / "plain" / "x_f00000_00.jpg"
    link.symlink_to(target)
    assert remove_inside(link, out)
    assert not link.is_symlink() and target.read_bytes() == b"input"
    assert remove_inside(out / "plain" / "gone.jpg", out)  # already gone: nothing to do


@pytest.mark.parametrize(("src", "dst", "fragment"), [
    ("data", "data", "are the same folder"),
    ("data", "data/crops", "DST .* is inside SRC"),
    ("data/real", "data", "SRC .* is inside DST"),
])
def test_overlapping_folders_are_refused_in_both_directions(tmp_path: Path, src: str, dst: str, fragment: str) -> None:
    (tmp_path / "data" / "real").mkdir(parents=True)
    with pytest.raises(InputError, match=fragment):
        check_separate(tmp_path / src, "SRC", tmp_path / dst, "DST")


def test_overlap_through_a_link_is_refused(tmp_path: Path) -> None:
    (tmp_path / "data" / "real").mkdir(parents=True)
    (tmp_path / "alias").symlink_to(tmp_path / "data")
    with pytest.raises(InputError, match="SRC .* is inside DST"):
        check_separate(tmp_path / "alias" / "real", "SRC", tmp_path / "data", "DST")
    check_separate(tmp_path / "data" / "real", "SRC", tmp_path / "out", "DST")  # siblings are fine


def test_outputs_must_be_distinct_files_and_not_inputs(tmp_path: Path) -> None:
    weights = tmp_path / "w.h5"
    weights.write_bytes(b"weights")
    check_distinct({"OUT_H5": tmp_path / "m.h5", "OUT_PKL": tmp_path / "s.pkl"}, {"--weights": weights})
    with pytest.raises(ConfigError, match=r"OUT_PKL .*m.h5 is the same file as the output OUT_H5"):
        check_distinct({"OUT_H5": tmp_path / "m.h5", "OUT_PKL": tmp_path / "sub" / ".." / "m.h5"})
    with pytest.raises(ConfigError, match=r"OUT_H5 .*w.h5 is the same file as the input --weights"):
        check_distinct({"OUT_H5": weights}, {"--weights": weights})
    (tmp_path / "alias.h5").symlink_to(weights)
    os.link(weights, tmp_path / "hard.h5")
    for alias in ("alias.h5", "hard.h5"):
        with pytest.raises(ConfigError, match="the input --weights"):
            check_distinct({"OUT_H5": tmp_path / alias}, {"--weights": weights})
    check_distinct({"OUT": tmp_path / "x.csv", "none": None}, {"missing input": tmp_path / "absent", "n": None})


def test_writable_folder_is_created_and_checked(tmp_path: Path) -> None:
    assert check_writable(tmp_path / "new" / "deep").is_dir()
    assert [p.name for p in (tmp_path / "new" / "deep").iterdir()] == []  # the probe file is gone
    check_writable(tmp_path / "other" / "deep", keep=False)
    assert not (tmp_path / "other").exists()  # checked, and nothing left behind
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match=r"cannot create DST .*file/sub"):
        check_writable(tmp_path / "file" / "sub", "DST")


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into a read-only folder")
def test_read_only_folder_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(OutputError, match="cannot write to output folder"):
            check_writable(folder)
    finally:
        folder.chmod(0o755)
