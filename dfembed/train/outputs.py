"""Where a training run writes, and what it did: the output files, checked before any work, and the summary.

Every training modality (:mod:`dfembed.train.modality`) writes the same outputs: OUT_H5
(the embedding network), OUT_PKL (the classifier bundle) with its safe ``.npz`` beside it,
the training record and the run folder; :func:`resolve_outputs` names them and refuses to
overwrite them, and :func:`write_outputs` saves the model and the bundle.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import keras

from dfembed.core.errors import ConfigError, InputError, OutputExistsError
from dfembed.core.ownership import check_replaceable, file_entry, owned_with_record
from dfembed.core.paths import check_distinct
from dfembed.model.classifier import ClassifierBundle, save_bundle
from dfembed.model.network import save_model
from dfembed.model.safe_file import safe_path
from dfembed.train.config import TrainConfig
from dfembed.train.run_folder import has_checkpoint, resume_checkpoint

DEFAULT_MODEL_NAME = "model.h5"
DEFAULT_CLASSIFIER_NAME = "svm.pkl"


@dataclasses.dataclass(frozen=True)
class OutputPaths:
    """Where a training run writes.

    Attributes:
        model: The HDF5 model (OUT_H5).
        classifier: The joblib classifier bundle (OUT_PKL).
        safe_classifier: The same classifier as plain arrays, loadable without unpickling
            (``OUT_PKL`` with the suffix ``.npz``).
        keras_model: The ``.keras`` copy (``--format keras``), else ``None``.
        provenance: JSON record of configuration, versions and results.
        run_dir: Checkpoints, per-epoch state and TensorBoard logs.
    """

    model: Path
    classifier: Path
    safe_classifier: Path
    keras_model: Path | None
    provenance: Path
    run_dir: Path


@dataclasses.dataclass(frozen=True)
class TrainSummary:
    """What a training run did.

    Attributes:
        outputs: The files written.
        initial_epoch: First epoch run by this call (> 0 after ``resume``).
        epochs: Epochs completed in total.
        history: Per-epoch metrics (loss, and val_auc/val_log_loss/val_accuracy with validation).
        best_epoch: 1-based epoch of the best validation AUC, ``None`` without validation.
        best_val_auc: That AUC.
        n_train: Training crop files.
        n_val: Validation crop files.
        n_unreadable: Skipped unreadable files.
        seconds: Wall time of the call.
        n_pseudo: Fixed self-blended pseudo-fakes in the SVM's training set and in validation.
        chief: This process wrote the outputs (``False``: another worker of a multi-worker run did).
    """

    outputs: OutputPaths
    initial_epoch: int
    epochs: int
    history: tuple[dict[str, float], ...]
    best_epoch: int | None
    best_val_auc: float | None
    n_train: int
    n_val: int
    n_unreadable: int
    seconds: float
    n_pseudo: int = 0
    chief: bool = True


#: The training record's key naming the files it wrote with their SHA-256.
OUTPUTS_KEY = "outputs"


def resolve_outputs(
    data: Path, out_h5: Path, out_pkl: Path, config: TrainConfig, force: bool, resume: bool
) -> OutputPaths:
    """Name the output files and refuse to overwrite them without ``force``.

    Args:
        data: The data folder (checked to exist first, for a clearer message).
        out_h5: Model file or existing folder.
        out_pkl: Classifier file or existing folder.
        config: Gives the model format.
        force: Allow replacing outputs; without ``resume`` also start the run folder over.
        resume: Continue in the run folder (which must then hold a checkpoint); with
            ``force`` a finished run can be continued and its outputs replaced.

    Returns:
        The :class:`OutputPaths`.

    Raises:
        InputError: ``data`` is missing; ``resume`` without a checkpoint, or with a state
            or checkpoint that cannot be resumed.
        OutputExistsError: An output or a run folder with checkpoints exists.
        ConfigError: The model file name does not end in ``.h5``/``.hdf5``; two outputs are
            one file, or an output is an input (the weights file, a validation tree).
    """
    if not data.is_dir():
        raise InputError(f"data folder {data} does not exist")
    model = out_h5 / DEFAULT_MODEL_NAME if out_h5.is_dir() else out_h5
    classifier = out_pkl / DEFAULT_CLASSIFIER_NAME if out_pkl.is_dir() else out_pkl
    if model.suffix.lower() not in (".h5", ".hdf5"):
        raise ConfigError(f"model file {model}: OUT_H5 must end in .h5 or .hdf5 (or be an existing folder)")
    if classifier.suffix == ".npz":
        raise ConfigError(f"classifier file {classifier}: OUT_PKL must not end in .npz, the name of the "
                          "safe classifier file written beside it")
    paths = OutputPaths(
        model=model,
        classifier=classifier,
        safe_classifier=safe_path(classifier),
        keras_model=model.with_suffix(".keras") if config.format == "keras" else None,
        provenance=model.with_name(f"{model.stem}.dfembed-train.json"),
        run_dir=model.with_name(f"{model.stem}.run"),
    )
    _check_distinct(paths, config)
    _check_existing(paths, config, force, resume)
    return paths


def _check_distinct(paths: OutputPaths, config: TrainConfig) -> None:
    weights = Path(config.weights) if config.weights.lower() not in ("imagenet", "none") else None
    check_distinct(
        {"OUT_H5": paths.model, "OUT_PKL": paths.classifier, "the safe classifier": paths.safe_classifier,
         "the .keras copy": paths.keras_model, "the training record": paths.provenance,
         "the run folder": paths.run_dir},
        {"--weights": weights},
    )


def output_entries(paths: OutputPaths) -> dict[str, dict[str, object]]:
    """The training record's ``outputs``: each written file's absolute path, SHA-256 and size (what a
    later ``--force`` may replace, :mod:`dfembed.core.ownership`)."""
    files = (paths.model, paths.keras_model, paths.classifier, paths.safe_classifier)
    return {str(path.absolute()): file_entry(path) for path in files if path is not None and path.is_file()}


def _check_existing(paths: OutputPaths, config: TrainConfig, force: bool, resume: bool) -> None:
    outputs = (paths.model, paths.classifier, paths.safe_classifier, paths.keras_model, paths.provenance)
    check_replaceable([p for p in outputs if p], owned_with_record(paths.provenance, key=OUTPUTS_KEY), force)
    checkpointed = has_checkpoint(paths.run_dir)
    if resume and not checkpointed:
        raise InputError(f"nothing to resume: {paths.run_dir} holds no checkpoint")
    if resume:
        resume_checkpoint(paths.run_dir, config)  # a bad state or checkpoint fails now, before the data load
    if checkpointed and not resume and not force:
        raise OutputExistsError(
            f"run folder {paths.run_dir} holds checkpoints of an earlier run: "
            "use --resume to continue it or --force to start over"
        )


def write_outputs(model: keras.Model, bundle: ClassifierBundle, paths: OutputPaths, config: TrainConfig) -> None:
    """Save the model (HDF5, and ``.keras`` on request) and the classifier bundle, atomically."""
    save_model(model, paths.model, fmt="h5")
    models = {"OUT_H5": paths.model}
    if paths.keras_model is not None:
        models["keras"] = save_model(model, paths.keras_model, fmt="keras")
    save_bundle(bundle, paths.classifier, models=models)
