"""A real PostgreSQL server for the test session, in a temporary data directory.

One server per session (``initdb`` with trust auth, a Unix socket in the data directory and
loopback on a free port, durability off: these databases are thrown away), one fresh schema per
test (``postgres_url``), stopped and deleted at the end. PostgreSQL refuses to run as root, so as
root (CI) the server runs as the ``postgres`` system user that Debian's package creates, through
``runuser``. Without any PostgreSQL binaries the tests that need it skip, saying why, unless
``MCP_POSTGRES_REQUIRED=1`` (set by ``.ci/run``) turns that into a failure.
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest

REQUIRED_ENV = "MCP_POSTGRES_REQUIRED"
_DATABASE = "mcp_vault_test"
_USER = "mcp"
_schemas = itertools.count(1)


def find_binaries() -> Path | None:
    """The directory holding ``initdb`` and ``pg_ctl`` (on PATH, else Debian's layout)."""
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    return Path(candidates[-1]).parent if candidates else None


@dataclass
class PostgresServer:
    """A running server: ``url(schema)`` connects to its test database in ``schema``."""

    bindir: Path
    datadir: Path
    port: int
    run_as: list[str]

    def url(self, schema: str | None = None) -> str:
        base = f"postgresql://{_USER}@127.0.0.1:{self.port}/{_DATABASE}"
        if schema is None:
            return base
        return f"{base}?options={quote(f'-csearch_path={schema}')}"

    def sql(self, statement: str, schema: str | None = None) -> None:
        import psycopg

        with psycopg.connect(self.url(schema), autocommit=True) as conn:
            conn.execute(statement)  # type: ignore[call-overload]

    def new_schema(self) -> str:
        name = f"t{os.getpid()}_{next(_schemas)}"
        self.sql(f"CREATE SCHEMA {name}")
        return name

    def stop(self) -> None:
        subprocess.run(
            [*self.run_as, str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-m",
             "immediate", "stop"],
            capture_output=True, timeout=30, check=False,
        )  # fmt: skip


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def running_server(bindir: Path) -> Iterator[PostgresServer]:
    """Start a throw-away server from ``bindir``; stop it and delete its files afterwards."""
    root = Path(tempfile.mkdtemp(prefix="mcp-pg-"))
    run_as: list[str] = []
    if os.geteuid() == 0:
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            raise RuntimeError(
                "PostgreSQL refuses to run as root and there is no postgres system user to run "
                "it as; install Debian's postgresql package (it creates one)"
            ) from None
        os.chown(root, user.pw_uid, user.pw_gid)
        run_as = ["runuser", "-u", "postgres", "--"]
    datadir = root / "data"
    port = _free_port()
    server = PostgresServer(bindir, datadir, port, run_as)
    try:
        _run([*run_as, str(bindir / "initdb"), "-D", str(datadir), "-U", _USER, "-A", "trust",
              "-E", "UTF8", "--no-locale", "--no-sync"])  # fmt: skip
        options = (
            f"-k {root} -h 127.0.0.1 -p {port} -c fsync=off -c synchronous_commit=off "
            "-c full_page_writes=off -c max_connections=200"
        )
        _run([*run_as, str(bindir / "pg_ctl"), "-D", str(datadir), "-o", options, "-l",
              str(root / "server.log"), "-w", "-t", "60", "start"])  # fmt: skip
        _create_database(server)
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


def _create_database(server: PostgresServer) -> None:
    import psycopg

    with psycopg.connect(
        f"postgresql://{_USER}@127.0.0.1:{server.port}/postgres", autocommit=True
    ) as conn:
        conn.execute(f"CREATE DATABASE {_DATABASE}")  # type: ignore[call-overload]


def _run(argv: list[str]) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {done.stdout}{done.stderr}")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """The session's PostgreSQL server (skips, or fails under .ci/run, without binaries)."""
    bindir = find_binaries()
    if bindir is None:
        reason = (
            "no PostgreSQL binaries (initdb): install Debian's postgresql package to run the "
            "PostgreSQL tests"
        )
        if os.environ.get(REQUIRED_ENV) == "1":
            pytest.fail(f"{reason} ({REQUIRED_ENV}=1)")
        pytest.skip(reason)
    with running_server(bindir) as server:
        yield server


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """A URL to a fresh, empty schema of the session's server."""
    return postgres_server.url(postgres_server.new_schema())
