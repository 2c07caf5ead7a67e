"""Moving a store between engines (SQLite and PostgreSQL): ``export`` to a file, ``import`` it.

The archive is JSON: the index's rows (credentials, versions with their key ids and hashes, the
rotation journal, links, the audit trail, the store's id) and the values of the current and
pending versions, each sealed with AES-GCM (``vaults.cipher``) under a fresh transfer key
written beside it (``FILE.key``, 0600); an import writes the values into the target's own
backend, so they are encrypted again under its key. Neither side is ever overwritten: export
refuses an existing file, import a store that already holds a credential. The imported store
keeps the exported store's id, so the values' keyring service and the remote credentials it
manages (their metadata) stay its own.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vaults import audit
from vaults.cipher import Cipher, CorruptSecretError, new_key, parse_key
from vaults.errors import AlreadyExistsError, StoreError, UsageError, VaultError
from vaults.index import Connection
from vaults.store import Store

FORMAT = "mcp-vault-export"
VERSION = 1
_VALUES = "mcp-vault-export-values"
_WITH_VALUE = ("pending", "current")

_CREDENTIALS = "id, name, kind, scopes, rotate_every, created_at, updated_at"
_VERSIONS = "version, state, kid, hash, created_at, not_after"
_ROTATIONS = "from_version, to_version, step, grace, owner, started_at, updated_at"
_LINKS = "kind, vault_id, remote_id, url, pushed_version, created_at, updated_at"
_AUDIT = "at, os_user, action, credential, version, kid, outcome, detail"


@dataclass(frozen=True, slots=True)
class Transfer:
    """What an export or import moved: counts, and the live values the source lacked."""

    path: Path
    key_path: Path
    credentials: int
    values: int
    audit_rows: int
    missing: tuple[str, ...] = ()


def key_path_for(path: Path) -> Path:
    return path.with_name(path.name + ".key")


def export(store: Store, path: Path, *, key_path: Path | None = None) -> Transfer:
    """Write ``store`` to ``path`` and a new transfer key to ``key_path`` (``FILE.key``)."""
    key_path = key_path or key_path_for(path)
    for target in (path, key_path):
        if target.exists():
            raise AlreadyExistsError(f"{target} already exists; export refuses to overwrite it")
    cipher_key = new_key()
    cipher = Cipher(cipher_key)
    with store.index.read() as conn:
        credentials = [_credential(conn, row) for row in conn.execute(
            f"SELECT {_CREDENTIALS} FROM credentials ORDER BY id"  # noqa: S608 - fixed columns
        )]  # fmt: skip
        trail = [_row(_AUDIT, r) for r in conn.execute(f"SELECT {_AUDIT} FROM audit ORDER BY id")]  # noqa: S608
    values, missing = [], []
    for credential in credentials:
        for number in _live_versions(credential):
            key = store.value_key(credential["name"], number)
            value = store.backend.get(store.service, key)
            if value is None:
                missing.append(key)
                continue
            nonce, sealed = cipher.seal(_VALUES, f"{store.store_id}/{key}", value)
            values.append({"name": credential["name"], "version": number,
                           "nonce": _b64(nonce), "ciphertext": _b64(sealed)})  # fmt: skip
    archive = {
        "format": FORMAT,
        "version": VERSION,
        "store_id": store.store_id,
        "exported_at": time.time(),
        "source": store.location,
        "credentials": credentials,
        "audit": trail,
        "values": values,
    }
    _write_private(key_path, base64.b64encode(cipher_key) + b"\n")
    try:
        _write_private(path, json.dumps(archive, indent=1).encode())
    except BaseException:
        key_path.unlink(missing_ok=True)
        raise
    with store.index.write() as conn:
        audit.record(conn, "export", detail=f"to {path} ({len(credentials)} credentials)")
    return Transfer(path, key_path, len(credentials), len(values), len(trail), tuple(missing))


def import_(store: Store, path: Path, *, key_path: Path | None = None) -> Transfer:
    """Load the archive at ``path`` into ``store``, which must hold no credential yet."""
    key_path = key_path or key_path_for(path)
    archive = _read_archive(path)
    cipher = Cipher(_read_key(key_path))
    source_id = str(archive["store_id"])
    plain = []
    for item in archive["values"]:
        key = store.value_key(item["name"], int(item["version"]))
        value = cipher.open(_VALUES, f"{source_id}/{key}", _unb64(item["nonce"]),
                            _unb64(item["ciphertext"]))  # fmt: skip
        if value is None:
            raise CorruptSecretError(
                f"{path}: the value of {key} does not decrypt with {key_path}; give the key file "
                "written by the same export"
            )
        plain.append((key, value))
    service = f"mcp-vault:{source_id}"
    written: list[str] = []
    try:
        with store.index.write() as conn:
            count = int(conn.execute("SELECT count(*) FROM credentials").fetchone()[0])
            if count:
                raise AlreadyExistsError(
                    f"the store at {store.location} already holds {count} credentials; import "
                    "refuses to overwrite: import into an empty store (another --store DIR or "
                    "database)"
                )
            for credential in archive["credentials"]:
                _insert(conn, credential)
            for row in archive["audit"]:
                conn.execute(
                    f"INSERT INTO audit ({_AUDIT}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",  # noqa: S608
                    tuple(row.get(column) for column in _AUDIT.split(", ")),
                )
            conn.execute(
                "INSERT INTO meta (key, value) VALUES ('store_id', ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (source_id,),
            )
            audit.record(
                conn, "import", outcome="ok",
                detail=f"from {archive.get('source')} ({len(archive['credentials'])} credentials, "
                f"{len(plain)} values)",
            )  # fmt: skip
            for key, value in plain:  # written before the commit, as adding a value does
                store.backend.set(service, key, value)
                written.append(key)
    except BaseException:
        for key in written:
            with contextlib.suppress(VaultError):  # an orphan value is harmless: no row takes it
                store.backend.delete(service, key)
        raise
    store.store_id = source_id
    return Transfer(path, key_path, len(archive["credentials"]), len(plain), len(archive["audit"]))


def _credential(conn: Connection, row: tuple[Any, ...]) -> dict[str, Any]:
    data = _row(_CREDENTIALS, row)
    cid = data.pop("id")
    data["scopes"] = json.loads(data["scopes"])
    data["versions"] = [
        {**_row(_VERSIONS, r), "hash": None if r[3] is None else _b64(bytes(r[3]))}
        for r in conn.execute(
            f"SELECT {_VERSIONS} FROM versions WHERE credential_id = ? ORDER BY version",  # noqa: S608
            (cid,),
        )
    ]
    journal = conn.execute(
        f"SELECT {_ROTATIONS} FROM rotations WHERE credential_id = ?",  # noqa: S608
        (cid,),
    ).fetchone()
    data["rotation"] = None if journal is None else _row(_ROTATIONS, journal)
    data["links"] = [
        _row(_LINKS, r)
        for r in conn.execute(
            f"SELECT {_LINKS} FROM links WHERE credential_id = ? ORDER BY id",  # noqa: S608
            (cid,),
        )
    ]
    return data


def _insert(conn: Connection, credential: dict[str, Any]) -> None:
    (cid,) = conn.execute(
        "INSERT INTO credentials (name, kind, scopes, rotate_every, created_at, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
        (credential["name"], credential["kind"], json.dumps(credential["scopes"]),
         credential["rotate_every"], credential["created_at"], credential["updated_at"]),
    ).fetchone()  # fmt: skip
    for version in credential["versions"]:
        digest = None if version["hash"] is None else _unb64(version["hash"])
        conn.execute(
            f"INSERT INTO versions (credential_id, {_VERSIONS}) VALUES (?, ?, ?, ?, ?, ?, ?)",  # noqa: S608
            (cid, version["version"], version["state"], version["kid"], digest,
             version["created_at"], version["not_after"]),
        )  # fmt: skip
    journal = credential["rotation"]
    if journal is not None:
        conn.execute(
            f"INSERT INTO rotations (credential_id, {_ROTATIONS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",  # noqa: S608
            (cid, *(journal[column] for column in _ROTATIONS.split(", "))),
        )
    for link in credential["links"]:
        conn.execute(
            f"INSERT INTO links (credential_id, {_LINKS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",  # noqa: S608
            (cid, *(link[column] for column in _LINKS.split(", "))),
        )


def _live_versions(credential: dict[str, Any]) -> list[int]:
    # A previous version keeps only its hash: finish deleted its value.
    numbers = [v["version"] for v in credential["versions"] if v["state"] in _WITH_VALUE]
    journal = credential["rotation"]
    if journal is not None and journal["to_version"] not in numbers:
        numbers.append(journal["to_version"])  # a rotation killed between value and row
    return numbers


def _row(columns: str, row: tuple[Any, ...]) -> dict[str, Any]:
    return dict(zip(columns.split(", "), row, strict=True))


def _read_archive(path: Path) -> dict[str, Any]:
    try:
        archive = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"no export at {path}; give the file mcp-vault export wrote") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise UsageError(f"{path} is not an mcp-vault export ({exc})") from exc
    if not isinstance(archive, dict) or archive.get("format") != FORMAT:
        raise UsageError(f"{path} is not an mcp-vault export")
    if archive.get("version") != VERSION:
        raise UsageError(
            f"{path} is an export of format version {archive.get('version')}; this mcp-vault "
            f"reads version {VERSION} (upgrade mcp-vault)"
        )
    return archive


def _read_key(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise UsageError(
            f"no transfer key at {path}; give the .key file export wrote with --key-file"
        ) from None
    return parse_key(raw, path)


def _write_private(path: Path, data: bytes) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
    except FileExistsError:
        raise AlreadyExistsError(f"{path} already exists; export refuses to overwrite it") from None
    except OSError as exc:
        raise StoreError(
            f"cannot write {path}: {exc.strerror or exc}; check the permissions of {path.parent}"
        ) from exc


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(text: str) -> bytes:
    return base64.b64decode(text)
