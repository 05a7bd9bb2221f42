"""Linux network namespaces and TCP relays for tests that run processes as if on other hosts.

:func:`namespaces` creates network namespaces (``ip netns add``), each joined to the root
namespace by a veth pair on a /30 of its own: the root side is the namespace's gateway (its
default route), the namespace side its only address. A namespace's loopback stays down and
127.0.0.0/8 is unreachable in it: a process there reaches nothing on ``127.0.0.1``, only what
listens on a root-side address.
:class:`Relay` is such a listener: a threaded TCP forwarder on a root-side address to a service
that listens on loopback only (PostgreSQL, Redis), so those need no reconfiguration.

Needs root and iproute2's ``ip``: :func:`unavailable` says why not when they are missing.
Everything is removed on exit (links, namespaces), whatever happened in the block.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import socket
import subprocess
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass


def unavailable() -> str | None:
    """Why network namespaces cannot be made here (not root, no ``ip``), or ``None``."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "network namespaces need root (ip netns add)"
    if shutil.which("ip") is None:
        return "network namespaces need iproute2's ip command"
    return None


def ip(*args: str) -> str:
    """``ip ARGS``; its stdout. A failure raises with ip's own message."""
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=15)
    if done.returncode != 0:
        raise NamespaceError(f"ip {' '.join(args)}: {done.stderr.strip() or done.returncode}")
    return done.stdout


class NamespaceError(RuntimeError):
    """A namespace or its link could not be made."""


@dataclass(frozen=True)
class Namespace:
    name: str  # for ip netns exec
    link: str  # the root side of the veth pair
    gateway: str  # the root side's address: what a process in the namespace can reach
    address: str  # the namespace side's address

    def command(self, *argv: str) -> list[str]:
        """``argv`` run inside this namespace."""
        return ["ip", "netns", "exec", self.name, *argv]


def _free_subnet() -> tuple[int, int]:
    """Two octets ``a.b`` such that no address of this host is in 10.a.b.0/24 (the namespaces'
    /30s are carved from it): parallel test runs pick their own."""
    taken = ip("-4", "-o", "addr", "show")
    rng = random.SystemRandom()
    for _ in range(100):
        a, b = rng.randrange(128, 255), rng.randrange(0, 256)
        if f" 10.{a}.{b}." not in taken:
            return a, b
    raise NamespaceError("no free 10.x.y.0/24 for the test's namespaces")


@contextlib.contextmanager
def namespaces(count: int) -> Iterator[list[Namespace]]:
    """``count`` network namespaces, each behind its own veth pair and /30 (names unique to
    this call); deleted on exit."""
    tag = uuid.uuid4().hex[:6]
    a, b = _free_subnet()
    made: list[Namespace] = []
    with contextlib.ExitStack() as cleanup:
        for index in range(count):
            name = f"learnsync-{tag}-{index}"
            link, peer = f"ls{tag}h{index}", f"ls{tag}n{index}"  # ≤ 15 characters
            gateway, address = f"10.{a}.{b}.{4 * index + 1}", f"10.{a}.{b}.{4 * index + 2}"
            ip("netns", "add", name)
            cleanup.callback(_quietly, "netns", "delete", name)
            ip("link", "add", link, "type", "veth", "peer", "name", peer)
            cleanup.callback(_quietly, "link", "delete", link)  # deletes the pair
            ip("link", "set", peer, "netns", name)
            ip("addr", "add", f"{gateway}/30", "dev", link)
            ip("link", "set", link, "up")
            inside = ("netns", "exec", name, "ip")
            ip(*inside, "addr", "add", f"{address}/30", "dev", peer)
            ip(*inside, "link", "set", peer, "up")
            ip(*inside, "route", "add", "default", "via", gateway)
            # loopback down leaves 127.0.0.0/8 to the default route (a root host drops it, or
            # delivers it with route_localnet): unreachable, whatever the root host's sysctls
            ip(*inside, "route", "add", "unreachable", "127.0.0.0/8")
            made.append(Namespace(name, link, gateway, address))
        yield made


def _quietly(*args: str) -> None:
    with contextlib.suppress(NamespaceError, OSError, subprocess.SubprocessError):
        ip(*args)


class Relay:
    """A TCP forwarder: listens on ``host`` (an ephemeral port, :attr:`port`) and pipes every
    connection to ``target``. :attr:`connections` counts the connections it relayed."""

    def __init__(self, host: str, target: tuple[str, int]) -> None:
        self.host = host
        self.target = target
        self.connections = 0
        self._listener = socket.create_server((host, 0))
        self._listener.settimeout(0.2)  # the accept loop looks at _stopping this often
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()
        self._acceptor = threading.Thread(
            target=self._accept, name=f"relay-{host}:{self.port}", daemon=True
        )
        self._acceptor.start()

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                if self._stopping.is_set():
                    client.close()
                    upstream.close()
                    return
                self._open |= {client, upstream}
                self.connections += 1
                pair = _Pair(self, client, upstream)
                for source, sink in ((client, upstream), (upstream, client)):
                    thread = threading.Thread(
                        target=pair.pump, args=(source, sink), name="relay-pump", daemon=True
                    )
                    self._threads.append(thread)
                    thread.start()

    def _forget(self, *socks: socket.socket) -> None:
        with self._lock:
            for sock in socks:
                self._open.discard(sock)
                sock.close()

    def close(self) -> None:
        """Stop listening and cut every relayed connection."""
        with self._lock:
            self._stopping.set()
            live = list(self._open)
            threads = list(self._threads)
        self._acceptor.join(5)
        self._listener.close()
        for sock in live:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        for thread in threads:
            thread.join(5)
        with self._lock:
            for sock in self._open:
                sock.close()
            self._open.clear()


class _Pair:
    """One relayed connection: two pumps; the second to end closes both sockets."""

    def __init__(self, relay: Relay, client: socket.socket, upstream: socket.socket) -> None:
        self.relay, self.client, self.upstream = relay, client, upstream
        self.running = 2
        self.lock = threading.Lock()

    def pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                sink.sendall(data)
        except OSError:  # reset, or cut by close(): both ways end
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
        else:
            with contextlib.suppress(OSError):
                sink.shutdown(socket.SHUT_WR)  # the other way may still carry data
        with self.lock:
            self.running -= 1
            last = self.running == 0
        if last:
            self.relay._forget(self.client, self.upstream)
