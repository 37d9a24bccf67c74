"""The package's shape: which stage may import which, checked on every import statement."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.support import REPO

PACKAGE = REPO / "dfembed"
LAYERS = ("core", "faces", "model", "audio")  # shared by every stage; they import no stage
STAGES = ("crop", "train", "infer", "evaluate", "detectors", "temporal", "export", "explain", "serve")
#: Modules of another stage that a stage may import (beside the shared layers).
ALLOWED = {
    "crop": set(),
    # the audio modality reads the tiles' groups and sources as it reads the face manifest's groups
    "train": {"crop.manifest", "crop.naming", "crop.videos", "crop.audio_manifest", "evaluate.metrics"},
    "infer": {"crop.sources", "crop.datasets", "crop.discovery"},
    # evaluate reads inference's CSV and record (submission), scores a gallery (scoring), aggregates frames as
    # inference does (aggregate), reads labels as the crop stage finds media (sources, datasets), and draws
    # self-blends exactly as training makes them (train.pseudo, for gallery --sbi).
    "evaluate": {"infer.submission", "infer.scoring", "infer.aggregate", "crop.sources", "crop.datasets",
                 "train.pseudo"},
    "detectors": set(),  # the detector comparison: faces' registry, media and geometry only
    # embed reads the crop folder as videos and appends its index like the crop journal; train-temporal
    # splits videos by group, checkpoints and validates exactly as the training stage does.
    "temporal": {"crop.manifest", "crop.videos", "train.crops", "train.split", "train.run_folder",
                 "train.callbacks", "evaluate.metrics"},
    "export": set(),  # the model layer holds what it exports (network, classifier, SVM head, contract)
    # explain and serve load and score as inference does (models, config, aggregate); serve picks faces to
    # explain as explain does (select)
    "explain": {"infer.models", "infer.config", "infer.aggregate"},
    "serve": {"infer.models", "infer.config", "infer.aggregate", "explain.select"},
}


def _imports(path: Path) -> list[str]:
    """Every ``dfembed`` module a file imports, at any depth (lazy imports too), without the prefix."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("dfembed."):
            found.append(node.module.removeprefix("dfembed."))
        elif isinstance(node, ast.Import):
            found += [a.name.removeprefix("dfembed.") for a in node.names if a.name.startswith("dfembed.")]
    return found


def _modules(folder: str) -> list[Path]:
    return sorted((PACKAGE / folder).glob("*.py"))


@pytest.mark.parametrize("layer", LAYERS)
def test_shared_layers_import_no_stage(layer: str) -> None:
    allowed = {"core", layer} | ({"core", "faces"} if layer == "faces" else set())
    wrong = [(p.name, m) for p in _modules(layer) for m in _imports(p) if m.split(".")[0] not in allowed]
    assert not wrong, f"dfembed.{layer} may import only {sorted(allowed)}: {wrong}"


@pytest.mark.parametrize("stage", STAGES)
def test_stages_import_only_the_layers_and_the_allowed_modules_of_other_stages(stage: str) -> None:
    def ok(module: str) -> bool:
        top = module.split(".")[0]
        return top in LAYERS or top == stage or module in ALLOWED[stage]

    wrong = [(p.name, m) for p in _modules(stage) for m in _imports(p) if not ok(m)]
    assert not wrong, f"dfembed.{stage} imports outside its allowed arrows: {wrong}"


def test_sub_package_init_files_are_empty() -> None:
    for folder in (*LAYERS, *STAGES):
        assert (PACKAGE / folder / "__init__.py").read_text(encoding="utf-8") == "", folder


def test_tests_mirror_the_package() -> None:
    for folder in (*LAYERS, *STAGES):
        assert (REPO / "tests" / folder).is_dir(), folder
