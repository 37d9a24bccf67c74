"""The one listing policy of SRC, TEST and DATA: links followed once, loops and the rest reported."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dfembed.core.walk import printable, walk_files


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A folder with every kind of entry the policy names."""
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "sub").mkdir(parents=True)
    (root / ".ipynb_checkpoints").mkdir()
    outside.mkdir()
    for path in (root / "a.jpg", root / "sub" / "b.jpg", root / ".ipynb_checkpoints" / "c.jpg", root / ".hidden.jpg",
                 outside / "d.jpg"):
        path.write_bytes(b"x")
    (root / "linked").symlink_to(outside)  # a folder reached through a link: followed
    (root / "file_link.jpg").symlink_to(root / "a.jpg")  # a link to a file: followed
    (root / "sub" / "up").symlink_to(root)  # a loop
    (root / "again").symlink_to(root / "sub")  # a second path to a folder
    (root / "dangling.jpg").symlink_to(tmp_path / "nothing")
    (root / "self").symlink_to(root / "self")
    os.mkfifo(root / "pipe.jpg")
    return root


def test_every_entry_is_a_file_or_a_reported_skip(tree: Path) -> None:
    walk = walk_files(tree)
    assert [(e.relative, e.path) for e in walk.files] == [
        ("a.jpg", tree / "a.jpg"), ("file_link.jpg", tree / "file_link.jpg"),
        ("linked/d.jpg", tree / "linked" / "d.jpg"), ("sub/b.jpg", tree / "sub" / "b.jpg"),
    ]
    assert [(s.relative, s.reason) for s in walk.skipped] == [
        (".hidden.jpg", "hidden"), (".ipynb_checkpoints", "hidden"),
        ("again", "folder already listed"), ("dangling.jpg", "broken link"), ("pipe.jpg", "not a regular file"),
        ("self", "broken link"), ("sub/up", "link loop"),
    ]
    details = {s.relative: s.detail for s in walk.skipped}
    assert details["again"] == f"links to {tree / 'sub'}, listed as sub"
    assert details["dangling.jpg"].endswith("its target does not exist")
    assert details["self"].endswith("the link chain loops") and details["pipe.jpg"] == "a FIFO"


def test_names_that_are_not_utf8_are_kept_and_shown_printable(tmp_path: Path) -> None:
    name = os.fsdecode(b"caf\xe9.jpg")
    (tmp_path / name).write_bytes(b"x")
    (entry,) = walk_files(tmp_path).files
    assert entry.path == tmp_path / name and entry.path.read_bytes() == b"x"
    assert entry.relative == "caf\\xe9.jpg"
    assert printable("\ud800x") == "\\ud800x"  # a lone surrogate that no file name decodes to


def test_an_unreadable_folder_is_reported(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root reads any folder")
    (tmp_path / "closed").mkdir()
    (tmp_path / "closed").chmod(0)
    try:
        assert [(s.relative, s.reason) for s in walk_files(tmp_path).skipped] == [("closed", "unreadable folder")]
    finally:
        (tmp_path / "closed").chmod(0o755)
