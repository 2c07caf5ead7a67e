"""The vault store: the index (SQLite, or PostgreSQL for a fleet) plus the backend of the values.

``Store`` is the library API that ``mcp-vault`` (and the bridge) call; it never prints or exits.
It is the lower layer: rotation (``vaults.rotation``), the health checks (``vaults.doctor``) and
remote sync (``vaults.remote``) are services on top of it.
"""

from __future__ import annotations

import builtins
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from vaults import audit, tokens
from vaults.errors import (
    AlreadyExistsError,
    KeyringError,
    NotFoundError,
    StoreError,
    UsageError,
)
from vaults.index import LIVE_STATES, Connection, CredentialInfo, Index, Link
from vaults.inputs import MAX_ROTATE_EVERY, bounded_duration, validate_name, validate_scopes
from vaults.paths import ensure_private_dir, resolve_database_url, resolve_store_dir
from vaults.resolver import StoreSecrets
from vaults.verifier import TokenIndex

if TYPE_CHECKING:
    from vaults.keyrings import SecretBackend

_PROBE_KEY = "doctor-probe"


@dataclass(frozen=True, slots=True)
class Minted:
    """A freshly minted token; ``token`` is shown once and stays out of ``repr``."""

    name: str
    version: int
    kid: str
    token: str = field(repr=False)


class Store:
    """A vault store: its directory, its index (``index.db`` there, or a PostgreSQL database),
    and the values in the keyring under ``service`` (in the database, encrypted, on PostgreSQL).
    """

    def __init__(self, store_dir: Path, index: Index, backend_name: str | None) -> None:
        self.store_dir = store_dir
        self.index = index
        self._backend_name = backend_name
        self._backend: SecretBackend | None = None
        self._backend_lock = threading.Lock()
        store_id = index.meta.get("store_id")
        self.store_id = store_id or ""

    @classmethod
    def open(
        cls,
        store_dir: Path | None = None,
        *,
        database_url: str | None = None,
        backend: str | None = None,
        create: bool = True,
        accept_wal_loss: bool = False,
        upgrade: bool | None = None,
    ) -> Store:
        """Open the store at ``store_dir`` (else MCP_VAULT_DIR, else the per-user default).

        Its index is the PostgreSQL database at ``database_url`` (else MCP_VAULT_DATABASE_URL),
        else ``index.db`` in the store directory. With ``create`` (the default) a missing store
        is created and initialised; without it a missing store is a StoreError that says to run
        ``mcp-vault init``. A damaged index log is an IndexDamageError; ``accept_wal_loss``
        keeps the state before the damage instead (audited; ``store.index.accepted_loss`` says
        what was dropped). ``upgrade`` lets an older schema be migrated (default: SQLite yes,
        PostgreSQL only when asked, see ``vaults.index.schema``).
        """
        path = resolve_store_dir(store_dir)
        url = resolve_database_url() if database_url is None else database_url
        if create:
            ensure_private_dir(path)
        elif not url and not path.is_dir():
            raise StoreError(
                f"no vault store at {path}: run mcp-vault init, "
                "or point --store / MCP_VAULT_DIR at an existing store"
            )
        index = Index(
            path, database_url=url, create=create, accept_wal_loss=accept_wal_loss,
            upgrade=upgrade,
        )  # fmt: skip
        store = cls(path, index, backend)
        try:
            if create:
                store._ensure_id()
            elif not store.store_id:
                raise StoreError(
                    f"the vault store at {store.location} is not initialised: run mcp-vault init"
                )
            lost = index.accepted_loss
            if lost is not None:
                with index.write() as conn:
                    audit.record(
                        conn, "index.wal-loss", outcome="accepted",
                        detail=f"{lost.frames} frames, {lost.transactions} transactions dropped",
                    )  # fmt: skip
        except BaseException:
            index.close()
            raise
        return store

    @property
    def database_url(self) -> str | None:
        """The PostgreSQL URL of the index (None for SQLite); it may hold a password."""
        return self.index.db.url

    @property
    def location(self) -> str:
        """Where the store is, as messages name it: its directory, or its database."""
        return str(self.store_dir) if self.index.engine == "sqlite" else self.index.location

    def close(self) -> None:
        with self._backend_lock:
            backend, self._backend = self._backend, None
        if backend is not None:
            backend.close()
        self.index.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({self.location!r}, store_id={self.store_id!r})"

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
                from vaults.keyrings import open_database_backend, open_secret_backend

                if self.index.engine == "sqlite":
                    self._backend = open_secret_backend(self.store_dir, self._backend_name)
                else:
                    self._backend = open_database_backend(
                        self.store_dir, self.index, self._backend_name
                    )
            return self._backend

    def _ensure_id(self) -> bool:
        if self.store_id:
            return False
        with self.index.write() as conn:
            found = self.index.meta.get("store_id")
            if found:
                self.store_id = found
                return False
            self.store_id = secrets.token_hex(8)
            self.index.meta.set("store_id", self.store_id)
            self.index.meta.set("created_at", str(time.time()))
            audit.record(conn, "init", detail=self.location)
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
        self,
        name: str,
        *,
        scopes: Sequence[str] = (),
        rotate_every: float | None = None,
        then: Callable[[Connection, int], None] | None = None,
    ) -> Minted:
        """Mint a bridge token named ``name``; the returned ``Minted.token`` is shown once.

        ``then(conn, credential_id)`` runs in the same transaction (an OAuth client's row)."""
        validate_name(name)
        clean_scopes = validate_scopes(scopes)
        if rotate_every is not None:
            bounded_duration(rotate_every, "--rotate-every", MAX_ROTATE_EVERY)
            if rotate_every <= 0:
                raise UsageError("--rotate-every must be a positive duration, e.g. 30d")
        token = tokens.generate()
        parsed = tokens.parse(token)
        assert parsed is not None
        self._add(
            name, "token", token, scopes=clean_scopes, rotate_every=rotate_every, kid=parsed.kid,
            digest=tokens.hash_secret(parsed.secret), then=then,
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
        then: Callable[[Connection, int], None] | None = None,
    ) -> None:
        backend = self.backend
        written = False
        try:
            # The value is written while the index's write lock is held, so two processes adding
            # the same name cannot overwrite each other's value.
            with self.index.write() as conn:
                if self.index.credentials.exists(name):
                    raise AlreadyExistsError(
                        f"a credential named {name!r} already exists; pick another name, or "
                        f"use mcp-vault rotate {name} to replace its value",
                        name=name,
                    )
                now = time.time()
                cid = self.index.credentials.insert(name, kind, scopes, rotate_every, now)
                self.index.versions.insert(cid, 1, "current", kid, digest, now)
                audit.record(conn, "add", credential=name, version=1, kid=kid, detail=kind)
                if then is not None:
                    then(conn, cid)
                backend.set(self.service, self.value_key(name, 1), value)
                written = True
        except StoreError:
            if written:
                self.forget(name, 1)
            raise

    # --- reading ------------------------------------------------------------------------------

    def list(self) -> builtins.list[CredentialInfo]:
        """Every credential, by name; never a value."""
        with self.index.read():
            return self.index.credentials.all()

    def show(self, name: str) -> CredentialInfo:
        """One credential (NotFoundError if none); never a value."""
        with self.index.read():
            return self.index.credentials.get(name)

    def has_secret(self, name: str) -> bool:
        """Whether ``name`` exists with a current version (reads the index only)."""
        try:
            info = self.show(name)
        except NotFoundError:
            return False
        return info.current is not None

    def secret(self, name: str) -> str:
        """The current value of ``name`` (a tool's secret, or a token), read from the keyring."""
        return self.value_of(name, self.current_version(name))

    def current_version(self, name: str) -> int:
        """The number of ``name``'s current version; NotFoundError if it has none."""
        current = self.show(name).current
        if current is None:
            raise NotFoundError(
                f"{name} has no current version (revoked?); run mcp-vault rotate {name}",
                name=name,
            )
        return current.version

    def value_of(self, name: str, version: int) -> str:
        """The value of one version of ``name``, from the keyring (KeyringError if missing)."""
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
            return audit.rows(conn, since=since)

    def secret_resolver(self) -> StoreSecrets:
        """This store as the bridge's secret resolver (``exists`` / ``get``)."""
        return StoreSecrets(self)

    def token_index(
        self,
        accepted: Iterable[str] | None = None,
        *,
        check_interval: float = 0.25,
        miss_interval: float | None = None,
    ) -> TokenIndex:
        """A verifier over this store's tokens (only ``accepted`` names, if given); see
        ``vaults.verifier`` for the intervals (``miss_interval``: the engine's default)."""
        location = self.index.path or self.database_url
        assert location is not None
        return TokenIndex(
            location, accepted, check_interval=check_interval, miss_interval=miss_interval
        )

    # --- changing -----------------------------------------------------------------------------

    def revoke(self, name: str, *, version: int | None = None) -> builtins.list[int]:
        """Revoke one version, or every live one; returns the versions revoked."""
        validate_name(name)
        with self.index.write() as conn:
            info = self.index.credentials.get(name)
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
                self.index.rotations.delete(info.id)
                audit.record(
                    conn, "rotate.cancel", credential=name, version=journal.to_version,
                    detail="revoked",
                )  # fmt: skip
            now = time.time()
            client = self.index.oauth_clients.by_name(name)
            if client is not None and version is None:
                # Every secret of an OAuth client revoked: the client and what it holds end too.
                self.index.oauth_clients.revoke(client.client_id, now)
                ended = self.index.oauth_grants.revoke_of_client(
                    client.client_id, "client revoked", now
                )
                audit.record(
                    conn, "oauth.client.revoke", credential=name, detail=f"{ended} grants ended"
                )
            for target in targets:
                self.index.versions.set_state(info.id, target.version, "revoked", now)
                audit.record(
                    conn, "revoke", credential=name, version=target.version, kid=target.kid
                )
            self.index.credentials.touch(info.id, now)
        for target in targets:
            self.forget(name, target.version)
        return [target.version for target in targets]

    def remove(self, name: str) -> None:
        """Delete ``name`` from the index and its values from the keyring (the audit stays)."""
        validate_name(name)
        with self.index.write() as conn:
            info = self.index.credentials.get(name)
            last = max([v.version for v in info.versions] or [0])
            if info.rotation is not None:
                last = max(last, info.rotation.to_version)
            self.index.credentials.delete(info.id)
            audit.record(conn, "remove", credential=name, detail=info.kind)
        failed = [v for v in range(1, last + 1) if not self.forget(name, v)]
        if failed:
            raise KeyringError(
                f"{name} is removed from the index, but the keyring ({self.backend.name}) refused "
                f"to delete the values of versions {failed}; delete them with your keyring tool "
                f"(service {self.service})"
            )

    def forget(self, name: str, version: int) -> bool:
        """Delete one version's value from the keyring; False if the keyring refused.

        An orphan value is harmless (the index no longer accepts it), so callers that retire a
        version go on when this fails.
        """
        try:
            key = self.value_key(name, version)
            self.backend.delete(self.service, key)
        except KeyringError:
            return False
        return True

    # --- links (remote sync; changed through vaults.links) ----------------------------------

    def links(self, name: str | None = None) -> builtins.list[Link]:
        """Remote links of ``name``, or of every credential."""
        with self.index.read():
            if name is None:
                return self.index.links.of()
            return self.index.links.of(self.index.credentials.get(name).id)
