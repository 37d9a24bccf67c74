"""Reading a user's YAML so that a few bytes cannot stand for gigabytes.

YAML's anchors and aliases let a document name a value once and repeat it: nine levels of
nine aliases each ("billion laughs") are a few hundred bytes that stand for 9⁹ values.
PyYAML's safe loader shares the repeated parts, so reading such a file is quick, but
anything that walks the value afterwards — a message that shows it, a copy, a JSON dump —
expands it and runs out of memory. :class:`BoundedLoader` refuses such a document while it
is composed, before any value is built:

* more than :data:`MAX_ALIASES` aliases;
* more than :data:`MAX_NODES` values once every alias is expanded;
* an alias inside the value it names (a structure that contains itself).

Configuration files and ``KEY=VALUE`` options need none of these: real ones hold a few
dozen values and rarely an alias.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.events import AliasEvent
from yaml.nodes import MappingNode, Node, SequenceNode

#: Aliases (``*name``) one document may hold.
MAX_ALIASES = 100
#: Values (scalars, lists and mappings) one document may stand for with its aliases expanded.
MAX_NODES = 100_000


class YamlLimitError(yaml.YAMLError):
    """A YAML document beyond :data:`MAX_ALIASES` or :data:`MAX_NODES`, or one that contains itself."""


class BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader that counts aliases and the values they stand for while composing.

    Args:
        stream: The YAML text (or a file object), as for :class:`yaml.SafeLoader`.
    """

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self._aliases = 0
        self._expanded = 0
        self._sizes: dict[int, int] = {}  # id of a finished node → values it stands for, expanded
        self._finished: set[int] = set()

    def compose_node(self, parent: Node | None, index: Any) -> Node:
        """Compose one node, counting it (and, for an alias, everything it repeats) against the bounds."""
        if self.check_event(AliasEvent):
            event = self.peek_event()
            node = super().compose_node(parent, index)  # an undefined alias raises PyYAML's own error
            self._count_alias(node, event)
            return node
        node = super().compose_node(parent, index)
        self._finished.add(id(node))
        self._grow(1, node)
        return node

    def _count_alias(self, target: Node, event: AliasEvent) -> None:
        line = event.start_mark.line + 1
        self._aliases += 1
        if self._aliases > MAX_ALIASES:
            raise YamlLimitError(f"more than {MAX_ALIASES} aliases (*{event.anchor} at line {line} is one too many); "
                                 f"dfembed reads YAML with at most {MAX_ALIASES}")
        if id(target) not in self._finished:
            raise YamlLimitError(f"alias *{event.anchor} at line {line} lies inside the value it names (a value "
                                 "that contains itself)")
        self._grow(self._size(target), target, f"*{event.anchor} at line {line}")

    def _grow(self, count: int, node: Node, where: str | None = None) -> None:
        self._expanded += count
        if self._expanded > MAX_NODES:
            at = where or f"line {node.start_mark.line + 1}"
            raise YamlLimitError(f"its aliases expand to more than {MAX_NODES} values (reached at {at}); dfembed "
                                 f"reads YAML that stands for at most {MAX_NODES}")

    def _size(self, node: Node) -> int:
        """How many values ``node`` stands for with its aliases expanded (memoised: each node is visited once)."""
        known = self._sizes.get(id(node))
        if known is None:
            if isinstance(node, SequenceNode):
                children = list(node.value)
            elif isinstance(node, MappingNode):
                children = [part for pair in node.value for part in pair]
            else:
                children = []
            known = 1 + sum(self._size(child) for child in children)
            self._sizes[id(node)] = known
        return known


def load_yaml(text: str) -> Any:
    """Read one YAML document with :class:`BoundedLoader`.

    Args:
        text: The document.

    Returns:
        Its value, as :func:`yaml.safe_load` gives it (``None`` for an empty document).

    Raises:
        YamlLimitError: The document is beyond a bound (a :class:`yaml.YAMLError`).
        yaml.YAMLError: It is not valid YAML.
    """
    return yaml.load(text, Loader=BoundedLoader)  # noqa: S506 - BoundedLoader is a SafeLoader
