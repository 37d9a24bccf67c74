"""Crop galleries: labelled face crops scored by a trained model, or real crops with their self-blends.

For a quick look at what the model saw: ``dfembed gallery CROPS MODEL_H5 SVM_PKL OUT.png``
takes crops from ``crop_face.py``'s output (``real/``, ``fake/``, ``unlabeled/``),
scores them with the embedding model and the SVM, and draws them with their label and
P(fake) (:func:`dfembed.evaluate.plots.crop_gallery`).

For a look at what ``--pseudo-fakes sbi`` trains on: ``dfembed gallery --sbi CROPS OUT.png``
draws rows of real crop / blend mask / self-blend, made exactly as training makes them
(:class:`dfembed.train.pseudo.PseudoFakes`).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from dfembed.core.atomic import refuse_existing
from dfembed.core.classes import CLASSES, CROP_FOLDERS
from dfembed.core.errors import InputError

log = logging.getLogger(__name__)


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
    from dfembed.faces.media import is_image

    by_label = [
        (label, sorted(p for p in (crops / name).rglob("*") if is_image(p)))
        for name, label in ((folder, CLASSES.get(folder)) for folder in CROP_FOLDERS)
    ]
    by_label = [(label, files) for label, files in by_label if files]
    paths: list[Path] = []
    labels: list[int | None] = []
    for rank, (label, files) in enumerate(by_label):
        share = min(len(files), (size - len(paths)) // (len(by_label) - rank))
        step = max(1, len(files) // max(share, 1))
        chosen = files[::step][:share]
        paths += chosen
        labels += [label] * len(chosen)
    if not paths:
        raise InputError(f"no crops in {crops}/real, {crops}/fake or {crops}/unlabeled")
    return paths, labels


def make_gallery(
    crops: Path,
    model_h5: Path,
    svm_pkl: Path,
    out: Path,
    size: int = 24,
    batch_size: int = 16,
    force: bool = False,
) -> Path:
    """Score a sample of crops and write the gallery PNG.

    Args:
        crops: Crop folder (``crop_face.py`` output).
        model_h5: The embedding model.
        svm_pkl: The classifier bundle. **Loading a pickle runs code**: trusted files only.
        out: Destination PNG.
        size: Crops shown.
        batch_size: Crops per embedding batch.
        force: Replace an existing ``out``.

    Returns:
        ``out``.

    Raises:
        OutputExistsError: ``out`` exists and ``force`` is false.
        InputError: No crops, unreadable crops, or a model/SVM mismatch.
    """
    from dfembed.evaluate.plots import crop_gallery
    from dfembed.faces.geometry import fit_size
    from dfembed.faces.media import read_image
    from dfembed.infer.scoring import FaceScorer, load_checked

    refuse_existing([out], force)
    paths, labels = choose_crops(crops, size)
    model, bundle, info = load_checked(model_h5, svm_pkl)
    images = np.stack([fit_size(read_image(p), info.image_size) for p in paths])
    scores = FaceScorer.from_bundle(model, bundle, batch_size)(images)
    log.info("gallery of %d crops from %s", len(paths), crops)
    return crop_gallery(images, labels, [float(s) for s in scores], out)


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

    refuse_existing([out], force)
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
        titles += [path.name[:28], f"mask (ratio {blend.ratio:g})", f"self-blend ({blend.transformed} changed)"]
    log.info("SBI gallery of %d real crops from %s", len(chosen), crops)
    return image_grid(images, titles, out, columns=3)
