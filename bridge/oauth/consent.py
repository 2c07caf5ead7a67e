"""The consent page: where ``/authorize`` sends the browser while the operator decides.

It shows the client, the tools it asks for and the code to approve (``mcp-vault oauth approve
CODE``), and reloads itself; once the request is approved it issues the authorization code and
redirects to the client's redirect URI (RFC 6749 §4.1.2), once denied or expired it redirects
with ``access_denied``. It never shows a token.
"""

from __future__ import annotations

import html

import anyio.to_thread
from mcp.server.auth.provider import construct_redirect_uri
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from vaults.oauth import OAuthError, OAuthService

PATH = "/oauth/consent/{request_id}"
_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
_PAGE = """<!doctype html>
<html><head><meta charset="utf-8">{refresh}<title>Authorize {client}</title>
<style>body{{font-family:sans-serif;max-width:40em;margin:3em auto}}code{{font-size:1.6em}}</style>
</head><body><h1>{title}</h1>{body}</body></html>"""


def _page(
    title: str, body: str, *, status: int = 200, refresh: bool = False, client: str = ""
) -> Response:
    text = _PAGE.format(
        refresh='<meta http-equiv="refresh" content="2">' if refresh else "",
        client=html.escape(client),
        title=html.escape(title),
        body=body,
    )
    return HTMLResponse(text, status_code=status, headers=_HEADERS)


class ConsentPage:
    """``GET /oauth/consent/{request_id}``."""

    def __init__(self, service: OAuthService) -> None:
        self.service = service

    async def handle(self, request: Request) -> Response:
        request_id = request.path_params["request_id"]
        found = await anyio.to_thread.run_sync(self.service.authorization, request_id)
        if found is None:
            return _page(
                "Unknown request", "<p>This authorization request does not exist.</p>", status=404
            )
        name = found.client.name
        if found.status == "pending":
            scopes = ", ".join(found.scopes) or "every tool"
            body = (
                f"<p><b>{html.escape(name)}</b> asks to call: {html.escape(scopes)}.</p>"
                f"<p>To allow it, run on the bridge's host:</p>"
                f"<p><code>mcp-vault oauth approve {html.escape(found.user_code)}</code></p>"
                f"<p>(or <code>mcp-vault oauth deny {html.escape(found.user_code)}</code>). "
                "This page moves on by itself.</p>"
            )
            return _page("Waiting for the operator", body, refresh=True, client=name)
        if found.status == "approved":
            try:
                code = await anyio.to_thread.run_sync(self.service.issue_code, request_id)
            except OAuthError:
                return _page("Already used", "<p>This request has been completed.</p>", status=400)
            target = construct_redirect_uri(found.redirect_uri, code=code, state=found.state)
            return RedirectResponse(target, status_code=302, headers=_HEADERS)
        if found.status in ("denied", "expired"):
            target = construct_redirect_uri(
                found.redirect_uri, error="access_denied",
                error_description=f"the request was {found.status}", state=found.state,
            )  # fmt: skip
            return RedirectResponse(target, status_code=302, headers=_HEADERS)
        return _page("Already used", "<p>This request has been completed.</p>", status=400)
