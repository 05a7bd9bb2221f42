"""The admin web app: server-rendered pages (docs/service.md), plus a JSON API."""

from learnsync.web.app import create_app

__all__ = ["create_app"]
