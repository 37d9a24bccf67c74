"""The registries users extend: registration order, replacement, a one-line error for an unknown name."""

from __future__ import annotations

import pytest

from dfembed.core.errors import ConfigError
from dfembed.core.registry import Registry


def test_entries_keep_their_order_a_later_one_replaces_and_a_miss_lists_the_known_names() -> None:
    table: Registry[int] = Registry("widget", "widgets")
    assert table.register("zeta", 1) == 1
    table.register("alpha", 2)
    table.register("zeta", 3)
    assert list(table.items()) == [("zeta", 3), ("alpha", 2)]
    assert table.lookup("alpha") == 2
    with pytest.raises(ConfigError, match=r"^unknown widget 'beta'; known widgets: alpha, zeta$"):
        table.lookup("beta")


def test_a_copy_is_a_registry_of_its_own() -> None:
    table: Registry[int] = Registry("widget", "widgets")
    table.register("a", 1)
    twin = table.copy()
    twin.register("b", 2)
    assert list(table) == ["a"] and list(twin) == ["a", "b"]
    with pytest.raises(ConfigError, match="unknown widget 'c'"):
        twin.lookup("c")


def test_the_built_in_registries_name_what_they_hold() -> None:
    from dfembed.faces.registry import detector_spec
    from dfembed.train.modalities import get_modality

    with pytest.raises(ConfigError, match=r"unknown face detector 'nope'; known detectors: blazeface, mtcnn"):
        detector_spec("nope")
    with pytest.raises(ConfigError, match=r"unknown training modality 'nope'; known modalities: audio, clip, face"):
        get_modality("nope")
