"""The vault store: the SQLite index plus the keyring that holds the values.

``Store`` is the library API that ``mcp-vault`` (and the bridge) call; it never prints or exits.
"""

from __future__ import annotations

import builtins
import re
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vaults import audit, rotation, tokens
from vaults.errors import (
    AlreadyExistsError,
    KeyringError,
    NotFoundError,
    StoreError,
    UsageError,
    VaultError,
)
from vaults.index import LIVE_STATES, CredentialInfo, Index, Link
from vaults.paths import ensure_private_dir, resolve_store_dir
from vaults.rotation import Checkpoint, RotationResult, Tester
from vaults.verifier import TokenIndex

if TYPE_CHECKING:
    from vaults.keyrings import SecretBackend

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_PROBE_KEY = "doctor-probe"
DEFAULT_GRACE = 86400.0


@dataclass(frozen=True, slots=True)
class Minted:
    """A freshly minted token; ``token`` is shown once and stays out of ``repr``."""

    name: str
    version: int
    kid: str
    token: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class Check:
    """One line of ``mcp-vault doctor``."""

    name: str
    ok: bool
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def validate_name(name: str) -> str:
    """``name`` if it is a valid credential name, else UsageError."""
    if not _NAME.fullmatch(name):
        raise UsageError(
            f"bad credential name {name!r}: use 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return name


def _validate_scopes(scopes: Sequence[str]) -> tuple[str, ...]:
    cleaned = tuple(scope.strip() for scope in scopes)
    if any(not scope for scope in cleaned):
        raise UsageError("a scope must be a non-empty tool name or glob (e.g. 'inv_*')")
    return tuple(dict.fromkeys(cleaned))


class Store:
    """A vault store directory: ``index.db`` plus values in the keyring under ``service``."""

    def __init__(self, store_dir: Path, index: Index, backend_name: str | None) -> None:
        self.store_dir = store_dir
        self.index = index
        self._backend_name = backend_name
        self._backend: SecretBackend | None = None
        self._backend_lock = threading.Lock()
        store_id = index.get_meta("store_id")
        self.store_id = store_id or ""

    @classmethod
    def open(
        cls, store_dir: Path | None = None, *, backend: str | None = None, create: bool = True
    ) -> Store:
        """Open the store at ``store_dir`` (else MCP_VAULT_DIR, else the per-user default).

        With ``create`` (the default) a missing store is created and initialised; without it a
        missing store is a StoreError that says to run ``mcp-vault init``.
        """
        path = resolve_store_dir(store_dir)
        if create:
            ensure_private_dir(path)
        elif not path.is_dir():
            raise StoreError(
                f"no vault store at {path}: run mcp-vault init, "
                "or point --store / MCP_VAULT_DIR at an existing store"
            )
        index = Index(path, create=create)
        store = cls(path, index, backend)
        if create:
            store._ensure_id()
        elif not store.store_id:
            index.close()
            raise StoreError(f"the vault store at {path} is not initialised: run mcp-vault init")
        return store

    def close(self) -> None:
        self.index.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({str(self.store_dir)!r}, store_id={self.store_id!r})"

    @property
    def service(self) -> str:
        """The keyring service under which this store keeps its values."""
        return f"mcp-vault:{self.store_id}"

    @staticmethod
    def value_key(name: str, version: int) -> str:
        """The keyring key of one version's value."""
        return f"{name}@{version}"

    @property
    def backend(self) -> SecretBackend:
        """The keyring backend holding the values (chosen on first use)."""
        with self._backend_lock:
            if self._backend is None:
                from vaults.keyrings import open_secret_backend

                self._backend = open_secret_backend(self.store_dir, self._backend_name)
            return self._backend

    def _ensure_id(self) -> bool:
        if self.store_id:
            return False
        with self.index.write() as conn:
            found = self.index.get_meta("store_id")
            if found:
                self.store_id = found
                return False
            self.store_id = secrets.token_hex(8)
            self.index.set_meta("store_id", self.store_id)
            self.index.set_meta("created_at", str(time.time()))
            audit.record(conn, "init", detail=str(self.store_dir))
        return True

    def init(self) -> None:
        """Create the store if needed and check that the keyring works (idempotent)."""
        self._ensure_id()
        backend = self.backend
        backend.set(self.service, _PROBE_KEY, "probe")
        try:
            if backend.get(self.service, _PROBE_KEY) != "probe":
                raise KeyringError(
                    f"the keyring backend {backend.name} did not return what was stored; "
                    "pick another with --backend or PYTHON_KEYRING_BACKEND"
                )
        finally:
            backend.delete(self.service, _PROBE_KEY)

    # --- adding -------------------------------------------------------------------------------

    def add_token(
        self, name: str, *, scopes: Sequence[str] = (), rotate_every: float | None = None
    ) -> Minted:
        """Mint a bridge token named ``name``; the returned ``Minted.token`` is shown once."""
        validate_name(name)
        clean_scopes = _validate_scopes(scopes)
        if rotate_every is not None and rotate_every <= 0:
            raise UsageError("--rotate-every must be a positive duration, e.g. 30d")
        token = tokens.generate()
        parsed = tokens.parse(token)
        assert parsed is not None
        self._add(
            name, "token", token, scopes=clean_scopes, rotate_every=rotate_every, kid=parsed.kid,
            digest=tokens.hash_secret(parsed.secret),
        )  # fmt: skip
        return Minted(name, 1, parsed.kid, token)

    def add_secret(self, name: str, value: str) -> CredentialInfo:
        """Store ``value`` as the secret ``name`` (for tools: ``vault:NAME``)."""
        validate_name(name)
        if not isinstance(value, str) or value == "":
            raise UsageError(f"the value of {name} is empty; pass it on stdin")
        self._add(name, "secret", value, scopes=(), rotate_every=None, kid=None, digest=None)
        return self.show(name)

    def _add(
        self,
        name: str,
        kind: str,
        value: str,
        *,
        scopes: tuple[str, ...],
        rotate_every: float | None,
        kid: str | None,
        digest: bytes | None,
    ) -> None:
        backend = self.backend
        key = self.value_key(name, 1)
        written = False
        try:
            # The value is written while the index's write lock is held, so two processes adding
            # the same name cannot overwrite each other's value.
            with self.index.write() as conn:
                if self.index.has_credential(name):
                    raise AlreadyExistsError(
                        f"a credential named {name!r} already exists; pick another name, or "
                        f"use mcp-vault rotate {name} to replace its value",
                        name=name,
                    )
                now = time.time()
                cid = self.index.insert_credential(name, kind, scopes, rotate_every, now)
                self.index.insert_version(cid, 1, "current", kid, digest, now)
                audit.record(conn, "add", credential=name, version=1, kid=kid, detail=kind)
                backend.set(self.service, key, value)
                written = True
        except StoreError:
            if written:
                self._forget(key)
            raise

    # --- reading ------------------------------------------------------------------------------

    def list(self) -> builtins.list[CredentialInfo]:
        """Every credential, by name; never a value."""
        with self.index.read():
            return self.index.credentials()

    def show(self, name: str) -> CredentialInfo:
        """One credential (NotFoundError if none); never a value."""
        with self.index.read():
            return self.index.credential(name)

    def has_secret(self, name: str) -> bool:
        """Whether ``name`` exists with a current version (reads the index only)."""
        try:
            info = self.show(name)
        except NotFoundError:
            return False
        return info.current is not None

    def secret(self, name: str) -> str:
        """The current value of ``name`` (a tool's secret, or a token), read from the keyring."""
        return self._value(name, self._current_version(name))

    def _current_version(self, name: str) -> int:
        current = self.show(name).current
        if current is None:
            raise NotFoundError(
                f"{name} has no current version (revoked?); run mcp-vault rotate {name}",
                name=name,
            )
        return current.version

    def _value(self, name: str, version: int) -> str:
        value = self.backend.get(self.service, self.value_key(name, version))
        if value is None:
            raise KeyringError(
                f"the value of {name} (version {version}) is missing from the keyring "
                f"({self.backend.name}); run mcp-vault doctor, then mcp-vault rotate {name}"
            )
        return value

    def reveal(self, name: str) -> str:
        """The current value of ``name``, for a person or a script; the reveal is audited."""
        value = self.secret(name)
        current = self.show(name).current
        with self.index.write() as conn:
            audit.record(
                conn,
                "reveal",
                credential=name,
                version=current.version if current else None,
                kid=current.kid if current else None,
            )
        return value

    def audit(self, *, since: datetime | None = None) -> builtins.list[audit.AuditRow]:
        """The audit trail, oldest first, optionally from ``since`` on."""
        with self.index.read() as conn:
            try:
                return audit.rows(conn, since=since)
            except sqlite3.Error as exc:
                raise StoreError(
                    f"cannot read the audit trail: {exc}; run mcp-vault doctor"
                ) from exc

    def secret_resolver(self) -> StoreSecrets:
        """This store as the bridge's secret resolver (``exists`` / ``get``)."""
        return StoreSecrets(self)

    def token_index(
        self,
        accepted: Iterable[str] | None = None,
        *,
        check_interval: float = 0.25,
        miss_interval: float = 0.0,
    ) -> TokenIndex:
        """A verifier over this store's tokens (only ``accepted`` names, if given)."""
        return TokenIndex(
            self.index.path, accepted, check_interval=check_interval, miss_interval=miss_interval
        )

    # --- changing -----------------------------------------------------------------------------

    def rotate(
        self,
        name: str,
        *,
        grace: float = DEFAULT_GRACE,
        resume: bool = False,
        value: str | None = None,
        tester: Tester | None = None,
        checkpoint: Checkpoint = rotation.crash_checkpoint,
    ) -> RotationResult:
        """Rotate ``name`` (a secret needs ``value``), or resume its interrupted rotation.

        ``tester(name, new_value)`` runs at the test step; ``checkpoint(step)`` runs after each
        step (raising there interrupts the rotation, as a crash would).
        """
        validate_name(name)
        return rotation.rotate(
            self, name, grace=grace, resume=resume, value=value, tester=tester,
            checkpoint=checkpoint,
        )  # fmt: skip

    def rotate_due(
        self, *, grace: float = DEFAULT_GRACE, now: float | None = None
    ) -> builtins.list[RotationResult]:
        """Rotate every token whose current version is older than its ``rotate_every``."""
        moment = time.time() if now is None else now
        due = []
        for info in self.list():
            current = info.current
            if info.kind != "token" or info.rotate_every is None:
                continue
            if current is None or current.created_at.timestamp() + info.rotate_every <= moment:
                due.append(info.name)
        results = []
        failures: builtins.list[str] = []
        for name in due:
            try:
                results.append(self.rotate(name, grace=grace))
            except VaultError as exc:
                failures.append(f"{name}: {exc}")
        if failures:
            raise rotation.RotationError(
                f"{len(failures)} of {len(due)} due rotations failed ("
                + "; ".join(failures)
                + "); the others are done"
            )
        return results

    def revoke(self, name: str, *, version: int | None = None) -> builtins.list[int]:
        """Revoke one version, or every live one; returns the versions revoked."""
        validate_name(name)
        with self.index.write() as conn:
            info = self.index.credential(name)
            if version is None:
                targets = [v for v in info.versions if v.state in LIVE_STATES]
            else:
                targets = [v for v in info.versions if v.version == version]
                if not targets:
                    raise NotFoundError(
                        f"{name} has no version {version}; see mcp-vault show {name}", name=name
                    )
                targets = [v for v in targets if v.state in LIVE_STATES]
            journal = info.rotation
            if journal is not None and (version is None or version == journal.to_version):
                self.index.delete_rotation(info.id)
                audit.record(
                    conn, "rotate.cancel", credential=name, version=journal.to_version,
                    detail="revoked",
                )  # fmt: skip
            now = time.time()
            for target in targets:
                self.index.set_state(info.id, target.version, "revoked", now)
                audit.record(
                    conn, "revoke", credential=name, version=target.version, kid=target.kid
                )
            self.index.touch_credential(info.id, now)
        for target in targets:
            self._forget(self.value_key(name, target.version))
        return [target.version for target in targets]

    def remove(self, name: str) -> None:
        """Delete ``name`` from the index and its values from the keyring (the audit stays)."""
        validate_name(name)
        with self.index.write() as conn:
            info = self.index.credential(name)
            last = max([v.version for v in info.versions] or [0])
            if info.rotation is not None:
                last = max(last, info.rotation.to_version)
            self.index.delete_credential(info.id)
            audit.record(conn, "remove", credential=name, detail=info.kind)
        failed = [v for v in range(1, last + 1) if not self._forget(self.value_key(name, v))]
        if failed:
            raise KeyringError(
                f"{name} is removed from the index, but the keyring ({self.backend.name}) refused "
                f"to delete the values of versions {failed}; delete them with your keyring tool "
                f"(service {self.service})"
            )

    def _forget(self, key: str) -> bool:
        try:
            self.backend.delete(self.service, key)
        except KeyringError:
            return False
        return True

    # --- links (remote sync) ------------------------------------------------------------------

    def links(self, name: str | None = None) -> builtins.list[Link]:
        """Remote links of ``name``, or of every credential."""
        with self.index.read():
            if name is None:
                return self.index.links()
            return self.index.links(self.index.credential(name).id)

    def add_link(
        self, name: str, *, kind: str, vault_id: str, url: str, remote_id: str | None = None
    ) -> Link:
        """Record that ``name`` is pushed to ``vault_id`` (as the credential for ``url``)."""
        with self.index.write() as conn:
            info = self.index.credential(name)
            try:
                link_id = self.index.insert_link(
                    info.id, kind, vault_id, url, remote_id, time.time()
                )
            except sqlite3.IntegrityError as exc:
                raise AlreadyExistsError(
                    f"{name} is already linked to {kind} {vault_id} for {url}", name=name
                ) from exc
            audit.record(conn, "link.add", credential=name, detail=f"{kind} {vault_id} {url}")
            return self.index.link(link_id)

    def update_link(
        self,
        link_id: int,
        *,
        remote_id: str | None = None,
        pushed_version: int | None = None,
        url: str | None = None,
        vault_id: str | None = None,
    ) -> Link:
        """Change the given fields of a link (e.g. after a push)."""
        changes: dict[str, Any] = {
            key: value
            for key, value in (
                ("remote_id", remote_id),
                ("pushed_version", pushed_version),
                ("url", url),
                ("vault_id", vault_id),
            )
            if value is not None
        }
        with self.index.write() as conn:
            link = self.index.link(link_id)
            self.index.update_link(link_id, time.time(), **changes)
            audit.record(
                conn, "link.update", credential=link.credential, version=pushed_version,
                detail=f"{link.kind} {vault_id or link.vault_id} {', '.join(sorted(changes))}",
            )  # fmt: skip
            return self.index.link(link_id)

    def remove_link(self, link_id: int) -> None:
        """Forget a link (the remote credential itself is not touched)."""
        with self.index.write() as conn:
            link = self.index.link(link_id)
            self.index.delete_link(link_id)
            audit.record(
                conn, "link.remove", credential=link.credential,
                detail=f"{link.kind} {link.vault_id} {link.url}",
            )  # fmt: skip

    # --- doctor -------------------------------------------------------------------------------

    def doctor(self) -> builtins.list[Check]:
        """Health checks: permissions, index, keyring backend, values, rotations, links."""
        checks = [_permissions(self.store_dir), self._index_check()]
        try:
            backend = self.backend
        except VaultError as exc:
            checks.append(Check("keyring backend", False, str(exc)))
            return checks
        checks.append(Check("keyring backend", True, f"{backend.name}: {backend.description}"))
        try:
            self.init()
        except VaultError as exc:
            checks.append(Check("keyring round trip", False, str(exc)))
            return checks
        checks.append(Check("keyring round trip", True, "a probe value was stored and read back"))
        credentials = self.list()
        checks.append(self._values_check(credentials))
        checks.append(self._rotations_check(credentials))
        checks.append(_links_check(credentials))
        return checks

    def _index_check(self) -> Check:
        from vaults.index import SCHEMA_VERSION

        with self.index.read():
            version = self.index.schema_version
            result = self.index.execute("PRAGMA quick_check").fetchone()[0]
        ok = version == SCHEMA_VERSION and result == "ok"
        detail = f"{self.index.path}: schema v{version}, integrity {result}"
        if not ok:
            detail += "; restore a backup or move the file aside and run mcp-vault init"
        return Check("index", ok, detail)

    def _values_check(self, credentials: builtins.list[CredentialInfo]) -> Check:
        missing = []
        for info in credentials:
            current = info.current
            if current is None:
                continue
            if self.backend.get(self.service, self.value_key(info.name, current.version)) is None:
                missing.append(f"{info.name}@{current.version}")
        if missing:
            return Check(
                "values",
                False,
                f"missing from the keyring: {', '.join(missing)}; rotate them "
                "(mcp-vault rotate NAME)",
            )
        live = sum(1 for info in credentials if info.current is not None)
        return Check("values", True, f"{live} current values present in the keyring")

    def _rotations_check(self, credentials: builtins.list[CredentialInfo]) -> Check:
        stale, running = [], []
        for info in credentials:
            journal = info.rotation
            if journal is None:
                continue
            if rotation.owner_alive(journal.owner, self.store_id, info.name):
                running.append(info.name)
            else:
                stale.append(info.name)
        if stale:
            fixes = "; ".join(f"mcp-vault rotate {name} --resume" for name in stale)
            return Check("rotations", False, f"interrupted: {', '.join(stale)}; run {fixes}")
        if running:
            return Check("rotations", True, f"in progress: {', '.join(running)}")
        return Check("rotations", True, "none in progress")


class StoreSecrets:
    """Adapts a Store to the bridge's SecretResolver protocol (``vault:NAME`` references).

    Each version's value is read from the keyring once, then served from memory: a tool call
    costs one index lookup (tens of microseconds), not a keyring round trip (about half a
    millisecond here, 10+ ms on a Secret Service), and a rotation or revocation counts at the
    next call.
    """

    def __init__(self, store: Store) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._values: dict[str, tuple[int, str]] = {}

    def exists(self, name: str) -> bool:
        return self._store.has_secret(name)

    def get(self, name: str) -> str:
        try:
            version = self._store._current_version(name)
        except NotFoundError:
            with self._lock:
                self._values.pop(name, None)  # a revoked or removed value leaves memory too
            raise
        with self._lock:
            cached = self._values.get(name)
        if cached is not None and cached[0] == version:
            return cached[1]
        value = self._store._value(name, version)
        with self._lock:
            self._values[name] = (version, value)
        return value

    def __repr__(self) -> str:
        return f"StoreSecrets({self._store!r})"


def _permissions(store_dir: Path) -> Check:
    problems = []
    mode = store_dir.stat().st_mode & 0o777
    if mode != 0o700:
        problems.append(f"{store_dir} is {mode:o} (want 700)")
    for path in sorted(store_dir.iterdir()):
        if path.is_file():
            mode = path.stat().st_mode & 0o777
            if mode != 0o600:
                problems.append(f"{path.name} is {mode:o} (want 600)")
    if problems:
        return Check(
            "permissions", False, "; ".join(problems) + f"; fix with chmod -R go-rwx {store_dir}"
        )
    return Check("permissions", True, f"{store_dir}: directory 700, files 600")


def _links_check(credentials: list[CredentialInfo]) -> Check:
    behind = []
    for info in credentials:
        current = info.current
        for link in info.links:
            if current is not None and link.pushed_version < current.version:
                behind.append(f"{info.name} -> {link.kind} {link.vault_id}")
    if behind:
        return Check(
            "links",
            False,
            f"behind the current version: {', '.join(behind)}; run mcp-vault remote sync",
        )
    total = sum(len(info.links) for info in credentials)
    return Check("links", True, f"{total} links up to date")
