"""A faithful local simulator of the Coursera for Business API (docs/simulators.md).

``CourseraSim(world, clock)`` holds the state; ``create_app(sim)`` serves it over HTTP (both the
legacy ``/api`` and the new ``/ent/api`` prefixes, OAuth2 endpoints, and ``/_sandbox/`` admin
routes). Serve it on a real socket with :func:`learnsync.sandbox.serving.serve_in_thread`.
"""

from learnsync.sandbox.coursera.app import create_app
from learnsync.sandbox.coursera.state import CourseraSim, Knobs

__all__ = ["CourseraSim", "Knobs", "create_app"]
