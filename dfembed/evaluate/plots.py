"""Evaluation figures: ROC curve, score histogram, and a gallery of face crops.

Figures are drawn on :class:`matplotlib.figure.Figure` objects with the Agg canvas
attached inside each function, never through ``pyplot``: no window opens, no global
backend is switched (an importing notebook keeps its own), and matplotlib is imported
only when a plot is made. Every PNG is written atomically.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve

from dfembed.core.atomic import atomic_path
from dfembed.core.classes import CLASSES, FAKE, REAL, class_name
from dfembed.core.errors import InputError
from dfembed.evaluate.metrics import check_predictions, equal_error_rate

if TYPE_CHECKING:
    from matplotlib.figure import Figure

ImageOrPath = np.ndarray | str | os.PathLike[str]

_COLOURS = {REAL: "tab:blue", FAKE: "tab:red"}


def plot_roc(
    y_true: Sequence[int] | np.ndarray,
    y_score: Sequence[float] | np.ndarray,
    path: str | Path,
    title: str = "ROC curve",
) -> Path:
    """Draw the ROC curve with its AUC and the equal-error-rate point.

    With a single class the curve is undefined; the PNG then says so instead of
    failing, so an evaluation always produces the same set of files.

    Args:
        y_true: Labels, 1 for FAKE and 0 for REAL.
        y_score: P(fake) per item, in [0, 1].
        path: Destination PNG.
        title: Figure title.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        MetricsInputError: Invalid labels or scores.
    """
    y, s = check_predictions(y_true, y_score)
    fig = _new_figure(5.0, 5.0)
    ax = fig.add_subplot()
    if 0 < y.sum() < y.size:
        _draw_roc(ax, y, s)
    else:
        ax.text(0.5, 0.5, "ROC undefined:\nonly one class present", ha="center", va="center")
    ax.plot([0, 1], [0, 1], linestyle=":", color="grey", label="chance")
    ax.set(xlim=(0, 1), ylim=(0, 1.01), xlabel="false positive rate (real called fake)",
           ylabel="true positive rate (fake caught)", title=title)  # fmt: skip
    ax.legend(loc="lower right")
    return _save(fig, path)


def plot_score_histogram(
    y_true: Sequence[int] | np.ndarray,
    y_score: Sequence[float] | np.ndarray,
    path: str | Path,
    threshold: float = 0.5,
    bins: int = 20,
) -> Path:
    """Overlay the P(fake) histograms of real and fake items, with the decision threshold.

    Args:
        y_true: Labels, 1 for FAKE and 0 for REAL.
        y_score: P(fake) per item, in [0, 1].
        path: Destination PNG.
        threshold: Drawn as a vertical line.
        bins: Number of equal-width bins over [0, 1].

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        MetricsInputError: Invalid labels or scores.
    """
    y, s = check_predictions(y_true, y_score)
    fig = _new_figure(6.0, 4.0)
    ax = fig.add_subplot()
    edges = np.linspace(0.0, 1.0, bins + 1)
    for name, label in CLASSES.items():
        ax.hist(s[y == label], bins=edges, alpha=0.6, color=_COLOURS[label],
                label=f"{name} (n={int((y == label).sum())})")  # fmt: skip
    ax.axvline(threshold, color="black", linestyle="--", label=f"threshold {threshold:g}")
    ax.set(xlim=(0, 1), xlabel="P(fake)", ylabel="count", title="Scores of real and fake items")
    ax.legend()
    return _save(fig, path)


def crop_gallery(
    images_or_paths: Sequence[ImageOrPath],
    labels: Sequence[int | None],
    scores: Sequence[float | None],
    path: str | Path,
    columns: int = 8,
    threshold: float = 0.5,
) -> Path:
    """Tile face crops in a grid, each titled with its label and score.

    A title is green when the score is on the label's side of ``threshold``, red when it
    is not, black when the label or the score is unknown (``None``).

    Args:
        images_or_paths: RGB ``uint8`` arrays of shape ``(H, W, 3)`` or image files.
        labels: 1 for FAKE, 0 for REAL, ``None`` when unknown; one per image.
        scores: P(fake) or ``None``; one per image.
        path: Destination PNG.
        columns: Tiles per row.
        threshold: Decision threshold used to colour the titles.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        ValueError: Empty input, lengths that differ, or ``columns < 1``.
        InputError: An image file cannot be read.
    """
    n = len(images_or_paths)
    if n == 0 or columns < 1:
        raise ValueError(f"crop_gallery needs at least one image and columns >= 1 (got {n}, {columns})")
    if not len(labels) == len(scores) == n:
        raise ValueError(f"{n} images but {len(labels)} labels and {len(scores)} scores")
    cols = min(columns, n)
    rows = math.ceil(n / cols)
    fig = _new_figure(1.8 * cols, 2.0 * rows)
    for i, (item, label, score) in enumerate(zip(images_or_paths, labels, scores)):
        ax = fig.add_subplot(rows, cols, i + 1)
        ax.imshow(_as_rgb(item))
        ax.set_title(_tile_title(label, score), fontsize=8, color=_tile_colour(label, score, threshold))
        ax.axis("off")
    fig.tight_layout()
    return _save(fig, path)


def image_grid(images: Sequence[np.ndarray], titles: Sequence[str], path: str | Path, columns: int) -> Path:
    """Tile images in rows of ``columns``, each with its title (a mask may be 2-D: drawn grey, 0 black, 1 white).

    Args:
        images: RGB ``uint8`` ``(H, W, 3)`` arrays or ``(H, W)`` masks in ``[0, 1]``.
        titles: One per image.
        path: Destination PNG.
        columns: Tiles per row.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        ValueError: No image, ``columns < 1``, or titles and images that differ in number.
    """
    if not images or columns < 1 or len(titles) != len(images):
        raise ValueError(f"image_grid needs images, one title each and columns >= 1 (got {len(images)}, "
                         f"{len(titles)}, {columns})")
    rows = math.ceil(len(images) / columns)
    fig = _new_figure(2.2 * columns, 2.3 * rows)
    for i, (image, title) in enumerate(zip(images, titles)):
        ax = fig.add_subplot(rows, columns, i + 1)
        if image.ndim == 2:
            ax.imshow(image, cmap="gray", vmin=0.0, vmax=1.0)
        else:
            ax.imshow(image)
        ax.set_title(title, fontsize=8)
        ax.axis("off")
    fig.tight_layout()
    return _save(fig, path)


def _draw_roc(ax: Any, y: np.ndarray, s: np.ndarray) -> None:
    fpr, tpr, _ = roc_curve(y, s)
    eer = equal_error_rate(y, s)
    ax.plot(fpr, tpr, color=_COLOURS[FAKE], label=f"AUC = {roc_auc_score(y, s):.3f}")
    ax.plot([eer], [1.0 - eer], "o", color="black", label=f"EER = {eer:.3f}")


def _tile_title(label: int | None, score: float | None) -> str:
    name = class_name(None if label is None else int(label))
    return f"{name} {score:.2f}" if score is not None else name


def _tile_colour(label: int | None, score: float | None, threshold: float) -> str:
    if label is None or score is None:
        return "black"
    return "green" if (score > threshold) == bool(label) else "red"


def _as_rgb(item: ImageOrPath) -> np.ndarray:
    if isinstance(item, np.ndarray):
        return item
    from dfembed.faces.media import MediaError, read_image

    try:
        return read_image(item)
    except MediaError as err:
        raise InputError(f"crop gallery: cannot read image {err}") from err


def _new_figure(width: float, height: float) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: str | Path) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    return Path(path)
