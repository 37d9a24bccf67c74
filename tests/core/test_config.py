"""Layered configuration: defaults < file < flags, unknown keys and bad types rejected."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Literal

import pytest

from dfembed.core.atomic import atomic_path, atomic_write_text, remove_stale_temps
from dfembed.core.config import check, config_to_yaml, resolve_config, resolve_configs
from dfembed.core.errors import ConfigError
from dfembed.core.provenance import write_provenance


@dataclasses.dataclass(frozen=True)
class _Stage:
    size: int = 380
    margin: float = 0.3
    faces: Literal["largest", "all"] = "largest"
    clip: tuple[float, float] | None = None
    name: str = "x"


def test_defaults_file_and_flags_layer(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("size: 224\nmargin: 1\nfaces: all\n")
    out = resolve_config(_Stage, cfg, {"size": 128, "margin": None})
    assert out == _Stage(size=128, margin=1.0, faces="all")
    assert isinstance(out.margin, float)


def test_toml_and_dash_keys(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('clip = [0.01, 0.99]\nname = "y"\n')
    assert resolve_config(_Stage, cfg).clip == (0.01, 0.99)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("sise: 3\n", "unknown option 'sise'"),
        ("size: big\n", "option 'size': expected int"),
        ("faces: some\n", "not one of"),
        ("clip: [1, 2, 3]\n", "expected 2 values"),
        ("- a\n- b\n", "expected a mapping"),
    ],
)
def test_bad_config_named(tmp_path: Path, text: str, fragment: str) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(text)
    with pytest.raises(ConfigError, match=fragment):
        resolve_config(_Stage, cfg)


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        resolve_config(_Stage, tmp_path / "none.yaml")


def test_yaml_round_trip(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(config_to_yaml(_Stage(clip=(0.1, 0.9))))
    assert resolve_config(_Stage, cfg) == _Stage(clip=(0.1, 0.9))


def test_provenance_has_config_and_versions(tmp_path: Path) -> None:
    path = write_provenance(tmp_path / "p.json", _Stage(), images=3)
    record = json.loads(path.read_text())
    assert record["config"]["size"] == 380
    assert record["images"] == 3
    assert {"python", "numpy"} <= set(record["versions"])


def test_atomic_write_leaves_old_file_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    atomic_write_text(target, "old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert target.read_text() == "old"
    assert list(tmp_path.iterdir()) == [target]


def test_remove_stale_temps(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / ".x.abc.dfembed-tmp.jpg").write_bytes(b"1")
    (tmp_path / "a" / "keep.jpg").write_bytes(b"1")
    assert remove_stale_temps(tmp_path) == 1
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["keep.jpg"]


def test_atomic_write_has_ordinary_permissions(tmp_path: Path) -> None:
    import os

    mask = os.umask(0o022)
    os.umask(mask)
    path = atomic_write_text(tmp_path / "p.txt", "x")
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask


def test_atomic_path_keeps_a_multi_part_suffix(tmp_path: Path) -> None:
    target = tmp_path / "best.weights.h5"
    with atomic_path(target, suffix=".weights.h5") as tmp:
        assert tmp.name.endswith(".weights.h5") and tmp != target
        tmp.write_bytes(b"w")
    assert target.read_bytes() == b"w"
    with pytest.raises(ValueError, match="does not end with"):
        with atomic_path(target, suffix=".keras"):
            pass


@dataclasses.dataclass(frozen=True)
class _Checked:
    size: int = 380

    def __post_init__(self) -> None:
        from dfembed.core.config import check

        check(self.size >= 8, "size", self.size, "at least 8")


def test_errors_from_a_config_file_name_the_file(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("size: big\n")
    with pytest.raises(ConfigError, match=rf"config file {cfg}: option 'size': expected int, got 'big'"):
        resolve_config(_Stage, cfg)
    cfg.write_text("size: 2\n")
    with pytest.raises(ConfigError, match=rf"size must be at least 8, got 2 \(set in config file {cfg}\)"):
        resolve_config(_Checked, cfg)
    with pytest.raises(ConfigError, match=r"size must be at least 8, got 3$"):  # a flag: no file to name
        resolve_config(_Checked, cfg, {"size": 3})


@pytest.mark.parametrize(("name", "content", "fragment"), [
    ("latin1.yaml", "name: caf\xe9\n".encode("latin-1"), r"is not UTF-8 text \(byte 0xe9"),
    ("deep.yaml", b"size: " + b"[" * 1100 + b"]" * 1100 + b"\n", "nested too deeply"),
    ("deep.toml", b"size = " + b"[" * 20000 + b"]" * 20000 + b"\n", "nested too deeply|is not valid"),
])
def test_unreadable_config_files_are_config_errors(tmp_path: Path, name: str, content: bytes, fragment: str) -> None:
    cfg = tmp_path / name
    cfg.write_bytes(content)
    with pytest.raises(ConfigError, match=fragment):
        resolve_config(_Stage, cfg)


@dataclasses.dataclass(frozen=True)
class _Other:
    rate: int = 16000
    window: float = 2.0


def test_a_base_layer_sits_between_the_defaults_and_the_file(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("margin: 0.5\n")
    out = resolve_config(_Stage, cfg, {"faces": "all"}, base={"size": 128, "margin": 0.1, "faces": "largest"})
    assert out == _Stage(size=128, margin=0.5, faces="all")
    with pytest.raises(ConfigError, match="audio defaults: unknown option 'colour'"):
        resolve_config(_Stage, None, None, base={"colour": 1}, base_name="audio defaults")


def test_one_file_and_one_set_of_flags_for_two_configurations(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("size: 64\nwindow: 1.5\n")
    stage, other = resolve_configs((_Stage, _Other), cfg, {"rate": 8000, "name": "z", "margin": None})
    assert stage == _Stage(size=64, name="z") and other == _Other(rate=8000, window=1.5)
    cfg.write_text("size: 64\nwindoe: 1.5\n")
    with pytest.raises(ConfigError, match=r"c.yaml: unknown option 'windoe'; known options: clip, .*window"):
        resolve_configs((_Stage, _Other), cfg)
    cfg.write_text("rate: fast\n")
    with pytest.raises(ConfigError, match="option 'rate': expected int"):
        resolve_configs((_Stage, _Other), cfg)


def test_a_billion_laughs_config_file_is_refused_at_once_naming_the_file(tmp_path: Path) -> None:
    # 9 levels of 9 aliases: under 500 bytes that stand for 9 ** 8 values
    lines = ['a0: &a0 "lol"'] + [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 9)]
    cfg = tmp_path / "laughs.yaml"
    cfg.write_text("\n".join(lines) + "\nname: *a8\n")
    began = time.perf_counter()
    with pytest.raises(ConfigError, match=rf"config file {cfg} is not valid: its aliases expand to more than") as info:
        resolve_config(_Stage, cfg)
    assert time.perf_counter() - began < 1.0 and "\n" not in str(info.value)


def test_a_value_of_the_wrong_type_is_shown_in_at_most_200_characters(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("size: [" + ", ".join(["1"] * 5000) + "]\nname: " + "y" * 5000 + "\n")
    with pytest.raises(ConfigError, match=r"option 'size': expected int, got \[1, 1") as info:
        resolve_config(_Stage, cfg)
    assert len(str(info.value)) < len(f"config file {cfg}: option 'size': expected int, got ") + 201
    with pytest.raises(ValueError, match=r"^name must be short, got 'yyy") as checked:
        check(False, "name", "y" * 5000, "short")
    assert len(str(checked.value)) == len("name must be short, got ") + 200


@pytest.mark.parametrize(("text", "fragment"), [
    ("name: 2001-13-45\n", "month must be in 1..12"),
    ("size: " + "7" * 5000 + "\n", "Exceeds the limit (4300 digits)"),
])
def test_values_yaml_cannot_construct_are_config_errors(tmp_path: Path, text: str, fragment: str) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(text)
    with pytest.raises(ConfigError, match=rf"config file {cfg} has a value that cannot be read: ") as info:
        resolve_config(_Stage, cfg)
    assert fragment in str(info.value)
