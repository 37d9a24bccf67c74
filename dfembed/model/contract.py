"""What an exported model promises: its input, its outputs, and how its crops were made.

``dfembed export`` writes a model that takes a batch of face crops and returns P(fake) and
the embedding of each. :class:`ExportContract` describes it: the input (``image``: uint8
RGB, NHWC, values 0..255, exactly ``image_size`` × ``image_size`` — **resizing is not inside
the model**: crops are resized to that size before it, with dfembed's rule), the outputs
(``p_fake`` float32 ``(n,)``, ``embedding`` float32 ``(n, embedding_dim)``, unit norm), the
class mapping, the backbone, the classifier's kernel, and the crop configuration and face
detector the model was trained with (so inference crops as training did).

The contract travels twice: inside the ONNX file (its ``metadata_props`` entry ``dfembed``,
so one file is enough) and in ``dfembed-export.json`` beside the model, which also records
the SHA-256 of the exported files. Both are plain JSON; reading them runs no code.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from dfembed.core.errors import DfembedError, InputError
from dfembed.model.names import backbone_key

FORMAT = "dfembed-export"
FORMAT_VERSION = 1
#: The ``metadata_props`` key of an exported ONNX model that holds the contract.
METADATA_KEY = "dfembed"
#: The record beside an exported model.
RECORD_NAME = "dfembed-export.json"
#: The exported ONNX model's file name inside the export folder.
ONNX_NAME = "model.onnx"
INPUT_NAME = "image"
SCORE_OUTPUT = "p_fake"
EMBEDDING_OUTPUT = "embedding"
MODEL_FORMATS = ("onnx", "savedmodel")
#: How crops reach the model's input size, outside the model (``dfembed.faces.geometry.fit_size``).
RESIZE_RULE = ("outside the model: each face crop is resized to image_size x image_size before it, with OpenCV's "
               "INTER_AREA when shrinking and INTER_LINEAR when enlarging (dfembed.faces.geometry.fit_size)")


@dataclass(frozen=True)
class ExportContract:
    """The input, outputs and training settings of an exported model.

    Attributes:
        model_format: ``"onnx"`` or ``"savedmodel"``.
        image_size: Side of the square input crops in pixels.
        embedding_dim: Width of the ``embedding`` output.
        backbone: The registered backbone (``"b4"``, ``"lite0"``).
        kernel: The classifier's SVM kernel (``"linear"`` or ``"rbf"``).
        class_mapping: Class name → label (``{"real": 0, "fake": 1}``); ``p_fake`` is P(fake).
        crop_config: The crop stage's configuration the model was trained on (``None``: unknown).
        detector: The crop stage's record of its face detector (``None``: unknown).
        trained_precision: The dtype policy the model was trained in (the export is float32).
        versions: Library versions that made the export.
    """

    model_format: str
    image_size: int
    embedding_dim: int
    backbone: str
    kernel: str
    class_mapping: dict[str, int]
    crop_config: dict[str, Any] | None = None
    detector: dict[str, Any] | None = None
    trained_precision: str = "float32"
    versions: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The contract as the JSON object stored in the model and in its record."""
        size, dim = self.image_size, self.embedding_dim
        return {
            "format": FORMAT, "format_version": FORMAT_VERSION, "model_format": self.model_format,
            "input": {"name": INPUT_NAME, "shape": [None, size, size, 3], "dtype": "uint8", "layout": "NHWC",
                      "channel_order": "RGB", "value_range": [0, 255], "resize_inside": False,
                      "resize": RESIZE_RULE},
            "outputs": {
                SCORE_OUTPUT: {"shape": [None], "dtype": "float32", "meaning": "P(fake) of each crop"},
                EMBEDDING_OUTPUT: {"shape": [None, dim], "dtype": "float32",
                                   "meaning": "the unit-norm embedding of each crop"},
            },
            "class_mapping": dict(self.class_mapping),
            "model": {"backbone": self.backbone, "image_size": size, "embedding_dim": dim, "precision": "float32",
                      "trained_precision": self.trained_precision},
            "classifier": {"kernel": self.kernel, "calibration": "sigmoid", "computed_in": "float64"},
            "crop_config": self.crop_config, "detector": self.detector, "versions": dict(self.versions),
        }

    def dumps(self) -> str:
        """:meth:`to_json` as compact JSON text (the ONNX metadata value)."""
        return json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, data: Any, source: str) -> ExportContract:
        """Read and check a contract.

        Args:
            data: The JSON object (the model's metadata or the record beside it).
            source: What to call it in messages (the file).

        Returns:
            The contract.

        Raises:
            InputError: It is not a dfembed export contract, has a newer format, or a
                field is missing or of the wrong kind; the message names ``source``.
        """
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise InputError(f"{source} holds no dfembed export contract (format {FORMAT!r})")
        version = data.get("format_version")
        if not _is_int(version) or version > FORMAT_VERSION:
            raise InputError(f"{source} has export format {version!r}; this dfembed reads up to {FORMAT_VERSION}")
        try:
            return _contract(data)
        except (KeyError, TypeError, ValueError, AttributeError, DfembedError) as err:
            raise InputError(f"{source}: a malformed dfembed export contract ({type(err).__name__}: {err})") from err


def _contract(data: dict[str, Any]) -> ExportContract:
    model, classifier, input_ = data["model"], data["classifier"], data["input"]
    size, dim = model["image_size"], model["embedding_dim"]
    if not (_is_int(size) and size >= 1 and _is_int(dim) and dim >= 1):
        raise ValueError(f"image_size {size!r} and embedding_dim {dim!r} must be positive integers")
    expected_input = {"dtype": "uint8", "layout": "NHWC", "channel_order": "RGB", "value_range": [0, 255]}
    wrong = {k: input_.get(k) for k, v in expected_input.items() if input_.get(k) != v}
    if wrong or input_.get("shape") != [None, size, size, 3]:
        raise ValueError(f"an input other than uint8 RGB NHWC 0..255 crops of {size} px: {wrong or input_['shape']}")
    mapping = data["class_mapping"]
    if not isinstance(mapping, dict) or set(mapping) != {"real", "fake"} or not all(map(_is_int, mapping.values())):
        raise ValueError(f"class_mapping {mapping!r} must map real and fake to integer labels")
    if data["model_format"] not in MODEL_FORMATS:
        raise ValueError(f"model_format {data['model_format']!r} is not one of {', '.join(MODEL_FORMATS)}")
    for name in ("crop_config", "detector"):
        if data.get(name) is not None and not isinstance(data[name], dict):
            raise ValueError(f"{name} must be an object or null")
    return ExportContract(
        model_format=data["model_format"], image_size=size, embedding_dim=dim, backbone=backbone_key(model["backbone"]),
        kernel=str(classifier["kernel"]), class_mapping={k: int(v) for k, v in mapping.items()},
        crop_config=data.get("crop_config"), detector=data.get("detector"),
        trained_precision=str(model.get("trained_precision", "float32")), versions=dict(data.get("versions") or {}),
    )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
