"""Crop galleries: labelled face crops scored by a trained model, or real crops with their self-blends.

For a quick look at what the model saw: ``dfembed evaluate gallery CROPS MODEL_H5 SVM_PKL OUT.png``
takes crops from ``crop_face.py``'s output (``real/``, ``fake/``, ``unlabeled/``),
scores them with the embedding model and the SVM, and draws them with their label and
P(fake) (:func:`dfembed.evaluate.plots.crop_gallery`). A crop that cannot be read is
skipped with a warning and the next crop of its class takes its place. The classifier
is read from its safe file (no pickle is loaded unless ``trust_pickle``).

For a look at what ``--pseudo-fakes sbi`` trains on: ``dfembed evaluate gallery --sbi CROPS OUT.png``
draws rows of real crop / blend mask / self-blend, made exactly as training makes them
(:class:`dfembed.train.pseudo.PseudoFakes`); each mask's title says what placed it (the
crop's FaceMesh points with ``crop_face.py --landmarks facemesh``, else its five points or box).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from dfembed.core.classes import CLASSES, CROP_FOLDERS
from dfembed.core.errors import InputError
from dfembed.core.ownership import check_apart, check_replaceable, file_entry, owned_files, record_beside
from dfembed.core.paths import check_distinct, check_writable
from dfembed.core.provenance import write_provenance
from dfembed.core.walk import walk_files

log = logging.getLogger(__name__)

#: A gallery's record is ``<OUT_PNG stem>.dfembed-gallery.json`` beside it.
RECORD_STAGE = "gallery"


def choose_crops(crops: Path, size: int) -> tuple[list[Path], list[int | None]]:
    """Pick up to ``size`` crops spread evenly over each class, classes in equal shares.

    Args:
        crops: A crop folder with ``real/``, ``fake/`` and/or ``unlabeled/`` below it.
        size: Number of crops wanted.

    Returns:
        The chosen files and their labels (1 fake, 0 real, ``None`` unlabelled).

    Raises:
        InputError: No crop in any of the folders.
    """
    paths: list[Path] = []
    labels: list[int | None] = []
    for label, files in _spread(_by_label(crops), size):
        paths += files
        labels += [label] * len(files)
    if not paths:
        raise InputError(f"no crops in {crops}/real, {crops}/fake or {crops}/unlabeled")
    return paths, labels


def _by_label(crops: Path) -> list[tuple[int | None, list[Path]]]:
    """Each crop folder's label and images (listed by :func:`dfembed.core.walk.walk_files`), if any."""
    from dfembed.faces.media import is_image

    found = []
    for folder in CROP_FOLDERS:
        if (crops / folder).is_dir():
            files = [e.path for e in walk_files(crops / folder).files if is_image(e.path)]
            if files:
                found.append((CLASSES.get(folder), files))
    return found


def _spread(by_label: list[tuple[int | None, list[Path]]], size: int) -> list[tuple[int | None, list[Path]]]:
    """Up to ``size`` files in equal shares of the classes, each share spread over its class,
    followed by the class's other files in order (replacements for unreadable crops)."""
    chosen = []
    taken = 0
    for rank, (label, files) in enumerate(by_label):
        share = min(len(files), (size - taken) // (len(by_label) - rank))
        step = max(1, len(files) // max(share, 1))
        picked = files[::step][:share]
        taken += len(picked)
        chosen.append((label, picked))
    return chosen


def _readable(crops: Path, size: int, image_size: int) -> tuple[np.ndarray, list[int | None]]:
    """The chosen crops, read and resized; an unreadable crop is replaced by the next of its class."""
    from dfembed.faces.geometry import fit_size
    from dfembed.faces.media import MediaError, read_image

    by_label = _by_label(crops)
    images: list[np.ndarray] = []
    labels: list[int | None] = []
    skipped = []
    for (label, files), (_, picked) in zip(by_label, _spread(by_label, size)):
        chosen = set(picked)
        queue = picked + [f for f in files if f not in chosen]
        read = 0
        for path in queue:
            if read == len(picked):
                break
            try:
                images.append(fit_size(read_image(path), image_size))
            except MediaError as err:
                skipped.append(str(err))
                continue
            labels.append(label)
            read += 1
    if skipped:
        log.warning("skipped %d unreadable crops, e.g. %s", len(skipped), skipped[:3])
    if not images:
        raise InputError(f"no readable crop in {crops}/real, {crops}/fake or {crops}/unlabeled")
    return np.stack(images), labels


def make_gallery(
    crops: Path,
    model_h5: Path,
    svm_pkl: Path,
    out: Path,
    size: int = 24,
    batch_size: int = 16,
    force: bool = False,
    trust_pickle: bool = False,
) -> Path:
    """Score a sample of crops and write the gallery PNG.

    Args:
        crops: Crop folder (``crop_face.py`` output).
        model_h5: The embedding model.
        svm_pkl: The classifier (``train.py``'s OUT_PKL, whose safe ``.npz`` is read, or the ``.npz``).
        out: Destination PNG.
        size: Crops shown.
        batch_size: Crops per embedding batch.
        force: Replace an existing ``out`` that an earlier gallery wrote (its record says so).
        trust_pickle: Allow loading SVM_PKL as a pickle when it has no safe file.
            **Loading a pickle runs code**: trusted files only.

    Returns:
        ``out``.

    Raises:
        OutputExistsError: ``out`` exists and ``force`` is false, or it is not an earlier gallery's.
        ConfigError: ``out`` is one of the inputs or a file of CROPS.
        InputError: No readable crops, or a model/SVM mismatch.
    """
    from dfembed.evaluate.plots import crop_gallery
    from dfembed.infer.scoring import FaceScorer, load_checked

    _check_out(out, {"CROPS": crops, "MODEL_H5": model_h5, "SVM_PKL": svm_pkl}, force)
    check_writable(out.parent, "the gallery's folder", keep=False)
    choose_crops(crops, size)  # no crop at all: say so before loading the model
    model, bundle, info = load_checked(model_h5, svm_pkl, trust_pickle)
    images, labels = _readable(crops, size, info.image_size)
    scores = FaceScorer.from_bundle(model, bundle, batch_size, model_name=f"{model_h5} (with classifier {svm_pkl})")(
        images)
    log.info("gallery of %d crops from %s", len(images), crops)
    crop_gallery(images, labels, [float(s) for s in scores], out)
    return _record(out, {"kind": "scored", "crops": str(crops), "model_h5": str(model_h5), "svm_pkl": str(svm_pkl),
                         "size": size, "batch_size": batch_size})


def make_sbi_gallery(
    crops: Path, out: Path, size: int = 8, image_size: int = 256, seed: int = 0, force: bool = False
) -> Path:
    """Draw ``size`` rows of real crop, blend mask and self-blended pseudo-fake.

    Args:
        crops: Crop folder with ``real/`` (``crop_face.py`` output: its manifest places the face).
        out: Destination PNG.
        size: Real crops shown (spread evenly over ``real/``).
        image_size: Side the crops are blended at (training blends at the model's input size).
        seed: Seed of the blends.
        force: Replace an existing ``out``.

    Returns:
        ``out``.

    Raises:
        OutputExistsError: ``out`` exists and ``force`` is false.
        InputError: No real crop, or an unreadable one.
    """
    from dfembed.evaluate.plots import image_grid
    from dfembed.faces.geometry import fit_size
    from dfembed.faces.media import MediaError, is_image, read_image
    from dfembed.train.pseudo import build_pseudo_fakes

    _check_out(out, {"CROPS": crops}, force)
    reals = sorted(p for p in (crops / "real").rglob("*") if is_image(p)) if (crops / "real").is_dir() else []
    if not reals:
        raise InputError(f"no real crop in {crops / 'real'}: self-blends are made from real crops")
    chosen = reals[:: max(1, len(reals) // size)][:size]
    pseudo = build_pseudo_fakes([(crops, chosen)], image_size)
    images, titles = [], []
    for index, path in enumerate(chosen):
        try:
            real = read_image(path)
        except MediaError as err:
            raise InputError(f"SBI gallery: cannot read crop {err}") from err
        blend = pseudo.make(real, path, int(np.random.SeedSequence([seed, index]).generate_state(1)[0]))
        images += [fit_size(real, image_size), blend.mask, blend.image]
        titles += [path.name[:28], f"mask, {pseudo.placed_by(path)} (ratio {blend.ratio:g})",
                   f"self-blend ({blend.transformed} changed)"]
    log.info("SBI gallery of %d real crops from %s", len(chosen), crops)
    image_grid(images, titles, out, columns=3)
    return _record(out, {"kind": "sbi", "crops": str(crops), "size": size, "image_size": image_size, "seed": seed})


def _check_out(out: Path, inputs: dict[str, Path], force: bool) -> None:
    """OUT_PNG is no input and no file of one; an existing one is replaced only with ``force`` and only when
    its record (:func:`~dfembed.core.ownership.record_beside`) shows an earlier gallery wrote it."""
    check_apart({"OUT_PNG": out}, inputs)
    check_distinct({"OUT_PNG": out, "its record": record_beside(out, RECORD_STAGE)}, inputs)
    check_replaceable([out], owned_files(record_beside(out, RECORD_STAGE)), force)


def _record(out: Path, settings: dict[str, Any]) -> Path:
    """Write the gallery's record beside it (settings, versions, the PNG's SHA-256); return ``out``."""
    write_provenance(record_beside(out, RECORD_STAGE), settings, files={out.name: file_entry(out)})
    return out
