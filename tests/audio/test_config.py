"""AudioConfig: the shipped defaults, derived tile sizes, bad values named, recorded settings read back."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from dfembed.audio.config import AudioConfig, check_audio_available, tile_config
from dfembed.core.config import resolve_config
from dfembed.core.errors import ConfigError
from tests.support import REPO


def test_resources_audio_yaml_is_the_defaults() -> None:
    path = REPO / "dfembed" / "resources" / "audio.yaml"
    assert set(yaml.safe_load(path.read_text())) == {f.name for f in dataclasses.fields(AudioConfig)}
    assert resolve_config(AudioConfig, path) == AudioConfig()


def test_default_tiles_are_128_by_128_columns_one_second_apart() -> None:
    config = AudioConfig()
    # 2.0 s * 16000 Hz / 250 samples = 128 columns; 1.0 s = 64 columns
    assert (config.n_mels, config.window_frames, config.hop_frames) == (128, 128, 64)


def test_tile_settings_leave_out_the_crop_mode_and_read_back() -> None:
    config = AudioConfig(audio=True, audio_window=1.0, n_mels=64)
    settings = config.tile_settings()
    assert "audio" not in settings and "audio_only" not in settings
    assert tile_config(settings) == AudioConfig(audio_window=1.0, n_mels=64)
    assert tile_config(None) == AudioConfig()


def test_unknown_recorded_setting_is_an_error() -> None:
    with pytest.raises(ConfigError, match="audio tile settings: .*unknown option 'n_bands'"):
        tile_config({"n_bands": 3})


@pytest.mark.parametrize(
    ("text", "fragment"),
    [("sample_rate: 100\n", "sample_rate must be in"), ("hop_length: 2000\n", "hop_length must be in"),
     ("n_mels: 600\n", "n_mels must be in \\[4, n_fft / 2 \\+ 1 = 513\\]"),
     ("audio_window: 0\n", "audio_window must be positive"), ("audio_hop: 0\n", "audio_hop must be positive"),
     ("audio_window: 0.05\n", "at least 4 spectrogram columns"), ("audio_top_db: 5\n", "audio_top_db"),
     ("audio_silence_db: 3\n", "audio_silence_db")],
)
def test_bad_values_name_the_option(tmp_path: Path, text: str, fragment: str) -> None:
    cfg = tmp_path / "a.yaml"
    cfg.write_text(text)
    with pytest.raises(ConfigError, match=fragment):
        resolve_config(AudioConfig, cfg)


def test_missing_packages_give_one_line_with_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "librosa" else real(name, *a))
    with pytest.raises(ConfigError, match=r"needs librosa, not installed here: pip install -e \"\.\[audio\]\"") as err:
        check_audio_available()
    assert "\n" not in str(err.value)
