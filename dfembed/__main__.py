"""``python -m dfembed``: the same command group as the ``dfembed`` script."""

from dfembed.cli import main

if __name__ == "__main__":
    main(prog_name="dfembed")
