"""Daily schedules (default content 08:45, statistics 09:00, Europe/Paris), per integration.

Slots are wall-clock times in the schedule's time zone, turned into UTC instants day by day, so
08:45 Paris is 07:45 UTC in winter and 06:45 UTC in summer. The scheduler is a loop around
:meth:`Scheduler.tick`, which tests call directly with an injected clock:

- a slot runs once: :meth:`ServiceRepository.claim_slot` is a compare-and-set in the database,
  so two service processes never both start it;
- a slot missed while the service was down runs once at start-up (only the latest missed one);
- a claimed slot is submitted to the run queue (:meth:`RunManager.start`): no thread per slot,
  the executor's bounded pool runs it. A busy integration is no reason to leave it due — the
  queue orders it behind the integration's lease: statistics wait for content.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from learnsync.errors import ConfigError
from learnsync.service.runs import RunManager
from learnsync.service.tokens import refresh_token_warning
from learnsync.store.service_repository import ScheduleRecord, ServiceRepository

log = logging.getLogger("learnsync.service.scheduler")


def parse_time_of_day(value: str) -> time:
    try:
        hours, minutes = value.strip().split(":")
        return time(int(hours), int(minutes))
    except ValueError:
        raise ConfigError(f"{value!r} is not a time of day: use HH:MM, e.g. 08:45") from None


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"unknown time zone {name!r}: use a name such as Europe/Paris") from None


def slot_on(day: date, time_of_day: str, tz: str) -> datetime:
    """The UTC instant of ``time_of_day`` on ``day`` in ``tz`` (a time skipped by a DST change
    is taken as the same wall time after the change, which zoneinfo gives for fold=0)."""
    local = datetime.combine(day, parse_time_of_day(time_of_day), tzinfo=zone(tz))
    return local.astimezone(UTC)


def latest_slot(now: datetime, time_of_day: str, tz: str) -> datetime:
    """The last slot at or before ``now``."""
    today = now.astimezone(zone(tz)).date()
    for back in range(3):
        slot = slot_on(today - timedelta(days=back), time_of_day, tz)
        if slot <= now:
            return slot
    raise AssertionError("unreachable: a slot exists every day")


def next_slot(now: datetime, time_of_day: str, tz: str) -> datetime:
    """The first slot strictly after ``now``."""
    today = now.astimezone(zone(tz)).date()
    for ahead in range(3):
        slot = slot_on(today + timedelta(days=ahead), time_of_day, tz)
        if slot > now:
            return slot
    raise AssertionError("unreachable: a slot exists every day")


def due_slot(schedule: ScheduleRecord, now: datetime) -> datetime | None:
    """The slot to run now, if any: the latest one not yet started."""
    if not schedule.enabled:
        return None
    slot = latest_slot(now, schedule.time_of_day, schedule.timezone)
    if schedule.last_slot_at is not None and schedule.last_slot_at >= slot:
        return None
    return slot


@dataclass
class Started:
    integration_id: int
    kind: str
    slot: datetime


class Scheduler:
    def __init__(
        self,
        repo: ServiceRepository,
        runs: RunManager,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        interval: float = 20.0,
    ) -> None:
        self.repo = repo
        self.runs = runs
        self.clock = clock
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._token_warned: dict[int, date] = {}

    def tick(self) -> list[Started]:
        """Submit every due slot to the run queue; return what was submitted."""
        now = self.clock()
        self.warn_stale_tokens(now)
        started: list[Started] = []
        # content before statistics on the same tick: "kind" sorts content < stats
        for schedule in self.repo.list_schedules():
            slot = due_slot(schedule, now)
            if slot is None:
                continue
            if not self._start(schedule, slot):
                continue
            started.append(Started(schedule.integration_id, schedule.kind, slot))
        return started

    def warn_stale_tokens(self, now: datetime) -> list[int]:
        """Log (once a day per integration) a refresh token unused for 10 days or more."""
        warned: list[int] = []
        for item in self.repo.list_integrations():
            message = refresh_token_warning(item, now)
            if message is None or self._token_warned.get(item.id) == now.date():
                continue
            self._token_warned[item.id] = now.date()
            log.warning(message, extra={"integration": item.id})
            warned.append(item.id)
        return warned

    def _start(self, schedule: ScheduleRecord, slot: datetime) -> bool:
        extra = {"integration": schedule.integration_id, "kind": schedule.kind}
        if not self.repo.claim_slot(schedule.integration_id, schedule.kind, slot):
            return False  # another process took this slot
        try:
            run_id = self.runs.start(schedule.integration_id, schedule.kind, trigger="schedule")
        except Exception:
            # not queued (the database failed): give the slot back, tried again next tick
            self.repo.unclaim_slot(schedule.integration_id, schedule.kind, slot)
            raise
        log.info(
            "scheduled %s run %d queued for slot %s",
            schedule.kind,
            run_id,
            slot.isoformat(),
            extra=extra,
        )
        return True

    def next_runs(self, integration_id: int) -> dict[str, datetime | None]:
        now = self.clock()
        result: dict[str, datetime | None] = {}
        for schedule in self.repo.list_schedules(integration_id):
            result[schedule.kind] = (
                next_slot(now, schedule.time_of_day, schedule.timezone)
                if schedule.enabled
                else None
            )
        return result

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="scheduler", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:
                log.exception("scheduler tick failed")
            self._stop.wait(self.interval)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)


def next_runs(repo: ServiceRepository, integration_id: int, now: datetime) -> dict[str, datetime]:
    return {
        s.kind: next_slot(now, s.time_of_day, s.timezone)
        for s in repo.list_schedules(integration_id)
        if s.enabled
    }
