"""Configuration of ``dfembed detectors compare`` (one frozen dataclass, checked on construction)."""

from __future__ import annotations

import dataclasses

from dfembed.core.config import check, resolve_config
from dfembed.core.errors import ConfigError
from dfembed.faces.config import CropConfig, detector_names, parse_crop_options


@dataclasses.dataclass(frozen=True)
class CompareConfig:
    """Every option of the detector comparison.

    Attributes:
        detectors: Detectors to compare, in this order; empty = every registered one.
        reference: Detector whose largest face the others are compared with (IoU); none
            = ``mtcnn`` when compared, else the first detector.
        frames_per_video: Frames sampled evenly from each video.
        iou_threshold: IoU at which a detected box matches a ground-truth box (recall).
        overlays: Draw, per image (and per video: its middle sampled frame), the overlay
            of every detector's boxes and landmarks and the strip of their largest faces.
        strip_size: Side in pixels of each crop in a strip.
        crop_options: ``KEY=VALUE`` crop settings applied to every detector (any
            :class:`~dfembed.faces.config.CropConfig` field, e.g. ``min_face_size=10`` or
            ``blazeface_model=sparse``); faces are always kept all (``faces=all``).
    """

    detectors: tuple[str, ...] = ()
    reference: str | None = None
    frames_per_video: int = 8
    iou_threshold: float = 0.5
    overlays: bool = True
    strip_size: int = 160
    crop_options: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        known = detector_names()
        for name in self.detectors:
            check(name in known, "detectors", name, f"registered face detectors ({', '.join(known)})")
        check(len(set(self.detectors)) == len(self.detectors), "detectors", self.detectors, "distinct names")
        check(self.reference is None or self.reference in (self.detectors or known), "reference", self.reference,
              "one of the compared detectors")
        check(self.frames_per_video >= 1, "frames_per_video", self.frames_per_video, "at least 1")
        check(0.0 < self.iou_threshold <= 1.0, "iou_threshold", self.iou_threshold, "in (0, 1]")
        check(self.strip_size >= 16, "strip_size", self.strip_size, "at least 16")
        self.crop_config("mtcnn")  # a bad crop option fails now, naming itself

    def names(self) -> list[str]:
        """The detectors compared, in order."""
        return list(self.detectors) or detector_names()

    def reference_name(self, names: list[str] | None = None) -> str:
        """The reference detector: ``reference``, else ``mtcnn`` when compared, else the first of ``names``."""
        names = names or self.names()
        if self.reference is not None:
            return self.reference
        return "mtcnn" if "mtcnn" in names else names[0]

    def crop_config(self, detector: str) -> CropConfig:
        """The crop settings one detector runs with (``crop_options``, every face kept).

        Raises:
            ConfigError: A crop option is unknown or has a bad value (named).
        """
        options = parse_crop_options(self.crop_options)
        options.update(detector=detector, faces="all", frames_per_video=self.frames_per_video)
        try:
            return resolve_config(CropConfig, None, options)
        except ConfigError as err:
            raise ConfigError(f"crop options of the comparison: {err}") from err
