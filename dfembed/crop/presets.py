"""Crop presets: named option sets of the crop stage (``resources/presets/<name>.yaml``).

``crop_face.py SRC DST --preset NAME`` layers the options as defaults < preset < ``--config``
file < flags; the preset's name is a field of :class:`~dfembed.faces.config.CropConfig`,
so it is recorded in ``dfembed-crop.json`` with the resolved values.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from dfembed.core.config import read_config_file, resolve_configs
from dfembed.core.errors import ConfigError
from dfembed.core.resources import resource_path
from dfembed.faces.config import PRESET_NAMES, CropConfig

DEFAULT_PRESET = "dfembed"


def preset_values(name: str) -> dict[str, Any]:
    """The options a preset sets (its file's mapping), without the defaults it leaves alone.

    Args:
        name: One of :data:`~dfembed.faces.config.PRESET_NAMES`.

    Returns:
        Option name → value.

    Raises:
        ConfigError: An unknown name, or a preset file that is not a mapping of options.
    """
    if name not in PRESET_NAMES:
        raise ConfigError(f"unknown crop preset {name!r}; choose one of: {', '.join(PRESET_NAMES)}")
    return read_config_file(resource_path("presets", f"{name}.yaml"))


def resolve_crop_options(
    config_file: str | os.PathLike[str] | None, flags: Mapping[str, Any] | None = None
) -> CropConfig:
    """The crop configuration of a run: defaults < preset < config file < flags.

    The preset is the one named by the flags, else by the config file, else ``dfembed``.

    Args:
        config_file: Optional YAML/TOML file of options.
        flags: Command-line values (``None``: not given).

    Returns:
        The resolved :class:`~dfembed.faces.config.CropConfig`.

    Raises:
        ConfigError: An unknown preset, key or value.
    """
    return resolve_crop_configs(config_file, flags)[0]


def resolve_crop_configs(
    config_file: str | os.PathLike[str] | None, flags: Mapping[str, Any] | None = None, also: tuple[type, ...] = ()
) -> tuple[Any, ...]:
    """The crop configuration (preset applied) and those of ``also``, from one config file and its flags.

    Args:
        config_file: Optional YAML/TOML file of options of any of the classes.
        flags: Command-line values of any of them (``None``: not given).
        also: Further config classes of the command (e.g. the audio tiles'), without presets.

    Returns:
        The :class:`~dfembed.faces.config.CropConfig`, then one instance per class of ``also``.

    Raises:
        ConfigError: An unknown preset, key or value.
    """
    flags = dict(flags or {})
    file_values = read_config_file(config_file) if config_file is not None else {}
    from_file = next((v for k, v in file_values.items() if str(k).replace("-", "_") == "preset"), None)
    name = flags.get("preset") or from_file or DEFAULT_PRESET
    if not isinstance(name, str):
        raise ConfigError(f"option 'preset': expected a name, got {name!r}")
    base = {**preset_values(name), "preset": name}
    return resolve_configs((CropConfig, *also), config_file, flags, bases=((base, f"preset {name}"),))
