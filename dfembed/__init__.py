"""dfembed: deepfake face detection by metric learning.

The public API, one entry point per stage plus the pieces they are built from::

    from dfembed import CropConfig, run_crop                  # face crops (MTCNN or BlazeFace)
    from dfembed import TrainConfig, run_train                # triplet embeddings + SVM
    from dfembed import InferConfig, run_inference            # submission CSVs
    from dfembed import EmbedConfig, run_embed                # per-frame embeddings of each video
    from dfembed import TemporalConfig, run_train_temporal    # a sequence model on them
    from dfembed import run_evaluate, compute_metrics         # metrics and plots
    from dfembed import ExportConfig, run_export, load_exported   # one ONNX / SavedModel model, run on ONNX Runtime

Importing the package is cheap: each name is imported from its module on first use,
so TensorFlow, Keras and the face detector load only when a function needs them.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "CropConfig": "dfembed.faces.config",
    "run_crop": "dfembed.crop.job",
    "build_detector": "dfembed.faces.detector",
    "Detector": "dfembed.faces.detector",
    "Face": "dfembed.faces.detector",
    "MTCNNDetector": "dfembed.faces.mtcnn",
    "BlazeFaceDetector": "dfembed.faces.blazeface",
    "FaceCrop": "dfembed.faces.extract",
    "faces_from_media": "dfembed.faces.extract",
    "TrainConfig": "dfembed.train.config",
    "run_train": "dfembed.train.run",
    "build_embedding_model": "dfembed.model.network",
    "load_embedding_model": "dfembed.model.network",
    "TripletSemiHardLoss": "dfembed.model.losses",
    "triplet_semihard_loss": "dfembed.model.losses",
    "EmbeddingSVM": "dfembed.model.classifier",
    "ClassifierBundle": "dfembed.model.classifier",
    "load_bundle": "dfembed.model.classifier",
    "load_classifier": "dfembed.model.safe_bundle",
    "InferConfig": "dfembed.infer.config",
    "run_inference": "dfembed.infer.run",
    "AGGREGATORS": "dfembed.infer.aggregate",
    "EmbedConfig": "dfembed.temporal.config",
    "run_embed": "dfembed.temporal.embed",
    "TemporalConfig": "dfembed.temporal.config",
    "run_train_temporal": "dfembed.temporal.run",
    "build_temporal_model": "dfembed.model.temporal",
    "run_evaluate": "dfembed.evaluate.run",
    "compute_metrics": "dfembed.evaluate.metrics",
    "ExportConfig": "dfembed.export.config",
    "run_export": "dfembed.export.run",
    "load_exported": "dfembed.model.exported",
    "resolve_config": "dfembed.core.config",
    "DfembedError": "dfembed.core.errors",
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
