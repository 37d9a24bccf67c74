"""Bounded YAML: a document's aliases may not stand for more than a configuration ever holds."""

from __future__ import annotations

import time

import pytest
import yaml

from dfembed.core.yamlsafe import MAX_ALIASES, MAX_NODES, YamlLimitError, load_yaml


def laughs(levels: int, width: int) -> str:
    """``levels`` anchors, each a list of ``width`` aliases of the one before: ``width ** (levels - 1)`` strings."""
    lines = ['a0: &a0 "lol"']
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


def test_billion_laughs_is_refused_at_once() -> None:
    text = laughs(9, 9)  # 9 ** 8 = 43 million strings in under 500 bytes, with only 72 aliases
    assert len(text.encode()) < 500 and text.count("*") < MAX_ALIASES
    began = time.perf_counter()
    with pytest.raises(YamlLimitError, match=f"expand to more than {MAX_NODES} values"):
        load_yaml(text)
    assert time.perf_counter() - began < 1.0


def test_more_aliases_than_the_bound_are_refused() -> None:
    # a scalar repeated: the expanded size stays tiny, only the count of aliases is too many
    at_bound = "a: &x 1\nb: [" + ", ".join(["*x"] * MAX_ALIASES) + "]\n"
    assert load_yaml(at_bound) == {"a": 1, "b": [1] * MAX_ALIASES}
    with pytest.raises(YamlLimitError, match=f"more than {MAX_ALIASES} aliases \\(\\*x at line 2"):
        load_yaml(at_bound.replace("[", "[*x, "))


def test_a_value_that_contains_itself_is_refused() -> None:
    with pytest.raises(YamlLimitError, match=r"alias \*x at line 1 lies inside the value it names"):
        load_yaml("a: &x [1, *x]\n")


def test_ordinary_documents_read_as_pyyaml_reads_them() -> None:
    text = "base: &base {size: 380, margin: 0.3}\nother:\n  <<: *base\n  size: 224\nlist: [1, 2.5, on, null]\n"
    expected = {"base": {"size": 380, "margin": 0.3}, "other": {"size": 224, "margin": 0.3},
                "list": [1, 2.5, True, None]}
    assert load_yaml(text) == expected == yaml.safe_load(text)
    assert load_yaml("") is None
    assert load_yaml(laughs(3, 9)) == yaml.safe_load(laughs(3, 9))  # 1 + 9 + 81 values: well inside the bound


def test_a_limit_error_is_a_yaml_error_and_unsafe_tags_stay_refused() -> None:
    assert issubclass(YamlLimitError, yaml.YAMLError)
    with pytest.raises(yaml.YAMLError, match="could not determine a constructor"):
        load_yaml("!!python/object/apply:os.system ['true']")
