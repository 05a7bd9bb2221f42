"""Properties of the statistics mapping and of the staging merge, on arbitrary rows.

- :func:`~learnsync.mapping.stats.map_compact` — production's only mapping of a row, fed the
  pipeline's light rows — equals the tests' reference (tests/stats_oracle.py: the statistics
  table's date rules on datetimes) on any ``enrollmentReports`` row, whatever its values, and
  whatever the pair's stored moments; the pydantic model and the light row map alike.
- :func:`~learnsync.diff.stats.rank` orders any two rows of a pair like the reference merge.
- The staging database (on-disk SQLite) merges any sequence of duplicate rows like the Python
  merge — per (course, learner) the most advanced row, a tie keeping the first — and sends
  exactly the merged items :func:`~learnsync.diff.stats.must_send` would send.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from learnsync.diff.stats import (
    Compact,
    compact_payload,
    from_ms,
    item_hash,
    item_rank,
    must_send,
    rank,
    to_ms,
)
from learnsync.extract.stats import LightRow
from learnsync.mapping.stats import SkippedStat, map_compact
from learnsync.model.coursera import EnrollmentRow
from learnsync.store.records import StatItemState
from learnsync.sync.staging import Staging
from stats_oracle import MappedStat, map_enrollment, more_advanced

SYNCHRONIZED = frozenset({"Course~c1", "Specialization~s1"})
NOW_MS = to_ms(datetime(2025, 3, 4, 9, 0, 0, 123000, tzinfo=UTC))
MIN_MS = to_ms(datetime(1, 1, 1, tzinfo=UTC))
MAX_MS = to_ms(datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC))

# epoch ms anywhere a datetime reaches, with the edges and the ordinary range weighted in
MOMENTS = st.one_of(
    st.integers(MIN_MS, MAX_MS),
    st.integers(1_500_000_000_000, 1_800_000_000_000),
    st.sampled_from([MIN_MS, MAX_MS, -1, 0, 1, 2**43 - 1, 2**43, 4_294_967_295_999]),
)
# what Coursera might put in a timestamp field: ms, out of range, fractional, text, junk
TIMESTAMPS = st.one_of(
    st.none(),
    MOMENTS,
    MOMENTS.map(str),
    st.sampled_from([MIN_MS - 1, MAX_MS + 1, 10**17, -(10**17), 1.5e12, "1.5e12", "x", True, []]),
    st.floats(allow_nan=True, allow_infinity=True),
)
NUMBERS = st.one_of(
    st.none(),
    st.integers(-200, 200),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(-1, 1e4).map(str),
    st.sampled_from([0.5, 2.5, 99.5, 0.49999999999999994, 1.3e-7, 4.2e-7, "55", "x", True]),
)
TEXTS = st.one_of(st.none(), st.text(max_size=6), st.integers(-5, 5), st.booleans())
FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "id": st.one_of(TEXTS, st.sampled_from(["x@y.com~Course~c1", "a~Specialization~s1", "~~"])),
    "externalId": st.one_of(
        TEXTS, st.sampled_from(["a@b.com", " A@B.COM ", "EMP-1", "a@b", "a b@c.com", 42])
    ),
    "email": st.one_of(TEXTS, st.sampled_from(["c@d.org", " C@D.org", "nope", ""])),
    "contentId": st.one_of(TEXTS, st.sampled_from(["c1", "s1", " c1 ", "Course~c1", "zz"])),
    "contentType": st.one_of(TEXTS, st.sampled_from(["Course", "Specialization", " Course"])),
    "isCompleted": st.one_of(
        st.none(), st.booleans(), st.sampled_from(["true", "FALSE", " True ", "yes", 1, 0])
    ),
    "overallProgress": NUMBERS,
    "approxTotalCourseHrs": NUMBERS,
    "enrolledAt": TIMESTAMPS,
    "lastActivityAt": TIMESTAMPS,
    "completedAt": TIMESTAMPS,
}
# a deliverable row of a synchronized course, every value still drawn
VALID: dict[str, st.SearchStrategy[Any]] = {
    "id": st.sampled_from(["a@b.com~Course~c1", "x~Specialization~s1"]),
    "externalId": st.sampled_from(["a@b.com", " A@B.COM ", "EMP-1"]),
    "email": st.sampled_from(["c@d.org", " C@D.org"]),
    "contentId": st.sampled_from(["c1", " c1 ", "Course~c1"]),
    "contentType": st.just("Course"),
    "isCompleted": st.sampled_from([True, True, False, None]),
    "overallProgress": st.one_of(st.none(), st.floats(0, 100)),
    "approxTotalCourseHrs": st.one_of(st.none(), st.floats(0, 50)),
    # missing dates are frequent: then a stored moment (or now) is used
    "enrolledAt": st.sampled_from([None, 1_568_138_449_555]) | MOMENTS,
    "lastActivityAt": st.sampled_from([None, None, 1_569_229_361_000]) | MOMENTS,
}


@st.composite
def rows(draw: st.DrawFn) -> dict[str, Any]:
    """Any row (each field absent or any value), or a valid row with a few fields broken."""
    if draw(st.booleans()):
        return draw(st.fixed_dictionaries({}, optional=FIELDS))
    row = draw(st.fixed_dictionaries(VALID))
    for name in draw(st.lists(st.sampled_from(sorted(FIELDS)), max_size=3, unique=True)):
        if draw(st.booleans()):
            row.pop(name, None)
        else:
            row[name] = draw(FIELDS[name])
    return row


ROWS = rows()
STORED = st.tuples(st.none() | MOMENTS, st.none() | MOMENTS)


@given(raw=ROWS, stored=STORED)
def test_the_mapping_equals_the_reference_on_any_row(
    raw: dict[str, Any], stored: tuple[int | None, int | None]
) -> None:
    asked: list[tuple[str, str]] = []

    def moments(external_id: str, learner: str) -> tuple[int | None, int | None]:
        asked.append((external_id, learner))
        return stored

    model = EnrollmentRow.model_validate(raw)
    fast = map_compact(LightRow(raw), synchronized=SYNCHRONIZED, moments=moments, now_ms=NOW_MS)
    assert fast == map_compact(
        model, synchronized=SYNCHRONIZED, moments=lambda *_: stored, now_ms=NOW_MS
    )
    first_seen, completed_seen = (NOW_MS if m is None else m for m in stored)
    expected = map_enrollment(
        model,
        synchronized=SYNCHRONIZED,
        first_seen_at=from_ms(first_seen),
        completed_seen_at=from_ms(completed_seen),
    )
    if isinstance(expected, SkippedStat):
        assert fast == expected, raw
        assert not asked  # a skipped row never costs a lookup
        return
    assert isinstance(fast, Compact), (raw, fast)
    assert compact_payload(fast) == expected.payload(), raw
    assert fast.completed == expected.completed
    assert asked in ([], [(fast.external_id, fast.learner)])


def _stat(row: Compact) -> MappedStat:
    return MappedStat(
        row.external_id,
        row.learner,
        row.completed,
        row.progress,
        row.time_spent,
        from_ms(row.first),
        from_ms(row.last),
    )


@st.composite
def compact_rows(draw: st.DrawFn) -> Compact:
    completed = draw(st.booleans())
    return Compact(
        draw(st.sampled_from(["Course~c1", "Course~c2"])),
        draw(st.sampled_from(["a@x.com", "b@x.com", "c@x.com"])),
        completed,
        100 if completed else draw(st.integers(0, 100)),
        draw(st.integers(1, 3)),
        draw(st.sampled_from([0, 1_700_000_000_000])),
        draw(st.one_of(MOMENTS, st.sampled_from([-5, -1, 0, 1_700_000_000_000]))),
    )


@given(a=compact_rows(), b=compact_rows())
def test_rank_orders_rows_like_the_reference_merge(a: Compact, b: Compact) -> None:
    a_rank, b_rank = (rank(r.completed, r.progress, r.last) for r in (a, b))
    assert (_stat(a) if a_rank >= b_rank else _stat(b)) == more_advanced(_stat(a), _stat(b))


@given(
    rows=st.lists(compact_rows(), max_size=25),
    stored=st.dictionaries(
        st.tuples(
            st.sampled_from(["Course~c1", "Course~c2"]),
            st.sampled_from(["a@x.com", "b@x.com", "c@x.com"]),
        ),
        st.tuples(st.none() | compact_rows(), st.booleans()),
        max_size=6,
    ),
    incremental=st.booleans(),
)
def test_the_staging_merge_equals_the_python_merge(
    rows: list[Compact],
    stored: dict[tuple[str, str], tuple[Compact | None, bool]],
    incremental: bool,
) -> None:
    # the Python merge: arrival order, the most advanced row wins, a tie keeps the first
    merged: dict[tuple[str, str], MappedStat] = {}
    for row in rows:
        key = (row.external_id, row.learner)
        merged[key] = more_advanced(merged[key], _stat(row)) if key in merged else _stat(row)
    expected_send = {}
    for key, stat in merged.items():
        item = Compact(
            *key,
            stat.completed,
            stat.progress,
            stat.time_spent,
            to_ms(stat.first_activity_at),
            to_ms(stat.last_activity_at),
        )
        accepted, accepted_completed = stored.get(key, (None, False))
        sent_hash = item_hash(accepted) if accepted is not None else None
        if must_send(
            item_hash(item),
            item.completed,
            sent_hash,
            accepted_completed,
            incremental=incremental,
            new_rank=item_rank(item),
            sent_rank=item_rank(accepted) if accepted is not None else None,
        ):
            expected_send[key] = item

    with Staging.create(incremental=incremental) as staging:
        staging.load_states(
            [
                StatItemState(
                    ext,
                    learner,
                    "sent",
                    item_hash(item) if item else None,
                    completed,
                    sent_rank=item_rank(item) if item else None,
                )
                for (ext, learner), (item, completed) in stored.items()
            ],
            to_ms,
        )
        for row in rows:
            staging.add(row)
        assert staging.merged_count() == len(merged)
        sent = {
            (r[1], r[2]): Compact(r[1], r[2], bool(r[8]), r[3], r[4], r[5], r[6])
            for batch in staging.iter_to_send(7)
            for r in batch
        }
    assert sent == expected_send
