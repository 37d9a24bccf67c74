"""`dfembed evaluate`: not implemented yet."""

import click


@click.command(name="evaluate", context_settings={"ignore_unknown_options": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def evaluate_command(args: tuple[str, ...]) -> None:
    """Not implemented yet."""
    raise click.ClickException("dfembed evaluate is not implemented yet")
