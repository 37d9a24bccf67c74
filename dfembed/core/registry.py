"""What users extend by name: face detectors, training modalities, inference extensions.

A :class:`Registry` is a dict of named entries in registration order, with the two things
every such table needs: :meth:`Registry.register` (a later entry of the same name replaces the
earlier) and :meth:`Registry.lookup`, whose miss is one line that lists the known names. Reading a
registry (a lookup, a listing, ``in``) loads the user's plugins first (:mod:`dfembed.core.plugins`), so
their entries are there for the command line, library code and worker processes alike.
"""

from __future__ import annotations

from collections.abc import ItemsView, Iterator, ValuesView
from typing import Generic, TypeVar

from dfembed.core.errors import ConfigError
from dfembed.core.plugins import load_plugins

T = TypeVar("T")


class Registry(dict[str, T], Generic[T]):
    """Named entries of one kind.

    Args:
        kind: What an entry is, as an unknown name's message says it (``"face detector"``).
        plural: The known ones, in that message (``"detectors"``).
    """

    def __init__(self, kind: str, plural: str) -> None:
        super().__init__()
        self.kind = kind
        self.plural = plural

    def register(self, name: str, entry: T) -> T:
        """Add ``entry`` as ``name`` (replacing an earlier one of that name); returns ``entry``."""
        self[name] = entry
        return entry

    def __iter__(self) -> Iterator[str]:
        load_plugins()
        return super().__iter__()

    def __contains__(self, name: object) -> bool:
        load_plugins()
        return super().__contains__(name)

    def values(self) -> ValuesView[T]:  # type: ignore[override]
        load_plugins()
        return super().values()

    def items(self) -> ItemsView[str, T]:  # type: ignore[override]
        load_plugins()
        return super().items()

    def lookup(self, name: str) -> T:
        """The entry called ``name``.

        Raises:
            ConfigError: No entry has that name; the message lists the known ones, sorted.
        """
        load_plugins()
        try:
            return self[name]
        except KeyError:
            raise ConfigError(f"unknown {self.kind} {name!r}; known {self.plural}: {', '.join(sorted(self))}") from None

    def copy(self) -> Registry[T]:
        """A registry of the same kind holding the same entries (a test's scratch copy)."""
        twin: Registry[T] = Registry(self.kind, self.plural)
        twin.update(self)
        return twin
