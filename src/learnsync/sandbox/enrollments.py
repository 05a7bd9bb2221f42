"""The seeded, lazy Coursera ``enrollmentReports``: row ``i`` is a function of ``(seed, i)``.

A world may have a million rows, so none is stored. The layout makes every finder an index
computation instead of a scan:

- row ``i`` belongs to program ``i % P`` (``P`` programs), to learner ``(i // P) % L`` (``L``
  learners), and is a Specialization-level row when ``(i // P) % 10 == 9`` (if that program has
  specializations). ``q=byProgramId`` and ``includeS12n`` therefore select fixed residues modulo
  ``10 * P``: the k-th matching row is found in O(1) and a full paged read is O(rows).
- ``q=byUserProgramId`` visits only the learner's rows: ``i = p + P * (n + L * t)``.
- date filters (``lastActivityAfter``, ``completedAtAfter``) need the rows' values; the matching
  indices are computed once per (filters, data version) and cached as a compact array.

Changes made through the sandbox are small records applied on top of the generated values, in the
order they were made: per-row upserts (``overrides``), extra rows for (content, learner) pairs the
generator did not produce (``extras``), and lazy bulk mutations ("a fraction of the rows advanced at
time T"), which select rows by a salted hash, so no row is materialised.
"""

from __future__ import annotations

import hashlib
import re
import struct
import threading
from array import array
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from learnsync.sandbox.catalog import (
    SPECIALIZATION_TYPES,
    UNSUPPORTED_LANGUAGES,
    edge_kind,
    program_name,
    program_slug,
)
from learnsync.sandbox.world import World, coursera_id, fraction

DAY_MS = 86_400_000
HISTORY_DAYS = 540  # enrollments start up to this many days before the anchor
S12N_PERIOD = 10  # one row in ten (per program) is Specialization-level
_U32 = float(2**32)
_U64 = 2**64 - 1
_EMP_RE = re.compile(r"^EMP-(\d{7})$")
_LOCAL_RE = re.compile(r"^learner(\d{7})$")


@dataclass(frozen=True)
class _ContentInfo:
    content_id: str
    content_type: str
    name: str
    slug: str
    partner_names: tuple[str, ...]
    hours: float


@dataclass(frozen=True)
class Identity:
    """How a learner appears in the report (the same on every row of that learner)."""

    external_id: str
    email: str | None
    full_name: str


@dataclass(frozen=True)
class Mutation:
    seq: int
    fraction: float
    salt: bytes
    at_ms: int


@dataclass(frozen=True)
class ReportQuery:
    """The finder and filters of one ``enrollmentReports`` request, already validated."""

    program_index: int | None = None  # q=byProgramId / byUserProgramId
    learner: str | None = None  # q=byUserProgramId: the externalId asked for
    include_s12n: bool = False
    last_activity_after: int | None = None  # epoch ms
    completed_at_after: int | None = None  # epoch ms


class EnrollmentReport:
    """The report of one world; thread-safe; memory independent of ``world.enrollments``."""

    def __init__(self, world: World, catalog: list[dict[str, Any]], anchor_ms: int) -> None:
        self.world = world
        self.anchor_ms = anchor_ms
        self.program_ids = list(world.coursera_program_ids)
        self.programs = len(self.program_ids)
        self.size = world.enrollments
        self._seed = str(world.seed).encode()
        self._lock = threading.RLock()
        self._regular: list[list[_ContentInfo]] = [[] for _ in self.program_ids]
        self._s12n: list[list[_ContentInfo]] = [[] for _ in self.program_ids]
        self._by_content: dict[str, _ContentInfo] = {}
        self.clean = world.clean_report
        for index, item in enumerate(catalog):
            info = _content_info(item)
            self._by_content[info.content_id] = info
            if self.clean and (
                edge_kind(index) is not None or item.get("languageCode") in UNSUPPORTED_LANGUAGES
            ):
                continue  # a clean report has no rows of content the connector skips
            for program in item.get("programs") or []:
                if program.get("programId") in self.program_ids:
                    p = self.program_ids.index(program["programId"])
                    if self.clean and any(p2 < p for p2 in self._programs_of(item)):
                        continue  # clean: each content in one program only (no duplicate pair)
                    pool = (
                        self._s12n if info.content_type in SPECIALIZATION_TYPES else self._regular
                    )
                    pool[p].append(info)
        self._pool_ids = [
            {c.content_id for c in self._regular[p]} | {c.content_id for c in self._s12n[p]}
            for p in range(self.programs)
        ]
        self._program_meta = [
            (pid, program_name(world, p), program_slug(world, p))
            for p, pid in enumerate(self.program_ids)
        ]
        self._contract = (coursera_id(world.seed, "contract"), "Coursera for Business 2024")
        self._seq = 0
        self.version = 0
        self._mutations: list[Mutation] = []
        self._overrides: dict[int, list[tuple[int, dict[str, Any]]]] = {}
        self._extras: list[dict[str, Any]] = []
        self._cache: OrderedDict[tuple[Any, ...], array[int]] = OrderedDict()
        self._kinds = bytearray(b"\xff" * world.learners)
        self._names: list[str] = [""] * world.learners  # shared strings: few distinct names
        self._name_pool: dict[str, str] = {}

    def _programs_of(self, item: dict[str, Any]) -> list[int]:
        return [
            self.program_ids.index(pr["programId"])
            for pr in item.get("programs") or []
            if pr.get("programId") in self.program_ids
        ]

    # --- layout ------------------------------------------------------------------------------
    def is_s12n_index(self, i: int) -> bool:
        p = i % self.programs
        return bool(self._s12n[p]) and (i // self.programs) % S12N_PERIOD == S12N_PERIOD - 1

    def _pool(self, i: int) -> list[_ContentInfo]:
        p = i % self.programs
        return self._s12n[p] if self.is_s12n_index(i) else self._regular[p]

    def _residues(self, program_index: int | None, include_s12n: bool) -> list[int]:
        """Row slots (modulo ``10 * P``) the finder selects; slots without content are skipped."""
        period = S12N_PERIOD * self.programs
        return [
            r
            for r in range(period)
            if (program_index is None or r % self.programs == program_index)
            and (include_s12n or not self.is_s12n_index(r))
            and self._pool(r)
        ]

    def learner_of(self, i: int) -> int:
        return (i // self.programs) % self.world.learners

    def identity(self, n: int) -> Identity:
        """Most learners are keyed by e-mail; some by an employee id; a rare few by neither.

        The identity kind (a byte) and the name (a shared string) are cached per learner, so a
        full read hashes each learner once while memory stays small.
        """
        email = self.world.learner_email(n)
        kind = self._kinds[n]
        if kind == 255:
            kind = int(fraction(self.world.seed, "identity", n) * 200)
            self._kinds[n] = kind
            name = self.world.learner_name(n)
            self._names[n] = self._name_pool.setdefault(name, name)
        u = kind / 200
        name = self._names[n]
        if u < 0.80 or (self.clean and u >= 0.97):  # clean: every learner has a plain e-mail
            return Identity(email, email, name)
        if u < 0.97:
            return Identity(f"EMP-{n:07d}", email, name)
        if u < 0.985:
            local, _, domain = email.partition("@")
            return Identity(f"{local.capitalize()}@{domain.capitalize()}", email, name)
        return Identity(f"learner{n:07d}", None, name)  # pre-2019 style: the e-mail's local part

    def resolve_learner(self, external_id: str) -> int | None:
        """The generated learner whose rows carry this ``externalId`` (or e-mail), if any."""
        n = self.world.learner_index(external_id)
        if n is None:
            match = _EMP_RE.match(external_id) or _LOCAL_RE.match(external_id)
            n = int(match.group(1)) if match else None
        if n is None or n >= self.world.learners:
            return None
        ident = self.identity(n)
        return n if external_id in (ident.external_id, ident.email) else None

    def _content_of(self, i: int, h: bytes | None = None) -> _ContentInfo | None:
        p = i % self.programs
        pool = self._pool(i)
        if not pool:
            return None
        if h is None:
            h = hashlib.blake2b(b"%s:%d" % (self._seed, i), digest_size=32).digest()
        v0, v1 = struct.unpack_from(">II", h)
        if self.clean:
            # learner n's rows in program p are i = p + P * (n + L * t): content t steps along
            # the pool from a per-learner start, so no content repeats (t < len(pool))
            slot = i // self.programs
            n, t = slot % self.world.learners, slot // self.world.learners
            start = int(fraction(self.world.seed, "clean-start", n, p) * len(pool))
            return pool[(start + t) % len(pool)]
        if p > 0 and v1 / _U32 < 0.05:  # same content as in the first program: duplicate rows
            other = self._content_of(i - p)
            if (
                other is not None
                and other.content_id in self._pool_ids[p]
                and (other.content_type in SPECIALIZATION_TYPES) == self.is_s12n_index(i)
            ):
                return other
        f0 = v0 / _U32
        return pool[int(f0 * f0 * len(pool))]  # popular content first

    # --- rows --------------------------------------------------------------------------------
    def _times(self, h: bytes) -> tuple[float, int, int | None, int | None]:
        """``(progress draw, enrolledAt, lastActivityAt, completedAt)`` of a row's digest.

        The one place timestamps are drawn, shared by row building and the fast date-filter scan
        (which needs no strings). ``enrolledAt <= lastActivityAt <= completedAt <= anchor``.
        """
        _, _, v2, v3, v4, v5, v6, _ = struct.unpack(">8I", h)
        anchor = self.anchor_ms
        enrolled = anchor - DAY_MS - int(v3 / _U32 * HISTORY_DAYS * DAY_MS)
        f2 = v2 / _U32
        completed: int | None = None
        if 0.25 <= f2 < 0.35:  # enrolled, never started
            last: int | None = enrolled if v4 & 1 else None
        else:
            last = anchor - int((anchor - enrolled) * (v4 / _U32) ** 1.5)
            if f2 < 0.25:
                completed = last + int((v5 / _U32) * min(7_200_000, anchor - last))
            if (v6 >> 16) & 0xFF < 5:  # ~2 %: no lastActivityAt
                last = None
        return f2, enrolled, last, completed

    def _generated(self, i: int) -> dict[str, Any] | None:
        h = hashlib.blake2b(b"%s:%d" % (self._seed, i), digest_size=32).digest()
        content = self._content_of(i, h)
        if content is None:
            return None
        f2, enrolled, last, completed = self._times(h)
        v6, v7 = struct.unpack_from(">II", h, 24)
        ident = self.identity(self.learner_of(i))
        pid, pname, pslug = self._program_meta[i % self.programs]
        row: dict[str, Any] = {
            "id": f"{ident.external_id}~{pid}~{content.content_id}",
            "programId": pid,
            "programName": pname,
            "programSlug": pslug,
            "externalId": ident.external_id,
            "email": ident.email,
            "fullName": ident.full_name,
            "contentId": content.content_id,
            "contentType": content.content_type,
            "contentName": content.name,
            "contentSlug": content.slug,
            "partnerNames": list(content.partner_names),
            "membershipState": "MEMBER",
            "contractId": self._contract[0],
            "contractName": self._contract[1],
        }
        if (v6 >> 8) & 0xFF >= 3:  # ~1 %: no enrolledAt
            row["enrolledAt"] = enrolled
        if completed is not None:
            row["isCompleted"] = True
            row["overallProgress"] = 100
            row["approxTotalCourseHrs"] = content.hours
        elif 0.25 <= f2 < 0.35:
            row["isCompleted"] = False
            row["overallProgress"] = 0
            row["approxTotalCourseHrs"] = 0.0
        else:
            progress = 1 + int((f2 - 0.35) / 0.65 * 99)
            row["isCompleted"] = False
            row["overallProgress"] = progress
            row["approxTotalCourseHrs"] = round(content.hours * progress / 100, 2)
        if v6 & 0xFF < 5:  # ~2 %: no overallProgress
            del row["overallProgress"]
        if last is not None:
            row["lastActivityAt"] = last
        if completed is not None:
            row["completedAt"] = completed
            row["grade"] = round(0.6 + (v7 / _U32) * 0.4, 4)
            row["contentCertificateUrl"] = (
                f"https://www.coursera.org/account/accomplishments/records/{v7:08X}{i:X}"
            )
        row["updatedAt"] = completed or last or enrolled
        return row

    def _time_match_fast(self, i: int, query: ReportQuery) -> bool:
        """The date filters on a row that no sandbox change touched, without building it."""
        h = hashlib.blake2b(b"%s:%d" % (self._seed, i), digest_size=32).digest()
        _, _, last, completed = self._times(h)
        return _time_matches({"lastActivityAt": last, "completedAt": completed}, query)

    def _touched(self, i: int) -> bool:
        return i in self._overrides or any(_selected(m, i) for m in self._mutations)

    def row(self, i: int) -> dict[str, Any] | None:
        """Generated row ``i`` with every sandbox change applied (``None`` if it has no content)."""
        row = self._generated(i)
        if row is None or (not self._mutations and i not in self._overrides):
            return row
        events: list[tuple[int, Any]] = [(m.seq, m) for m in self._mutations]
        events += self._overrides.get(i, [])
        for _, event in sorted(events, key=lambda e: e[0]):
            if isinstance(event, Mutation):
                if _selected(event, i):
                    _advance(row, event, i)
            else:
                row.update(event)
        return row

    # --- queries -----------------------------------------------------------------------------
    def count_and_rows(
        self, query: ReportQuery, start: int, limit: int
    ) -> tuple[int, list[dict[str, Any]]]:
        """``(total, rows[start:start+limit])`` for the query."""
        with self._lock:
            count, index_at = self._generated_view(query)
            extras = [row for row in self._extras if _extra_matches(row, query, self.program_ids)]
            total = count + len(extras)
            rows: list[dict[str, Any]] = []
            for k in range(start, min(start + limit, total)):
                if k < count:
                    row = self.row(index_at(k))
                    if row is not None:
                        rows.append(row)
                else:
                    rows.append(_public(extras[k - count]))
            return total, rows

    def _generated_view(self, query: ReportQuery) -> tuple[int, Callable[[int], int]]:
        """How many generated rows match, and the row index of the k-th one."""
        if query.learner is not None:
            indices = array("q", self._learner_indices(query))
        elif query.last_activity_after is not None or query.completed_at_after is not None:
            indices = self._filtered(query)
        else:
            residues = self._residues(query.program_index, query.include_s12n)
            period = S12N_PERIOD * self.programs
            per = len(residues)
            full, rem = divmod(self.size, period)
            count = full * per + sum(1 for r in residues if r < rem)
            return count, lambda k: (k // per) * period + residues[k % per]
        return len(indices), indices.__getitem__

    def _learner_indices(self, query: ReportQuery) -> list[int]:
        n = self.resolve_learner(query.learner or "")
        if n is None:
            return []
        programs = range(self.programs) if query.program_index is None else [query.program_index]
        found = []
        for p in programs:
            i = p + self.programs * n
            while i < self.size:
                if (query.include_s12n or not self.is_s12n_index(i)) and self._pool(i):
                    found.append(i)
                i += self.programs * self.world.learners
        return sorted(found)

    def _filtered(self, query: ReportQuery) -> array[int]:
        key = (
            query.program_index,
            query.include_s12n,
            query.last_activity_after,
            query.completed_at_after,
            self.version,
        )
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            return cached
        residues = self._residues(query.program_index, query.include_s12n)
        period = S12N_PERIOD * self.programs
        found = array("q")
        for base in range(0, self.size, period):
            for r in residues:
                i = base + r
                if i >= self.size:
                    break
                if self._touched(i):
                    row = self.row(i)
                    if row is not None and _time_matches(row, query):
                        found.append(i)
                elif self._time_match_fast(i, query):
                    found.append(i)
        self._cache[key] = found
        while len(self._cache) > 8:
            self._cache.popitem(last=False)
        return found

    def iter_rows(self, query: ReportQuery | None = None) -> Iterator[dict[str, Any]]:
        """Every row of the query (tests and benchmarks; the HTTP route pages instead)."""
        query = query or ReportQuery(include_s12n=True)
        start = 0
        while True:
            total, rows = self.count_and_rows(query, start, 1000)
            yield from rows
            start += 1000
            if start >= total:
                return

    # --- changes -----------------------------------------------------------------------------
    def _next_seq(self) -> int:
        self._seq += 1
        self.version += 1
        self._cache.clear()
        return self._seq

    def mutate(
        self, fraction_: float, salt: str, at_ms: int, *, report_changes: bool = False
    ) -> dict[str, Any]:
        """Advance a deterministic ~``fraction_`` of the rows at ``at_ms`` (nothing materialised).

        Selected rows that are not completed gain progress (two in five complete); selected rows
        that are already completed are left as they are, so about a quarter of the selection
        does not visibly change. With ``report_changes`` the answer also says which rows visibly
        changed: ``changed`` (how many) and ``changed_digest`` (:func:`pairs_digest` of their
        (course, learner) pairs as a connector maps them), for a benchmark to compare with what
        360Learning received. That scans every row (about a second per million).
        """
        if not 0.0 <= fraction_ <= 1.0:
            raise ValueError("fraction must be between 0 and 1")
        with self._lock:
            mutation = Mutation(self._seq + 1, fraction_, salt.encode(), at_ms)
            before: dict[int, dict[str, Any] | None] = {}
            if report_changes:
                before = {i: self.row(i) for i in range(self.size) if _selected(mutation, i)}
            self._next_seq()
            self._mutations.append(mutation)
            for extra in self._extras:
                if _selected(mutation, extra["_extra_index"]):
                    old = _public(extra)
                    _advance(extra, mutation, extra["_extra_index"])
                    if report_changes and old != _public(extra):
                        before[extra["_extra_index"]] = None  # counted below
            answer: dict[str, Any] = {
                "fraction": fraction_,
                "salt": salt,
                "selected_estimate": round(fraction_ * self.size),
            }
            if report_changes:
                changed = []
                for i, old_row in before.items():
                    if i >= self.size:
                        extra = next(e for e in self._extras if e["_extra_index"] == i)
                        changed.append(_public(extra))
                    elif old_row is not None and (new := self.row(i)) != old_row:
                        changed.append(new)  # type: ignore[arg-type]
                answer["changed"] = len(changed)
                answer["changed_digest"] = pairs_digest(
                    (f"{r['contentType']}~{r['contentId']}", _mapped_learner(r)) for r in changed
                )
        return answer

    def upsert(
        self,
        *,
        content_id: str,
        learner: str,
        fields: dict[str, Any],
        now_ms: int,
        content_type: str | None = None,
        program_id: str | None = None,
    ) -> list[dict[str, Any]]:
        """Set fields of the (content, learner[, program]) rows; create one if none exists.

        ``learner`` is an ``externalId`` or e-mail. The rows become recent: ``updatedAt`` and
        ``lastActivityAt`` default to ``now_ms``; ``isCompleted: true`` implies progress 100 and
        a ``completedAt``.
        """
        if program_id is not None and program_id not in self.program_ids:
            raise KeyError(f"unknown program {program_id}")
        changes = {"lastActivityAt": now_ms, "updatedAt": now_ms, **fields}
        if changes.get("isCompleted") is True:
            changes.setdefault("overallProgress", 100)
            changes.setdefault("completedAt", changes["lastActivityAt"])
        with self._lock:
            seq = self._next_seq()
            matches = self._find_generated(content_id, learner, program_id)
            for i in matches:
                self._overrides.setdefault(i, []).append((seq, changes))
            if matches:
                return [row for i in matches if (row := self.row(i)) is not None]
            for extra in self._extras:
                if (
                    extra["contentId"] == content_id
                    and learner in (extra.get("externalId"), extra.get("email"))
                    and program_id in (None, extra["programId"])
                ):
                    extra.update(changes)
                    return [_public(extra)]
            extra = self._new_extra(content_id, content_type, learner, program_id, now_ms)
            extra.update(changes)
            self._extras.append(extra)
            return [_public(extra)]

    def _find_generated(self, content_id: str, learner: str, program_id: str | None) -> list[int]:
        n = self.resolve_learner(learner)
        if n is None:
            return []
        found = []
        programs = [self.program_ids.index(program_id)] if program_id else range(self.programs)
        for p in programs:
            i = p + self.programs * n
            while i < self.size:
                content = self._content_of(i)
                if content is not None and content.content_id == content_id:
                    found.append(i)
                i += self.programs * self.world.learners
        return found

    def _new_extra(
        self,
        content_id: str,
        content_type: str | None,
        learner: str,
        program_id: str | None,
        now_ms: int,
    ) -> dict[str, Any]:
        n = self.resolve_learner(learner)
        if n is not None:
            ident = self.identity(n)
        else:
            email = learner if "@" in learner else None
            ident = Identity(learner, email, learner.split("@")[0])
        info = self._by_content.get(content_id)
        if program_id is None:
            candidates = [p for p in range(self.programs) if content_id in self._pool_ids[p]]
            program_id = self.program_ids[candidates[0] if candidates else 0]
        p = self.program_ids.index(program_id)
        pid, pname, pslug = self._program_meta[p]
        ctype = content_type or (info.content_type if info else "Course")
        return {
            "id": f"{ident.external_id}~{pid}~{content_id}",
            "programId": pid,
            "programName": pname,
            "programSlug": pslug,
            "externalId": ident.external_id,
            "email": ident.email,
            "fullName": ident.full_name,
            "contentId": content_id,
            "contentType": ctype,
            "contentName": info.name if info else content_id,
            "contentSlug": info.slug if info else content_id,
            "partnerNames": list(info.partner_names) if info else [],
            "membershipState": "MEMBER",
            "contractId": self._contract[0],
            "contractName": self._contract[1],
            "isCompleted": False,
            "overallProgress": 0,
            "approxTotalCourseHrs": 0.0,
            "enrolledAt": now_ms,
            "_extra_index": self.size + len(self._extras),
        }

    # --- memberships -------------------------------------------------------------------------
    def member_count(self, program_index: int) -> int:
        """Learners with at least one row slot in the program (learner ``n`` has slot ``p+P*n``)."""
        slots = max(0, (self.size - program_index + self.programs - 1) // self.programs)
        return min(self.world.learners, slots)

    def membership(self, program_index: int, n: int) -> dict[str, Any]:
        ident = self.identity(n)
        pid = self.program_ids[program_index]
        joined = self.anchor_ms - (HISTORY_DAYS + 1) * DAY_MS
        joined -= int(fraction(self.world.seed, "joined", program_index, n) * 180 * DAY_MS)
        return {
            "id": f"{pid}~{ident.external_id}",
            "programId": pid,
            "externalId": ident.external_id,
            "fullName": ident.full_name,
            "email": ident.email,
            "joinedAt": joined,
        }


def _content_info(item: dict[str, Any]) -> _ContentInfo:
    definition = (item.get("extraMetadata") or {}).get("definition") or {}
    seconds = definition.get("estimatedLearningTime")
    hours = round(seconds / 3600, 2) if isinstance(seconds, int | float) else 10.0
    return _ContentInfo(
        content_id=item["contentId"],
        content_type=item["contentType"],
        name=item.get("name") or "",
        slug=item.get("slug") or "",
        partner_names=tuple(p.get("name") or "" for p in item.get("partners") or []),
        hours=hours,
    )


def pair_digest(course_external_id: str, learner: str) -> int:
    """A 64-bit digest of one (course externalId, learner e-mail) statistic."""
    text = f"{course_external_id}|{learner.strip().lower()}".encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big")


def pairs_digest(pairs: Iterable[tuple[str, str]]) -> str:
    """The sum (mod 2**64, in hex) of :func:`pair_digest` over ``pairs``: a multiset digest that
    a simulator can update item by item (the 360Learning simulator sums what it applies)."""
    total = 0
    for course, learner in pairs:
        total = (total + pair_digest(course, learner)) & _U64
    return f"{total:016x}"


def _mapped_learner(row: dict[str, Any]) -> str:
    """The learner e-mail a connector maps (externalId when it is an e-mail, else email)."""
    for candidate in (row.get("externalId"), row.get("email")):
        if candidate and "@" in candidate:
            return str(candidate).strip().lower()
    return ""


def _selected(mutation: Mutation, i: int) -> bool:
    h = hashlib.blake2b(b"%s:%d" % (mutation.salt, i), digest_size=8).digest()
    return int.from_bytes(h, "big") / 2**64 < mutation.fraction


def _advance(row: dict[str, Any], mutation: Mutation, i: int) -> None:
    if row.get("isCompleted"):
        return
    at = mutation.at_ms
    row["lastActivityAt"] = at
    row["updatedAt"] = at
    row.setdefault("enrolledAt", at)
    progress = row.get("overallProgress")
    progress = 50 if not isinstance(progress, int | float) else int(progress)
    advanced = progress + max(1, (100 - progress) // 2)
    if advanced >= 100 or fraction(mutation.salt, "completes", i) < 0.4:
        row.update(
            isCompleted=True,
            overallProgress=100,
            completedAt=at,
            grade=round(0.6 + fraction(mutation.salt, "grade", i) * 0.4, 4),
        )
    else:
        row["overallProgress"] = advanced


def _time_matches(row: dict[str, Any], query: ReportQuery) -> bool:
    if query.last_activity_after is not None:
        value = row.get("lastActivityAt")
        if value is None or value <= query.last_activity_after:
            return False
    if query.completed_at_after is not None:
        value = row.get("completedAt")
        if value is None or value <= query.completed_at_after:
            return False
    return True


def _extra_matches(row: dict[str, Any], query: ReportQuery, program_ids: list[str]) -> bool:
    if query.program_index is not None and row["programId"] != program_ids[query.program_index]:
        return False
    if not query.include_s12n and row.get("contentType") in SPECIALIZATION_TYPES:
        return False
    if query.learner is not None and query.learner not in (row.get("externalId"), row.get("email")):
        return False
    return _time_matches(row, query)


def _public(extra: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in extra.items() if not k.startswith("_")}
