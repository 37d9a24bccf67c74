"""Reading dfembed's JSON files: the value, or one InputError naming the file and the problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from dfembed.core.errors import InputError
from dfembed.core.jsonfile import read_json


def test_a_valid_file_gives_its_value(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    path.write_text('{"a": [1, 2.5, null], "b": "é"}', encoding="utf-8")
    assert read_json(path, "a record") == {"a": [1, 2.5, None], "b": "é"}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"a": 1', r"r\.json is not valid JSON: Expecting ',' delimiter.*; use --force"),
        (b"\xff\xfe{}", r"r\.json is not valid JSON: 'utf-8' codec can't decode.*; use --force"),
        (b"[" * 100_000 + b"]" * 100_000, r"r\.json is not a run state: nested too deeply to read; use --force"),
    ],
)
def test_a_damaged_or_hostile_file_is_one_input_error(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "r.json"
    path.write_bytes(content)
    with pytest.raises(InputError, match=message):
        read_json(path, "a run state", "use --force to start over")


def test_a_folder_in_place_of_the_file_cannot_be_read(tmp_path: Path) -> None:
    (tmp_path / "r.json").mkdir()
    with pytest.raises(InputError, match=r"cannot read .*r\.json: Is a directory"):
        read_json(tmp_path / "r.json", "a record")
