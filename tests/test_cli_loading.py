"""The command line loads what a command needs: `rtrec --help` and `rtrec sessions` import neither
aiohttp nor numpy, and Alembic only for a database that is not at the head revision. The
command table (recorder.cli.commands) says where each command lives and its one-line help;
these tests keep it true to the commands themselves."""

from __future__ import annotations

import importlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from recorder.cli import cli
from recorder.cli.app import LazyGroup
from recorder.cli.commands import COMMANDS
from recorder.store.revision import HEAD_REVISION

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fixtures"
HEAVY = ("aiohttp", "numpy", "alembic")

# Runs rtrec's entry point, then writes the names of the modules it imported to a file.
_RUN_AND_LIST = """
import atexit, json, sys
atexit.register(lambda: open({out!r}, "w").write(json.dumps(sorted(sys.modules))))
from recorder.cli import main
sys.argv[0] = "rtrec"
main()
"""


def modules_after(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    out = tmp_path / "modules.json"
    done = subprocess.run(
        [sys.executable, "-c", _RUN_AND_LIST.format(out=str(out)), *args],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )
    return done, set(json.loads(out.read_text()))


def _command(name: str) -> click.Command:
    module, _, attribute = COMMANDS[name].target.partition(":")
    command = getattr(importlib.import_module(module), attribute)
    assert isinstance(command, click.Command)
    return command


def test_help_imports_no_command_module_nor_the_decoder(tmp_path: Path) -> None:
    done, modules = modules_after(tmp_path, "--help")
    assert done.returncode == 0, done.stderr
    assert "sessions  List the sessions recorded in DB" in done.stdout
    loaded = {m for m in modules if m.startswith("recorder")}
    assert loaded == {"recorder", "recorder.cli", "recorder.cli.app", "recorder.cli.commands",
                      "recorder.errors"}
    assert not {*HEAVY, "msgspec", "sqlalchemy", "rich"} & modules


def test_sessions_of_a_database_at_head_imports_neither_aiohttp_numpy_nor_alembic(
    tmp_path: Path,
) -> None:
    db = tmp_path / "log.db"
    shutil.copy(FIXTURES / "barge_in.db", db)
    done, modules = modules_after(tmp_path, "sessions", str(db))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[1].endswith("283     complete")
    assert not set(HEAVY) & modules


async def _migrate_to(db: Path, revision: str) -> None:
    from alembic import command
    from alembic.config import Config

    from recorder.store.db import Database
    from recorder.store.migrate import migrations_dir
    from recorder.store.urls import parse_db

    def upgrade(connection: object) -> None:
        config = Config()
        config.set_main_option("script_location", str(migrations_dir()))
        config.attributes["connection"] = connection
        command.upgrade(config, revision)

    database = Database(parse_db(str(db)))
    await database.prepare()
    async with database.writing() as connection:
        await connection.run_sync(upgrade)
    await database.dispose()


async def test_sessions_of_an_older_database_loads_alembic_and_upgrades_it(
    tmp_path: Path,
) -> None:
    import sqlite3

    db = tmp_path / "old.db"
    await _migrate_to(db, "0003")
    done, modules = modules_after(tmp_path, "sessions", str(db))
    assert (done.returncode, done.stderr) == (0, "no sessions\n")
    assert "alembic" in modules
    assert not {"aiohttp", "numpy"} & modules
    with sqlite3.connect(db) as connection:
        assert connection.execute("SELECT version_num FROM alembic_version").fetchall() == [
            (HEAD_REVISION,)
        ]
    _done, again = modules_after(tmp_path, "sessions", str(db))  # now at head: no Alembic
    assert "alembic" not in again


def test_the_head_revision_constant_is_the_head_of_the_migrations() -> None:
    from recorder.store.migrate import head_revision

    assert head_revision() == HEAD_REVISION


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_the_tables_help_is_the_commands_own(name: str) -> None:
    command = _command(name)
    assert command.name == name
    assert command.help is not None
    assert COMMANDS[name].help == " ".join(command.help.partition("\n\n")[0].split())
    listed = click.Command(name, help=COMMANDS[name].help)
    for limit in (20, 45, 64, 200):
        assert listed.get_short_help_str(limit) == command.get_short_help_str(limit)


def test_every_command_of_the_cli_modules_is_in_the_table() -> None:
    defined: set[str] = set()
    subcommands: set[int] = set()
    for module_name in ("export", "record", "replay", "serve", "store", "view"):
        module = importlib.import_module(f"recorder.cli.{module_name}")
        for attribute, value in vars(module).items():
            if isinstance(value, click.Command):
                defined.add(f"{module.__name__}:{attribute}")
            if isinstance(value, click.Group):
                subcommands |= {id(sub) for sub in value.commands.values()}
    top = {target for target in defined if id(_resolve(target)) not in subcommands}
    assert top == {entry.target for entry in COMMANDS.values()}


def _resolve(target: str) -> object:
    module, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module), attribute)


def test_help_is_the_same_as_a_group_with_every_command_imported() -> None:
    eager = click.Group(
        name=cli.name, params=cli.params, help=cli.help,
        commands={name: _command(name) for name in COMMANDS},
    )
    runner = CliRunner()
    lazy_help = runner.invoke(cli, ["--help"], prog_name="rtrec")
    eager_help = runner.invoke(eager, ["--help"], prog_name="rtrec")
    assert lazy_help.exit_code == 0
    assert lazy_help.output == eager_help.output
    assert all(f"  {name} " in lazy_help.output for name in COMMANDS)


def test_a_mistyped_command_is_offered_the_closest_one() -> None:
    result = CliRunner().invoke(cli, ["sesions", "x.db"], prog_name="rtrec")
    assert (result.exit_code, result.stderr) == (
        2, "Error: No such command 'sesions'. Did you mean 'sessions'?; see 'rtrec --help'\n"
    )


def test_a_group_imports_a_command_only_when_it_is_invoked() -> None:
    group = LazyGroup(name="g", lazy={"x": COMMANDS["sessions"]._replace(
        target="tests.no_such_module:command")})
    help_text = CliRunner().invoke(group, ["--help"]).output
    assert "x  List the sessions recorded in DB" in help_text  # listed without importing
    with pytest.raises(ModuleNotFoundError):
        group.get_command(click.Context(group), "x")


def test_the_packages_exports_are_the_functions_even_after_their_submodule_loads() -> None:
    # `from recorder import decode` is the function, whether or not recorder.decode (the
    # module) was imported first; a fresh interpreter imports the module first, then asks.
    script = (
        "import recorder.decode, recorder.receiver\n"
        "from recorder import decode, Position\n"
        "print(callable(decode), type(decode).__name__, Position.__name__)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True).stdout
    assert out == "True function Position\n"
