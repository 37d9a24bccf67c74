"""Training augmentation: resize, Gaussian noise, JPEG re-compression, Gaussian blur, flip.

Built on albumentations 2 (whose noise and compression arguments are ``std_range`` and
``quality_range``). Every image is augmented with its own seed, so a batch is the same
whichever thread prepares it and in whichever order; each thread keeps its own
``Compose`` because albumentations' random state is per pipeline object.
"""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass

import albumentations as A
import cv2
import numpy as np

from dfembed.faces.geometry import fit_size
from dfembed.train.config import TrainConfig


@dataclass(frozen=True)
class AugmentParams:
    """Probabilities and ranges of the training augmentation.

    Attributes:
        image_size: Output side in pixels (every image is resized to a square first).
        noise_p: Probability of Gaussian noise.
        noise_std: Noise standard deviation range, as a fraction of 255.
        jpeg_p: Probability of JPEG re-compression.
        jpeg_quality: JPEG quality range.
        blur_p: Probability of Gaussian blur.
        blur_sigma: Blur sigma range in pixels.
        flip_p: Probability of a horizontal flip.
    """

    image_size: int
    noise_p: float = 0.0
    noise_std: tuple[float, float] = (0.01, 0.05)
    jpeg_p: float = 0.0
    jpeg_quality: tuple[int, int] = (60, 100)
    blur_p: float = 0.0
    blur_sigma: tuple[float, float] = (0.1, 1.5)
    flip_p: float = 0.0

    @classmethod
    def from_config(cls, config: TrainConfig) -> AugmentParams:
        """Take the augmentation options of a training configuration (the fields of the same names)."""
        return cls(**{f.name: getattr(config, f.name) for f in dataclasses.fields(cls)})


def build_pipeline(params: AugmentParams, seed: int | None = None) -> A.Compose:
    """Build the albumentations pipeline (images are resized before it, see :class:`Augmenter`).

    Args:
        params: Probabilities and ranges.
        seed: Seed of the pipeline's random state.

    Returns:
        A ``Compose`` taking and returning ``uint8`` BGR images (OpenCV's order, which its
        JPEG step assumes) under the key ``image``.
    """
    return A.Compose(
        [
            A.GaussNoise(std_range=params.noise_std, p=params.noise_p),
            A.ImageCompression(compression_type="jpeg", quality_range=params.jpeg_quality, p=params.jpeg_p),
            A.GaussianBlur(blur_limit=0, sigma_limit=params.blur_sigma, p=params.blur_p),
            A.HorizontalFlip(p=params.flip_p),
        ],
        seed=seed,
    )


class Augmenter:
    """Applies the augmentation to one image with an explicit seed; safe to share across threads.

    Args:
        params: Probabilities and ranges.
    """

    def __init__(self, params: AugmentParams) -> None:
        self.params = params
        self._local = threading.local()

    def __call__(self, image: np.ndarray, seed: int) -> np.ndarray:
        """Augment ``image``.

        Args:
            image: ``uint8`` RGB image of any size, shape ``(H, W, 3)``.
            seed: The image's seed; the same seed gives the same output.

        Returns:
            A ``uint8`` RGB image of shape ``(image_size, image_size, 3)``.
        """
        # Resize first, as inference does, so noise, JPEG blocks and blur are at model scale.
        image = fit_size(image, self.params.image_size)
        pipeline = self._pipeline()
        pipeline.set_random_seed(seed)
        # ImageCompression hands the array to cv2.imencode, which reads it as BGR; run the
        # pipeline on BGR (noise, blur and flip do not care) so JPEG's chroma is right.
        bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
        return cv2.cvtColor(pipeline(image=bgr)["image"], cv2.COLOR_BGR2RGB)

    def _pipeline(self) -> A.Compose:
        pipeline = getattr(self._local, "pipeline", None)
        if pipeline is None:
            pipeline = build_pipeline(self.params)
            self._local.pipeline = pipeline
        return pipeline
