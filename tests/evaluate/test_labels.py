"""Ground-truth readers: DFDC metadata, real/fake folders and CSVs."""

from __future__ import annotations

from pathlib import Path

import pytest

from dfembed.core.errors import InputError
from dfembed.evaluate.labels import parse_label, read_label_csv, read_labels
from tests.support import shared_path


def test_dfdc_metadata_from_shared_data() -> None:
    labels = read_labels(shared_path("dfdc_sample", "videos", "metadata.json"))
    assert labels.kind == "dfdc-metadata"
    assert labels.labels == {
        "aagfhgtpmv.mp4": 1,
        "aapnvogymq.mp4": 1,
        "abarnvbtwb.mp4": 0,
        "abofeumbvv.mp4": 1,
        "abqwwspghj.mp4": 1,
    }
    assert labels.groups["abofeumbvv.mp4"] == "atvmxvwyns.mp4"
    assert labels.groups["abarnvbtwb.mp4"] == "abarnvbtwb.mp4"  # a real video is its own group


def test_folder_tree_from_shared_data() -> None:
    root = shared_path("dfdc_sample", "frames")
    labels = read_labels(root)  # real/ and fake/ win over the metadata.json beside them
    assert labels.kind == "folders"
    assert len(labels.labels) == 55
    assert sum(labels.labels.values()) == 44
    assert labels.labels["real/abarnvbtwb-000.png"] == 0
    # frames keep the group of their video, named in the metadata.json beside real/ and fake/
    assert labels.groups["real/abarnvbtwb-000.png"] == "abarnvbtwb.mp4"
    assert labels.groups["fake/abofeumbvv-000.png"] == "atvmxvwyns.mp4"
    assert set(labels.groups.values()) == {
        "abarnvbtwb.mp4", "atvmxvwyns.mp4", "jdubbvfswz.mp4", "qzimuostzz.mp4", "vudstovrck.mp4",
    }  # fmt: skip


def test_folder_tree_keys_are_relative_to_the_root(tmp_path: Path) -> None:
    (tmp_path / "REAL" / "a").mkdir(parents=True)
    (tmp_path / "fake").mkdir()
    (tmp_path / "REAL" / "a" / "x.jpg").write_bytes(b"")
    (tmp_path / "fake" / "y.mp4").write_bytes(b"")
    (tmp_path / "fake" / "notes.txt").write_text("not media")
    labels = read_labels(tmp_path)
    assert dict(labels.labels) == {"REAL/a/x.jpg": 0, "fake/y.mp4": 1}
    assert labels.groups == {}  # no metadata: every file would be its own group


def test_folder_tree_with_one_name_under_both_labels(tmp_path: Path) -> None:
    for label in ("real", "fake"):
        (tmp_path / label).mkdir()
        (tmp_path / label / "0001.jpg").write_bytes(b"")
    assert dict(read_labels(tmp_path).labels) == {"fake/0001.jpg": 1, "real/0001.jpg": 0}


def test_nested_dfdc_metadata(tmp_path: Path) -> None:
    part = tmp_path / "dfdc_train_part_0"
    part.mkdir()
    (part / "metadata.json").write_text(
        '{"a.mp4": {"label": "FAKE", "original": "b.mp4"}, "b.mp4": {"label": "REAL", "original": null}}'
    )
    (part / "a.mp4").write_bytes(b"")
    (part / "b.mp4").write_bytes(b"")
    labels = read_labels(tmp_path)
    assert labels.kind == "dfdc-metadata"
    assert dict(labels.labels) == {"dfdc_train_part_0/a.mp4": 1, "dfdc_train_part_0/b.mp4": 0}
    assert dict(labels.groups) == {"dfdc_train_part_0/a.mp4": "b.mp4", "dfdc_train_part_0/b.mp4": "b.mp4"}


def test_folder_without_labels(tmp_path: Path) -> None:
    (tmp_path / "x.png").write_bytes(b"")
    with pytest.raises(InputError, match="no media under real/ or fake/ sub-folders nor listed in a metadata.json"):
        read_labels(tmp_path)


@pytest.mark.parametrize(
    "text",
    [
        "path,label,group\na/x.png,FAKE,g1\nb/y.png,real,g1\nz.png,1,\n",
        "filename,label,extra\na/x.png,1,q\nb/y.png,0,q\nz.png,1.0,q\n",
        "path,y\na/x.png,1\nb/y.png,0\nz.png,Fake\n",
    ],
)
def test_label_csv_layouts(tmp_path: Path, text: str) -> None:
    path = tmp_path / "labels.csv"
    path.write_text(text)
    labels = read_label_csv(path)
    assert dict(labels.labels) == {"a/x.png": 1, "b/y.png": 0, "z.png": 1}
    if "group" in text:
        assert dict(labels.groups) == {"a/x.png": "g1", "b/y.png": "g1"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name,score\nx,1\n", r"needs a key column \(path, filename, file\)"),
        ("path,label\nx.png,2\n", r"line 2: label '2' is not 0/1 or REAL/FAKE"),
        ("path,label\nx.png,1\nx.png,0\n", r"line 3: 'x.png' appears more than once"),
        ("path,label\n,1\n", "line 2: the 'path' column is empty"),
        ("path,label\n", "no rows"),
        ("", "is empty"),
    ],
)
def test_label_csv_errors_name_file_and_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(InputError, match=message) as info:
        read_labels(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "not a valid metadata.json"),
        ("[1, 2]", "expected a JSON object of file names to entries"),
        ("{}", "no entries"),
        ('{"x.mp4": {"split": "train"}}', "entry 'x.mp4' has no label REAL or FAKE"),
        ('{"x.mp4": {"label": "MAYBE"}}', "entry 'x.mp4' has no label REAL or FAKE"),
    ],
)
def test_metadata_errors(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "metadata.json"
    path.write_text(text)
    with pytest.raises(InputError, match=message):
        read_labels(path)


def test_unknown_and_missing_sources(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="do not exist"):
        read_labels(tmp_path / "nope.csv")
    other = tmp_path / "labels.txt"
    other.write_text("x")
    with pytest.raises(InputError, match="expected a DFDC metadata .json, a .csv"):
        read_labels(other)


def test_parse_label() -> None:
    assert [parse_label(v, "here") for v in (0, 1, "0", "1.0", "REAL", " fake ")] == [0, 1, 0, 1, 0, 1]
    for bad in (None, True, 0.5, "yes"):
        with pytest.raises(InputError, match="here: label"):
            parse_label(bad, "here")
