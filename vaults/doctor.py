"""``mcp-vault doctor``: health checks of a store (permissions, index, keyring, values, rotations,
links) and of its remote links (does each Anthropic credential exist, for the right URL, one that
Anthropic's cloud can reach?).

Components add their own checks through the entry-point group ``mcp_vault.checks``: a callable
``(store) -> list of objects with name, ok, detail``. The bridge's tunnel registers the expiry of
its certificates there (``bridge.tunnel.status:vault_checks``).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from urllib.parse import urlsplit

from mcpb.urls import is_loopback
from vaults import remote
from vaults.errors import VaultError
from vaults.index import SCHEMA_VERSION, CredentialInfo, Record
from vaults.rotation import journal as owners
from vaults.rotation import owner_alive
from vaults.store import Store


@dataclass(frozen=True, slots=True)
class Check(Record):
    """One line of ``mcp-vault doctor``."""

    name: str
    ok: bool
    detail: str


def checks(store: Store, *, public_url: str | None = None) -> list[Check]:
    """Every check of ``store``; the remote links are checked against ``public_url`` if given."""
    return [
        *store_checks(store),
        *reach_checks(store, public_url),
        *remote_checks(store, public_url),
        *plugin_checks(store),
    ]


CHECKS_GROUP = "mcp_vault.checks"


def reach_checks(store: Store, public_url: str | None) -> list[Check]:
    """A public URL, or a linked credential's URL, that Anthropic's cloud cannot call: plain
    http to a host that is not this machine, or this machine only (linked to a vault)."""
    found = []
    if public_url is not None:
        parts = urlsplit(public_url)
        host = parts.hostname or ""
        if parts.scheme == "http" and not is_loopback(host):
            found.append(
                Check(
                    "public URL",
                    False,
                    f"{public_url} is plain http to {host}: no "
                    "tunnel or proxy of Anthropic's serves that; use mcp-bridge tunnel "
                    "up or an https reverse proxy",
                )
            )
    for link in store.links():
        host = urlsplit(link.url).hostname or ""
        if link.kind in (remote.KIND, remote.OAUTH_KIND) and is_loopback(host):
            found.append(
                Check(
                    f"remote link {link.credential}",
                    False,
                    f"{link.url} is this "
                    "machine only: Anthropic's cloud cannot reach it; run mcp-bridge "
                    "tunnel up (it links the credential to the tunnel URL)",
                )
            )
    return found


def plugin_checks(store: Store, *, group: str = CHECKS_GROUP) -> list[Check]:
    """The checks installed components add (entry points ``mcp_vault.checks``)."""
    found = []
    for entry in sorted(entry_points(group=group), key=lambda item: item.name):
        try:
            results = entry.load()(store)
        except Exception as exc:  # a broken plugin is a finding, not a crash of the doctor
            found.append(Check(f"plugin {entry.name}", False, f"{type(exc).__name__}: {exc}"))
            continue
        found += [Check(str(r.name), bool(r.ok), str(r.detail)) for r in results]
    return found


def store_checks(store: Store) -> list[Check]:
    """Permissions, index, keyring backend and round trip, values, rotations, links."""
    found = [_permissions(store.store_dir), _index(store)]
    try:
        backend = store.backend
    except VaultError as exc:
        found.append(Check("keyring backend", False, str(exc)))
        return found
    found.append(Check("keyring backend", True, f"{backend.name}: {backend.description}"))
    try:
        store.init()
    except VaultError as exc:
        found.append(Check("keyring round trip", False, str(exc)))
        return found
    found.append(Check("keyring round trip", True, "a probe value was stored and read back"))
    credentials = store.list()
    found.append(_values(store, credentials))
    found.append(_rotations(store, credentials))
    found.append(_links(credentials))
    return found


def remote_checks(store: Store, public_url: str | None) -> list[Check]:
    """One check per Anthropic link (``static_bearer`` or ``mcp_oauth``): the remote credential
    exists, unarchived, for its URL, holding the current token or client secret."""
    links = [link for link in store.links() if link.kind in (remote.KIND, remote.OAUTH_KIND)]
    if not links:
        return []
    try:
        checker = remote.AnthropicRemote(store, remote.client_for(store))
    except VaultError as exc:
        return [Check("remote links", False, f"cannot check {len(links)} link(s): {exc}")]
    return [
        Check(f"remote link {result.link.credential}", result.ok, result.detail)
        for result in (checker.check(link, public_url) for link in links)
    ]


def _permissions(store_dir: Path) -> Check:
    if not store_dir.is_dir():  # a store in PostgreSQL needs no directory of its own
        return Check("permissions", True, f"{store_dir}: no store directory (nothing to check)")
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


def _index(store: Store) -> Check:
    index = store.index
    version = index.schema_version
    sound, found = index.db.integrity()
    ok = version == SCHEMA_VERSION and sound
    detail = f"{index.location}: schema v{version}, {found}"
    if not ok:
        detail += "; restore a backup or move the file aside and run mcp-vault init"
    return Check("index", ok, detail)


def _values(store: Store, credentials: list[CredentialInfo]) -> Check:
    missing = []
    for info in credentials:
        current = info.current
        if current is None:
            continue
        if store.backend.get(store.service, store.value_key(info.name, current.version)) is None:
            missing.append(f"{info.name}@{current.version}")
    if missing:
        return Check(
            "values",
            False,
            f"missing from the keyring: {', '.join(missing)}; rotate them (mcp-vault rotate NAME)",
        )
    live = sum(1 for info in credentials if info.current is not None)
    return Check("values", True, f"{live} current values present in the keyring")


def _rotations(store: Store, credentials: list[CredentialInfo]) -> Check:
    stale, running = [], []
    for info in credentials:
        journal = info.rotation
        if journal is None:
            continue
        if owner_alive(
            journal.owner, store.store_id, info.name, held=owners.held(store, info.name)
        ):
            running.append(info.name)
        else:
            stale.append(info.name)
    if stale:
        fixes = "; ".join(f"mcp-vault rotate {name} --resume" for name in stale)
        return Check("rotations", False, f"interrupted: {', '.join(stale)}; run {fixes}")
    if running:
        return Check("rotations", True, f"in progress: {', '.join(running)}")
    return Check("rotations", True, "none in progress")


def _links(credentials: list[CredentialInfo]) -> Check:
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
