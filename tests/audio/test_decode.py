"""Decoding soundtracks with PyAV: mono, resampled, and every unusable file named with its reason."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dfembed.audio.decode import AudioError, read_soundtrack
from tests.audio.signals import sweep, tone, write_video


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("decode")
    return {
        "tone": write_video(root / "tone.mp4", 1.5, tone(1.5, 48000, 1000.0)),
        "stereo": write_video(root / "stereo.mp4", 1.5, sweep(1.5, 44100), rate=44100, channels=2),
        "quiet": write_video(root / "quiet.mp4", 1.0, tone(1.0, 48000, 500.0, level=10 ** (-50 / 20))),
        "silent": write_video(root / "silent.mp4", 1.0, np.zeros(48000, np.float32)),
        "mute": write_video(root / "mute.mp4", 1.0, None),
    }


def test_a_tone_is_resampled_to_the_asked_rate(media: dict[str, Path]) -> None:
    samples = read_soundtrack(media["tone"], 16000)
    assert samples.dtype == np.float32 and samples.ndim == 1
    # 1.5 s at 16 kHz, give or take the AAC encoder's priming and padding (one 1024-sample frame at 48 kHz)
    assert abs(samples.size - 24000) <= 1024 // 3 + 1
    middle = samples[4000:20000]
    peak_hz = np.argmax(np.abs(np.fft.rfft(middle))) * 16000 / middle.size
    assert peak_hz == pytest.approx(1000.0, abs=1.0)  # 16000 samples: 1 Hz per FFT bin


def test_stereo_is_mixed_to_mono(media: dict[str, Path]) -> None:
    samples = read_soundtrack(media["stereo"], 8000)
    assert samples.ndim == 1 and abs(samples.size - 12000) <= 1024 // 5 + 1


def test_a_quiet_track_is_kept_and_a_floor_above_it_calls_it_silent(media: dict[str, Path]) -> None:
    assert read_soundtrack(media["quiet"], 16000, silence_db=-60.0).size > 0  # peak about -50 dB
    with pytest.raises(AudioError, match=r"silent: its peak, -(49|50|51)\.[0-9] dB, is below the -40 dB floor") as err:
        read_soundtrack(media["quiet"], 16000, silence_db=-40.0)
    assert err.value.reason == "no audio"


@pytest.mark.parametrize(("name", "detail"), [("silent", "digital silence"), ("mute", "has no audio stream")])
def test_silence_and_no_stream_are_no_audio(media: dict[str, Path], name: str, detail: str) -> None:
    with pytest.raises(AudioError, match=detail) as err:
        read_soundtrack(media[name], 16000)
    assert err.value.reason == "no audio" and err.value.path == media[name]


def test_damaged_files_are_named_errors(tmp_path: Path, media: dict[str, Path]) -> None:
    (tmp_path / "empty.mp4").write_bytes(b"")
    (tmp_path / "junk.mp4").write_bytes(b"not a container " * 64)
    data = media["tone"].read_bytes()
    (tmp_path / "half.mp4").write_bytes(data[: len(data) // 2])  # PyAV's mp4 keeps its index at the end
    reasons = {}
    for name in ("empty.mp4", "junk.mp4", "half.mp4", "missing.mp4"):
        with pytest.raises(AudioError) as err:
            read_soundtrack(tmp_path / name, 16000)
        assert str(tmp_path / name) in str(err.value)
        reasons[name] = err.value.reason
    assert reasons == {"empty.mp4": "empty file", "junk.mp4": "cannot open", "half.mp4": "cannot open",
                       "missing.mp4": "unreadable"}


def test_a_name_that_is_not_utf8_is_read(tmp_path: Path, media: dict[str, Path]) -> None:
    odd = tmp_path / "caf\udce9.mp4"  # the byte 0xe9 of a Latin-1 name
    odd.write_bytes(media["tone"].read_bytes())
    assert read_soundtrack(odd, 16000).size > 20000


def test_a_soundtrack_longer_than_the_limit_is_refused_before_decoding(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    video = write_video(tmp_path / "long.mp4", 3.0, tone(3.0, 16000, 440.0), rate=16000)
    assert read_soundtrack(video, 16000).size == pytest.approx(48000, rel=0.05)
    monkeypatch.setenv("DFEMBED_MAX_AUDIO_SECONDS", "1")
    with pytest.raises(AudioError, match=r"long\.mp4: too long \(its declared length is 3 seconds, above the "
                                         r"limit of 1 \(set DFEMBED_MAX_AUDIO_SECONDS"):
        read_soundtrack(video, 16000)


def test_a_soundtrack_that_understates_its_length_stops_at_the_limit(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dfembed.audio import decode

    video = write_video(tmp_path / "liar.mp4", 3.0, tone(3.0, 16000, 440.0), rate=16000)
    monkeypatch.setattr(decode, "_check_declared_length", lambda container, stream, path: None)  # a header that lies
    monkeypatch.setenv("DFEMBED_MAX_AUDIO_SECONDS", "1")
    with pytest.raises(AudioError, match="too long .*more than 1 seconds decoded"):
        read_soundtrack(video, 16000)


def test_a_bad_limit_is_a_one_line_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from dfembed.core.errors import ConfigError

    video = write_video(tmp_path / "a.mp4", 1.0, tone(1.0, 16000, 440.0), rate=16000)
    monkeypatch.setenv("DFEMBED_MAX_AUDIO_SECONDS", "lots")
    with pytest.raises(ConfigError, match="DFEMBED_MAX_AUDIO_SECONDS='lots' must be a positive number of seconds"):
        read_soundtrack(video, 16000)
