"""A faithful local simulator of 360Learning's public API v2 (integrations, bulk, courses, …).

``ThreeSixtySim`` holds the state and rules; ``create_app`` serves it (FastAPI, wrapped in the
shared fault middleware). See docs/simulators.md#gap-decisions for every GAP decision.
"""

from learnsync.sandbox.threesixty.app import create_app
from learnsync.sandbox.threesixty.state import ALL_SCOPES, ThreeSixtySim

__all__ = ["ALL_SCOPES", "ThreeSixtySim", "create_app"]
