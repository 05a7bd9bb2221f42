"""Where the service lets an integration's secrets go: the endpoint policy (docs/security.md).

An integration's endpoints — the Coursera token URL and API base, the 360Learning platform URL —
receive its secrets. In the service (web form, JSON API, import) they must be ``https`` URLs
without credentials, on a known Coursera or 360Learning host or on a host the operator allows in
the service's own environment (``LEARNSYNC_ALLOWED_HOSTS``, never in the form). A host that is
an IP address, or a name for loopback, private or link-local addresses, is refused unless it is
allowed there; loopback is allowed in sandbox mode (``serve --sandbox``). A ``--config`` run on
the command line is the operator's own file and is not judged here.

Changing an endpoint also requires re-entering the secrets that go there
(:func:`secrets_needed`): a session cannot send stored secrets to a host of its choosing.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from learnsync.errors import ConfigError

ALLOWED_HOSTS_ENV = "LEARNSYNC_ALLOWED_HOSTS"

# the hosts of the real APIs (docs/api-notes.md): Coursera's two token flows and 360Learning's
# two regions
KNOWN_HOSTS: Mapping[str, frozenset[str]] = {
    "coursera": frozenset({"api.coursera.org", "accounts.coursera.org", "api.coursera.com"}),
    "threesixty": frozenset({"app.360learning.com", "app.us.360learning.com"}),
}

# setting → (which API, its label on the settings page, the secret fields that go there)
ENDPOINTS: Mapping[str, tuple[str, str, tuple[str, ...]]] = {
    "coursera_token_url": (
        "coursera",
        "Coursera token URL",
        ("coursera_client_secret", "coursera_refresh_token"),
    ),
    "coursera_api_base": (
        "coursera",
        "Coursera API base",
        ("coursera_client_secret", "coursera_refresh_token"),
    ),
    "threesixty_base_url": (
        "threesixty",
        "360Learning platform URL",
        ("threesixty_client_secret",),
    ),
}

SECRET_LABELS = {
    "coursera_client_secret": "Coursera client secret",
    "coursera_refresh_token": "Coursera refresh token",
    "threesixty_client_secret": "360Learning client secret",
}

_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


@dataclass(frozen=True)
class EndpointPolicy:
    """Which endpoint hosts the service accepts beyond the known ones.

    ``allowed``: hosts (``name`` or ``name:port``) the operator allows; for them ``http`` and
    non-public addresses are accepted too (a proxy, a staging tenant, a local simulator).
    ``sandbox``: loopback hosts are allowed (``serve --sandbox`` and the tests' simulators).
    """

    allowed: frozenset[str] = field(default_factory=frozenset)
    sandbox: bool = False

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, *, sandbox: bool = False
    ) -> EndpointPolicy:
        """``LEARNSYNC_ALLOWED_HOSTS``: comma-separated hosts (``host`` or ``host:port``)."""
        raw = (os.environ if env is None else env).get(ALLOWED_HOSTS_ENV, "")
        hosts = frozenset(h.strip().lower() for h in raw.split(",") if h.strip())
        for host in hosts:
            if "/" in host or "@" in host or " " in host:
                raise ConfigError(
                    f"{ALLOWED_HOSTS_ENV}: {host!r} is not a host: give host names or "
                    "host:port, separated by commas"
                )
        return cls(hosts, sandbox)

    def check(self, setting: str, url: str) -> None:
        """Refuse ``url`` for the endpoint ``setting`` with one line naming the field."""
        api, label, _secrets = ENDPOINTS[setting]
        parts = urlsplit(url.strip())
        host = (parts.hostname or "").lower()
        if not host or parts.scheme not in ("https", "http"):
            raise ConfigError(f"{label}: give an https:// URL")
        if parts.username is not None or parts.password is not None:
            raise ConfigError(f"{label}: a URL must not carry a user name or password")
        try:
            port = parts.port
        except ValueError:
            raise ConfigError(f"{label}: the URL's port is not a number") from None
        with_port = f"{host}:{port}" if port is not None else host
        if host in self.allowed or with_port in self.allowed:
            return  # the operator's choice, http and private addresses included
        if self.sandbox and _loopback(host):
            return
        if parts.scheme != "https":
            raise ConfigError(f"{label}: give an https:// URL (secrets are sent there)")
        if host in KNOWN_HOSTS[api]:
            return
        if _ip_or_local(host):
            raise ConfigError(
                f"{label}: {host} is an address, not a {_API_NAMES[api]} host; an operator can "
                f"allow it in {ALLOWED_HOSTS_ENV}"
            )
        raise ConfigError(
            f"{label}: {host} is not a {_API_NAMES[api]} host "
            f"({', '.join(sorted(KNOWN_HOSTS[api]))}); an operator can allow it in "
            f"{ALLOWED_HOSTS_ENV}"
        )

    def check_all(self, settings: Mapping[str, object]) -> None:
        for setting in ENDPOINTS:
            value = settings.get(setting)
            if isinstance(value, str) and value.strip():
                self.check(setting, value)


_API_NAMES = {"coursera": "Coursera", "threesixty": "360Learning"}


def _loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _ip_or_local(host: str) -> bool:
    """An IP literal (any: public ones are not API hosts either) or a local-only name."""
    if host in _LOOPBACK_NAMES or host.endswith((".local", ".localhost", ".internal")):
        return True
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def secrets_needed(
    old: Mapping[str, object], new: Mapping[str, object], given: Iterable[str]
) -> list[str]:
    """The secret fields that must be entered again because an endpoint they go to changed
    (``given``: the secret fields entered now); empty when none is missing."""
    entered = set(given)
    unused = (
        {"coursera_refresh_token"} if new.get("coursera_auth") == "client_credentials" else set()
    )
    missing: list[str] = []
    for setting, (_api, _label, secrets) in ENDPOINTS.items():
        if _normal(old.get(setting)) == _normal(new.get(setting)):
            continue
        missing.extend(s for s in secrets if s not in entered | unused and s not in missing)
    return missing


def secrets_message(
    changed: Mapping[str, object], old: Mapping[str, object], missing: list[str]
) -> str:
    """The one line that asks for the secrets of a changed endpoint again."""
    labels = [ENDPOINTS[s][1] for s in ENDPOINTS if _normal(old.get(s)) != _normal(changed.get(s))]
    needed = " and ".join(SECRET_LABELS[m] for m in missing)
    return (
        f"the {' and '.join(labels)} changed: enter the {needed} again (the stored secrets are "
        "never sent to a new endpoint)"
    )


def _normal(value: object) -> str:
    return str(value or "").strip().rstrip("/").lower()
