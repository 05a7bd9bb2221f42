"""``learnsync serve``, ``learnsync worker``, ``learnsync admin …`` (administrators, sessions,
the secret key), ``learnsync integrations import``."""

from __future__ import annotations

import errno
import getpass
import os
import secrets
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from learnsync.cli.main import DebugOpt, app, guarded
from learnsync.errors import ConfigError, LearnsyncError

if TYPE_CHECKING:
    from learnsync.service.auth import Auth

STORE_ENV = "LEARNSYNC_STORE_URL"
admin_app = typer.Typer(no_args_is_help=True, help="Administrators of the web app.")
sessions_app = typer.Typer(no_args_is_help=True, help="Administrators' sessions.")
integrations_app = typer.Typer(no_args_is_help=True, help="Integrations of the service.")
app.add_typer(admin_app, name="admin")
admin_app.add_typer(sessions_app, name="sessions")
app.add_typer(integrations_app, name="integrations")

StoreOpt = Annotated[
    str | None,
    typer.Option(
        "--store", help=f"Database URL (default: ${STORE_ENV} or sqlite:///learnsync.db)."
    ),
]


def _store_url(given: str | None) -> str:
    return given or os.environ.get(STORE_ENV) or "sqlite:///learnsync.db"


def _private_store(url: str) -> str:
    """A new SQLite store is created 0600; one other users may read is warned about."""
    from learnsync.cli.output import warning_line
    from learnsync.service.secrets import private_store

    warning = private_store(url)
    if warning:
        warning_line(warning)
    return url


def _service(store: str | None, *, sandbox: bool = False, broker: str | None = None):  # type: ignore[no-untyped-def]
    """The service on ``store``; with ``broker`` (``LEARNSYNC_BROKER_URL``) its runs are handed
    to the fleet (``learnsync worker``) instead of its own pool."""
    from learnsync.cli.output import warning_line
    from learnsync.service.core import Service
    from learnsync.service.endpoints import EndpointPolicy
    from learnsync.service.secrets import key_file_warning, secret_box_from_env

    box = secret_box_from_env(sandbox=sandbox)
    loose = key_file_warning()
    if loose:
        warning_line(loose)
    url = _store_url(store)
    dispatch = limits = None
    if broker is not None:
        from learnsync.workers.fleet import dispatcher, fleet_limits, make_app, queue_from_env

        _shared_store(url, "serve with LEARNSYNC_BROKER_URL")
        queue = queue_from_env()
        dispatch = dispatcher(make_app(broker, queue), queue)
        limits = fleet_limits(broker)  # what /metrics reads of the limiters' saturation
    return Service(
        _private_store(url),
        box,
        endpoints=EndpointPolicy.from_env(sandbox=sandbox),
        dispatch=dispatch,
        limits=limits,
    )


def _fleet_member(store: str | None, who: str, no_broker: str) -> tuple[str, str]:
    """The store URL and broker URL of a fleet process (``who``): a PostgreSQL store and a
    broker, or a :class:`ConfigError` (``no_broker`` when the broker is missing)."""
    from learnsync.workers.fleet import broker_url_from_env

    url = _store_url(store)
    _shared_store(url, who)
    broker = broker_url_from_env()
    if broker is None:
        raise ConfigError(no_broker)
    return url, broker


def _shared_store(url: str, who: str) -> None:
    """A fleet shares one store between processes and hosts: SQLite is refused."""
    if url.lower().startswith("sqlite"):
        raise ConfigError(
            f"{who} needs a PostgreSQL store that serve and every worker share, not a SQLite "
            "file: give --store postgresql+psycopg://USER@HOST/DB (or LEARNSYNC_STORE_URL)"
        )


@contextmanager
def _accounts(store: str | None) -> Iterator[Auth]:
    """The administrators of the store (no secret key needed: no secret is read)."""
    from learnsync.service.auth import Auth
    from learnsync.store import Store
    from learnsync.store.service_repository import ServiceRepository

    with Store.open(_private_store(_store_url(store))) as opened:
        yield Auth(ServiceRepository.of_store(opened))


PasswordStdinOpt = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password from standard input.")
]
UsernameArg = Annotated[str, typer.Argument(help="The administrator's user name.")]


def _read_password(password_stdin: bool) -> str:
    """One line of stdin (``--password-stdin``), else asked twice on the terminal."""
    import sys

    if password_stdin:
        return sys.stdin.readline().rstrip("\n")
    if not sys.stdin.isatty():
        raise ConfigError(
            "no terminal to ask the password on: give it as one line on standard input "
            "with --password-stdin"
        )
    try:
        password = getpass.getpass("password: ")
        again = getpass.getpass("again: ")
    except EOFError:
        raise ConfigError("no password given: run the command again") from None
    if again != password:
        raise ConfigError("the two passwords differ: run the command again")
    return password


def _no_such_admin(exc: LookupError) -> ConfigError:
    return ConfigError(
        f"{exc.args[0]}: check the name and --store (learnsync admin create-user creates one)"
    )


@admin_app.command("create-user")
@guarded
def create_user(
    username: UsernameArg,
    store: StoreOpt = None,
    password_stdin: PasswordStdinOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Create an administrator of the web app (the password is asked, never an argument)."""
    from learnsync.service.audit import cli_actor

    password = _read_password(password_stdin)
    service = _service(store)
    try:
        service.auth.create_user(username, password, actor=cli_actor())
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    finally:
        service.close()
    print(f"administrator {username!r} created")


@admin_app.command("set-password")
@guarded
def set_password(
    username: UsernameArg,
    store: StoreOpt = None,
    password_stdin: PasswordStdinOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Give an administrator a new password (asked, never an argument); their sessions end."""
    from learnsync.service.audit import cli_actor

    password = _read_password(password_stdin)
    with _accounts(store) as auth:
        try:
            ended = auth.set_password(username, password, actor=cli_actor())
        except LookupError as exc:
            raise _no_such_admin(exc) from None
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
    print(f"password of administrator {username.strip()!r} changed ({ended} session(s) ended)")


def _set_disabled(username: str, store: str | None, disabled: bool) -> int:
    from learnsync.service.audit import cli_actor

    with _accounts(store) as auth:
        try:
            return auth.set_disabled(username, disabled, actor=cli_actor())
        except LookupError as exc:
            raise _no_such_admin(exc) from None


@admin_app.command("disable")
@guarded
def disable_user(username: UsernameArg, store: StoreOpt = None, debug: DebugOpt = False) -> None:
    """Disable an administrator: they cannot sign in, and their sessions end at once."""
    ended = _set_disabled(username, store, True)
    print(f"administrator {username.strip()!r} disabled ({ended} session(s) ended)")


@admin_app.command("enable")
@guarded
def enable_user(username: UsernameArg, store: StoreOpt = None, debug: DebugOpt = False) -> None:
    """Let a disabled administrator sign in again."""
    _set_disabled(username, store, False)
    print(f"administrator {username.strip()!r} enabled")


@sessions_app.command("revoke")
@guarded
def revoke_sessions(
    username: Annotated[
        str | None, typer.Argument(help="The administrator whose sessions end.")
    ] = None,
    all_users: Annotated[bool, typer.Option("--all", help="End every session.")] = False,
    store: StoreOpt = None,
    debug: DebugOpt = False,
) -> None:
    """End an administrator's sessions (or everyone's with --all): they sign in again."""
    from learnsync.service.audit import cli_actor

    if (username is None) == (not all_users):
        raise ConfigError("give either a USERNAME or --all (not both)")
    with _accounts(store) as auth:
        try:
            ended = auth.revoke_sessions(username, actor=cli_actor())
        except LookupError as exc:
            raise _no_such_admin(exc) from None
    whose = f"of administrator {username.strip()!r} " if username is not None else ""
    print(f"{ended} session(s) {whose}ended")


@admin_app.command("rotate-key")
@guarded
def rotate_key(
    new_key_file: Annotated[
        Path,
        typer.Option(
            "--new-key-file",
            help="The new key: read from this file, or generated into it (mode 0600) when it "
            "does not exist.",
        ),
    ],
    store: StoreOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Re-encrypt every stored secret under a new key, in one transaction (stop serve first).

    The current key comes from $LEARNSYNC_SECRET_KEY or $LEARNSYNC_SECRET_KEY_FILE, as for
    serve. Afterwards point LEARNSYNC_SECRET_KEY_FILE at the new file and start serve again."""
    from learnsync.cli.output import warning_line
    from learnsync.service import secrets as keys
    from learnsync.service.audit import AuditAction, AuditLog, cli_actor
    from learnsync.store import Store
    from learnsync.store.service_repository import ServiceRepository

    current = keys.load_key()
    if current is None:
        raise ConfigError(
            f"no current secret key: set {keys.KEY_ENV} or {keys.KEY_FILE_ENV} to the key the "
            "secrets are stored with"
        )
    old = keys.SecretBox(current)
    created = not new_key_file.exists()
    new_key = (
        keys.write_key_file(new_key_file)
        if created
        else keys.read_key_file(new_key_file, "--new-key-file")
    )
    new = keys.SecretBox(new_key)
    for loose in (
        keys.key_file_warning(),
        keys.loose_file_warning(new_key_file, "the new key file"),
    ):
        if loose:
            warning_line(loose)
    if new_key == current:
        raise ConfigError(
            f"{new_key_file} holds the current key: give a new file (it is generated) or "
            "another key"
        )
    with Store.open(_private_store(_store_url(store))) as opened:
        repo = ServiceRepository.of_store(opened)
        integrations, count = keys.rotate_key(repo, old, new)
        AuditLog(repo).record(
            cli_actor(),
            AuditAction.KEY_ROTATED,
            detail=f"{count} secret(s) of {integrations} integration(s) re-encrypted",
        )
    made = "a new key written to" if created else "the key in"
    print(
        f"{count} secret(s) of {integrations} integration(s) re-encrypted under {made} "
        f"{new_key_file}; now set {keys.KEY_FILE_ENV}={new_key_file} (and unset "
        f"{keys.KEY_ENV}) for serve and every learnsync command, start serve again, and destroy "
        "the old key once no backup of the store made before now is kept"
    )


@integrations_app.command("import")
@guarded
def import_integration(
    config: Annotated[Path, typer.Option("--config", help="A learnsync TOML config file.")],
    name: Annotated[str, typer.Option("--name", help="The integration's name in learnsync.")] = (
        "Coursera"
    ),
    store: StoreOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Import (or update, by name) an integration from a config file; secrets get encrypted."""
    from learnsync.config import load_config
    from learnsync.service.integrations import input_from_config

    settings = load_config(config)
    service = _service(store or settings.store_url)
    try:
        existing = next((i for i in service.repo.list_integrations() if i.label == name), None)
        new_id = service.integrations.save(
            input_from_config(settings, name),
            existing.id if existing else None,
            trusted=True,  # the operator's own config file, as for a --config run
        )
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    finally:
        service.close()
    print(f"integration {name!r} {'updated' if existing else 'imported'} (id {new_id})")


@app.command("serve")
@guarded
def serve(
    host: Annotated[str, typer.Option("--host", help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8400,
    sandbox: Annotated[
        bool,
        typer.Option(
            "--sandbox", help="Start both simulators, a throw-away store and key, an admin."
        ),
    ] = False,
    store: StoreOpt = None,
    no_scheduler: Annotated[bool, typer.Option("--no-scheduler", help="Do not run schedules.")] = (
        False
    ),
    debug: DebugOpt = False,
) -> None:
    """Run the admin web app and the scheduler."""
    import contextlib
    import logging

    import uvicorn

    from learnsync.service.logs import configure_json_logging
    from learnsync.service.runs import run_workers_from_env
    from learnsync.service.scheduler import spread_from_env
    from learnsync.sync.context import retention_from_env
    from learnsync.web import create_app
    from learnsync.workers.fleet import broker_url_from_env

    retention_from_env()  # LEARNSYNC_RETENTION_DAYS, read by every run: a bad value stops here
    run_workers_from_env()  # LEARNSYNC_RUN_WORKERS, the executor's pool: likewise
    spread_from_env()  # LEARNSYNC_SCHEDULE_SPREAD: likewise
    broker = broker_url_from_env()  # LEARNSYNC_BROKER_URL: runs go to the fleet
    listener = _listen(host, port)  # a port in use is said before anything starts
    port = listener.getsockname()[1]
    configure_json_logging(logging.DEBUG if debug else logging.INFO)
    with listener, contextlib.ExitStack() as stack:
        if sandbox:
            from learnsync.sandbox.stack import running_stack
            from learnsync.sandbox.world import World

            sims = stack.enter_context(running_stack(World(seed=42, catalog_size=300)))
            workdir = Path(tempfile.mkdtemp(prefix="learnsync-serve-"))
            store = store or f"sqlite:///{workdir / 'learnsync.db'}"
        service = _service(store, sandbox=sandbox, broker=broker)
        stack.callback(service.close)
        if sandbox:
            _sandbox_setup(service, sims, workdir, host, port)
        # runs left queued by an earlier process run now (on the pool, or handed to the fleet)
        service.runs.start_executor()
        # one scheduler acts per store (a role in the database): a second serve stands by
        scheduler = service.scheduler()
        if not no_scheduler:
            scheduler.start()
            stack.callback(scheduler.stop)
        web = create_app(
            service, secure_cookies=not sandbox and host not in ("127.0.0.1", "localhost")
        )
        # log_config=None: uvicorn's own loggers (uvicorn.error: tracebacks, invalid requests)
        # propagate to the JSON handler configured above, never print plain text
        config = uvicorn.Config(web, host=host, port=port, log_level="warning", log_config=None)
        server = uvicorn.Server(config)
        server.run(sockets=[listener])


@app.command("scheduler")
@guarded
def scheduler(
    store: StoreOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Run the schedules of a fleet: submit due runs and hand them to the workers (one acts per
    store, a second stands by); also re-hands runs of workers that died."""
    import logging
    import signal
    import threading

    from learnsync.service.logs import configure_json_logging
    from learnsync.service.scheduler import spread_from_env
    from learnsync.sync.context import retention_from_env
    from learnsync.workers.fleet import BROKER_ENV

    url, broker = _fleet_member(
        store,
        "learnsync scheduler",
        f"learnsync scheduler hands runs to the fleet's workers: set {BROKER_ENV} "
        "(without a broker, learnsync serve runs the schedules itself)",
    )
    retention_from_env()
    spread_from_env()
    configure_json_logging(logging.DEBUG if debug else logging.INFO)
    stopping = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.set())
    service = _service(url, broker=broker)
    try:
        service.runs.start_executor()  # the sweep: queued runs and dead workers' runs handed
        ticking = service.scheduler()
        ticking.start()
        logging.getLogger("learnsync.service.scheduler").info("scheduler started")
        stopping.wait()
        ticking.stop()  # hands the role over at once
    finally:
        service.close()


@app.command("worker")
@guarded
def worker(
    concurrency: Annotated[
        int,
        typer.Option(
            "--concurrency", min=1, max=64, help="Runs this worker executes at once (processes)."
        ),
    ] = 2,
    queues: Annotated[
        str | None,
        typer.Option(
            "--queues",
            help="Comma-separated queues to take runs from, the first first (default: "
            "QUEUE.priority,QUEUE with QUEUE $LEARNSYNC_BROKER_QUEUE or learnsync).",
        ),
    ] = None,
    store: StoreOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Execute the runs serve hands to the fleet ($LEARNSYNC_BROKER_URL, a PostgreSQL store)."""
    import logging

    from learnsync.service.logs import configure_json_logging
    from learnsync.service.secrets import secret_box_from_env
    from learnsync.store import Store
    from learnsync.sync.context import retention_from_env
    from learnsync.workers.fleet import (
        BROKER_ENV,
        Presence,
        default_queues,
        limits_url_from_env,
        make_app,
        queue_from_env,
        worker_name,
    )
    from learnsync.workers.fleet import set_store as set_worker_store

    url, broker = _fleet_member(
        store,
        "learnsync worker",
        f"learnsync worker needs {BROKER_ENV}, the broker serve hands runs to: set it to "
        "redis://HOST:6379/0 or amqp://USER:PASSWORD@HOST:5672// for serve and every worker",
    )
    given = queues.split(",") if queues is not None else default_queues(queue_from_env())
    names = [q.strip() for q in given if q.strip()]
    if not names:
        raise ConfigError("--queues names no queue: give one or more names, comma-separated")
    limits_url = limits_url_from_env(broker)  # the shared request limits: likewise
    retention_from_env()  # read by every run: a bad value stops here
    secret_box_from_env()  # the integrations' secrets are decrypted by the runs: likewise
    with Store.open(url):  # reachable, and migrated, before any run is taken
        pass
    configure_json_logging(logging.DEBUG if debug else logging.INFO)
    set_worker_store(url, limits_url)
    fleet = make_app(broker, names[-1])
    name = worker_name()
    runner = fleet.Worker(
        hostname=name,
        concurrency=concurrency,
        queues=names,
        loglevel="DEBUG" if debug else "INFO",
        without_gossip=True,
        without_mingle=True,
        quiet=True,
    )
    with Presence(url, name, concurrency, names):  # counted as alive while it runs
        runner.start()  # SIGTERM: warm shutdown, the runs going finish first
    if runner.exitcode:
        raise typer.Exit(runner.exitcode)


def _listen(host: str, port: int) -> socket.socket:
    """The web app's socket, bound (uvicorn listens on it); a refused bind is one clear line."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise LearnsyncError(
                f"port {port} on {host} is already in use: stop the program listening there "
                "or choose another with --port"
            ) from None
        raise LearnsyncError(
            f"cannot listen on port {port} of {host}: {exc.strerror or exc}: "
            "choose another --host or --port"
        ) from None
    return sock


def _sandbox_setup(service, sims, workdir: Path, host: str, port: int) -> None:  # type: ignore[no-untyped-def]
    from learnsync.config import parse_config
    from learnsync.service.integrations import input_from_config

    password = secrets.token_urlsafe(12)
    service.auth.create_user("admin", password)
    import tomllib

    raw = tomllib.loads(sims.config_toml(service.store_url))
    service.integrations.save(input_from_config(parse_config(raw), "Coursera (sandbox)"))
    print(
        "\n".join(
            [
                "learnsync serve --sandbox: simulators of Coursera and 360Learning are running",
                f"  Coursera simulator    {sims.coursera_url}",
                f"  360Learning simulator {sims.threesixty_url}",
                f"  store                 {workdir}",
                f"open http://{host}:{port}/ and sign in as admin / {password}",
                "(sandbox only: a throw-away key and password; never use --sandbox for real data)",
            ]
        ),
        flush=True,
    )
