"""rtrec serve commands."""

from recorder.cli.app import cli  # noqa: F401
