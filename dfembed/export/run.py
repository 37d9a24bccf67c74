"""``dfembed export``: one portable model, face crops → P(fake) and the embedding.

Order of work in :func:`run_export`: the Keras backend and the converter are checked, then
OUT (a folder; not an input; an existing OUT only with ``force``, and only when it is an
earlier export), its lock is taken, the classifier (its safe file; a pickle only with
``trust_pickle``) and the model are loaded and checked against each other — all before
anything is built. The graph (:mod:`dfembed.export.graph`) is written into a temporary
folder beside OUT, checked in its runtime (:mod:`dfembed.export.verify`), given its record
``dfembed-export.json`` (the contract, the SHA-256 and size of every file, the sources,
the configuration and library versions), and only then renamed to OUT.

OUT for ``--format onnx``: ``model.onnx`` and ``dfembed-export.json``; for
``--format savedmodel``: the SavedModel (``saved_model.pb``, ``variables/``, …) and
``dfembed-export.json``.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dfembed.core.atomic import TEMP_MARKER, atomic_folder, refuse_existing
from dfembed.core.errors import ConfigError, InputError, OutputExistsError
from dfembed.core.lock import OutputLock, lock_file_beside
from dfembed.core.ownership import file_entry, foreign_files, owned_files
from dfembed.core.paths import check_writable
from dfembed.core.provenance import library_versions, write_provenance
from dfembed.export.config import ExportConfig
from dfembed.model.contract import ONNX_NAME, RECORD_NAME, ExportContract

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExportSummary:
    """The outcome of :func:`run_export`.

    Attributes:
        out: The export folder.
        model_file: What to load: ``OUT/model.onnx``, or OUT itself for a SavedModel.
        record: ``OUT/dfembed-export.json``.
        contract: What the model promises.
        files: Relative path → ``{"sha256", "bytes"}`` of every file written in OUT.
        verification: The check's largest differences (``None`` with ``verify`` off).
        seconds: Wall time.
    """

    out: Path
    model_file: Path
    record: Path
    contract: ExportContract
    files: dict[str, dict[str, Any]]
    verification: dict[str, Any] | None
    seconds: float


@dataclass(frozen=True)
class _Sources:
    """The loaded inputs: the Keras model, its float32 rebuild, the classifier and where they came from."""

    model: Any
    embedder: Any
    params: Any
    bundle: Any
    fake_column: int
    classifier_file: Path
    precision: str


def run_export(model_h5: Path, svm_pkl: Path, out: Path, config: ExportConfig, force: bool = False,
               trust_pickle: bool = False) -> ExportSummary:
    """Export a trained model and its classifier as one model (see the module docstring).

    Args:
        model_h5: The embedding model (``train.py``'s OUT_H5).
        svm_pkl: Its classifier: ``train.py``'s OUT_PKL (whose safe ``.npz`` is read) or the ``.npz``.
        out: The export folder to write.
        config: Export options.
        force: Replace an existing OUT (only an earlier export).
        trust_pickle: Allow unpickling SVM_PKL when it has no safe file (**runs code**).

    Returns:
        The summary.

    Raises:
        ConfigError: Not the TensorFlow backend, a missing converter, OUT is an input or a file.
        InputError: Missing, damaged or mismatched inputs, a kernel that cannot be
            exported, or an export that differs from the Keras model.
        OutputExistsError: OUT exists without ``force``, or is not an earlier export.
    """
    start = time.perf_counter()
    _check_environment(config)
    _check_out(out, {"MODEL_H5": model_h5, "SVM_PKL": svm_pkl}, force)
    with OutputLock(lock_file_beside(out), f"OUT {out}"):
        _remove_leftovers(out)
        sources = _load(model_h5, svm_pkl, trust_pickle)
        contract = _contract(sources, config)
        graph = _build(sources)
        with atomic_folder(out) as tmp:
            written = _write(graph, tmp, contract, config)
            model_file = out / written.relative_to(tmp)  # where it will be: what messages name
            verification = _verify(sources, written, model_file, config) if config.verify else None
            files = _file_digests(tmp)
            _write_record(tmp, contract, config, files, verification, model_h5, sources)
    summary = ExportSummary(out, model_file, out / RECORD_NAME, contract, files, verification,
                            time.perf_counter() - start)
    log.info("exported %s and %s to %s (%s) in %.1f s", model_h5, sources.classifier_file, summary.model_file,
             config.format, summary.seconds)
    return summary


def _check_environment(config: ExportConfig) -> None:
    """The TensorFlow backend, and the ONNX converter (and runtime, for the check) when they are needed."""
    import keras

    if keras.backend.backend() != "tensorflow":
        raise ConfigError(f"dfembed export runs under the TensorFlow backend (KERAS_BACKEND is "
                          f"{keras.backend.backend()!r}); run it with KERAS_BACKEND=tensorflow")
    if config.format == "onnx":
        from dfembed.export.onnx_file import require_converter
        from dfembed.model.exported import require_onnx_runtime

        require_converter()
        if config.verify:
            require_onnx_runtime()


def _check_out(out: Path, inputs: dict[str, Path], force: bool) -> None:
    """OUT is a folder that holds no input and, when it exists, is an earlier export that ``force`` may replace."""
    if out.suffix == ".onnx" or (out.exists() and not out.is_dir()):
        raise ConfigError(f"OUT {out} must be a folder: it will hold {ONNX_NAME} (or the SavedModel) and {RECORD_NAME}")
    for name, path in inputs.items():
        if path.resolve().is_relative_to(out.resolve()):
            raise ConfigError(f"{name} {path} lies inside OUT {out}; choose an OUT that holds none of the inputs")
    if out.exists():
        refuse_existing([out], force)
        _check_replaceable(out)
    check_writable(out.parent, "OUT's folder")


def _remove_leftovers(out: Path) -> None:
    """Delete the temporary folders of a killed export of OUT (we hold its lock, so none is in use).

    A folder holding only an entry named like OUT is an earlier export that a kill left aside
    while it was being replaced: it is kept, with a warning saying where it is.
    """
    for path in out.parent.glob(f".{out.name}.*{TEMP_MARKER}"):
        if not path.is_dir() or path.is_symlink():
            continue
        if [p.name for p in path.iterdir()] == [out.name]:
            log.warning("%s holds an earlier export of %s that a killed run left aside: move it back or delete it",
                        path, out)
            continue
        log.info("removing %s, left by a killed export", path)
        shutil.rmtree(path)


def _check_replaceable(out: Path) -> None:
    """An existing OUT may be replaced only when it is empty or holds exactly an earlier export's files.

    Each file must be named, with its current SHA-256, by the record an export wrote into OUT
    (:mod:`dfembed.core.ownership`); a file the record does not name, or whose content changed
    since, is not an export's and is not deleted.
    """
    present = sorted(p for p in out.rglob("*") if p.is_file() or p.is_symlink())
    if not present:
        return
    record = out / RECORD_NAME
    foreign = foreign_files([p for p in present if p != record], owned_files(record))
    if not record.is_file() or foreign:
        shown = ", ".join(p.relative_to(out).as_posix() for p in (foreign or present)[:5])
        raise OutputExistsError(f"OUT {out} holds files that are not an earlier export ({shown}); "
                                "--force replaces only an export folder whose record names every file with its "
                                "SHA-256: choose another OUT")


def _load(model_h5: Path, svm_pkl: Path, trust_pickle: bool) -> _Sources:
    """The classifier (checked to belong to MODEL_H5 before the model loads), the model, its float32 rebuild."""
    from dfembed.export.graph import float32_copy, precision_of
    from dfembed.model.classifier import check_compatible
    from dfembed.model.network import load_embedding_model, model_info
    from dfembed.model.safe_bundle import load_classifier

    loaded = load_classifier(svm_pkl, trust_pickle)
    loaded.check_model(model_h5)
    params = _svm_params(loaded.bundle.classifier, loaded.path)
    fake_column = _fake_column(params, loaded.bundle.class_mapping, loaded.path)
    model = load_embedding_model(model_h5)
    check_compatible(loaded.bundle, model_info(model))
    return _Sources(model, float32_copy(model), params, loaded.bundle, fake_column, loaded.path, precision_of(model))


def _svm_params(classifier: Any, path: Path) -> Any:
    """The classifier as :class:`~dfembed.model.svm_params.CalibratedSVMParams`, or why it cannot be exported."""
    from dfembed.model.svm_head import EXPORTABLE_KERNELS, check_exportable
    from dfembed.model.svm_params import CalibratedSVMParams

    if isinstance(classifier, CalibratedSVMParams):
        check_exportable(classifier.kernel, str(path))
        return classifier
    check_exportable(str(getattr(classifier, "kernel", "unknown")), str(path))
    try:
        return CalibratedSVMParams.from_estimator(classifier)
    except InputError as err:
        raise InputError(f"classifier {path} cannot be exported: {err}; dfembed exports sigmoid-calibrated SVMs "
                         f"with the {' or '.join(EXPORTABLE_KERNELS)} kernel") from err


def _fake_column(params: Any, class_mapping: dict[str, int], path: Path) -> int:
    classes = list(params.classes_.tolist())
    if class_mapping.get("fake") not in classes:
        raise InputError(f"classifier {path}: its classes {classes} do not include the FAKE label "
                         f"{class_mapping.get('fake')}")
    return classes.index(class_mapping["fake"])


def _contract(sources: _Sources, config: ExportConfig) -> ExportContract:
    from dfembed.model.network import model_info

    info = model_info(sources.model)
    bundle = sources.bundle
    return ExportContract(
        model_format=config.format, image_size=info.image_size, embedding_dim=info.embedding_dim,
        backbone=info.backbone, kernel=sources.params.kernel, class_mapping=dict(bundle.class_mapping),
        crop_config=bundle.crop_config, detector=getattr(bundle, "detector", None),
        trained_precision=sources.precision, versions=library_versions(),
    )


def _build(sources: _Sources) -> Any:
    from dfembed.export.graph import build_export_model

    return build_export_model(sources.embedder, sources.params, int(sources.bundle.class_mapping["fake"]))


def _write(graph: Any, folder: Path, contract: ExportContract, config: ExportConfig) -> Path:
    """Write the model into the temporary folder; returns what to load (the file, or the folder)."""
    if config.format == "onnx":
        from dfembed.export.onnx_file import write_onnx

        return write_onnx(graph, folder / ONNX_NAME, contract, config.opset)
    from dfembed.export.saved_model import write_saved_model

    return write_saved_model(graph, folder)


def _verify(sources: _Sources, written: Path, shown: Path, config: ExportConfig) -> dict[str, Any]:
    from dfembed.export import verify

    images = verify.probe_images(config.verify_images, int(sources.embedder.input_shape[1]), config.seed)
    # a float32 model is compared with itself as inference loads it; a mixed one through its float32 rebuild
    reference = sources.model if sources.precision == "float32" else sources.embedder
    if reference is not sources.model:
        verify.log_precision_change(sources.model, sources.embedder, images)
    expected = verify.keras_outputs(reference, sources.params, sources.fake_column, images)
    run = verify.onnx_outputs if config.format == "onnx" else verify.saved_model_outputs
    return dataclasses.asdict(verify.compare(expected, run(written, images), config.tolerance, shown))


def _file_digests(folder: Path) -> dict[str, dict[str, Any]]:
    """SHA-256 and size of every file below ``folder``, by relative POSIX path."""
    return {path.relative_to(folder).as_posix(): file_entry(path)
            for path in sorted(p for p in folder.rglob("*") if p.is_file())}


def _write_record(folder: Path, contract: ExportContract, config: ExportConfig, files: dict[str, Any],
                  verification: dict[str, Any] | None, model_h5: Path, sources: _Sources) -> None:
    from dfembed.model.safe_bundle import sha256_file

    inputs = {
        "model_h5": {"path": str(model_h5), "sha256": sha256_file(model_h5)},
        "classifier": {"path": str(sources.classifier_file), "sha256": sha256_file(sources.classifier_file)},
    }
    write_provenance(folder / RECORD_NAME, config, **contract.to_json(), files=files, inputs=inputs,
                     verification=verification)
