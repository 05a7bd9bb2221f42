"""Secrets encrypted at rest with Fernet (AES-128-CBC + HMAC-SHA256, from ``cryptography``).

The key comes from ``LEARNSYNC_SECRET_KEY`` (a Fernet key: 32 url-safe base64-encoded bytes) or
from the file named by ``LEARNSYNC_SECRET_KEY_FILE``. Without a key the service refuses to start,
except in sandbox mode, which generates a throw-away key.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from learnsync.errors import ConfigError

KEY_ENV = "LEARNSYNC_SECRET_KEY"
KEY_FILE_ENV = "LEARNSYNC_SECRET_KEY_FILE"

_NO_KEY = (
    f"no secret key: set {KEY_ENV} or {KEY_FILE_ENV} (create one with "
    "`python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'`)"
)


class SecretBox:
    """Encrypts and decrypts one secret string at a time. Never logs or shows a value."""

    def __init__(self, key: bytes | str) -> None:
        try:
            self._fernet = Fernet(key)
        except (ValueError, TypeError):
            raise ConfigError(
                "the secret key is not a valid Fernet key (32 url-safe base64-encoded bytes): "
                f"check {KEY_ENV} or the file in {KEY_FILE_ENV}"
            ) from None

    def __repr__(self) -> str:
        return "SecretBox(<key hidden>)"

    @classmethod
    def generate(cls) -> SecretBox:
        return cls(Fernet.generate_key())

    def encrypt(self, value: str) -> str:
        return self._fernet.encrypt(value.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except InvalidToken:
            raise ConfigError(
                "a stored secret cannot be decrypted with this secret key: start the service "
                "with the key it was saved with, or enter the credentials again"
            ) from None


def load_key(env: Mapping[str, str] | None = None) -> bytes | None:
    """The key from the environment or the key file; ``None`` when neither is set."""
    env = os.environ if env is None else env
    # bytes as they are: a malformed key is refused by SecretBox with one clear message, and no
    # codec error ever quotes a character of it
    value = env.get(KEY_ENV, "").strip()
    if value:
        return value.encode("utf-8", "surrogateescape")
    file = env.get(KEY_FILE_ENV, "").strip()
    if not file:
        return None
    try:
        content = Path(file).read_bytes().strip()
    except OSError as exc:
        raise ConfigError(
            f"cannot read the secret key file {file} ({exc.strerror or exc}): check {KEY_FILE_ENV}"
        ) from None
    if not content:
        raise ConfigError(f"the secret key file {file} is empty")
    return content


def secret_box_from_env(
    env: Mapping[str, str] | None = None, *, sandbox: bool = False
) -> SecretBox:
    """The service's box; refuses without a key unless ``sandbox`` (which generates one)."""
    key = load_key(env)
    if key is None:
        if sandbox:
            return SecretBox.generate()
        raise ConfigError(_NO_KEY)
    return SecretBox(key)
