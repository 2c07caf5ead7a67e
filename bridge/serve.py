"""Run the bridge under uvicorn: bind, announce, serve (TLS with ``server.tls_cert`` /
``server.tls_key``, uvicorn's own SSL), drain on SIGTERM."""

from __future__ import annotations

import contextlib
import logging
import math
import shlex
import socket
import sys
from collections.abc import Callable
from pathlib import Path

import uvicorn
from starlette.applications import Starlette

from bridge.app import create_app
from bridge.config import BridgeConfig, load_config
from bridge.errors import BridgeError, ConfigError
from bridge.oauth import issuer_for
from bridge.tools.loader import build_registry, check_config
from bridge.tools.registry import Registry
from vaults.errors import NotFoundError
from vaults.oauth import OAuthService
from vaults.store import Store


def bind(host: str, port: int) -> socket.socket:
    """A listening socket, bound before uvicorn starts so the real port is known (port 0)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio only disables Nagle on connections accepted from a socket
    # whose proto is TCP; with proto 0 each response can wait for a delayed ACK (~40 ms).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise BridgeError(
            f"cannot listen on {host}:{port}: {exc.strerror}; pick another --port "
            f"(or stop what is using it)"
        ) from exc
    # Listen now, so the URLs announced before uvicorn starts already accept connections
    # (they queue until the app is up instead of being refused).
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _demo_token(store: Store, config: BridgeConfig, name: str) -> str | None:
    """Mint the demo token on first run; None when it already exists."""
    accepted = config.auth.tokens
    if accepted is not None and name not in accepted:
        raise ConfigError(
            f"[auth] tokens does not accept the demo token {name!r}; add it to the list",
            path=config.source,
            key="auth.tokens",
        )
    try:
        store.show(name)
    except NotFoundError:
        return store.add_token(name).token
    return None


def run(
    path: Path,
    store: Store,
    *,
    host: str | None = None,
    port: int | None = None,
    demo_token: str | None = None,
    announce: Callable[[str], None] = print,
    log_level: str = "info",
) -> None:
    """Load ``path``, check it, bind, and serve until SIGINT/SIGTERM (in-flight calls drain)."""
    overrides = {"host": host, "port": port}
    config = load_config(path, overrides=overrides)
    secrets = store.secret_resolver()
    problems = check_config(config, secrets)
    if problems:
        more = f" (and {len(problems) - 1} more; run mcp-bridge check)" if len(problems) > 1 else ""
        raise ConfigError(problems[0] + more)
    with contextlib.ExitStack() as cleanup:
        sock = cleanup.enter_context(bind(config.server.host, config.server.port))
        actual_port = sock.getsockname()[1]
        if actual_port != config.server.port:
            config = load_config(path, overrides={**overrides, "port": actual_port})
        registry = build_registry(config, secrets)
        minted = _demo_token(store, config, demo_token) if demo_token else None
        verifier = cleanup.enter_context(store.token_index(config.auth.tokens))
        oauth = oauth_service(store, config)
        _announce(config, registry, store, actual_port, demo_token, minted, announce)
        _serve(create_app(config, registry, verifier, oauth=oauth), sock, config, log_level)


def oauth_service(store: Store, config: BridgeConfig) -> OAuthService | None:
    """The store's OAuth service with the config's lifetimes, if ``[auth.oauth]`` is on."""
    settings = config.auth.oauth
    if not settings.enabled:
        return None
    service = OAuthService(
        store,
        access_ttl=settings.access_token_ttl,
        refresh_ttl=settings.refresh_token_ttl,
        code_ttl=settings.code_ttl,
    )
    service.publish()  # mcp-vault remote link --oauth issues tokens of the same lifetimes
    return service


def _announce(
    config: BridgeConfig,
    registry: Registry,
    store: Store,
    port: int,
    demo_token: str | None,
    minted: str | None,
    announce: Callable[[str], None],
) -> None:
    scheme = "https" if config.server.tls else "http"
    base = f"{scheme}://{config.server.host}:{port}"
    known = len(registry.tools())  # proxied MCP servers add theirs once started
    sources = len(registry.sources)
    announce(
        f"mcp-bridge: serving {config.server.name!r} "
        f"({known} tools known before start-up, from {sources} sources)"
    )
    announce(f"  Streamable HTTP: {base}/mcp")
    announce(f"  SSE:             {base}/sse")
    announce(f"  public URL:      {config.server.public_url}")
    if config.auth.oauth.enabled:
        announce(f"  OAuth issuer:    {issuer_for(config.server.public_url)}")
    if demo_token:
        store_arg = shlex.quote(str(store.store_dir))
        bindir = Path(sys.executable).parent
        vault_cmd = shlex.quote(str(bindir / "mcp-vault"))
        reveal_cmd = f"{vault_cmd} --store {store_arg} get {demo_token} --reveal"
        if minted:
            announce(f"  token {demo_token!r} (new; `{reveal_cmd}` shows it again):")
            announce(f"  {minted}")
            token_expr = shlex.quote(minted)
        else:
            announce(f"  token {demo_token!r}: minted on first run; `{reveal_cmd}` shows it")
            token_expr = f'"$({reveal_cmd})"'
        python = shlex.quote(sys.executable)
        announce("  try it:")
        announce(f"  MCP_BRIDGE_TOKEN={token_expr} {python} examples/client.py --url {base}/mcp")
    sys.stdout.flush()


def _serve(app: Starlette, sock: socket.socket, config: BridgeConfig, log_level: str) -> None:
    # Every call writes a log line; these record fields (caller's source line, thread, process
    # names) appear in no format the bridge uses, and looking them up is a fifth of the cost
    # of a record (the logging HOWTO's "Optimization" section).
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    if sys.version_info >= (3, 12):
        logging.logAsyncioTasks = False
    server = uvicorn.Server(uvicorn_config(app, config, log_level))
    server.run(sockets=[sock])


def uvicorn_config(app: Starlette, config: BridgeConfig, log_level: str = "info") -> uvicorn.Config:
    """The uvicorn settings the bridge serves with (TLS when the config has a certificate)."""
    tls = config.server
    return uvicorn.Config(
        app,
        log_level=log_level.lower(),
        # never None: that would wait for long-lived SSE streams forever
        timeout_graceful_shutdown=max(1, math.ceil(config.server.limits.shutdown_grace)),
        lifespan="on",
        access_log=False,  # one line per tool call comes from bridge.calls instead
        ssl_certfile=str(tls.tls_cert) if tls.tls_cert else None,
        ssl_keyfile=str(tls.tls_key) if tls.tls_key else None,
    )
