"""The `posc` command line.

Commands import only what they need (the web stack is heavy), parse their arguments, call one engine function and
print the answer. Bad input gives one line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
db_app = typer.Typer(help="The database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")
users_app = typer.Typer(help="Users and their API keys.", no_args_is_help=True)
app.add_typer(users_app, name="users")
report_app = typer.Typer(help="De-identified outcome figures.", no_args_is_help=True)
app.add_typer(report_app, name="report")


def fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"posc: {message}", err=True)
    return typer.Exit(code)


def _version(asked: bool) -> None:
    if asked:
        from importlib.metadata import version

        typer.echo(f"posc {version('posc')}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[bool, typer.Option(
        "--version", callback=_version, is_eager=True, help="Print the version of posc and exit.",
    )] = False,
) -> None:
    """posc: a workflow engine for prenatal Plans of Safe Care."""


@app.command()
def verify(
    case: Annotated[list[str] | None, typer.Argument(
        metavar="[CASE]...", help="Case references to check (default: every case).",
    )] = None,
) -> None:
    """Check every case's event chain (each event's hash over the one before) and replay its events against the case
    row. Prints each problem, then a summary; exits 1 if any case has one."""
    from engine import Cases as CaseEngine
    from engine import Database, NotFound, PoscError, Settings, SystemClock, load_catalogue

    try:
        database = Database.from_settings(Settings())
        database.ensure_schema()
        cases = CaseEngine(database, load_catalogue(), SystemClock())
        checked = broken = 0
        for case_id in case or cases.case_ids():
            try:
                problems = cases.verify(case_id)
            except NotFound:
                raise fail(f"no case {case_id!r}") from None
            checked += 1
            if problems:
                broken += 1
                for problem in problems:
                    typer.echo(f"{case_id}: {problem}")
    except PoscError as exc:
        raise fail(exc.message) from None
    typer.echo(f"{checked} case(s) checked: " + (f"{broken} with problems" if broken else "every chain verifies"))
    if broken:
        raise typer.Exit(1)


@app.command()
def validate(
    paths: Annotated[
        list[Path] | None, typer.Argument(help="Workflow or form files or folders (default: all shipped).")
    ] = None,
    fields: Annotated[bool, typer.Option("--fields", help="Also list every form's fields.")] = False,
) -> None:
    """Load and check workflow and form definitions; print `file:line: message` for each problem (and, with
    --fields, each form's fields: name, type, required or optional)."""
    from engine import check_files

    missing = [p for p in paths or [] if not p.exists()]
    if missing:
        raise fail(f"no such file or folder: {missing[0]}")
    reports, loaded = check_files(paths or None)
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
    if fields:
        used_by: dict[str, set[str]] = {}
        for workflow in loaded.latest():
            for action in workflow.actions.values():
                if action.form is not None:
                    used_by.setdefault(action.form.id, set()).add(action.name)
        for form in sorted(loaded.forms.values(), key=lambda f: f.id):
            actions = sorted(used_by.get(form.id, ()))
            typer.echo(f"\nform {form.id}" + (f" ({', '.join(actions)})" if actions else "") + ":")
            for spec in form.spec.fields:
                choices = f" ({', '.join(spec.choices)})" if spec.choices else ""
                typer.echo(f"  {spec.id:<32} {spec.type}{' list' if spec.many else ''}, "
                           f"{'required' if spec.required else 'optional'}{choices}")
    if failed:
        raise typer.Exit(1)


@app.command()
def diagram(
    workflow: Annotated[str, typer.Argument(help="Workflow id, such as charm-posc.")],
    format: Annotated[str, typer.Option("--format", help="Output format (mermaid).")] = "mermaid",
    version: Annotated[int | None, typer.Option(help="Workflow version (default: the newest).")] = None,
) -> None:
    """Print the workflow as a Mermaid state diagram, phases as nested states."""
    from engine import DefinitionError, NotFound, load_catalogue, mermaid

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


@app.command()
def tick(
    now: Annotated[str | None, typer.Option(
        "--now", help="Process as of this ISO-8601 time with offset; not later than the current time.",
    )] = None,
    allow_future: Annotated[bool, typer.Option(
        "--allow-future",
        help="Accept a --now later than the current time. For test databases only: missed deadlines are then "
        "recorded as events dated in the future.",
    )] = False,
) -> None:
    """Evaluate every due deadline once: mark missed ones, record them on their cases, escalate; print what it did."""
    from datetime import UTC, datetime

    from engine import FUTURE_TOLERANCE, Database, PoscError, Settings, SystemClock, in_the_future, load_catalogue
    from engine import tick as process

    real = SystemClock().now()
    moment = real
    if now is not None:
        try:
            moment = datetime.fromisoformat(now)
        except ValueError:
            raise fail(f"--now {now!r} is not an ISO-8601 time such as 2027-03-01T09:00:00-05:00") from None
        if moment.tzinfo is None:
            raise fail("--now needs a UTC offset, such as 2027-03-01T09:00:00-05:00")
        try:
            ahead = in_the_future(moment.astimezone(UTC), real)
        except OverflowError:
            raise fail(f"--now {now} is outside the calendar once converted to UTC") from None
        minutes = int(FUTURE_TOLERANCE.total_seconds() // 60)
        if ahead and not allow_future:
            raise fail(
                f"--now {now} is later than the current time ({real.isoformat(timespec='seconds')}) by more than "
                f"{minutes} minutes: missed deadlines would be recorded as events dated in the future; "
                "--allow-future permits it, on a test database only", code=2,
            )
        if ahead:
            typer.echo(f"posc: warning: --now {now} is later than the current time "
                       f"({real.isoformat(timespec='seconds')}): missed deadlines will be recorded as events dated "
                       "in the future", err=True)
    try:
        database = Database.from_settings(Settings())
        database.ensure_schema()
        missed = process(database, load_catalogue(), moment)
    except PoscError as exc:
        raise fail(exc.message) from None
    for item in missed:
        typer.echo(f"missed {item.deadline} on case {item.case_id} (due {item.due_at.isoformat()}); "
                   f"escalated to {item.escalated_to or 'nobody (no lead organisation)'}")
    typer.echo(f"{len(missed)} deadline(s) missed as of {moment.isoformat()}")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    demo: Annotated[bool, typer.Option(
        "--demo", help="Load demo data into an empty database first (a database with data is left as it is).",
    )] = False,
    workers: Annotated[int, typer.Option(
        min=1, max=64, help="Server processes (PostgreSQL; SQLite serves one office well with 1).",
    )] = 1,
    proxy_headers: Annotated[bool, typer.Option(
        "--proxy-headers/--no-proxy-headers",
        help="Trust X-Forwarded-For and X-Forwarded-Proto from --forwarded-allow-ips (a TLS proxy in front).",
    )] = True,
    forwarded_allow_ips: Annotated[str, typer.Option(
        help="Comma-separated addresses of the proxies whose forwarded headers are trusted ('*': any).",
    )] = "127.0.0.1",
) -> None:
    """Run the HTTP API (uvicorn). With --demo, an empty database first gets demo organisations, users and a
    caseload with months of history. With --workers N, N processes share the port and the database."""
    import uvicorn

    from api import logs
    from api.app import create_app
    from api.demo import load_demo, not_loaded
    from engine import PoscError, Settings, is_empty

    settings = Settings()
    logs.configure(settings.log_level, settings.log_format)  # before anything logs; no query strings, no values
    try:
        application = create_app(settings)
    except PoscError as exc:
        raise fail(exc.message) from None
    services = application.state.services
    if demo:
        if is_empty(services.db):
            users = load_demo(services.db, services.cases, services.clock)
            typer.echo("Demo users (keep these keys; they are shown only now):")
            for user in users:
                typer.echo(f"  {user.name:<16} {user.role:<10} {user.organisation:<16} {user.api_key}")
        else:
            typer.echo(not_loaded(services.settings.database_url))
    plural = f" in {workers} processes" if workers > 1 else ""
    typer.echo(f"Serving posc on http://{host}:{port}{plural} (API docs at /docs)")
    options: dict[str, Any] = {
        "host": host, "port": port, "log_config": logs.config(settings.log_level, settings.log_format),
        "proxy_headers": proxy_headers,
        "forwarded_allow_ips": forwarded_allow_ips,
    }
    if workers == 1:
        uvicorn.run(application, **options)
        return
    services.db.dispose()  # each worker builds its own services, and its own connections, from the settings
    settings.shared_metrics_dir()  # the workers' metrics, added up at each scrape
    uvicorn.run("api.app:create_app", factory=True, workers=workers, **options)


@users_app.command("add")
def users_add(
    name: Annotated[str, typer.Option(help="The person's name.")],
    role: Annotated[str, typer.Option(help="cps, treatment, peer, prenatal, hospital, analyst or admin.")],
    org: Annotated[str, typer.Option(help="Organisation id, a slug such as county-cps.")],
    org_name: Annotated[str | None, typer.Option(help="The organisation's full name, if it is new.")] = None,
    org_kind: Annotated[str | None, typer.Option(
        "--org-kind", metavar="KIND",
        help="The organisation's kind, if it is new: cps, treatment, hospital, prenatal, peer, state or admin "
        "(default: the kind of the role; analyst: state).",
    )] = None,
) -> None:
    """Create a user (and the organisation if new); print only the new API key. The role must suit the
    organisation's kind (an analyst belongs to a state organisation)."""
    from engine import Database, InvalidForm, SchemaOutOfDate, Settings, SystemClock, add_user

    try:
        database = Database.from_settings(Settings())
        database.ensure_schema()
        _, key = add_user(
            database, SystemClock(), name=name, role=role, organisation=org, organisation_name=org_name,
            organisation_kind=org_kind,
        )
    except InvalidForm as exc:
        raise fail("; ".join(f"{e.field}: {e.message}" for e in exc.errors)) from None
    except SchemaOutOfDate as exc:
        raise fail(exc.message) from None
    typer.echo(key)


@users_app.command("list")
def users_list() -> None:
    """Print the users whose keys are in force: id, role, organisation and name (never a key)."""
    from engine import Database, PoscError, Settings, list_users

    try:
        database = Database.from_settings(Settings())
        database.ensure_schema()
        users = list_users(database)
    except PoscError as exc:
        raise fail(exc.message) from None
    for user in users:
        typer.echo(f"{user.id}\t{user.role}\t{user.organisation}\t{user.name}")
    typer.echo(f"{len(users)} user(s) with a key in force", err=True)


@users_app.command("revoke")
def users_revoke(user_id: Annotated[str, typer.Argument(help="The user's id, as `posc users list` shows it.")]) -> None:
    """Revoke a user's API key at once: every request with it is refused from now on, and their web sessions end."""
    from engine import Database, NotFound, PoscError, Settings, SystemClock, revoke_key

    try:
        database = Database.from_settings(Settings())
        database.ensure_schema()
        revoke_key(database, SystemClock(), user_id)
    except NotFound:
        raise fail(f"no user {user_id!r} with a key in force (see `posc users list`)") from None
    except PoscError as exc:
        raise fail(exc.message) from None
    typer.echo(f"revoked the key of {user_id}")


@report_app.command("capta")
def report_capta(
    start: Annotated[str, typer.Option("--from", help="First day of the period (YYYY-MM-DD, the 1st of a month).")],
    end: Annotated[str, typer.Option("--to", help="Last day of the period: a whole month, quarter or year.")],
    output: Annotated[str, typer.Option("--format", help="table, csv or json.")] = "table",
) -> None:
    """Print the de-identified outcome figures for a period, as the API gives them: small counts shown as <5 and
    anything that would reveal one as suppressed. A progress bar (on stderr) follows the reading of the log."""
    import csv
    import json
    from datetime import date

    from engine import (
        FIGURES_CSV_COLUMNS,
        Actor,
        Database,
        InvalidForm,
        PoscError,
        Settings,
        SystemClock,
        figures_csv_rows,
        figures_for,
        load_catalogue,
        report_period,
    )

    if output not in ("table", "csv", "json"):
        raise fail(f"--format {output!r}: choose table, csv or json")
    period: list[date] = []
    for option, value in (("--from", start), ("--to", end)):
        try:
            period.append(date.fromisoformat(value))
        except ValueError:
            raise fail(f"{option} {value!r} is not a date such as 2026-01-31") from None
    now = SystemClock().now()
    try:
        report_period(period[0], period[1])  # refused before anything is read
        database = Database.from_settings(Settings())
        database.ensure_schema()
        with typer.progressbar(length=1, label="reading the event log", file=sys.stderr) as bar:
            def progress(done: int, total: int) -> None:
                bar.length = max(total, 1)
                bar.update(done - bar.pos)

            # As an administrator of the service: the run is in the access log, with no case.
            report = figures_for(database, load_catalogue(), Actor("command-line", "admin", "-"), period[0],
                                 period[1], now, progress)
    except InvalidForm as refused:
        error = refused.errors[0]
        raise fail(f"--{error.field} {dict(zip(('from', 'to'), (start, end), strict=True))[error.field]}: "
                   f"{error.message}") from None
    except PoscError as exc:
        raise fail(exc.message) from None
    if output == "json":
        typer.echo(json.dumps(report, indent=2))
    elif output == "csv":
        writer = csv.DictWriter(sys.stdout, fieldnames=FIGURES_CSV_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(figures_csv_rows(report))
    else:
        typer.echo(_figures_table(report))


def _figures_table(report: dict[str, Any]) -> str:
    """The report as text: each section's figures with value and share; the breakdowns are in csv and json."""
    lines = [f"Outcome figures, {report['period']['from']} to {report['period']['to']} ({report['period']['kind']}), "
             f"as of {report['as_of']}", f"({report['suppression']})"]
    for section in report["sections"]:
        lines += ["", section["title"], f"  {section['cohort']}"]
        for figure in section["figures"]:
            value = figure["value"]
            shown = "-" if value is None else f"{value} {figure.get('unit') or ''}".rstrip()
            share = figure.get("share")
            if isinstance(share, float):
                shown += f" ({share:.1%})"
            elif share is not None:
                shown += f" (share {share})"
            lines.append(f"  {figure['label']:<58} {shown}")
    return "\n".join(lines)


@app.command()
def steps(
    search: Annotated[str | None, typer.Option("--search", help="Words to look for (any order, any case).")] = None,
) -> None:
    """Print the catalogue of Gherkin steps analysts may use, with an example of each (or the closest to --search)."""
    from api.step_catalogue import module_titles, read_catalogue, steps_folder
    from api.step_catalogue import search as search_steps

    if not steps_folder().is_dir():
        raise fail(f"no step library at {steps_folder()} (it ships with the source checkout)")
    catalogue = read_catalogue()
    if search is not None:
        found = search_steps(catalogue, search, _pathway_names())
        if not found:
            raise fail(f"no step is close to {search!r}; `posc steps` lists them all")
        for step in found:
            typer.echo(f"{step.keyword.capitalize():<5} {step.readable}")
            typer.echo(f"      e.g. {step.example}")
        return
    titles = module_titles()
    for module, title in titles.items():
        mine = [s for s in catalogue if s.module == module]
        if not mine:
            continue
        typer.echo(f"\n{title}")
        for step in mine:
            typer.echo(f"  {step.keyword.capitalize():<5} {step.readable}")
            typer.echo(f"        e.g. {step.example}")
    typer.echo(f"\n{len(catalogue)} steps. Dates may be ISO (2027-01-10), today, tomorrow, yesterday, "
               '"in 3 days", "2 days ago", "the due date" or "10 days before the due date".')


features_app = typer.Typer(help="Gherkin feature files (the analysts' specifications).", no_args_is_help=True)
app.add_typer(features_app, name="features")


@features_app.command("check")
def features_check(
    paths: Annotated[
        list[Path] | None, typer.Argument(help="Feature files or folders (default: features/ of the checkout).")
    ] = None,
) -> None:
    """Check feature files without running them: every step line matches exactly one step, and names actions,
    states, fields and people the pathway knows. Prints `file:line: problem` for each, with the closest steps."""
    from api.step_catalogue import check, people, read_catalogue, steps_folder

    if not steps_folder().is_dir():
        raise fail(f"no step library at {steps_folder()} (it ships with the source checkout)")
    if importlib.util.find_spec("parse") is None:
        raise fail("checking features needs the test tools: .venv/bin/pip install -e '.[test]'")
    given = paths or [steps_folder().parents[1] / "features"]
    missing = [p for p in given if not p.exists()]
    if missing:
        raise fail(f"no such file or folder: {missing[0]}")
    files = sorted({f for p in given for f in ([p] if p.is_file() else p.rglob("*.feature"))})
    if not files:
        raise fail("no .feature files found")
    problems = check(files, read_catalogue(), _pathway_names(), people())
    for problem in problems:
        typer.echo(problem)
    if problems:
        raise typer.Exit(1)
    typer.echo(f"{len(files)} feature files: every step line matches exactly one step")


def _pathway_names() -> dict[str, list[str]]:
    from api.step_catalogue import pathway_names
    from engine import load_catalogue

    return pathway_names(load_catalogue())


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
