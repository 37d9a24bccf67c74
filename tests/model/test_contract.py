"""The export contract: what it says about the input, and what a reader refuses."""

from __future__ import annotations

import copy

import pytest

from dfembed.core.errors import InputError
from dfembed.model.contract import ExportContract

CONTRACT = ExportContract("onnx", 64, 16, "b0", "rbf", {"real": 0, "fake": 1}, {"size": 80, "detector": "mtcnn"},
                          {"name": "mtcnn"}, "mixed_float16", {"keras": "3"})


def test_round_trip_and_the_input_it_promises() -> None:
    data = CONTRACT.to_json()
    assert data["input"]["shape"] == [None, 64, 64, 3]
    assert (data["input"]["dtype"], data["input"]["channel_order"], data["input"]["value_range"]) == (
        "uint8", "RGB", [0, 255])
    assert data["input"]["resize_inside"] is False
    assert data["outputs"]["embedding"]["shape"] == [None, 16]
    assert ExportContract.from_json(data, "m.onnx") == CONTRACT


def _broken(change: str) -> dict:
    data = copy.deepcopy(CONTRACT.to_json())
    if change == "format":
        data["format"] = "something-else"
    elif change == "newer":
        data["format_version"] = 99
    elif change == "bgr":
        data["input"]["channel_order"] = "BGR"
    elif change == "size":
        data["input"]["shape"] = [None, 32, 32, 3]
    elif change == "mapping":
        data["class_mapping"] = {"fake": 1}
    elif change == "backbone":
        data["model"]["backbone"] = "resnet50"
    elif change == "missing":
        del data["classifier"]
    return data


@pytest.mark.parametrize(("change", "fragment"), [
    ("format", "holds no dfembed export contract"), ("newer", "export format 99"), ("bgr", "BGR"),
    ("size", "32"), ("mapping", "class_mapping"), ("backbone", "resnet50"), ("missing", "classifier"),
])
def test_a_bad_contract_is_an_error_naming_its_source(change: str, fragment: str) -> None:
    with pytest.raises(InputError, match="m.onnx") as caught:
        ExportContract.from_json(_broken(change), "m.onnx")
    assert fragment in str(caught.value)


def test_not_an_object() -> None:
    with pytest.raises(InputError, match="m.onnx holds no dfembed export contract"):
        ExportContract.from_json([1, 2], "m.onnx")
