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
* **dfembed-full-decode**: the same pipeline decoding every frame up to the last sample
  (OpenCV), as before H.264 videos decoded only what their samples need: the control.
* **dfembed-onnx**: the same pipeline scoring with the model and SVM exported by ``dfembed
  export`` (ONNX, in a temporary folder) on ONNX Runtime — what ``inference.py TEST SUB_CSV
  MODEL.onnx`` runs.

With ONNX Runtime installed (``--onnx``, the default then), it first times the scorers alone
— face crops → P(fake), embedding network and SVM — on seeded random crops in batches of
``--batch-size``: Keras (``FaceScorer``, zero-padded batches) against ONNX Runtime
(``ExportedScorer``), their timed batches interleaved so that a busy spell of shared cores
does not favour one.

The model has random weights (``weights="none"``: nothing is downloaded); speed does
not depend on the weights. Both paths run once untimed first (graph tracing), then the
timed runs alternate. Prints files/s of each and their ratio.

    .venv/bin/python bench/infer_bench.py                      # B0 at 224 px
    .venv/bin/python bench/infer_bench.py --backbone b4 --image-size 380
    .venv/bin/python bench/infer_bench.py --backbone b4 --image-size 380 --loops dfembed,dfembed-onnx
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from pathlib import Path

import click
import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "dfdc_sample"
LOOPS = ("upstream", "upstream-style", "dfembed-full-decode", "dfembed", "dfembed-onnx")
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


def full_decode_pipeline(*args, **kwargs) -> list[float]:  # noqa: ANN002, ANN003 - bench helper
    """:func:`dfembed_pipeline` decoding every frame up to the last sample (OpenCV), as before
    :mod:`dfembed.faces.sampled`: the control of the front end's decoding."""
    from dfembed.faces import media

    fast = media.sampled_frames
    media.sampled_frames = lambda *a: None
    try:
        return dfembed_pipeline(*args, **kwargs)
    finally:
        media.sampled_frames = fast


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


def onnx_pipeline(  # noqa: ANN001 - bench helper
    paths: list[Path], detector, crop_config, scorer, image_size: int, batch: int
) -> list[float]:
    """:func:`dfembed.infer.pipeline.score_files` with the exported model's scorer."""
    from dfembed.infer.aggregate import mean
    from dfembed.infer.pipeline import FaceExtractor, score_files

    extractor = FaceExtractor(detector, crop_config, image_size)
    results = score_files(paths, extractor, scorer, batch, progress=False)
    return [r.score(mean, 0.5) for r in results]


def _export(model, svm, image_size: int, folder: Path, threads: int | None):  # noqa: ANN001, ANN202 - bench helper
    """Export the bench's model and SVM with ``dfembed export`` and load it on ONNX Runtime (CPU)."""
    from dfembed.export.config import ExportConfig
    from dfembed.export.run import run_export
    from dfembed.model.classifier import ClassifierBundle, save_bundle
    from dfembed.model.exported import load_exported
    from dfembed.model.network import model_info, save_model

    info = model_info(model)
    model_file = save_model(model, folder / "model.h5")
    bundle = ClassifierBundle(svm, info.embedding_dim, info.backbone, image_size)
    svm_file = save_bundle(bundle, folder / "svm.pkl", models={"model": model_file})
    start = time.perf_counter()
    run_export(model_file, svm_file, folder / "export", ExportConfig())
    size = (folder / "export" / "model.onnx").stat().st_size
    click.echo(f"exported {info.backbone}@{image_size} to ONNX in {time.perf_counter() - start:.1f} s "
               f"({size / 1e6:.1f} MB)")
    return load_exported(folder / "export", provider="cpu", threads=threads)


def _scorer_rates(keras_scorer, onnx_scorer, image_size: int, batch: int, batches: int) -> dict[str, float]:  # noqa: ANN001
    """Images/s of each scorer (crops → P(fake)) on the same seeded crops, timed batches interleaved."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(batch, image_size, image_size, 3), dtype=np.uint8)
    scorers = {"keras": keras_scorer, "onnx": onnx_scorer}
    for scorer in scorers.values():  # warm-up: tracing, session start
        scorer(images)
    seconds = dict.fromkeys(scorers, 0.0)
    for _ in range(batches):
        for name, scorer in scorers.items():
            elapsed, _ = _time(scorer, images)
            seconds[name] += elapsed
    return {name: batch * batches / value for name, value in seconds.items()}


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
@click.option("--loops", default=",".join(LOOPS), show_default=True,
              help="End-to-end loops to time, comma-separated (dfembed-onnx needs --onnx).")
@click.option("--onnx/--no-onnx", "use_onnx", default=None,
              help="Also export the model and time ONNX Runtime [default: on when onnxruntime is installed].")
@click.option("--scorer-batches", type=int, default=10, show_default=True,
              help="Timed batches of each scorer (crops → P(fake)); 0: skip that comparison.")
@click.option("--onnx-threads", type=int, default=None,
              help="ONNX Runtime's threads per operator, as inference.py --onnx-threads [default: one per core].")
def main(data: Path, backbone: str, image_size: int, frames_per_video: int, max_images: int, batch_size: int,
         repeats: int, detector_name: str, loops: str, use_onnx: bool | None, scorer_batches: int,
         onnx_threads: int | None) -> None:
    """Print files/s of the upstream-style loop and of dfembed's pipeline, and their ratio."""
    from dfembed.core.logs import setup_logging

    setup_logging(quiet=True)
    from dfembed.faces.config import CropConfig
    from dfembed.faces.detector import build_detector
    from dfembed.infer.models import ExportedScorer
    from dfembed.infer.scoring import FaceScorer
    from dfembed.model.network import build_embedding_model

    onnx_on = _onnx_available() if use_onnx is None else use_onnx
    if onnx_on and not _onnx_available():
        raise click.ClickException('--onnx needs tf2onnx and onnxruntime: pip install -e ".[onnx]"')
    chosen = _loops(loops, onnx_on)
    click.echo(f"load average before: {_load()}")
    paths = _media(data, max_images)
    crop_config = CropConfig(size=image_size, faces="all", frames_per_video=frames_per_video,
                             detector=detector_name)
    model = build_embedding_model(backbone, image_size=image_size, weights="none")
    svm = _classifier(model, image_size)
    with tempfile.TemporaryDirectory(prefix="infer-bench-") as folder:
        onnx_scorer = None
        if onnx_on:
            onnx_scorer = ExportedScorer(_export(model, svm, image_size, Path(folder), onnx_threads), batch_size)
        if onnx_scorer is not None and scorer_batches > 0:
            rates = _scorer_rates(FaceScorer(model, svm, batch_size), onnx_scorer, image_size, batch_size,
                                  scorer_batches)
            click.echo(f"scorer alone (crops -> P(fake)), {backbone}@{image_size}, batch {batch_size}: "
                       f"keras {rates['keras']:.2f} img/s, onnxruntime {rates['onnx']:.2f} img/s, "
                       f"onnxruntime / keras {rates['onnx'] / rates['keras']:.2f}x")
        if chosen:
            detector = build_detector(crop_config)
            _end_to_end(chosen, paths, detector, (crop_config, model, svm, image_size, batch_size), onnx_scorer,
                        repeats, f"{backbone}@{image_size}, dfembed's detector {detector_name}", frames_per_video)
    click.echo(f"load average after: {_load()}")


def _loops(text: str, onnx: bool) -> list[str]:
    chosen = [name.strip() for name in text.split(",") if name.strip()]
    unknown = sorted(set(chosen) - set(LOOPS))
    if unknown:
        raise click.BadParameter(f"unknown loops {unknown}; choose from {', '.join(LOOPS)}", param_hint="--loops")
    return [name for name in chosen if name != "dfembed-onnx" or onnx]


def _onnx_available() -> bool:
    try:
        import onnxruntime  # noqa: F401
        import tf2onnx  # noqa: F401
    except ImportError:
        return False
    return True


def _load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def _end_to_end(chosen: list[str], paths: list[Path], detector, args: tuple, onnx_scorer, repeats: int,  # noqa: ANN001
                what: str, frames_per_video: int) -> None:
    """Time the chosen end-to-end loops on the same files, interleaved, and print files/s and the ratios."""
    crop_config, _, _, image_size, batch_size = args
    runs = {
        "upstream": lambda files: upstream_style(files, NaiveDetector(), *args),
        "upstream-style": lambda files: upstream_style(files, detector, *args),
        "dfembed-full-decode": lambda files: full_decode_pipeline(files, detector, *args),
        "dfembed": lambda files: dfembed_pipeline(files, detector, *args),
        "dfembed-onnx": lambda files: onnx_pipeline(files, detector, crop_config, onnx_scorer, image_size,
                                                    batch_size),
    }
    runs = {name: runs[name] for name in chosen}
    for func in runs.values():  # untimed warm-up: graph tracing, file cache
        func(paths[:3] + paths[-1:])
    seconds = dict.fromkeys(runs, 0.0)
    for _ in range(repeats):
        for name, func in runs.items():
            elapsed, _ = _time(func, paths)
            seconds[name] += elapsed
    n = len(paths) * repeats
    click.echo(f"{len(paths)} files ({sum(1 for p in paths if p.suffix == '.mp4')} videos, {frames_per_video} frames "
               f"each), {what}, {os.cpu_count()} CPUs, {repeats} repeat(s)")
    for name in runs:
        click.echo(f"{name:>15}: {seconds[name]:7.1f} s  {n / seconds[name]:6.2f} files/s")
    for base, new in (("upstream", "dfembed"), ("upstream-style", "dfembed"), ("dfembed-full-decode", "dfembed"),
                      ("dfembed", "dfembed-onnx")):
        if base in seconds and new in seconds:
            click.echo(f"{'ratio':>15}: {seconds[base] / seconds[new]:.2f}x ({new} / {base})")


if __name__ == "__main__":
    main()
