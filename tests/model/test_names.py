"""The shared names: one backbone normaliser for users, config files, bundles and model layers."""

from __future__ import annotations

import pytest

from dfembed.core.errors import ConfigError
from dfembed.model.backbones import list_backbones
from dfembed.model.names import backbone_key


@pytest.mark.parametrize("name", ["b4", "B4", " efficientnetb4", "EfficientNetB4"])
def test_backbone_key_normalises_spellings(name: str) -> None:
    assert backbone_key(name) == "b4"


def test_unknown_backbone_lists_the_choices() -> None:
    with pytest.raises(ConfigError, match="'b9'.*b0, b1"):
        backbone_key("b9")
    # the built-in ones, then the plugin the test session loads (tests/tiny_backbone.py)
    assert list_backbones() == ("b0", "b1", "b2", "b3", "b4", "b5", "b6", "b7", "lite0", "lite1", "lite2", "tiny")
