"""The click group every command module attaches to, and the error boundary of the CLI."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

import click

from recorder import __version__
from recorder.errors import RtrecError

T = TypeVar("T")


class OneLineUsageError(click.UsageError):
    """A usage error (wrong flag, missing argument, bad value) as one line saying what to do,
    instead of click's usage block, hint line and error line; exit code 2 as click's."""

    def __init__(self, error: click.UsageError) -> None:
        super().__init__(error.format_message(), error.ctx)

    def show(self, file: Any = None) -> None:
        command = self.ctx.command_path if self.ctx is not None else "rtrec"
        message = self.format_message().removesuffix(".")
        click.echo(f"Error: {message}; see '{command} --help'", file=file, err=True)


class RtrecGroup(click.Group):
    """Turns RtrecError into one 'Error: ...' line and exit code 1, and usage errors into one
    line and exit code 2."""

    def make_context(self, *args: Any, **kwargs: Any) -> click.Context:
        try:  # the group's own options
            return super().make_context(*args, **kwargs)
        except click.UsageError as error:
            raise OneLineUsageError(error) from None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except RtrecError as error:
            raise click.ClickException(str(error)) from None
        except OneLineUsageError:
            raise
        except click.UsageError as error:  # a command's options and arguments
            raise OneLineUsageError(error) from None


@click.group(cls=RtrecGroup)
@click.version_option(__version__, prog_name="rtrec")
def cli() -> None:
    """Record, replay, test and export OpenAI Realtime API sessions."""


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a library coroutine from a command."""
    return asyncio.run(coro)
