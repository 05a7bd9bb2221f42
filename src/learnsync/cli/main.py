"""Entry point of the ``learnsync`` console script (docs/contract.md). A runner: it only calls
pipelines."""

from __future__ import annotations

import functools
import logging
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from learnsync.cli.output import (
    TerminalProgress,
    check_report_path,
    error_line,
    item_failures,
    shown,
    warning_line,
    write_report,
)
from learnsync.config import Config, load_config
from learnsync.errors import ConfigError, FinishedWithError, LearnsyncError

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Typer's rich help panels print a type after every option, flags included ("--dry-run
    # <bool>", even "--help <bool>"); its plain help, like click's, shows none for flags.
    rich_markup_mode=None,
    help="learnsync: synchronize Coursera for Business content and statistics into 360Learning.",
)
sync_app = typer.Typer(no_args_is_help=True, help="Run a synchronization now.")
filters_app = typer.Typer(
    no_args_is_help=True, help="Show or save the language / content-type filters."
)
app.add_typer(sync_app, name="sync")
app.add_typer(filters_app, name="filters")
report_app = typer.Typer(no_args_is_help=True, help="Reports from the store.")
app.add_typer(report_app, name="report")


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        print(f"learnsync {version('learnsync')}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    pass


ConfigOpt = Annotated[Path, typer.Option("--config", help="TOML file describing the integration.")]
DryRunOpt = Annotated[
    bool,
    typer.Option("--dry-run", help="Read everything, write nothing; report what would happen."),
]
ReportOpt = Annotated[
    Path | None, typer.Option("--report-json", help="Write the run report (JSON) to this file.")
]
DebugOpt = Annotated[bool, typer.Option("--debug", help="Show tracebacks and debug logs.")]

F = TypeVar("F", bound=Callable[..., Any])


def guarded(func: F) -> F:
    """Turn every error into one clear stderr line and its exit status (docs/contract.md)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        debug = bool(kwargs.get("debug"))
        _configure_logging(debug)
        try:
            return func(*args, **kwargs)
        except typer.Exit:
            raise
        except LearnsyncError as exc:
            if debug:
                traceback.print_exc()
            error_line(exc.message)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            error_line("interrupted")
            raise typer.Exit(130) from None
        except Exception as exc:
            if debug:
                traceback.print_exc()
            error_line(
                f"unexpected {type(exc).__name__}: {exc} (run again with --debug for details)"
            )
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def _configure_logging(debug: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.ERROR,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        force=True,
    )
    # never log request URLs with query strings or headers at debug level from httpx
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)


def _config(path: Path) -> Config:
    from learnsync.sync.context import retention_from_env

    settings = load_config(path)
    retention_from_env()  # LEARNSYNC_RETENTION_DAYS: a bad value is exit 2 before anything runs
    return settings


@sync_app.command("content")
@guarded
def sync_content(
    config: ConfigOpt,
    dry_run: DryRunOpt = False,
    force: Annotated[
        bool, typer.Option("--force", help="Let the run archive more than 20 % of the courses.")
    ] = False,
    report_json: ReportOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Synchronize the Coursera catalog into 360Learning external courses."""
    from learnsync.sync.content import run_content_sync

    settings = _config(config)
    check_report_path(report_json)

    def run() -> Any:
        with TerminalProgress() as progress:
            return run_content_sync(settings, dry_run=dry_run, force=force, progress=progress)

    _reported(run, report_json, _print_content)


def _reported(
    run: Callable[[], Any], report_json: Path | None, show: Callable[[Any, str | None], None]
) -> None:
    """Run, write ``--report-json`` and show the report — also when the run finished with an
    error that exits 1 (the archive guard, failed bulk operations: :class:`FinishedWithError`),
    whose line is then said once, as the error."""
    try:
        report = run()
    except FinishedWithError as exc:
        if exc.report is not None:
            write_report(report_json, exc.report.to_json())
            show(exc.report, exc.message)
        raise
    write_report(report_json, report.to_json())
    show(report, None)


def _print_content(report: Any, skip_warning: str | None = None) -> None:
    print(f"content sync: {report.summary()}")
    for warning in report.warnings:
        if warning != skip_warning:  # said once, as the error line
            warning_line(warning)
    item_failures(report.failed)


@sync_app.command("stats")
@guarded
def sync_stats(
    config: ConfigOpt,
    dry_run: DryRunOpt = False,
    report_json: ReportOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Synchronize learners' statistics (enrollment reports) into 360Learning."""
    from learnsync.sync.stats import run_stats_sync

    settings = _config(config)
    check_report_path(report_json)

    def run() -> Any:
        with TerminalProgress() as progress:
            return run_stats_sync(settings, dry_run=dry_run, progress=progress)

    _reported(run, report_json, _print_stats)


def _print_stats(report: Any, skip_warning: str | None = None) -> None:
    print(f"statistics sync: {report.summary()}")
    for warning in report.warnings:
        if warning != skip_warning:
            warning_line(warning)
    item_failures(report.failed)


@filters_app.command("show")
@guarded
def filters_show(config: ConfigOpt, debug: DebugOpt = False) -> None:
    """Show the saved filters and the languages / content types found in the catalog."""
    from learnsync.sync.filters import show_filters

    view = show_filters(_config(config))
    f = view.filters
    # the catalog's codes and types are Coursera's text: shown escaped
    print("languages:     " + shown(", ".join(sorted(f.languages)) or "(all)"))
    print("content types: " + shown(", ".join(sorted(f.content_types)) or "(all)"))
    source = "last synchronization" if view.catalog_source == "store" else "Coursera, read now"
    print(f"\nlanguages in the catalog ({source}):")
    for code, count in sorted(view.languages.items(), key=lambda kv: (-kv[1], kv[0])):
        mark = "*" if code in f.languages else " "
        print(f" {mark} {shown(code):<10} {count:>7}  {shown(_language_name(code))}")
    print("\ncontent types in the catalog:")
    for kind, count in sorted(view.content_types.items(), key=lambda kv: (-kv[1], kv[0])):
        mark = "*" if kind in f.content_types else " "
        print(f" {mark} {shown(kind):<24} {count:>7}")


def _language_name(code: str) -> str:
    from learnsync.filter.names import language_name

    return language_name(code)


@filters_app.command("set")
@guarded
def filters_set(
    config: ConfigOpt,
    language: Annotated[
        list[str] | None,
        typer.Option("--language", help="A Coursera languageCode to keep (repeatable)."),
    ] = None,
    content_type: Annotated[
        list[str] | None,
        typer.Option("--content-type", help="A Coursera contentType to keep (repeatable)."),
    ] = None,
    clear: Annotated[bool, typer.Option("--clear", help="Remove both filters first.")] = False,
    dry_run: DryRunOpt = False,
    report_json: ReportOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Save the filters: non-matching content is archived at once (with --dry-run: a preview)."""
    from learnsync.sync.filters import set_filters

    settings = _config(config)
    check_report_path(report_json)

    def run() -> Any:
        return set_filters(
            settings,
            languages=list(language or []),
            content_types=list(content_type or []),
            clear=clear,
            dry_run=dry_run,
        )

    _reported(run, report_json, functools.partial(_print_filters, dry_run))


def _print_filters(dry_run: bool, report: Any, skip_warning: str | None = None) -> None:
    if dry_run:
        print(
            f"preview: saving these filters would archive {report.archived} courses "
            f"and restore {report.restored} (nothing saved)"
        )
    else:
        print(f"filters saved: {report.archived} courses archived, {report.restored} restored")
    for warning in report.warnings:
        if warning != skip_warning:
            warning_line(warning)
    item_failures(report.failed)


@report_app.command("unmatched-learners")
@guarded
def report_unmatched_learners(
    config: ConfigOpt,
    csv: Annotated[
        Path | None, typer.Option("--csv", help="Also write the list as CSV to this file.")
    ] = None,
    debug: DebugOpt = False,
) -> None:
    """Learners whose statistics 360Learning could not take (e.g. an e-mail mismatch)."""
    from learnsync.sync.unmatched import unmatched_learners, write_csv

    settings = _config(config)
    rows = unmatched_learners(settings)
    if csv is not None:
        try:
            write_csv(rows, csv)
        except OSError as exc:
            raise ConfigError(f"cannot write {csv}: {exc.strerror or exc}") from None
    if not rows:
        print(_nothing_unmatched(settings))
        return
    print(f"{len(rows)} learners whose statistics could not be delivered:")
    for row in rows:  # learners and course ids are Coursera's text: shown escaped
        courses = shown(", ".join(row.courses[:3])) + (" …" if len(row.courses) > 3 else "")
        print(f"  {shown(row.learner)}  ({len(row.courses)} courses: {courses})  {row.reason}")


def _nothing_unmatched(settings: Config) -> str:
    """What an empty list means, from the newest statistics run that was not a dry run: the
    statistics were delivered only if that run succeeded and no item of it failed."""
    from learnsync.sync.context import open_store, store_exists

    last = None
    if store_exists(settings.store_url):
        store = open_store(settings)
        try:
            record = store.get_integration(settings.integration_key)
            runs = (
                store.list_runs(record.id, limit=1000, with_report=False)
                if record is not None
                else []
            )
        finally:
            store.close()
        last = next((r for r in runs if r.kind == "stats" and not r.dry_run), None)
    if last is None:
        return (
            "no unmatched learners listed: no statistics run has delivered yet: "
            "run learnsync sync stats"
        )
    if last.status == "running":
        return (
            "no unmatched learners so far: a statistics run started at "
            f"{last.started_at:%Y-%m-%d %H:%M} UTC is still going; run this report when it ends"
        )
    if last.status != "succeeded":
        return (
            "no unmatched learners listed, but the last statistics run failed: "
            "run learnsync sync stats again"
        )
    failed = last.failed_count or 0  # the stored report lists only the first items
    if failed:
        return (
            f"no unmatched learners, but {failed} statistics items of the last run failed for "
            "other reasons: the next learnsync sync stats sends them again"
        )
    return "no unmatched learners: every learner's statistics were delivered"


def main() -> None:
    from learnsync.cli import coursera as _coursera  # noqa: F401 - registers commands
    from learnsync.cli import sandbox as _sandbox  # noqa: F401 - registers commands
    from learnsync.cli import service as _service  # noqa: F401 - registers commands

    app()
