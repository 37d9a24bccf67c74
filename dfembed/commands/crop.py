"""`dfembed crop`: not implemented yet."""

import click


@click.command(name="crop", context_settings={"ignore_unknown_options": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def crop_command(args: tuple[str, ...]) -> None:
    """Not implemented yet."""
    raise click.ClickException("dfembed crop is not implemented yet")
