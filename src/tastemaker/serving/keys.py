"""API keys of the HTTP server: created, listed and revoked by ``tastemaker keys``, stored hashed.

A key is ``tmk_<id>_<secret>``: ``id`` (8 hex digits) names the record, ``secret`` is 32 random
bytes (``secrets.token_urlsafe``). The workspace's ``api-keys.json`` keeps, per key, its id, name,
scopes, creation time, a random salt and ``sha256(salt + secret)`` — never the key itself, so the
file cannot be used to call the server. The key is printed once, at creation. A salted SHA-256
rather than a slow password hash (scrypt): the secret has 256 random bits, nothing to guess, and
the check runs on every request, where scrypt would cost tens of milliseconds.

While the workspace has no keys file the server is open (local use); once it has one, every
``/v1`` route needs a key with the route's scope, even when every key has been revoked (delete
the file to open the server again). The file is replaced atomically (temp file, ``fsync``,
``rename``) under a lock, so two ``tastemaker keys create`` at once lose neither key and a
server never reads half a file.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, get_args

import orjson

#: the file, in the workspace folder
KEYS_FILE = "api-keys.json"
Scope = Literal["ingest", "read", "admin"]
SCOPES: tuple[Scope, ...] = get_args(Scope)
PREFIX = "tmk"
_KEY = re.compile(rf"^{PREFIX}_([0-9a-f]{{8}})_([A-Za-z0-9_-]{{43}})$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass(frozen=True, slots=True)
class ApiKey:
    """One stored key: what it may do, and the salted hash its secret must match."""

    id: str
    name: str
    scopes: frozenset[Scope]
    created: str
    salt: str
    sha256: str

    def matches(self, secret: str) -> bool:
        """Whether ``secret`` is this key's (a constant-time comparison of the hashes)."""
        return hmac.compare_digest(_digest(self.salt, secret), self.sha256)

    def public(self) -> dict[str, object]:
        """What ``tastemaker keys list`` shows: no salt, no hash."""
        return {"name": self.name, "id": self.id, "scopes": sorted(self.scopes), "created": self.created}


def keys_path(workspace: Path) -> Path:
    """Where ``workspace`` keeps its API keys."""
    return workspace / KEYS_FILE


def read_keys(path: Path) -> list[ApiKey] | None:
    """The keys stored at ``path``; ``None`` when there is no such file (an open workspace).

    Raises ``ValueError`` when the file is not a keys file.
    """
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        records = orjson.loads(raw)["keys"]
        return [ApiKey(r["id"], r["name"], frozenset(_scopes(r["scopes"])), r["created"], r["salt"],
                       r["sha256"]) for r in records]
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path} is not an API keys file ({type(exc).__name__}); restore it or delete it "
                         "and create the keys again") from None


def split_key(presented: str) -> tuple[str, str] | None:
    """``(id, secret)`` of a key as a client sends it, or ``None`` when it is not shaped like one."""
    found = _KEY.match(presented)
    return (found.group(1), found.group(2)) if found else None


def create_key(path: Path, scopes: Iterable[str], name: str | None = None,
               now: datetime | None = None) -> tuple[ApiKey, str]:
    """Store a new key with ``scopes`` (some of ``ingest``, ``read``, ``admin``); returns it and the
    full key, which is nowhere else: show it to the user once.

    ``name`` (letters, digits, ``.``, ``_``, ``-``; default ``key-<id>``) must be new.

    >>> stored, key = create_key(Path("ws/api-keys.json"), ["read"], "web")  # doctest: +SKIP
    >>> key[:4]  # doctest: +SKIP
    'tmk_'
    """
    wanted = frozenset(_scopes(scopes))
    if not wanted:
        raise ValueError(f"give at least one scope: {', '.join(SCOPES)}")
    if name is not None and not _NAME.match(name):
        raise ValueError(f"name {name!r}: 1 to 64 letters, digits, '.', '_' or '-', starting with a letter "
                         "or digit")
    with _locked(path):
        keys = read_keys(path) or []
        taken = {k.id for k in keys}
        key_id = secrets.token_hex(4)
        while key_id in taken:
            key_id = secrets.token_hex(4)
        name = name or f"key-{key_id}"
        if any(k.name == name for k in keys):
            raise ValueError(f"a key named {name!r} exists; revoke it first or pick another --name")
        secret, salt = secrets.token_urlsafe(32), secrets.token_hex(16)
        created = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
        stored = ApiKey(key_id, name, wanted, created, salt, _digest(salt, secret))
        _write(path, [*keys, stored])
    return stored, f"{PREFIX}_{key_id}_{secret}"


def revoke_key(path: Path, name: str) -> ApiKey:
    """Remove the key named ``name`` (a running server refuses it from its next request); returns it."""
    with _locked(path):
        keys = read_keys(path) or []
        gone = [k for k in keys if k.name == name]
        if not gone:
            known = ", ".join(k.name for k in keys) or "none"
            raise ValueError(f"no key named {name!r} (keys: {known})")
        _write(path, [k for k in keys if k.name != name])
    return gone[0]


def _scopes(scopes: Iterable[str]) -> list[Scope]:
    scopes = list(scopes)
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown:
        raise ValueError(f"unknown scope {unknown[0]!r}; scopes are {', '.join(SCOPES)}")
    return [s for s in SCOPES if s in scopes]


def _digest(salt: str, secret: str) -> str:
    return hashlib.sha256(bytes.fromhex(salt) + secret.encode()).hexdigest()


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold the keys file's lock (a sibling ``.lock`` file) while reading and replacing it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _write(path: Path, keys: list[ApiKey]) -> None:
    """Replace the keys file atomically; readable by its owner only."""
    records = [{"id": k.id, "name": k.name, "scopes": sorted(k.scopes), "created": k.created, "salt": k.salt,
                "sha256": k.sha256} for k in keys]
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(orjson.dumps({"keys": records}, option=orjson.OPT_INDENT_2))
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(temp, path)
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)
