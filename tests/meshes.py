"""The astronaut's face (``../shared/data/faces/astronaut.png``) with its box, MTCNN landmarks and FaceMesh points."""

from __future__ import annotations

import functools

import numpy as np

from tests.support import shared_path

#: MTCNN's box of the astronaut (``x1, y1, x2, y2``: x, y, w, h = 182, 64, 83, 107) and its five landmarks.
ASTRONAUT_BOX = (181.6, 63.7, 264.6, 171.1)
ASTRONAUT_FIVE = np.array([[203.5, 100.1], [245.4, 102.2], [224.2, 126.4], [201.8, 138.6], [244.4, 140.4]])


@functools.cache
def _mesh() -> object:
    from dfembed.faces.facemesh import FaceMesh

    return FaceMesh()


def face_mesh() -> object:
    """One :class:`~dfembed.faces.facemesh.FaceMesh` for the whole test session."""
    return _mesh()


def astronaut() -> tuple[np.ndarray, np.ndarray]:
    """The astronaut image (RGB ``uint8``) and its 468 FaceMesh points (skips without the shared data)."""
    from dfembed.faces.media import read_image

    image = read_image(shared_path("faces", "astronaut.png"))
    points, _ = face_mesh().points(image, ASTRONAUT_BOX, ASTRONAUT_FIVE)
    return image, points
