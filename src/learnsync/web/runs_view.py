"""What the Runs list and a run's page show: the history paged with counts per status, a run's
failed and skipped items grouped by reason (in words) with their course titles and learners,
paged and exported as CSV. Computed from the store's summary columns and the run's stored
report; no secret is read here (a run's report holds none)."""

from __future__ import annotations

import csv
import io
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from learnsync.model.untrusted import csv_cell
from learnsync.service.core import Service
from learnsync.service.setup import form_words
from learnsync.store.history import REPORT_SAMPLE
from learnsync.store.records import RUN_STATUSES
from learnsync.sync.unmatched import is_unknown_learner_error
from learnsync.web import views
from learnsync.web.present import chip_of, plural

RUNS_PER_PAGE = 25
ITEMS_PER_PAGE = 50
ORDERS = ("newest", "oldest")
GOING = ("queued", "running")

# the reasons a run skips an item (the report's codes), in the administrator's words
REASONS: dict[str, str] = {
    **views.FRIENDLY,
    "missing_id": "Coursera gives this item no identifier, so it cannot be sent",
}
# the codes 360Learning names in a refused item's error ("userNotFound: no user with mail …")
API_CODES: dict[str, str] = {
    "userNotFound": "360Learning has no user with this learner's e-mail",
    "courseNotFound": "360Learning has no such course (it was deleted, or never created)",
    "groupNotFound": "the 360Learning group of the integration does not exist",
    "pathNotFound": "the 360Learning path does not exist",
    "tagNotFound": "the 360Learning tag does not exist",
    "integrationNotFound": "the integration does not exist in 360Learning: run Setup integration",
    "invalidPayload": "360Learning refused the item's data",
    "rejected": "360Learning refused it without saying why",
    "forbidden": "360Learning refused the credentials' access to it",
}
_CODED = re.compile(r"^([a-z][A-Za-z]+)(?::\s*(.*))?$", re.DOTALL)


@dataclass(frozen=True)
class Reason:
    """Why an item was not written: ``key`` groups the items, ``words`` say it, ``code`` is the
    raw code (shown in small print; "" when the error had none)."""

    key: str
    words: str
    code: str = ""


def _sentence(words: str) -> str:
    return words[:1].upper() + words[1:]


def reason_of(text: str | None) -> Reason:
    """A skip reason (``missing_name``) or a refused item's error (``userNotFound: no user with
    mail …``, free text) in words, as a sentence."""
    raw = (text or "").strip()
    if raw in REASONS:
        return Reason(raw, _sentence(REASONS[raw]), raw)
    coded = _CODED.match(raw)
    if coded and coded.group(1) in API_CODES:
        code = coded.group(1)
        return Reason(code, API_CODES[code], code)
    if is_unknown_learner_error(raw):
        return Reason("userNotFound", API_CODES["userNotFound"], "userNotFound")
    if not raw:
        return Reason("", "No reason was given")
    words = form_words(raw)
    return Reason(words, _sentence(words))


# ---------------------------------------------------------------------- the Runs list


@dataclass
class RunsPage:
    """One page of an integration's run history (everything the store keeps: the retention)."""

    runs: list[dict[str, Any]]
    page: int
    pages: int
    total: int  # runs matching the status filter
    status: str  # "" for every status
    order: str
    counts: dict[str, int]  # runs kept, by status
    all_runs: int

    def query(self, **changes: str) -> dict[str, Any]:
        """The list's query string (the pager keeps it), with ``changes``."""
        values = {"status": self.status, "order": self.order, **changes}
        return {k: v for k, v in values.items() if v}

    def filters(self) -> list[tuple[str, str, str, int]]:
        """The status filter chips: (status, its word, its icon, runs), "" first: every run."""
        return [("", "All", "", self.all_runs)] + [
            (s, chip_of(s).word, chip_of(s).icon, n) for s, n in self.counts.items()
        ]

    @property
    def status_word(self) -> str:
        """The status filtered on, as a word of a sentence ("partial")."""
        return chip_of(self.status).word.lower() if self.status else ""


def list_reason(run: Mapping[str, Any]) -> str:
    """What the Runs list says of a run, a sentence a person can act on ("" when all went well)."""
    status = run["status"]
    if status == "partial":
        failed = plural(run["failed"], "item")
        return f"{failed} failed" + (f": {form_words(run['error'])}" if run["error"] else "")
    if status in ("failed", "cancelled") and run["error"]:
        return form_words(str(run["error"]))
    if status == "failed":
        return "it stopped without saying why: look at the service's log"
    return ""


def count_words(run: Mapping[str, Any]) -> list[str]:
    """A run's counts as a person reads them: ``80 created``, ``3 failed`` (zeros left out but
    for a run that did nothing: ``nothing to do``)."""
    words = [f"{n:,} {k}" for k, n in run["counts"].items() if n]
    words += [f"{run[k]:,} {k}" for k in ("skipped", "failed") if run[k]]
    if not words and run["status"] in ("succeeded", "partial"):
        return ["nothing changed"]
    return words


def _with_reason(run: dict[str, Any]) -> dict[str, Any]:
    return {**run, "reason": list_reason(run), "count_words": count_words(run)}


def runs_page(
    service: Service, integration_id: int, *, status: str = "", order: str = "", page: int = 1
) -> RunsPage:
    """The page ``page`` of the integration's runs (``status``: one status only; ``order``:
    ``newest`` first, the default, or ``oldest``)."""
    status = status if status in RUN_STATUSES else ""
    order = order if order in ORDERS else ""
    record = service.store.get_integration(service.integrations.get(integration_id).id)
    counts = service.store.count_runs(record.id) if record is not None else {}
    total = counts.get(status, 0) if status else sum(counts.values())
    pages = max(1, math.ceil(total / RUNS_PER_PAGE))
    page = min(max(page, 1), pages)
    rows = (
        service.store.page_runs(
            record.id,
            offset=(page - 1) * RUNS_PER_PAGE,
            limit=RUNS_PER_PAGE,
            status=status or None,
            oldest_first=order == "oldest",
        )
        if record is not None
        else []
    )
    return RunsPage(
        runs=[_with_reason(views._run_json(r)) for r in rows],
        page=page,
        pages=pages,
        total=total,
        status=status,
        order=order,
        counts={s: counts[s] for s in RUN_STATUSES if counts.get(s)},
        all_runs=sum(counts.values()),
    )


def runs_json(
    service: Service, integration_id: int, limit: int, offset: int = 0, status: str = ""
) -> list[dict[str, Any]]:
    """``GET /api/integrations/{id}/runs``: :func:`views.runs_of`'s shape, any page of it."""
    record = service.store.get_integration(service.integrations.get(integration_id).id)
    if record is None:
        return []
    rows = service.store.page_runs(record.id, offset=offset, limit=limit, status=status or None)
    return [views._run_json(r) for r in rows]


def current_run(service: Service, integration_id: int) -> dict[str, Any] | None:
    """The integration's run to show live: the one running, else the oldest queued, else the
    newest (ended: the live box is then hidden); None before any run."""
    current = service.runs.current(integration_id)
    return views.run_json(service, current.id) if current is not None else None


def is_going(run: Mapping[str, Any] | None) -> bool:
    return run is not None and run["status"] in GOING


# ---------------------------------------------------------------------- a run's page


@dataclass
class ItemRow:
    external_id: str
    title: str  # "" when the store has no title for it
    learner: str
    reason: Reason
    detail: str  # the raw error or reason code


@dataclass
class ReasonCount:
    reason: Reason
    count: int


@dataclass
class ItemList:
    """The failed (or skipped) items of a run the store kept, grouped by reason, one page."""

    name: str  # failed | skipped
    total: int  # the run's whole count
    kept: int  # items in the stored report (the first REPORT_SAMPLE)
    reasons: list[ReasonCount] = field(default_factory=list)  # of the kept items
    rows: list[ItemRow] = field(default_factory=list)  # this page's, by reason
    page: int = 1
    pages: int = 1

    @property
    def first(self) -> int:
        return (self.page - 1) * ITEMS_PER_PAGE + 1 if self.rows else 0

    @property
    def last(self) -> int:
        return self.first + len(self.rows) - 1 if self.rows else 0


def _rows(items: Iterable[Mapping[str, Any]], key: str, names: Mapping[str, str]) -> list[ItemRow]:
    rows = []
    for item in items:
        external_id = str(item.get("externalId") or "")
        detail = str(item.get(key) or "")
        rows.append(
            ItemRow(
                external_id,
                names.get(external_id, ""),
                str(item.get("learner") or ""),
                reason_of(detail),
                detail,
            )
        )
    return rows


def _grouped(rows: list[ItemRow]) -> tuple[list[ItemRow], list[ReasonCount]]:
    """The rows ordered by reason (the commonest first), in a reason by course title (the ones
    without a title last, in the report's order), and the count of each reason."""
    counts = Counter(r.reason for r in rows)
    rank = {reason: i for i, (reason, _) in enumerate(counts.most_common())}
    ordered = sorted(
        rows, key=lambda r: (rank[r.reason], not r.title, r.title.casefold(), r.learner)
    )
    return ordered, [ReasonCount(reason, n) for reason, n in counts.most_common()]


def item_rows(service: Service, record_id: int, report: Mapping[str, Any]) -> dict[str, list[Any]]:
    """Every kept failed and skipped item of a report, with course titles, grouped by reason:
    ``{"failed": (rows, reason counts), "skipped": …}``."""
    failed = [i for i in report.get("failed", []) if isinstance(i, Mapping)]
    skipped = [i for i in report.get("skipped", []) if isinstance(i, Mapping)]
    ids = [str(i.get("externalId") or "") for i in (*failed, *skipped)]
    names = service.store.content_names(record_id, ids)
    return {
        "failed": list(_grouped(_rows(failed, "error", names))),
        "skipped": list(_grouped(_rows(skipped, "reason", names))),
    }


def _item_list(name: str, total: int, grouped: list[Any], page: int) -> ItemList:
    rows, reasons = grouped
    pages = max(1, math.ceil(len(rows) / ITEMS_PER_PAGE))
    page = min(max(page, 1), pages)
    start = (page - 1) * ITEMS_PER_PAGE
    return ItemList(
        name=name,
        total=max(total, len(rows)),
        kept=len(rows),
        reasons=reasons,
        rows=rows[start : start + ITEMS_PER_PAGE],
        page=page,
        pages=pages,
    )


@dataclass
class RunView:
    run: dict[str, Any]  # views.run_of's
    failed: ItemList
    skipped: ItemList
    sample: int = REPORT_SAMPLE

    @property
    def has_items(self) -> bool:
        return bool(self.failed.kept or self.skipped.kept)

    @property
    def shows_learners(self) -> bool:
        """Whether the item tables have a learner column (statistics runs)."""
        rows = (*self.failed.rows, *self.skipped.rows)
        return self.run["kind"] == "stats" or any(r.learner for r in rows)

    def link(self, name: str, page: int) -> str:
        """The query of this page showing page ``page`` of the list ``name`` (the other list's
        page kept), at that list."""
        pages = {"failed": self.failed.page, "skipped": self.skipped.page, name: page}
        query = "&".join(f"{k}_page={v}" for k, v in pages.items() if v > 1 or k == name)
        return f"?{query}#{name}"


def run_view(
    service: Service,
    integration_id: int,
    run_id: int,
    *,
    failed_page: int = 1,
    skipped_page: int = 1,
) -> RunView | None:
    """A run's page: its summary (:func:`views.run_of`) and its items, one page of each list."""
    run = views.run_of(service, integration_id, run_id)
    record = service.store.get_integration(service.integrations.get(integration_id).id)
    stored = service.store.get_run(run_id)
    if run is None or record is None or stored is None:
        return None
    grouped = item_rows(service, record.id, stored.report or {})
    return RunView(
        run=_with_reason(run),
        failed=_item_list("failed", run["failed"], grouped["failed"], failed_page),
        skipped=_item_list("skipped", run["skipped"], grouped["skipped"], skipped_page),
    )


CSV_HEADER = ("list", "reason", "reason_code", "course_id", "course_title", "learner", "detail")


def items_csv(service: Service, integration_id: int, run_id: int) -> str | None:
    """The run's kept failed and skipped items as CSV (a header row; upstream text made safe
    for spreadsheets), None for no such run of the integration."""
    record = service.store.get_integration(service.integrations.get(integration_id).id)
    stored = service.store.get_run(run_id)
    if record is None or stored is None or stored.integration_id != record.id:
        return None
    grouped = item_rows(service, record.id, stored.report or {})
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    for name in ("failed", "skipped"):
        for row in grouped[name][0]:
            writer.writerow(
                [
                    name,
                    csv_cell(row.reason.words),
                    csv_cell(row.reason.code),
                    csv_cell(row.external_id),
                    csv_cell(row.title),
                    csv_cell(row.learner),
                    csv_cell(row.detail),
                ]
            )
    return out.getvalue()
