"""Config loading, layering and validation; the ``[tools]`` table built from the source kinds."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from bridge.config import BridgeConfig, load_config
from bridge.errors import ConfigError
from bridge.tools.loader import check_config
from bridge.tools.secrets import StaticSecrets
from tests.bridge.configs import write

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_an_empty_file_gives_the_documented_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, ""), environ={})

    assert config.server.name == "inhouse"
    assert config.server.host == "127.0.0.1"
    assert config.server.port == 8765
    assert config.server.public_url == "http://127.0.0.1:8765/mcp"
    assert config.server.limits.max_request_bytes == 1024 * 1024
    assert config.server.limits.max_output_bytes == 256 * 1024
    assert config.server.limits.tool_timeout == 60.0
    assert config.server.limits.shutdown_grace == 10.0
    assert config.auth.tokens is None
    assert config.tools.python == () and config.tools.command == ()
    assert config.source == tmp_path / "bridge.toml"
    assert config.config_dir == tmp_path


def test_the_example_config_loads_and_checks_clean() -> None:
    config = load_config(EXAMPLES / "bridge.toml", environ={})

    assert config.server.name == "inhouse"
    assert config.server.public_url == "http://127.0.0.1:8765/mcp"
    assert [entry.module for entry in config.tools.python] == ["inventory", "docs_search"]
    assert [cmd.name for cmd in config.tools.command] == ["run_tests"]
    assert config.tools.command[0].timeout == 120.0
    assert check_config(config, StaticSecrets()) == []


@pytest.mark.parametrize(
    ("layers", "expected_port", "expected_host"),
    [
        pytest.param({}, 8000, "127.0.0.1", id="file"),
        pytest.param({"env": {"MCP_BRIDGE_PORT": "9001"}}, 9001, "127.0.0.1", id="env-over-file"),
        pytest.param(
            {"env": {"MCP_BRIDGE_PORT": "9001"}, "flags": {"port": 9002}},
            9002,
            "127.0.0.1",
            id="flag-over-env",
        ),
        pytest.param({"flags": {"port": None}}, 8000, "127.0.0.1", id="unset-flag-ignored"),
        pytest.param(
            {"env": {"MCP_BRIDGE_HOST": "0.0.0.0"}, "flags": {"server.host": "::1"}},
            8000,
            "::1",
            id="dotted-flag",
        ),
    ],
)
def test_flags_beat_environment_beat_file(
    tmp_path: Path, layers: dict[str, dict[str, object]], expected_port: int, expected_host: str
) -> None:
    path = write(tmp_path, "[server]\nport = 8000\n")

    config = load_config(path, layers.get("flags"), environ=layers.get("env", {}))  # type: ignore[arg-type]

    assert config.server.port == expected_port
    assert config.server.host == expected_host


def test_every_documented_environment_variable_is_honoured(tmp_path: Path) -> None:
    environ = {
        "MCP_BRIDGE_HOST": "10.0.0.5",
        "MCP_BRIDGE_PORT": "7000",
        "MCP_BRIDGE_PUBLIC_URL": "https://bridge.example.com/mcp",
        "MCP_BRIDGE_NAME": "tools-from-env",
    }

    server = load_config(write(tmp_path, ""), environ=environ).server

    assert (server.host, server.port) == ("10.0.0.5", 7000)
    assert server.public_url == "https://bridge.example.com/mcp"
    assert server.name == "tools-from-env"


def test_the_process_environment_is_the_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MCP_BRIDGE_NAME", "from-os-environ")

    assert load_config(write(tmp_path, "")).server.name == "from-os-environ"


def test_the_default_public_url_follows_the_effective_host_and_port(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, ""), {"port": 9100, "host": "::1"}, environ={})

    assert config.server.public_url == "http://[::1]:9100/mcp"


def test_an_explicit_public_url_is_kept_when_the_port_changes(tmp_path: Path) -> None:
    path = write(tmp_path, '[server]\npublic_url = "https://tools.example.com/mcp"\n')

    config = load_config(path, {"port": 9100}, environ={})

    assert config.server.public_url == "https://tools.example.com/mcp"
    assert config.server.port == 9100


def test_the_public_host_is_allowed_automatically(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        [server]
        public_url = "https://tools.example.com/mcp"
        allowed_hosts = ["tunnel.example.net"]
        allowed_origins = ["https://console.example.com"]
        """,
    )

    server = load_config(path, environ={}).server

    assert server.effective_allowed_hosts[:3] == ("127.0.0.1:8765", "localhost:8765", "[::1]:8765")
    assert "tools.example.com" in server.effective_allowed_hosts
    assert "tools.example.com:443" in server.effective_allowed_hosts
    assert "tunnel.example.net" in server.effective_allowed_hosts
    assert "https://tools.example.com" in server.effective_allowed_origins
    assert "https://console.example.com" in server.effective_allowed_origins
    assert "https://evil.example" not in server.effective_allowed_origins


def test_relative_paths_resolve_against_the_config_directory(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    path = write(
        tmp_path / "conf",
        """
        [[tools.command]]
        name = "rel"
        argv = ["true"]
        cwd = "../work"

        [[tools.command]]
        name = "abs"
        argv = ["true"]
        cwd = "/srv/tools"
        """,
    )

    rel, absolute = load_config(path, environ={}).tools.command

    assert rel.cwd == tmp_path / "work"
    assert absolute.cwd == Path("/srv/tools")


def test_the_config_is_frozen(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, ""), environ={})

    with pytest.raises(ValidationError):
        config.server.port = 1  # type: ignore[misc]


_COMMAND = '[[tools.command]]\nname = "ok"\nargv = ["true"]\n'


BAD_CONFIGS = [
    ("unknown-top-level", "colour = 'blue'\n", "colour", "unknown key"),
    ("unknown-server-key", "[server]\nprot = 1\n", "server.prot", "allowed keys here: name, host"),
    ("port-not-int", "[server]\nport = 'http'\n", "server.port", "valid integer"),
    ("port-out-of-range", "[server]\nport = 70000\n", "server.port", "65535"),
    ("public-url-relative", "[server]\npublic_url = '/mcp'\n", "server.public_url", "absolute"),
    ("public-url-ftp", "[server]\npublic_url = 'ftp://h/mcp'\n", "server.public_url", "http(s)"),
    (
        "public-url-credentials",
        "[server]\npublic_url = 'https://u:p@h/mcp'\n",
        "server.public_url",
        "credentials",
    ),
    (
        "bad-timeout",
        "[server.limits]\ntool_timeout = 'soon'\n",
        "server.limits.tool_timeout",
        "bad duration",
    ),
    ("zero-timeout", "[server.limits]\ntool_timeout = 0\n", "server.limits.tool_timeout", "0"),
    (
        "negative-cap",
        "[server.limits]\nmax_output_bytes = -1\n",
        "server.limits.max_output_bytes",
        "greater",
    ),
    ("tokens-not-list", "[auth]\ntokens = 'agents'\n", "auth.tokens", "tuple"),
    (
        "unknown-source-kind",
        "[[tools.ldap]]\nname = 'x'\n",
        "tools.ldap",
        "unknown tool source kind",
    ),
    ("python-not-array", "[tools.python]\nmodule = 'x'\n", "tools.python", "[[tools.python]]"),
    ("python-no-module", "[[tools.python]]\nprefix = 'x_'\n", "tools.python[0].module", "missing"),
    ("python-bad-module", "[[tools.python]]\nmodule = 'a-b'\n", "tools.python[0].module", "a-b"),
    (
        "python-bad-prefix",
        "[[tools.python]]\nmodule = 'm'\nprefix = 'a b'\n",
        "tools.python[0].prefix",
        "characters",
    ),
    (
        "python-bad-rename",
        "[[tools.python]]\nmodule = 'm'\nrename = { a = 'b c' }\n",
        "tools.python[0].rename",
        "not a valid tool name",
    ),
    (
        "unknown-placeholder",
        _COMMAND + '[[tools.command]]\nname = "t"\nargv = ["echo", "{nope}"]\n',
        "tools.command[1].argv",
        "{nope} names no parameter",
    ),
    (
        "placeholder-program",
        '[[tools.command]]\nname = "t"\nargv = ["{p}"]\nparams = { p = {} }\n',
        "tools.command[0].argv",
        "argv[0]",
    ),
    (
        "attribute-placeholder",
        '[[tools.command]]\nname = "t"\nargv = ["echo", "{p.x}"]\nparams = { p = {} }\n',
        "tools.command[0].argv",
        "plain {param_name}",
    ),
    (
        "positional-placeholder",
        '[[tools.command]]\nname = "t"\nargv = ["echo", "{}"]\n',
        "tools.command[0].argv",
        "plain {param_name}",
    ),
    (
        "conversion-placeholder",
        '[[tools.command]]\nname = "t"\nargv = ["echo", "{p!r}"]\nparams = { p = {} }\n',
        "tools.command[0].argv",
        "{p!r}",
    ),
    (
        "unbalanced-brace",
        '[[tools.command]]\nname = "t"\nargv = ["echo", "{p"]\nparams = { p = {} }\n',
        "tools.command[0].argv",
        "bad braces",
    ),
    ("empty-argv", '[[tools.command]]\nname = "t"\nargv = []\n', "tools.command[0].argv", "1"),
    ("no-argv", '[[tools.command]]\nname = "t"\n', "tools.command[0].argv", "missing"),
    (
        "bad-tool-name",
        '[[tools.command]]\nname = "run tests"\nargv = ["true"]\n',
        "tools.command[0].name",
        "not a valid tool name",
    ),
    (
        "bad-param-type",
        '[[tools.command]]\nname = "t"\nargv = ["true"]\nparams = { n = { type = "float" } }\n',
        "tools.command[0].params.n.type",
        "'string'",
    ),
    (
        "default-wrong-type",
        '[[tools.command]]\nname = "t"\nargv = ["true"]\n'
        'params = { n = { type = "integer", default = "five" } }\n',
        "tools.command[0].params.n",
        "not of type integer",
    ),
    (
        "default-outside-enum",
        '[[tools.command]]\nname = "t"\nargv = ["true"]\n'
        'params = { e = { enum = ["a", "b"], default = "c" } }\n',
        "tools.command[0].params.e",
        "not one of the enum",
    ),
    (
        "pattern-on-a-number",
        '[[tools.command]]\nname = "t"\nargv = ["true"]\n'
        'params = { n = { type = "integer", pattern = "^1" } }\n',
        "tools.command[0].params.n",
        "string parameters only",
    ),
    (
        "bad-pattern",
        '[[tools.command]]\nname = "t"\nargv = ["true"]\nparams = { p = { pattern = "(" } }\n',
        "tools.command[0].params.p",
        "not a regular expression",
    ),
    (
        "default-outside-pattern",
        '[[tools.command]]\nname = "t"\nargv = ["true"]\n'
        'params = { p = { pattern = "^a", default = "b" } }\n',
        "tools.command[0].params.p",
        "does not match the pattern",
    ),
    (
        "bad-param-name",
        '[[tools.command]]\nname = "t"\nargv = ["true"]\nparams = { "a-b" = {} }\n',
        "tools.command[0].params",
        "identifier",
    ),
    (
        "unknown-param-key",
        '[[tools.command]]\nname = "t"\nargv = ["true"]\nparams = { p = { required = true } }\n',
        "tools.command[0].params.p.required",
        "allowed keys here: type, description, default, enum, pattern",
    ),
    (
        "bad-env-name",
        '[[tools.command]]\nname = "t"\nargv = ["true"]\nenv = { "A B" = "x" }\n',
        "tools.command[0].env",
        "environment variable name",
    ),
    (
        "empty-vault-reference",
        '[[tools.command]]\nname = "t"\nargv = ["true"]\nenv = { KEY = "vault:" }\n',
        "tools.command[0].env",
        "needs a secret name",
    ),
    (
        "bad-command-timeout",
        '[[tools.command]]\nname = "t"\nargv = ["true"]\ntimeout = "later"\n',
        "tools.command[0].timeout",
        "bad duration",
    ),
    (
        "stderr-not-bool",
        '[[tools.command]]\nname = "t"\nargv = ["true"]\ninclude_stderr = "sometimes"\n',
        "tools.command[0].include_stderr",
        "boolean",
    ),
    (
        "bad-curation-on-command",
        '[[tools.command]]\nname = "t"\nargv = ["true"]\nprefix = "x y"\n',
        "tools.command[0].prefix",
        "may only use the characters",
    ),
]


@pytest.mark.parametrize(
    ("text", "key", "fragment"),
    [pytest.param(text, key, fragment, id=case) for case, text, key, fragment in BAD_CONFIGS],
)
def test_a_bad_config_names_the_file_the_key_and_the_problem(
    tmp_path: Path, text: str, key: str, fragment: str
) -> None:
    path = write(tmp_path, text)

    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})

    message = str(caught.value)
    assert message.startswith(f"{path}: {key}: "), message
    assert fragment in message
    assert "\n" not in message
    assert caught.value.key == key
    assert caught.value.path == path
    assert caught.value.exit_code == 2


def test_a_bad_environment_value_says_where_it_came_from(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"server\.port: .*\(from MCP_BRIDGE_PORT\)"):
        load_config(write(tmp_path, ""), environ={"MCP_BRIDGE_PORT": "eighty"})


def test_a_bad_flag_value_says_it_came_from_the_command_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"server\.public_url: .*from the command line"):
        load_config(write(tmp_path, ""), {"public_url": "nope"}, environ={})


def test_several_problems_are_counted_on_the_one_line(tmp_path: Path) -> None:
    path = write(tmp_path, "[server]\nport = 'x'\nhost = ''\nbogus = 1\n")

    with pytest.raises(ConfigError, match=r"\(and 2 more problems\)$"):
        load_config(path, environ={})


def test_invalid_toml_names_the_file_and_the_position(tmp_path: Path) -> None:
    path = write(tmp_path, "[server\nport = 1\n")

    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})

    assert str(caught.value).startswith(f"{path}: not valid TOML: ")
    assert "line 1" in str(caught.value)


def test_a_missing_file_says_how_to_point_at_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file; pass --config FILE"):
        load_config(tmp_path / "absent.toml", environ={})


def test_a_directory_is_not_a_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the file"):
        load_config(tmp_path, environ={})


def test_literal_env_values_are_not_shown_in_errors(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[[tools.command]]\nname = "t"\nargv = ["true"]\nenv = { TOKEN = 12345678 }\n',
    )

    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})

    assert "tools.command[0].env.TOKEN" in str(caught.value)
    assert "12345678" not in str(caught.value)


def test_a_config_built_without_a_file_resolves_against_the_working_directory() -> None:
    config = BridgeConfig()

    assert config.source is None
    assert config.config_dir == Path.cwd()
    assert config.server.public_url == "http://127.0.0.1:8765/mcp"


CURATION = """
allow = ["a*"]
deny = ["b*"]
rename = { a = "b" }
descriptions = { a = "A." }
prefix = "p_"
"""


@pytest.mark.parametrize(
    ("kind", "keys"),
    [
        pytest.param("python", 'module = "m"', id="python"),
        pytest.param("command", 'name = "a"\nargv = ["true"]', id="command"),
        pytest.param("mcp", 'name = "m"\ncommand = ["true"]', id="mcp"),
        pytest.param("openapi", 'name = "o"\nspec = "o.json"', id="openapi"),
    ],
)
def test_every_source_kind_takes_the_curation_keys(tmp_path: Path, kind: str, keys: str) -> None:
    path = write(tmp_path, f"[[tools.{kind}]]\n{keys}\n{CURATION}")

    (entry,) = getattr(load_config(path, environ={}).tools, kind)

    assert (entry.allow, entry.deny, entry.prefix) == (("a*",), ("b*",), "p_")
    assert (dict(entry.rename), dict(entry.descriptions)) == ({"a": "b"}, {"a": "A."})
