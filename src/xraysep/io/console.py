"""Terminal output: progress bars and messages go to stderr, results (tables) to stdout."""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

err = Console(stderr=True, soft_wrap=True)
out = Console(soft_wrap=True)
if not out.is_terminal:  # logs and pipes: wide enough for the metrics table
    out.width = 120


def warn(message: str) -> None:
    """One warning line on stderr, as the CLI prints errors."""
    err.print(f"xraysep: warning: {message}", markup=False, highlight=False)


def progress() -> Progress:
    """A progress display for long work; it stays silent when stderr is not a terminal."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
    )
