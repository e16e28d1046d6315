"""The candidate sync transports bench_client.py compares, each behind the httpx seam.

* ``comfyctl``: :class:`comfyctl._http.KeepAliveTransport` (http.client keep-alive), the default;
* ``httpx``: httpx's own ``HTTPTransport`` (httpcore + h11), TCP_NODELAY as the client sets it;
* ``urllib3``: urllib3's ``HTTPConnectionPool`` (requests' engine), one per origin, adapted below as
  thin as the seam allows: retries and redirects off, no decoding (httpx decodes), bodies streamed;
* ``pycurl``: the published ``httpx-pycurl`` transport (libcurl), as it comes.

The adapters are for measuring and for the differential fuzz test (tests/test_http_fuzz.py): they
map each library's errors onto httpx's exception types the way httpx's transport does, so a caller
above the seam (the client's retry and error rules) could not tell them apart.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Callable, Iterator
from typing import Any

import httpx

NODELAY = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]
_CHUNK = 1 << 20


class Urllib3Transport(httpx.BaseTransport):
    """urllib3's connection pool behind ``httpx.BaseTransport``."""

    def __init__(self, verify: ssl.SSLContext | bool = True, *, maxsize: int = 8):
        import urllib3

        self._urllib3 = urllib3
        self._verify = verify
        self._maxsize = maxsize
        self._pools: dict[tuple[str, str, int], Any] = {}  # one HTTP(S)ConnectionPool per origin

    def _pool(self, url: httpx.URL) -> Any:
        key = (url.scheme, url.raw_host.decode("ascii"), url.port or (443 if url.scheme == "https" else 80))
        pool = self._pools.get(key)
        if pool is None:
            if key[0] == "https":
                ctx = self._verify
                if not isinstance(ctx, ssl.SSLContext):
                    ctx = httpx.create_ssl_context(verify=ctx)
                pool = self._urllib3.HTTPSConnectionPool(
                    key[1], key[2], maxsize=self._maxsize, retries=False, ssl_context=ctx
                )
            else:
                pool = self._urllib3.HTTPConnectionPool(key[1], key[2], maxsize=self._maxsize, retries=False)
            pool = self._pools.setdefault(key, pool)
        return pool

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        exc_mod = self._urllib3.exceptions
        timeouts = request.extensions.get("timeout") or {}
        timeout = self._urllib3.Timeout(connect=timeouts.get("connect"), read=timeouts.get("read"))
        headers = self._urllib3.HTTPHeaderDict()
        for name, value in request.headers.raw:
            headers.add(name.decode("latin-1"), value.decode("latin-1"))
        body: Any
        try:
            body = request.content or None
        except httpx.RequestNotRead:
            body = request.stream
        sent = False
        try:
            resp = self._pool(request.url).urlopen(
                request.method,
                request.url.raw_path.decode("ascii"),
                body=body,
                headers=headers,
                redirect=False,
                retries=False,
                assert_same_host=False,
                timeout=timeout,
                preload_content=False,
                decode_content=False,
                chunked="transfer-encoding" in headers,
            )
            sent = True
        except exc_mod.ConnectTimeoutError as exc:
            kind = httpx.ConnectError if isinstance(exc, exc_mod.NewConnectionError) else httpx.ConnectTimeout
            raise kind(str(exc), request=request) from exc
        except exc_mod.ReadTimeoutError as exc:
            raise httpx.ReadTimeout(str(exc), request=request) from exc
        except exc_mod.SSLError as exc:
            raise httpx.ConnectError(str(exc), request=request) from exc
        except exc_mod.ProtocolError as exc:
            raise httpx.RemoteProtocolError(str(exc), request=request) from exc
        except (exc_mod.HTTPError, OSError) as exc:
            raise (httpx.ReadError if sent else httpx.WriteError)(str(exc), request=request) from exc
        except ValueError as exc:  # a header http.client refuses
            raise httpx.LocalProtocolError(str(exc), request=request) from exc
        return httpx.Response(
            resp.status,
            headers=[(k.encode("latin-1"), v.encode("latin-1")) for k, v in resp.headers.items()],
            stream=_Urllib3Body(resp, request, exc_mod),
            extensions={
                "http_version": b"HTTP/1.0" if resp.version == 10 else b"HTTP/1.1",
                "reason_phrase": (resp.reason or "").encode("ascii", "replace"),
            },
        )

    def close(self) -> None:
        pools, self._pools = self._pools, {}
        for pool in pools.values():
            pool.close()


class _Urllib3Body(httpx.SyncByteStream):
    def __init__(self, resp: Any, request: httpx.Request, exc_mod: Any):
        self._resp, self._request, self._exc = resp, request, exc_mod
        self._done = False

    def __iter__(self) -> Iterator[bytes]:
        exc_mod = self._exc
        try:
            yield from self._resp.stream(_CHUNK, decode_content=False)
        except exc_mod.ReadTimeoutError as exc:
            raise httpx.ReadTimeout(str(exc), request=self._request) from exc
        except exc_mod.ProtocolError as exc:  # IncompleteRead, InvalidChunkLength, reset
            raise httpx.RemoteProtocolError(str(exc), request=self._request) from exc
        except (exc_mod.HTTPError, OSError) as exc:
            raise httpx.ReadError(str(exc), request=self._request) from exc
        self._done = True

    def close(self) -> None:
        if not self._done:
            self._resp.close()  # unread bytes: never back to the pool as it is
        self._resp.release_conn()


def pycurl_transport(verify: ssl.SSLContext | bool = True) -> httpx.BaseTransport:
    from httpx_pycurl import PyCurlTransport  # type: ignore[import-untyped]

    return PyCurlTransport(verify=bool(verify))  # type: ignore[no-any-return]


def httpx_transport(verify: ssl.SSLContext | bool = True) -> httpx.BaseTransport:
    return httpx.HTTPTransport(verify=verify, socket_options=NODELAY)


def comfyctl_transport(verify: ssl.SSLContext | bool = True) -> httpx.BaseTransport:
    from comfyctl._http import KeepAliveTransport

    return KeepAliveTransport(verify)


#: name -> (factory, what it is); the first is the default the others are compared with.
CANDIDATES: dict[str, tuple[Callable[..., httpx.BaseTransport], str]] = {
    "comfyctl": (comfyctl_transport, "KeepAliveTransport (http.client)"),
    "httpx": (httpx_transport, "httpx.HTTPTransport (httpcore + h11)"),
    "urllib3": (Urllib3Transport, "urllib3 HTTPConnectionPool"),
    "pycurl": (pycurl_transport, "httpx-pycurl (libcurl)"),
}


def available() -> dict[str, tuple[Callable[..., httpx.BaseTransport], str]]:
    """The candidates whose library is installed (urllib3 and httpx-pycurl are bench-only extras)."""
    import importlib.util

    needs = {"urllib3": "urllib3", "pycurl": "httpx_pycurl"}
    return {
        name: entry
        for name, entry in CANDIDATES.items()
        if name not in needs or importlib.util.find_spec(needs[name]) is not None
    }
