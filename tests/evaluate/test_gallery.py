"""Crop gallery: crop choice over the label folders, and the command end to end."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from dfembed.core.errors import InputError
from dfembed.crop.manifest import mesh_bytes
from dfembed.crop.naming import mesh_file
from dfembed.evaluate import plots
from dfembed.evaluate.gallery import choose_crops, make_sbi_gallery


def _write_crops(root: Path, folder: str, count: int, size: int = 32) -> None:
    (root / folder).mkdir(parents=True, exist_ok=True)
    for i in range(count):
        cv2.imwrite(str(root / folder / f"c{i:02d}.png"), np.full((size, size, 3), i * 10, np.uint8))


def test_classes_share_the_gallery_equally(tmp_path: Path) -> None:
    _write_crops(tmp_path, "real", 3)
    _write_crops(tmp_path, "fake", 20)
    paths, labels = choose_crops(tmp_path, 8)
    assert labels.count(0) == 3 and labels.count(1) == 5  # the reals run out: fakes fill the rest
    assert len(set(paths)) == 8


def test_unlabeled_crops_have_no_label(tmp_path: Path) -> None:
    _write_crops(tmp_path, "unlabeled/a", 4)
    assert choose_crops(tmp_path, 10)[1] == [None] * 4


def test_no_crops_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no crops"):
        choose_crops(tmp_path, 4)


def test_gallery_command_draws_scored_crops(tmp_path: Path) -> None:
    from dfembed.cli import main
    from dfembed.model.classifier import ClassifierBundle, EmbeddingSVM, save_bundle
    from dfembed.model.network import build_embedding_model, save_model

    size = 32
    model = build_embedding_model("b0", image_size=size, weights="none", embedding_dim=8)
    rng = np.random.default_rng(0)
    embeddings = np.asarray(model.predict_on_batch(rng.uniform(0, 255, (8, size, size, 3)).astype("float32")))
    svm = EmbeddingSVM(calibration_cv=2, random_state=0).fit(embeddings, [0, 1] * 4)
    save_model(model, tmp_path / "m.h5")
    save_bundle(ClassifierBundle(svm, embedding_dim=8, backbone="b0", image_size=size), tmp_path / "s.pkl",
                models={"model": tmp_path / "m.h5"})
    crops = tmp_path / "crops"
    _write_crops(crops, "real", 4, size=48)
    _write_crops(crops, "fake", 4, size=48)
    (crops / "real" / "c00a.png").write_bytes(b"\x89PNG\r\n\x1a\n")  # second of the three reals the sample takes
    out = tmp_path / "g.png"
    args = ["evaluate", "gallery", str(crops), str(tmp_path / "m.h5"), str(tmp_path / "s.pkl"), str(out), "--size", "6"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "skipped 1 unreadable crops" in result.output and "c00a.png" in result.output
    assert cv2.imread(str(out)).std() > 0
    again = CliRunner().invoke(main, args)
    assert again.exit_code == 1 and "--force" in again.output


def test_sbi_gallery_draws_rows_of_real_mask_and_self_blend(tmp_path: Path) -> None:
    from dfembed.cli import main

    crops = tmp_path / "crops"
    (crops / "real").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(3):
        cv2.imwrite(str(crops / "real" / f"r{i}.png"), rng.integers(0, 255, (48, 48, 3), dtype=np.uint8))
    out = tmp_path / "sbi.png"
    args = ["evaluate", "gallery", "--sbi", str(crops), str(out), "--size", "2", "--image-size", "64"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert cv2.imread(str(out)).std() > 0
    wrong = CliRunner().invoke(main, ["evaluate", "gallery", "--sbi", str(crops), str(tmp_path / "m.h5"), str(out)])
    assert wrong.exit_code == 2 and "expected --sbi CROPS OUT_PNG" in wrong.output
    no_reals = CliRunner().invoke(main, ["evaluate", "gallery", "--sbi", str(tmp_path), str(tmp_path / "x.png")])
    assert no_reals.exit_code == 1 and "no real crop" in no_reals.output


def _sbi(crops: Path, out: Path, *flags: str) -> object:
    from dfembed.cli import main

    return CliRunner().invoke(main, ["evaluate", "gallery", "--sbi", str(crops), str(out), "--size", "1",
                                     "--image-size", "32", *flags])


def test_a_gallery_never_replaces_a_crop_or_a_users_file_even_with_force(tmp_path: Path) -> None:
    crops = tmp_path / "crops"
    _write_crops(crops, "real", 2, size=32)
    crop = crops / "real" / "c01.png"
    before = crop.read_bytes()
    over_crop = _sbi(crops, crop, "--force")
    assert over_crop.exit_code == 1 and "overlaps CROPS" in over_crop.output
    assert crop.read_bytes() == before
    mine = tmp_path / "holiday.png"
    mine.write_bytes(b"my picture")
    over_mine = _sbi(crops, mine, "--force")
    assert over_mine.exit_code == 1 and "not written by dfembed" in over_mine.output
    assert mine.read_bytes() == b"my picture"


def test_force_replaces_the_gallery_an_earlier_run_wrote_and_only_while_it_is_unchanged(tmp_path: Path) -> None:
    crops = tmp_path / "crops"
    _write_crops(crops, "real", 2, size=32)
    out = tmp_path / "g.png"
    assert _sbi(crops, out).exit_code == 0
    assert (tmp_path / "g.dfembed-gallery.json").is_file()
    assert _sbi(crops, out, "--force").exit_code == 0
    out.write_bytes(out.read_bytes() + b"annotated by hand")
    edited = _sbi(crops, out, "--force")
    assert edited.exit_code == 1 and "not written by dfembed" in edited.output
    assert out.read_bytes().endswith(b"annotated by hand")


def test_sbi_gallery_masks_follow_the_mesh_where_a_crop_has_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    crops = tmp_path / "crops"
    _write_crops(crops, "real", 2, size=48)
    (crops / "manifest.csv").write_text("crop\nreal/c00.png\nreal/c01.png\n")
    target = crops / mesh_file("real/c00.png")
    target.parent.mkdir(parents=True)
    target.write_bytes(mesh_bytes(np.random.default_rng(0).uniform(8, 40, (468, 2))))
    drawn = {}

    def draw(images: list, titles: list[str], out: Path, columns: int) -> Path:
        drawn.update(titles=titles)
        out.write_bytes(b"drawn")
        return out

    monkeypatch.setattr(plots, "image_grid", draw)
    make_sbi_gallery(crops, tmp_path / "sbi.png", size=2, image_size=48)
    assert drawn["titles"][1].startswith("mask, FaceMesh") and drawn["titles"][4].startswith("mask, crop geometry")
