"""Both simulators running together on loopback, and a learnsync config that points at them.

Used by ``learnsync sandbox serve``, ``learnsync demo``, the end-to-end tests and the benchmarks.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

from learnsync.sandbox.clock import SimClock
from learnsync.sandbox.coursera.app import create_app as create_coursera_app
from learnsync.sandbox.coursera.state import CourseraSim
from learnsync.sandbox.serving import serve_in_thread
from learnsync.sandbox.threesixty.app import create_app as create_threesixty_app
from learnsync.sandbox.threesixty.state import ThreeSixtySim
from learnsync.sandbox.world import World


@dataclass
class Stack:
    world: World
    coursera: CourseraSim
    threesixty: ThreeSixtySim
    coursera_url: str
    threesixty_url: str

    def config_toml(self, store_url: str = "sqlite:///learnsync.db", **sync: bool) -> str:
        return config_toml(self.world, self.coursera_url, self.threesixty_url, store_url, **sync)


def config_toml(
    world: World,
    coursera_url: str,
    threesixty_url: str,
    store_url: str = "sqlite:///learnsync.db",
    **sync: bool,
) -> str:
    """A learnsync config file for the simulators of ``world`` served at the given base URLs."""
    lines = [
        "[store]",
        f'url = "{store_url}"',
        "",
        "[coursera]",
        f'org_id = "{world.coursera_org_id}"',
        f'client_id = "{world.coursera_client_id}"',
        f'client_secret = "{world.coursera_client_secret}"',
        f'refresh_token = "{world.coursera_refresh_token}"',
        f'api_base = "{coursera_url}/api"',
        f'token_url = "{coursera_url}/oauth2/v1/token"',
        "",
        "[threesixty]",
        f'base_url = "{threesixty_url}"',
        f'client_id = "{world.threesixty_client_id}"',
        f'client_secret = "{world.threesixty_client_secret}"',
        f'group_id = "{world.group_id}"',
        f'author_id = "{world.author_id}"',
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
) -> Iterator[Stack]:
    """Start both simulators (each in its own thread, real sockets); stop them on exit."""
    clock = clock or SimClock()
    coursera = CourseraSim(world, clock=clock)
    threesixty = ThreeSixtySim(world, clock=clock)
    with (
        serve_in_thread(create_coursera_app(coursera), host=host, port=coursera_port) as c_url,
        serve_in_thread(
            create_threesixty_app(threesixty), host=host, port=threesixty_port
        ) as t_url,
    ):
        yield Stack(world, coursera, threesixty, c_url, t_url)
