#!/usr/bin/env python
"""End-to-end inference speed: dfembed's overlapped pipeline vs an upstream-style loop.

All score the same media files (the sample's frames and videos by default) with the
same crop settings, embedding model and SVM:

* **upstream**: the upstream loop as it was — mtcnn's ``MTCNN().detect_faces`` on each
  full-resolution frame, one at a time; per batch of files detect file by file, then
  embed file by file (``model.predict`` on one file's faces), then classify.
* **upstream-style**: the same sequential schedule with dfembed's detector (downscaled,
  batched frames), which isolates what the overlapped scheduling alone gains.
* **dfembed**: :func:`dfembed.infer.pipeline.score_files` — a reader thread decodes, a detector
  thread detects (same-size images grouped in one MTCNN call), and the main thread embeds
  faces of many files in fixed-size batches.

The model has random weights (``weights="none"``: nothing is downloaded); speed does
not depend on the weights. Both paths run once untimed first (graph tracing), then the
timed runs alternate. Prints files/s of each and their ratio.

    .venv/bin/python bench/infer_bench.py                      # B0 at 224 px
    .venv/bin/python bench/infer_bench.py --backbone b4 --image-size 380
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import click
import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "dfdc_sample"
log = logging.getLogger("infer_bench")


def _media(data: Path, max_images: int) -> list[Path]:
    from dfembed.core.errors import InputError
    from dfembed.faces.media import is_video
    from dfembed.infer.run import find_media

    try:
        files = find_media(data)
    except InputError as err:
        raise click.ClickException(str(err)) from err
    images = [p for p in files if not is_video(p) and "crops" not in p.parts][:max_images]
    return images + [p for p in files if is_video(p)]


def _classifier(model, image_size: int):  # noqa: ANN001, ANN202 - bench helper
    """A linear SVM fitted on embeddings of a few random images (speed does not depend on the fit)."""
    from dfembed.model.classifier import EmbeddingSVM

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(8, image_size, image_size, 3)).astype("float32")
    embeddings = np.asarray(model.predict_on_batch(images))
    return EmbeddingSVM(random_state=0).fit(embeddings, [0, 1] * 4)


def upstream_style(  # noqa: ANN001 - bench helper, the objects are dfembed's
    paths: list[Path], detector, crop_config, model, svm, image_size: int, batch: int
) -> list[float]:
    """Per batch of files: detect each file, then embed each file, then classify; sequential."""
    from dfembed.faces.extract import faces_from_media
    from dfembed.faces.geometry import fit_size
    from dfembed.infer.aggregate import aggregate_file, mean

    scores = []
    for start in range(0, len(paths), batch):
        found = [faces_from_media(p, detector, crop_config) for p in paths[start : start + batch]]
        embedded = [
            model.predict(np.stack([fit_size(c.image, image_size) for c in crops]).astype("float32"), verbose=0)
            if crops else None
            for crops in found
        ]
        for crops, emb in zip(found, embedded):
            if emb is None:
                scores.append(0.5)
                continue
            probs = svm.predict_proba(emb)[:, 1]
            scores.append(aggregate_file([c.frame_index for c in crops], probs, mean))
    return scores


def dfembed_pipeline(  # noqa: ANN001 - bench helper
    paths: list[Path], detector, crop_config, model, svm, image_size: int, batch: int
) -> list[float]:
    """:func:`dfembed.infer.pipeline.score_files` with the same objects."""
    from dfembed.infer.aggregate import mean
    from dfembed.infer.pipeline import FaceExtractor, score_files
    from dfembed.infer.scoring import FaceScorer

    extractor = FaceExtractor(detector, crop_config, image_size)
    results = score_files(paths, extractor, FaceScorer(model, svm, batch), batch, progress=False)
    return [r.score(mean, 0.5) for r in results]


class NaiveDetector:
    """Upstream's detection: ``MTCNN().detect_faces`` per full-resolution frame, no downscaling."""

    def __init__(self) -> None:
        from mtcnn import MTCNN

        self._mtcnn = MTCNN()

    def detect(self, frames: list[np.ndarray]) -> list:
        """Detect each frame on its own; boxes converted to dfembed's ``Face``."""
        from dfembed.faces.detector import LANDMARK_NAMES, Face

        out = []
        for frame in frames:
            found = self._mtcnn.detect_faces(frame)
            out.append([
                Face(box=(float(d["box"][0]), float(d["box"][1]), float(d["box"][0] + d["box"][2]),
                          float(d["box"][1] + d["box"][3])),
                     confidence=float(d["confidence"]),
                     landmarks=np.asarray([d["keypoints"][k] for k in LANDMARK_NAMES], dtype=np.float32))
                for d in found
            ])
        return out


def _time(func, *args) -> tuple[float, list[float]]:  # noqa: ANN001
    start = time.perf_counter()
    scores = func(*args)
    return time.perf_counter() - start, scores


@click.command()
@click.option("--data", type=click.Path(exists=True, file_okay=False, path_type=Path), default=DEFAULT_DATA,
              show_default=True, help="Folder of images and videos (crops/ is skipped).")
@click.option("--backbone", default="b0", show_default=True)
@click.option("--image-size", type=int, default=224, show_default=True)
@click.option("--frames-per-video", type=int, default=8, show_default=True)
@click.option("--max-images", type=int, default=32, show_default=True, help="Images used (all videos are used).")
@click.option("--batch-size", type=int, default=16, show_default=True,
              help="Files per upstream batch; faces per dfembed batch.")
@click.option("--repeats", type=int, default=1, show_default=True)
@click.option("--detector", "detector_name", default="mtcnn", show_default=True,
              help="dfembed's face detector for the upstream-style and dfembed loops (mtcnn, blazeface).")
def main(data: Path, backbone: str, image_size: int, frames_per_video: int, max_images: int, batch_size: int,
         repeats: int, detector_name: str) -> None:
    """Print files/s of the upstream-style loop and of dfembed's pipeline, and their ratio."""
    from dfembed.core.logs import setup_logging

    setup_logging(quiet=True)
    from dfembed.faces.config import CropConfig
    from dfembed.faces.detector import build_detector
    from dfembed.model.network import build_embedding_model

    paths = _media(data, max_images)
    crop_config = CropConfig(size=image_size, faces="all", frames_per_video=frames_per_video,
                             detector=detector_name)
    detector = build_detector(crop_config)
    model = build_embedding_model(backbone, image_size=image_size, weights="none")
    svm = _classifier(model, image_size)
    args = (crop_config, model, svm, image_size, batch_size)
    runs = {
        "upstream": (upstream_style, NaiveDetector()),
        "upstream-style": (upstream_style, detector),
        "dfembed": (dfembed_pipeline, detector),
    }
    for func, det in runs.values():  # untimed warm-up: graph tracing, file cache
        func(paths[:3] + paths[-1:], det, *args)
    seconds = {name: 0.0 for name in runs}
    for _ in range(repeats):
        for name, (func, det) in runs.items():
            elapsed, scores = _time(func, paths, det, *args)
            seconds[name] += elapsed
    n = len(paths) * repeats
    click.echo(f"{len(paths)} files ({sum(1 for p in paths if p.suffix == '.mp4')} videos, "
               f"{frames_per_video} frames each), {backbone}@{image_size}, {os.cpu_count()} CPUs, {repeats} repeat(s), "
               f"dfembed's detector {detector_name}")
    for name in runs:
        click.echo(f"{name:>15}: {seconds[name]:7.1f} s  {n / seconds[name]:6.2f} files/s")
    for base in ("upstream", "upstream-style"):
        click.echo(f"{'ratio':>15}: {seconds[base] / seconds['dfembed']:.2f}x (dfembed / {base})")


if __name__ == "__main__":
    main()
