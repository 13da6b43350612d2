"""The click group of rtrec (commands imported when invoked), and the error boundary of the CLI."""

from __future__ import annotations

import importlib
from collections.abc import Coroutine, Mapping
from typing import Any, TypeVar

import click

from recorder import __version__
from recorder.cli.commands import COMMANDS, CommandEntry
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


class LazyGroup(click.Group):
    """A group whose commands are named in a table (name -> "module:attribute", help) and
    imported only when one is invoked or its own help is shown; listing them needs only the
    table."""

    def __init__(self, *args: Any, lazy: Mapping[str, CommandEntry], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = dict(lazy)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(self.commands) | set(self.lazy))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands or cmd_name not in self.lazy:
            return super().get_command(ctx, cmd_name)
        module_name, _, attribute = self.lazy[cmd_name].target.partition(":")
        command = getattr(importlib.import_module(module_name), attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{self.lazy[cmd_name].target} is not a click command")
        return command

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        try:
            return super().resolve_command(ctx, args)
        except click.UsageError as error:
            no_such = getattr(click.exceptions, "NoSuchCommand", None)  # click >= 8.4
            if no_such is None or not isinstance(error, no_such):
                raise
            # click suggests close names from the imported commands only: offer them all
            raise no_such(
                error.command_name, possibilities=self.list_commands(ctx), ctx=ctx
            ) from None

    def summary(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """What the command list shows: the table's help for a command not imported yet."""
        if cmd_name in self.commands or cmd_name not in self.lazy:
            return super().get_command(ctx, cmd_name)
        return click.Command(cmd_name, help=self.lazy[cmd_name].help)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """click's command list, from summary() instead of get_command() (same layout)."""
        listed = [(name, self.summary(ctx, name)) for name in self.list_commands(ctx)]
        commands = [(name, cmd) for name, cmd in listed if cmd is not None and not cmd.hidden]
        if not commands:
            return
        limit = formatter.width - 6 - max(len(name) for name, _ in commands)
        with formatter.section("Commands"):
            formatter.write_dl([(name, cmd.get_short_help_str(limit)) for name, cmd in commands])


class RtrecGroup(LazyGroup):
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


@click.group(cls=RtrecGroup, lazy=COMMANDS)
@click.version_option(__version__, prog_name="rtrec")
def cli() -> None:
    """Record, replay, test and export OpenAI Realtime API sessions."""


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a library coroutine from a command."""
    import asyncio  # here: listing the commands does not need it

    return asyncio.run(coro)
