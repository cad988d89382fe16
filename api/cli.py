"""The `posc` command line.

Commands import only what they need (the web stack is heavy), parse their arguments, call one engine function and
print the answer. Bad input gives one line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    help="posc: a workflow engine for prenatal Plans of Safe Care.", no_args_is_help=True, add_completion=False,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="The database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")


def fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"posc: {message}", err=True)
    return typer.Exit(code)


@app.command()
def validate(
    paths: Annotated[
        list[Path] | None, typer.Argument(help="Workflow or form files or folders (default: all shipped).")
    ] = None,
) -> None:
    """Load and check workflow and form definitions; print `file:line: message` for each problem."""
    from engine.definitions import check_files

    missing = [p for p in paths or [] if not p.exists()]
    if missing:
        raise fail(f"no such file or folder: {missing[0]}")
    reports, _ = check_files(paths or None)
    if not reports:
        raise fail("no definition files found")
    failed = False
    for report in reports:
        if report.problems:
            failed = True
            for problem in report.problems:
                typer.echo(problem)
        else:
            typer.echo(f"{report.path}: ok: {report.summary}")
    if failed:
        raise typer.Exit(1)


@app.command()
def diagram(
    workflow: Annotated[str, typer.Argument(help="Workflow id, such as charm-posc.")],
    format: Annotated[str, typer.Option("--format", help="Output format (mermaid).")] = "mermaid",
    version: Annotated[int | None, typer.Option(help="Workflow version (default: the newest).")] = None,
) -> None:
    """Print the workflow as a Mermaid state diagram, phases as nested states."""
    from engine.definitions import load_catalogue
    from engine.diagram import mermaid
    from engine.errors import DefinitionError, NotFound

    if format != "mermaid":
        raise fail(f"unknown format {format!r}: only mermaid is supported")
    try:
        compiled = load_catalogue().workflow(workflow, version)
    except DefinitionError as exc:
        raise fail(f"the shipped definitions have problems; run `posc validate`: {exc.problems[0]}") from None
    except NotFound as exc:
        raise fail(exc.message) from None
    typer.echo(mermaid(compiled))


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
) -> None:
    """Create or migrate the database schema (POSC_DATABASE_URL) with Alembic."""
    from sqlalchemy.exc import SQLAlchemyError

    from engine import Database, Settings

    settings = Settings()
    try:
        database = Database.from_settings(settings)
        before = database.current_revision()
        database.upgrade(revision)
        after = database.current_revision()
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0][:200]
        raise fail(f"database error: {reason}") from None
    typer.echo(f"database schema: {before or 'empty'} -> {after}")


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
