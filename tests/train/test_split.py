"""The validation split: whole groups held out, both classes on both sides, no shared group."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from dfembed.core.errors import InputError
from dfembed.train.crops import Crop, list_crops
from dfembed.train.split import check_disjoint, split_by_group
from tests.support import shared_path
from tests.train.trees import crop_list


def test_split_of_the_dfdc_sample_never_shares_a_video(tmp_path: Path) -> None:
    crops = list_crops(shared_path("dfdc_sample", "crops")).crops
    # The sample has one real video; give its frames two pseudo-groups so a split is possible.
    regrouped = [Crop(c.path, c.label, c.group + ("-a" if c.path.stem[-6:-3] < "006" else "-b"))
                 if c.label == 0 else c for c in crops]
    for seed in range(5):
        train, val = split_by_group(regrouped, 0.3, seed)
        assert {c.group for c in train}.isdisjoint({c.group for c in val})
        assert {c.label for c in train} == {c.label for c in val} == {0, 1}
        assert len(train) + len(val) == len(crops)
    assert split_by_group(regrouped, 0.3, 1) == split_by_group(regrouped, 0.3, 1)


def test_split_is_skipped_with_a_warning_when_a_class_has_one_group(caplog: pytest.LogCaptureFixture) -> None:
    crops = list_crops(shared_path("dfdc_sample", "crops")).crops  # one real video
    with caplog.at_level(logging.WARNING, logger="dfembed"):
        train, val = split_by_group(crops, 0.2, 0)
    assert (len(train), len(val)) == (len(crops), 0)
    assert "training without validation" in caplog.text


def test_zero_fraction_means_no_validation() -> None:
    crops = crop_list({0: 4, 1: 4})
    assert split_by_group(crops, 0.0, 0) == (crops, [])


def test_shared_group_between_train_and_validation_is_an_error() -> None:
    train = [Crop(Path("a.png"), 0, "video1"), Crop(Path("b.png"), 1, "video2")]
    val = [Crop(Path("c.png"), 1, "video2")]
    with pytest.raises(InputError, match=r"share 1 group\(s\) \(e.g. video2\)"):
        check_disjoint(train, val)
