"""`dfembed demo`: not implemented yet."""

import click


@click.command(name="demo", context_settings={"ignore_unknown_options": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def demo_command(args: tuple[str, ...]) -> None:
    """Not implemented yet."""
    raise click.ClickException("dfembed demo is not implemented yet")
