"""A tiny trained pair (B0 at 64 px, random weights, SVMs fitted on the DFDC sample crops) and its exports.

Built once per test session (``tests/conftest.py``) and shared by the export and inference
tests: converting a graph to ONNX costs about ten seconds, so each export is made once.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from tests.support import shared_path

IMAGE_SIZE = 64
EMBEDDING_DIM = 16
#: The crop stage's settings recorded in the bundles: crops of 80 px resized to 64, 3 frames per video, every face.
CROP = {"size": 80, "faces": "all", "frames_per_video": 3}


def sample_crops() -> tuple[np.ndarray, list[int]]:
    """The 60 DFDC sample crops resized to the model's input size (as inference resizes), and their labels."""
    from dfembed.faces.geometry import fit_size
    from dfembed.faces.media import read_image

    crops = shared_path("dfdc_sample", "crops")
    real, fake = sorted((crops / "real").glob("*.png")), sorted((crops / "fake").glob("*.png"))
    images = np.stack([fit_size(read_image(p), IMAGE_SIZE) for p in real + fake])
    return images, [0] * len(real) + [1] * len(fake)


def build_pair(root: Path, backbone: str = "b0", weights: str = "none") -> dict[str, Path]:
    """``model.h5`` and two classifiers, ``linear.pkl`` and ``rbf.pkl`` (with their safe ``.npz``), in ``root``."""
    import keras

    from dfembed.faces.config import CropConfig
    from dfembed.model.classifier import ClassifierBundle, EmbeddingSVM, save_bundle
    from dfembed.model.network import build_embedding_model, embed_images, save_model

    keras.utils.set_random_seed(0)
    model = build_embedding_model(backbone, image_size=IMAGE_SIZE, weights=weights, embedding_dim=EMBEDDING_DIM)
    model_file = save_model(model, root / "model.h5")
    images, labels = sample_crops()
    embeddings = embed_images(model, images, batch_size=32)
    crop = dataclasses.asdict(CropConfig(**CROP))
    paths = {"model": model_file}
    for kernel in ("linear", "rbf"):
        svm = EmbeddingSVM(kernel=kernel, random_state=0).fit(embeddings, labels)
        bundle = ClassifierBundle(svm, EMBEDDING_DIM, backbone, IMAGE_SIZE, crop_config=crop)
        paths[kernel] = save_bundle(bundle, root / f"{kernel}.pkl", models={"model": model_file})
    return paths


def export(model: Path, classifier: Path, out: Path, *options: str) -> Path:
    """Run ``dfembed export MODEL CLASSIFIER OUT OPTIONS…`` through its command line; returns OUT."""
    from click.testing import CliRunner

    from dfembed.commands.export import export_command

    result = CliRunner().invoke(export_command, [str(model), str(classifier), str(out), *options])
    assert result.exit_code == 0, result.output
    return out
