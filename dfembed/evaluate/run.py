"""``dfembed evaluate``: score a prediction CSV against ground truth.

1. Read the predictions (a Dacon ``path,y`` or DFDC ``filename,label`` submission).
2. Read the labels (DFDC ``metadata.json``, real/fake folder tree, or label CSV).
3. Match each prediction row to a label by relative path, else by basename (the rule
   of :func:`dfembed.infer.submission.match_rows`); an ambiguous match is an error, rows and
   labels left unmatched are counted and reported.
4. Compute the metrics overall and per source group, and write ``metrics.json``,
   ``roc.png`` and ``score_hist.png`` into the output folder.
5. When inference's record lies beside the CSV (``<stem>.dfembed-infer.json``, or
   ``infer_record``), add the frame level and the mean-of-frames video level beside the
   CSV's own (:mod:`dfembed.evaluate.levels`), overall and per method when the labels name
   methods, also as a Markdown table ``metrics.md``.

The output folder defaults to ``<PRED stem>_eval/`` beside the prediction CSV, so the
results of several submissions never collide.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dfembed.core.atomic import atomic_write_text, refuse_existing
from dfembed.core.classes import REAL
from dfembed.core.config import json_ready
from dfembed.core.errors import InputError
from dfembed.core.paths import check_distinct, check_writable
from dfembed.core.provenance import provenance_record
from dfembed.crop.datasets import Selection
from dfembed.evaluate.config import EvaluateConfig
from dfembed.evaluate.labels import LabelSet, read_labels
from dfembed.evaluate.levels import LevelItems, RecordLevels, record_levels, subset
from dfembed.evaluate.metrics import compute_metrics, metrics_by_group
from dfembed.evaluate.plots import plot_roc, plot_score_histogram
from dfembed.evaluate.tables import metrics_markdown
from dfembed.infer.submission import Submission, match_rows, read_submission

log = logging.getLogger(__name__)

METRICS_FILE = "metrics.json"
TABLE_FILE = "metrics.md"
ROC_FILE = "roc.png"
HISTOGRAM_FILE = "score_hist.png"
OUTPUT_FILES = (METRICS_FILE, TABLE_FILE, ROC_FILE, HISTOGRAM_FILE)

#: Group given to matched items whose label source names no group for them.
UNGROUPED = "(no group)"

_SHOWN = 10  # unmatched names listed in the log and in metrics.json


@dataclass(frozen=True)
class MatchedPredictions:
    """Prediction rows joined to their labels.

    Attributes:
        keys: Label key of each matched row.
        y_true: Label of each matched row (1 FAKE, 0 REAL).
        y_score: P(fake) of each matched row.
        groups: Group of each matched row (:data:`UNGROUPED` where none).
        rows_without_label: Prediction keys that no label matches.
        labels_without_row: Label keys that no prediction row matches.
    """

    keys: list[str]
    y_true: np.ndarray
    y_score: np.ndarray
    groups: list[str]
    rows_without_label: list[str]
    labels_without_row: list[str]


@dataclass(frozen=True)
class MatchingSummary:
    """How the prediction rows met the labels.

    Attributes:
        matched: Rows joined to a label.
        rows_without_label: Rows no label matches.
        labels_without_row: Labels no row matches.
        rows_without_label_examples: The first of those rows' keys.
        labels_without_row_examples: The first of those labels' keys.
    """

    matched: int
    rows_without_label: int
    labels_without_row: int
    rows_without_label_examples: list[str]
    labels_without_row_examples: list[str]


@dataclass(frozen=True)
class Evaluation:
    """What :func:`run_evaluate` measured and wrote.

    Attributes:
        metrics: Overall metrics (``None`` where undefined, e.g. AUC with one class).
        groups: Metrics per group, when the labels name groups.
        matching: How rows and labels met.
        out_dir: The output folder.
        files: Output name → path (``metrics.json``, ``roc.png``, ``score_hist.png``).
        record: The content of ``metrics.json`` (with inputs, configuration and versions).
    """

    metrics: dict[str, Any]
    groups: dict[str, dict[str, Any]]
    matching: MatchingSummary
    out_dir: Path
    files: dict[str, Path]
    record: dict[str, Any]

    @property
    def levels(self) -> dict[str, dict[str, Any]]:
        """Metrics per level: ``frame`` and ``video_mean`` (with an inference record) and ``video`` (the CSV)."""
        return self.record["levels"]


def default_out_dir(pred_csv: Path) -> Path:
    """The default output folder: ``<PRED stem>_eval`` beside the prediction CSV."""
    return pred_csv.with_name(f"{pred_csv.stem}_eval")


def default_infer_record(pred_csv: Path) -> Path:
    """Where inference left its record of a CSV: ``<stem>.dfembed-infer.json`` beside it."""
    from dfembed.infer.submission import provenance_path

    return provenance_path(pred_csv)


def run_evaluate(
    pred_csv: Path,
    labels: Path | LabelSet,
    out_dir: Path | None = None,
    force: bool = False,
    config: EvaluateConfig | None = None,
    infer_record: Path | None = None,
    dataset: str | None = None,
    model: str | None = None,
) -> Evaluation:
    """Evaluate a prediction CSV and write metrics and figures.

    Args:
        pred_csv: Predictions in the Dacon (``path,y``) or DFDC (``filename,label``) format,
            values P(fake) in [0, 1] (hard 0/1 labels work too).
        labels: DFDC ``metadata.json``, a real/fake, FaceForensics++ or Celeb-DF folder,
            Celeb-DF's test list or a label CSV, or labels already read with
            :func:`dfembed.evaluate.labels.read_labels`.
        out_dir: Output folder; ``None`` for :func:`default_out_dir`.
        force: Overwrite existing outputs.
        config: The resolved options (``None``: the defaults); ``threshold`` is the score
            above which a file counts as FAKE for the accuracy; ``layout``, ``split``,
            ``compression`` and ``methods`` select a data set's labels.
        infer_record: Inference's JSON record of the CSV, for the frame level; ``None``:
            :func:`default_infer_record` when it exists (else file level only).
        dataset: The data set's name in reports (default: from the labels).
        model: The model's name in reports (default: from the record's ``model_h5``).

    Returns:
        The :class:`Evaluation`; its ``record`` is what ``metrics.json`` holds: ``metrics``
        (overall, of the CSV), ``levels`` (``frame``, ``video_mean``, ``video``),
        ``methods`` (the levels per method), ``groups`` (per group, when the labels have
        groups), ``matching`` (counts and examples of unmatched names), ``frame_source``,
        ``dataset``, ``model``, ``inputs``, ``outputs``, ``config`` and ``versions``.
        Undefined metrics are ``None`` (JSON ``null``).

    Raises:
        OutputExistsError: An output exists and ``force`` is false.
        ConfigError: An output is one of the inputs.
        OutputError: The output folder cannot be written.
        InputError: Unreadable or invalid predictions or labels, an ambiguous match, or
            no prediction matching any label.
    """
    config = EvaluateConfig() if config is None else config
    out_dir = default_out_dir(pred_csv) if out_dir is None else out_dir
    label_path = labels.source if isinstance(labels, LabelSet) else labels
    check_distinct({name: out_dir / name for name in OUTPUT_FILES},
                   {"PRED_CSV": pred_csv, "LABELS": label_path, "inference record": infer_record})
    refuse_existing([out_dir / name for name in OUTPUT_FILES], force, hint="or --out to choose another folder")
    check_writable(out_dir, "the output folder", keep=False)
    if infer_record is not None and not infer_record.is_file():
        raise InputError(f"inference record {infer_record} does not exist")
    label_set = labels if isinstance(labels, LabelSet) else read_labels(labels, Selection.of(config))
    matched = match_predictions(read_submission(pred_csv), label_set)
    _report_unmatched(pred_csv, label_set, matched)
    levels = _record_levels(pred_csv, infer_record, label_set)
    names = {"dataset": dataset or label_set.dataset or label_set.source.name,
             "model": model or model_name(levels.model if levels else None, pred_csv)}
    evaluation = _evaluation(config, pred_csv, label_set, matched, out_dir, levels, names)
    atomic_write_text(out_dir / METRICS_FILE, json.dumps(evaluation.record, indent=2) + "\n")
    atomic_write_text(out_dir / TABLE_FILE, metrics_markdown(evaluation.record))
    plot_roc(matched.y_true, matched.y_score, out_dir / ROC_FILE, title=f"ROC: {pred_csv.name}")
    plot_score_histogram(matched.y_true, matched.y_score, out_dir / HISTOGRAM_FILE, config.threshold)
    log.info("evaluation of %s written to %s", pred_csv, out_dir)
    return evaluation


def match_predictions(predictions: Submission, label_set: LabelSet) -> MatchedPredictions:
    """Join prediction rows to labels by relative path, else by basename.

    Args:
        predictions: The parsed prediction CSV.
        label_set: The ground truth.

    Returns:
        The matched rows with their labels, scores and groups, and what stayed unmatched.

    Raises:
        InputError: A row matches several labels equally well, two rows match the same
            label, a matched row has no valid score, or nothing matches at all.
    """
    source = predictions.source
    try:
        matching = match_rows(predictions.keys, list(label_set.labels))
    except InputError as err:
        raise InputError(f"{source} against labels {label_set.source}: {err}") from err
    pairs = [(row, key) for row, key in zip(predictions.rows, matching.row_files) if key is not None]
    if not pairs:
        raise InputError(
            f"no row of {source} matches a label in {label_set.source} "
            f"(first row: {predictions.keys[:1]}, first label: {list(label_set.labels)[:1]})"
        )
    keys = [key for _, key in pairs]
    _check_one_row_per_label(source, keys)
    fmt = predictions.format
    return MatchedPredictions(
        keys=keys,
        y_true=np.array([label_set.labels[k] for k in keys], dtype=int),
        y_score=np.array([_parse_score(row[fmt.value], row[fmt.key], source) for row, _ in pairs]),
        groups=[label_set.groups.get(k, UNGROUPED) for k in keys],
        rows_without_label=matching.missing_rows,
        labels_without_row=matching.unmatched_files,
    )


def _check_one_row_per_label(source: Path | None, keys: list[str]) -> None:
    seen: set[str] = set()
    for key in keys:
        if key in seen:
            raise InputError(
                f"{source}: several rows match the label of {key!r}; each file must be predicted once"
            )
        seen.add(key)


def _parse_score(value: str, key: str, source: Path | None) -> float:
    text = value.strip()
    try:
        score = float(text)
    except ValueError:
        score = math.nan
    if not 0.0 <= score <= 1.0:  # also rejects NaN
        raise InputError(
            f"{source}: the score {text!r} of row {key!r} is not a probability in [0, 1]"
        )
    return score


def _report_unmatched(pred_csv: Path, label_set: LabelSet, matched: MatchedPredictions) -> None:
    log.info("matched %d prediction rows of %s to labels", len(matched.keys), pred_csv)
    if matched.rows_without_label:
        log.warning(
            "%d rows of %s have no label in %s and are left out: %s",
            len(matched.rows_without_label), pred_csv, label_set.source,
            _sample(matched.rows_without_label),
        )  # fmt: skip
    if matched.labels_without_row:
        log.warning(
            "%d labels of %s have no prediction row in %s: %s",
            len(matched.labels_without_row), label_set.source, pred_csv,
            _sample(matched.labels_without_row),
        )  # fmt: skip


def model_name(model_h5: str | None, pred_csv: Path) -> str:
    """A model's name for reports: its file's stem, or its folder's name for a generic ``model.h5``."""
    if not model_h5:
        return pred_csv.stem
    path = Path(model_h5)
    return path.parent.name if path.stem in ("model", "") and path.parent.name else path.stem


def _record_levels(pred_csv: Path, infer_record: Path | None, label_set: LabelSet) -> RecordLevels | None:
    path = infer_record if infer_record is not None else default_infer_record(pred_csv)
    if not path.is_file():
        log.info("no inference record %s: only the file-level metrics of %s", path, pred_csv)
        return None
    levels = record_levels(path, label_set)
    log.info("frame level from %s: %d frames of %d files (%d without a face)", path, len(levels.frame.keys),
             levels.files, levels.files_without_frames)
    return levels


def level_metrics(
    matched: MatchedPredictions, levels: RecordLevels | None, threshold: float, keep: set[str] | None = None
) -> dict[str, dict[str, Any]]:
    """Metrics of each level (``frame``, ``video_mean`` with a record; ``video``: the CSV), on ``keep``'s keys."""
    items = {"video": LevelItems(matched.keys, matched.y_true, matched.y_score)}
    if levels is not None:
        items = {"frame": levels.frame, "video_mean": levels.video_mean, **items}
    result = {}
    for name, level in items.items():
        level = subset(level, keep) if keep is not None else level
        result[name] = compute_metrics(level.y_true, level.y_score, threshold) if level.keys else None
    return result


def method_metrics(
    matched: MatchedPredictions, levels: RecordLevels | None, label_set: LabelSet, threshold: float
) -> dict[str, dict[str, Any]]:
    """The levels per method: all real items against the fakes of one method (DeepfakeBench's per-method AUC)."""
    reals = {key for key, label in label_set.labels.items() if label == REAL}
    result = {}
    for method in sorted(set(label_set.methods.values())):
        fakes = {key for key, name in label_set.methods.items() if name == method}
        result[method] = level_metrics(matched, levels, threshold, reals | fakes)
    return result


def _level_names(levels: RecordLevels | None) -> dict[str, str]:
    names = {"video": f"video ({levels.aggregation})" if levels else "video (as submitted)"}
    if levels is not None:
        names = {"frame": "frame", "video_mean": "video (mean of frames)", **names}
    return names


def _frame_source(levels: RecordLevels | None) -> dict[str, Any]:
    if levels is None:
        return {"record": None, "reason": "no inference record beside the CSV: frame level not computed"}
    return {"record": str(levels.record), "frames": len(levels.frame.keys), "files": levels.files,
            "files_without_frames": levels.files_without_frames, "aggregation": levels.aggregation}


def _evaluation(
    config: EvaluateConfig,
    pred_csv: Path,
    label_set: LabelSet,
    matched: MatchedPredictions,
    out_dir: Path,
    levels: RecordLevels | None = None,
    names: dict[str, str] | None = None,
) -> Evaluation:
    overall = compute_metrics(matched.y_true, matched.y_score, config.threshold)
    groups = (
        metrics_by_group(matched.y_true, matched.y_score, matched.groups, config.threshold)
        if label_set.groups
        else {}
    )
    matching = MatchingSummary(
        matched=len(matched.keys),
        rows_without_label=len(matched.rows_without_label),
        labels_without_row=len(matched.labels_without_row),
        rows_without_label_examples=matched.rows_without_label[:_SHOWN],
        labels_without_row_examples=matched.labels_without_row[:_SHOWN],
    )
    files = {name: out_dir / name for name in OUTPUT_FILES}
    record = json_ready(provenance_record(
        config,
        **(names or {}),
        metrics=overall,
        levels=level_metrics(matched, levels, config.threshold),
        level_names=_level_names(levels),
        methods=method_metrics(matched, levels, label_set, config.threshold),
        frame_source=_frame_source(levels),
        groups=groups,
        matching=matching,
        inputs={"predictions": str(pred_csv), "labels": str(label_set.source), "labels_kind": label_set.kind},
        outputs=files,
    ))
    return Evaluation(record["metrics"], record["groups"], matching, out_dir, files, record)


def _sample(names: list[str]) -> str:
    shown = ", ".join(names[:_SHOWN])
    return shown + (f", ... ({len(names) - _SHOWN} more)" if len(names) > _SHOWN else "")
