"""Reliability of a served bridge and its store, measured: the figures of the README's security
section.

Run: ``.venv/bin/python benchmarks/reliability.py`` (a few minutes on 2 cores) or ``--quick`` (a
smoke run, fewer rotations and samples); ``--json FILE`` also writes the results for a test to
check).
Everything runs as a user runs it: ``mcp-bridge serve`` on 127.0.0.1 over a throwaway store (the
project's encrypted file keyring) and the real ``mcp-vault`` in child processes.

1. Calls during rotation: clients on every wire call ``echo`` while ``mcp-vault rotate`` runs
   again and again (``rotation.under_load``); every call counts.
2. ``kill -9`` after each rotation step, then ``rotate --resume``
   (``rotation.killed_at_each_step``).
3. Revocation: ``mcp-vault revoke`` while clients call and idle SSE streams are open
   (``revocation.refusal``), several samples.
4. Bad inputs (``bad_inputs.tried``): each one's outcome, held or not.
5. Secrets in logs: every token and secret value that was used, searched for in the bridge's log,
   the audit trail, every ``mcp-vault`` command's output but the ones that print a value on
   purpose (``add`` of a token, ``rotate``, ``get --reveal``) and the index file.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import re
import statistics
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import bad_inputs
import revocation
import rotation
from report import Parser, load_average, machine, table
from servers import CLI_RUNS, TOOL_MODULE, BenchmarkError, cli, environment, start_bridge, vault

_PROG = "reliability.py"
_AGENT = "agents"
_NAMES = ("agents", "steps", "revoked", "expired", "scoped", "valid")
_TOKEN = re.compile(r"mcpb_[0-9A-Za-z]{12}_[0-9A-Za-z]{43}_[0-9A-Za-z]{6}")
_PRINTS_A_VALUE = {"add", "rotate", "get"}


@dataclass(frozen=True)
class Settings:
    clients: int
    rotations: int
    revocations: int


FULL = Settings(clients=8, rotations=30, revocations=5)
QUICK = Settings(clients=4, rotations=3, revocations=1)


@dataclass(frozen=True)
class Leaks:
    values: int  # distinct token and secret values searched for
    places: int  # files and outputs searched
    found: tuple[str, ...]  # where a value was found (never the value)


@dataclass(frozen=True)
class Results:
    under_load: rotation.UnderLoad
    killed: list[rotation.Killed]
    refusals: list[revocation.Refusal]
    bad: list[bad_inputs.Tried]
    leaks: Leaks

    @property
    def held(self) -> bool:
        return (
            self.under_load.failed == 0
            and self.under_load.live_tokens <= 2
            and all(row.held for row in self.killed)
            and all(r.calls_s <= 1 and (r.streams_s or 0) <= 1 for r in self.refusals)
            and all(row.held for row in self.bad)
            and not self.leaks.found
        )


def _config(names: Sequence[str]) -> str:
    listed = ", ".join(f'"{n}"' for n in names)
    return (
        '[server]\nname = "reliability"\nhost = "127.0.0.1"\nport = 0\n\n'
        f'[auth]\ntokens = [{listed}]\n\n[[tools.python]]\nmodule = "bench_echo"\n'
    )


async def _token(env: dict[str, str], name: str, *extra: str) -> str:
    return (await vault(["add", name, "--kind", "token", *extra], env)).strip().splitlines()[-1]


async def _tokens(env: dict[str, str]) -> dict[str, str]:
    made = {name: await _token(env, name) for name in _NAMES if name != "scoped"}
    made["scoped"] = await _token(env, "scoped", "--scope", "not_echo*")
    # The first version of "expired" is past its grace window a second after this rotation.
    await vault(["rotate", "expired", "--grace", "1s"], env)
    await vault(["revoke", "revoked"], env)
    return made


def _leaks(workdir: Path, secrets: set[str], audit: str) -> Leaks:
    values = {token for run in CLI_RUNS for token in _TOKEN.findall(run.out)}
    values |= secrets
    places: dict[str, str] = {
        "bridge.log": (workdir / "bridge.log").read_text(errors="replace"),
        "mcp-vault audit --json": audit,
        "index.db": (workdir / "vault" / "index.db").read_bytes().decode("latin-1"),
    }
    for n, run in enumerate(CLI_RUNS):
        places[f"stderr of mcp-vault {run.args[0] if run.args else ''} #{n}"] = run.err
        if not run.args or run.args[0] not in _PRINTS_A_VALUE:
            places[f"stdout of mcp-vault {run.args[0] if run.args else ''} #{n}"] = run.out
    found = tuple(
        sorted({where for where, text in places.items() if any(v in text for v in values)})
    )
    return Leaks(len(values), len(places), found)


async def run(settings: Settings) -> Results:
    CLI_RUNS.clear()
    with tempfile.TemporaryDirectory(prefix="bridge-reliability-") as tmp:
        workdir = Path(tmp)
        env = environment(workdir)
        await vault(["init"], env)
        made = await _tokens(env)
        secret = "tool-secret-" + os.urandom(12).hex()
        await vault(["add", "a-tool-secret", "--kind", "secret"], env, stdin=secret)
        (workdir / "bench_echo.py").write_text(TOOL_MODULE)
        config = workdir / "bridge.toml"
        revokees = {
            f"revokee{n}": await _token(env, f"revokee{n}") for n in range(settings.revocations)
        }
        config.write_text(_config([*_NAMES, *revokees]))
        bridge = await start_bridge(workdir, env, config)
        try:
            port = bridge.port
            loaded = await rotation.under_load(
                port, env, _AGENT, made["agents"],
                clients=settings.clients, rotations=settings.rotations,
            )  # fmt: skip
            killed = await rotation.killed_at_each_step(
                port, env, "steps", made["steps"], clients=settings.clients
            )
            refusals = []
            for name, token in revokees.items():
                refusals.append(
                    await revocation.refusal(
                        port, env, name, token, clients=settings.clients, streams=4, load_s=0.5
                    )
                )
            given = bad_inputs.Tokens(
                made["valid"], made["revoked"], made["expired"], made["scoped"]
            )
            bad = await bad_inputs.tried(port, env, workdir, "valid", given)
            audit = await cli(["audit", "--json"], env)
        finally:
            await bridge.stop()
        leaks = _leaks(workdir, {secret}, audit.out)
    return Results(loaded, killed, refusals, bad, leaks)


def render(results: Results, settings: Settings) -> str:
    load, refusals = results.under_load, results.refusals
    calls = [f"{r.calls_s:.3f}" for r in refusals]
    streams = [f"{r.streams_s:.3f}" for r in refusals if r.streams_s is not None]
    lines = [
        f"{machine()}; load average {load_average()}",
        "",
        f"### 1. Calls during rotation ({load.clients} clients, every wire, "
        f"{load.rotations} rotations)",
        "",
        *table(
            ["calls", "failed", "p50 ms", "max ms during a rotation", "tokens live at the end"],
            [
                [
                    f"{load.calls:,}",
                    str(load.failed),
                    f"{load.p50_ms:.2f}",
                    f"{load.max_ms_rotating:.1f}",
                    f"{load.live_tokens} of {load.rotations + 1}",
                ]
            ],
        ),
        "",
        f"### 2. `kill -9` of `mcp-vault rotate` after each step ({load.clients} clients calling)",
        "",
        *table(
            [
                "killed after",
                "killed",
                "both sides accept a token",
                "`rotate --resume`",
                "recovered",
                "s to recover",
                "calls",
                "failed",
            ],
            [
                [
                    k.step,
                    _yes(k.killed),
                    _yes(k.both_accept),
                    _short(k.resumed),
                    _yes(k.recovered),
                    f"{k.recover_s:.2f}",
                    str(k.calls),
                    str(k.failed),
                ]
                for k in results.killed
            ],
        ),
        "",
        f"### 3. Revocation under load ({len(refusals)} samples, {load.clients} clients, "
        "4 idle SSE streams)",
        "",
        *table(
            ["", "p50 s", "max s"],
            [
                ["calls refused, after `mcp-vault revoke` exits", _p50(calls), max(calls)],
                ["idle SSE streams ended", _p50(streams), max(streams or ["n/a"])],
            ],
        ),
        "",
        f"### 4. Bad inputs ({sum(b.held for b in results.bad)} of {len(results.bad)} held)",
        "",
        *table(
            ["input", "expected", "outcome", "message", "held"],
            [
                [b.what, b.expected, b.outcome, b.message.replace("|", "\\|"), _yes(b.held)]
                for b in results.bad
            ],
        ),
        "",
        f"### 5. Secrets in logs: {len(results.leaks.found)} places hold one of "
        f"{results.leaks.values} values, of {results.leaks.places} searched",
        *(f"- {where}" for where in results.leaks.found),
        "",
        "all held" if results.held else "NOT ALL HELD",
    ]
    return "\n".join(lines)


def _yes(flag: bool) -> str:
    return "yes" if flag else "**no**"


def _short(text: str, limit: int = 70) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _p50(values: Sequence[str]) -> str:
    return f"{statistics.median(float(v) for v in values):.3f}" if values else "n/a"


def main(argv: Sequence[str] | None = None) -> int:
    parser = Parser(prog=_PROG, description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rotations (smoke test)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the results as JSON")
    args = parser.parse_args(argv)
    settings = QUICK if args.quick else FULL
    try:
        results = asyncio.run(run(settings))
    except (BenchmarkError, OSError) as exc:
        print(f"{_PROG}: error: {exc}", file=sys.stderr)
        return 1
    if args.json is not None:
        found = {**dataclasses.asdict(results), "held": results.held}
        args.json.write_text(json.dumps(found, default=str))
    print(render(results, settings))
    return 0 if results.held else 1


if __name__ == "__main__":
    sys.exit(main())
