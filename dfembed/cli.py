"""The ``dfembed`` command: one sub-command per stage, shared option handling.

The top-level scripts ``crop_face.py``, ``train.py`` and ``inference.py`` call the
same click commands that ``dfembed crop``, ``dfembed train`` and ``dfembed infer``
expose, so both spellings behave identically.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from dfembed.core.errors import DfembedError
from dfembed.core.logs import setup_logging

log = logging.getLogger(__name__)


def stage_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Add ``--config``, ``--verbose`` and ``--quiet`` and turn dfembed errors into messages.

    The wrapped function receives ``config_file`` (a :class:`~pathlib.Path` or ``None``)
    and its own options; logging is configured before it runs. A
    :class:`~dfembed.core.errors.DfembedError` becomes a one-line ``Error: ...`` and exit
    status 1 instead of a traceback.
    """

    @click.option(
        "--config",
        "config_file",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="YAML or TOML file of options (defaults < this file < flags).",
    )
    @click.option("-v", "--verbose", count=True, help="More log output (-v: debug).")
    @click.option("-q", "--quiet", is_flag=True, help="Only warnings and errors.")
    @functools.wraps(func)
    def wrapper(*args: Any, verbose: int, quiet: bool, **kwargs: Any) -> Any:
        setup_logging(verbose, quiet)
        try:
            return func(*args, **kwargs)
        except DfembedError as err:
            raise click.ClickException(str(err)) from err

    return wrapper


class _LazyGroup(click.Group):
    """A group whose sub-commands are imported only when used (keeps ``--help`` fast)."""

    _commands = {
        "crop": ("dfembed.commands.crop", "crop_command"),
        "train": ("dfembed.commands.train", "train_command"),
        "infer": ("dfembed.commands.infer", "infer_command"),
        "evaluate": ("dfembed.commands.evaluate", "evaluate_command"),
        "gallery": ("dfembed.commands.gallery", "gallery_command"),
        "demo": ("dfembed.commands.demo", "demo_command"),
    }

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(self._commands)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self._commands:
            return None
        module_name, attr = self._commands[cmd_name]
        module = __import__(module_name, fromlist=[attr])
        return getattr(module, attr)


@click.group(cls=_LazyGroup)
@click.version_option(package_name="dfembed")
def main() -> None:
    """dfembed: deepfake face detection by metric learning.

    crop → train → infer → evaluate (``demo`` runs all four on a sample). Run ``dfembed COMMAND --help`` for each stage.
    """
