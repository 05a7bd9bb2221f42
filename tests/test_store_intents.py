"""Write-ahead intents (learnsync.store.intents) on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy.exc import IntegrityError

from learnsync.store import Store
from learnsync.store.intents import Intents

NOW = datetime(2026, 12, 2, 8, 45, tzinfo=UTC)


@pytest.fixture
def store(url: str) -> Iterator[Store]:
    with Store.open(url) as opened:
        yield opened


@pytest.fixture
def intents(store: Store) -> Intents:
    return Intents(store.engine, lambda: NOW)


def test_an_intent_is_open_until_settled_and_carries_its_operation(
    store: Store, intents: Intents
) -> None:
    integration = store.get_or_create_integration("https://x|g|a").id
    items = [{"externalId": "Course~a", "courseId": "c1"}, {"externalId": "Course~b"}]
    intent_id = intents.record(integration, 7, "archive", items)
    [open_] = intents.open_for(integration)
    assert (open_.id, open_.run_id, open_.action, open_.operation_id, open_.items) == (
        intent_id,
        7,
        "archive",
        None,
        items,
    )
    assert open_.created_at == NOW
    intents.set_operation(intent_id, "65a1b2c3d4e5f60718293a4b")
    assert intents.open_for(integration)[0].operation_id == "65a1b2c3d4e5f60718293a4b"
    intents.settle(intent_id)
    intents.settle(intent_id)  # settling twice is harmless (a re-run after a kill)
    assert intents.open_for(integration) == []
    with pytest.raises(LookupError):
        intents.set_operation(intent_id, "x")


def test_open_intents_are_per_integration_oldest_first_and_of_earlier_runs(
    store: Store, intents: Intents
) -> None:
    one = store.get_or_create_integration("https://x|g|one").id
    two = store.get_or_create_integration("https://x|g|two").id
    first = intents.record(one, 3, "upsert", [{"externalId": "Course~a"}])
    intents.record(two, 4, "import", [{"externalId": "Course~a", "learner": "a@x.io"}])
    third = intents.record(one, 5, "restore", [{"externalId": "Course~b", "courseId": "c2"}])
    assert [i.id for i in intents.open_for(one)] == [first, third]
    assert [i.id for i in intents.open_for(one, before_run=5)] == [first]


def test_an_unknown_action_or_integration_is_refused(store: Store, intents: Intents) -> None:
    integration = store.get_or_create_integration("https://x|g|a").id
    with pytest.raises(ValueError, match="intent action"):
        intents.record(integration, 1, "delete", [])
    with pytest.raises(IntegrityError):
        intents.record(9999, 1, "upsert", [])
