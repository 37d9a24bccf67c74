"""Frame and video levels side by side, per method, from inference's record; the Markdown table."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import log_loss, roc_auc_score

from dfembed.evaluate.config import EvaluateConfig
from dfembed.evaluate.run import run_evaluate
from tests.crop.trees import FFPP_TEST_PAIRS, ffpp_tree

YT = "original_sequences/youtube/c23/videos"
CONFIG = EvaluateConfig(split="test", methods=("Deepfakes", "FaceSwap"))


def _test_split_files() -> dict[str, int]:
    """Every test-split video of the stand-in tree → its label (1 fake)."""
    files = {f"{YT}/{i}.mp4": 0 for pair in FFPP_TEST_PAIRS for i in pair}
    for method in ("Deepfakes", "FaceSwap"):
        for t, s in FFPP_TEST_PAIRS:
            for a, b in ((t, s), (s, t)):
                files[f"manipulated_sequences/{method}/c23/videos/{a}_{b}.mp4"] = 1
    return files


def _faces(key: str, label: int, index: int) -> tuple[list[int], list[float]]:
    """Hand-made faces of one file: frames 0, 5, 9; two faces in frame 5 (the larger score counts)."""
    base = 0.2 + 0.5 * label + 0.01 * index
    return [0, 5, 5, 9], [base, base - 0.1, base + 0.15, base - 0.05]


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, dict[str, int], dict[str, list[float]]]:
    root = tmp_path_factory.mktemp("eval")
    labels = ffpp_tree(root / "ffpp")
    files = _test_split_files()
    records, csv, frame_scores = {}, ["filename,label"], {}
    for index, (key, label) in enumerate(sorted(files.items())):
        frames, scores = _faces(key, label, index)
        if index == 0:
            frames, scores = [], []  # a file without a face: no frame item, no-face score as its video score
        records[key] = {"faces": len(scores), "frames": frames, "face_scores": scores, "score": 0.0, "error": None}
        # frame scores by hand: frame 0, max of frame 5's two faces, frame 9
        frame_scores[key] = [scores[0], max(scores[1], scores[2]), scores[3]] if scores else []
        csv.append(f"{key},{0.9 if label else 0.3 + 0.01 * index:.4f}")
    pred = root / "preds.csv"
    pred.write_text("\n".join(csv) + "\n")
    record = {"config": {"aggregate": "confident", "no_face_score": 0.5},
              "inputs": {"model_h5": str(root / "sbi-b0" / "model.h5")}, "files": records}
    (root / "preds.dfembed-infer.json").write_text(json.dumps(record))
    evaluation = run_evaluate(pred, labels, config=CONFIG)
    return evaluation.record, files, frame_scores


def test_frame_level_is_one_item_per_frame_with_the_faces_maximum(evaluated) -> None:
    record, files, frame_scores = evaluated
    y = [files[k] for k in sorted(files) for _ in frame_scores[k]]
    s = [v for k in sorted(files) for v in frame_scores[k]]
    frame = record["levels"]["frame"]
    assert frame["n"] == 3 * (len(files) - 1)
    assert frame["roc_auc"] == pytest.approx(roc_auc_score(y, s))
    assert frame["log_loss"] == pytest.approx(log_loss(y, s))
    assert record["frame_source"]["files_without_frames"] == 1


def test_video_levels_mean_of_frames_and_as_submitted(evaluated) -> None:
    record, files, frame_scores = evaluated
    keys = sorted(files)
    means = [float(np.mean(frame_scores[k])) if frame_scores[k] else 0.5 for k in keys]
    assert record["levels"]["video_mean"]["roc_auc"] == pytest.approx(roc_auc_score([files[k] for k in keys], means))
    assert record["levels"]["video"]["n"] == len(files)
    assert record["level_names"]["video"] == "video (confident)"
    assert record["levels"]["video"] == record["metrics"]


def test_per_method_metrics_take_every_real_and_that_methods_fakes(evaluated) -> None:
    record, files, frame_scores = evaluated
    assert set(record["methods"]) == {"Deepfakes", "FaceSwap"}
    keys = [k for k in sorted(files) if files[k] == 0 or "/FaceSwap/" in k]
    y = [files[k] for k in keys for _ in frame_scores[k]]
    s = [v for k in keys for v in frame_scores[k]]
    faceswap = record["methods"]["FaceSwap"]
    assert faceswap["frame"]["roc_auc"] == pytest.approx(roc_auc_score(y, s))
    assert (faceswap["video"]["n_real"], faceswap["video"]["n_fake"]) == (6, 6)


def test_names_and_the_markdown_table(evaluated, tmp_path_factory: pytest.TempPathFactory) -> None:
    record, *_ = evaluated
    assert record["dataset"] == "FF++ c23 test"
    assert record["model"] == "sbi-b0"  # the folder of a generic model.h5
    table = Path(record["outputs"]["metrics.md"]).read_text()
    # the file without a face is the first key, a Deepfakes fake: FaceSwap keeps 6 reals and 6 fakes of 3 frames
    assert "| FaceSwap | frame | 36 (18 / 18) |" in table and "| all | video (confident) | 18 (6 / 12) |" in table


def test_without_a_record_only_the_csv_level(tmp_path: Path) -> None:
    labels = tmp_path / "labels"
    for name in ("real/a.png", "fake/b.png"):
        (labels / name).parent.mkdir(parents=True, exist_ok=True)
        (labels / name).write_bytes(b"")
    pred = tmp_path / "p.csv"
    pred.write_text("path,y\nreal/a.png,0.2\nfake/b.png,0.7\n")
    record = run_evaluate(pred, labels).record
    assert set(record["levels"]) == {"video"} and record["methods"] == {}
    assert "Frame level: not computed" in (tmp_path / "p_eval" / "metrics.md").read_text()
