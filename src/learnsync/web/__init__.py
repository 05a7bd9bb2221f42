"""The admin web app: server-rendered pages mirroring the product article, plus a JSON API."""

from learnsync.web.app import create_app

__all__ = ["create_app"]
