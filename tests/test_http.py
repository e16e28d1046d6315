"""The sync client's keep-alive transport (comfyctl._http) against scripted raw-socket servers.

The sandbox suites run every client flow through it; these pin what only a misbehaving server
shows: stale idle connections, bodies cut short, ``Connection: close``, garbage, timeouts.
"""

from __future__ import annotations

import gzip
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from comfyctl import Client, errors
from comfyctl._http import KeepAliveTransport

Handler = Callable[[socket.socket, "Server"], None]


class Server:
    """A loopback TCP server running ``handler(conn, server)`` for every connection, on threads."""

    def __init__(self, handler: Handler):
        self.handler = handler
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.connections = 0
        self.closed = threading.Event()  # set when a handler closed its connection
        self.release = threading.Event()  # lets a stalling handler go on
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
        try:
            self.handler(conn, self)
        except OSError:
            pass
        finally:
            conn.close()
            self.closed.set()

    def stop(self) -> None:
        self.release.set()
        self.sock.close()


def read_request(conn: socket.socket) -> tuple[bytes, bytes] | None:
    """(head, body) of the next request on ``conn`` (Content-Length or chunked), None at EOF."""
    data = b""
    while b"\r\n\r\n" not in data:
        more = conn.recv(65536)
        if not more:
            return None
        data += more
    head, rest = data.split(b"\r\n\r\n", 1)
    lower = head.lower()
    if b"transfer-encoding: chunked" in lower:
        body = b""
        while True:
            while b"\r\n" not in rest:
                rest += conn.recv(65536)
            size_line, rest = rest.split(b"\r\n", 1)
            size = int(size_line, 16)
            while len(rest) < size + 2:
                rest += conn.recv(65536)
            body, rest = body + rest[:size], rest[size + 2 :]
            if size == 0:
                return head, body
    length = 0
    for line in lower.split(b"\r\n")[1:]:
        if line.startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    while len(rest) < length:
        rest += conn.recv(65536)
    return head, rest


def reply(body: bytes = b"{}", extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n%s" % (len(body), extra, body)


@pytest.fixture
def serve() -> Iterator[Callable[[Handler], Server]]:
    servers: list[Server] = []

    def start(handler: Handler) -> Server:
        servers.append(Server(handler))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


def get(
    tx: KeepAliveTransport, url: str, *, timeout: float = 5.0, headers: dict[str, str] | None = None
) -> httpx.Response:
    timeouts = {"connect": timeout, "read": timeout}
    request = httpx.Request("GET", url, headers=headers, extensions={"timeout": timeouts})
    response = tx.handle_request(request)
    try:
        response.read()
    finally:
        response.close()  # as the client's _send does: the connection is pooled or closed here
    return response


def keep_alive(conn: socket.socket, server: Server) -> None:
    """Answers every request on the connection with the request's path as the body."""
    while (req := read_request(conn)) is not None:
        conn.sendall(reply(req[0].split(b" ")[1]))


def test_connections_are_kept_alive_and_reused(serve: Callable[[Handler], Server]) -> None:
    server = serve(keep_alive)
    tx = KeepAliveTransport()
    assert [get(tx, f"{server.url}/a/{i}?q=1").content for i in range(5)] == [
        f"/a/{i}?q=1".encode() for i in range(5)
    ]
    assert server.connections == 1
    tx.close()


def test_an_idle_connection_the_server_closed_is_not_reused(serve: Callable[[Handler], Server]) -> None:
    def one_then_close(conn: socket.socket, server: Server) -> None:
        read_request(conn)
        conn.sendall(reply(b"first"))  # says nothing of closing, then closes: an idle timeout

    server = serve(one_then_close)
    tx = KeepAliveTransport()
    assert get(tx, server.url).content == b"first"
    assert server.closed.wait(5)
    # Without the check before reuse, this request would go to the dead socket and fail.
    assert get(tx, server.url).content == b"first"
    assert server.connections == 2
    tx.close()


def test_a_body_not_read_to_the_end_closes_its_connection(serve: Callable[[Handler], Server]) -> None:
    server = serve(keep_alive)
    tx = KeepAliveTransport()
    response = tx.handle_request(httpx.Request("GET", server.url + "/x"))
    response.close()  # nothing read: the bytes still on the wire would poison the next answer
    assert get(tx, server.url + "/y").content == b"/y"
    assert server.connections == 2
    tx.close()


def test_connection_close_answers_are_not_reused(serve: Callable[[Handler], Server]) -> None:
    def closing(conn: socket.socket, server: Server) -> None:
        while (req := read_request(conn)) is not None:
            conn.sendall(reply(req[0].split(b" ")[1], b"Connection: close\r\n"))

    server = serve(closing)
    tx = KeepAliveTransport()
    assert [get(tx, server.url + p).content for p in ("/1", "/2")] == [b"/1", b"/2"]
    assert server.connections == 2
    tx.close()


def test_request_bodies_of_known_and_unknown_length_arrive_whole(serve: Callable[[Handler], Server]) -> None:
    def echo(conn: socket.socket, server: Server) -> None:
        while (req := read_request(conn)) is not None:
            conn.sendall(reply(req[1]))

    server = serve(echo)
    tx = KeepAliveTransport()
    blob = bytes(range(256)) * 1000
    sized = tx.handle_request(httpx.Request("POST", server.url, content=blob))
    assert sized.read() == blob
    streamed = tx.handle_request(httpx.Request("POST", server.url, content=iter([blob[:7], b"", blob[7:]])))
    assert streamed.read() == blob  # sent chunked (length unknown), the empty piece skipped
    assert server.connections == 1
    tx.close()


def test_a_body_cut_short_is_a_protocol_error_and_the_connection_is_dropped(
    serve: Callable[[Handler], Server],
) -> None:
    def short(conn: socket.socket, server: Server) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten b")

    server = serve(short)
    tx = KeepAliveTransport()
    with pytest.raises(httpx.RemoteProtocolError, match="ended early"):
        get(tx, server.url)
    with pytest.raises(httpx.RemoteProtocolError):
        get(tx, server.url)
    assert server.connections == 2
    tx.close()


@pytest.mark.parametrize(
    "answer",
    [b"", b"garbage\r\n\r\n", b"HTTP/1.1 200 OK\r\n" + b"X-Long: " + b"a" * 70000 + b"\r\n\r\n"],
    ids=["closed-without-answer", "no-status-line", "header-too-long"],
)
def test_broken_answers_are_remote_protocol_errors(serve: Callable[[Handler], Server], answer: bytes) -> None:
    def broken(conn: socket.socket, server: Server) -> None:
        read_request(conn)
        conn.sendall(answer)

    server = serve(broken)
    with pytest.raises(httpx.RemoteProtocolError):
        get(KeepAliveTransport(), server.url)


def test_silence_is_a_read_timeout_and_the_client_says_so(serve: Callable[[Handler], Server]) -> None:
    def stall(conn: socket.socket, server: Server) -> None:
        read_request(conn)
        server.release.wait(10)

    server = serve(stall)
    with pytest.raises(httpx.ReadTimeout):
        get(KeepAliveTransport(), server.url, timeout=0.2)
    with Client(server.url, timeout=0.2) as client, pytest.raises(errors.RequestTimeout):
        client.interrupt()  # POST /interrupt: not repeated once sent


def test_nothing_listening_is_a_connect_error_and_the_client_says_unreachable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}"
    with pytest.raises(httpx.ConnectError):
        get(KeepAliveTransport(), url)
    with Client(url) as client, pytest.raises(errors.ServerUnreachable):
        client.queue()


def test_an_illegal_header_value_is_refused_before_sending(serve: Callable[[Handler], Server]) -> None:
    server = serve(keep_alive)
    with pytest.raises(httpx.LocalProtocolError):
        get(KeepAliveTransport(), server.url, headers={"X-Bad": "a\r\nInjected: 1"})


def test_many_threads_share_the_pool(serve: Callable[[Handler], Server]) -> None:
    server = serve(keep_alive)
    tx = KeepAliveTransport(max_idle=4)
    got: list[bytes] = []

    def work(n: int) -> None:
        for i in range(20):
            got.append(get(tx, f"{server.url}/{n}/{i}").content)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(got) == sorted(f"/{n}/{i}".encode() for n in range(8) for i in range(20))
    assert server.connections < 8 * 20  # connections were reused
    before = server.connections
    tx.close()  # idle connections closed, none kept: the next request opens a new one
    assert get(tx, server.url + "/after").content == b"/after"
    assert server.connections == before + 1


def test_the_client_uses_it_by_default_and_httpx_behind_a_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    from comfyctl._transport import default_transport
    from comfyctl.settings import Settings

    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings.resolve("http://127.0.0.1:9")
    assert isinstance(default_transport(httpx.HTTPTransport, settings, False), KeepAliveTransport)
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:3128")
    assert type(default_transport(httpx.HTTPTransport, settings, False)) is httpx.HTTPTransport


def scripted(*answers: bytes) -> Handler:
    """Answers the n-th request on a connection with ``answers[n]``; closes after the last one."""

    def handler(conn: socket.socket, server: Server) -> None:
        for answer in answers:
            if read_request(conn) is None:
                return
            conn.sendall(answer)

    return handler


def outcome(tx: httpx.BaseTransport, url: str, methods: list[str]) -> list[object]:
    """What a caller sees of each request: status, version, headers, decoded body (or the error)."""
    seen: list[object] = []
    for method in methods:
        request = httpx.Request(method, url, extensions={"timeout": {"connect": 5.0, "read": 5.0}})
        try:
            response = tx.handle_request(request)
            try:
                body = response.read()
            finally:
                response.close()
        except httpx.HTTPError as exc:
            seen.append(type(exc))
            continue
        version = response.extensions["http_version"]
        seen.append((response.status_code, version, response.headers.multi_items(), body))
    tx.close()
    return seen


_OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
_GZIP = gzip.compress(b"aa" * 50, mtime=0)
_CHUNKED = (
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=1\r\nabc\r\n2\r\nde\r\n0\r\nT: 1\r\n\r\n"
)
# aiohttp (so ComfyUI) sends header values as UTF-8: /view's Content-Disposition names the file.
_UTF8 = 'HTTP/1.1 200 OK\r\nContent-Disposition: filename="画像 ü.png"\r\nContent-Length: 0\r\n\r\n'.encode()
CASES = {
    "head": ([b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", _OK], ["HEAD", "GET"]),
    "204-304": (
        [b"HTTP/1.1 204 No Content\r\n\r\n", b"HTTP/1.1 304 Not Modified\r\nContent-Length: 7\r\n\r\n", _OK],
        ["GET"] * 3,
    ),
    "http-1.0": ([b"HTTP/1.0 200 OK\r\n\r\nuntil the end"], ["GET", "GET"]),
    "connection-close": ([b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end"], ["GET", "GET"]),
    "chunked": ([_CHUNKED, _OK], ["GET"] * 2),
    "204-304-chunked": (  # forbidden framing (RFC 9110), sent by broken servers
        [
            b"HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"HTTP/1.1 304 No\r\nTransfer-Encoding: chunked\r\n\r\n",
            _OK,
        ],
        ["GET"] * 3,
    ),
    "100-continue": ([b"HTTP/1.1 100 Continue\r\n\r\n" + _OK, _OK], ["POST", "GET"]),
    "102-103": (
        [b"HTTP/1.1 102 Processing\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n" + _OK, _OK],
        ["GET"] * 2,
    ),
    "set-cookie": (
        [b"HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nContent-Length: 0\r\n\r\n"],
        ["GET"],
    ),
    "gzip": (
        [b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n%s" % (len(_GZIP), _GZIP)],
        ["GET"],
    ),
    "utf-8-header": ([_UTF8], ["GET"]),
    "latin-1-header": ([b"HTTP/1.1 200 OK\r\nX-Latin: caf\xe9\r\nContent-Length: 0\r\n\r\n"], ["GET"]),
    # Found by tests/test_http_fuzz.py, where http.client alone differed from httpx:
    "trailing-whitespace": ([b"HTTP/1.1 200 OK\r\nX-A: v \t\r\nContent-Length: 0\r\n\r\n"], ["GET"]),
    "nul-vt-in-header": (
        [b"HTTP/1.1 200 OK\r\nX-A: a\x00b\r\n\r\n", b"HTTP/1.1 200 OK\r\nX-A: \x0b\r\n\r\n"],
        ["GET"] * 2,
    ),
    "bad-header-in-100": ([b"HTTP/1.1 100 Continue\r\nX-A: a\x0cb\r\n\r\n" + _OK], ["GET"]),
    "head-cut-short": ([b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX-A: 1"], ["GET"]),
    "status-line-cut-short": ([b"HTTP/1.1 200"], ["GET"]),
    "http-1.0-keep-alive": (
        [b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok", _OK],
        ["GET"] * 2,
    ),
}


@pytest.mark.parametrize(("answers", "methods"), CASES.values(), ids=CASES.keys())
def test_answers_reach_the_caller_exactly_as_through_httpx_own_transport(
    serve: Callable[[Handler], Server], answers: list[bytes], methods: list[str]
) -> None:
    ours, theirs = serve(scripted(*answers)), serve(scripted(*answers))
    assert outcome(KeepAliveTransport(), ours.url, methods) == outcome(
        httpx.HTTPTransport(), theirs.url, methods
    )
    assert ours.connections == theirs.connections  # the same keep-alive decisions


def test_a_download_of_a_file_with_a_non_ascii_name_works(tmp_path: Path) -> None:
    from comfyctl.testing import Sandbox

    with Sandbox(root=tmp_path / "sb") as sb:
        (sb.input_dir / "猫 ü.png").write_bytes(b"\x89PNG fake")
        with Client(sb.url) as client:
            assert client.view("猫 ü.png", type="input") == b"\x89PNG fake"
            assert client.view_to("猫 ü.png", tmp_path / "dl", type="input").read_bytes() == b"\x89PNG fake"


def test_an_error_from_the_request_body_closes_the_connection(serve: Callable[[Handler], Server]) -> None:
    def drain(conn: socket.socket, server: Server) -> None:
        while conn.recv(65536):
            pass

    def body() -> Iterator[bytes]:
        yield b"first piece"
        raise RuntimeError("the file went away")

    server = serve(drain)
    tx = KeepAliveTransport()
    with pytest.raises(RuntimeError, match="went away"):
        tx.handle_request(httpx.Request("POST", server.url, content=body()))
    assert server.closed.wait(5)  # closed now, not left to the garbage collector (a ResourceWarning)
    tx.close()


def test_an_answer_sent_before_the_whole_body_was_read_is_returned(
    serve: Callable[[Handler], Server],
) -> None:
    """A server refusing a big upload (413, or a proxy's 401) answers and closes without reading it;
    httpx's transport reads that answer, so the client can say why instead of "connection failed"."""

    def refuse(conn: socket.socket, server: Server) -> None:
        data = b""
        while b"\r\n\r\n" not in data:
            data += conn.recv(65536)
        conn.sendall(b"HTTP/1.1 413 Request Entity Too Large\r\nContent-Length: 8\r\n\r\ntoo big!")

    server = serve(refuse)
    tx = KeepAliveTransport()
    request = httpx.Request("POST", server.url, content=b"x" * (32 << 20))
    response = tx.handle_request(request)
    assert (response.status_code, response.read()) == (413, b"too big!")
    response.close()
    assert get(tx, server.url).status_code == 413  # on a new connection: the cut one is not reused
    assert server.connections == 2
    tx.close()
    with Client(server.url) as client, pytest.raises(errors.RequestTooLarge):
        client.upload(b"x" * (32 << 20), filename="big.png")  # not "the connection failed"


def test_a_connection_not_accepted_in_time_is_a_connect_timeout_so_a_post_is_retried() -> None:
    import dataclasses

    from comfyctl.settings import Settings

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)  # Linux: one pending connection, and further handshakes go unanswered
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        with socket.create_connection(listener.getsockname()):
            with pytest.raises(httpx.ConnectTimeout):  # "nothing was sent": the client may repeat any request
                get(KeepAliveTransport(), url, timeout=0.2)
            settings = dataclasses.replace(Settings.resolve(url, timeout=0.2), retries=0)
            with Client(settings=settings) as client, pytest.raises(errors.ServerUnreachable):
                client.interrupt()  # POST /interrupt: not repeated once sent


def test_a_response_in_flight_when_the_pool_closes_is_closed_not_pooled(
    serve: Callable[[Handler], Server],
) -> None:
    big = b"x" * (3 << 20)
    server = serve(scripted(reply(big), reply(big)))
    tx = KeepAliveTransport()
    done = tx.handle_request(httpx.Request("GET", server.url))
    partial = tx.handle_request(httpx.Request("GET", server.url))
    assert next(partial.iter_raw(1000)) == b"x" * 1000  # a download abandoned part-way
    partial.close()
    tx.close()
    assert done.read() == big  # still readable after close(); its connection is closed, not pooled
    done.close()
    assert not any(tx._idle.values())
    assert server.connections == 2


def test_ipv6_literal_hosts() -> None:
    with socket.create_server(("::1", 0), family=socket.AF_INET6) as listener:
        url = f"http://[::1]:{listener.getsockname()[1]}/v6"

        def answer() -> None:
            conn, _ = listener.accept()
            with conn:
                while (req := read_request(conn)) is not None:
                    conn.sendall(reply(req[0].split(b" ")[1]))

        thread = threading.Thread(target=answer, daemon=True)
        thread.start()
        tx = KeepAliveTransport()
        request = httpx.Request("GET", url)
        assert request.headers["host"] == f"[::1]:{listener.getsockname()[1]}"
        assert [get(tx, url).content for _ in range(2)] == [b"/v6", b"/v6"]  # one connection, kept
        tx.close()
        thread.join(5)
        assert not thread.is_alive()


def test_idle_connections_expire_well_before_the_server_would_close_them(
    serve: Callable[[Handler], Server], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reused for 5 s idle (httpx's default), not up to aiohttp's 75 s idle timeout, where a request
    can cross the server closing the connection and fail after being sent (so not retried)."""
    import types

    from comfyctl import _http

    clock = types.SimpleNamespace(now=1000.0)
    monkeypatch.setattr(_http, "time", types.SimpleNamespace(monotonic=lambda: clock.now))
    server = serve(keep_alive)
    tx = KeepAliveTransport()
    get(tx, server.url)
    clock.now += 4.5
    get(tx, server.url)
    assert server.connections == 1
    clock.now += 60
    assert get(tx, server.url + "/late").content == b"/late"
    assert server.connections == 2
    tx.close()


def test_an_international_host_name_is_resolved_as_httpx_encodes_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """httpx puts the IDNA 2008 name in the Host header; Python's own codec (IDNA 2003, used for a
    str host) maps "straße" to "strasse": another domain, and the certificate checked for it."""
    dialled: list[tuple[str, int]] = []

    def refuse(address: tuple[str, int], *args: object, **kw: object) -> socket.socket:
        dialled.append(address)
        raise ConnectionRefusedError("nothing dialled in this test")

    monkeypatch.setattr(socket, "create_connection", refuse)
    request = httpx.Request("GET", "http://straße.example:8188/")
    with pytest.raises(httpx.ConnectError):
        KeepAliveTransport().handle_request(request)
    assert dialled == [(request.headers["host"].split(":")[0], 8188)] == [("xn--strae-oqa.example", 8188)]


def test_the_idle_check_works_for_descriptors_above_1024() -> None:
    """select() refuses descriptors >= 1024 (FD_SETSIZE): a busy process must still reuse safely."""
    import os
    import resource

    from comfyctl._http import _readable

    limits = resource.getrlimit(resource.RLIMIT_NOFILE)
    if limits[0] != resource.RLIM_INFINITY and limits[0] <= 1500:  # often 1024 by default
        resource.setrlimit(resource.RLIMIT_NOFILE, (2048, limits[1]))
    try:
        ours, peer = socket.socketpair()
        high = os.dup2(ours.fileno(), 1500)
        ours.close()
        with socket.socket(fileno=high) as sock, peer:
            assert not _readable(sock)
            peer.close()  # the server side goes away: the idle socket reads EOF
            assert _readable(sock)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, limits)
