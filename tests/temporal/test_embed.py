"""``dfembed temporal embed`` on a hand-made crop folder: order, labels, gaps, resume, refusals; a real tiny model."""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from dfembed.core.errors import InputError, OutputExistsError
from dfembed.temporal.config import EmbedConfig
from dfembed.temporal.embed import run_embed
from dfembed.temporal.store import read_index, read_timeline

LEFT, RIGHT = (0, 0, 40, 40), (100, 0, 150, 50)
COLUMNS = "source,label,group,frame_index,face_index,x1,y1,x2,y2,crop"


class MeanColour:
    """A stand-in embedder: a crop's embedding is its mean R, G, B / 255; counts the crops it sees."""

    image_size = 8

    def __init__(self) -> None:
        self.seen = 0

    def __call__(self, images: np.ndarray) -> np.ndarray:
        assert images.shape[1:] == (8, 8, 3) and images.dtype == np.uint8  # resized to image_size
        self.seen += len(images)
        return images.reshape(len(images), -1, 3).mean(axis=1) / 255.0


def _crop(root: Path, name: str, value: int) -> str:
    (root / name).parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(root / name), np.full((16, 16, 3), value, np.uint8))  # grey: R = G = B = value
    return name


def _folder(root: Path) -> Path:
    """A fake video (frames 20, 0, 10; two people at frame 0) and a real image sequence with a face-less frame."""
    rows = [
        ("fake/v.mp4", "fake", "orig.mp4", 20, 0, RIGHT, _crop(root, "fake/v_f20.png", 30)),
        ("fake/v.mp4", "fake", "orig.mp4", 0, 0, RIGHT, _crop(root, "fake/v_f0_0.png", 10)),
        ("fake/v.mp4", "fake", "orig.mp4", 0, 1, LEFT, _crop(root, "fake/v_f0_1.png", 200)),
        ("fake/v.mp4", "fake", "orig.mp4", 10, 0, LEFT, _crop(root, "fake/v_f10.png", 250)),  # the other person only
        ("real/r-000.png", "real", "r.mp4", 0, 0, LEFT, _crop(root, "real/r0.png", 51)),
        ("real/r-002.png", "real", "r.mp4", 0, 0, LEFT, _crop(root, "real/r2.png", 102)),
    ]
    lines = [COLUMNS] + [",".join(str(v) for v in (s, lab, g, f, k, *box, c)) for s, lab, g, f, k, box, c in rows]
    (root / "manifest.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    journal = ["source,label,group,status,crops,detail", "fake/v.mp4,fake,orig.mp4,cropped,4,"] + [
        f"real/r-{k:03d}.png,real,r.mp4,{'cropped' if k != 1 else 'no face'},{int(k != 1)}," for k in range(3)]
    (root / "sources.csv").write_text("\n".join(journal) + "\n", encoding="utf-8")
    return root


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return _folder(tmp_path / "crops")


@pytest.fixture
def model_file(tmp_path: Path) -> Path:
    path = tmp_path / "model.h5"
    path.write_bytes(b"stands for a model: only its digest is read when an embedder is given")
    return path


def test_timelines_in_frame_order_with_gaps_labels_and_groups(data: Path, model_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "emb"
    summary = run_embed(data, model_file, out, EmbedConfig(), embedder=MeanColour())
    entries = read_index(out)
    assert [(e.video, e.label, e.group, e.frames, e.faces) for e in entries] == [
        ("fake/v.mp4", 1, "orig.mp4", 3, 2), ("real/r", 0, "r.mp4", 3, 2)]
    with open(out / "index.csv", newline="") as handle:
        assert next(csv.reader(handle)) == ["video", "label", "group", "frames", "faces", "file"]
    fake = read_timeline(out / entries[0].file)
    np.testing.assert_array_equal(fake.frame_index, [0, 10, 20])
    np.testing.assert_array_equal(fake.mask, [True, False, True])  # frame 10 shows the other person only
    np.testing.assert_allclose(fake.embeddings[:, 0], [10 / 255, 0.0, 30 / 255], atol=1e-6)  # the larger face at 0
    real = read_timeline(out / entries[1].file)
    np.testing.assert_array_equal(real.mask, [True, False, True])  # r-001 had no face
    np.testing.assert_allclose(real.embeddings[:, 1], [51 / 255, 0.0, 102 / 255], atol=1e-6)
    assert (summary.videos, summary.embedded, summary.faces) == (2, 2, 4)
    with np.load(out / entries[0].file, allow_pickle=False) as arrays:
        assert sorted(arrays.files) == ["embeddings", "frame_index", "mask"]


def test_a_rerun_resumes_and_a_killed_videos_row_is_redone(data: Path, model_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "emb"
    run_embed(data, model_file, out, EmbedConfig(), embedder=MeanColour())
    first = (out / "index.csv").read_text(encoding="utf-8").splitlines()
    (out / "index.csv").write_text("\n".join(first[:2]) + "\n" + first[2][:5], encoding="utf-8")  # torn last row
    (out / "videos" / ".x.dfembed-tmp.npz").write_bytes(b"half")
    again = MeanColour()
    summary = run_embed(data, model_file, out, EmbedConfig(), embedder=again)
    assert (summary.resumed, summary.embedded, again.seen) == (1, 1, 2)  # only real/r's two crops
    assert (out / "index.csv").read_text(encoding="utf-8").splitlines() == first
    assert not list(out.rglob("*dfembed-tmp*"))


def test_other_options_or_another_model_need_force(data: Path, model_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "emb"
    run_embed(data, model_file, out, EmbedConfig(), embedder=MeanColour())
    with pytest.raises(OutputExistsError, match="another track; use --force"):
        run_embed(data, model_file, out, EmbedConfig(track="largest"), embedder=MeanColour())
    model_file.write_bytes(b"another model")
    with pytest.raises(OutputExistsError, match="another model_sha256"):
        run_embed(data, model_file, out, EmbedConfig(), embedder=MeanColour())
    summary = run_embed(data, model_file, out, EmbedConfig(track="largest"), force=True, embedder=MeanColour())
    assert summary.resumed == 0 and read_index(out)[0].faces == 3  # largest: frame 10's face counts too
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(OutputExistsError, match="not an embeddings folder"):
        run_embed(data, model_file, tmp_path / "other", EmbedConfig(), embedder=MeanColour())
    (tmp_path / "other" / "index.csv").write_text("my own index\n")  # a name embed writes, in a user's folder
    with pytest.raises(OutputExistsError, match="--force or not"):
        run_embed(data, model_file, tmp_path / "other", EmbedConfig(), force=True, embedder=MeanColour())
    assert (tmp_path / "other" / "index.csv").read_text() == "my own index\n"


def test_an_unreadable_crop_becomes_a_counted_gap(data: Path, model_file: Path, tmp_path: Path) -> None:
    (data / "fake" / "v_f20.png").write_bytes(b"\x89PNG broken")
    summary = run_embed(data, model_file, tmp_path / "emb", EmbedConfig(), embedder=MeanColour())
    assert summary.unreadable_crops == 1
    fake = read_timeline(tmp_path / "emb" / read_index(tmp_path / "emb")[0].file)
    np.testing.assert_array_equal(fake.mask, [True, False, False])


def test_cli_with_a_real_model(data: Path, tmp_path: Path) -> None:
    """Through ``dfembed temporal embed`` with a B0 at 32 px: unit-norm embeddings at faces, zeros at gaps, a record."""
    import json

    import keras

    from dfembed.cli import main
    from dfembed.model.network import build_embedding_model, save_model

    keras.utils.set_random_seed(0)
    model = save_model(build_embedding_model("b0", image_size=32, weights="none", embedding_dim=8), tmp_path / "m.h5")
    out = tmp_path / "emb"
    result = CliRunner().invoke(main, ["temporal", "embed", str(data), str(model), str(out), "--batch-size", "4", "-q"])
    assert result.exit_code == 0, result.output
    assert "2 videos in" in result.output
    timeline = read_timeline(out / read_index(out)[0].file)
    np.testing.assert_allclose(np.linalg.norm(timeline.embeddings, axis=1), [1.0, 0.0, 1.0], atol=1e-4)
    record = json.loads((out / "dfembed-embed.json").read_text(encoding="utf-8"))
    assert (record["status"], record["image_size"], record["embedding_dim"]) == ("complete", 32, 8)
    assert record["config"] == {"track": "iou", "min_iou": 0.2, "batch_size": 4}
    missing = CliRunner().invoke(main, ["temporal", "embed", str(tmp_path / "nope"), str(model), str(tmp_path / "e2")])
    assert missing.exit_code == 1 and "holds no manifest.csv" in missing.output


def test_out_inside_data_or_locked_by_another_job_is_refused(data: Path, model_file: Path, tmp_path: Path) -> None:
    from dfembed.core.errors import LockedError
    from dfembed.core.lock import OutputLock, lock_file_beside

    with pytest.raises(InputError, match="OUT .* is inside DATA"):
        run_embed(data, model_file, data / "emb", EmbedConfig(), embedder=MeanColour())
    assert not (data / "emb").exists()
    out = tmp_path / "emb"
    with OutputLock(lock_file_beside(out), "another job"), pytest.raises(LockedError):
        run_embed(data, model_file, out, EmbedConfig(), embedder=MeanColour())
