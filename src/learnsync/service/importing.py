"""Import an integration from a config file (docs/contract.md#configuration-file) uploaded in the
web app.

Same rules as ``learnsync integrations import``: the file is validated by
:func:`~learnsync.config.parse_config`, its secrets are encrypted on save, an integration with the
same name is updated. The file's ``[store]`` is ignored (the service has its own store), and
the environment is not consulted: an uploaded file must be complete.
"""

from __future__ import annotations

import tomllib

from learnsync.config import parse_config
from learnsync.errors import ConfigError
from learnsync.service.core import Service
from learnsync.service.integrations import input_from_config
from learnsync.service.setup import verify_credentials

MAX_BYTES = 64 * 1024


def import_integration(service: Service, data: bytes, label: str) -> tuple[int, bool]:
    """``(integration id, updated?)``; :class:`ConfigError` naming the problem (never a value)."""
    if not data.strip():
        raise ConfigError("choose a config file (TOML, as for learnsync --config) to import")
    if len(data) > MAX_BYTES:
        raise ConfigError(f"the file is larger than {MAX_BYTES // 1024} KiB: is it a config file?")
    try:
        raw = tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError("the file is not UTF-8 text: upload the TOML config file") from None
    except tomllib.TOMLDecodeError as exc:
        # the decoder's message names a line and column, never the text itself
        raise ConfigError(f"the file is not valid TOML: {exc}") from None
    raw.pop("store", None)
    config = parse_config(raw, source="the uploaded file", env={})
    existing = next((i for i in service.repo.list_integrations() if i.label == label), None)
    new_id = service.integrations.save(
        input_from_config(config, label),
        existing.id if existing else None,
        verify=verify_credentials,  # an update's changed credentials are checked first
    )
    return new_id, existing is not None
