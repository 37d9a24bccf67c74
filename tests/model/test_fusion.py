"""Fusing face and audio scores, and fitting the audio weight: values derived by hand."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from dfembed.core.errors import ConfigError, InputError
from dfembed.model.fusion import fit_weight, fuse, fusion_path, log_loss, read_fusion


def test_rules() -> None:
    assert fuse(0.2, 0.6, "mean") == pytest.approx(0.4)
    assert fuse(0.2, 0.6, "max") == 0.6
    assert fuse(0.2, 0.6, "weighted", 0.25) == pytest.approx(0.25 * 0.6 + 0.75 * 0.2)  # 0.3
    assert fuse(None, 0.7, "max") == 0.7 and fuse(0.1, None, "weighted", 0.9) == 0.1 and fuse(None, None, "mean") is None
    with pytest.raises(ConfigError, match="unknown fusion 'min'"):
        fuse(0.1, 0.2, "min")
    with pytest.raises(ConfigError, match="needs an audio weight in \\[0, 1\\], got None"):
        fuse(0.1, 0.2, "weighted")


def test_log_loss_by_hand() -> None:
    assert log_loss([0.8, 0.4], [1, 0]) == pytest.approx(-(math.log(0.8) + math.log(0.6)) / 2)
    assert log_loss([1.0], [0]) == pytest.approx(-math.log(1e-15), rel=1e-4)  # clipped, finite


def test_weight_fits() -> None:
    # the audio is right and the faces say 0.5 everywhere: the loss falls with the audio weight, w = 1
    assert fit_weight([0.5, 0.5], [0.9, 0.1], [1, 0]) == 1.0
    # both videos fuse to p = 0.2 + 0.6 w, one fake, one real: -(log p + log(1 - p)) / 2 is least at p = 0.5, w = 0.5
    assert fit_weight([0.2, 0.2], [0.8, 0.8], [1, 0]) == 0.5
    # faces and audio equal: every weight gives the same loss; the tie goes to 0.5
    assert fit_weight([0.7, 0.3], [0.7, 0.3], [1, 0]) == 0.5
    # the faces are right, the audio wrong: w = 0
    assert fit_weight([0.9, 0.1], [0.2, 0.8], [1, 0]) == 0.0
    with pytest.raises(InputError, match="both real and fake"):
        fit_weight([0.9, 0.8], [0.2, 0.8], [1, 1])
    with pytest.raises(InputError, match="do not match"):
        fit_weight([0.9], [0.2, 0.8], [1, 0])


def test_the_weight_file(tmp_path: Path) -> None:
    assert fusion_path(tmp_path / "audio.h5") == tmp_path / "audio.fusion.json"
    path = tmp_path / "a.fusion.json"
    with pytest.raises(InputError, match="does not exist: train the audio model with --fuse-face-model"):
        read_fusion(path)
    for content, fragment in [("{", "cannot be read"), ('{"format": "other", "weight": 0.5}', "not a dfembed fusion"),
                              ('{"format": "dfembed-fusion", "weight": 1.5}', "must be a number in \\[0, 1\\]"),
                              ('{"format": "dfembed-fusion", "weight": true}', "must be a number"), ("[1]", "not a dfembed")]:
        path.write_text(content)
        with pytest.raises(InputError, match=fragment):
            read_fusion(path)
    path.write_text(json.dumps({"format": "dfembed-fusion", "weight": 0.25}))
    assert read_fusion(path)["weight"] == 0.25
