"""What both clients need from httpx and websockets, once: TLS contexts, the environment's proxy,
the default transport, and library exceptions → the :mod:`comfyctl.errors` tree.

The I/O twins (:mod:`comfyctl.client`, :mod:`comfyctl.aio`) call these at their boundary; the
decisions built on the result (retry or not, poll or not) live in :mod:`comfyctl._flows`.
"""

from __future__ import annotations

import socket
import ssl
from typing import Any

import httpx
import websockets.exceptions as ws_exc

from comfyctl import _protocol as proto
from comfyctl._flows import Failed
from comfyctl._jobstate import SocketFailure
from comfyctl.errors import ComfyError, RequestTimeout, ServerUnreachable, TransportError, UsageError
from comfyctl.settings import Settings

__all__ = [
    "NODELAY",
    "cut_off",
    "default_transport",
    "env_proxy",
    "error_retry_delay",
    "failure",
    "ssl_context",
    "transport_error",
    "ws_connect_options",
    "ws_failure",
    "ws_open_failed",
    "ws_ssl_context",
]

#: Small requests go out at once (httpx writes headers and body separately; Nagle would hold the body).
NODELAY = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]
_WS_MAX_SIZE = 1 << 28


def ssl_context(verify: bool | str) -> ssl.SSLContext | bool:
    """httpx/websockets TLS setting: True (system/certifi), False, or a context for a CA bundle."""
    if verify is True:
        return True
    if verify is False:
        return _no_verify_context()
    try:
        return ssl.create_default_context(cafile=verify)
    except (OSError, ssl.SSLError) as exc:
        raise UsageError(f"cannot load the CA bundle {verify!r}: {exc}") from exc


def ws_ssl_context(verify: bool | str) -> ssl.SSLContext:
    """The WebSocket's TLS context: the same trust store as HTTP's (httpx: certifi, or
    ``SSL_CERT_FILE``/``SSL_CERT_DIR``), so https and wss never disagree about a certificate."""
    tls = ssl_context(verify)
    return tls if isinstance(tls, ssl.SSLContext) else httpx.create_ssl_context()


def _no_verify_context() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def env_proxy(settings: Settings) -> str | None:
    """The proxy the environment (HTTP(S)_PROXY, ALL_PROXY, NO_PROXY) names for this server."""
    import urllib.request
    from urllib.parse import urlsplit

    parts = urlsplit(settings.base_url)
    proxies = urllib.request.getproxies()
    proxy = proxies.get(parts.scheme) or proxies.get("all")
    if proxy and not urllib.request.proxy_bypass(parts.hostname or ""):
        return proxy
    return None


def default_transport(kind: Any, settings: Settings, verify: ssl.SSLContext | bool) -> Any:
    """The transport a client builds when none is given: through the environment's proxy (httpx's
    transport) if one applies; else :class:`~comfyctl._http.KeepAliveTransport` for the sync client
    and httpx's own with TCP_NODELAY for the async one. No CA loading for a plain-http server (it
    costs start-up time).

    Raises:
        UsageError: the proxy needs a package that is not installed (SOCKS: ``httpx[socks]``).
    """
    proxy = env_proxy(settings)
    if proxy is None and settings.base_url.startswith("http://"):
        verify = False  # no TLS on this connection: skip loading the CA store
    if proxy is None and kind is httpx.HTTPTransport:
        from comfyctl._http import KeepAliveTransport

        return KeepAliveTransport(verify)
    try:
        return kind(verify=verify, proxy=proxy, socket_options=NODELAY)
    except ImportError as exc:
        raise UsageError(
            f"the proxy {settings.redact(str(proxy))} from the environment needs a package that is "
            f"not installed: {exc}",
            hint="pip install 'httpx[socks]', or unset ALL_PROXY / set NO_PROXY for this server",
        ) from exc


# -- the WebSocket ------------------------------------------------------------------------------------

#: Answers that mean "no WebSocket here" (a proxy or auth layer in front), not "try again soon".
_NO_WEBSOCKET = frozenset({400, 401, 403, 404, 405, 426, 501})


def ws_connect_options(
    url: str, headers: Any, open_timeout: float, tls: ssl.SSLContext | None
) -> dict[str, Any]:
    """Keyword arguments of websockets' ``connect`` for both clients.

    No Origin header (websockets sends none unless asked): ComfyUI's Origin check would 403.
    """
    options: dict[str, Any] = {
        "additional_headers": dict(headers),
        "open_timeout": open_timeout,
        "max_size": _WS_MAX_SIZE,
        "compression": None,
    }
    if url.startswith("wss:") and tls is not None:
        options["ssl"] = tls
    return options


def ws_failure(exc: BaseException) -> SocketFailure | None:
    """How a failed WebSocket open counts for :class:`SocketPolicy`; None: nothing answers at all.

    Raises:
        UsageError: the environment's proxy needs a missing package (SOCKS: python-socks).
    """
    if isinstance(exc, ImportError):
        raise UsageError(
            f"the WebSocket cannot go through the environment's proxy: {exc}",
            hint="pip install python-socks, or set NO_PROXY for this server",
        ) from exc
    if isinstance(exc, ws_exc.InvalidStatus):
        return "blocked" if exc.response.status_code in _NO_WEBSOCKET else "transient"
    if isinstance(exc, ws_exc.InvalidMessage):
        return "transient"  # a cut or garbled answer, e.g. from a server that is restarting
    if isinstance(exc, (ws_exc.InvalidHandshake, ws_exc.InvalidURI)):
        return "blocked"  # answered without an upgrade: something in front does not do WebSockets
    if isinstance(exc, TimeoutError) or type(exc).__name__ == "TimeoutError":
        return "hung"  # (Python 3.10's asyncio.TimeoutError is not the builtin one)
    return None


def ws_open_failed(exc: Exception, settings: Settings) -> SocketFailure:
    """A failed WebSocket open, for the socket policy (HTTP may still work: jobs poll meanwhile).

    Raises:
        ServerUnreachable: nothing answers at all (the same test for both clients: an OSError or
            any websockets exception).
        Exception: ``exc`` itself when it is not about the connection.
    """
    kind = ws_failure(exc)
    if kind is not None:
        return kind
    if isinstance(exc, (OSError, ws_exc.WebSocketException)) or type(exc).__module__.startswith("websockets"):
        raise ServerUnreachable(
            f"ComfyUI is not reachable at {settings.url}: {settings.redact(str(exc) or type(exc).__name__)}",
            hint="start ComfyUI, or pass the right URL",
        ) from exc
    raise exc


# -- HTTP errors ------------------------------------------------------------------------------------


def _tls_refused(exc: Exception) -> str | None:
    """Why a TLS handshake failed for good ("version": TLS spoken to a plain-HTTP port; "certificate":
    not trusted), or None: a retry would meet the same server and the same certificate."""
    if not isinstance(exc, httpx.ConnectError):
        return None
    upper = str(exc).upper()
    if "WRONG_VERSION_NUMBER" in upper or "RECORD LAYER" in upper:
        return "version"
    if "CERTIFICATE" in upper or "SSL" in upper:
        return "certificate"
    return None


def error_retry_delay(exc: httpx.HTTPError, attempt: int, *, last: bool, idempotent: bool) -> float | None:
    """:func:`comfyctl._protocol.error_retry_delay` for an httpx error (a refused handshake is final)."""
    if _tls_refused(exc):
        return None
    return proto.error_retry_delay(
        attempt,
        last=last,
        idempotent=idempotent,
        sent=not isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout)),
        read_timeout=isinstance(exc, httpx.ReadTimeout),
    )


def failure(exc: httpx.HTTPError, method: str, url: str, timeout: float, settings: Settings) -> Failed:
    """An httpx error as the request flow sees it: our error, and what the retry rule needs."""
    return Failed(
        error=transport_error(exc, method, url, timeout, settings),
        sent=not isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout)),
        read_timeout=isinstance(exc, httpx.ReadTimeout),
        final=_tls_refused(exc) is not None,
    )


def cut_off(exc: Exception, url: str, settings: Settings) -> ComfyError:
    """A download whose body broke off (not re-fetched: the part read is already on disk)."""
    return transport_error(exc, "GET", url, settings.timeout, settings)


def transport_error(exc: Exception, method: str, url: str, timeout: float, settings: Settings) -> ComfyError:
    """Map an httpx exception to our tree (the message is redacted)."""
    text = settings.redact(str(exc) or type(exc).__name__)
    if isinstance(exc, httpx.TimeoutException):
        if isinstance(exc, httpx.ConnectTimeout):
            return ServerUnreachable(
                f"{method} {url}: could not connect within {timeout:g} s",
                hint=f"is ComfyUI running at {settings.url}?",
            )
        return RequestTimeout(f"{method} {url}: no answer within {timeout:g} s")
    if isinstance(exc, httpx.ConnectError):
        refused = _tls_refused(exc)
        if refused == "version":
            # TLS spoken to a plain-HTTP port (ComfyUI serves http unless started with --tls-*)
            hint = f"the server speaks plain HTTP: use http:// instead of https:// (now {settings.url})"
        elif refused == "certificate":
            hint = "check the certificate: COMFYUI_CA_BUNDLE, or COMFYUI_VERIFY=0 if self-signed"
        else:
            hint = f"start ComfyUI, or pass the right URL (now {settings.url})"
        return ServerUnreachable(f"ComfyUI is not reachable at {settings.url}: {text}", hint=hint)
    hint = "the server or a proxy dropped the connection; retry"
    if settings.base_url.startswith("http://"):
        # A TLS server (ComfyUI started with --tls-*) closes a plain-HTTP connection unanswered.
        hint += f", or use https:// if the server speaks TLS (now {settings.url})"
    return TransportError(f"{method} {url}: the connection failed: {text}", hint=hint)
