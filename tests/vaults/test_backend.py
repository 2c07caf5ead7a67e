"""The project's encrypted keyring backend: keyring's conformance suite, files, keys, damage."""

from __future__ import annotations

import base64
import os
import sqlite3
import stat
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import keyring.core
import keyring.errors
import pytest
from keyring.testing.backend import BackendBasicTests

from vaults.backend import CorruptSecretError, EncryptedKeyring
from vaults.errors import BackendCorruptError

_PROJECT_ROOT = Path(__file__).resolve().parents[2]


class TestKeyringConformance(BackendBasicTests):
    """keyring's own suite; the store is MCP_VAULT_DIR, which the autouse fixture makes private."""

    def init_keyring(self) -> EncryptedKeyring:
        return EncryptedKeyring()


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_store_files_are_private(tmp_path: Path) -> None:
    store = tmp_path / "deep" / "store"
    backend = EncryptedKeyring(store)
    backend.set_password("svc", "name", "value")

    assert _mode(store) == 0o700
    files = sorted(p.name for p in store.iterdir())
    assert "secrets.db" in files and "secrets.key" in files
    for path in store.iterdir():
        assert _mode(path) == 0o600, path.name


def test_values_are_not_stored_in_clear(tmp_path: Path) -> None:
    backend = EncryptedKeyring(tmp_path)
    backend.set_password("svc", "name", "a-very-recognisable-value")
    backend.get_password("svc", "name")

    for path in tmp_path.iterdir():
        assert b"a-very-recognisable-value" not in path.read_bytes(), path.name


def test_store_dir_defaults_to_mcp_vault_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MCP_VAULT_DIR", str(tmp_path / "from-env"))
    backend = EncryptedKeyring()
    backend.set_password("svc", "name", "value")

    assert backend.store_dir == tmp_path / "from-env"
    assert (tmp_path / "from-env" / "secrets.db").exists()


def test_construction_touches_no_file(tmp_path: Path) -> None:
    EncryptedKeyring(tmp_path / "store")

    assert not (tmp_path / "store").exists()


def test_keyring_loads_it_by_name_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "vaults.backend.EncryptedKeyring")
    monkeypatch.setenv("MCP_VAULT_DIR", str(tmp_path))

    loaded = keyring.core.load_env()

    assert isinstance(loaded, EncryptedKeyring)
    assert 0 < EncryptedKeyring.priority < 1
    loaded.set_password("svc", "name", "value")
    assert EncryptedKeyring(tmp_path).get_password("svc", "name") == "value"


def test_it_is_registered_as_a_keyring_backend_through_the_entry_point() -> None:
    from importlib.metadata import entry_points

    import vaults.backend

    [ours] = [ep for ep in entry_points(group="keyring.backends") if ep.value == "vaults.backend"]
    assert ours.name == "mcp-vault-encrypted"
    assert ours.load() is vaults.backend


def test_overwrite_replaces_the_value(tmp_path: Path) -> None:
    backend = EncryptedKeyring(tmp_path)
    backend.set_password("svc", "name", "first")
    backend.set_password("svc", "name", "second")

    assert EncryptedKeyring(tmp_path).get_password("svc", "name") == "second"


def test_repr_shows_no_key_material(tmp_path: Path) -> None:
    backend = EncryptedKeyring(tmp_path)
    backend.set_password("svc", "name", "value")
    key = (tmp_path / "secrets.key").read_bytes()

    shown = repr(backend) + str(backend) + repr(vars(backend))
    for form in (key.hex(), base64.b64encode(key).decode(), repr(key)[2:-1]):
        assert form not in shown


def _flip_ciphertext_byte(db_path: Path, username: str) -> None:
    db = sqlite3.connect(db_path)
    with db:
        (ciphertext,) = db.execute(
            "SELECT ciphertext FROM secrets WHERE username = ?", (username,)
        ).fetchone()
        damaged = bytes([ciphertext[0] ^ 0x01]) + bytes(ciphertext[1:])
        db.execute("UPDATE secrets SET ciphertext = ? WHERE username = ?", (damaged, username))
    db.close()


def test_a_damaged_ciphertext_raises_instead_of_reading_as_missing(tmp_path: Path) -> None:
    EncryptedKeyring(tmp_path).set_password("svc", "name", "the-value")
    _flip_ciphertext_byte(tmp_path / "secrets.db", "name")

    backend = EncryptedKeyring(tmp_path)
    with pytest.raises(CorruptSecretError) as caught:
        backend.get_password("svc", "name")
    assert isinstance(caught.value, BackendCorruptError)
    assert isinstance(caught.value, keyring.errors.KeyringError)
    assert "the-value" not in str(caught.value)
    with pytest.raises(CorruptSecretError):
        backend.get_credential("svc", None)


def test_rows_cannot_be_swapped(tmp_path: Path) -> None:
    backend = EncryptedKeyring(tmp_path)
    backend.set_password("svc", "alice", "alice-value")
    backend.set_password("svc", "bob", "bob-value")
    db = sqlite3.connect(tmp_path / "secrets.db")
    with db:
        nonce, ciphertext = db.execute(
            "SELECT nonce, ciphertext FROM secrets WHERE username = 'alice'"
        ).fetchone()
        db.execute(
            "UPDATE secrets SET nonce = ?, ciphertext = ? WHERE username = 'bob'",
            (nonce, ciphertext),
        )
    db.close()

    assert backend.get_password("svc", "alice") == "alice-value"
    with pytest.raises(CorruptSecretError):
        backend.get_password("svc", "bob")


def test_a_different_key_file_is_refused_for_reads_and_writes(tmp_path: Path) -> None:
    EncryptedKeyring(tmp_path).set_password("svc", "name", "value")
    (tmp_path / "secrets.key").write_bytes(os.urandom(32))

    backend = EncryptedKeyring(tmp_path)
    with pytest.raises(CorruptSecretError, match="does not match"):
        backend.get_password("svc", "name")
    with pytest.raises(CorruptSecretError, match="does not match"):
        backend.set_password("svc", "other", "value")


def test_a_missing_key_is_not_silently_replaced(tmp_path: Path) -> None:
    EncryptedKeyring(tmp_path).set_password("svc", "name", "value")
    (tmp_path / "secrets.key").unlink()

    with pytest.raises(CorruptSecretError, match="missing"):
        EncryptedKeyring(tmp_path).get_password("svc", "name")
    assert not (tmp_path / "secrets.key").exists()


@pytest.mark.parametrize(
    "content", [b"", b"short", os.urandom(31), os.urandom(33)], ids=["empty", "text", "31", "33"]
)
def test_a_malformed_key_file_raises(tmp_path: Path, content: bytes) -> None:
    tmp_path.chmod(0o700)
    (tmp_path / "secrets.key").write_bytes(content)

    with pytest.raises(CorruptSecretError, match="256-bit"):
        EncryptedKeyring(tmp_path).get_password("svc", "name")


def test_a_file_that_is_not_a_database_raises(tmp_path: Path) -> None:
    EncryptedKeyring(tmp_path).set_password("svc", "name", "value")
    (tmp_path / "secrets.db").write_bytes(b"this is not sqlite" * 500)

    with pytest.raises(CorruptSecretError, match="damaged"):
        EncryptedKeyring(tmp_path).get_password("svc", "name")


@pytest.mark.parametrize("encoding", ["raw", "base64"])
def test_the_systemd_credential_key_is_used_when_present(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, encoding: str
) -> None:
    key = os.urandom(32)
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "mcp-vault.key").write_bytes(
        key if encoding == "raw" else base64.b64encode(key) + b"\n"
    )
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    store = tmp_path / "store"

    backend = EncryptedKeyring(store)
    backend.set_password("svc", "name", "value")

    assert backend.key_path == creds / "mcp-vault.key"
    assert not (store / "secrets.key").exists()
    assert EncryptedKeyring(store).get_password("svc", "name") == "value"
    monkeypatch.delenv("CREDENTIALS_DIRECTORY")
    with pytest.raises(CorruptSecretError, match="missing"):
        EncryptedKeyring(store).get_password("svc", "name")


def test_a_credentials_directory_without_our_key_falls_back_to_the_key_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path / "creds"))
    backend = EncryptedKeyring(tmp_path / "store")
    backend.set_password("svc", "name", "value")

    assert backend.key_path == tmp_path / "store" / "secrets.key"
    assert (tmp_path / "store" / "secrets.key").exists()


def test_threads_creating_the_store_at_once_agree_on_one_key(tmp_path: Path) -> None:
    start = threading.Barrier(8)
    errors: list[BaseException] = []

    def write(index: int) -> None:
        try:
            backend = EncryptedKeyring(tmp_path)
            start.wait(timeout=10)
            backend.set_password("svc", f"name-{index}", f"value-{index}")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    reader = EncryptedKeyring(tmp_path)
    assert [reader.get_password("svc", f"name-{i}") for i in range(8)] == [
        f"value-{i}" for i in range(8)
    ]
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


_WRITER = textwrap.dedent(
    """
    import sys
    import keyring

    prefix = sys.argv[1]
    print("ready", flush=True)
    sys.stdin.readline()
    for i in range(100):
        keyring.set_password("concurrency", f"{prefix}-{i}", f"{prefix}-value-{i}")
    """
)


def test_two_processes_writing_100_secrets_each_lose_none(tmp_path: Path) -> None:
    store = tmp_path / "store"
    env = dict(
        os.environ,
        MCP_VAULT_DIR=str(store),
        PYTHON_KEYRING_BACKEND="vaults.backend.EncryptedKeyring",
        PYTHONPATH=os.pathsep.join(
            filter(None, [str(_PROJECT_ROOT), os.environ.get("PYTHONPATH")])
        ),
    )
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, prefix],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for prefix in ("a", "b")
    ]
    try:
        for writer in writers:
            assert writer.stdout is not None
            assert writer.stdout.readline().strip() == "ready"
        for writer in writers:
            assert writer.stdin is not None
            writer.stdin.write("go\n")
            writer.stdin.flush()
        results = [writer.communicate(timeout=60) for writer in writers]
    finally:
        for writer in writers:
            if writer.poll() is None:
                writer.kill()
                writer.wait()

    for writer, (_, stderr) in zip(writers, results, strict=True):
        assert writer.returncode == 0, stderr
    reader = EncryptedKeyring(store)
    for prefix in ("a", "b"):
        for i in range(100):
            assert reader.get_password("concurrency", f"{prefix}-{i}") == f"{prefix}-value-{i}"
