"""Entry point of the ``learnsync`` console script."""

from __future__ import annotations

import typer

app = typer.Typer(no_args_is_help=True, add_completion=False, help="learnsync: Coursera → 360Learning")


def main() -> None:
    app()
