"""Bad inputs tried against a served bridge and the real ``mcp-vault``: each one's outcome.

Held means: the HTTP status (or exit code) expected, and for the CLI exactly one line on stderr,
nothing on stdout, and no value typed on the command line echoed back. The last row checks that
nothing was lost: the bridge still serves its token and ``mcp-vault doctor`` finds the store whole.
The damaged WAL is made in a store of its own (a connection left open keeps the log from being
checkpointed, as a running bridge does), so the served store stays intact.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from rotation import accepted
from servers import CliRun, cli, vault
from wire import HANDSHAKE, Session

from tests.support.wal import damage_a_middle_commit
from vaults import tokens

_ACCEPT = "application/json, text/event-stream"
_INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": HANDSHAKE,
        "capabilities": {},
        "clientInfo": {"name": "bad-inputs", "version": "0"},
    },
}
_TYPED = "typed-on-argv-" + "5" * 12  # a value a careless operator types as an argument


@dataclass(frozen=True)
class Tried:
    what: str
    expected: str
    outcome: str
    message: str
    held: bool


@dataclass(frozen=True)
class Tokens:
    """The tokens the bad inputs use: valid, revoked, expired, and scoped to other tools."""

    valid: str
    revoked: str
    expired: str
    scoped_out: str


def _line(text: str, limit: int = 90) -> str:
    first = (text.strip().splitlines() or [""])[0]
    return first if len(first) <= limit else first[: limit - 1] + "…"


def _http_message(response: httpx.Response) -> str:
    try:
        body: Any = response.json()
    except ValueError:
        return _line(response.text)
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            return _line(str(error.get("message", "")))
        return _line(str(body.get("error_description") or error or body))
    return _line(response.text)


async def _http(
    http: httpx.AsyncClient, what: str, status: int, token: str | None, *,
    body: bytes | None = None, headers: dict[str, str] | None = None,
) -> Tried:  # fmt: skip
    sent = {"Accept": _ACCEPT, "Content-Type": "application/json", **(headers or {})}
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    content = json.dumps(_INITIALIZE).encode() if body is None else body
    response = await http.post("/mcp", content=content, headers=sent)
    message = _http_message(response)
    leaked = token is not None and token in response.text
    held = response.status_code == status and not leaked
    return Tried(what, f"HTTP {status}", f"HTTP {response.status_code}", message, held)


async def _scoped_out(port: int, token: str) -> Tried:
    session = Session("http-2026", "127.0.0.1", port, token)
    await session.open()
    try:
        result = await session.call("echo", {"text": "not for you"})
    finally:
        await session.close()
    text = " ".join(c.get("text", "") for c in result.get("content", ()))
    held = bool(result.get("isError")) and "structuredContent" not in result
    outcome = "tool error" if result.get("isError") else "answered"
    return Tried("token scoped to other tools calls `echo`", "tool error", outcome, text, held)


def _cli_tried(what: str, done: CliRun, code: int, typed: str | None = None) -> Tried:
    lines = done.err.strip().splitlines()
    held = done.code == code and len(lines) == 1 and done.out == ""
    if typed is not None:
        held = held and typed not in done.err
    return Tried(what, f"exit {code}", f"exit {done.code}", _line(done.err), held)


async def _damaged_wal(workdir: Path, env: dict[str, str]) -> Tried:
    own = {**env, "MCP_VAULT_DIR": str(workdir / "wal-store")}
    await vault(["init"], own)
    index = workdir / "wal-store" / "index.db"
    holder = sqlite3.connect(index)
    try:
        holder.execute("SELECT count(*) FROM sqlite_master").fetchone()
        for n in range(6):
            await vault(["add", f"w{n}", "--kind", "token"], own)
        damage_a_middle_commit(index)
        done = await cli(["list"], own)
    finally:
        holder.close()
    tried = _cli_tried("a flipped byte in `index.db-wal`, then `mcp-vault list`", done, 1)
    return Tried(
        tried.what, tried.expected, tried.outcome, tried.message,
        tried.held and "index.db-wal" in done.err,
    )  # fmt: skip


def _cli_cases(name: str) -> list[tuple[str, list[str], int, str | None, str | None]]:
    """(what, argv, exit code, stdin, a value that must not be echoed)."""
    return [
        ("`rotate --grace 99999999999d`", ["rotate", name, "--grace", "99999999999d"], 2,
         None, None),
        ("`rotate --grace 3000000d`", ["rotate", name, "--grace", "3000000d"], 2, None, None),
        ("`rotate --grace soon`", ["rotate", name, "--grace", "soon"], 2, None, None),
        ("`add --rotate-every 99999999d`",
         ["add", "x", "--kind", "token", "--rotate-every", "99999999d"], 2, None, None),
        ("`add ../etc` (a path as a name)", ["add", "../etc", "--kind", "token"], 2, None, None),
        ("a secret typed as an argument", ["add", "y", "--kind", "secret", _TYPED], 2,
         "", _TYPED),
        ("`revoke` a name that does not exist", ["revoke", "nobody"], 1, None, None),
        ("`rotate --resume` with nothing to resume", ["rotate", name, "--resume"], 1, None, None),
    ]  # fmt: skip


async def tried(
    port: int, env: dict[str, str], workdir: Path, name: str, given: Tokens
) -> list[Tried]:
    """Every bad input, then whether the bridge and the store came through them."""
    base = f"http://127.0.0.1:{port}"
    huge = b'{"jsonrpc":"2.0","id":1,"method":"ping","pad":"' + b"x" * 20_000_000 + b'"}'
    batch = json.dumps([_INITIALIZE]).encode()
    wrong_crc = "mcpb_AAAAAAAAAAAA_" + "A" * 43 + "_AAAAAA"
    http_cases: list[Callable[[httpx.AsyncClient], Awaitable[Tried]]] = [
        lambda h: _http(h, "no token", 401, None),
        lambda h: _http(h, "a token of the right shape, not issued", 401, tokens.generate()),
        lambda h: _http(h, "a malformed token", 401, "not-a-token"),
        lambda h: _http(h, "a token with a wrong checksum", 401, wrong_crc),
        lambda h: _http(h, "a revoked token", 401, given.revoked),
        lambda h: _http(h, "an expired token (its grace window ended)", 401, given.expired),
        lambda h: _http(h, "a 20 MB body", 413, given.valid, body=huge),
        lambda h: _http(h, "Host: evil.example", 421, given.valid,
                        headers={"Host": "evil.example"}),
        lambda h: _http(h, "Host: 127.0.0.1:9999 (another port)", 421, given.valid,
                        headers={"Host": "127.0.0.1:9999"}),
        lambda h: _http(h, "Origin: https://evil.example", 403, given.valid,
                        headers={"Origin": "https://evil.example"}),
        lambda h: _http(h, "a JSON-RPC batch", 400, given.valid, body=batch),
        lambda h: _http(h, "a body that is not JSON", 400, given.valid, body=b'{"jsonrpc": '),
    ]  # fmt: skip
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        found = [await case(http) for case in http_cases]
    found.append(await _scoped_out(port, given.scoped_out))
    cases = _cli_cases(name)
    runs = await asyncio.gather(*(cli(argv, env, stdin) for _, argv, _, stdin, _ in cases))
    found += [
        _cli_tried(what, done, code, typed)
        for (what, _, code, _, typed), done in zip(cases, runs, strict=True)
    ]
    found.append(await _damaged_wal(workdir, env))
    serving = await accepted(port, given.valid)
    doctor = await cli(["doctor"], env)
    whole = serving and doctor.code == 0
    found.append(
        Tried(
            "after all of the above: the token still works, `doctor` is clean",
            "yes",
            "yes" if whole else "no",
            f"echo answered: {serving}; doctor exit {doctor.code}",
            whole,
        )
    )
    return found
