"""HTTP/1.1 keep-alive over :mod:`http.client`: the sync client's default transport.

httpx's own ``HTTPTransport`` (httpcore + h11) spends about as much CPU on a request as a local
ComfyUI spends answering it; for many small jobs that is most of the client's cost
(bench/bench_client.py). This transport keeps the httpx seam (``httpx.BaseTransport``, httpx's
request/response models and exception types), so everything above it, and tests that inject another
transport, see no difference. Proxies from the environment go through httpx's transport instead.
"""

from __future__ import annotations

import http.client
import re
import select
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx

__all__ = ["KeepAliveTransport"]

_CHUNK = 1 << 20
_Key = tuple[str, str, int]


class KeepAliveTransport(httpx.BaseTransport):
    """A pool of idle keep-alive connections per (scheme, host, port), safe across threads.

    An idle connection is reused only if its socket is not readable (a readable idle socket means
    the server closed it or sent junk), and only for ``keepalive_expiry`` seconds, httpx's default:
    well inside a server's own idle timeout (aiohttp's is 75 s), so a request never races the server
    closing the connection (it would fail after being sent: not retried), and a connection a NAT
    dropped without a word is not trusted for long. A connection whose response was not read to the
    end, or that the server marked ``Connection: close``, is closed rather than reused.
    """

    def __init__(
        self, verify: ssl.SSLContext | bool = True, *, max_idle: int = 8, keepalive_expiry: float = 5.0
    ):
        self._verify = verify
        self._tls: ssl.SSLContext | None = None  # built on the first https connection (CA loading is slow)
        self._max_idle = max_idle
        self._expiry = keepalive_expiry
        self._idle: dict[_Key, list[tuple[float, http.client.HTTPConnection]]] = {}  # (idle since, conn)
        self._lock = threading.Lock()
        self._closed = False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        scheme = url.scheme
        if scheme not in ("http", "https"):
            raise httpx.UnsupportedProtocol(f"unsupported URL scheme {scheme!r}", request=request)
        # raw_host: the IDNA 2008 name httpx put in Host (a str host would be resolved with IDNA 2003)
        key = (scheme, url.raw_host.decode("ascii"), url.port or (443 if scheme == "https" else 80))
        timeouts = request.extensions.get("timeout") or {}
        conn = self._checkout(key) or self._connect(key, timeouts.get("connect"), request)
        sent = False
        try:
            assert conn.sock is not None
            conn.sock.settimeout(timeouts.get("read"))
            target = url.raw_path.decode("ascii")
            conn.putrequest(request.method, target, skip_host=True, skip_accept_encoding=True)
            chunked = False
            for name, value in request.headers.raw:  # httpx set Host, Content-Length or Transfer-Encoding
                conn.putheader(name, value)
                chunked = chunked or (name.lower() == b"transfer-encoding" and b"chunked" in value.lower())
            body: Any
            try:
                body = request.content or None  # bytes: one send after the headers' send
            except httpx.RequestNotRead:
                body = request.stream  # multipart uploads and iterators: sent chunk by chunk
            try:
                conn.endheaders(body, encode_chunked=chunked)
            except (ConnectionError, ssl.SSLError):  # reset, broken pipe; over TLS: SSLEOFError
                # Like httpcore: read what a server refusing the body (413, 401) answered before closing
                # (over TLS that works only if OpenSSL still reads after the failed write: timing).
                pass
            sent = True
            resp = conn.getresponse()
            headers = _header_bytes(resp.getheaders())
        except ValueError as exc:  # http.client refuses a header name or value
            conn.close()
            raise httpx.LocalProtocolError(str(exc), request=request) from exc
        except TimeoutError as exc:
            conn.close()
            timeout = httpx.ReadTimeout if sent else httpx.WriteTimeout
            raise timeout(str(exc) or "timed out", request=request) from exc
        except http.client.HTTPException as exc:  # no status line, a bad header, closed before answering
            conn.close()
            raise httpx.RemoteProtocolError(str(exc) or type(exc).__name__, request=request) from exc
        except OSError as exc:
            conn.close()
            kind = httpx.ReadError if sent else httpx.WriteError
            raise kind(str(exc) or type(exc).__name__, request=request) from exc
        except BaseException:  # e.g. from the request body's iterator: close now, not at garbage collection
            conn.close()
            raise
        return httpx.Response(
            resp.status,
            headers=headers,
            stream=_Body(self, key, conn, resp, request),
            extensions={
                "http_version": b"HTTP/1.0" if resp.version == 10 else b"HTTP/1.1",
                "reason_phrase": resp.reason.encode("ascii", "replace"),
            },
        )

    def _connect(
        self, key: _Key, timeout: float | None, request: httpx.Request
    ) -> http.client.HTTPConnection:
        scheme, host, port = key
        conn: http.client.HTTPConnection
        if scheme == "https":
            conn = http.client.HTTPSConnection(host, port, timeout=timeout, context=self._tls_context())
        else:
            conn = http.client.HTTPConnection(host, port, timeout=timeout)
        conn.response_class = _Response
        try:
            conn.connect()
        except TimeoutError as exc:
            conn.close()
            raise httpx.ConnectTimeout(str(exc) or "timed out", request=request) from exc
        except OSError as exc:  # refused, unresolvable, TLS handshake or certificate failure
            conn.close()
            raise httpx.ConnectError(str(exc) or type(exc).__name__, request=request) from exc
        assert conn.sock is not None
        # Small requests go out at once: Nagle would hold a body sent after its headers.
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn

    def _tls_context(self) -> ssl.SSLContext:
        if self._tls is None:
            verify = self._verify
            if not isinstance(verify, ssl.SSLContext):
                verify = httpx.create_ssl_context(verify=verify)
            self._tls = verify
        return self._tls

    def _checkout(self, key: _Key) -> http.client.HTTPConnection | None:
        with self._lock:
            idle = self._idle.get(key)
            while idle:
                since, conn = idle.pop()
                fresh = time.monotonic() - since < self._expiry
                if fresh and conn.sock is not None and not _readable(conn.sock):
                    return conn
                conn.close()
        return None

    def _checkin(self, key: _Key, conn: http.client.HTTPConnection) -> None:
        with self._lock:
            idle = self._idle.setdefault(key, [])
            if not self._closed and len(idle) < self._max_idle:
                idle.append((time.monotonic(), conn))
                return
        conn.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            conns = [conn for idle in self._idle.values() for _, conn in idle]
            self._idle.clear()
        for conn in conns:
            conn.close()


class _Response(http.client.HTTPResponse):
    """http.client's answer, read like httpcore: every interim answer skipped (http.client skips only
    100 Continue and would hand a 103 Early Hints over as the answer), its headers checked too; no
    body looked for after a 204/304 that says "Transfer-Encoding: chunked" (http.client would wait
    for chunks); a head cut short is an error; an HTTP/1.0 connection is not reused. Each of these was
    found by tests/test_http_fuzz.py, which compares every answer with httpx's own transport."""

    def begin(self) -> None:
        fp = self.fp
        self.fp = _Head(fp)  # type: ignore[assignment]
        try:
            super().begin()
        finally:
            if self.fp is not None:  # (None: http.client closed it on a bad status line)
                self.fp = fp
        if self.length == 0:  # with chunked set, only a bodiless answer (204, 304, HEAD) has length 0
            self.chunked = False
        if self.version == 10:  # h11 never reuses an HTTP/1.0 connection, "keep-alive" or not
            self.will_close = True

    def _read_status(self) -> tuple[str, int, str]:
        status: tuple[str, int, str] = super()._read_status()  # type: ignore[misc]
        while 100 <= status[1] < 200 and status[1] != 101:  # (101 switches protocols: final)
            _header_bytes(http.client.parse_headers(self.fp).items())  # the interim answer's, checked
            status = super()._read_status()  # type: ignore[misc]
        return status


class _Head:
    """The answer's head read line by line, where a line cut by the connection's end is an error:
    http.client takes the end of the stream for the end of the headers (h11 refuses that answer)."""

    __slots__ = ("fp", "started")

    def __init__(self, fp: Any):
        self.fp, self.started = fp, False

    def readline(self, limit: int = -1) -> bytes:
        line: bytes = self.fp.readline(limit)
        if not line.endswith(b"\n") and len(line) != limit and (line or self.started):
            raise http.client.IncompleteRead(line)  # (nothing at all: http.client's RemoteDisconnected)
        self.started = True
        return line

    def close(self) -> None:
        self.fp.close()


class _Body(httpx.SyncByteStream):
    """The response body, streamed; the connection returns to the pool once it is read to the end."""

    def __init__(
        self,
        pool: KeepAliveTransport,
        key: _Key,
        conn: http.client.HTTPConnection,
        resp: http.client.HTTPResponse,
        request: httpx.Request,
    ):
        self._pool, self._key, self._resp, self._request = pool, key, resp, request
        self._conn: http.client.HTTPConnection | None = conn
        self._done = False

    def __iter__(self) -> Iterator[bytes]:
        resp = self._resp
        try:
            while chunk := resp.read(_CHUNK):
                yield chunk
        except TimeoutError as exc:
            raise httpx.ReadTimeout(str(exc) or "timed out", request=self._request) from exc
        except http.client.IncompleteRead as exc:
            raise httpx.RemoteProtocolError(f"the body ended early: {exc}", request=self._request) from exc
        except (OSError, http.client.HTTPException) as exc:
            raise httpx.ReadError(str(exc) or type(exc).__name__, request=self._request) from exc
        if resp.length:  # http.client's read(n) returns a body cut short without a word
            raise httpx.RemoteProtocolError(
                f"the body ended early: {resp.length} of its announced bytes missing", request=self._request
            )
        self._done = True

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        will_close = self._resp.will_close
        self._resp.close()
        if self._done and not will_close:
            self._pool._checkin(self._key, conn)
        else:
            conn.close()  # unread bytes or "Connection: close": never reuse it


# What h11 refuses in a field value: NUL and whitespace other than space and tab.
_BAD_VALUE = re.compile(rb"[\x00\x0b\x0c]")


def _header_bytes(headers: list[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    """Header fields as received, checked as h11 checks them (one behaviour for both clients).

    http.client decoded the bytes as latin-1: encoded back, httpx decodes them as UTF-8 if they are
    (aiohttp sends UTF-8, e.g. /view's file name), where it would refuse non-ASCII str. Trailing
    whitespace is no part of a value (h11 strips it, http.client keeps it).
    """
    raw = [(name.encode("latin-1"), value.encode("latin-1").rstrip(b" \t")) for name, value in headers]
    if any(_BAD_VALUE.search(value) for _, value in raw):
        raise http.client.HTTPException("a header value holds NUL, VT or FF")
    return raw


def _readable(sock: socket.socket) -> bool:
    """Whether an idle socket has something to read (for a keep-alive socket: it was closed)."""
    if hasattr(select, "poll"):  # select() fails for descriptors >= 1024
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        return bool(poller.poll(0))
    return bool(select.select([sock], [], [], 0)[0])  # Windows: no poll, and no such limit
