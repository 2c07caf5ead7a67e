from __future__ import annotations

import pytest

from vaults import NotFoundError, Store, StoreSecrets, rotate


def test_the_bridge_resolver_reads_secrets_through_the_store(store: Store) -> None:
    store.add_secret("crm-key", "v1")
    resolver = StoreSecrets(store)
    assert resolver.exists("crm-key") and not resolver.exists("nope")
    assert resolver.get("crm-key") == "v1"
    with pytest.raises(NotFoundError):
        resolver.get("nope")


def test_the_bridge_resolver_reads_each_version_from_the_keyring_once(store: Store) -> None:
    store.add_secret("crm-key", "v1")
    resolver = StoreSecrets(store, recheck=0)
    assert resolver.get("crm-key") == "v1"
    # Later calls are served from memory: a tool call costs no keyring round trip.
    store.backend.delete(store.service, "crm-key@1")
    assert resolver.get("crm-key") == "v1"
    rotate(store, "crm-key", value="v2")
    assert resolver.get("crm-key") == "v2"
    store.revoke("crm-key")
    with pytest.raises(NotFoundError, match="revoked"):
        resolver.get("crm-key")
    assert "v2" not in repr(resolver)


def test_the_store_hands_the_bridge_its_resolver(store: Store) -> None:
    store.add_secret("crm-key", "v1")
    assert isinstance(store.secret_resolver(), StoreSecrets)
    assert store.secret_resolver().get("crm-key") == "v1"


def test_which_version_is_current_is_looked_up_once_per_recheck_interval(store: Store) -> None:
    store.add_secret("crm-key", "v1")
    now = [100.0]
    resolver = StoreSecrets(store, recheck=0.25, clock=lambda: now[0])
    assert resolver.get("crm-key") == "v1"
    rotate(store, "crm-key", value="v2")
    now[0] += 0.2
    assert resolver.get("crm-key") == "v1"  # inside the interval: no index read
    now[0] += 0.1
    assert resolver.get("crm-key") == "v2"  # the rotation counts once the interval is over
    store.revoke("crm-key")
    now[0] += 0.3
    with pytest.raises(NotFoundError, match="revoked"):
        resolver.get("crm-key")
