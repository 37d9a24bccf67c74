"""The audio part of the crop stage: tiles, manifest and failures of generated videos, resume, --force, the CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner, Result

from dfembed.audio.config import AudioConfig
from dfembed.commands.crop import crop_command
from dfembed.core.atomic import TEMP_MARKER
from dfembed.core.errors import InputError, OutputExistsError
from dfembed.crop.audio_job import run_audio_crop
from dfembed.crop.audio_manifest import (
    AUDIO_MANIFEST_COLUMNS,
    AUDIO_SOURCE_COLUMNS,
    read_audio_record,
    read_tile_column,
)
from dfembed.crop.manifest import FAILURE_COLUMNS, read_rows
from tests.audio.signals import sweep, tone, write_video
from tests.support import shared_path


def crop(*args: object) -> Result:
    return CliRunner().invoke(crop_command, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def src(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """real/: a 3 s sweep (2 tiles), a video without audio; fake/: a 4 s tone (3 tiles), a silent one, junk, an image."""
    root = tmp_path_factory.mktemp("audio_src")
    write_video(root / "real" / "r1.mp4", 3.0, sweep(3.0, 48000))
    write_video(root / "real" / "mute.mp4", 1.0, None)
    write_video(root / "fake" / "sub" / "f1.mp4", 4.0, tone(4.0, 44100, 440.0), rate=44100, channels=2)
    write_video(root / "fake" / "silent.mp4", 1.0, np.zeros(48000, np.float32))
    cv2.imwrite(str(root / "fake" / "still.png"), np.zeros((8, 8, 3), np.uint8))
    (root / "fake" / "junk.mp4").write_bytes(b"not a container " * 64)  # a damaged file: listed, the job goes on
    return root


@pytest.fixture(scope="module")
def run(src: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    dst = tmp_path_factory.mktemp("audio_dst") / "out"
    summary = run_audio_crop(src, dst, AudioConfig(audio=True))
    assert (summary.videos, summary.processed, summary.tiles_written, summary.tiles_total) == (5, 5, 5, 5)
    return dst


def test_tiles_manifest_and_failures(run: Path) -> None:
    root = run / "audio"
    rows = read_rows(root / "audio_manifest.csv", AUDIO_MANIFEST_COLUMNS)
    # r1: 3 s -> 193 columns -> tiles at columns 0, 64; f1: 4 s -> 257 columns -> 0, 64, 128
    assert [(r["source"], r["tile_index"], r["window_start"], r["window_end"]) for r in rows] == [
        ("fake/sub/f1.mp4", "0", "0.0000", "2.0000"), ("fake/sub/f1.mp4", "1", "1.0000", "3.0000"),
        ("fake/sub/f1.mp4", "2", "2.0000", "4.0000"),
        ("real/r1.mp4", "0", "0.0000", "2.0000"), ("real/r1.mp4", "1", "1.0000", "3.0000")]
    assert rows[0]["tile"] == "fake/sub/f1_mp4_t000000.png" and rows[3]["tile"] == "real/r1_mp4_t000000.png"
    assert {r["sample_rate"] for r in rows} == {"16000"} and {r["label"] for r in rows} == {"real", "fake"}
    image = cv2.imread(str(root / rows[0]["tile"]), cv2.IMREAD_UNCHANGED)
    assert image.shape == (128, 128) and image.dtype == np.uint8
    failures = {r["source"]: (r["reason"], r["detail"]) for r in read_rows(root / "audio_failures.csv", FAILURE_COLUMNS)}
    assert {k: v[0] for k, v in failures.items()} == {
        "real/mute.mp4": "no audio", "fake/silent.mp4": "no audio", "fake/still.png": "not a video",
        "fake/junk.mp4": "cannot open"}
    assert "no audio stream" in failures["real/mute.mp4"][1] and "silence" in failures["fake/silent.mp4"][1]
    record = read_audio_record(root)
    assert record["status"] == "complete" and record["config"] == AudioConfig().tile_settings()
    assert record["counts"]["failures"] == {"cannot open": 1, "no audio": 2, "not a video": 1}
    assert "librosa" in record["versions"] and "av" in record["versions"]
    assert not (run / "manifest.csv").exists()  # the face part did not run


def test_groups_and_sources_read_back_for_training(run: Path) -> None:
    root = run / "audio"
    groups = read_tile_column(root, "group")
    assert groups[(root / "real/r1_mp4_t000001.png").resolve()] == "real/r1.mp4"
    assert set(read_tile_column(root, "source").values()) == {"real/r1.mp4", "fake/sub/f1.mp4"}


def test_rerun_resumes_and_a_killed_video_is_redone(run: Path, src: Path) -> None:
    root = run / "audio"
    before = (root / "audio_manifest.csv").read_bytes()
    assert run_audio_crop(src, run, AudioConfig(audio=True)).processed == 0
    assert (root / "audio_manifest.csv").read_bytes() == before
    # a kill after f1's tiles and rows but before its journal row, with a temporary file left behind
    journal = [r for r in read_rows(root / "audio_sources.csv", AUDIO_SOURCE_COLUMNS) if r["source"] != "fake/sub/f1.mp4"]
    from dfembed.crop.manifest import write_rows

    write_rows(root / "audio_sources.csv", AUDIO_SOURCE_COLUMNS, journal)
    (root / "fake" / f".x{TEMP_MARKER}.png").write_bytes(b"partial")
    summary = run_audio_crop(src, run, AudioConfig(audio=True))
    assert (summary.processed, summary.tiles_written, summary.tiles_total) == (1, 3, 5)
    assert (root / "audio_manifest.csv").read_bytes() == before
    assert not list(root.rglob(f"*{TEMP_MARKER}*"))


def test_other_settings_need_force_and_force_redoes_only_audio(src: Path, run: Path, tmp_path: Path) -> None:
    run_audio_crop(src, tmp_path, AudioConfig(audio_only=True, n_mels=64))
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "keep_mp4_f00000_00.jpg").write_bytes(b"a face crop")  # the face part's, not ours
    with pytest.raises(OutputExistsError, match="n_mels: 64 -> 128.*--force"):
        run_audio_crop(src, tmp_path, AudioConfig(audio_only=True))
    summary = run_audio_crop(src, tmp_path, AudioConfig(audio_only=True), force=True)
    assert summary.processed == 5 and summary.tiles_total == 5
    assert (tmp_path / "real" / "keep_mp4_f00000_00.jpg").exists()
    # the same settings as the module's run: byte-identical tiles and manifest
    for name in ("audio_manifest.csv", "real/r1_mp4_t000001.png", "fake/sub/f1_mp4_t000002.png"):
        assert (tmp_path / "audio" / name).read_bytes() == (run / "audio" / name).read_bytes(), name


def test_a_video_gone_from_src_loses_its_tiles(src: Path, tmp_path: Path) -> None:
    copy = tmp_path / "src"
    shutil.copytree(src, copy)
    run_audio_crop(copy, tmp_path / "dst", AudioConfig(audio=True))
    (copy / "real" / "r1.mp4").unlink()
    summary = run_audio_crop(copy, tmp_path / "dst", AudioConfig(audio=True))
    assert summary.tiles_total == 3
    assert not list((tmp_path / "dst" / "audio" / "real").glob("r1_mp4_t*.png"))


def test_src_without_video_and_unsafe_dst_are_errors(tmp_path: Path, src: Path) -> None:
    images = tmp_path / "images"
    (images / "real").mkdir(parents=True)
    cv2.imwrite(str(images / "real" / "a.png"), np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(InputError, match="no video found .*soundtracks of videos"):
        run_audio_crop(images, tmp_path / "dst", AudioConfig(audio_only=True))
    outside = tmp_path / "outside"
    outside.mkdir()
    (tmp_path / "dst2" / "audio").mkdir(parents=True)
    (tmp_path / "dst2" / "audio" / "real").symlink_to(outside)
    with pytest.raises(InputError, match="leads outside DST/audio"):
        run_audio_crop(src, tmp_path / "dst2", AudioConfig(audio_only=True))
    with pytest.raises(InputError, match="inside"):
        run_audio_crop(src, src / "out", AudioConfig(audio_only=True))


def test_dfdc_layout_keeps_a_fake_with_its_original(tmp_path: Path) -> None:
    folder = tmp_path / "part"
    write_video(folder / "a.mp4", 2.0, sweep(2.0, 48000))
    write_video(folder / "b.mp4", 2.0, tone(2.0, 48000, 300.0))
    (folder / "metadata.json").write_text(json.dumps({"a.mp4": {"label": "REAL"},
                                                      "b.mp4": {"label": "FAKE", "original": "a.mp4"}}))
    run_audio_crop(folder, tmp_path / "dst", AudioConfig(audio_only=True))
    rows = read_rows(tmp_path / "dst" / "audio" / "audio_manifest.csv", AUDIO_MANIFEST_COLUMNS)
    assert {(r["source"], r["label"], r["group"]) for r in rows} == {("a.mp4", "real", "a.mp4"),
                                                                     ("b.mp4", "fake", "a.mp4")}
    assert {r["tile"] for r in rows} == {"real/a_mp4_t000000.png", "fake/b_mp4_t000000.png"}


def test_cli_audio_only(src: Path, tmp_path: Path) -> None:
    result = crop(src, tmp_path / "dst", "--audio-only", "--n-mels", "64", "-q")
    assert result.exit_code == 0, result.output
    assert "5 audio tiles of 5 videos" in result.output and "4 failures listed" in result.output
    assert not (tmp_path / "dst" / "manifest.csv").exists()
    only_images = tmp_path / "images"
    (only_images / "fake").mkdir(parents=True)
    cv2.imwrite(str(only_images / "fake" / "a.png"), np.zeros((8, 8, 3), np.uint8))
    result = CliRunner().invoke(crop_command, [str(only_images), str(tmp_path / "d2"), "--audio-only", "-q"])
    assert result.exit_code == 1 and result.output.startswith("Error: ") and "no video found" in result.output
    mute = tmp_path / "mute"
    write_video(mute / "real" / "m.mp4", 1.0, None)
    result = CliRunner().invoke(crop_command, [str(mute), str(tmp_path / "d3"), "--audio-only", "-q"])
    assert result.exit_code == 1 and "no audio tile was made" in result.output


@pytest.mark.slow
@pytest.mark.shared_data
def test_cli_faces_and_audio_of_the_dfdc_sample_videos(tmp_path: Path) -> None:
    videos = shared_path("dfdc_sample", "videos")
    result = crop(videos, tmp_path / "dst", "--audio", "--detector", "blazeface", "--frames-per-video", "2",
                  "--size", "64", "-q")
    assert result.exit_code == 0, result.output
    rows = read_rows(tmp_path / "dst" / "audio" / "audio_manifest.csv", AUDIO_MANIFEST_COLUMNS)
    per_video = {s: sum(r["source"] == s for r in rows) for s in {r["source"] for r in rows}}
    # 10.0 s soundtracks: 641 columns -> 9 tiles; the 4.2 s street video: 269 columns -> 3 tiles
    assert per_video == {"abofeumbvv.mp4": 9, "abqwwspghj.mp4": 9}  # the street video is not in metadata.json
    assert {r["group"] for r in rows} == {"atvmxvwyns.mp4", "qzimuostzz.mp4"}  # their originals
    assert (tmp_path / "dst" / "manifest.csv").is_file()
