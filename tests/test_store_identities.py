"""The identity inbox's decisions in the store (learnsync.store.identities), on SQLite and
PostgreSQL: a Coursera learner mapped onto a 360Learning user or ignored, by casefolded address;
one 360Learning user takes one Coursera learner per integration (refused with a reason, also
when two decide at once)."""

from __future__ import annotations

import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from learnsync.store import Store
from learnsync.store.identities import LearnerMappings, MappingConflict, learner_key
from store_support import Clock


@pytest.fixture
def mappings(store: Store, clock: Clock) -> LearnerMappings:
    return LearnerMappings(store.engine, clock)


def _integration(store: Store, name: str = "a") -> int:
    return store.get_or_create_integration(f"https://x|g|{name}").id


def test_a_mapping_is_found_by_any_case_of_the_address(
    store: Store, mappings: LearnerMappings, clock: Clock
) -> None:
    one = _integration(store)
    made = mappings.map(one, " Alice@Example.com ", "alice.smith@corp.example", origin="manual",
                        actor="admin")  # fmt: skip
    assert (made.coursera_learner, made.threesixty_email, made.action) == (
        "Alice@Example.com",
        "alice.smith@corp.example",
        "map",
    )
    assert made.created_at == clock()
    assert mappings.targets(one, ["alice@example.com", "bob@example.com"]) == {
        "alice@example.com": "alice.smith@corp.example"
    }
    [stored] = mappings.all(one)
    assert stored == made


def test_a_learner_decided_again_keeps_one_decision(
    store: Store, mappings: LearnerMappings
) -> None:
    one = _integration(store)
    mappings.map(one, "alice@example.com", "a1@corp.example", origin="suggestion", actor="admin")
    mappings.map(one, "ALICE@example.com", "a2@corp.example", origin="manual", actor="admin")
    assert [(m.threesixty_email, m.origin) for m in mappings.all(one)] == [
        ("a2@corp.example", "manual")
    ]
    # the first user is free again: another learner may take it
    mappings.map(one, "carol@example.com", "a1@corp.example", origin="csv", actor="admin")
    ignored = mappings.ignore(one, "alice@example.com", actor="admin")
    assert (ignored.action, ignored.threesixty_email) == ("ignore", None)
    assert mappings.targets(one, ["alice@example.com"]) == {"alice@example.com": None}
    assert mappings.forget(one, "Alice@Example.com") is True
    assert mappings.forget(one, "alice@example.com") is False
    assert mappings.targets(one, ["alice@example.com"]) == {}


def test_two_learners_onto_one_user_are_refused_with_a_reason(
    store: Store, mappings: LearnerMappings
) -> None:
    one, two = _integration(store, "one"), _integration(store, "two")
    mappings.map(one, "alice@example.com", "user@corp.example", origin="manual", actor="admin")
    with pytest.raises(MappingConflict) as refused:
        mappings.map(one, "bob@example.com", "USER@corp.example", origin="manual", actor="admin")
    assert refused.value.taken_by == "alice@example.com"
    assert "already receives the statistics of alice@example.com" in str(refused.value)
    assert mappings.targets(one, ["bob@example.com"]) == {}
    # another integration is another 360Learning platform: no conflict there
    mappings.map(two, "bob@example.com", "user@corp.example", origin="manual", actor="admin")
    # ignored learners take no user: any number of them
    mappings.ignore(one, "x@example.com", actor="admin")
    mappings.ignore(one, "y@example.com", actor="admin")
    assert len(mappings.all(one)) == 3


def test_two_administrators_mapping_onto_one_user_at_once_one_wins(
    store: Store, mappings: LearnerMappings
) -> None:
    one = _integration(store)
    outcomes: list[str] = []
    start = threading.Barrier(2)

    def decide(learner: str) -> None:
        start.wait()
        try:
            mappings.map(one, learner, "user@corp.example", origin="manual", actor=learner)
            outcomes.append("mapped")
        except MappingConflict:
            outcomes.append("refused")

    threads = [threading.Thread(target=decide, args=(f"{n}@example.com",)) for n in "ab"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["mapped", "refused"]
    assert len(mappings.all(one)) == 1


@pytest.mark.parametrize(
    ("learner", "target", "origin", "problem"),
    [
        ("", "u@corp.example", "manual", "a Coursera learner's e-mail is needed"),
        ("a@example.com", "not-an-address", "manual", "is not an e-mail address"),
        ("a@example.com", "u@corp.example", "guess", "unknown mapping origin"),
    ],
)
def test_bad_decisions_are_refused(
    store: Store, mappings: LearnerMappings, learner: str, target: str, origin: str, problem: str
) -> None:
    one = _integration(store)
    with pytest.raises(ValueError, match=problem):
        mappings.map(one, learner, target, origin=origin, actor="admin")
    assert mappings.all(one) == []


@given(st.emails())
def test_a_learner_key_ignores_case_and_spaces(email: str) -> None:
    assert learner_key(f"  {email.upper()} ") == learner_key(email) == email.casefold()
