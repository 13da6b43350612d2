"""rtrec export DB [--session ID] --out DIR [--per-item]: WAV files and transcripts."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from rich.console import Console

from recorder.cli.app import run
from recorder.cli.gaps import echo_gaps
from recorder.export import Progress, check_output_dir, export_db


@click.command("export")
@click.argument("db")
@click.option("--session", "session_id", help="Session id (default: the newest session).")
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(path_type=Path),
    help="Directory to write the files into (created if missing).",
)
@click.option(
    "--per-item", is_flag=True,
    help="Also write one WAV per audio content part into OUT/items (replacing the item files "
    "of an earlier export there).",
)
def export_command(db: str, session_id: str | None, out_dir: Path, per_item: bool) -> None:
    """Export a session as user/assistant/conversation WAV files and transcripts."""
    check_output_dir(out_dir)  # a bad --out fails before the database is even opened
    err = Console(stderr=True)
    with _progress_bar(err) as progress:
        report = run(
            export_db(
                db,
                out_dir,
                session=session_id,
                per_item=per_item,
                progress=progress,
                warn=lambda line: err.print(f"Warning: {line}", markup=False, highlight=False),
            )
        )
    click.echo(f"Exported session {report.session_id} to {report.out_dir}")
    echo_gaps(db, report.session_id)
    for path in report.files:
        name = str(path.relative_to(report.out_dir))
        duration = report.durations_ms.get(name)
        suffix = f"  {duration / 1000:.1f} s" if duration is not None else ""
        click.echo(f"  {name}{suffix}")
    if report.resampled:
        click.echo(f"Note: {report.resampled}")
    for note in report.notes:
        click.echo(f"Note: {note}")
    if not report.had_audio:
        click.echo(f"No audio in session {report.session_id}: wrote the transcripts only")


@contextmanager
def _progress_bar(console: Console) -> Iterator[Progress | None]:
    """A rich progress bar on a terminal; nothing at all otherwise (pipes, CI, tests)."""
    if not console.is_terminal:
        yield None
        return
    from rich.progress import BarColumn, TextColumn, TimeRemainingColumn
    from rich.progress import Progress as Bar

    with Bar(
        TextColumn("exporting"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
        TimeRemainingColumn(), console=console, transient=True,
    ) as bar:
        task = bar.add_task("export", total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total or None)

        yield update
