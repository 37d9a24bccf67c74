"""Pictures of a detector comparison: an overlay of every detector's faces, and a strip of their largest faces.

Boxes are ``x1, y1, x2, y2`` in source-image pixels. Figures are drawn on
:class:`matplotlib.figure.Figure` objects with the Agg canvas attached (never ``pyplot``:
no window, no global backend switched; matplotlib is imported only when a picture is
made). Every PNG is written atomically.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from dfembed.core.atomic import atomic_path
from dfembed.faces.detector import Face
from dfembed.faces.geometry import face_crop

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: One colour per detector, in the order they are compared (matplotlib's tab10).
COLOURS = ("tab:red", "tab:blue", "tab:green", "tab:orange", "tab:purple", "tab:cyan", "tab:pink", "tab:olive")


def colour(index: int) -> str:
    """The colour of the ``index``-th compared detector."""
    return COLOURS[index % len(COLOURS)]


def draw_overlay(image: np.ndarray, faces: Mapping[str, list[Face] | None], path: Path, title: str) -> Path:
    """Draw every detector's boxes and landmarks on one frame, each in its own colour, with a legend.

    Args:
        image: The RGB ``uint8`` frame.
        faces: Detector name → its kept faces on the frame (``None``: it failed there),
            in the comparison's order (which sets the colours).
        path: Destination PNG.
        title: Figure title (the file, and the frame for a video).

    Returns:
        ``path``.
    """
    height, width = image.shape[:2]
    scale = 8.0 / max(width, height)
    fig = _new_figure(max(width * scale, 3.0), max(height * scale, 3.0) + 0.4)
    ax = fig.add_axes((0, 0, 1, 0.94))
    ax.imshow(image)
    ax.set_axis_off()
    for index, (name, found) in enumerate(faces.items()):
        _draw_faces(ax, found or [], colour(index), label=_legend(name, found), width=max(1.0, max(width, height) / 400))
    ax.set_xlim(0, width)
    ax.set_ylim(height, 0)
    ax.legend(loc="upper right", fontsize=8, framealpha=0.8)
    fig.suptitle(title, fontsize=9)
    return _save(fig, path)


def _legend(name: str, found: list[Face] | None) -> str:
    if found is None:
        return f"{name}: failed"
    return f"{name}: {len(found)} face{'s' if len(found) != 1 else ''}"


def _draw_faces(ax, faces: list[Face], col: str, label: str, width: float) -> None:  # noqa: ANN001 - an Axes
    from matplotlib.patches import Rectangle

    ax.plot([], [], color=col, linewidth=2, label=label)  # the legend entry, also for a detector without faces
    for face in faces:
        x1, y1, x2, y2 = face.box
        ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, edgecolor=col, linewidth=width * 1.5))
        ax.text(x1, y1, f"{face.confidence:.2f}", color="white", fontsize=6, va="bottom",
                bbox={"facecolor": col, "edgecolor": "none", "pad": 1})
        if face.landmarks is not None:
            points = np.asarray(face.landmarks)
            ax.scatter(points[:, 0], points[:, 1], s=max(4.0, width * 6), color=col, edgecolors="white",
                       linewidths=0.5, zorder=3)


def draw_strip(image: np.ndarray, largest: Mapping[str, Face | None], path: Path, margin: float, size: int) -> Path:
    """Draw the largest face of each detector side by side, cropped as the crop stage crops.

    Args:
        image: The RGB ``uint8`` frame.
        largest: Detector name → its largest kept face (``None``: none found, or it failed).
        path: Destination PNG.
        margin: Crop margin (fraction of the box each side), as in the crop stage.
        size: Side of each crop in pixels.

    Returns:
        ``path``.
    """
    count = max(1, len(largest))
    fig = _new_figure(1.9 * count, 2.2)
    for index, (name, face) in enumerate(largest.items()):
        ax = fig.add_subplot(1, count, index + 1)
        if face is None:
            ax.imshow(np.full((size, size, 3), 235, np.uint8))
            ax.text(size / 2, size / 2, "no face", ha="center", va="center", fontsize=9)
            ax.set_title(name, fontsize=9, color=colour(index))
        else:
            ax.imshow(face_crop(image, np.asarray(face.box), margin, size))
            ax.set_title(f"{name} {face.confidence:.2f}", fontsize=9, color=colour(index))
        ax.set_axis_off()
    return _save(fig, path)


def _new_figure(width: float, height: float) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: Path) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    return Path(path)
