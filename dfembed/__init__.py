"""dfembed: deepfake face detection by metric learning.

The public API, one entry point per stage plus the pieces they are built from::

    from dfembed import CropConfig, run_crop                  # MTCNN face crops
    from dfembed import TrainConfig, run_train                # triplet embeddings + SVM
    from dfembed import InferConfig, run_inference            # submission CSVs
    from dfembed import run_evaluate, compute_metrics         # metrics and plots

Importing the package is cheap: each name is imported from its module on first use,
so TensorFlow, Keras and the face detector load only when a function needs them.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "CropConfig": "dfembed.crop_config",
    "run_crop": "dfembed.cropping",
    "FaceDetector": "dfembed.detector",
    "Face": "dfembed.detector",
    "FaceCrop": "dfembed.faces",
    "faces_from_media": "dfembed.faces",
    "TrainConfig": "dfembed.train_config",
    "run_train": "dfembed.training",
    "build_embedding_model": "dfembed.model",
    "load_embedding_model": "dfembed.model",
    "TripletSemiHardLoss": "dfembed.losses",
    "triplet_semihard_loss": "dfembed.losses",
    "EmbeddingSVM": "dfembed.classifier",
    "ClassifierBundle": "dfembed.classifier",
    "load_bundle": "dfembed.classifier",
    "InferConfig": "dfembed.infer_config",
    "run_inference": "dfembed.predict",
    "AGGREGATORS": "dfembed.aggregate",
    "run_evaluate": "dfembed.evaluation",
    "compute_metrics": "dfembed.metrics",
    "resolve_config": "dfembed.config",
    "DfembedError": "dfembed.errors",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    """Import a public name from its module on first access (PEP 562)."""
    if name not in _EXPORTS:
        raise AttributeError(f"module 'dfembed' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
