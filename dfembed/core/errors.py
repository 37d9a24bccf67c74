"""Exceptions that the command-line tools turn into clear messages."""


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
