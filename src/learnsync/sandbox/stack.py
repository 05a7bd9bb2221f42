"""Both simulators running together on loopback, and a learnsync config that points at them.

Used by ``learnsync sandbox serve``, ``learnsync demo``, the end-to-end tests and the benchmarks.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from learnsync.sandbox.clock import SimClock
from learnsync.sandbox.coursera.app import create_app as create_coursera_app
from learnsync.sandbox.coursera.state import CourseraSim
from learnsync.sandbox.serving import serve_in_thread
from learnsync.sandbox.tenants import SIZE_MIX, Fleet, SizeTier, Tenant
from learnsync.sandbox.threesixty.app import create_app as create_threesixty_app
from learnsync.sandbox.threesixty.fleet import Companies
from learnsync.sandbox.threesixty.state import ThreeSixtySim
from learnsync.sandbox.world import World

__all__ = [
    "SIZE_MIX",
    "Fleet",
    "SizeTier",
    "Stack",
    "Tenant",
    "config_toml",
    "running_stack",
    "tenant_config_toml",
]


@dataclass
class Stack:
    world: World
    coursera: CourseraSim
    threesixty: ThreeSixtySim
    coursera_url: str
    threesixty_url: str
    fleet: Fleet | None = None
    companies: Companies | None = None

    def config_toml(self, store_url: str = "sqlite:///learnsync.db", **sync: bool) -> str:
        return config_toml(self.world, self.coursera_url, self.threesixty_url, store_url, **sync)

    def tenant_config_toml(
        self, tenant: Tenant, store_url: str = "sqlite:///learnsync.db", **sync: bool
    ) -> str:
        return tenant_config_toml(tenant, self.coursera_url, self.threesixty_url, store_url, **sync)


def config_toml(
    world: World,
    coursera_url: str,
    threesixty_url: str,
    store_url: str = "sqlite:///learnsync.db",
    **sync: bool,
) -> str:
    """A learnsync config file for the simulators of ``world`` served at the given base URLs."""
    return _render(
        store_url,
        coursera_url,
        threesixty_url,
        {
            "org_id": world.coursera_org_id,
            "client_id": world.coursera_client_id,
            "client_secret": world.coursera_client_secret,
            "refresh_token": world.coursera_refresh_token,
        },
        {
            "client_id": world.threesixty_client_id,
            "client_secret": world.threesixty_client_secret,
            "group_id": world.group_id,
            "author_id": world.author_id,
        },
        sync,
    )


def tenant_config_toml(
    tenant: Tenant,
    coursera_url: str,
    threesixty_url: str,
    store_url: str = "sqlite:///learnsync.db",
    **sync: bool,
) -> str:
    """A learnsync config file for one fleet tenant (``sandbox serve --tenants N``)."""
    described = tenant.describe()
    coursera: dict[str, Any] = described["coursera"]
    threesixty: dict[str, Any] = described["threesixty"]
    return _render(
        store_url,
        coursera_url,
        threesixty_url,
        {k: coursera[k] for k in ("org_id", "client_id", "client_secret", "refresh_token")},
        {k: threesixty[k] for k in ("client_id", "client_secret", "group_id", "author_id")},
        sync,
    )


def _render(
    store_url: str,
    coursera_url: str,
    threesixty_url: str,
    coursera: dict[str, str],
    threesixty: dict[str, str],
    sync: dict[str, bool],
) -> str:
    lines = [
        "[store]",
        f'url = "{store_url}"',
        "",
        "[coursera]",
        f'org_id = "{coursera["org_id"]}"',
        f'client_id = "{coursera["client_id"]}"',
        f'client_secret = "{coursera["client_secret"]}"',
        f'refresh_token = "{coursera["refresh_token"]}"',
        f'api_base = "{coursera_url}/api"',
        f'token_url = "{coursera_url}/oauth2/v1/token"',
        "",
        "[threesixty]",
        f'base_url = "{threesixty_url}"',
        f'client_id = "{threesixty["client_id"]}"',
        f'client_secret = "{threesixty["client_secret"]}"',
        f'group_id = "{threesixty["group_id"]}"',
        f'author_id = "{threesixty["author_id"]}"',
        'integration_name = "Coursera"',
        "",
        "[sync]",
    ]
    settings = {"archive_removed": False, **sync}
    lines += [f"{key} = {'true' if value else 'false'}" for key, value in settings.items()]
    return "\n".join(lines) + "\n"


@contextlib.contextmanager
def running_stack(
    world: World,
    *,
    host: str = "127.0.0.1",
    coursera_port: int = 0,
    threesixty_port: int = 0,
    clock: SimClock | None = None,
    fleet: Fleet | None = None,
    threesixty_switches: dict[str, Any] | None = None,
) -> Iterator[Stack]:
    """Start both simulators (each in its own thread, real sockets); stop them on exit.

    With a ``fleet``, the simulators serve its tenants besides ``world`` (which stays the
    default organization and company); ``threesixty_switches`` (``ThreeSixtySim`` keywords)
    apply to every 360Learning company, the default one included.
    """
    clock = clock or SimClock()
    switches = dict(threesixty_switches or {})
    coursera = CourseraSim(world, clock=clock, fleet=fleet)
    threesixty = ThreeSixtySim(world, clock=clock, **switches)
    companies = (
        Companies(fleet, clock, threesixty.faults, **switches) if fleet is not None else None
    )
    with (
        serve_in_thread(create_coursera_app(coursera), host=host, port=coursera_port) as c_url,
        serve_in_thread(
            create_threesixty_app(threesixty, companies), host=host, port=threesixty_port
        ) as t_url,
    ):
        yield Stack(world, coursera, threesixty, c_url, t_url, fleet, companies)
