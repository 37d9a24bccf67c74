"""Self-blended pseudo-fakes of real training crops (``--pseudo-fakes sbi``), made on demand with a seed.

:class:`PseudoFakes` knows where the face lies in every real crop — the box and five
landmarks in crop pixels that the crop stage writes to ``manifest.csv`` — and turns a crop
and a seed into a self-blend (:func:`dfembed.train.sbi.self_blend`) at the model's input
size, so the blend's artefacts are those the model sees. Where the face geometry comes from:

1. the crop's ``crop_*`` landmark columns: the outline follows the landmarks;
2. else its ``crop_x1..crop_y2`` box (a detector without landmarks): the outline follows the box;
3. else (a manifest from before those columns, or a tree without manifest) the crop's own
   geometry: for an aligned crop (``align: similarity`` in ``dfembed-crop.json``) the
   template's landmarks; otherwise the box that the margin (from ``dfembed-crop.json``,
   else the default 0.3) leaves at the centre of a square crop — with one warning naming
   how many crops use it.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from dfembed.crop.manifest import read_crop_record, read_manifest_faces
from dfembed.faces.alignment import template_points
from dfembed.faces.geometry import fit_size
from dfembed.faces.regions import TEMPLATE_BOX
from dfembed.train.sbi import SelfBlend, self_blend

log = logging.getLogger(__name__)

DEFAULT_MARGIN = 0.3


@dataclasses.dataclass(frozen=True, eq=False)  # arrays make == ambiguous
class CropGeometry:
    """The face in one stored crop, in the pixels of a ``size`` × ``size`` crop.

    Attributes:
        size: Side of the crop the coordinates refer to (``None``: the file's own size).
        landmarks: Five landmarks ``(5, 2)``, or ``None``.
        box: ``x1, y1, x2, y2``, or ``None`` when only ``margin`` tells where the face is.
        margin: The crop's margin (for the centred box of step 3).
    """

    size: int | None
    landmarks: np.ndarray | None
    box: tuple[float, float, float, float] | None
    margin: float = DEFAULT_MARGIN

    def scaled(self, side: int) -> tuple[np.ndarray | None, np.ndarray]:
        """Landmarks and box in a crop of ``side`` pixels (pixel centres on integers).

        Returns:
            ``(landmarks or None, box)``; the box is the centred one when none is recorded.
        """
        size = self.size or side
        scale = side / size
        landmarks = None if self.landmarks is None else (self.landmarks + 0.5) * scale - 0.5
        box = central_box(side, self.margin) if self.box is None else (np.asarray(self.box) + 0.5) * scale - 0.5
        return landmarks, box


def central_box(side: int, margin: float) -> np.ndarray:
    """The face box a square crop of ``side`` pixels with ``margin`` holds at its centre.

    The crop's side is the box's longer side (its height, for a face) times ``1 + 2 margin``;
    the width follows the shape of an MTCNN box (:data:`~dfembed.faces.regions.TEMPLATE_BOX`).

    Returns:
        ``x1, y1, x2, y2`` in pixels.
    """
    tx1, ty1, tx2, ty2 = TEMPLATE_BOX
    height = side / (1.0 + 2.0 * margin)
    width = height * (tx2 - tx1) / (ty2 - ty1)
    centre = (side - 1) / 2.0
    return np.array([centre - width / 2, centre - height / 2, centre + width / 2, centre + height / 2])


def read_crop_geometry(root: Path, paths: Iterable[Path]) -> tuple[dict[Path, CropGeometry], int]:
    """The face geometry of the crops ``paths`` of the crop folder ``root`` (see the module docstring).

    Args:
        root: DATA or a validation tree.
        paths: Its crops (real ones, the sources of self-blends).

    Returns:
        ``(resolved path → geometry, number of crops without landmarks or box)``.

    Raises:
        InputError: An unreadable manifest or crop record.
    """
    faces = read_manifest_faces(root)
    config = (read_crop_record(root) or {}).get("config") or {}
    margin = float(config.get("margin", DEFAULT_MARGIN)) if isinstance(config, dict) else DEFAULT_MARGIN
    size = int(config["size"]) if isinstance(config, dict) and isinstance(config.get("size"), int) else None
    aligned = isinstance(config, dict) and config.get("align") == "similarity"
    geometry: dict[Path, CropGeometry] = {}
    bare = 0
    for path in paths:
        face = faces.get(Path(path).resolve())
        if face is not None and (face.landmarks is not None or face.box is not None):
            geometry[Path(path).resolve()] = CropGeometry(size, face.landmarks, face.box, margin)
            continue
        bare += 1
        landmarks = template_points(size, float(config.get("align_scale", 1.3))) if aligned and size else None
        geometry[Path(path).resolve()] = CropGeometry(size, landmarks, None, margin)
    return geometry, bare


class PseudoFakes:
    """Self-blends of real crops at the model's input size, one per (crop, seed).

    Args:
        geometry: Resolved crop path → :class:`CropGeometry` (from :func:`read_crop_geometry`).
        image_size: The model's input side; crops are resized to it before blending.
    """

    def __init__(self, geometry: dict[Path, CropGeometry], image_size: int) -> None:
        self.geometry = dict(geometry)
        self.image_size = image_size

    def make(self, image: np.ndarray, path: Path, seed: int) -> SelfBlend:
        """The self-blend of one real crop.

        Args:
            image: The crop as read, RGB ``uint8`` of any size.
            path: Its file (which geometry to use).
            seed: The blend's seed: the same seed gives the same pseudo-fake.

        Returns:
            The :class:`~dfembed.train.sbi.SelfBlend` at ``image_size`` × ``image_size``.
        """
        face = self.geometry.get(Path(path).resolve()) or CropGeometry(None, None, None)
        landmarks, box = face.scaled(self.image_size)
        resized = fit_size(image, self.image_size)
        return self_blend(resized, np.random.default_rng(seed), landmarks, box)


def build_pseudo_fakes(roots: Iterable[tuple[Path, list[Path]]], image_size: int) -> PseudoFakes:
    """A :class:`PseudoFakes` for the real crops of one or more crop folders, warning about bare crops.

    Args:
        roots: ``(folder, its real crops)`` pairs: DATA, and a validation tree when one is used.
        image_size: The model's input side.

    Returns:
        The pseudo-fake maker.
    """
    geometry: dict[Path, CropGeometry] = {}
    for root, paths in roots:
        found, bare = read_crop_geometry(root, paths)
        geometry.update(found)
        if bare:
            log.warning(
                "%d of %d real crops in %s have no face box or landmarks in %s (an older manifest or none): "
                "their self-blend masks are placed by the crop geometry (the template of an aligned crop, else the margin around the centre)",
                bare, len(paths), root, root / "manifest.csv",
            )  # fmt: skip
    return PseudoFakes(geometry, image_size)
