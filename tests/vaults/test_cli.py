from __future__ import annotations

import io
import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.vaults._vault import run_cli, subprocess_env
from vaults import Store, tokens
from vaults.cli import main


class _Cli:
    def __init__(self, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):
        self.capsys = capsys
        self.monkeypatch = monkeypatch

    def __call__(self, *args: str, stdin: str = "") -> tuple[int, str, str]:
        self.monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        code = main(list(args))
        out, err = self.capsys.readouterr()
        return code, out, err


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> _Cli:
    return _Cli(capsys, monkeypatch)


def _one_error_line(err: str) -> str:
    assert err.startswith("mcp-vault: error: "), err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


CONTRACT = {
    "init": [],
    "add": ["--kind", "--scope", "--rotate-every", "--json"],
    "list": ["--json"],
    "show": ["--json"],
    "get": ["--reveal"],
    "rotate": ["--grace", "--json", "--due", "--resume"],
    "revoke": ["--version"],
    "remove": [],
    "audit": ["--json", "--since"],
    "doctor": ["--json", "--accept-wal-loss"],
    "migrate": [],
    "export": ["--key-file"],
    "import": ["--key-file"],
}


@pytest.mark.parametrize("command", sorted(CONTRACT))
def test_every_documented_command_and_option_exists(cli: _Cli, command: str) -> None:
    code, out, _ = cli(command, "--help")
    assert code == 0
    for option in CONTRACT[command]:
        assert option in out, f"{command} lacks {option}"
    code, out, _ = cli("--help")
    assert "--store" in out and "--backend" in out and command in out


def test_init_reports_the_store_and_the_backend(cli: _Cli) -> None:
    code, out, _ = cli("init")
    assert code == 0
    assert "EncryptedKeyring" in out
    assert cli("init")[0] == 0


def test_add_token_prints_the_token_once_as_the_last_line(cli: _Cli) -> None:
    code, out, err = cli("add", "agents", "--kind", "token", "--scope", "inv_*")
    assert code == 0
    token = out.splitlines()[-1]
    assert tokens.parse(token) is not None
    assert "shown only once" in err and token not in err
    with Store.open() as store:
        assert store.token_index().verify(token).scopes == ("inv_*",)  # type: ignore[union-attr]
    code, out, _ = cli("list")
    assert token not in out and "agents" in out


def test_add_token_json_has_name_version_and_token(cli: _Cli) -> None:
    code, out, _ = cli("add", "agents", "--kind", "token", "--rotate-every", "30d", "--json")
    data = json.loads(out)
    assert code == 0 and data["name"] == "agents" and data["version"] == 1
    assert tokens.parse(data["token"]) is not None
    assert json.loads(cli("show", "agents", "--json")[1])["rotate_every"] == 30 * 86400


def test_add_secret_reads_stdin_and_never_prints_it(cli: _Cli) -> None:
    code, out, _ = cli("add", "crm", "--kind", "secret", stdin="value-from-stdin\n")
    assert code == 0 and "value-from-stdin" not in out
    assert cli("get", "crm", "--reveal")[1] == "value-from-stdin\n"
    for args in (("list",), ("list", "--json"), ("show", "crm"), ("show", "crm", "--json"),
                 ("audit",), ("audit", "--json")):  # fmt: skip
        assert "value-from-stdin" not in cli(*args)[1]


def test_a_secret_cannot_come_from_argv_or_be_empty(cli: _Cli) -> None:
    code, _, err = cli("add", "crm", "--kind", "secret", "--value", "x")
    assert code == 2 and _one_error_line(err)
    code, _, err = cli("add", "crm", "--kind", "secret", stdin="")
    assert code == 2 and "stdin" in _one_error_line(err)


def test_get_needs_reveal(cli: _Cli) -> None:
    cli("add", "crm", "--kind", "secret", stdin="v")
    code, out, err = cli("get", "crm")
    assert code == 2 and out == "" and "--reveal" in _one_error_line(err)


def test_rotate_prints_the_new_token_and_honours_grace(cli: _Cli) -> None:
    old = cli("add", "agents", "--kind", "token")[1].splitlines()[-1]
    code, out, err = cli("rotate", "agents", "--grace", "15m")
    new = out.splitlines()[-1]
    assert code == 0 and tokens.parse(new) is not None and new != old
    assert "15m" in err
    data = json.loads(cli("show", "agents", "--json")[1])
    previous = data["versions"][1]
    assert previous["state"] == "previous" and previous["not_after"]
    code, out, _ = cli("rotate", "agents", "--grace", "0s", "--json")
    result = json.loads(out)
    assert code == 0 and result["version"] == 3 and tokens.parse(result["token"])
    with Store.open() as store:
        verifier = store.token_index()
        assert verifier.verify(result["token"]) is not None
        assert verifier.verify(new) is None
        assert verifier.verify(old) is None  # the new rotation ended v1's grace window too


def test_rotate_a_secret_reads_the_new_value_from_stdin(cli: _Cli) -> None:
    cli("add", "crm", "--kind", "secret", stdin="one")
    code, out, _ = cli("rotate", "crm", stdin="two\n")
    assert code == 0 and "two" not in out and "version 2" in out
    assert cli("get", "crm", "--reveal")[1] == "two\n"


def test_rotate_due_and_its_usage_errors(cli: _Cli) -> None:
    cli("add", "daily", "--kind", "token", "--rotate-every", "1d")
    code, _, err = cli("rotate", "--due")
    assert code == 0 and "nothing is due" in err
    assert json.loads(cli("rotate", "--due", "--json")[1]) == []
    for args in (("rotate", "daily", "--due"), ("rotate",), ("rotate", "daily", "--grace", "x")):
        code, _, err = cli(*args)
        assert code == 2 and _one_error_line(err)


def test_rotate_resume_without_an_interrupted_rotation_fails_clearly(cli: _Cli) -> None:
    cli("add", "agents", "--kind", "token")
    code, _, err = cli("rotate", "agents", "--resume")
    assert code == 1 and "nothing to resume" in _one_error_line(err)


def test_revoke_and_remove(cli: _Cli) -> None:
    token = cli("add", "agents", "--kind", "token")[1].splitlines()[-1]
    cli("rotate", "agents")
    code, out, _ = cli("revoke", "agents", "--version", "1")
    assert code == 0 and "v1" in out and "v2" not in out
    code, out, _ = cli("revoke", "agents")
    assert code == 0 and "v2" in out
    code, out, _ = cli("remove", "agents")
    assert code == 0 and "removed agents" in out
    assert json.loads(cli("list", "--json")[1]) == []
    assert token not in cli("audit", "--json")[1]


def test_audit_json_and_since(cli: _Cli) -> None:
    cli("add", "agents", "--kind", "token")
    rows = json.loads(cli("audit", "--json")[1])
    assert [row["action"] for row in rows] == ["init", "add"]
    assert {"at", "os_user", "action", "credential", "version", "kid", "outcome"} <= set(rows[1])
    assert len(json.loads(cli("audit", "--json", "--since", "1h")[1])) == 2
    assert json.loads(cli("audit", "--json", "--since", "2999-01-01T00:00")[1]) == []
    code, _, err = cli("audit", "--since", "yesterday")
    assert code == 2 and "ISO" in _one_error_line(err)


def test_doctor_passes_on_a_fresh_store_and_fails_on_a_broken_one(cli: _Cli) -> None:
    cli("add", "agents", "--kind", "token")
    code, out, _ = cli("doctor", "--json")
    checks = json.loads(out)
    assert code == 0 and all(check["ok"] for check in checks)
    with Store.open() as store:
        (store.store_dir / "index.db").chmod(0o640)
    code, out, _ = cli("doctor")
    assert code == 1 and "FAIL  permissions" in out


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (("show", "ghost"), 1, "mcp-vault list"),
        (("revoke", "ghost"), 1, "no credential named"),
        (("add", "bad name", "--kind", "token"), 2, "bad credential name"),
        (("add", "x", "--kind", "password"), 2, "--kind"),
        (("frobnicate",), 2, "No such command"),
        (("add", "agents", "--kind", "token"), 1, "already exists"),
    ],
    ids=["unknown-name", "unknown-revoke", "bad-name", "bad-kind", "bad-command", "duplicate"],
)
def test_expected_errors_are_one_line_with_the_right_exit_code(
    cli: _Cli, args: tuple[str, ...], code: int, needle: str
) -> None:
    cli("add", "agents", "--kind", "token")
    got, _, err = cli(*args)
    assert got == code
    assert needle in _one_error_line(err)


def test_a_missing_store_says_to_run_init(cli: _Cli) -> None:
    code, _, err = cli("list")
    assert code == 1 and "mcp-vault init" in _one_error_line(err)


def test_a_damaged_index_is_one_line_that_says_what_to_do(cli: _Cli) -> None:
    assert cli("init")[0] == 0
    with Store.open() as store:
        index = store.index.path
    index.write_bytes(b"this is not sqlite" * 100)
    code, _, err = cli("list")
    assert code == 1 and "move it aside" in _one_error_line(err)


def test_an_unusable_keyring_is_one_clear_line(cli: _Cli) -> None:
    code, _, err = cli("--backend", "keyring.backends.fail.Keyring", "add", "x", "--kind", "token")
    assert code == 1
    assert "PYTHON_KEYRING_BACKEND" in _one_error_line(err) or "backend" in err


def test_the_store_flag_wins_over_the_environment(cli: _Cli, tmp_path: Path) -> None:
    target = tmp_path / "flagged"
    assert cli("--store", str(target), "add", "x", "--kind", "secret", stdin="v")[0] == 0
    assert (target / "index.db").is_file()
    assert cli("list")[0] == 1  # nothing in $MCP_VAULT_DIR


def test_the_real_command_works_and_stays_light() -> None:
    """As a real process: list answers without importing heavy or keyring modules."""
    added = run_cli("add", "agents", "--kind", "token")
    assert added.returncode == 0, added.stderr
    token = added.stdout.splitlines()[-1]
    probe = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from vaults.cli import main\n"
        "assert main(['list', '--json']) == 0\n"
        "from vaults import Store\n"
        "store = Store.open(create=False)\n"
        f"assert store.token_index().verify({token!r}) is not None\n"
        "heavy = {'anthropic', 'mcp', 'uvicorn', 'httpx', 'starlette', 'keyring'}\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & heavy))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True, text=True, env=subprocess_env(), timeout=30, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "[]"


def test_every_command_works_on_a_store_with_a_grace_past_year_9999(cli: _Cli) -> None:
    """An older mcp-vault took --grace 99999999999d: its store must stay usable and revocable."""
    old = cli("add", "agents", "--kind", "token")[1].splitlines()[-1]
    assert cli("rotate", "agents", "--grace", "1h")[0] == 0
    with Store.open() as store, sqlite3.connect(store.index.path) as conn:
        far = time.time() + 99999999999 * 86400
        conn.execute("UPDATE versions SET not_after = ? WHERE state = 'previous'", (far,))
        conn.execute("UPDATE credentials SET rotate_every = ?", (far,))
    with Store.open() as store:
        assert store.token_index().verify(old) is not None  # the bridge serves from this store
    for args in (("list",), ("list", "--json"), ("show", "agents"), ("show", "agents", "--json")):
        code, out, err = cli(*args)
        assert code == 0 and "9999-12-31" in out, (args, err)
    code, out, err = cli("doctor")
    assert code == 0, out + err
    code, _, err = cli("revoke", "agents", "--version", "1")
    assert code == 0, err
    with Store.open() as store:
        assert store.token_index().verify(old) is None
    assert cli("rotate", "agents", "--grace", "1h")[0] == 0
    assert cli("remove", "agents", "--yes")[0] == 0


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("rotate", "agents", "--grace", "366d"), "at most 365d"),
        (("rotate", "agents", "--grace", "99999999999d"), "too long"),
        (("add", "other", "--kind", "token", "--rotate-every", "3651d"), "at most 3650d"),
    ],
    ids=["grace", "absurd-grace", "rotate-every"],
)
def test_durations_past_their_bound_are_one_line_usage_errors(
    cli: _Cli, args: tuple[str, ...], needle: str
) -> None:
    cli("add", "agents", "--kind", "token")
    code, out, err = cli(*args)
    assert code == 2 and out == "" and needle in _one_error_line(err)
    assert json.loads(cli("show", "agents", "--json")[1])["versions"][0]["version"] == 1


def test_rotate_names_the_grace_windows_it_ends(cli: _Cli) -> None:
    cli("add", "agents", "--kind", "token")
    assert "ended" not in cli("rotate", "agents", "--grace", "1h")[2]
    code, _, err = cli("rotate", "agents", "--grace", "1h")
    assert code == 0 and "ended the grace window of v1" in err
    code, out, _ = cli("rotate", "agents", "--json")
    assert code == 0 and json.loads(out)["ended"] == [2]
