"""The package's ``resources/`` folder (``dfembed/resources``): default configurations, presets, split lists."""

from __future__ import annotations

from pathlib import Path

from dfembed.core.errors import ConfigError

#: ``dfembed/resources``, installed with the package (package data of the wheel, or the clone with ``-e``).
RESOURCES = Path(__file__).resolve().parents[1] / "resources"


def resource_path(*parts: str) -> Path:
    """A file below ``resources/``.

    Args:
        *parts: Path components below the folder (``"presets", "sbi.yaml"``).

    Returns:
        The existing file.

    Raises:
        ConfigError: The file is missing (dfembed installed without its ``resources/`` folder).
    """
    path = RESOURCES.joinpath(*parts)
    if not path.is_file():
        raise ConfigError(f"{path} is missing: install dfembed from its repository with pip install -e .")
    return path
