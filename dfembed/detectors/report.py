"""The comparison's tables: ``detectors.csv`` and ``detectors.md`` (one row per detector), ``files.csv``.

Written atomically. Numbers are rounded for reading (frames/s to 0.1, IoU to 0.001);
empty cells mean "not measured" (no video, no ground truth, no face-free image given).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path

from dfembed.core.atomic import atomic_write_text
from dfembed.detectors.compare import DetectorSummary, FileRun, face_boxes

SUMMARY_NAME = "detectors.csv"
MARKDOWN_NAME = "detectors.md"
FILES_NAME = "files.csv"

SUMMARY_COLUMNS = ("detector", "versions", "images", "image_fps", "video_frames", "video_fps", "faces",
                   "recall_found", "recall_total", "recall", "agreement_iou", "agreement_frames",
                   "false_positives", "failures", "error")
FILE_COLUMNS = ("detector", "file", "kind", "frames", "seconds", "faces", "faces_per_frame", "largest_box",
                "error")


def summary_row(summary: DetectorSummary) -> dict[str, str]:
    """One ``detectors.csv`` row."""
    recall = (summary.truth_found / summary.truth_total) if summary.truth_total else None
    return {
        "detector": summary.detector, "versions": summary.versions, "images": str(summary.images),
        "image_fps": _num(summary.image_fps, 1), "video_frames": str(summary.video_frames),
        "video_fps": _num(summary.video_fps, 1), "faces": str(summary.faces),
        "recall_found": _num(summary.truth_found), "recall_total": _num(summary.truth_total),
        "recall": _num(recall, 3), "agreement_iou": _num(summary.agreement_iou, 3),
        "agreement_frames": str(summary.agreement_frames), "false_positives": _num(summary.false_positives),
        "failures": str(summary.failures), "error": summary.error or "",
    }


def file_row(run: FileRun) -> dict[str, str]:
    """One ``files.csv`` row (the largest face's box of the first frame, ``x1 y1 x2 y2``)."""
    largest = run.largest(0) if run.frames else None
    box = " ".join(f"{v:.1f}" for v in face_boxes([largest])[0]) if largest is not None else ""
    return {
        "detector": run.detector, "file": run.file, "kind": run.kind, "frames": str(run.frames),
        "seconds": f"{run.seconds:.4f}", "faces": str(sum(len(f) for f in run.faces)),
        "faces_per_frame": " ".join(str(len(f)) for f in run.faces), "largest_box": box, "error": run.error or "",
    }


def write_csv(path: Path, columns: Sequence[str], rows: Sequence[dict[str, str]]) -> Path:
    """Write ``rows`` under ``columns`` as a CSV, atomically."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return atomic_write_text(path, buffer.getvalue())


def markdown_table(summaries: Sequence[DetectorSummary], reference: str, iou_threshold: float) -> str:
    """The summary as a Markdown table, with a line saying what the columns measure.

    Args:
        summaries: One per detector, in the comparison's order.
        reference: The reference detector of the agreement column.
        iou_threshold: The IoU of the recall column.

    Returns:
        Markdown text ending with a newline.
    """
    header = ["detector", "versions", "images", "image frames/s", "video frames", "video frames/s", "faces",
              f"recall (IoU ≥ {iou_threshold:g})", f"IoU with {reference}", "false positives", "failures"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for s in summaries:
        if s.error is not None:
            lines.append(f"| {s.detector} | {s.versions or '-'} | not built: {s.error} |" + " |" * (len(header) - 3))
            continue
        recall = f"{s.truth_found}/{s.truth_total}" if s.truth_total else "-"
        cells = [s.detector, s.versions or "-", str(s.images), _num(s.image_fps, 1) or "-", str(s.video_frames),
                 _num(s.video_fps, 1) or "-", str(s.faces), recall, _num(s.agreement_iou, 3) or "-",
                 _num(s.false_positives) or "-", str(s.failures)]
        lines.append("| " + " | ".join(cells) + " |")
    note = ("frames/s: detection alone (DFDC-winner downscale included, decoding excluded), on the same decoded "
            f"frames for every detector; IoU with {reference}: mean IoU of the largest face with {reference}'s, "
            f"over the frames where {reference} found one (none found counts 0).")
    return "\n".join(lines) + "\n\n" + note + "\n"


def _num(value: float | int | None, digits: int | None = None) -> str:
    if value is None:
        return ""
    return f"{value:.{digits}f}" if digits is not None else str(value)
