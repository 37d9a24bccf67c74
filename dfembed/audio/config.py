"""Configuration of the audio tiles: how a soundtrack becomes log-mel spectrogram images.

The crop stage writes tiles with these settings (``crop_face.py SRC DST --audio``), the
training stage copies them into the audio model's classifier bundle, and inference
recomputes tiles with the same settings. ``resources/audio.yaml`` lists the defaults (a
test keeps the two equal). Importing this module imports neither PyAV nor librosa.
"""

from __future__ import annotations

import dataclasses
import importlib.util
from typing import Any

from dfembed.core.config import check
from dfembed.core.errors import ConfigError

#: The fields that say what the crop stage does, not what a tile is.
MODE_FIELDS = frozenset({"audio", "audio_only"})
#: The packages of the audio branch (PyPI name → module), the optional extra ``audio``.
AUDIO_PACKAGES = {"av": "av", "librosa": "librosa"}
INSTALL_HINT = "pip install -e \".[audio]\" (or pip install av librosa)"


@dataclasses.dataclass(frozen=True)
class AudioConfig:
    """Every option of the audio tiles.

    A soundtrack is decoded, mixed to mono and resampled to ``sample_rate``; its mel power
    spectrogram (``n_fft``-sample Hann windows every ``hop_length`` samples, ``n_mels``
    bands from 0 Hz to ``sample_rate / 2``) is converted to dB relative to the track's
    loudest bin and clipped at ``-audio_top_db``; tiles of ``audio_window`` seconds start
    every ``audio_hop`` seconds. A tile is an 8-bit grayscale image, ``n_mels`` rows (the
    highest band on top) by ``round(audio_window * sample_rate / hop_length)`` columns, whose
    pixel ``p`` stands for ``p * audio_top_db / 255 - audio_top_db`` dB below the track's
    loudest bin (see :mod:`dfembed.audio.tiles`).

    Attributes:
        audio: Crop stage: also write audio tiles of every video with a soundtrack.
        audio_only: Crop stage: write audio tiles only (no face detection).
        audio_window: Tile duration in seconds.
        audio_hop: Seconds between the starts of successive tiles.
        sample_rate: Rate the soundtrack is resampled to, in Hz.
        n_mels: Mel bands (tile rows).
        n_fft: FFT window in samples.
        hop_length: Samples between spectrogram columns.
        audio_top_db: Dynamic range of a tile in dB below the track's loudest bin.
        audio_silence_db: A soundtrack whose peak is below this level (dB of full scale) is silent.
    """

    audio: bool = False
    audio_only: bool = False
    audio_window: float = 2.0
    audio_hop: float = 1.0
    sample_rate: int = 16000
    n_mels: int = 128
    n_fft: int = 1024
    hop_length: int = 250
    audio_top_db: float = 80.0
    audio_silence_db: float = -60.0

    def __post_init__(self) -> None:
        check(8000 <= self.sample_rate <= 192000, "sample_rate", self.sample_rate, "in [8000, 192000] Hz")
        check(16 <= self.n_fft <= 16384, "n_fft", self.n_fft, "in [16, 16384] samples")
        check(1 <= self.hop_length <= self.n_fft, "hop_length", self.hop_length, f"in [1, n_fft = {self.n_fft}]")
        check(4 <= self.n_mels <= self.n_fft // 2 + 1, "n_mels", self.n_mels,
              f"in [4, n_fft / 2 + 1 = {self.n_fft // 2 + 1}]")
        check(0.0 < self.audio_window <= 60.0, "audio_window", self.audio_window, "positive and at most 60 seconds")
        check(self.window_frames >= 4, "audio_window", self.audio_window,
              f"at least 4 spectrogram columns (4 * hop_length / sample_rate = {4 * self.hop_length / self.sample_rate} s)")
        check(0.0 < self.audio_hop <= 60.0 and self.hop_frames >= 1, "audio_hop", self.audio_hop,
              f"positive, at most 60 s and at least one column ({self.hop_length / self.sample_rate} s)")
        check(10.0 <= self.audio_top_db <= 200.0, "audio_top_db", self.audio_top_db, "in [10, 200] dB")
        check(-200.0 <= self.audio_silence_db <= 0.0, "audio_silence_db", self.audio_silence_db, "in [-200, 0] dB")

    @property
    def window_frames(self) -> int:
        """Spectrogram columns of one tile."""
        return round(self.audio_window * self.sample_rate / self.hop_length)

    @property
    def hop_frames(self) -> int:
        """Spectrogram columns between the starts of two tiles."""
        return round(self.audio_hop * self.sample_rate / self.hop_length)

    @property
    def writes_tiles(self) -> bool:
        """Whether the crop stage writes tiles (``audio`` or ``audio_only``)."""
        return self.audio or self.audio_only

    def tile_settings(self) -> dict[str, Any]:
        """The fields that define a tile (everything but the crop stage's mode), as plain data."""
        return {k: v for k, v in dataclasses.asdict(self).items() if k not in MODE_FIELDS}


def tile_config(settings: dict[str, Any] | None) -> AudioConfig:
    """The :class:`AudioConfig` of recorded tile settings (a bundle's, a crop record's).

    Args:
        settings: :meth:`AudioConfig.tile_settings` of some run; ``None``: the defaults.
            Keys this version does not know are an error (the tiles would differ).

    Returns:
        The configuration.

    Raises:
        ConfigError: A key is unknown or a value is invalid.
    """
    from dfembed.core.config import resolve_config

    values = {k: v for k, v in (settings or {}).items() if k not in MODE_FIELDS}
    try:
        return resolve_config(AudioConfig, None, values)
    except ConfigError as err:
        raise ConfigError(f"audio tile settings: {err}") from err


def check_audio_available() -> None:
    """Fail early, in one line, when the audio packages are missing.

    Raises:
        ConfigError: PyAV or librosa is not installed; the message says how to install them.
    """
    missing = [name for name, module in AUDIO_PACKAGES.items() if importlib.util.find_spec(module) is None]
    if missing:
        raise ConfigError(f"the audio branch needs {' and '.join(missing)}, not installed here: {INSTALL_HINT}")
