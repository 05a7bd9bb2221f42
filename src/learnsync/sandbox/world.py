"""The one imaginary company both simulators describe, derived from a seed.

Coursera's simulator serves this world's catalog and enrollment reports; 360Learning's simulator
knows this world's platform: its company, group, author and users. Because both derive from the
same :class:`World`, a learner enrolled on Coursera is (usually) a 360Learning user with the same
e-mail, exactly as in production. Everything is computed from the seed on demand, so a world with
a million enrollment rows costs no memory.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass


def digest(*parts: object) -> bytes:
    """A stable 32-byte digest of the parts (the basis of every generated id and choice)."""
    h = hashlib.blake2b(digest_size=32)
    for part in parts:
        h.update(repr(part).encode())
        h.update(b"\x00")
    return h.digest()


def object_id(*parts: object) -> str:
    """A 24-hex-digit id in the shape of a MongoDB ObjectId (360Learning's ids)."""
    return digest(*parts)[:12].hex()


def coursera_id(*parts: object) -> str:
    """A 22-character URL-safe base64 id in the shape of Coursera's ids."""
    return base64.urlsafe_b64encode(digest(*parts)[:16]).decode().rstrip("=")


def fraction(*parts: object) -> float:
    """A stable pseudo-random number in [0, 1) for the parts."""
    return int.from_bytes(digest(*parts)[:8], "big") / 2**64


@dataclass(frozen=True)
class World:
    """Sizes and credentials of the simulated company. Defaults suit tests and the demo."""

    seed: int = 42
    catalog_size: int = 300
    learners: int = 1_000
    enrollments: int = 3_000
    # share of Coursera learners that 360Learning does not know (e-mail mismatch)
    unknown_learner_ratio: float = 0.01
    email_domain: str = "example.com"
    # benchmarks: every enrollment row is a distinct, deliverable statistic — no two rows of one
    # (content, learner), every learner with an e-mail 360Learning knows, no content the
    # connector skips (the defect items of the catalog get no rows). Tests rely on the default
    # world's edge rows, so it is off by default.
    clean_report: bool = False

    # --- Coursera credentials -------------------------------------------------------------
    @property
    def coursera_org_id(self) -> str:
        return coursera_id(self.seed, "org")

    @property
    def coursera_client_id(self) -> str:
        return coursera_id(self.seed, "client-id")

    @property
    def coursera_client_secret(self) -> str:
        return coursera_id(self.seed, "client-secret")

    @property
    def coursera_refresh_token(self) -> str:
        return "rt-" + coursera_id(self.seed, "refresh-token") + coursera_id(self.seed, "rt2")

    @property
    def coursera_program_ids(self) -> list[str]:
        return [coursera_id(self.seed, "program", n) for n in range(2)]

    # --- 360Learning platform -------------------------------------------------------------
    @property
    def company_id(self) -> str:
        return object_id(self.seed, "company")

    @property
    def group_id(self) -> str:
        """The group the connector synchronizes into."""
        return object_id(self.seed, "group", "sync")

    @property
    def subgroup_id(self) -> str:
        """A public subgroup of :attr:`group_id`."""
        return object_id(self.seed, "group", "public-subgroup")

    @property
    def author_id(self) -> str:
        return object_id(self.seed, "user", "author")

    @property
    def threesixty_client_id(self) -> str:
        return object_id(self.seed, "api-client")

    @property
    def threesixty_client_secret(self) -> str:
        return coursera_id(self.seed, "api-secret") + coursera_id(self.seed, "api-secret-2")

    # --- learners --------------------------------------------------------------------------
    def learner_email(self, n: int) -> str:
        return f"learner{n:07d}@{self.email_domain}"

    def learner_index(self, email: str) -> int | None:
        """The learner number of a generated e-mail (case-insensitive), else ``None``."""
        local, _, domain = email.strip().lower().partition("@")
        if domain != self.email_domain or not local.startswith("learner"):
            return None
        digits = local[len("learner") :]
        if len(digits) != 7 or not digits.isdigit():
            return None
        n = int(digits)
        return n if n < self.learners else None

    def learner_known_to_360(self, n: int) -> bool:
        """Whether 360Learning has a user with learner ``n``'s e-mail."""
        if self.clean_report:
            return True
        return fraction(self.seed, "unknown-learner", n) >= self.unknown_learner_ratio

    def learner_user_id(self, n: int) -> str:
        return object_id(self.seed, "user", n)

    def learner_name(self, n: int) -> str:
        first = _FIRST_NAMES[int(fraction(self.seed, "first", n) * len(_FIRST_NAMES))]
        last = _LAST_NAMES[int(fraction(self.seed, "last", n) * len(_LAST_NAMES))]
        return f"{first} {last}"


_FIRST_NAMES = [
    "Alice", "Bruno", "Chloé", "Dmitri", "Elena", "Farid", "Grace", "Hiro", "Inès", "João",
    "Kavya", "Léa", "Mateo", "Nadia", "Oskar", "Priya", "Quentin", "Rosa", "Sven", "Tomás",
    "Uma", "Victor", "Wen", "Ximena", "Yusuf", "Zoé",
]  # fmt: skip
_LAST_NAMES = [
    "Martin", "Schmidt", "García", "Rossi", "Nowak", "Dubois", "Silva", "Tanaka", "Kim", "Chen",
    "Müller", "Bernard", "Kowalski", "Moreau", "Santos", "Ivanova", "Patel", "Okafor", "Larsen",
]  # fmt: skip
