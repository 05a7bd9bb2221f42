"""Course attempts and the statistics-import attempt rules (docs/api-notes.md#attempt-rules).

Attempts are stored compactly (``__slots__``, integer milliseconds, integer keys) because a
benchmark imports a million statistics. The store is not locked: the simulator calls it under its
own lock.

Rules (VERIFIED): a NEW attempt is created when ``forceNew`` is true, when the (course,
user) pair has no attempt, or when ``firstActivityAt`` is later than the end (``completedAt``, else
``lastActivityAt``) of every existing attempt. Otherwise the NON-completed attempts whose end is
not before ``firstActivityAt`` are UPDATED. The undocumented cases (GAPs (a)-(e)) are decided by
:class:`AttemptRules`; docs/simulators.md#attempt-rules-and-their-gaps explains each decision.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

CompletedConflict = Literal["ignore", "error", "new"]
NO_TIME = -1


@dataclass(frozen=True)
class AttemptRules:
    """Switches for the GAP cases of the attempt rules."""

    # (a) earlier activity that only matches completed attempts: leave them ("ignore", success
    # result, no change), answer an item error ("error"), or open a new attempt ("new")
    completed_conflict: CompletedConflict = "ignore"
    # (c) may an update lower an attempt's progress?
    allow_progress_decrease: bool = True
    # (e) lastActivityAt before firstActivityAt is an item error
    reject_reversed_dates: bool = True


class Attempt:
    """One attempt of one user on one course; times are epoch milliseconds."""

    __slots__ = (
        "completed",
        "course",
        "first",
        "id",
        "lang",
        "last",
        "path",
        "progress",
        "score",
        "spent",
        "user",
    )

    def __init__(self, num: int, course: int, user: int, first: int, last: int) -> None:
        self.id = num
        self.course = course
        self.user = user
        self.first = first
        self.last = last
        self.completed = NO_TIME
        self.progress = 0
        self.spent = 0
        self.score: float | None = None
        self.lang = 0
        self.path: str | None = None

    @property
    def is_completed(self) -> bool:
        return self.completed != NO_TIME

    @property
    def end(self) -> int:
        """``completedAt`` of a completed attempt, else ``lastActivityAt`` (the rules' bound)."""
        return self.completed if self.completed != NO_TIME else self.last


@dataclass(frozen=True)
class StatInput:
    """A validated statistics item, reduced to what the attempt rules need."""

    first: int
    last: int
    progress: int
    spent: int
    force_new: bool
    score: float | None
    lang: int


class AttemptStore:
    """All attempts, by (course index, user key) and in creation order."""

    def __init__(self) -> None:
        self._by_pair: dict[tuple[int, int], list[Attempt]] = {}
        self.ordered: list[Attempt] = []

    def __len__(self) -> int:
        return len(self.ordered)

    def of(self, course: int, user: int) -> list[Attempt]:
        return self._by_pair.get((course, user), [])

    def create(self, course: int, user: int, first: int, last: int) -> Attempt:
        attempt = Attempt(len(self.ordered), course, user, first, last)
        self._by_pair.setdefault((course, user), []).append(attempt)
        self.ordered.append(attempt)
        return attempt

    def for_course(self, course: int) -> Iterator[Attempt]:
        return (a for a in self.ordered if a.course == course)

    def apply(self, course: int, user: int, stat: StatInput, rules: AttemptRules) -> Attempt | str:
        """Apply one statistic; returns the attempt written (or kept), or an error message."""
        existing = self.of(course, user)
        if stat.force_new or not existing or all(stat.first > a.end for a in existing):
            return self._write(self.create(course, user, stat.first, stat.last), stat, rules, True)
        targets = [a for a in existing if not a.is_completed and stat.first <= a.end]
        if targets:
            for attempt in targets:
                self._write(attempt, stat, rules, False)
            return targets[-1]
        # GAP (a): only completed attempts end after firstActivityAt
        if rules.completed_conflict == "error":
            return (
                "attemptConflict: firstActivityAt is not later than the end of a completed "
                "attempt, and no open attempt covers it (send forceNew to open a new attempt)"
            )
        if rules.completed_conflict == "new":
            return self._write(self.create(course, user, stat.first, stat.last), stat, rules, True)
        return existing[-1]

    @staticmethod
    def _write(attempt: Attempt, stat: StatInput, rules: AttemptRules, new: bool) -> Attempt:
        if new:
            attempt.first = stat.first
        else:
            attempt.first = min(attempt.first, stat.first)
        attempt.last = stat.last
        if new or rules.allow_progress_decrease or stat.progress >= attempt.progress:
            attempt.progress = stat.progress
        attempt.spent = stat.spent
        if stat.score is not None:
            attempt.score = stat.score
        attempt.lang = stat.lang
        if attempt.progress >= 100:
            attempt.completed = stat.last
        return attempt
