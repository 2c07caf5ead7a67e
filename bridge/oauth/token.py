"""The token and revocation endpoints: the SDK's handlers, plus what they lack.

The SDK's handler does the ``authorization_code`` (PKCE S256, redirect URI) and
``refresh_token`` grants. In front of it this endpoint:

- answers ``client_credentials`` (RFC 6749 §4.4), which the SDK's request model has no case for,
  with the same client authentication and the same response shape;
- lets a client that authenticates with HTTP Basic leave ``client_id`` out of the form
  (RFC 6749 §2.3.1), which the SDK's request models require;
- refuses a body over ``MAX_FORM_BYTES`` with ``invalid_request`` before parsing it.

Every refusal is an RFC 6749 error object, never a 500, and never names a token.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

from mcp.server.auth.handlers.revoke import RevocationHandler
from mcp.server.auth.handlers.token import TokenErrorResponse, TokenHandler
from mcp.server.auth.json_response import PydanticJSONResponse
from mcp.server.auth.middleware.client_auth import AuthenticationError
from mcp.server.auth.provider import TokenError
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from bridge.oauth.clients import VaultClientAuthenticator, basic_credentials
from bridge.oauth.provider import VaultOAuthProvider

MAX_FORM_BYTES = 16 * 1024
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def token_error(error: str, description: str, status: int = 400) -> Response:
    return PydanticJSONResponse(
        content=TokenErrorResponse(error=error, error_description=description),  # type: ignore[arg-type]
        status_code=status,
        headers=_NO_STORE,
    )


async def read_body(receive: Receive, limit: int) -> bytes | None:
    """The request body, or None once it passes ``limit`` bytes (the rest is not read)."""
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return bytes(body)
        body += message.get("body", b"")
        if len(body) > limit:
            return None
        if not message.get("more_body", False):
            return bytes(body)


def replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


async def form_request(
    scope: Scope, receive: Receive, *, secret_field: bool = False
) -> tuple[Request, dict[str, str]] | Response:
    """The form of a token or revocation request, read within ``MAX_FORM_BYTES``, with the
    ``client_id`` of a Basic authorization added when the form leaves it out (and an empty
    ``client_secret`` with ``secret_field``); or the error response that refuses it."""
    body = await read_body(receive, MAX_FORM_BYTES)
    if body is None:
        return token_error("invalid_request", f"the form is over {MAX_FORM_BYTES} bytes", 413)
    request = Request(scope, replay(body))
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        return token_error("invalid_request", "send the form as application/x-www-form-urlencoded")
    try:
        fields = parse_qsl(body.decode("utf-8"), keep_blank_values=True)
        basic = basic_credentials(request)
    except UnicodeDecodeError:
        return token_error("invalid_request", "the form is not UTF-8")
    except AuthenticationError as exc:
        return token_error("invalid_client", exc.message, 401)
    names = [name for name, _ in fields]
    if len(names) != len(set(names)):
        return token_error("invalid_request", "a parameter is repeated")  # RFC 6749 §3.2
    form = dict(fields)
    changed = False
    if basic is not None and "client_id" not in form:
        form["client_id"] = basic[0]
        changed = True
    if secret_field and "client_secret" not in form:
        form["client_secret"] = ""  # the SDK's revocation model requires the field
        changed = True
    if changed:
        request = Request(scope, replay(urlencode(form).encode()))
    return request, form


class TokenEndpoint:
    """``POST /token`` as an ASGI app."""

    def __init__(self, provider: VaultOAuthProvider) -> None:
        self.provider = provider
        self.authenticator = VaultClientAuthenticator(provider.service)
        self.handler = TokenHandler(provider, self.authenticator)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        prepared = await form_request(scope, receive)
        if isinstance(prepared, Response):
            response = prepared
        elif prepared[1].get("grant_type") == "client_credentials":
            response = await self.client_credentials(*prepared)
        else:
            response = await self.handler.handle(prepared[0])
        await response(scope, receive, send)

    async def client_credentials(self, request: Request, form: dict[str, str]) -> Response:
        try:
            client = await self.authenticator.authenticate_request(request)
        except AuthenticationError as exc:
            return token_error("invalid_client", exc.message, 401)
        if "client_credentials" not in client.grant_types:
            return token_error(
                "unauthorized_client", "this client may not use the client_credentials grant"
            )
        scope = form.get("scope")
        try:
            tokens = await self.provider.client_credentials(
                client, scope.split() if scope else None
            )
        except TokenError as exc:
            return token_error(exc.error, exc.error_description or exc.error)
        return PydanticJSONResponse(content=tokens, status_code=200, headers=_NO_STORE)


class RevocationEndpoint:
    """``POST /revoke`` (RFC 7009) as an ASGI app: the SDK's handler, on the same form rules."""

    def __init__(self, provider: VaultOAuthProvider) -> None:
        self.handler = RevocationHandler(provider, VaultClientAuthenticator(provider.service))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        prepared = await form_request(scope, receive, secret_field=True)
        response = (
            prepared if isinstance(prepared, Response) else await self.handler.handle(prepared[0])
        )
        await response(scope, receive, send)
