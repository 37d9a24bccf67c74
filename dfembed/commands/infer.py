"""`dfembed infer`: not implemented yet."""

import click


@click.command(name="infer", context_settings={"ignore_unknown_options": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def infer_command(args: tuple[str, ...]) -> None:
    """Not implemented yet."""
    raise click.ClickException("dfembed infer is not implemented yet")
