"""The ownership rule: outputs apart from inputs; --force replaces only what a record proves dfembed wrote."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from dfembed.core.errors import ConfigError, OutputExistsError
from dfembed.core.ownership import check_apart, check_replaceable, foreign_files, owned_files, record_beside


def _record(folder: Path, files: dict[str, object]) -> Path:
    record = folder / "dfembed-x.json"
    record.write_text(json.dumps({"files": files}), encoding="utf-8")
    return record


def test_a_record_owns_the_files_it_names_with_their_hash(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_bytes(b"a,b\n")
    digest = hashlib.sha256(b"a,b\n").hexdigest()
    owned = owned_files(_record(tmp_path, {"a.csv": {"sha256": digest}, "b.csv": digest}))
    assert owned == {(tmp_path / "a.csv").absolute(): digest, (tmp_path / "b.csv").absolute(): digest}
    assert foreign_files([tmp_path / "a.csv"], owned) == []


def test_a_claim_on_a_file_elsewhere_owns_it_only_while_its_content_matches(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    thesis = tmp_path / "thesis.tex"
    thesis.write_text("chapter 1\n")
    owned = owned_files(_record(tmp_path / "sub", {"../thesis.tex": "x", "ok": 3}))
    assert owned == {thesis.absolute(): "x"}
    with pytest.raises(OutputExistsError, match="not written by dfembed"):
        check_replaceable([thesis], owned, force=True)


@pytest.mark.parametrize("text", ["", "{", "[1, 2]", '{"files": [1]}', '{"files": {"a": {"sha256": 1}}}'])
def test_a_damaged_record_owns_nothing(tmp_path: Path, text: str) -> None:
    record = tmp_path / "r.json"
    record.write_text(text, encoding="utf-8")
    assert owned_files(record) == {}
    assert owned_files(tmp_path / "missing.json") == {}


def test_force_replaces_an_owned_file_and_nothing_else(tmp_path: Path) -> None:
    ours, theirs = tmp_path / "ours.png", tmp_path / "theirs.png"
    ours.write_bytes(b"ours")
    theirs.write_bytes(b"theirs")
    owned = {ours.absolute(): hashlib.sha256(b"ours").hexdigest(),
             theirs.absolute(): hashlib.sha256(b"what it was").hexdigest()}  # changed since the record
    check_replaceable([ours, tmp_path / "new.png"], owned, force=True)
    with pytest.raises(OutputExistsError, match="use --force"):
        check_replaceable([ours], owned, force=False)
    with pytest.raises(OutputExistsError, match=r"theirs\.png: not written by dfembed"):
        check_replaceable([ours, theirs], owned, force=True)
    check_replaceable([tmp_path / "new.png"], {}, force=False)


def test_a_link_is_never_owned(tmp_path: Path) -> None:
    target = tmp_path / "target"
    target.write_bytes(b"ours")
    link = tmp_path / "link"
    link.symlink_to(target)
    assert foreign_files([link], {link.absolute(): hashlib.sha256(b"ours").hexdigest()}) == [link]


def test_outputs_may_not_be_inputs_files_of_input_folders_or_hold_inputs(tmp_path: Path) -> None:
    test = tmp_path / "test"
    test.mkdir()
    (test / "img.png").write_bytes(b"png")
    model = tmp_path / "m.h5"
    model.write_bytes(b"h5")
    inputs = {"TEST": test, "MODEL": model}
    for output in (test / "img.png", model, test, tmp_path):
        with pytest.raises(ConfigError, match="overlaps"):
            check_apart({"--output": output}, inputs)
    check_apart({"--output": test / "new.csv", "other": tmp_path / "out.csv", "stdout": "-"}, inputs)


def test_a_one_file_outputs_record_lies_beside_it() -> None:
    assert record_beside(Path("/x/pred.csv"), "infer") == Path("/x/pred.dfembed-infer.json")


def test_a_record_that_names_files_owns_itself_and_an_empty_one_does_not(tmp_path: Path) -> None:
    from dfembed.core.ownership import owned_with_record

    (tmp_path / "a.md").write_bytes(b"a")
    record = _record(tmp_path, {"a.md": hashlib.sha256(b"a").hexdigest()})
    owned = owned_with_record(record)
    assert owned[record.absolute()] == hashlib.sha256(record.read_bytes()).hexdigest()
    check_replaceable([tmp_path / "a.md", record], owned, force=True)
    assert owned_with_record(_record(tmp_path, {})) == {}
