"""Markdown tables of evaluations: one evaluation's levels and methods, and the cross-dataset report.

Pure functions from plain records (``metrics.json`` content) to text; a missing or
undefined value reads ``–``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

DASH = "–"
#: The order levels appear in.
LEVELS = ("frame", "video_mean", "video")


def fmt(value: Any, digits: int = 4) -> str:
    """A number with ``digits`` decimals, ``–`` for ``None``."""
    return DASH if value is None else f"{value:.{digits}f}"


def metrics_markdown(record: Mapping[str, Any]) -> str:
    """The Markdown table of one evaluation: a row per (subset, level).

    Args:
        record: ``metrics.json``'s content (``levels``, ``level_names``, ``methods``, ``dataset``, ``model``…).

    Returns:
        The Markdown text (title, what was evaluated, the table).
    """
    names = record.get("level_names", {})
    lines = [
        f"# Evaluation: {record.get('model', '?')} on {record.get('dataset', '?')}",
        "",
        f"Predictions `{record['inputs']['predictions']}`, labels `{record['inputs']['labels']}` "
        f"({record['inputs']['labels_kind']}).",
        "",
        "| subset | level | n (real / fake) | ROC AUC | AP | EER | log loss | accuracy |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    subsets = [("all", record.get("levels", {})), *sorted(record.get("methods", {}).items())]
    for subset, levels in subsets:
        for level in LEVELS:
            metrics = levels.get(level)
            if metrics is None:
                continue
            lines.append(
                f"| {subset} | {names.get(level, level)} | {metrics['n']} ({metrics['n_real']} / {metrics['n_fake']}) "
                f"| {fmt(metrics['roc_auc'])} | {fmt(metrics['average_precision'])} | {fmt(metrics['eer'])} "
                f"| {fmt(metrics['log_loss'])} | {fmt(metrics['accuracy'])} |"
            )
    source = record.get("frame_source", {})
    if source.get("record") is None:
        lines += ["", f"Frame level: not computed ({source.get('reason', 'no inference record')})."]
    else:
        lines += ["", f"Frame level from `{source['record']}`: {source['frames']} frames of {source['files']} files "
                      f"({source['files_without_frames']} without a face: no frame item, video score = the "
                      "no-face score)."]
    return "\n".join(lines) + "\n"


def report_markdown(models: Sequence[str], datasets: Sequence[str], cells: Mapping[tuple[str, str], tuple]) -> str:
    """The cross-dataset table: rows = model, columns = dataset, cells = ROC AUC ``frame / video``.

    Args:
        models: Row names, in order.
        datasets: Column names, in order.
        cells: ``(model, dataset)`` → ``(frame AUC, video AUC)`` (either may be ``None``).

    Returns:
        Markdown: the table with a last column, the mean over the datasets a model has.
    """
    header = ["model", *datasets, "mean"]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(["---"] * len(header)) + " |"]
    for model in models:
        row = [model]
        frames, videos = [], []
        for dataset in datasets:
            frame, video = cells.get((model, dataset), (None, None))
            row.append(f"{fmt(frame, 3)} / {fmt(video, 3)}" if (model, dataset) in cells else DASH)
            frames += [frame] if frame is not None else []
            videos += [video] if video is not None else []
        mean_frame = sum(frames) / len(frames) if frames else None
        mean_video = sum(videos) / len(videos) if videos else None
        row.append(f"{fmt(mean_frame, 3)} / {fmt(mean_video, 3)}")
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"
