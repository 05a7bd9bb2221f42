"""What a browser shows for a refused request: a page with a way back, not raw JSON.

A request a browser navigates to (it accepts ``text/html``) outside the JSON API (``/api/…``)
gets an HTML page for a 4xx answer — its status, a sentence a person reads, the detail in small
print, and links back; every other caller (the API, scripts, the tests' clients) keeps FastAPI's
JSON answer unchanged.
"""

from __future__ import annotations

from starlette.requests import Request

# status → (the page's heading, what a person reads)
PAGES: dict[int, tuple[str, str]] = {
    400: ("Request not understood", "What was sent could not be used."),
    401: ("Sign in needed", "Sign in to see this page."),
    403: ("Not allowed", "This action is not allowed here; the page may be out of date."),
    404: ("Page not found", "There is nothing at this address: it may have been removed."),
    405: ("Not possible here", "This address does not take that action."),
    413: ("Too large", "What was sent is larger than this page accepts."),
    422: ("Request not understood", "Some of what was sent could not be read."),
    429: ("Too many attempts", "Wait a moment, then try again."),
}


def wants_page(request: Request) -> bool:
    """Whether the request is a browser's navigation outside the JSON API."""
    accept = request.headers.get("accept", "")
    return not request.url.path.startswith("/api/") and "text/html" in accept


def describe(status: int) -> tuple[str, str]:
    """The heading and the sentence of an error page for ``status``."""
    if status in PAGES:
        return PAGES[status]
    return ("Something went wrong", "The request could not be completed.")
