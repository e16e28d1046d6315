"""Differential fuzzing of the sync transport: random HTTP/1.1 answers from a scripted raw-socket
server, read through KeepAliveTransport and through httpx's own transport (the oracle).

Both must agree on what a caller above the seam sees: for each request, the status, HTTP version,
headers and body, or the class of failure the client tells apart (connect, timeout, transport);
and on how many connections they opened (the same keep-alive decisions). Derandomized and bounded:
the same examples on every run, no timing in any assertion.
"""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from comfyctl._http import KeepAliveTransport

TIMEOUT = 5.0  # a generous ceiling: every script ends or closes, nothing waits for it


@dataclass(frozen=True)
class Answer:
    wire: bytes  # the bytes the server sends for one request
    close: bool  # the server closes the connection after sending them


class ScriptedServer:
    """Answers the k-th request it receives, on any connection, with ``answers[k]``."""

    def __init__(self, answers: list[Answer]):
        self.answers = answers
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.connections = 0
        self.served = 0
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(TIMEOUT)
            try:
                while _read_head(conn):
                    with self._lock:
                        if self.served >= len(self.answers):
                            return
                        answer = self.answers[self.served]
                        self.served += 1
                    conn.sendall(answer.wire)
                    if answer.close:
                        conn.shutdown(socket.SHUT_WR)
                        while conn.recv(65536):  # drain, so the close is a FIN, never a reset
                            pass
                        return
            except OSError:
                return

    def stop(self) -> None:
        self.sock.close()


def _read_head(conn: socket.socket) -> bool:
    """Reads one bodiless request (the fuzz sends GET and HEAD only); False at EOF."""
    data = b""
    while b"\r\n\r\n" not in data:
        more = conn.recv(1)  # byte by byte: never read into the next request
        if not more:
            return False
        data += more
    return True


# -- what a server may send ------------------------------------------------------------------------

_TOKEN = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_", min_size=1)
_NAMES = st.one_of(
    st.sampled_from(["X-A", "x-b", "Set-Cookie", "Content-Type", "Server", "X-Empty", "Date"]),
    _TOKEN.map(lambda t: "X-" + t),
)
_VALUES = st.one_of(
    st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=20),
    st.sampled_from(["", "a b", "café", "画像 ü.png", "v; q=1"]),
).map(lambda v: v.encode())
_LATIN1 = st.binary(max_size=10).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b"").strip(b" \t"))


@st.composite
def headers(draw: st.DrawFn) -> list[bytes]:
    lines = []
    for name, value in draw(st.lists(st.tuples(_NAMES, st.one_of(_VALUES, _LATIN1)), max_size=5)):
        spaces = draw(st.sampled_from([b" ", b"", b"  ", b"\t"]))
        tail = draw(st.sampled_from([b"", b"", b" "]))
        lines.append(name.encode() + b":" + spaces + value + tail)
    return lines


@st.composite
def chunked_body(draw: st.DrawFn, body: bytes) -> bytes:
    cuts = sorted(draw(st.lists(st.integers(0, len(body)), max_size=3)))
    pieces = [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True) if b > a]
    out = b""
    for piece in pieces:
        size = draw(st.sampled_from(["%x", "%X", "%x;ext=1", "%x "])) % len(piece)
        out += size.encode() + b"\r\n" + piece + b"\r\n"
    trailer = draw(st.sampled_from([b"", b"X-Trailer: 1\r\n"]))
    return out + b"0\r\n" + trailer + b"\r\n"


@st.composite
def answers(draw: st.DrawFn, method: str) -> Answer:
    """One answer: interim 1xx, a status line, headers, a body framed by length, chunks or close;
    sometimes cut short (then the server closes)."""
    wire = b""
    for code in draw(st.lists(st.sampled_from([100, 102, 103]), max_size=2)):
        wire += b"HTTP/1.1 %d Interim\r\n" % code + b"".join(h + b"\r\n" for h in draw(headers())) + b"\r\n"
    version = draw(st.sampled_from([b"HTTP/1.1", b"HTTP/1.1", b"HTTP/1.0"]))
    status = draw(st.sampled_from([200, 200, 201, 204, 304, 400, 404, 413, 500, 503]))
    reason = draw(st.sampled_from([b" OK", b" Some Reason", b" ", b""]))
    lines = draw(headers())
    body = draw(st.binary(max_size=300))
    bodiless = status in (204, 304) or method == "HEAD"
    framing = draw(st.sampled_from(["length", "chunked", "close"]))
    keep_alive = draw(st.booleans()) if version == b"HTTP/1.0" else True
    if draw(st.booleans()) and keep_alive:
        lines.append(b"Connection: " + draw(st.sampled_from([b"close", b"Close", b"keep-alive"])))
    elif keep_alive and version == b"HTTP/1.0":
        lines.append(b"Connection: keep-alive")
    joined = b"\r\n".join(lines).lower()
    says_close = (b"connection: close" in joined) or (version == b"HTTP/1.0" and not keep_alive)
    if version == b"HTTP/1.0" and framing == "chunked":
        framing = "length"  # chunked is HTTP/1.1 only
    payload = b""
    if framing == "length":
        lines.append(b"Content-Length: %d" % len(body))
        payload = body
    elif framing == "chunked":
        lines.append(b"Transfer-Encoding: chunked")
        payload = draw(chunked_body(body))
    elif not bodiless:
        says_close = True  # no length, no chunks: the body runs until the server closes
        payload = body
    if bodiless:
        payload = b""
    draw(st.randoms(use_true_random=False)).shuffle(lines)
    wire += version + b" %d" % status + reason + b"\r\n" + b"".join(h + b"\r\n" for h in lines) + b"\r\n"
    wire += payload
    if draw(st.integers(0, 9)) == 0 and len(wire) > 1:  # cut short anywhere, then the server closes
        return Answer(wire[: draw(st.integers(0, len(wire) - 1))], close=True)
    return Answer(wire, close=says_close)


@st.composite
def exchanges(draw: st.DrawFn) -> tuple[list[str], list[Answer]]:
    methods = draw(st.lists(st.sampled_from(["GET", "GET", "HEAD"]), min_size=1, max_size=3))
    return methods, [draw(answers(m)) for m in methods]


# -- what a caller sees -----------------------------------------------------------------------------


def failure(exc: httpx.HTTPError) -> str:
    """The classes of failure the client tells apart (comfyctl.client.transport_error and retries)."""
    for kind, name in (
        (httpx.ConnectTimeout, "connect-timeout"),
        (httpx.ReadTimeout, "read-timeout"),
        (httpx.TimeoutException, "timeout"),
        (httpx.ConnectError, "connect"),
    ):
        if isinstance(exc, kind):
            return name
    return "transport"


def outcome(tx: httpx.BaseTransport, methods: list[str], answers: list[Answer]) -> tuple[list[object], int]:
    server = ScriptedServer(answers)
    seen: list[object] = []
    try:
        for method in methods:
            request = httpx.Request(
                method, server.url + "/p", extensions={"timeout": {"connect": TIMEOUT, "read": TIMEOUT}}
            )
            try:
                response = tx.handle_request(request)
                try:
                    body = response.read()
                finally:
                    response.close()
            except httpx.HTTPError as exc:
                seen.append(failure(exc))
                continue
            version = response.extensions["http_version"]
            seen.append((response.status_code, version, response.headers.multi_items(), body))
    finally:
        tx.close()
        server.stop()
    return seen, server.connections


@settings(
    max_examples=120,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(exchanges())
def test_any_answer_reaches_the_caller_as_through_httpx_own_transport(
    exchange: tuple[list[str], list[Answer]],
) -> None:
    methods, script = exchange
    assert outcome(KeepAliveTransport(), methods, script) == outcome(httpx.HTTPTransport(), methods, script)
