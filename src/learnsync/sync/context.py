"""What a pipeline run needs: the two API clients, the store and the integration's record."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from learnsync.clients.coursera.client import CourseraClient
from learnsync.clients.threesixty.client import ThreeSixtyClient
from learnsync.config import Config
from learnsync.errors import ConfigError, LearnsyncError
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


def open_store(config: Config) -> Store:
    try:
        return Store.open(config.store_url)
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


def open_clients(config: Config) -> Clients:
    return Clients(
        coursera=CourseraClient(config.coursera),
        threesixty=ThreeSixtyClient(config.threesixty),
    )
