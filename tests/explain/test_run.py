"""``dfembed explain`` end to end on the hand-set region model, and its output ownership."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from tests.region_model import SIZE, SQUARE, build_region_pair, crop


class SquareFinder:
    """A fake detector: the whole 64×64 frame is one face (so the crop is the frame)."""

    def detect(self, frames):  # noqa: ANN001, ANN201
        from dfembed.faces.detector import Face

        return [[Face(box=(0.0, 0.0, float(f.shape[1]), float(f.shape[0])), confidence=0.99)] for f in frames]


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return build_region_pair(tmp_path_factory.mktemp("region"))


def _image(path: Path, red: bool) -> Path:
    cv2.imwrite(str(path), crop(red, 3)[..., ::-1])
    return path


@pytest.mark.slow
def test_explain_writes_an_overlay_whose_heat_is_on_the_red_square_a_page_and_a_record(pair, tmp_path) -> None:
    from dfembed.explain.config import ExplainConfig
    from dfembed.explain.run import run_explain

    image = _image(tmp_path / "fake.png", red=True)
    config = ExplainConfig(alpha=1.0)  # the overlay is the heat map alone
    summary = run_explain(image, pair["model"], pair["svm"], tmp_path / "out", config, detector=SquareFinder())
    assert summary.faces == summary.explained == 1 and summary.p_fake > 0.5
    overlay = cv2.imread(str(tmp_path / "out" / "face00_frame00000.png"))[..., ::-1].astype(int)
    redness = overlay[..., 0] - overlay[..., 2]  # JET: red where the map is 1, blue where 0
    row, col = np.unravel_index(redness.argmax(), redness.shape)
    assert overlay.shape[:2] == (SIZE, SIZE)
    assert SQUARE[0].start <= row < SQUARE[0].stop and SQUARE[1].start <= col < SQUARE[1].stop
    page = summary.report.read_text(encoding="utf-8")
    assert page.count("data:image/png;base64,") == 2 and "src=\"http" not in page
    record = json.loads(summary.record.read_text(encoding="utf-8"))
    assert record["stage"] == "explain" and len(record["model"]["sha256"]) == 64
    assert set(record["files"]) == {"face00_frame00000.png", "report.html"}
    assert record["versions"]["python"] and record["config"]["alpha"] == 1.0


@pytest.mark.slow
def test_an_existing_out_is_replaced_only_with_force_and_only_when_explain_wrote_it(pair, tmp_path) -> None:
    from dfembed.core.errors import OutputExistsError
    from dfembed.explain.config import ExplainConfig
    from dfembed.explain.run import run_explain

    image, out = _image(tmp_path / "real.png", red=False), tmp_path / "out"
    run_explain(image, pair["model"], pair["svm"], out, ExplainConfig(), detector=SquareFinder())
    with pytest.raises(OutputExistsError, match="--force"):
        run_explain(image, pair["model"], pair["svm"], out, ExplainConfig(), detector=SquareFinder())
    run_explain(image, pair["model"], pair["svm"], out, ExplainConfig(), force=True, detector=SquareFinder())
    (out / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(OutputExistsError, match="not written by dfembed"):
        run_explain(image, pair["model"], pair["svm"], out, ExplainConfig(), force=True, detector=SquareFinder())
    assert (out / "notes.txt").read_text(encoding="utf-8") == "mine"
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "a.png").write_bytes(b"x")
    with pytest.raises(OutputExistsError, match="did not write"):
        run_explain(image, pair["model"], pair["svm"], foreign, ExplainConfig(), force=True, detector=SquareFinder())


def test_the_command_refuses_an_out_inside_the_models_files_and_a_missing_classifier(pair, tmp_path) -> None:
    from dfembed.commands.explain import explain_command

    image = _image(tmp_path / "face.png", red=False)
    result = CliRunner().invoke(explain_command, [str(image), str(pair["model"]), str(tmp_path / "out")])
    assert result.exit_code == 1 and "MODEL_H5 SVM_PKL OUT" in result.output
    result = CliRunner().invoke(explain_command, [str(image), str(pair["model"]), str(pair["svm"]),
                                                  str(pair["model"])])
    assert result.exit_code == 1 and "overlaps" in result.output
