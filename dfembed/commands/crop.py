"""`dfembed crop` / `crop_face.py SRC DST`: face crops of images and videos (MTCNN or BlazeFace)."""

from __future__ import annotations

import functools
from pathlib import Path

import click

from dfembed.audio.config import AudioConfig
from dfembed.cli import config_option, split_names, stage_command, stage_options
from dfembed.faces.config import CropConfig

option = functools.partial(config_option, CropConfig)
audio_option = functools.partial(config_option, AudioConfig)


@stage_command(
    "crop",
    Input=("preset", "layout", "split", "compression", "methods", "group_regex", "frames_per_video"),
    Faces=("detector", "min_confidence", "min_face_size", "detector_min_face_size", "thresholds", "scale_factor", "blazeface_model", "blazeface_nms", "faces", "landmarks"),
    Crops=("size", "margin", "align", "align_scale", "image_format", "jpeg_quality"),
    Audio=("audio", "audio_only", "audio_window", "audio_hop", "sample_rate", "n_mels", "n_fft", "hop_length", "audio_top_db", "audio_silence_db"),
    Performance=("jobs", "batch_size", "device", "engine", "ray_address", "ray_workers"),
    Output=("force",),
)
@click.argument("src", type=click.Path(path_type=Path))
@click.argument("dst", type=click.Path(file_okay=False, path_type=Path))
@option("preset", help="Named option set (dfembed/resources/presets/): defaults < preset < --config < flags.")
@option("size", help="Side of the square crops in pixels.")
@option("margin", help="Margin added on each side, fraction of the box.")
@option("align", help="similarity: map the five landmarks onto the standard five-point template.")
@option("align_scale", help="Aligned crops: the template fills the central 1/ALIGN_SCALE.")
@option("landmarks", help="facemesh: also save MediaPipe FaceMesh's 468 points of each crop (DST/landmarks/).")
@option("faces", help="Faces kept per frame.")
@option("detector", metavar="NAME", help="Face detector: mtcnn or blazeface (see `dfembed detectors list`).")
@option("min_confidence", none_text="the detector's default", help="Drop faces below this detector confidence.")
@option("min_face_size", help="Drop faces whose shorter side is smaller, source px.")
@option("detector_min_face_size", help="Smallest face MTCNN searches, px of the downscaled image.")
@option("thresholds", metavar="P R O", help="MTCNN P-, R-, O-Net thresholds.")
@option("scale_factor", help="MTCNN pyramid scale factor.")
@option("blazeface_model", help="BlazeFace network: full (near and far faces), sparse, short (faces within ~2 m).")
@option("blazeface_nms", help="BlazeFace weighted-NMS IoU threshold.")
@option("frames_per_video", help="Frames sampled evenly per video.")
@option("image_format", help="Crop file format.")
@option("jpeg_quality", help="JPEG quality.")
@option("jobs", help="Worker processes, each with its own detector.")
@option("batch_size", help="Frames per detector call: a video's samples, or same-size frames of several small sources.")
@option("group_regex", help="Regex on an image's relative path giving its group key (first group).")
@option("layout", help="SRC layout (auto: recognised).")
@option("split", help="Official subset: FaceForensics++ train/val/test lists; Celeb-DF test list or the rest.")
@option("compression", help="FaceForensics++ quality folder.")
@option("methods", metavar="M[,M...]", callback=lambda ctx, param, value: split_names(value),
        help="FaceForensics++ manipulations (repeat or comma-separate).")
@option("device", help="TensorFlow device of the detector.")
@option("engine", help="Where the detectors run: this machine (--jobs) or a Ray cluster (pip install -e '.[ray]').")
@option("ray_address", metavar="ADDRESS", none_text="start a local cluster",
        help="Ray cluster to join with --engine ray: auto (this machine's cluster) or HOST:PORT.")
@option("ray_workers", help="Detector workers on Ray, one CPU each; 0: one per CPU of the cluster.")
@audio_option("audio", "--audio", is_flag=True, help="Also write log-mel tiles of every video's soundtrack to DST/audio/.")
@audio_option("audio_only", "--audio-only", is_flag=True, help="Write the audio tiles only: no face detection.")
@audio_option("audio_window", help="Audio tile duration, seconds.")
@audio_option("audio_hop", help="Seconds between audio tile starts.")
@audio_option("sample_rate", help="Soundtracks are mixed to mono and resampled to this rate, Hz.")
@audio_option("n_mels", help="Mel bands (tile rows).")
@audio_option("n_fft", help="FFT window, samples.")
@audio_option("hop_length", help="Samples between spectrogram columns.")
@audio_option("audio_top_db", help="Tile dynamic range, dB below the track's loudest bin.")
@audio_option("audio_silence_db", help="A soundtrack whose peak is below this, dB of full scale, is silent.")
@click.option("--force", is_flag=True, help="Delete the crops and reports of an earlier run in DST and redo all.")
@stage_options
def crop_command(src: Path, dst: Path, force: bool, config_file: Path | None, **options: object) -> None:
    """Crop the faces of every image and video in SRC into DST.

    SRC is a FaceForensics++ or Celeb-DF v2 folder, a tree with real/ and fake/ folders, a
    DFDC folder with metadata.json, or an unlabelled folder (crops go to DST/unlabeled/);
    links to files and folders are followed, and every entry that gives no medium (broken
    or looping links, hidden files and folders, other files) is listed in failures.csv.
    DST receives the crops, manifest.csv, failures.csv, sources.csv and dfembed-crop.json;
    it must not be inside SRC nor contain it, and one job at a time may write into it. A
    rerun resumes where a previous run stopped. Exits with status 1 when no crop could be made.

    With --audio (or --audio-only, which skips the faces) every video's soundtrack is
    also cut into log-mel tiles, written with their own manifest, failures and journal
    to DST/audio/ (a training folder for train.py --modality audio); a video without a
    soundtrack or with a silent one is listed there as "no audio". Needs the extra
    audio (pip install -e ".[audio]").

    With --engine ray the detectors run on a Ray cluster and write the crops into DST
    themselves: SRC and DST must be storage that every node mounts at the same path
    (checked before any work); this process alone writes the reports.

    Security: mtcnn loads the network weights shipped inside its own package with joblib,
    that is from pickles, and loading a pickle runs code: install mtcnn only from a source
    you trust. dfembed loads no other pickle in this stage.
    """
    from dfembed.audio.config import check_audio_available
    from dfembed.core.errors import InputError
    from dfembed.crop.job import run_crop
    from dfembed.crop.presets import resolve_crop_configs

    config, audio = resolve_crop_configs(config_file, options, also=(AudioConfig,))
    if audio.writes_tiles:
        check_audio_available()  # before the faces: a missing package must not wait for them
    empty = []
    if not audio.audio_only:
        summary = run_crop(src, dst, config, force=force)
        click.echo(f"{summary.crops_total} crops in {dst} ({summary.crops_written} new); "
                   f"{sum(summary.failures.values())} failures listed in {dst / 'failures.csv'}")
        if summary.crops_total == 0:
            empty.append(f"no face crop was made from {src}; see {dst / 'failures.csv'}")
    if audio.writes_tiles:
        empty += _audio_tiles(src, dst, audio, config.group_regex, force)
    if empty:
        raise InputError("; ".join(empty))


def _audio_tiles(src: Path, dst: Path, audio: AudioConfig, group_regex: str | None, force: bool) -> list[str]:
    """Run the audio part, echo its counts; the problem to report when it made no tile."""
    from dfembed.crop.audio_job import run_audio_crop

    summary = run_audio_crop(src, dst, audio, force=force, group_regex=group_regex)
    failures = summary.dst / "audio_failures.csv"
    click.echo(f"{summary.tiles_total} audio tiles of {summary.videos} videos in {summary.dst} "
               f"({summary.tiles_written} new); {sum(summary.failures.values())} failures listed in {failures}")
    return [] if summary.tiles_total else [f"no audio tile was made from {src}; see {failures}"]
