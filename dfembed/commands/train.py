"""`dfembed train`: not implemented yet."""

import click


@click.command(name="train", context_settings={"ignore_unknown_options": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def train_command(args: tuple[str, ...]) -> None:
    """Not implemented yet."""
    raise click.ClickException("dfembed train is not implemented yet")
