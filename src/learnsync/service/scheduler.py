"""Daily schedules (default content 08:45, statistics 09:00, Europe/Paris), per integration.

Slots are wall-clock times in the schedule's time zone, turned into UTC instants day by day, so
08:45 Paris is 07:45 UTC in winter and 06:45 UTC in summer. The scheduler is a loop around
:meth:`Scheduler.tick`, which tests call directly with an injected clock:

- a slot runs once: :meth:`ServiceRepository.claim_slot` is a compare-and-set in the database,
  so two service processes never both start it;
- a slot missed while the service was down runs once at start-up (only the latest missed one);
- a claimed slot is submitted to the run queue (:meth:`RunManager.start`): no thread per slot,
  the executor's bounded pool (or the fleet) runs it. A busy integration is no reason to leave
  it due — the queue orders it behind the integration's lease: statistics wait for content;
- in a fleet exactly one scheduler acts: with ``roles``, a tick first holds the ``scheduler``
  role (:class:`~learnsync.store.fleet.Roles`, a lease in the database); a second scheduler
  stands by and takes over once the active one stopped renewing it;
- ``spread`` (``LEARNSYNC_SCHEDULE_SPREAD`` seconds, default 0) starts each integration's runs
  at a fixed offset within that window after the slot (:func:`offset`): 500 integrations due
  at 09:00 are not 500 runs at 09:00:00. Content and statistics share the offset, so
  statistics still follow content.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from learnsync.errors import ConfigError
from learnsync.service.runs import RunManager
from learnsync.service.tokens import refresh_token_warning
from learnsync.store.fleet import Roles
from learnsync.store.jobs import default_owner
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


SPREAD_ENV = "LEARNSYNC_SCHEDULE_SPREAD"
MAX_SPREAD = 3600
ROLE = "scheduler"


def spread_from_env(env: Mapping[str, str] | None = None) -> float:
    """``LEARNSYNC_SCHEDULE_SPREAD``: the window after a slot over which integrations' runs
    start, in seconds (0 to 3600, default 0). A bad value is a :class:`ConfigError`."""
    raw = (os.environ if env is None else env).get(SPREAD_ENV, "").strip()
    if not raw:
        return 0.0
    try:
        seconds = int(raw)
    except ValueError:
        seconds = -1
    if not 0 <= seconds <= MAX_SPREAD:
        raise ConfigError(
            f"{SPREAD_ENV}={raw!r} is not a number of seconds: give a whole number from 0 to "
            f"{MAX_SPREAD} (e.g. 600: runs start within ten minutes after their slot), or unset it"
        )
    return float(seconds)


def offset(integration_id: int, spread: float) -> timedelta:
    """The integration's fixed start offset within ``spread`` seconds after a slot (a stable
    hash of its id: the same every day and in every process, whole seconds)."""
    if spread <= 0:
        return timedelta(0)
    digest = hashlib.blake2b(str(integration_id).encode(), digest_size=8).digest()
    return timedelta(seconds=int.from_bytes(digest, "big") % int(spread))


def due_slot(
    schedule: ScheduleRecord, now: datetime, delay: timedelta = timedelta(0)
) -> datetime | None:
    """The slot to run now, if any: the latest one not yet started whose start (the slot plus
    the integration's ``delay``) has come."""
    if not schedule.enabled:
        return None
    slot = latest_slot(now - delay, schedule.time_of_day, schedule.timezone)
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
        roles: Roles | None = None,
        owner: str | None = None,
        spread: float = 0.0,
    ) -> None:
        """``roles``: act only while holding the fleet's ``scheduler`` role (as ``owner``);
        ``spread``: the start window after each slot, seconds."""
        self.repo = repo
        self.runs = runs
        self.clock = clock
        self.interval = interval
        self.roles = roles
        self.owner = owner or default_owner()
        self.spread = spread
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._token_warned: dict[int, date] = {}

    def tick(self) -> list[Started]:
        """Submit every due slot to the run queue; return what was submitted (nothing while
        another scheduler holds the fleet's role)."""
        if not self.active():
            return []
        now = self.clock()
        self.warn_stale_tokens(now)
        started: list[Started] = []
        # content before statistics on the same tick: "kind" sorts content < stats
        for schedule in self.repo.list_schedules():
            slot = due_slot(schedule, now, offset(schedule.integration_id, self.spread))
            if slot is None:
                continue
            if not self._start(schedule, slot):
                continue
            started.append(Started(schedule.integration_id, schedule.kind, slot))
        return started

    def active(self) -> bool:
        """Whether this scheduler acts: it holds (takes or renews) the fleet's role, or there
        are no roles (one process)."""
        if self.roles is None:
            return True
        if self.roles.hold(ROLE, self.owner):
            return True
        log.debug("another scheduler is active; standing by")
        return False

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
        """The next start of each of the integration's schedules (``None``: disabled)."""
        upcoming: dict[str, datetime | None] = {
            s.kind: None for s in self.repo.list_schedules(integration_id)
        }
        upcoming.update(next_runs(self.repo, integration_id, self.clock(), self.spread))
        return upcoming

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
        """Stop ticking; a scheduler holding the fleet's role hands it over at once."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        if self.roles is not None:
            try:
                self.roles.give_up(ROLE, self.owner)
            except Exception:  # the role expires on its own
                log.warning("could not hand over the scheduler role")


def next_runs(
    repo: ServiceRepository, integration_id: int, now: datetime, spread: float = 0.0
) -> dict[str, datetime]:
    """The next start of each enabled schedule of the integration: its next slot plus the
    integration's offset within ``spread``."""
    delay = offset(integration_id, spread)
    return {
        s.kind: next_slot(now - delay, s.time_of_day, s.timezone) + delay
        for s in repo.list_schedules(integration_id)
        if s.enabled
    }
