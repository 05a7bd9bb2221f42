"""``learnsync coursera authorize``: get a Coursera refresh token (authorization-code flow).

The command prints the authorization URL (and opens it in a browser unless ``--no-browser``),
receives the redirect on ``http://localhost:<port>/callback``, checks its ``state``, trades the
code for a refresh token and stores it — never printing it unless ``--print`` is given:

- ``--integration NAME``: into the service store, encrypted (needs the service's secret key);
- otherwise: into the config file itself (the ``refresh_token`` line of ``[coursera]`` is
  replaced or added; every other line is kept).

The redirect URI registered for the Coursera app must be ``http://localhost:<port>/callback``.
"""

from __future__ import annotations

import os
import re
import secrets
import threading
import tomllib
import webbrowser
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Annotated
from urllib.parse import parse_qs, urlparse

import typer

from learnsync.cli.main import DebugOpt, app, guarded
from learnsync.config import Config, parse_config
from learnsync.errors import AuthError, ConfigError

coursera_app = typer.Typer(no_args_is_help=True, help="Coursera helpers.")
app.add_typer(coursera_app, name="coursera")

_PLACEHOLDER = "pending-authorization"
_DONE_PAGE = (
    b"<!doctype html><title>learnsync</title><h1>learnsync is authorized</h1>"
    b"<p>You can close this window and go back to the terminal.</p>"
)


@dataclass
class Callback:
    code: str | None = None
    state: str | None = None
    error: str | None = None


def _first(query: dict[str, list[str]], name: str) -> str | None:
    """The first value of a query parameter (``parse_qs`` drops blank ones), or None."""
    values = query.get(name)
    return values[0] if values else None


class CallbackServer:
    """A one-shot HTTP server on loopback that waits for ``GET /callback?code=…&state=…``."""

    def __init__(self, port: int) -> None:
        self.result = Callback()
        self.received = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parsed = urlparse(self.path)
                if parsed.path != "/callback":
                    self.send_error(404)
                    return
                query = parse_qs(parsed.query)
                outer.result = Callback(
                    code=_first(query, "code"),
                    state=_first(query, "state"),
                    error=_first(query, "error"),
                )
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.end_headers()
                self.wfile.write(_DONE_PAGE)
                outer.received.set()

            def log_message(self, *_args: object) -> None:  # the query carries the code
                return

        try:
            self.server = HTTPServer(("127.0.0.1", port), Handler)
        except OSError as exc:
            raise ConfigError(
                f"cannot listen on localhost:{port} ({exc.strerror or exc}): choose another "
                "port with --port (and register its redirect URI with the Coursera app)"
            ) from None
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def redirect_uri(self) -> str:
        return f"http://localhost:{self.port}/callback"

    def __enter__(self) -> CallbackServer:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def wait(self, timeout: float) -> Callback:
        if not self.received.wait(timeout):
            raise AuthError(
                f"no answer from Coursera within {timeout:.0f} s: open the URL above, sign in "
                "with the service account and grant access, then run the command again"
            )
        return self.result


def read_app_settings(path: Path) -> Config:
    """The config file's Coursera app (a missing ``refresh_token`` is what we are here for)."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    coursera = raw.setdefault("coursera", {})
    if isinstance(coursera, dict) and not coursera.get("refresh_token"):
        coursera["refresh_token"] = _PLACEHOLDER
    config = parse_config(raw, source=str(path), env=os.environ, path=path)
    if config.coursera.auth != "refresh_token":
        raise ConfigError(
            f"{path}: [coursera] auth is {config.coursera.auth!r}; only an App Console app "
            "(auth = 'refresh_token') needs a refresh token"
        )
    return config


_SECTION = re.compile(r"^\s*\[([^\]]+)\]\s*$")
_TOKEN_LINE = re.compile(r"^\s*refresh_token\s*=")
_TOML_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\f": "\\f",
    "\r": "\\r",
}


def toml_string(value: str) -> str:
    """``value`` as a TOML basic string (quoted; ``"``, ``\\`` and every control character
    escaped, as the TOML 1.0 spec requires)."""
    out = []
    for ch in value:
        if ch in _TOML_ESCAPES:
            out.append(_TOML_ESCAPES[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def write_token_to_file(path: Path, token: str) -> None:
    """Replace (or add) ``refresh_token`` in ``[coursera]``; keep every other line as it is.

    The new file is written to a temporary file created private (0600) next to it, checked
    (it must parse as TOML, with this token and every other value unchanged) and renamed over
    the old one. The result keeps the old file's owner and group permissions, never access for
    other users: the file holds secrets."""
    original = path.read_text(encoding="utf-8")
    lines = original.splitlines(keepends=True)
    value = f"refresh_token = {toml_string(token)}\n"
    section = None
    header_at: int | None = None
    for n, line in enumerate(lines):
        found = _SECTION.match(line)
        if found:
            section = found.group(1).strip()
            if section == "coursera":
                header_at = n
            continue
        if section == "coursera" and _TOKEN_LINE.match(line):
            lines[n] = value
            break
    else:
        if lines and not lines[-1].endswith("\n"):
            lines[-1] += "\n"
        if header_at is None:
            lines += ["\n", "[coursera]\n", value]
        else:
            lines.insert(header_at + 1, value)
    text = "".join(lines)
    _check_rewrite(path, original, text, token)
    mode = (path.stat().st_mode & 0o770) if path.exists() else 0o600
    temp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temp, mode | 0o600)
        os.replace(temp, path)
    except OSError as exc:
        temp.unlink(missing_ok=True)
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from None


def _check_rewrite(path: Path, before: str, after: str, token: str) -> None:
    """The rewritten file must say what the old one said, with this refresh token."""
    try:
        old, new = tomllib.loads(before), tomllib.loads(after)
    except tomllib.TOMLDecodeError:
        old, new = {}, {}
    old_coursera, new_coursera = old.setdefault("coursera", {}), new.get("coursera")
    if (
        isinstance(new_coursera, dict)
        and isinstance(old_coursera, dict)
        and new_coursera.get("refresh_token") == token
    ):
        old_coursera["refresh_token"] = token
        if old == new:
            return
    raise ConfigError(
        f"cannot update [coursera] refresh_token in {path} automatically (its refresh_token "
        "line is not a one-line value): remove that line and run the command again"
    )


def authorize(
    config: Config,
    *,
    port: int,
    open_browser: bool,
    timeout: float,
    echo: Callable[..., None],
) -> str:
    """Run the flow; returns the refresh token (the caller stores it)."""
    from learnsync.clients.coursera.auth import build_authorize_url, exchange_code

    state = secrets.token_urlsafe(16)
    with CallbackServer(port) as server:
        url = build_authorize_url(config.coursera, server.redirect_uri, state)
        echo("Open this URL, sign in with the Coursera service account and grant access:")
        echo(url)
        echo(f"(waiting for the redirect to {server.redirect_uri})")
        if open_browser:
            webbrowser.open(url)
        answer = server.wait(timeout)
    if answer.error:
        raise AuthError(f"Coursera refused the authorization ({answer.error}): try again")
    if not answer.state or not secrets.compare_digest(answer.state, state):
        raise AuthError("the redirect's state does not match this request: run the command again")
    if not answer.code:
        raise AuthError("the redirect carries no authorization code: run the command again")
    return exchange_code(config.coursera, answer.code, server.redirect_uri)


@coursera_app.command("authorize")
@guarded
def authorize_command(
    config: Annotated[
        Path, typer.Option("--config", help="A learnsync TOML config file (the app).")
    ],
    port: Annotated[
        int, typer.Option("--port", help="Local port of the redirect URI (0: any free one).")
    ] = 9876,
    no_browser: Annotated[
        bool, typer.Option("--no-browser", help="Only print the URL; do not open a browser.")
    ] = False,
    integration: Annotated[
        str | None,
        typer.Option("--integration", help="Store the token in this service integration."),
    ] = None,
    store: Annotated[
        str | None, typer.Option("--store", help="Service database URL (with --integration).")
    ] = None,
    print_token: Annotated[
        bool, typer.Option("--print", help="Print the token instead of storing it.")
    ] = False,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds to wait.")] = 300.0,
    debug: DebugOpt = False,
) -> None:
    """Get a Coursera refresh token with the authorization-code flow and store it."""
    settings = read_app_settings(config)
    token = authorize(
        settings, port=port, open_browser=not no_browser, timeout=timeout, echo=typer.echo
    )
    if print_token:
        typer.echo(token)
        return
    if integration is None:
        write_token_to_file(config, token)
        typer.echo(f"refresh token saved in {config} ([coursera] refresh_token)")
        return
    from learnsync.cli.service import _service
    from learnsync.service.integrations import IntegrationInput

    service = _service(store or settings.store_url)
    try:
        found = next((i for i in service.repo.list_integrations() if i.label == integration), None)
        if found is None:
            raise ConfigError(
                f"no integration named {integration!r} in the service store: check --integration"
                " and --store (or import the config first: learnsync integrations import)"
            )
        from learnsync.web.views import input_of

        data: IntegrationInput = input_of(found)
        data.coursera_refresh_token = token
        service.integrations.save(data, found.id)
    finally:
        service.close()
    typer.echo(f"refresh token saved (encrypted) in integration {integration!r}")
