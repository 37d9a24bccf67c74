#!/usr/bin/env python
"""What the safety checks cost: each against the path it replaced or guards, in one run.

* **classifier load**: the safe ``svm.npz`` (read without pickle, its SHA-256 checked)
  against ``joblib.load`` of ``svm.pkl``, for a calibrated SVM fitted on ``--train``
  random 512-d embeddings (the support vectors make the file's size);
* **scoring**: :class:`dfembed.model.svm_params.CalibratedSVMParams.predict_proba` (NumPy)
  against scikit-learn's ``predict_proba`` on ``--score`` embeddings, largest difference
  printed too;
* **model check**: SHA-256 of a ``--model-mb`` file (an EfficientNet-B4 ``model.h5`` is
  about 75 MB) — the cost inference adds before it loads the model;
* **listing**: :func:`dfembed.core.walk.walk_files` (links followed, every skip reported)
  against ``Path.rglob`` on a generated tree of ``--files`` files.

Prints each time, the ratio new / old, and for the model check its throughput. Nothing is
downloaded; everything is generated in a temporary folder::

    .venv/bin/python bench/safety_bench.py
    .venv/bin/python bench/safety_bench.py --train 5000 --kernel rbf --files 50000
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import click
import numpy as np

log = logging.getLogger("safety_bench")


def _best(step: Callable[[], object], repeats: int) -> float:
    """The fastest of ``repeats`` runs of ``step``, in seconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return min(times)


def _line(name: str, new: float, old: float, new_name: str, old_name: str) -> None:
    click.echo(f"{name:16s} {new_name} {new * 1e3:9.2f} ms | {old_name} {old * 1e3:9.2f} ms | "
               f"new/old {new / old:5.2f}×")


def bench_classifier(root: Path, n_train: int, n_score: int, kernel: str, repeats: int) -> None:
    import joblib

    from dfembed.model.classifier import ClassifierBundle, EmbeddingSVM, save_bundle
    from dfembed.model.safe_bundle import read_safe_bundle

    rng = np.random.default_rng(0)
    y = np.arange(n_train) % 2
    x = rng.normal(size=(n_train, 512)) + 0.05 * y[:, None]
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    svm = EmbeddingSVM(kernel=kernel, random_state=0).fit(x, y)
    pkl = save_bundle(ClassifierBundle(svm, 512, "b4", 380), root / "svm.pkl", models={})
    npz = pkl.with_suffix(".npz")
    click.echo(f"SVM ({kernel}) on {n_train} embeddings: {sum(len(f.support_vectors) for f in read_safe_bundle(npz).bundle.classifier.folds)} "
               f"support vectors; svm.pkl {pkl.stat().st_size / 1e6:.1f} MB, svm.npz {npz.stat().st_size / 1e6:.1f} MB")
    _line("classifier load", _best(lambda: read_safe_bundle(npz), repeats), _best(lambda: joblib.load(pkl), repeats),
          "svm.npz (checked)", "joblib svm.pkl")
    params = read_safe_bundle(npz).bundle.classifier
    test = rng.normal(size=(n_score, 512))
    test /= np.linalg.norm(test, axis=1, keepdims=True)
    difference = np.abs(params.predict_proba(test) - svm.predict_proba(test)).max()
    _line(f"scoring {n_score}", _best(lambda: params.predict_proba(test), repeats),
          _best(lambda: svm.predict_proba(test), repeats), "NumPy", "scikit-learn")
    click.echo(f"{'':16s} largest difference in P(fake): {difference:.2e}")


def bench_model_check(root: Path, megabytes: int, repeats: int) -> None:
    from dfembed.model.safe_bundle import sha256_file

    model = root / "model.h5"
    model.write_bytes(np.random.default_rng(1).bytes(megabytes << 20))
    seconds = _best(lambda: sha256_file(model), repeats)
    click.echo(f"{'model check':16s} SHA-256 of {megabytes} MB: {seconds * 1e3:.1f} ms ({megabytes / seconds:.0f} MB/s)")


def bench_listing(root: Path, n_files: int, repeats: int) -> None:
    from dfembed.core.walk import walk_files

    tree = root / "tree"
    per_folder = 100
    for i in range(n_files):
        folder = tree / ("real" if i % 2 else "fake") / f"v{i // per_folder:04d}"
        if i % per_folder < 2:
            folder.mkdir(parents=True, exist_ok=True)
        (folder / f"f{i:06d}.jpg").touch()
    new = _best(lambda: walk_files(tree), repeats)
    old = _best(lambda: sorted(p for p in tree.rglob("*") if p.is_file()), repeats)
    _line(f"listing {n_files}", new, old, "walk_files", "rglob+is_file")


@click.command()
@click.option("--train", "n_train", type=int, default=2000, show_default=True, help="Embeddings the SVM is fitted on.")
@click.option("--score", "n_score", type=int, default=1000, show_default=True, help="Embeddings scored.")
@click.option("--kernel", type=click.Choice(["linear", "rbf"]), default="linear", show_default=True)
@click.option("--model-mb", type=int, default=75, show_default=True, help="Size of the model file hashed.")
@click.option("--files", "n_files", type=int, default=20000, show_default=True, help="Files in the listed tree.")
@click.option("--repeats", type=int, default=3, show_default=True, help="Runs of each step; the fastest counts.")
def main(n_train: int, n_score: int, kernel: str, model_mb: int, n_files: int, repeats: int) -> None:
    """Time the safe classifier file, NumPy scoring, the model check and the listing policy."""
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="dfembed-safety-bench-") as folder:
        root = Path(folder)
        bench_classifier(root, n_train, n_score, kernel, repeats)
        bench_model_check(root, model_mb, repeats)
        bench_listing(root, n_files, repeats)


if __name__ == "__main__":
    main()
