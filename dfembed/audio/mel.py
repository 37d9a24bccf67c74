"""The log-mel spectrogram of a soundtrack, with librosa.

Power spectrogram of Hann-windowed frames (``n_fft`` samples every ``hop_length``, frames
centred: column ``i`` is centred on sample ``i * hop_length``), projected on librosa's
Slaney mel filter bank (``n_mels`` bands from 0 Hz to half the sample rate, area-normalised)
— what ``librosa.feature.melspectrogram`` computes — then in dB relative to the loudest bin
of the whole track, clipped ``top_db`` below it: ``librosa.power_to_db(S, ref=np.max,
top_db=top_db)``. The filter bank is built once per setting.
"""

from __future__ import annotations

import dataclasses
import functools
import warnings

import numpy as np

from dfembed.audio.config import AudioConfig
from dfembed.core.errors import ConfigError

#: The smallest power counted, as librosa's ``amin`` (−100 dB).
AMIN = 1e-10


@dataclasses.dataclass(frozen=True)
class LogMel:
    """A track's log-mel spectrogram.

    Attributes:
        db: ``(n_mels, columns)`` float32, dB relative to the loudest bin, in ``[-top_db, 0]``;
            row 0 is the lowest band, column ``i`` is centred at ``i * hop_length / sample_rate`` s.
        ref_db: The loudest bin's power in dB (``10 log10`` of the mel power of samples in full
            scale [-1, 1]); ``db + ref_db`` is the absolute level.
    """

    db: np.ndarray
    ref_db: float


def log_mel(samples: np.ndarray, config: AudioConfig) -> LogMel:
    """Compute the log-mel spectrogram of mono samples at ``config.sample_rate``.

    Args:
        samples: Float samples ``(n,)``; shorter than ``n_fft`` they are zero-padded to it.
        config: The spectrogram settings.

    Returns:
        The :class:`LogMel`.

    Raises:
        ConfigError: ``n_mels`` is too many for ``n_fft`` at this rate (a band without an FFT bin).
    """
    import librosa

    y = np.asarray(samples, dtype=np.float32)
    if y.size < config.n_fft:
        y = np.pad(y, (0, config.n_fft - y.size))
    spectrum = np.abs(librosa.stft(y, n_fft=config.n_fft, hop_length=config.hop_length, window="hann",
                                   center=True, pad_mode="constant")) ** 2
    # einsum as librosa does: a BLAS matmul on the strided spectrum fights other threads for the cores
    power = np.einsum("mf,ft->mt", mel_basis(config.sample_rate, config.n_fft, config.n_mels), spectrum, optimize=True)
    level = 10.0 * np.log10(np.maximum(power, AMIN))
    ref_db = float(level.max())
    db = np.maximum(level - ref_db, -config.audio_top_db)
    return LogMel(db.astype(np.float32), ref_db)


@functools.lru_cache(maxsize=8)
def mel_basis(sample_rate: int, n_fft: int, n_mels: int) -> np.ndarray:
    """librosa's Slaney mel filter bank ``(n_mels, n_fft // 2 + 1)``, float32, checked for empty bands.

    Raises:
        ConfigError: A band covers no FFT bin (too many bands for the FFT size).
    """
    import librosa

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # librosa warns about empty bands; the check below makes it an error
        basis = librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels, dtype=np.float32)
    empty = int(np.count_nonzero(basis.max(axis=1) <= 0))
    if empty:
        raise ConfigError(f"n_mels {n_mels} is too many for n_fft {n_fft} at {sample_rate} Hz: {empty} mel bands "
                          "cover no FFT bin; use fewer --n-mels or a larger --n-fft")
    return basis
