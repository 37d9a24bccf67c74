"""Self-blended pseudo-fakes of real training crops (``--pseudo-fakes sbi``), made on demand with a seed.

:class:`PseudoFakes` knows where the face lies in every real crop — the box and five
landmarks in crop pixels that the crop stage writes to ``manifest.csv``, and the 468
FaceMesh points of ``landmarks: facemesh`` crops (``DST/landmarks/``) — and turns a crop
and a seed into a self-blend (:func:`dfembed.train.sbi.self_blend`) at the model's input
size, so the blend's artefacts are those the model sees. Where the face geometry comes from:

1. the crop's FaceMesh file: the outline is the mesh's (read once, with the manifest);
2. else the crop's ``crop_*`` landmark columns: the outline follows the landmarks;
3. else its ``crop_x1..crop_y2`` box (a detector without landmarks): the outline follows the box;
4. else (a manifest from before those columns, or a tree without manifest) the crop's own
   geometry: for an aligned crop (``align: similarity`` in ``dfembed-crop.json``) the
   template's landmarks; otherwise the box that the margin (from ``dfembed-crop.json``,
   else the default 0.3) leaves at the centre of a square crop — with one warning naming
   how many crops use it.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable
from typing import Any
from pathlib import Path

import numpy as np

from dfembed.crop.manifest import CropFace, read_crop_record, read_manifest_faces, read_mesh
from dfembed.faces.alignment import template_points
from dfembed.faces.geometry import fit_size
from dfembed.faces.regions import TEMPLATE_BOX
from dfembed.train.sbi import SelfBlend, self_blend

log = logging.getLogger(__name__)

DEFAULT_MARGIN = 0.3


@dataclasses.dataclass(frozen=True, eq=False)  # arrays make == ambiguous
class CropGeometry:
    """The face in one stored crop, in the pixels of that crop file (pixel centres on integers).

    Attributes:
        landmarks: Five landmarks ``(5, 2)``, or ``None``.
        box: ``x1, y1, x2, y2``, or ``None`` when only the crop's geometry tells where the face is.
        margin: The crop's margin (for the centred box of step 4 of the module docstring).
        align_scale: For an aligned crop without recorded landmarks, the template's scale
            (the landmarks are then the template's); ``None`` otherwise.
        mesh: The crop's FaceMesh points ``(468, 2)`` in crop pixels, or ``None``.
    """

    landmarks: np.ndarray | None
    box: tuple[float, float, float, float] | None
    margin: float = DEFAULT_MARGIN
    align_scale: float | None = None
    mesh: np.ndarray | None = None

    def scaled(self, side: int, stored: tuple[int, int]) -> tuple[np.ndarray | None, np.ndarray]:
        """Landmarks and box once the stored crop is resized to ``side`` × ``side``.

        Args:
            side: Side of the resized crop.
            stored: ``(height, width)`` of the crop file.

        Returns:
            ``(landmarks or None, box)``: the FaceMesh points ``(468, 2)`` when the crop has
            them, else the five landmarks; the box is the centred one when none is recorded.
        """
        scale = np.array([side / stored[1], side / stored[0]])
        points = self.landmarks if self.mesh is None else self.mesh
        landmarks = None if points is None else (points + 0.5) * scale - 0.5
        if landmarks is None and self.align_scale is not None:
            landmarks = template_points(side, self.align_scale)
        if self.box is None:
            return landmarks, central_box(side, self.margin)
        return landmarks, ((np.asarray(self.box).reshape(2, 2) + 0.5) * scale - 0.5).ravel()


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
        InputError: An unreadable manifest, crop record or FaceMesh file.
    """
    faces = read_manifest_faces(root)
    config = (read_crop_record(root) or {}).get("config") or {}
    config = config if isinstance(config, dict) else {}
    margin = float(config.get("margin", DEFAULT_MARGIN))
    align_scale = float(config.get("align_scale", 1.3)) if config.get("align") == "similarity" else None
    side = config.get("size")
    geometry: dict[Path, CropGeometry] = {}
    bare = implausible = 0
    for path in paths:
        face = faces.get(Path(path).resolve())
        mesh = None if face is None or face.mesh_path is None else read_mesh(face.mesh_path)  # once, not per blend
        if face is not None and isinstance(side, (int, float)) and side > 0:
            face, mesh, dropped = _plausible(face, mesh, float(side))
            implausible += dropped
        if face is not None and (face.landmarks is not None or face.box is not None or mesh is not None):
            geometry[Path(path).resolve()] = CropGeometry(face.landmarks, face.box, margin, mesh=mesh)
        else:
            bare += 1
            geometry[Path(path).resolve()] = CropGeometry(None, None, margin, align_scale)
    if implausible:
        log.warning("%d crops of %s have points or boxes far outside their %s px crop in its manifest or landmarks/ "
                    "(a damaged or edited file): their self-blends are placed without them", implausible, root, side)
    return geometry, bare


#: How far outside its crop a recorded point may lie, in crop sides (a face at the frame's edge reaches past it).
PLAUSIBLE_REACH = 1.0


def _plausible(face: CropFace, mesh: np.ndarray | None, side: float) -> tuple[CropFace, np.ndarray | None, int]:
    """``face`` and ``mesh`` without the points or box that lie beyond :data:`PLAUSIBLE_REACH` of the crop.

    Returns:
        The kept geometry and 1 when something was dropped, else 0.
    """
    def inside(values: Any) -> bool:
        array = np.asarray(values, dtype=np.float64)
        return bool(np.all((array >= -PLAUSIBLE_REACH * side) & (array <= (1 + PLAUSIBLE_REACH) * side)))

    landmarks = face.landmarks if face.landmarks is None or inside(face.landmarks) else None
    box = face.box if face.box is None or inside(face.box) else None
    kept_mesh = mesh if mesh is None or inside(mesh) else None
    dropped = int(landmarks is not face.landmarks or box is not face.box or kept_mesh is not mesh)
    return dataclasses.replace(face, landmarks=landmarks, box=box), kept_mesh, dropped


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
        landmarks, box = self._face(path).scaled(self.image_size, image.shape[:2])
        resized = fit_size(image, self.image_size)
        return self_blend(resized, np.random.default_rng(seed), landmarks, box)

    def placed_by(self, path: Path) -> str:
        """What places the mask of a crop: ``"FaceMesh"``, ``"five points"``, ``"box"`` or ``"crop geometry"``."""
        face = self._face(path)
        if face.mesh is not None:
            return "FaceMesh"
        if face.landmarks is not None:
            return "five points"
        return "box" if face.box is not None else "crop geometry"

    def _face(self, path: Path) -> CropGeometry:
        return self.geometry.get(Path(path).resolve()) or CropGeometry(None, None)


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
        meshes = sum(face.mesh is not None for face in found.values())
        if meshes:
            log.info("%d of %d real crops in %s have FaceMesh points: their masks follow the mesh",
                     meshes, len(paths), root)
        if bare:
            log.warning(
                "%d of %d real crops in %s have no face box or landmarks in %s (an older manifest or none): "
                "their self-blend masks are placed by the crop geometry (the template of an aligned crop, else the margin around the centre)",
                bare, len(paths), root, root / "manifest.csv",
            )  # fmt: skip
    return PseudoFakes(geometry, image_size)
