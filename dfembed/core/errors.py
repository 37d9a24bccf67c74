"""Exceptions that the command-line tools turn into clear messages, and how a message shows a user's value."""

import reprlib


class DfembedError(Exception):
    """Base class of every error that dfembed reports to a user without a traceback."""


class ConfigError(DfembedError):
    """A configuration file or option is invalid (unknown key, wrong type, bad value)."""


class InputError(DfembedError):
    """An input path, file or data set is missing, unreadable or unusable."""


class OutputExistsError(DfembedError):
    """An output exists already and ``--force`` was not given."""


class OutputError(DfembedError):
    """An output cannot be written: a folder that cannot be created, is not writable, or a full disk."""


class LockedError(DfembedError):
    """An output is in use by another dfembed job (its lock is held)."""


#: At most this many characters of a user's value appear in a message.
SHOWN_CHARS = 200


def shown(value: object, limit: int = SHOWN_CHARS) -> str:
    """A user's value as an error message shows it: its ``repr``, at most ``limit`` characters.

    The value is rendered with :mod:`reprlib`, which visits a bounded part of nested lists and
    mappings, so a value that shares its parts many times over (a YAML "billion laughs")
    costs no more to show than a small one; the text is then cut to ``limit`` characters.

    Args:
        value: Any value taken from a user's file or option.
        limit: The most characters shown (an ellipsis marks a cut).

    Returns:
        The bounded ``repr``.
    """
    try:
        text = _SHORT_REPR.repr(value)
    except ValueError:  # an integer beyond Python's limit of digits for int → str (4300)
        text = f"<{type(value).__name__} too large to show>"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _short_repr() -> reprlib.Repr:
    short = reprlib.Repr()
    short.maxlevel = 3
    short.maxlist = short.maxtuple = short.maxdict = short.maxset = short.maxfrozenset = short.maxdeque = 12
    short.maxstring = short.maxlong = short.maxother = SHOWN_CHARS
    return short


_SHORT_REPR = _short_repr()
