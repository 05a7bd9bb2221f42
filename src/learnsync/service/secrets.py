"""Secrets encrypted at rest with Fernet (AES-128-CBC + HMAC-SHA256, from ``cryptography``).

The key comes from ``LEARNSYNC_SECRET_KEY`` (a Fernet key: 32 url-safe base64-encoded bytes) or
from the file named by ``LEARNSYNC_SECRET_KEY_FILE``. Without a key the service refuses to start,
except in sandbox mode, which generates a throw-away key.

Files: a key file any other user may access is refused (as PostgreSQL does for its TLS key: mode
0600 or stricter, or 0640 when root owns it); a new key file and a new SQLite store are created
0600; an existing SQLite store that other users may read gets a warning (:func:`private_store`).
:func:`rotate_key` re-encrypts every stored secret under a new key in one transaction.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from learnsync.errors import ConfigError
from learnsync.store.service_repository import ServiceRepository

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


def _too_open(st: os.stat_result) -> bool:
    """Other users may access the file: any group or other permission, except group read of
    a file root owns (a key provisioned ``root:service 0640``)."""
    mode = stat.S_IMODE(st.st_mode)
    allowed_group = 0o040 if st.st_uid == 0 else 0
    return bool(mode & 0o077 & ~allowed_group)


def loose_file_warning(path: Path, what: str) -> str | None:
    """The warning for a file other users may read or write (``None`` when it is private).
    Said loudly, not refused: a deployment whose key file is readable keeps working while its
    operator fixes it (docs/security.md#secrets-at-rest)."""
    if os.name != "posix":
        return None
    try:
        st = path.stat()
    except OSError:
        return None  # reading it says what is wrong
    if not _too_open(st):
        return None
    return (
        f"{what} {path} is accessible to other users (mode {stat.S_IMODE(st.st_mode):04o}): "
        f"anyone who can read it can decrypt the stored secrets; make it private with "
        f"`chmod 600 {path}`"
    )


def key_file_warning(env: Mapping[str, str] | None = None) -> str | None:
    """The warning for the environment's key file, when it is not private."""
    env = os.environ if env is None else env
    if env.get(KEY_ENV, "").strip():
        return None
    file = env.get(KEY_FILE_ENV, "").strip()
    return loose_file_warning(Path(file), "the secret key file") if file else None


def write_key_file(path: Path) -> bytes:
    """A new Fernet key in a new file, created 0600 (never over an existing file)."""
    key = Fernet.generate_key()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except OSError as exc:
        raise ConfigError(f"cannot create the key file {path}: {exc.strerror or exc}") from None
    try:
        os.write(fd, key + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    return key


def read_key_file(path: Path, env_name: str = KEY_FILE_ENV) -> bytes:
    """The key in ``path`` (a file other users may read is warned about by the command line:
    :func:`key_file_warning`)."""
    try:
        content = path.read_bytes().strip()
    except OSError as exc:
        raise ConfigError(
            f"cannot read the secret key file {path} ({exc.strerror or exc}): check {env_name}"
        ) from None
    if not content:
        raise ConfigError(f"the secret key file {path} is empty")
    return content


def rotate_key(repo: ServiceRepository, old: SecretBox, new: SecretBox) -> tuple[int, int]:
    """Re-encrypt every stored secret under ``new``, in one transaction: a secret neither key
    decrypts stops it with nothing changed. A secret already under ``new`` (a rotation that was
    interrupted after its commit) is re-encrypted too, so running it again is safe. Returns
    (integrations, secrets) re-encrypted."""
    both = MultiFernet([new._fernet, old._fernet])

    def reencrypt(token: str) -> str:
        try:
            return both.rotate(token.encode("ascii")).decode("ascii")
        except (InvalidToken, UnicodeEncodeError):
            raise ConfigError(
                "a stored secret can be decrypted neither with the current key nor with the new "
                "one: nothing was changed; give the key the secrets were saved with in "
                f"{KEY_ENV} or {KEY_FILE_ENV}"
            ) from None

    return repo.reencrypt_secrets(reencrypt)


def private_store(url: str) -> str | None:
    """Before a service opens a SQLite store: a missing file is created empty with mode 0600
    (SQLite gives its ``-wal`` and ``-shm`` files the same mode); for an existing one that
    other users may read, the warning to show. None for other databases."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return None  # opening the store says what is wrong
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return None
    if database.startswith("file:") or parsed.query.get("mode") == "memory":
        return None  # a URI filename: SQLite's own options decide
    path = Path(database)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    except OSError:
        return None  # opening the store says what is wrong
    else:
        os.close(fd)
        return None
    if os.name != "posix":
        return None
    files = [p for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")) if p.exists()]
    loose = [p for p in files if _too_open(p.stat())]
    if not loose:
        return None
    mode = stat.S_IMODE(loose[0].stat().st_mode)
    return (
        f"the store {path} is accessible to other users (mode {mode:04o}): it holds the encrypted "
        "secrets, the password hashes and the learners' data; make it private with "
        f"`chmod 600 {' '.join(str(p) for p in loose)}`"
    )


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
    return read_key_file(Path(file))


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
