"""Plugins: modules that register a user's own backbones, face detectors, modalities or extensions.

The registries (:mod:`dfembed.model.backbones`, :mod:`dfembed.faces.detector`, …) are filled by
plain ``register_*`` calls. For the command line, the thin scripts, worker processes and Ray
workers to know a user's entries, the module making those calls must be imported in each of
them; :func:`load_plugins` does that, once per process, for

* every module named in ``DFEMBED_PLUGINS`` (comma-separated import paths: ``mypackage.nets``), and
* every entry point of the ``dfembed.plugins`` group of an installed package
  (``[project.entry-points."dfembed.plugins"] mynet = "mypackage.nets"`` in its ``pyproject.toml``).

Every command calls it before it reads its options, every lookup in the backbone, detector,
modality and extension registries calls it, so library code and the crop, inference and
service worker processes load the plugins at their first lookup (spawned processes and Ray
workers inherit ``DFEMBED_PLUGINS`` from the environment of the process that starts them; a
remote Ray cluster needs it in its ``runtime_env``).
Importing a plugin runs its code: name only modules you trust, as with any Python package.
"""

from __future__ import annotations

import importlib
import logging
import os
from importlib import metadata

from dfembed.core.errors import ConfigError

log = logging.getLogger(__name__)

#: The environment variable naming plugin modules.
PLUGINS_ENV = "DFEMBED_PLUGINS"
#: The entry-point group installed packages declare their plugin modules in.
ENTRY_POINT_GROUP = "dfembed.plugins"

_loaded: dict[str, str] = {}  # module → where it was named
_loaded_for: str | None = None  # the DFEMBED_PLUGINS value of the last complete load
_busy = False  # plugins are being imported (a plugin's own lookups must not start another load)


def plugin_modules() -> list[tuple[str, str]]:
    """The plugin modules to import, as ``(module, where it was named)`` pairs, each once.

    Raises:
        ConfigError: An entry of ``DFEMBED_PLUGINS`` is not a module path.
    """
    named: dict[str, str] = {}
    for entry in metadata.entry_points(group=ENTRY_POINT_GROUP):
        named.setdefault(entry.value.partition(":")[0].strip(), f"entry point {entry.name!r} of {ENTRY_POINT_GROUP}")
    for raw in os.environ.get(PLUGINS_ENV, "").split(","):
        module = raw.strip()
        if not module:
            continue
        if not all(part.isidentifier() for part in module.split(".")):
            raise ConfigError(f"{PLUGINS_ENV}: {module[:200]!r} is not a Python module path (like mypackage.nets)")
        named.setdefault(module, PLUGINS_ENV)
    return list(named.items())


def load_plugins() -> dict[str, str]:
    """Import every plugin module not imported yet in this process.

    Returns:
        The modules imported so far in this process, each with where it was named.

    Raises:
        ConfigError: A plugin module cannot be imported or fails while registering; the
            message names the module, where it was named, and its error.
    """
    global _busy, _loaded_for
    wanted = os.environ.get(PLUGINS_ENV, "")
    if _busy or _loaded_for == wanted:
        return dict(_loaded)
    _busy = True
    try:
        _import_all()
    finally:
        _busy = False
    _loaded_for = wanted
    return dict(_loaded)


def _import_all() -> None:
    for module, source in plugin_modules():
        if module in _loaded:
            continue
        try:
            importlib.import_module(module)
        except Exception as err:  # a plugin's own failure is the user's to fix: one line, not a traceback
            raise ConfigError(f"plugin {module} (named in {source}) could not be loaded: "
                              f"{type(err).__name__}: {str(err)[:200]}") from err
        _loaded[module] = source
        log.debug("plugin %s loaded (named in %s)", module, source)
