"""The click group every command module attaches to, and the error boundary of the CLI."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

import click

from recorder import __version__
from recorder.errors import RtrecError

T = TypeVar("T")


class RtrecGroup(click.Group):
    """Turns RtrecError into one 'Error: ...' line and exit code 1, as click does for usage."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except RtrecError as error:
            raise click.ClickException(str(error)) from None


@click.group(cls=RtrecGroup)
@click.version_option(__version__, prog_name="rtrec")
def cli() -> None:
    """Record, replay, test and export OpenAI Realtime API sessions."""


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a library coroutine from a command."""
    return asyncio.run(coro)
