"""Bounds on what a file may make dfembed decode: checked before the work, raisable by the user.

A hostile or broken file can claim a 20000×20000 image or a six-hour soundtrack in a few
bytes; decoding what it claims would take gigabytes. Each bound below has a default that
real deepfake data sets stay far below and an environment variable that raises it (a
positive number). A file beyond a bound is refused with one line naming the file, the
bound and the variable; batch jobs count it as a failure and go on.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

from dfembed.core.errors import ConfigError


@dataclass(frozen=True)
class Bound:
    """One limit on decoded input.

    Attributes:
        env: The environment variable that sets another value.
        default: The value without it.
        unit: How the value reads in messages (``"pixels"``).
    """

    env: str
    default: float
    unit: str

    def value(self) -> float:
        """The limit in force: ``env`` when set, else ``default``.

        Raises:
            ConfigError: ``env`` is set to something other than a positive number.
        """
        text = os.environ.get(self.env)
        if text is None or not text.strip():
            return self.default
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or value <= 0:
            raise ConfigError(f"{self.env}={text[:40]!r} must be a positive number of {self.unit}")
        return value

    def exceeded(self, amount: float, what: str) -> str | None:
        """The reason ``amount`` is refused, or ``None`` when it is within the limit."""
        limit = self.value()
        if amount <= limit:
            return None
        return f"{what} is {amount:g} {self.unit}, above the limit of {limit:g} (set {self.env} to raise it)"


#: Pixels of one decoded image (100 Mpx: 300 MB as RGB).
IMAGE_PIXELS = Bound("DFEMBED_MAX_IMAGE_PIXELS", 100e6, "pixels")
#: Pixels of one video frame (an 8K frame is 33 Mpx).
FRAME_PIXELS = Bound("DFEMBED_MAX_FRAME_PIXELS", 40e6, "pixels")
#: Seconds of one soundtrack (30 minutes: 115 MB as float32 at 16 kHz).
AUDIO_SECONDS = Bound("DFEMBED_MAX_AUDIO_SECONDS", 1800.0, "seconds")

ALL_BOUNDS = {"image pixels": IMAGE_PIXELS, "video frame pixels": FRAME_PIXELS, "soundtrack seconds": AUDIO_SECONDS}
