"""The crop folder's FaceMesh files: format, round trip, bad files, the manifest's readers, a facemesh crop run."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result

from dfembed.commands.crop import crop_command
from dfembed.core.errors import InputError
from dfembed.crop.manifest import (
    MANIFEST_COLUMNS,
    SOURCE_COLUMNS,
    mesh_bytes,
    read_manifest_faces,
    read_mesh,
    read_rows,
)
from dfembed.crop.naming import is_mesh_name, mesh_file
from dfembed.faces.facemesh import five_from_mesh
from tests.support import shared_path


def test_mesh_files_are_named_after_their_crop() -> None:
    assert mesh_file("real/a/clip_mp4_f00003_01.jpg").as_posix() == "landmarks/real/a/clip_mp4_f00003_01.npy"
    assert is_mesh_name("clip_mp4_f00003_01.npy") and not is_mesh_name("clip_mp4_f00003_01.jpg")


def test_mesh_round_trips_as_float32(tmp_path: Path) -> None:
    points = np.random.default_rng(0).uniform(0, 380, (468, 2))
    (tmp_path / "m.npy").write_bytes(mesh_bytes(points))
    read = read_mesh(tmp_path / "m.npy")
    assert read.shape == (468, 2) and read.dtype == np.float64
    np.testing.assert_allclose(read, points, atol=1e-4)  # float32: 1/30000 px at 380 px
    with pytest.raises(ValueError, match="468"):
        mesh_bytes(points[:5])


@pytest.mark.parametrize("content", ["garbage", "pickled", "shape", "nan"])
def test_a_bad_mesh_file_is_a_one_line_error(tmp_path: Path, content: str) -> None:
    buffer = io.BytesIO()
    if content == "garbage":
        buffer.write(b"not numpy")
    elif content == "pickled":
        np.save(buffer, np.array([{"x": 1}], dtype=object), allow_pickle=True)
    elif content == "shape":
        np.save(buffer, np.zeros((5, 2), np.float32))
    else:
        np.save(buffer, np.full((468, 2), np.nan, np.float32))
    (tmp_path / "m.npy").write_bytes(buffer.getvalue())
    with pytest.raises(InputError, match="m.npy"):
        read_mesh(tmp_path / "m.npy")


def test_the_manifest_reader_finds_the_mesh_files(tmp_path: Path) -> None:
    (tmp_path / "manifest.csv").write_text("crop\nreal/a_png_f00000_00.jpg\nreal/b_png_f00000_00.jpg\n")
    target = tmp_path / mesh_file("real/a_png_f00000_00.jpg")
    target.parent.mkdir(parents=True)
    target.write_bytes(mesh_bytes(np.ones((468, 2))))
    faces = read_manifest_faces(tmp_path)
    assert faces[(tmp_path / "real/a_png_f00000_00.jpg").resolve()].mesh_path == target
    assert faces[(tmp_path / "real/b_png_f00000_00.jpg").resolve()].mesh_path is None


def crop(*args: object) -> Result:
    """Run ``crop_face.py`` in this process."""
    return CliRunner().invoke(crop_command, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def astronaut_tree(tmp_path: Path) -> Path:
    """SRC with two real images of the astronaut (one face each)."""
    src = tmp_path / "src" / "real"
    src.mkdir(parents=True)
    for name in ("one.png", "two.png"):
        shutil.copy(shared_path("faces", "astronaut.png"), src / name)
    return src.parent


def _meshes(dst: Path) -> dict[str, np.ndarray]:
    rows = read_rows(dst / "manifest.csv", MANIFEST_COLUMNS)
    return {row["crop"]: read_mesh(dst / mesh_file(row["crop"])) for row in rows}


def test_facemesh_crops_keep_their_points_through_resume_and_force(astronaut_tree: Path, tmp_path: Path) -> None:
    dst = tmp_path / "dst"
    options = ("--detector", "blazeface", "--landmarks", "facemesh", "--size", "128", "-q")
    assert crop(astronaut_tree, dst, *options).exit_code == 0
    rows = read_rows(dst / "manifest.csv", MANIFEST_COLUMNS)
    meshes = _meshes(dst)
    assert len(meshes) == 2
    for row in rows:  # BlazeFace gives no five points: they come from the mesh, in crop pixels too
        points = meshes[row["crop"]]
        assert ((points > 0) & (points < 128)).all()
        crop_five = np.array([float(row[f"crop_{n}_{a}"]) for n in ("left_eye", "right_eye", "nose", "mouth_left",
                                                                     "mouth_right") for a in "xy"]).reshape(5, 2)
        np.testing.assert_allclose(crop_five, five_from_mesh(points), atol=0.02)
    # 1. a run killed after one/two.png's crops and points but before its journal row: redone, the same points
    journal = read_rows(dst / "sources.csv", SOURCE_COLUMNS)
    lines = (dst / "sources.csv").read_text().splitlines()
    (dst / "sources.csv").write_text("\n".join(lines[:2]) + "\n")
    (dst / mesh_file(rows[1]["crop"])).write_bytes(b"torn")
    assert crop(astronaut_tree, dst, *options).exit_code == 0
    assert len(read_rows(dst / "sources.csv", SOURCE_COLUMNS)) == len(journal)
    for name, points in _meshes(dst).items():
        np.testing.assert_allclose(points, meshes[name], atol=1e-4)
    # 2. a source gone from SRC: its crop and its points go with it
    (astronaut_tree / "real" / "two.png").unlink()
    assert crop(astronaut_tree, dst, *options).exit_code == 0
    assert sorted(p.name for p in (dst / "landmarks").rglob("*.npy")) == ["one_png_f00000_00.npy"]
    # 3. five points only is another option: refused without --force, which deletes the points
    assert crop(astronaut_tree, dst, "--detector", "blazeface", "--size", "128", "-q").exit_code != 0
    assert crop(astronaut_tree, dst, "--detector", "blazeface", "--size", "128", "-q", "--force").exit_code == 0
    assert not list((dst / "landmarks").rglob("*.npy"))


@pytest.mark.slow
def test_worker_processes_write_the_same_points(astronaut_tree: Path, tmp_path: Path) -> None:
    options = ("--detector", "blazeface", "--landmarks", "facemesh", "--size", "128", "-q")
    assert crop(astronaut_tree, tmp_path / "one", *options).exit_code == 0
    assert crop(astronaut_tree, tmp_path / "two", *options, "--jobs", "2").exit_code == 0
    one, two = _meshes(tmp_path / "one"), _meshes(tmp_path / "two")
    assert one.keys() == two.keys()
    for name in one:
        np.testing.assert_array_equal(one[name], two[name])
