"""One-time confirmations shown on the page an action lands on ("Settings saved.").

An action that redirects sets :data:`COOKIE` to a notice's key and, for some, numbers
(``filters_saved:112:3``); the next page rendered shows the sentence once and clears the cookie.
Only known keys and integers are read back, so the cookie cannot put text on a page.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from learnsync.web.present import plural

COOKIE = "learnsync_notice"


@dataclass(frozen=True)
class Notice:
    tone: str  # ok, info, warning
    text: str


def _text(key: str, numbers: list[int]) -> Notice | None:
    n = [*numbers, 0, 0, 0]
    match key:
        case "saved":
            return Notice("ok", "Settings saved.")
        case "created":
            return Notice("ok", "Integration added: check its settings, then Setup integration.")
        case "imported":
            return Notice("ok", "Config file imported: a new integration was added.")
        case "import_updated":
            return Notice("ok", "Config file imported: the integration of that name was updated.")
        case "schedules_saved":
            return Notice("ok", "Schedules saved.")
        case "signed_out":
            return Notice("ok", "You are signed out.")
        case "sync_queued":
            return Notice("info", f"Run #{n[0]} queued: its progress shows below.")
        case "cancel_asked":
            return Notice("info", f"Run #{n[0]}: cancel asked.")
        case "run_cancelled":
            return Notice("ok", f"Run #{n[0]} cancelled before it started.")
        case "run_ended":
            return Notice("info", f"Run #{n[0]} had already ended: nothing to cancel.")
        case "filters_saved":
            return Notice(
                "ok",
                f"Filters saved: {plural(n[0], 'course')} archived, {n[1]:,} restored.",
            )
        case "filters_unchanged":
            return Notice("ok", "Filters saved: no course changes.")
        case "filters_partial":
            return Notice(
                "warning",
                f"Filters saved: {plural(n[0], 'course')} archived, {n[1]:,} restored; "
                f"{plural(n[2], 'course')} could not be changed — the next synchronization "
                "retries them.",
            )
        case "filters_nothing":
            return Notice("info", "No change to save: the filters are as they were saved.")
        case _:
            return None


def flash(response: Response, key: str, *numbers: int) -> Response:
    """Show ``key``'s sentence on the next page rendered for this browser."""
    value = ":".join([key, *(str(int(n)) for n in numbers)])
    response.set_cookie(COOKIE, value, max_age=120, httponly=True, samesite="lax")
    return response


def take(request: Request) -> Notice | None:
    """The notice waiting for this request, if any (the caller clears the cookie)."""
    raw = request.cookies.get(COOKIE, "")
    if not raw:
        return None
    key, *rest = raw.split(":")
    try:
        numbers = [int(x) for x in rest[:3]]
    except ValueError:
        return None
    return _text(key, numbers)
