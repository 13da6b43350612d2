"""The rtrec command line: each module registers its commands on the shared group."""

from recorder.cli import export, record, replay, serve, store  # noqa: F401  (registers commands)
from recorder.cli.app import cli


def main() -> None:
    cli()


__all__ = ["cli", "main"]
