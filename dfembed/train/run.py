"""The training stage's entry: outputs checked, the run folder locked, then the modality trains.

:func:`run_train` is what ``train.py DATA OUT_H5 OUT_PKL`` runs:

1. the modality of the configuration (:func:`~dfembed.train.modalities.training_modality`:
   ``face``, ``audio``, or with ``--temporal`` the clip model) says which part of the run
   this process takes (``--distribute``);
2. the outputs are named and checked (:func:`~dfembed.train.outputs.resolve_outputs`:
   distinct from each other and from the inputs, not existing without ``force``; with
   ``resume``, the run folder's state and checkpoint), their folders must be writable,
   and the run folder is locked against a concurrent job;
3. the modality trains and writes the outputs: the frame model for ``face`` and ``audio``
   (:mod:`dfembed.train.frames`, with the modality's steps), the clip model for
   ``--temporal`` (:mod:`dfembed.train.run_clips`).

Every modality writes the same outputs: the model (HDF5), the classifier bundle (joblib)
with its safe ``.npz`` beside it, and a provenance record. Loading the bundle unpickles
it, which runs code: load only files you trust (inference reads the safe ``.npz`` instead).
"""

from __future__ import annotations

import time
from pathlib import Path

from dfembed.core.lock import OutputLock, lock_file_beside
from dfembed.core.paths import check_writable
from dfembed.train.config import TrainConfig
from dfembed.train.modalities import training_modality
from dfembed.train.modality import TrainJob
from dfembed.train.outputs import TrainSummary, resolve_outputs


def run_train(
    data: Path,
    out_h5: Path,
    out_pkl: Path,
    config: TrainConfig,
    force: bool = False,
    resume: bool = False,
    val: Path | None = None,
) -> TrainSummary:
    """Train the embedding network and the SVM, and write OUT_H5, OUT_PKL and provenance.

    Args:
        data: The crop tree (``real/``, ``fake/``, optionally ``manifest.csv``,
            ``dfembed-crop.json`` and ``validation/{real,fake}``).
        out_h5: Model file, or an existing folder (then ``model.h5`` inside it).
        out_pkl: Classifier file, or an existing folder (then ``svm.pkl`` inside it).
        config: The resolved training configuration.
        force: Replace existing outputs; without ``resume`` also start the run folder over.
        resume: Continue from the run folder's last checkpoint (with ``force``, also a
            finished run whose outputs exist).
        val: A validation tree with ``real/`` and ``fake/``; by default
            ``DATA/validation`` when present, else a split of DATA by group.

    Returns:
        The :class:`~dfembed.train.outputs.TrainSummary`.

    Raises:
        InputError: Missing or unusable data, too few images for a batch, a weights file
            that does not fit the backbone, or nothing (or a damaged checkpoint) to resume.
        OutputExistsError: Outputs (or a run folder with checkpoints) exist without ``force``.
        ConfigError: Two outputs are one file or an output is an input, or options that do
            not fit the machine, the modality or the run being resumed.
        OutputError: An output folder cannot be written.
        LockedError: Another job trains into the same run folder.
    """
    started = time.monotonic()
    modality = training_modality(config)
    dist = modality.distribution(config)  # first: MultiWorkerMirroredStrategy must exist before TensorFlow runs an op
    paths = resolve_outputs(Path(data), Path(out_h5), Path(out_pkl), config, force, resume)
    job = TrainJob(Path(data), Path(out_h5), Path(out_pkl), paths, config, force, resume, val, started, dist)
    if not dist.chief:  # a multi-worker run's other workers train; the chief checks, locks and writes
        return modality.train(job)
    for folder in {paths.model.parent, paths.classifier.parent}:
        check_writable(folder, "output folder")
    with OutputLock(lock_file_beside(paths.run_dir), f"run folder {paths.run_dir}"):
        return modality.train(job)
