"""``learnsync serve``, ``learnsync admin create-user``, ``learnsync integrations import``."""

from __future__ import annotations

import errno
import getpass
import os
import secrets
import socket
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from learnsync.cli.main import DebugOpt, app, guarded
from learnsync.errors import ConfigError, LearnsyncError

STORE_ENV = "LEARNSYNC_STORE_URL"
admin_app = typer.Typer(no_args_is_help=True, help="Administrators of the web app.")
integrations_app = typer.Typer(no_args_is_help=True, help="Integrations of the service.")
app.add_typer(admin_app, name="admin")
app.add_typer(integrations_app, name="integrations")

StoreOpt = Annotated[
    str | None,
    typer.Option(
        "--store", help=f"Database URL (default: ${STORE_ENV} or sqlite:///learnsync.db)."
    ),
]


def _store_url(given: str | None) -> str:
    return given or os.environ.get(STORE_ENV) or "sqlite:///learnsync.db"


def _service(store: str | None, *, sandbox: bool = False):  # type: ignore[no-untyped-def]
    from learnsync.service.core import Service
    from learnsync.service.endpoints import EndpointPolicy
    from learnsync.service.secrets import secret_box_from_env

    return Service(
        _store_url(store),
        secret_box_from_env(sandbox=sandbox),
        endpoints=EndpointPolicy.from_env(sandbox=sandbox),
    )


@admin_app.command("create-user")
@guarded
def create_user(
    username: Annotated[str, typer.Argument(help="The administrator's user name.")],
    store: StoreOpt = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
    debug: DebugOpt = False,
) -> None:
    """Create an administrator of the web app (the password is asked, never an argument)."""
    import sys

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    elif not sys.stdin.isatty():
        raise ConfigError(
            "no terminal to ask the password on: give it as one line on standard input "
            "with --password-stdin"
        )
    else:
        try:
            password = getpass.getpass("password: ")
            again = getpass.getpass("again: ")
        except EOFError:
            raise ConfigError("no password given: run the command again") from None
        if again != password:
            raise ConfigError("the two passwords differ: run the command again")
    service = _service(store)
    try:
        service.auth.create_user(username, password)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    finally:
        service.close()
    print(f"administrator {username!r} created")


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
    from learnsync.service.scheduler import Scheduler
    from learnsync.sync.context import retention_from_env
    from learnsync.web import create_app

    retention_from_env()  # LEARNSYNC_RETENTION_DAYS, read by every run: a bad value stops here
    run_workers_from_env()  # LEARNSYNC_RUN_WORKERS, the executor's pool: likewise
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
        service = _service(store, sandbox=sandbox)
        stack.callback(service.close)
        if sandbox:
            _sandbox_setup(service, sims, workdir, host, port)
        service.runs.start_executor()  # runs left queued by an earlier process run now
        scheduler = Scheduler(service.repo, service.runs, clock=service.clock)
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
