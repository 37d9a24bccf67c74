"""Evaluation figures are real, non-empty PNG files of the expected size."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from dfembed.core.errors import InputError
from dfembed.evaluate.metrics import MetricsInputError
from dfembed.evaluate.plots import crop_gallery, plot_roc, plot_score_histogram
from tests.support import shared_path

Y = [0, 0, 1, 1, 0, 1]
S = [0.1, 0.6, 0.8, 0.4, 0.3, 0.9]


def _png_shape(path: Path) -> tuple[int, ...]:
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    image = cv2.imread(str(path))
    assert image is not None and image.std() > 0  # decodable and not a blank canvas
    return image.shape


def test_roc_and_histogram(tmp_path: Path) -> None:
    assert _png_shape(plot_roc(Y, S, tmp_path / "roc.png")) == (500, 500, 3)
    assert _png_shape(plot_score_histogram(Y, S, tmp_path / "hist.png")) == (400, 600, 3)
    assert not list(tmp_path.glob("*dfembed-tmp*"))  # atomic write left no temporary file


def test_roc_with_one_class_still_writes_a_figure(tmp_path: Path) -> None:
    _png_shape(plot_roc([1, 1], [0.2, 0.9], tmp_path / "roc.png"))


def test_plots_validate_their_input(tmp_path: Path) -> None:
    with pytest.raises(MetricsInputError, match="y_score must be probabilities"):
        plot_score_histogram([0, 1], [0.5, 2.0], tmp_path / "hist.png")
    assert not (tmp_path / "hist.png").exists()


def test_crop_gallery_from_files_and_arrays(tmp_path: Path) -> None:
    crops = sorted(shared_path("dfdc_sample", "crops", "fake").glob("*.png"))[:9]
    items: list = [*crops, np.full((64, 48, 3), 200, dtype=np.uint8)]
    labels = [1] * 9 + [None]
    scores = [0.9, 0.2, *([0.7] * 7), None]
    out = crop_gallery(items, labels, scores, tmp_path / "gallery.png", columns=4)
    # 10 tiles in 4 columns -> 3 rows of 1.8 x 2.0 inches at 100 dpi
    assert _png_shape(out) == (600, 720, 3)


def test_crop_gallery_errors(tmp_path: Path) -> None:
    image = np.zeros((8, 8, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match="1 images but 2 labels"):
        crop_gallery([image], [0, 1], [0.5, 0.5], tmp_path / "g.png")
    with pytest.raises(ValueError, match="at least one image"):
        crop_gallery([], [], [], tmp_path / "g.png")
    with pytest.raises(InputError, match="cannot read image .*missing.png"):
        crop_gallery([tmp_path / "missing.png"], [0], [0.1], tmp_path / "g.png")
