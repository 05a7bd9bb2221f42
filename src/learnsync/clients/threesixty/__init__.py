"""The 360Learning API v2 client (the target): token, integrations, bulk writes, rate limits."""

from learnsync.clients.threesixty.auth import ThreeSixtyAuth
from learnsync.clients.threesixty.bulk import BULK_KINDS, chunked, limit_for
from learnsync.clients.threesixty.client import INTEGRATION_DEFAULTS, ThreeSixtyClient
from learnsync.clients.threesixty.errors import scope_for

__all__ = [
    "BULK_KINDS",
    "INTEGRATION_DEFAULTS",
    "ThreeSixtyAuth",
    "ThreeSixtyClient",
    "chunked",
    "limit_for",
    "scope_for",
]
