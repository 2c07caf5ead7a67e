"""The index reads back whatever its columns hold, as an older mcp-vault may have written it."""

from __future__ import annotations

import json
import sqlite3
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from vaults.index import Index, load_live_tokens, moment, period, stamp

_INTEGERS = st.integers(min_value=-(2**63), max_value=2**63 - 1)
_TIMESTAMPS = st.one_of(st.floats(allow_nan=False), _INTEGERS)


def _write(store_dir: Path, created: float, not_after: float | None, grace: float) -> None:
    """A credential with a previous version and a rotation journal row, written with sqlite3."""
    with sqlite3.connect(store_dir / "index.db") as conn:
        conn.execute(
            "INSERT INTO credentials (id, name, kind, scopes, rotate_every, created_at, updated_at)"
            " VALUES (1, 'agents', 'token', '[]', ?, ?, ?)",
            (grace, created, created),
        )
        conn.execute(
            "INSERT INTO versions (credential_id, version, state, kid, hash, created_at, not_after)"
            " VALUES (1, 1, 'previous', 'kid1', x'00', ?, ?)",
            (created, not_after),
        )
        conn.execute(
            "INSERT INTO rotations (credential_id, from_version, to_version, step, grace, owner,"
            " started_at, updated_at) VALUES (1, 1, 2, 'push', ?, 'h:1', ?, ?)",
            (grace, created, created),
        )


@settings(max_examples=150, deadline=None)
@given(
    created=_TIMESTAMPS,
    not_after=st.one_of(st.none(), st.floats(), _INTEGERS),
    grace=st.one_of(st.floats(allow_nan=False), _INTEGERS),
)
def test_any_timestamp_the_columns_hold_reads_back(
    created: float, not_after: float | None, grace: float
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        index = Index(Path(tmp))
        try:
            _write(Path(tmp), created, not_after, grace)
            with index.read() as conn:
                info = index.credentials.get("agents")
                assert len(load_live_tokens(conn)) == 1  # what the bridge serves from
        finally:
            index.close()
    [version] = info.versions
    for when in (info.created_at, version.created_at, info.rotation.started_at):  # type: ignore[union-attr]
        assert when.tzinfo is not None
        stamp(when)
    json.dumps(info.to_dict())
    info.summary()
    period(info.rotate_every)


@given(st.floats(min_value=-62135596800.0, max_value=253402300799.0))
def test_a_timestamp_in_range_reads_back_as_itself(value: float) -> None:
    assert moment(value) == datetime.fromtimestamp(value, UTC)


def test_a_timestamp_past_year_9999_reads_as_the_latest_date() -> None:
    far = time.time() + 99999999999 * 86400
    assert moment(far) == datetime.max.replace(tzinfo=UTC)
    assert moment(float("inf")) == moment(far)
    assert moment(-far) == datetime.min.replace(tzinfo=UTC)
