"""The log-mel spectrogram: librosa's definition, gain invariance, a tone in its band, empty bands refused."""

from __future__ import annotations

import numpy as np
import pytest

from dfembed.audio.config import AudioConfig
from dfembed.audio.mel import log_mel, mel_basis
from dfembed.core.errors import ConfigError
from tests.audio.signals import sweep, tone

librosa = pytest.importorskip("librosa")


def test_equals_librosas_melspectrogram_in_db_relative_to_the_maximum() -> None:
    config = AudioConfig()
    y = sweep(1.0, 16000)
    reference = librosa.power_to_db(
        librosa.feature.melspectrogram(y=y, sr=16000, n_fft=1024, hop_length=250, n_mels=128),
        ref=np.max, top_db=80.0)
    mel = log_mel(y, config)
    assert mel.db.shape == (128, 1 + 16000 // 250) == reference.shape
    np.testing.assert_allclose(mel.db, reference, atol=1e-3)


def test_gain_shifts_the_reference_and_leaves_the_tile_values() -> None:
    config = AudioConfig()
    y = sweep(1.0, 16000)
    loud, quiet = log_mel(y, config), log_mel(y * 0.1, config)
    assert loud.ref_db - quiet.ref_db == pytest.approx(20.0, abs=1e-3)  # power: 10 log10(0.1 ** -2)
    np.testing.assert_allclose(loud.db, quiet.db, atol=1e-3)
    assert loud.db.max() == 0.0 and loud.db.min() >= -80.0


def test_a_tone_is_loudest_in_the_band_centred_nearest_it() -> None:
    config = AudioConfig(n_mels=64)
    centres = librosa.mel_frequencies(n_mels=64 + 2, fmax=8000.0)[1:-1]  # the Slaney bands' centre frequencies
    for hz in (300.0, 1500.0, 5000.0):
        mel = log_mel(tone(0.5, 16000, hz), config)
        band = int(np.argmax(mel.db[:, 10:-10].mean(axis=1)))
        assert band == int(np.argmin(np.abs(centres - hz))), hz


def test_a_track_shorter_than_the_fft_window_is_padded() -> None:
    mel = log_mel(tone(0.01, 16000, 1000.0), AudioConfig())  # 160 samples < n_fft 1024
    assert mel.db.shape == (128, 1 + 1024 // 250)


def test_bands_without_an_fft_bin_are_an_error() -> None:
    with pytest.raises(ConfigError, match="n_mels 256 is too many for n_fft 512 at 16000 Hz"):
        mel_basis(16000, 512, 256)
