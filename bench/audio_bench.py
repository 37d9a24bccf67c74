#!/usr/bin/env python
"""The audio branch: tiles/s of the audio crop path, the cost of the audio backbones, fused scores on the sample.

Three parts, each printed with the load average (the cores may be shared):

* **tiles** (``--tiles``): tiles/s of what ``crop_face.py --audio`` runs per video —
  :func:`dfembed.audio.tiles.soundtrack_tiles` (PyAV decode, FFmpeg's resampler to 16 kHz
  mono, one log-mel spectrogram of the whole track, tiles cut from it) and PNG encoding —
  against the obvious way in the same process: decode at the native rate, resample with
  ``librosa.resample`` (soxr), and compute each 2 s window's mel spectrogram on its own
  samples (overlapping windows compute the overlap twice). Both run on every sample video
  with a soundtrack (``--data`` folders), interleaved ``--repeat`` times, the fastest pass
  of each counting; also the whole ``run_audio_crop`` job (tiles written, journal synced).
* **cost** (``--cost``): one training step (``train_on_batch``, batch 8, random weights) and
  one embedding batch of tiles for each ``backbone@size`` of ``--configs``, against the audio
  default B0@128 (the default tile is 128 × 128 and needs no resize).
* **fused** (``--fused``): the sample videos with a soundtrack linked into a labelled tree
  (``dfdc_sample/videos``: the 2 fakes; ``real_faces/videos``: 4 real ``.mp4``; the street
  video: real), cropped with ``--audio`` (BlazeFace, 64 px, 8 frames per video), a face model
  and an audio model trained (B0, random weights, ``--steps`` steps each, as the demo), the
  fusion weight fitted on the audio model's validation videos, and every video scored by
  ``inference.py --audio-model`` with each fusion rule. The models see these videos in
  training: the scores show the pipeline at work, not accuracy (see the README).

    .venv/bin/python bench/audio_bench.py                          # all three parts
    .venv/bin/python bench/audio_bench.py --no-fused --repeat 5    # speed only
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
SHARED = REPO.parent / "shared" / "data"
DEFAULT_DATA = (SHARED / "dfdc_sample" / "videos", SHARED / "real_faces" / "videos")
log = logging.getLogger("audio_bench")


def _load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def _videos(folders: tuple[Path, ...]) -> list[Path]:
    """Every file of ``folders`` that PyAV opens with an audio stream."""
    import av

    found = []
    for folder in folders:
        for path in sorted(p for p in folder.glob("*") if p.suffix.lower() in (".mp4", ".mpg", ".avi", ".mov", ".mkv")):
            with av.open(str(path)) as container:
                if container.streams.audio:
                    found.append(path)
    if not found:
        raise click.ClickException(f"no video with a soundtrack in {', '.join(map(str, folders))}")
    return found


# --- tiles -----------------------------------------------------------------------------


def dfembed_tiles(path: Path, config) -> int:  # noqa: ANN001 - AudioConfig
    """The crop path of one video: decode, resample, one spectrogram, tiles, PNG bytes."""
    from dfembed.audio.tiles import encode_png, soundtrack_tiles

    track = soundtrack_tiles(path, config)
    for tile in track.tiles:
        encode_png(tile.pixels)
    return len(track.tiles)


def naive_tiles(path: Path, config) -> int:  # noqa: ANN001 - AudioConfig
    """The obvious way: native-rate decode, librosa.resample, one mel spectrogram per window."""
    import av
    import librosa

    from dfembed.audio.tiles import db_to_pixels, encode_png

    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        chunks = [frame.to_ndarray() for frame in container.decode(stream)]
        rate = stream.rate
    planar = np.concatenate([c if c.ndim == 2 else c[None] for c in chunks], axis=1).astype(np.float32)
    y = librosa.resample(planar.mean(axis=0) if planar.shape[0] > 1 else planar[0], orig_sr=rate,
                         target_sr=config.sample_rate)
    window = round(config.audio_window * config.sample_rate)
    hop = round(config.audio_hop * config.sample_rate)
    starts = range(0, max(len(y) - window, 0) + 1, hop)
    mels = [librosa.feature.melspectrogram(y=y[s:s + window], sr=config.sample_rate, n_fft=config.n_fft,
                                           hop_length=config.hop_length, n_mels=config.n_mels) for s in starts]
    top = max(float(m.max()) for m in mels)
    for mel in mels:
        db = np.maximum(10 * np.log10(np.maximum(mel, 1e-10) / top), -config.audio_top_db)
        encode_png(db_to_pixels(db[::-1], config.audio_top_db))
    return len(mels)


def bench_tiles(videos: list[Path], repeat: int) -> None:
    from dfembed.audio.config import AudioConfig

    config = AudioConfig()
    paths = {"dfembed (one spectrogram per track)": dfembed_tiles, "naive (librosa.resample, one per window)": naive_tiles}
    for function in paths.values():  # warm-up: numba's compilation, FFmpeg's codecs, file cache
        function(videos[0], config)
    best: dict[str, float] = {}
    tiles: dict[str, int] = {}
    for _ in range(repeat):
        for name, function in paths.items():
            start = time.perf_counter()
            tiles[name] = sum(function(v, config) for v in videos)
            best[name] = min(best.get(name, float("inf")), time.perf_counter() - start)
    seconds = sum(_duration(v) for v in videos)
    click.echo(f"\ntiles: {len(videos)} videos, {seconds:.1f} s of sound, fastest of {repeat} interleaved passes "
               f"(load average {_load()})")
    reference = best["naive (librosa.resample, one per window)"]
    for name in paths:
        click.echo(f"  {name:44s} {tiles[name]:4d} tiles  {best[name] * 1000:8.1f} ms  "
                   f"{tiles[name] / best[name]:8.1f} tiles/s  {reference / best[name]:5.2f}x")
    _bench_job(videos)


def _duration(path: Path) -> float:
    from dfembed.audio.decode import read_soundtrack

    return read_soundtrack(path, 16000).size / 16000


def _bench_job(videos: list[Path]) -> None:
    """The whole ``run_audio_crop`` job: tiles written atomically, rows and journal synced."""
    from dfembed.audio.config import AudioConfig
    from dfembed.crop.audio_job import run_audio_crop

    with tempfile.TemporaryDirectory(prefix="audio-bench-") as folder:
        src = Path(folder) / "src" / "real"
        src.mkdir(parents=True)
        for path in videos:
            (src / f"{path.stem}.mp4").symlink_to(path)  # the crop stage lists mp4, not mpg: linked as .mp4
        start = time.perf_counter()
        summary = run_audio_crop(src.parent, Path(folder) / "dst", AudioConfig(audio_only=True))
        seconds = time.perf_counter() - start
    click.echo(f"  {'run_audio_crop (files, journal)':44s} {summary.tiles_total:4d} tiles  {seconds * 1000:8.1f} ms  "
               f"{summary.tiles_total / seconds:8.1f} tiles/s")


# --- cost ------------------------------------------------------------------------------


def bench_cost(configs: list[tuple[str, int]], steps: int) -> None:
    import keras

    from dfembed.model.losses import TripletSemiHardLoss
    from dfembed.model.network import build_embedding_model, embed_images

    rng = np.random.default_rng(0)
    rows = []
    for backbone, size in configs:
        keras.utils.set_random_seed(0)
        model = build_embedding_model(backbone, image_size=size, weights="none")
        model.compile(optimizer=keras.optimizers.SGD(0.01), loss=TripletSemiHardLoss())
        images = rng.integers(0, 256, (8, size, size, 3)).astype(np.float32)
        labels = np.array([0, 1] * 4, np.float32)
        model.train_on_batch(images, labels)
        embed_images(model, images, 8)
        start = time.perf_counter()
        for _ in range(steps):
            model.train_on_batch(images, labels)
        train = (time.perf_counter() - start) / steps
        start = time.perf_counter()
        for _ in range(steps):
            embed_images(model, images, 8)
        rows.append((f"{backbone}@{size}", train, (time.perf_counter() - start) / steps, model.count_params()))
    click.echo(f"\ncost: batch 8, {steps} timed steps after one untimed (load average {_load()})")
    reference = next((r for r in rows if r[0] == "b0@128"), rows[0])
    for name, train, embed, params in rows:
        click.echo(f"  {name:8s} {params / 1e6:6.1f} M parameters  train step {train * 1000:8.1f} ms "
                   f"({train / reference[1]:5.2f}x b0@128)  embed {embed * 1000:7.1f} ms ({8 / embed:7.1f} tiles/s)")


# --- fused -----------------------------------------------------------------------------


def bench_fused(videos: list[Path], steps: int, keep: Path | None) -> None:
    folder = keep or Path(tempfile.mkdtemp(prefix="audio-bench-fused-"))
    src = folder / "src"
    for path in videos:
        label = "fake" if path.parent.name == "videos" and path.parent.parent.name == "dfdc_sample" \
            and path.stem != "street_real_crowd" else "real"
        (src / label).mkdir(parents=True, exist_ok=True)
        link = src / label / f"{path.stem}.mp4"
        if not link.exists():
            link.symlink_to(path)
    start = time.perf_counter()
    face, audio = _train_models(src, folder, steps)
    click.echo(f"\nfused: {len(videos)} videos, models trained in {time.perf_counter() - start:.0f} s "
               f"(load average {_load()}); work in {folder}")
    _echo_fusion(audio[0].with_name("audio.fusion.json"))
    scores = {rule: _scores(src, folder, face, audio, rule) for rule in ("mean", "max", "weighted")}
    click.echo(f"  {'video':28s} {'label':5s} {'face':>7s} {'audio':>7s} {'mean':>7s} {'max':>7s} {'weighted':>8s}")
    for key, row in sorted(scores["mean"].items()):
        click.echo(f"  {key:28s} {key.split('/')[0]:5s} {row['face_score'] or '-':>7.7s} {row['audio_score'] or '-':>7.7s} "
                   f"{row['y']:>7.7s} {scores['max'][key]['y']:>7.7s} {scores['weighted'][key]['y']:>8.8s}")


def _echo_fusion(path: Path) -> None:
    import json

    if not path.exists():
        click.echo("  no fusion weight (no validation videos of both classes with faces and audio)")
        return
    record = json.loads(path.read_text())
    losses = ", ".join(f"{k} {v:.3f}" for k, v in record["validation_log_loss"].items())
    click.echo(f"  fusion weight of the audio {record['weight']:.2f}, fitted on {record['videos']} validation videos "
               f"({record['fake_videos']} fake: {', '.join(record['scores'])}); validation log loss: {losses}")


def _train_models(src: Path, folder: Path, steps: int) -> tuple[tuple[Path, Path], tuple[Path, Path]]:
    from dfembed.audio.config import AudioConfig
    from dfembed.core.config import resolve_config
    from dfembed.crop.audio_job import run_audio_crop
    from dfembed.crop.job import run_crop
    from dfembed.faces.config import CropConfig
    from dfembed.train.config import AUDIO_DEFAULTS, TrainConfig
    from dfembed.train.run import run_train

    dst = folder / "crops"
    run_crop(src, dst, CropConfig(detector="blazeface", size=64, frames_per_video=8, image_format="png"))
    run_audio_crop(src, dst, AudioConfig(audio=True))
    common = {"weights": "none", "batch_size": 8, "epochs": 1, "steps_per_epoch": steps, "val_fraction": 0.3,
              "tensorboard": False, "embedding_dim": 64}
    face = (folder / "face.h5", folder / "face.pkl")
    run_train(dst, *face, resolve_config(TrainConfig, None, {**common, "backbone": "b0", "image_size": 64}),
              force=True)
    audio = (folder / "audio.h5", folder / "audio.pkl")
    config = resolve_config(TrainConfig, None, {**common, "modality": "audio", "fuse_face_model": tuple(map(str, face))},
                            base=AUDIO_DEFAULTS)
    run_train(dst / "audio", *audio, config, force=True)
    return face, audio


def _scores(src: Path, folder: Path, face: tuple[Path, Path], audio: tuple[Path, Path], rule: str) -> dict:
    import csv

    from dfembed.infer.config import InferConfig
    from dfembed.infer.run import run_inference

    out = folder / f"fused_{rule}.csv"
    if rule == "weighted" and not audio[0].with_name("audio.fusion.json").exists():
        click.echo("  (no fusion weight: the audio validation split had no videos of both classes with faces)")
        rule = "mean"
    config = InferConfig(audio_model=tuple(map(str, audio)), fuse=rule, submission_format="dacon")
    run_inference(src, out, *face, config, force=True)
    with out.open(newline="") as handle:
        return {row["path"]: row for row in csv.DictReader(handle)}


@click.command()
@click.option("--data", "folders", multiple=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              default=DEFAULT_DATA, show_default=True, help="Folders of videos with soundtracks.")
@click.option("--tiles/--no-tiles", default=True, help="Tiles/s of the audio crop path.")
@click.option("--cost/--no-cost", default=True, help="Training step and embedding cost per backbone@size.")
@click.option("--fused/--no-fused", default=True, help="Train tiny models on the sample and print the fused scores.")
@click.option("--repeat", default=3, show_default=True, help="Interleaved passes of the tile paths.")
@click.option("--configs", default="b0@128,b0@224,b4@380", show_default=True, help="backbone@size of --cost.")
@click.option("--cost-steps", default=3, show_default=True, help="Timed steps per --cost config.")
@click.option("--steps", default=150, show_default=True, help="Training steps of each model of --fused (as the demo).")
@click.option("--keep", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Keep --fused's work (crops, models, CSVs) in this folder.")
def main(folders: tuple[Path, ...], tiles: bool, cost: bool, fused: bool, repeat: int, configs: str, cost_steps: int,
         steps: int, keep: Path | None) -> None:
    """Measure the audio branch (see the module docstring)."""
    from dfembed.core.logs import setup_logging

    setup_logging(0, quiet=True)
    videos = _videos(folders)
    click.echo(f"{len(videos)} videos with a soundtrack: {', '.join(p.name for p in videos)}")
    if tiles:
        bench_tiles(videos, repeat)
    if cost:
        pairs = [(c.split("@")[0], int(c.split("@")[1])) for c in configs.split(",")]
        bench_cost(pairs, cost_steps)
    if fused:
        bench_fused(videos, steps, keep)


if __name__ == "__main__":
    main()
