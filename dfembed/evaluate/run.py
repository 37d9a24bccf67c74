"""``dfembed evaluate``: score a prediction CSV against ground truth.

1. Read the predictions (a Dacon ``path,y`` or DFDC ``filename,label`` submission).
2. Read the labels (DFDC ``metadata.json``, real/fake folder tree, or label CSV).
3. Match each prediction row to a label by relative path, else by basename (the rule
   of :func:`dfembed.infer.submission.match_rows`); an ambiguous match is an error, rows and
   labels left unmatched are counted and reported.
4. Compute the metrics overall and per source group, and write ``metrics.json``,
   ``roc.png`` and ``score_hist.png`` into the output folder.

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
from dfembed.core.config import json_ready
from dfembed.core.errors import InputError
from dfembed.core.paths import check_distinct, check_writable
from dfembed.core.provenance import provenance_record
from dfembed.evaluate.config import EvaluateConfig
from dfembed.evaluate.labels import LabelSet, read_labels
from dfembed.evaluate.metrics import compute_metrics, metrics_by_group
from dfembed.evaluate.plots import plot_roc, plot_score_histogram
from dfembed.infer.submission import Submission, match_rows, read_submission

log = logging.getLogger(__name__)

METRICS_FILE = "metrics.json"
ROC_FILE = "roc.png"
HISTOGRAM_FILE = "score_hist.png"
OUTPUT_FILES = (METRICS_FILE, ROC_FILE, HISTOGRAM_FILE)

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


def default_out_dir(pred_csv: Path) -> Path:
    """The default output folder: ``<PRED stem>_eval`` beside the prediction CSV."""
    return pred_csv.with_name(f"{pred_csv.stem}_eval")


def run_evaluate(
    pred_csv: Path,
    labels: Path | LabelSet,
    out_dir: Path | None = None,
    force: bool = False,
    config: EvaluateConfig | None = None,
) -> Evaluation:
    """Evaluate a prediction CSV and write metrics and figures.

    Args:
        pred_csv: Predictions in the Dacon (``path,y``) or DFDC (``filename,label``) format,
            values P(fake) in [0, 1] (hard 0/1 labels work too).
        labels: DFDC ``metadata.json``, real/fake folder tree or label CSV, or labels
            already read with :func:`dfembed.evaluate.labels.read_labels`.
        out_dir: Output folder; ``None`` for :func:`default_out_dir`.
        force: Overwrite existing outputs.
        config: The resolved options (``None``: the defaults); ``threshold`` is the score
            above which a file counts as FAKE for the accuracy.

    Returns:
        The :class:`Evaluation`; its ``record`` is what ``metrics.json`` holds: ``metrics``
        (overall), ``groups`` (per group, when the labels have groups), ``matching``
        (counts and examples of unmatched names), ``inputs``, ``outputs``, ``config`` and
        ``versions``. Undefined metrics are ``None`` (JSON ``null``).

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
    check_distinct({name: out_dir / name for name in OUTPUT_FILES}, {"PRED_CSV": pred_csv, "LABELS": label_path})
    refuse_existing([out_dir / name for name in OUTPUT_FILES], force, hint="or --out to choose another folder")
    check_writable(out_dir, "the output folder", keep=False)
    label_set = labels if isinstance(labels, LabelSet) else read_labels(labels)
    matched = match_predictions(read_submission(pred_csv), label_set)
    _report_unmatched(pred_csv, label_set, matched)
    evaluation = _evaluation(config, pred_csv, label_set, matched, out_dir)
    atomic_write_text(out_dir / METRICS_FILE, json.dumps(evaluation.record, indent=2) + "\n")
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


def _evaluation(
    config: EvaluateConfig,
    pred_csv: Path,
    label_set: LabelSet,
    matched: MatchedPredictions,
    out_dir: Path,
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
        metrics=overall,
        groups=groups,
        matching=matching,
        inputs={"predictions": str(pred_csv), "labels": str(label_set.source), "labels_kind": label_set.kind},
        outputs=files,
    ))
    return Evaluation(record["metrics"], record["groups"], matching, out_dir, files, record)


def _sample(names: list[str]) -> str:
    shown = ", ".join(names[:_SHOWN])
    return shown + (f", ... ({len(names) - _SHOWN} more)" if len(names) > _SHOWN else "")
