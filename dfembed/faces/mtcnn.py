"""The ``mtcnn`` detector: mtcnn 1.0 with a corrected image pyramid.

Box convention: ``x1, y1, x2, y2`` in source-image pixels for every face.

mtcnn 1.0 builds its image pyramid with a scale count that ignores the first scale
``12 / min_face_size``, so for ``min_face_size`` above about 24 (or a ``scale_factor``
above about 0.75) its last pyramid level is smaller than P-Net's 12-pixel window. Its
P-Net then fails with a shape error inside a Conv2D (a ``ValueError`` or a TensorFlow
``InvalidArgumentError`` depending on the TensorFlow version; mtcnn catches the latter
and silently reports *no face*). :class:`MTCNNDetector` replaces the P-Net stage with
one whose pyramid stops at the last level P-Net can scan, which removes the failure;
a ``ValueError`` that still occurs is retried frame by frame and then reported as
:class:`~dfembed.faces.base.DetectorError` (see
:class:`~dfembed.faces.base.ResizingDetector`), never a crash of the whole job.

mtcnn loads the weights bundled in its package with joblib (pickles: loading them runs
code); nothing here loads a user-supplied pickle.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dfembed.faces.base import Face, ResizingDetector
from dfembed.faces.config import CropConfig

PNET_WINDOW = 12


def pyramid_scales(width: int, height: int, min_face_size: int, scale_factor: float) -> np.ndarray:
    """Scales of an MTCNN image pyramid whose every level is at least P-Net's 12-pixel window.

    The first scale maps a ``min_face_size`` face onto the 12-pixel window; each next one
    is ``scale_factor`` times smaller; levels whose shorter side would drop below 12 px
    are left out (mtcnn 1.0 keeps some of them, which breaks P-Net).

    Args:
        width: Image width in pixels.
        height: Image height in pixels.
        min_face_size: Smallest face to find, in pixels of this image.
        scale_factor: Ratio between levels, in ``(0, 1)``.

    Returns:
        Decreasing float scales (empty when the image is smaller than the window).
    """
    first = PNET_WINDOW / min_face_size
    shorter = min(width, height)
    scales = []
    scale = first
    while shorter * scale >= PNET_WINDOW:
        scales.append(scale)
        scale *= scale_factor
    return np.asarray(scales, dtype=np.float64)


class _SafePNetStage:
    """mtcnn's P-Net stage with :func:`pyramid_scales` as its pyramid (steps as in mtcnn 1.0)."""

    def __init__(self, stage: Any) -> None:
        self._stage = stage
        self.id = stage.id
        self.name = stage.name

    def __call__(
        self,
        images_normalized: np.ndarray,
        images_oshapes: np.ndarray,
        min_face_size: int = 20,
        scale_factor: float = 0.709,
        threshold_pnet: float = 0.6,
        nms_pnet1: float = 0.5,
        nms_pnet2: float = 0.7,
        **_ignored_stage_kwargs: Any,  # mtcnn passes every stage's options to every stage
    ) -> np.ndarray:
        from mtcnn.utils import bboxes as mb
        from mtcnn.utils.images import scale_images

        # 1. One pyramid for the batch, from its largest image (mtcnn pads to that size)
        shape = np.max(np.asarray(images_oshapes), axis=0)
        scales = pyramid_scales(int(shape[1]), int(shape[0]), min_face_size, scale_factor)
        if scales.size == 0:
            return np.empty((0, 6))
        batch = images_normalized.shape[0]
        # 2. P-Net on each level, proposals mapped back to the padded image
        proposals = []
        for scale in scales:
            reg, cls = self._stage.model(scale_images(images_normalized, scale))
            boxes = mb.generate_bounding_box(reg, cls, threshold_pnet)
            boxes = mb.upscale_bboxes(boxes, np.full(batch, scale))
            proposals.append(mb.smart_nms_from_bboxes(boxes, threshold=nms_pnet1, method="union", initial_sort=False))
        # 3. NMS across levels, then square boxes for R-Net
        merged = np.concatenate(proposals, axis=0)
        merged = mb.smart_nms_from_bboxes(merged, threshold=nms_pnet2, method="union", initial_sort=True)
        return mb.resize_to_square(merged)


class MTCNNDetector(ResizingDetector):
    """MTCNN built once, detecting faces in batches of same-size frames (five landmarks).

    Frames are resized by :func:`dfembed.faces.geometry.downscale_factor` before detection and
    every box and landmark is mapped back to source pixels (:class:`ResizingDetector`).

    Args:
        config: The crop configuration (``thresholds``, ``detector_min_face_size``,
            ``scale_factor``, ``batch_size``, ``device``).
        mtcnn: An already built detector with mtcnn 1.0's ``detect_faces`` interface, to
            share or replace the network; built from ``config`` when ``None``.
    """

    label = "MTCNN"

    def __init__(self, config: CropConfig, mtcnn: Any | None = None) -> None:
        super().__init__(config.batch_size)
        self.config = config
        self._mtcnn = mtcnn if mtcnn is not None else _build_mtcnn(config.device)

    def with_config(self, config: CropConfig) -> MTCNNDetector:
        """A detector with other options that shares this one's networks (no second build)."""
        return MTCNNDetector(config, mtcnn=self._mtcnn)

    def detect_resized(self, images: list[np.ndarray]) -> list[list[Face]]:
        """Run the three networks on resized images; faces in the images' pixels, in MTCNN's order."""
        cfg = self.config
        # float32 input keeps mtcnn's normalisation and resizes in float32 instead of float64 (faster)
        rows = self._mtcnn.detect_faces(
            [image.astype(np.float32) for image in images],
            box_format="xyxy",
            output_type="numpy",
            min_face_size=cfg.detector_min_face_size,
            scale_factor=cfg.scale_factor,
            threshold_pnet=cfg.thresholds[0],
            threshold_rnet=cfg.thresholds[1],
            threshold_onet=cfg.thresholds[2],
        )
        return split_rows(np.asarray(rows, dtype=np.float64).reshape(-1, 16), len(images))


def _build_mtcnn(device: str) -> Any:
    """Build mtcnn 1.0's detector with the corrected P-Net stage (imports TensorFlow)."""
    from mtcnn import MTCNN
    from mtcnn.stages import StageONet, StagePNet, StageRNet

    return MTCNN(stages=[_SafePNetStage(StagePNet()), StageRNet(), StageONet()], device=device)


def split_rows(rows: np.ndarray, count: int) -> list[list[Face]]:
    """mtcnn numpy rows ``[image, x1, y1, x2, y2, conf, 5 x, 5 y]`` → faces per image (same pixels)."""
    faces: list[list[Face]] = [[] for _ in range(count)]
    for row in rows:
        landmarks = np.stack([row[6:11], row[11:16]], axis=1)
        faces[int(row[0])].append(Face(box=tuple(float(v) for v in row[1:5]), confidence=float(row[5]),
                                       landmarks=landmarks))
    return faces
