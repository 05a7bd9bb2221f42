"""Start ``learnsync sandbox serve`` in another process and read what it prints.

The way an acceptance suite (and the benchmarks) use the simulators: a separate process, driven
only over HTTP.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

LEARNSYNC = Path(sys.executable).with_name("learnsync")


@contextlib.contextmanager
def sandbox_process(*args: str) -> Iterator[dict[str, str]]:
    """Yield ``{"config": TOML text, "coursera_url": …, "threesixty_url": …}``."""
    proc = subprocess.Popen(
        [
            str(LEARNSYNC),
            "sandbox",
            "serve",
            "--coursera-port",
            "0",
            "--threesixty-port",
            "0",
            *args,
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    lines: list[str] = []
    try:
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            if line.strip() == "ready":
                break
        else:
            raise RuntimeError("the sandbox did not start:\n" + "\n".join(lines))
        start = lines.index("# learnsync config for these simulators:") + 1
        config = "\n".join(lines[start:-1]).strip() + "\n"
        urls = {}
        for line in lines:
            if line.startswith("coursera ") and "api_base" in line:
                urls["coursera_url"] = line.split()[1]
            if line.startswith("360learning ") and "client_id=" not in line:
                urls["threesixty_url"] = line.split()[1]
        yield {"config": config, **urls}
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stdout.close()


def read_tenants(simulator_url: str) -> list[dict[str, Any]]:
    """The fleet's tenants with their credentials (``GET /_sandbox/tenants`` of either
    simulator started with ``--tenants N``): one dict per tenant, as ``Tenant.describe()``."""
    answer = httpx.get(f"{simulator_url}/_sandbox/tenants", timeout=30.0)
    answer.raise_for_status()
    tenants: list[dict[str, Any]] = answer.json()["tenants"]
    return tenants


def read_counters(coursera_url: str, threesixty_url: str) -> dict[str, Any]:
    """Both simulators' load counters: ``{"organizations": {org id: …}, "companies": {company
    id: …}}`` (``GET /_sandbox/counters``)."""
    coursera = httpx.get(f"{coursera_url}/_sandbox/counters", timeout=30.0)
    threesixty = httpx.get(f"{threesixty_url}/_sandbox/counters", timeout=30.0)
    coursera.raise_for_status()
    threesixty.raise_for_status()
    return {
        "organizations": coursera.json()["organizations"],
        "companies": threesixty.json()["companies"],
    }


def reset_counters(coursera_url: str, threesixty_url: str) -> None:
    """Zero both simulators' load counters (``DELETE /_sandbox/counters``)."""
    for url in (coursera_url, threesixty_url):
        httpx.delete(f"{url}/_sandbox/counters", timeout=30.0).raise_for_status()
