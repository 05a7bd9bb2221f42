"""What a pipeline run needs: the two API clients, the store and the integration's record."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from sqlalchemy.engine import make_url

from learnsync.clients.coursera.client import CourseraClient
from learnsync.clients.threesixty.client import ThreeSixtyClient
from learnsync.config import Config
from learnsync.errors import ConfigError, LearnsyncError
from learnsync.http.shared import SharedLimits
from learnsync.model.ports import CourseraApi, ThreeSixtyApi
from learnsync.store.repository import Store


def _without_password(url: str) -> str:
    """``url`` with the password of its ``user:password@`` part hidden (for messages)."""
    return re.sub(r"(://[^/@:]*:).*@", r"\1***@", url)  # greedy: an unescaped "@" too


def store_exists(url: str) -> bool:
    """False only for a SQLite file that does not exist yet (a dry run must not create it)."""
    try:
        parsed = make_url(url)
    except Exception:
        raise ConfigError(
            f"[store] url {_without_password(url)!r} is not a valid database URL"
        ) from None
    if parsed.get_backend_name() != "sqlite":
        return True
    database = parsed.database or ""
    return database in ("", ":memory:") or Path(database).exists()


RETENTION_ENV = "LEARNSYNC_RETENTION_DAYS"
DEFAULT_RETENTION_DAYS = 180


def retention_from_env(env: Mapping[str, str] | None = None) -> timedelta:
    """How long runs and their audit rows are kept: ``LEARNSYNC_RETENTION_DAYS`` (whole days,
    at least 1; default 180). A bad value is a :class:`ConfigError` (exit 2)."""
    raw = (os.environ if env is None else env).get(RETENTION_ENV, "").strip()
    if not raw:
        return timedelta(days=DEFAULT_RETENTION_DAYS)
    try:
        days = int(raw)
    except ValueError:
        days = 0
    if days < 1 or days > 36_500:
        raise ConfigError(
            f"{RETENTION_ENV}={raw!r} is not a number of days: give a whole number from 1 to "
            f"36500 (default {DEFAULT_RETENTION_DAYS}), or unset it"
        )
    return timedelta(days=days)


def open_store(config: Config) -> Store:
    """The pipelines' store, with the retention of the environment (runs older are pruned as
    each run finishes)."""
    retention = retention_from_env()  # a bad value stops the run before anything is opened
    try:
        return Store.open(config.store_url, retention=retention)
    except LearnsyncError:  # the store's own one-line errors (unreachable, read-only, ...)
        raise
    except Exception as exc:
        raise ConfigError(
            f"cannot open the store at [store] url ({type(exc).__name__}: {exc}); "
            "check the URL and that the database is reachable"
        ) from None


@dataclass
class Clients:
    """The source and the target, as the pipelines see them (:mod:`learnsync.model.ports`):
    :func:`open_clients` puts the real clients here, a test may put fakes."""

    coursera: CourseraApi
    threesixty: ThreeSixtyApi

    def close(self) -> None:
        self.coursera.close()
        self.threesixty.close()


@contextmanager
def pipeline_resources(
    config: Config, clients: Clients | None, *, dry_run: bool
) -> Iterator[tuple[Store | None, Clients]]:
    """The store and the clients of a command-line run, closed at the end (``clients`` given:
    the caller's, left open). A dry run on a SQLite store that does not exist yet gets none:
    it must not create it."""
    own = clients is None
    opened = clients or open_clients(config)
    try:
        store = None if dry_run and not store_exists(config.store_url) else open_store(config)
    except BaseException:
        if own:
            opened.close()
        raise
    try:
        yield store, opened
    finally:
        if own:
            opened.close()
        if store is not None:
            store.close()


def open_clients(config: Config, limits: SharedLimits | None = None) -> Clients:
    """The clients of a run; with ``limits``, their request rates and bulk slots are shared
    with every other run of the same company and organization (the service's runs)."""
    if limits is None:
        return Clients(
            coursera=CourseraClient(config.coursera),
            threesixty=ThreeSixtyClient(config.threesixty),
        )
    limiter, slots = limits.threesixty(config.threesixty.base_url, config.threesixty.client_id)
    return Clients(
        coursera=CourseraClient(
            config.coursera,
            limiter=limits.coursera(config.coursera.api_base, config.coursera.org_id),
        ),
        threesixty=ThreeSixtyClient(config.threesixty, limiter=limiter, slots=slots),
    )
