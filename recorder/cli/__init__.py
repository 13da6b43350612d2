"""The rtrec command line: the group and its entry point (commands load when invoked, see
recorder.cli.commands)."""

from recorder.cli.app import cli


def main() -> None:
    cli()


__all__ = ["cli", "main"]
