"""The ``dfembed`` command: one sub-command per stage, shared option handling.

The top-level scripts ``crop_face.py``, ``train.py`` and ``inference.py`` call the
same click commands that ``dfembed crop``, ``dfembed train`` and ``dfembed infer``
expose, so both spellings behave identically.
"""

from __future__ import annotations

import dataclasses
import errno
import functools
import logging
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import click

from dfembed.core.errors import DfembedError
from dfembed.core.logs import setup_logging
from dfembed.core.plugins import load_plugins

log = logging.getLogger(__name__)


#: What a user's input or environment raises, besides dfembed's own errors: a file system
#: error (read-only folder, full disk, a folder that cannot be created), a name or file
#: that is not valid UTF-8, input nested beyond Python's recursion limit, memory running out.
USER_FACING_ERRORS: tuple[type[BaseException], ...] = (DfembedError, OSError, UnicodeError, RecursionError,
                                                       MemoryError)

#: Exit status after Ctrl-C, as a shell reports a process ended by SIGINT (128 + 2).
INTERRUPTED_STATUS = 130

_ERRNO_HINTS = {
    errno.ENOSPC: "free some space and run the same command again: finished work is kept",
    errno.EDQUOT: "free some space and run the same command again: finished work is kept",
    errno.EACCES: "choose a folder you may write to, or change its permissions",
    errno.EPERM: "choose a folder you may write to, or change its permissions",
    errno.EROFS: "the file system is read-only: choose another folder",
}


def error_message(err: BaseException) -> str:
    """The one-line message of an error that a user's input or environment caused.

    Args:
        err: One of :data:`USER_FACING_ERRORS`.

    Returns:
        The message, on one line, naming the path where the error has one.
    """
    if isinstance(err, DfembedError):
        text = str(err)
    elif isinstance(err, OSError):
        text = _os_error_message(err)
    elif isinstance(err, UnicodeDecodeError):
        text = (f"a file is not valid UTF-8 text (byte 0x{err.object[err.start]:02x} at position {err.start}); "
                "run with -v to see which")
    elif isinstance(err, UnicodeError):
        text = f"a name or text cannot be handled as UTF-8 ({err}); run with -v to see where"
    elif isinstance(err, RecursionError):
        text = "an input file is nested too deeply to be read (it exceeds Python's recursion limit); run with -v"
    else:
        text = ("out of memory; use fewer --jobs or a smaller --batch-size, or a machine with more memory; "
                "finished work is kept")
    return " ".join(text.split())


def _os_error_message(err: OSError) -> str:
    names = [str(name) for name in (err.filename, err.filename2) if name is not None]
    reason = err.strerror or str(err)
    code = errno.errorcode.get(err.errno, "") if err.errno is not None else ""
    text = f"{' -> '.join(names)}: {reason}" if names else reason
    text += f" ({code})" if code else ""
    hint = _ERRNO_HINTS.get(err.errno)
    return f"{text}; {hint}" if hint else text


def stage_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Add ``--config``, ``--verbose`` and ``--quiet``, and turn user-facing errors into messages.

    The wrapped function receives ``config_file`` (a :class:`~pathlib.Path` or ``None``)
    and its own options; logging is configured before it runs. This is the one boundary
    between a command and its user: a :class:`~dfembed.core.errors.DfembedError` and the
    other :data:`USER_FACING_ERRORS` (an ``OSError`` with its path, a ``UnicodeError``, a
    ``RecursionError``, a ``MemoryError``) become a one-line ``Error: ...`` and exit status
    1; their traceback is logged only with ``-v``. Ctrl-C ends the command with one line and
    status 130 (stages write their outputs atomically and resume on the next run). Any other
    exception is a bug in dfembed and keeps its traceback.
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
            load_plugins()
            return func(*args, **kwargs)
        except USER_FACING_ERRORS as err:
            log.debug("the error's traceback (shown with -v):", exc_info=True)
            raise click.ClickException(error_message(err)) from err
        except KeyboardInterrupt:
            log.debug("where it was interrupted (shown with -v):", exc_info=True)
            click.echo("Interrupted: finished work is kept; run the same command again to go on from there",
                       err=True)
            raise SystemExit(INTERRUPTED_STATUS) from None

    return wrapper


class ConfigOption(click.Option):
    """A click option standing for one field of a stage's configuration dataclass.

    Its type, choices and the ``[default]`` at the end of its help come from the field
    (see :func:`config_option`); ``config_class`` and ``config_field`` say which one.
    """

    def __init__(self, *args: Any, config_class: type, config_field: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.config_class = config_class
        self.config_field = config_field


def config_option(
    config_class: type, field: str, *decls: str, help: str, none_text: str = "none", **overrides: Any
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A ``click.option`` for a configuration field, typed and documented from the dataclass.

    The flag defaults to ``--field-name`` (``--name/--no-name`` for a bool); the click
    type follows the field's hint (``Literal`` → choices, ``tuple[float, float]`` → two
    values, ``X | None`` → ``X``); the help ends with the field's default in brackets
    (``none_text`` for ``None``). The click default is ``None`` — "not given" — so the
    layered configuration (defaults < file < flags) decides.

    Args:
        config_class: The stage's frozen dataclass.
        field: The field's name.
        *decls: Flag spellings, when not ``--field-name``.
        help: What the option does (without its default).
        none_text: How a ``None`` default reads (``"as in training"``).
        **overrides: Further ``click.option`` arguments (``metavar``, ``multiple``…).

    Returns:
        The decorator.
    """
    hint = typing.get_type_hints(config_class)[field]
    kwargs: dict[str, Any] = {**_click_type(hint), "default": None}
    flag = f"--{field.replace('_', '-')}"
    if _strip_none(hint) is bool and not decls:
        decls = (f"{flag}/--no-{field.replace('_', '-')}",)
    kwargs["help"] = f"{help} [{default_text(_field_default(config_class, field), none_text)}]"
    kwargs.update(overrides)
    return click.option(*(decls or (flag,)), field, cls=ConfigOption, config_class=config_class,
                        config_field=field, **kwargs)


def split_names(values: tuple[str, ...] | None) -> tuple[str, ...] | None:
    """A repeatable option's values with commas split (``--methods a,b --methods c``); ``None`` when not given."""
    names = tuple(name.strip() for value in values or () for name in value.split(",") if name.strip())
    return names or None


def default_text(value: Any, none_text: str = "none") -> str:
    """How a default reads in a help text: ``0.6 0.7 0.8`` for a tuple, ``on``/``off`` for a bool."""
    if value is None:
        return none_text
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, (tuple, list)):
        return " ".join(default_text(v) for v in value) or "none"
    return str(value)


def _field_default(config_class: type, name: str) -> Any:
    field = next(f for f in dataclasses.fields(config_class) if f.name == name)
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return field.default


def _strip_none(hint: Any) -> Any:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        rest = [a for a in typing.get_args(hint) if a is not type(None)]
        return rest[0] if len(rest) == 1 else hint
    return hint


def _click_type(hint: Any) -> dict[str, Any]:
    """click's ``type`` (and ``is_flag``) for a field's type hint."""
    hint = _strip_none(hint)
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Literal:
        return {"type": click.Choice([str(a) for a in args])}
    if hint is bool:
        return {}
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return {"type": args[0], "multiple": True}
        return {"type": tuple(args)}
    return {"type": hint}


#: The options every stage command has (from :func:`stage_options`), shown last with ``--help``.
GENERAL_OPTIONS = ("config_file", "verbose", "quiet")


class StageCommand(click.Command):
    """A command whose ``--help`` shows its options in titled sections (Input, Model, Output …).

    ``sections`` maps a title to the names of its options (the Python names: ``out_dir``,
    ``batch_size``); the :data:`GENERAL_OPTIONS` close the list under "General". Every
    option must be in exactly one section: a command that leaves one out, names one twice
    or names an option it does not have fails when it is defined.
    """

    def __init__(self, *args: Any, sections: Mapping[str, Sequence[str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sections = {title: tuple(names) for title, names in sections.items()}
        check_sections(self)

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """Write each section of options, in the order given, then the general options."""
        records = {param.name: param.get_help_record(ctx) for param in self.get_params(ctx)}
        help_option = self.get_help_option(ctx)
        general = (*GENERAL_OPTIONS, help_option.name) if help_option is not None else GENERAL_OPTIONS
        for title, names in (*self.sections.items(), ("General", general)):
            rows = [records[name] for name in names if records.get(name)]
            if rows:
                with formatter.section(f"{title} options"):
                    formatter.write_dl(rows)


def check_sections(command: StageCommand) -> None:
    """Check that every option of ``command`` is in exactly one of its sections.

    Raises:
        TypeError: An option in no section or in two, or a section naming no option of the command.
    """
    named = [name for names in command.sections.values() for name in names]
    options = {p.name for p in command.params if isinstance(p, click.Option)} - set(GENERAL_OPTIONS)
    problems = [f"{name} in no section" for name in sorted(options - set(named))]
    problems += [f"{name} is no option" for name in sorted(set(named) - options)]
    problems += [f"{name} in two sections" for name in sorted({n for n in named if named.count(n) > 1})]
    if problems:
        raise TypeError(f"command {command.name}: {'; '.join(problems)}")


def stage_command(name: str, **sections: Sequence[str]) -> Callable[[Callable[..., Any]], StageCommand]:
    """``click.command`` for a stage: a :class:`StageCommand` named ``name`` with option sections.

    Args:
        name: The command's name.
        **sections: Section title (``Input``; ``_`` reads as a space) → option names, in help order.

    Returns:
        The decorator.
    """
    titles = {title.replace("_", " "): names for title, names in sections.items()}
    return click.command(name=name, cls=StageCommand, sections=titles)


class DefaultGroup(click.Group):
    """A group that runs its default sub-command when the first argument names no other one.

    ``dfembed evaluate PRED LABELS`` is ``dfembed evaluate score PRED LABELS``; ``dfembed
    evaluate --help`` shows the group's help with its sub-commands.
    """

    def __init__(self, *args: Any, default_command: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.default_command = default_command

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """Put the default sub-command's name in front of arguments that start with none."""
        first = args[0] if args else None
        if first is not None and first not in self.commands and first not in ctx.help_option_names:
            args = [self.default_command, *args]
        return super().parse_args(ctx, args)


class RenamedCommand(click.Command):
    """An old command name, hidden from the help, that warns and runs the command it became."""

    def __init__(self, old: str, new: str, target: click.Command) -> None:
        super().__init__(old, params=target.params, callback=target.callback, hidden=True,
                         help=f"Renamed: use dfembed {new}.", context_settings=target.context_settings)
        self.new = new

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """Warn about the new name (before any error of the arguments), then read them."""
        click.echo(f"Warning: dfembed {self.name} is now dfembed {self.new}; the old name will go away", err=True)
        return super().parse_args(ctx, args)


class _LazyGroup(click.Group):
    """A group whose sub-commands are imported only when used (keeps ``--help`` fast).

    Top-level commands are the stages, each named by its verb (``crop``, ``train``,
    ``infer``, ``evaluate``, ``export``, ``demo``); a family of steps around one stage is
    a noun group whose sub-commands are verbs (``temporal embed|train``, ``detectors
    list|compare``, ``evaluate score|report|gallery``).
    """

    _commands = {
        "crop": ("dfembed.commands.crop", "crop_command"),
        "train": ("dfembed.commands.train", "train_command"),
        "infer": ("dfembed.commands.infer", "infer_command"),
        "evaluate": ("dfembed.commands.evaluate", "evaluate_group"),
        "export": ("dfembed.commands.export", "export_command"),
        "temporal": ("dfembed.commands.temporal", "temporal_group"),
        "detectors": ("dfembed.commands.detectors", "detectors_group"),
        "demo": ("dfembed.commands.demo", "demo_command"),
        "serve": ("dfembed.commands.serve", "serve_command"),
        "explain": ("dfembed.commands.explain", "explain_command"),
    }
    #: Old name → (new name, module, command), kept hidden so that existing scripts still run.
    _renamed = {
        "embed": ("temporal embed", "dfembed.commands.embed", "embed_command"),
        "train-temporal": ("temporal train", "dfembed.commands.temporal", "temporal_train_command"),
        "gallery": ("evaluate gallery", "dfembed.commands.gallery", "gallery_command"),
        "report": ("evaluate report", "dfembed.commands.report", "report_command"),
    }

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self._commands)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self._commands:
            return _load(*self._commands[cmd_name])
        if cmd_name in self._renamed:
            new, *where = self._renamed[cmd_name]
            return RenamedCommand(cmd_name, new, _load(*where))
        return None


def _load(module_name: str, attr: str) -> click.Command:
    module = __import__(module_name, fromlist=[attr])
    return getattr(module, attr)


@click.group(cls=_LazyGroup)
@click.version_option(package_name="dfembed")
def main() -> None:
    """dfembed: deepfake face detection by metric learning.

    \b
    crop → train → infer → evaluate      the pipeline (demo runs it on an embedded sample)
    temporal embed → temporal train      a sequence model over frame embeddings
    export                               one ONNX or SavedModel model of a model and its classifier
    detectors list | compare             the face detectors, measured side by side
    serve | explain                      a scoring service with a review page; heat maps of one file

    Run dfembed COMMAND --help for each command's options. Modules named in DFEMBED_PLUGINS (and
    installed packages' dfembed.plugins entry points) are imported first: they register their own
    backbones, detectors, modalities and extensions.
    """
    try:
        load_plugins()
    except DfembedError as err:
        raise click.ClickException(error_message(err)) from err
