"""Prepare a run: the integration's store record, its 360Learning integration, its stored state."""

from __future__ import annotations

from dataclasses import dataclass, field

from learnsync.clients.threesixty.client import default_warnings
from learnsync.config import Config
from learnsync.errors import LearnsyncError
from learnsync.filter.rules import Filters
from learnsync.model.ports import ThreeSixtyTarget
from learnsync.store.repository import ContentItemState, IntegrationRecord, Store


@dataclass
class IntegrationHandle:
    record_id: int  # the store's id (0 in a dry run without a store)
    remote_id: str  # the 360Learning integration id ("" in a dry run when it does not exist yet)
    filters: Filters
    states: dict[str, ContentItemState] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def integration_fields(config: Config) -> dict[str, object]:
    t = config.threesixty
    return {
        "name": t.integration_name,
        "org_id": config.coursera.org_id,
        "base_url": t.base_url,
        "group_id": t.group_id,
        "author_id": t.author_id,
        "integration_name": t.integration_name,
        "archive_removed": config.sync.archive_removed,
        "content_type_overrides": dict(config.sync.content_types),
    }


def store_record(config: Config, store: Store) -> IntegrationRecord | None:
    """The integration's store row: by id for a service integration (its settings may have been
    renamed since it was created), by key for a ``--config`` run."""
    if config.integration_id is not None:
        return store.get_integration(config.integration_id)
    return store.get_integration(config.integration_key)


def prepare_integration(
    config: Config, store: Store | None, threesixty: ThreeSixtyTarget, *, dry_run: bool
) -> IntegrationHandle:
    """Find (or, outside a dry run, create) the store record and the 360Learning integration.

    A ``--config`` run finds its record by key (created when missing, its settings updated from
    the file); a service run (``config.integration_id``) uses that record as it is. A remembered
    360Learning integration that no longer has the configured name or group (the integration
    was renamed) is renamed in 360Learning rather than another one created.

    When the 360Learning integration id differs from the one remembered (it was deleted and
    re-created in 360Learning), the stored course states no longer describe it: every course is
    sent again, with a warning.
    """
    t = config.threesixty
    warnings: list[str] = []
    record = None
    if store is not None:
        if dry_run or config.integration_id is not None:
            record = store_record(config, store)
            if record is None and config.integration_id is not None:
                raise LearnsyncError(f"no integration with id {config.integration_id} in the store")
        else:
            record = store.get_or_create_integration(
                config.integration_key, **integration_fields(config)
            )
    known_id = record.remote_integration_id if record is not None else None

    if dry_run:
        found = threesixty.find_integration(t.integration_name, t.group_id)
        remote_id = str(found["_id"]) if found else ""
        if found:
            warnings.extend(default_warnings(found))  # what the real run's report would say
        elif known_id:
            remote_id = known_id
            warnings.append(
                f"the 360Learning integration {known_id} is not named {t.integration_name!r} in "
                f"group {t.group_id}: a real run would rename it"
            )
        else:
            warnings.append(
                f"the 360Learning integration {t.integration_name!r} does not exist yet in group "
                f"{t.group_id}: a real run would create it"
            )
    else:
        integration, more = threesixty.ensure_integration(
            name=t.integration_name, group_id=t.group_id, author_id=t.author_id, known_id=known_id
        )
        remote_id = str(integration["_id"])
        warnings.extend(more)

    filters = Filters()
    states: dict[str, ContentItemState] = {}
    if record is not None:
        filters = Filters(frozenset(record.languages), frozenset(record.content_types))
        states = store.load_content_items(record.id) if store is not None else {}
        known = record.remote_integration_id
        if remote_id and known and known != remote_id:
            warnings.append(
                f"the 360Learning integration changed ({known} → {remote_id}): "
                "every course is sent again"
            )
            states = {}
        if remote_id and known != remote_id and not dry_run and store is not None:
            store.set_remote_integration_id(record.id, remote_id)
    return IntegrationHandle(
        record_id=record.id if record is not None else 0,
        remote_id=remote_id,
        filters=filters,
        states=states,
        warnings=warnings,
    )
