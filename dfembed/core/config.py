"""Layered stage configuration: dataclass defaults < optional config file < flags.

Each stage (crop, train, inference) has one frozen dataclass. :func:`resolve_config`
merges a YAML or TOML file and the command-line flags into it, rejecting unknown keys
and values of the wrong type with a message that names the key.
"""

from __future__ import annotations

import dataclasses
import math
import os
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import tomllib
import yaml

from dfembed.core.errors import ConfigError, shown
from dfembed.core.yamlsafe import load_yaml

T = TypeVar("T")


def read_config_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a YAML (``.yaml``/``.yml``) or TOML (``.toml``) configuration file.

    Args:
        path: The file.

    Returns:
        The top-level mapping (empty for an empty YAML file).

    YAML is read with :func:`~dfembed.core.yamlsafe.load_yaml`, which refuses a document whose
    aliases stand for more values than a configuration holds ("billion laughs").

    Raises:
        ConfigError: The file is missing, unreadable, not UTF-8, not parseable, beyond the
            YAML bounds, or not a mapping.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    if path.suffix.lower() not in (".toml", ".yaml", ".yml"):
        raise ConfigError(f"config file {path}: expected a .yaml, .yml or .toml file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError(f"config file {path} is not UTF-8 text (byte 0x{err.object[err.start]:02x} "
                          f"at position {err.start})") from err
    except OSError as err:
        raise ConfigError(f"cannot read config file {path}: {err.strerror or err}") from err
    try:
        data = tomllib.loads(text) if path.suffix.lower() == ".toml" else (load_yaml(text) or {})
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as err:
        raise ConfigError(f"config file {path} is not valid: {' '.join(str(err).split())}") from err
    except ValueError as err:  # a value YAML's constructors refuse: a date like 2001-13-45, an integer of 5000 digits
        raise ConfigError(f"config file {path} has a value that cannot be read: {str(err).split(';')[0][:200]}") \
            from err
    except RecursionError as err:
        raise ConfigError(f"config file {path} is nested too deeply to read") from err
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path}: expected a mapping of option names to values")
    return data


def resolve_config(
    cls: type[T],
    config_file: str | os.PathLike[str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    base: Mapping[str, Any] | None = None,
    base_name: str = "preset",
) -> T:
    """Build a stage configuration from defaults, a config file and flags.

    Args:
        cls: The stage's frozen dataclass.
        config_file: Optional YAML/TOML file whose keys are field names (``-`` and
            ``_`` are interchangeable).
        overrides: Values from the command line; ``None`` values mean "not given"
            and do not override.
        base: Optional values between the dataclass defaults and the file (a preset,
            such as the training stage's defaults for audio); the file and the flags win.
        base_name: What messages call ``base``.

    Returns:
        An instance of ``cls``.

    Raises:
        ConfigError: An unknown key, a value of the wrong type, or a value that the
            dataclass's ``__post_init__`` rejects.
    """
    layers = [] if base is None else [(dict(base), base_name)]
    if config_file is not None:
        layers.append((read_config_file(config_file), f"config file {config_file}"))
    layers.append(({k: v for k, v in (overrides or {}).items() if v is not None}, "command line"))
    return _build(cls, layers)


def resolve_configs(
    classes: tuple[type, ...],
    config_file: str | os.PathLike[str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    bases: Sequence[tuple[Mapping[str, Any], str] | None] = (),
) -> tuple[Any, ...]:
    """Build several configurations of one command from one config file and its flags.

    Each key of the file and each flag belongs to the class that has a field of that name
    (the classes share no field name); a key that none has is an error naming them all.

    Args:
        classes: The frozen dataclasses, e.g. ``(CropConfig, AudioConfig)``.
        config_file: Optional YAML/TOML file holding keys of any of them.
        overrides: Command-line values of any of them (``None``: not given).
        bases: Per class, in order, optional ``(values, name)`` between its defaults and
            the file (a preset, as :func:`resolve_config`'s ``base``); missing ones are none.

    Returns:
        One instance per class, in order.

    Raises:
        ConfigError: An unknown key, a wrong type or a rejected value (see :func:`resolve_config`).
    """
    fields = [{f.name for f in dataclasses.fields(cls)} for cls in classes]
    layers = [] if config_file is None else [(read_config_file(config_file), f"config file {config_file}")]
    layers.append(({k: v for k, v in (overrides or {}).items() if v is not None}, "command line"))
    known = set().union(*fields)
    for data, where in layers:
        unknown = [key for key in data if str(key).replace("-", "_") not in known]
        if unknown:
            raise ConfigError(f"{where}: unknown option {shown(unknown[0])}; known options: {', '.join(sorted(known))}")
    padded = [*bases, *[None] * (len(classes) - len(bases))]
    return tuple(
        _build(cls, ([] if base is None else [(dict(base[0]), base[1])])
               + [({k: v for k, v in data.items() if str(k).replace("-", "_") in names}, where)
                  for data, where in layers])
        for cls, names, base in zip(classes, fields, padded)
    )


def _build(cls: type[T], layers: list[tuple[Mapping[str, Any], str]]) -> T:
    """``cls`` from layered values, later layers winning; messages name the layer of a bad value."""
    hints = typing.get_type_hints(cls)
    sources: dict[str, str] = {}  # field → where its value came from, for the messages
    coerced: dict[str, Any] = {}
    for data, where in layers:
        for name, value in _normalise_keys(data, cls, where).items():
            try:
                coerced[name] = _coerce(name, value, hints[name])
            except ConfigError as err:
                raise ConfigError(f"{where}: {err}" if where != "command line" else str(err)) from err
            sources[name] = where
    try:
        return cls(**coerced)
    except (TypeError, ValueError) as err:
        where = next((sources[name] for name in sources if str(err).startswith(f"{name} ")), None)
        suffix = f" (set in {where})" if where and where != "command line" else ""
        raise ConfigError(f"invalid {cls.__name__}: {err}{suffix}") from err


def config_to_yaml(config: Any) -> str:
    """Render a configuration dataclass as YAML (the format of ``resources/*.yaml``)."""
    return yaml.safe_dump(json_ready(config), sort_keys=False)


def json_ready(value: Any) -> Any:
    """Return ``value`` as plain JSON data, recursively.

    Dataclasses become dicts, tuples lists, paths strings, and a float NaN becomes
    ``None`` (JSON has no NaN: an undefined metric is ``null``).

    Args:
        value: A dataclass, mapping, sequence or scalar.

    Returns:
        Dicts, lists, strings, numbers, booleans and ``None`` only.
    """
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def check(ok: bool, name: str, value: object, expected: str) -> None:
    """Reject an option value: the one idiom of every configuration's ``__post_init__``.

    Args:
        ok: Whether the value is acceptable.
        name: The option's name.
        value: The value given.
        expected: What the option must be, as the message says it (``"at least 1"``).

    Raises:
        ValueError: ``ok`` is false; the message reads ``"<name> must be <expected>, got <value>"``, the
            value shown by :func:`~dfembed.core.errors.shown` (at most 200 characters).
    """
    if not ok:
        raise ValueError(f"{name} must be {expected}, got {shown(value)}")


def _normalise_keys(data: Mapping[str, Any], cls: type, where: str) -> dict[str, Any]:
    names = {f.name for f in dataclasses.fields(cls)}
    out = {}
    for key, value in data.items():
        name = str(key).replace("-", "_")
        if name not in names:
            known = ", ".join(sorted(names))
            raise ConfigError(f"{where}: unknown option {shown(key)}; known options: {known}")
        out[name] = value
    return out


def _coerce(name: str, value: Any, hint: Any) -> Any:
    """Check ``value`` against the type hint ``hint``; convert lists to tuples and ints to floats."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _coerce(name, value, arg)
            except ConfigError as err:
                errors.append(str(err))
        raise ConfigError(errors[0])
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(f"option {name!r}: {shown(value)} is not one of {list(args)}")
        return value
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"option {name!r}: expected a list, got {shown(value)}")
        item_types = args if args and args[-1] is not Ellipsis else (args[0],) * len(value)
        if len(item_types) != len(value):
            raise ConfigError(f"option {name!r}: expected {len(item_types)} values, got {shown(value)}")
        return tuple(_coerce(name, v, t) for v, t in zip(value, item_types))
    return _coerce_scalar(name, value, hint)


def _coerce_scalar(name: str, value: Any, hint: Any) -> Any:
    if hint is Any:
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"option {name!r}: expected true or false, got {shown(value)}")
        return value
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint is int and isinstance(value, bool):
        raise ConfigError(f"option {name!r}: expected an integer, got {shown(value)}")
    if hint is str and isinstance(value, os.PathLike):
        return os.fspath(value)
    if not isinstance(value, hint):
        raise ConfigError(f"option {name!r}: expected {hint.__name__}, got {shown(value)}")
    return value
