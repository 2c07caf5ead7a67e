from __future__ import annotations

import pytest

from vaults import AlreadyExistsError, NotFoundError, Store, links


def test_links_are_recorded_updated_and_removed(store: Store) -> None:
    store.add_token("agents")
    link = links.add(store, "agents", kind="anthropic", vault_id="vlt_1", url="https://x/mcp")
    assert (link.credential, link.pushed_version, link.remote_id) == ("agents", 0, None)
    with pytest.raises(AlreadyExistsError):
        links.add(store, "agents", kind="anthropic", vault_id="vlt_1", url="https://x/mcp")
    updated = links.update(store, link.id, remote_id="cred_9", pushed_version=1)
    assert (updated.remote_id, updated.pushed_version) == ("cred_9", 1)
    assert store.links("agents") == [updated] == store.links()
    assert store.show("agents").links == (updated,)
    links.remove(store, link.id)
    assert store.links() == []
    with pytest.raises(NotFoundError):
        links.remove(store, link.id)
