"""Configuration of the training stage (``train.py DATA OUT_H5 OUT_PKL``).

One frozen dataclass holds every option with its default; :func:`dfembed.core.config.resolve_config`
layers a YAML/TOML file and the command-line flags over it. ``resources/train.yaml``
lists the same defaults (a test keeps the two equal). Importing this module is cheap:
it does not import Keras.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# The names below are the single definitions shared by the Keras modules (model, losses,
# classifier, dataset) and the CLI, kept here so that none of them needs Keras to read them.

#: The triplet loss's distances (the keys of ``dfembed.model.losses.DISTANCES``) and its default.
DISTANCE_NAMES = ("squared-L2", "L2")
DEFAULT_DISTANCE = "squared-L2"
#: The EfficientNet variants, as :func:`backbone_name` spells them.
BACKBONE_NAMES = tuple(f"b{i}" for i in range(8))
#: keras.applications' lower bound on the input side of EfficientNet without its top.
MIN_IMAGE_SIZE = 32
#: Crop folder name → label (the classifier's ``P(fake)`` is the probability of class 1).
CLASSES: dict[str, int] = {"real": 0, "fake": 1}


def backbone_name(name: str) -> str:
    """Normalise a backbone name: ``"b4"``, ``"B4"`` and ``"efficientnetb4"`` give ``"b4"``.

    Args:
        name: The backbone as a user, a config file or a model's layer wrote it.

    Returns:
        The lower-case name without the ``efficientnet`` prefix (not checked against
        :data:`BACKBONE_NAMES`).
    """
    return str(name).strip().lower().removeprefix("efficientnet")


@dataclass(frozen=True)
class TrainConfig:
    """Every option of the training stage.

    Attributes:
        backbone: EfficientNet variant ``"b0"`` … ``"b7"``.
        image_size: Side of the square input image in pixels.
        weights: ``"imagenet"``, ``"none"`` or a local backbone weights file.
        embedding_dim: Width of the embedding.
        dropout: Dropout rate before the embedding layer.
        l2: L2 factor of the embedding layer's kernel.
        margin: Margin of the semi-hard triplet loss.
        distance: ``"squared-L2"`` (what the original solution trained with) or ``"L2"``.
        batch_size: Images per batch, half real and half fake; even and at least 4.
        epochs: Number of epochs.
        steps_per_epoch: Batches per epoch; ``None`` is one pass over the larger class.
        lr: SGD learning rate.
        momentum: SGD momentum (0 as in the original solution).
        nesterov: Nesterov momentum.
        schedule: ``"constant"`` or ``"cosine"`` (decay to 0 over all training steps).
        seed: Seed of the split, batch sampling, augmentation, weights and the SVM folds.
        val_fraction: Share of groups (source videos) held out for validation when no
            validation tree is given; 0 disables validation.
        precision: ``"auto"`` (mixed_float16 on a GPU, float32 otherwise), ``"float32"``,
            ``"mixed_float16"`` or ``"mixed_bfloat16"``.
        noise_p: Probability of Gaussian noise.
        noise_std: Range of the noise's standard deviation, as a fraction of 255.
        jpeg_p: Probability of JPEG re-compression.
        jpeg_quality: Range of the JPEG quality (1..100).
        blur_p: Probability of Gaussian blur.
        blur_sigma: Range of the blur's sigma in pixels.
        flip_p: Probability of a horizontal flip.
        svm_kernel: ``"linear"`` or ``"rbf"``.
        svm_c: SVM regularisation parameter C.
        svm_calibration_cv: Folds of the SVM's probability calibration.
        val_svm_samples: Most training crops embedded each epoch to fit the validation
            SVM (a seeded, class-balanced subset; the final SVM uses all crops).
        workers: Threads decoding and augmenting batches; 0 picks the CPU count (at most 16).
        max_queue_size: Batches prepared ahead of the model (prefetch).
        embed_batch_size: Batch size when embedding crops (validation and final SVM).
        keep: Which weights become OUT_H5: ``"best"`` by validation AUC, or ``"last"``.
        format: ``"h5"`` (legacy HDF5, as upstream) or ``"keras"`` (also writes ``.keras``).
        tensorboard: Write TensorBoard logs (TensorFlow backend only).
    """

    backbone: Literal["b0", "b1", "b2", "b3", "b4", "b5", "b6", "b7"] = "b4"
    image_size: int = 380
    weights: str = "imagenet"
    embedding_dim: int = 512
    dropout: float = 0.4
    l2: float = 1e-4
    margin: float = 1.0
    distance: Literal["squared-L2", "L2"] = DEFAULT_DISTANCE
    batch_size: int = 28
    epochs: int = 10
    steps_per_epoch: int | None = None
    lr: float = 0.01
    momentum: float = 0.0
    nesterov: bool = False
    schedule: Literal["constant", "cosine"] = "constant"
    seed: int = 0
    val_fraction: float = 0.2
    precision: Literal["auto", "float32", "mixed_float16", "mixed_bfloat16"] = "auto"
    noise_p: float = 0.3
    noise_std: tuple[float, float] = (0.01, 0.05)
    jpeg_p: float = 0.3
    jpeg_quality: tuple[int, int] = (60, 100)
    blur_p: float = 0.3
    blur_sigma: tuple[float, float] = (0.1, 1.5)
    flip_p: float = 0.5
    svm_kernel: Literal["linear", "rbf"] = "linear"
    svm_c: float = 1.0
    svm_calibration_cv: int = 3
    val_svm_samples: int = 2000
    workers: int = 0
    max_queue_size: int = 10
    embed_batch_size: int = 32
    keep: Literal["best", "last"] = "best"
    format: Literal["h5", "keras"] = "h5"
    tensorboard: bool = True

    def __post_init__(self) -> None:
        """Reject values out of range with a message naming the option.

        Raises:
            ValueError: An option is out of range.
        """
        self._check_model()
        self._check_schedule()
        self._check_augmentation()
        self._check_resources()

    def _check_model(self) -> None:
        _require(self.backbone in BACKBONE_NAMES, f"backbone must be one of {', '.join(BACKBONE_NAMES)}, got {self.backbone!r}")
        _require(self.image_size >= MIN_IMAGE_SIZE, f"image_size must be at least {MIN_IMAGE_SIZE}, got {self.image_size}")
        _require(bool(str(self.weights).strip()), "weights must be 'imagenet', 'none' or a weights file path")
        _require(self.embedding_dim >= 1, f"embedding_dim must be at least 1, got {self.embedding_dim}")
        _require(0.0 <= self.dropout < 1.0, f"dropout must lie in [0, 1), got {self.dropout}")
        _require(self.l2 >= 0.0, f"l2 must not be negative, got {self.l2}")
        _require(self.margin > 0.0, f"margin must be positive, got {self.margin}")

    def _check_schedule(self) -> None:
        _require(
            self.batch_size >= 4 and self.batch_size % 2 == 0,
            f"batch_size must be even and at least 4 (half real, half fake, two of each), got {self.batch_size}",
        )
        _require(self.epochs >= 1, f"epochs must be at least 1, got {self.epochs}")
        _require(
            self.steps_per_epoch is None or self.steps_per_epoch >= 1,
            f"steps_per_epoch must be at least 1 (or unset), got {self.steps_per_epoch}",
        )
        _require(self.seed >= 0, f"seed must not be negative, got {self.seed}")
        _require(self.lr > 0.0, f"lr must be positive, got {self.lr}")
        _require(0.0 <= self.momentum < 1.0, f"momentum must lie in [0, 1), got {self.momentum}")
        _require(0.0 <= self.val_fraction < 1.0, f"val_fraction must lie in [0, 1), got {self.val_fraction}")

    def _check_augmentation(self) -> None:
        for name in ("noise_p", "jpeg_p", "blur_p", "flip_p"):
            value = getattr(self, name)
            _require(0.0 <= value <= 1.0, f"{name} must lie in [0, 1], got {value}")
        _check_range("noise_std", self.noise_std, 0.0, 1.0)
        _check_range("jpeg_quality", self.jpeg_quality, 1, 100)
        _check_range("blur_sigma", self.blur_sigma, 0.0, 50.0)
        _require(self.blur_sigma[1] > 0.0, f"blur_sigma's upper end must be positive, got {self.blur_sigma}")

    def _check_resources(self) -> None:
        _require(self.svm_c > 0.0, f"svm_c must be positive, got {self.svm_c}")
        _require(self.svm_calibration_cv >= 2, f"svm_calibration_cv must be at least 2, got {self.svm_calibration_cv}")
        _require(self.val_svm_samples >= 4, f"val_svm_samples must be at least 4, got {self.val_svm_samples}")
        _require(self.workers >= 0, f"workers must be 0 (automatic) or more, got {self.workers}")
        _require(self.max_queue_size >= 1, f"max_queue_size must be at least 1, got {self.max_queue_size}")
        _require(self.embed_batch_size >= 1, f"embed_batch_size must be at least 1, got {self.embed_batch_size}")


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


def _check_range(name: str, bounds: tuple[float, float], low: float, high: float) -> None:
    first, last = bounds
    _require(
        low <= first <= last <= high,
        f"{name} must be a range (min, max) with {low} <= min <= max <= {high}, got {bounds}",
    )
