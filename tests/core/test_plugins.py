"""Plugins: DFEMBED_PLUGINS and the dfembed.plugins entry points register a user's entries in any process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from dfembed.core import plugins
from dfembed.core.errors import ConfigError
from tests.support import REPO

PLUGIN = '''
from dfembed.model.backbones import BackboneSpec, register_backbone
from dfembed.faces.registry import DETECTORS, detector_spec
register_backbone(BackboneSpec(name="{name}", family="Mine", builder="tests.tiny_backbone:build_tiny",
                               layer_name="{name}_layer"))
DETECTORS.register("{name}_faces", detector_spec("mtcnn"))
'''


@pytest.fixture
def fresh(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A folder on sys.path for plugin modules, and this process's plugin state as if nothing was loaded."""
    monkeypatch.setattr(plugins, "_loaded", {})
    monkeypatch.setattr(plugins, "_loaded_for", None)
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def _write_plugin(folder: Path, module: str, name: str) -> None:
    (folder / f"{module}.py").write_text(PLUGIN.format(name=name))


def test_a_module_named_in_the_environment_registers_before_the_first_lookup(
    fresh: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dfembed.faces.registry import DETECTORS, detector_spec
    from dfembed.model.backbones import backbone_spec, list_backbones, unregister_backbone

    _write_plugin(fresh, "my_plugin_env", "envnet")
    monkeypatch.setenv("DFEMBED_PLUGINS", " my_plugin_env , ")
    try:
        assert "envnet_faces" in DETECTORS  # reading a registry loads the plugins: no lookup came first
        assert "envnet" in list_backbones()
        assert backbone_spec("ENVNET").layer_name == "envnet_layer"
        assert detector_spec("envnet_faces").name == "mtcnn"
        assert plugins.load_plugins() == {"my_plugin_env": "DFEMBED_PLUGINS"}
    finally:
        unregister_backbone("envnet")
        DETECTORS.pop("envnet_faces")
        sys.modules.pop("my_plugin_env", None)


def test_an_installed_packages_entry_point_is_loaded(fresh: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dfembed.faces.registry import DETECTORS
    from dfembed.model.backbones import backbone_spec, unregister_backbone

    _write_plugin(fresh, "my_plugin_ep", "epnet")
    info = fresh / "mynets-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: mynets\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[dfembed.plugins]\nepnet = my_plugin_ep\n")
    monkeypatch.delenv("DFEMBED_PLUGINS", raising=False)
    try:
        assert backbone_spec("epnet").family == "Mine"
        assert "entry point 'epnet'" in plugins.load_plugins()["my_plugin_ep"]
    finally:
        unregister_backbone("epnet")
        DETECTORS.pop("epnet_faces")
        sys.modules.pop("my_plugin_ep", None)


@pytest.mark.parametrize(("value", "message"), [
    ("no_such_plugin_module", r"^plugin no_such_plugin_module \(named in DFEMBED_PLUGINS\) could not be loaded: "
                              r"ModuleNotFoundError"),
    ("my-plugin", r"^DFEMBED_PLUGINS: 'my-plugin' is not a Python module path"),
    ("broken_plugin", r"^plugin broken_plugin .* ZeroDivisionError: division by zero$"),
])
def test_a_plugin_that_cannot_load_is_one_line_naming_it(
    fresh: Path, monkeypatch: pytest.MonkeyPatch, value: str, message: str
) -> None:
    from dfembed.model.backbones import backbone_spec

    (fresh / "broken_plugin.py").write_text("1 / 0\n")
    monkeypatch.setenv("DFEMBED_PLUGINS", value)
    with pytest.raises(ConfigError, match=message):
        backbone_spec("b0")
    monkeypatch.delenv("DFEMBED_PLUGINS")
    assert backbone_spec("b0").name == "b0"  # without it, lookups work again


def test_the_command_line_reports_a_broken_plugin_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "broken_plugin.py").write_text("raise RuntimeError('no licence file')\n")
    done = subprocess.run([sys.executable, "-m", "dfembed", "detectors", "list"], cwd=REPO, capture_output=True,
                          text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": f"{tmp_path}:{REPO}",
                               "DFEMBED_PLUGINS": "broken_plugin", "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert done.returncode == 1
    assert done.stderr.strip() == ("Error: plugin broken_plugin (named in DFEMBED_PLUGINS) could not be loaded: "
                                   "RuntimeError: no licence file")
