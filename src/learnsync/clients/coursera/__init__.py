"""The Coursera for Business API client (the source): authentication, paging, typed rows."""

from learnsync.clients.coursera.auth import CourseraAuth, build_authorize_url, exchange_code
from learnsync.clients.coursera.client import CourseraClient
from learnsync.clients.coursera.paging import OffsetPaginator

__all__ = [
    "CourseraAuth",
    "CourseraClient",
    "OffsetPaginator",
    "build_authorize_url",
    "exchange_code",
]
