"""Client behaviour on an injected httpx transport: retries, error mapping, secrets, downloads, parity."""

from __future__ import annotations

import inspect
import json
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import comfyctl
from comfyctl import AsyncClient, Client, errors
from comfyctl.aio import AsyncJob
from comfyctl.client import Job
from comfyctl.results import OutputFile
from conftest import FIXTURES

TOKEN = "tok-VERY-secret-42"
PASSWORD = "pw-Sup3r-hidden"
WF = {"1": {"class_type": "SaveImage", "inputs": {}}}

Handler = Callable[[httpx.Request], httpx.Response]


def no_ws(url: str, *, headers: Any) -> Any:
    raise OSError("no websocket in these tests")


def blocked_ws(url: str, *, headers: Any) -> Any:
    import websockets.exceptions as wse

    raise wse.InvalidURI(url, "blocked")


def client(handler: Handler, **kw: Any) -> Client:
    kw.setdefault("ws_connect", blocked_ws)
    return Client("http://127.0.0.1:9", transport=httpx.MockTransport(handler), **kw)


# -- parity ------------------------------------------------------------------------------------------


def _public(cls: type) -> dict[str, inspect.Signature]:
    return {
        name: inspect.signature(member)
        for name, member in inspect.getmembers(cls)
        if not name.startswith("_") and callable(member)
    }


@pytest.mark.parametrize(("sync", "async_"), [(Client, AsyncClient), (Job, AsyncJob)])
def test_sync_and_async_public_api_match(sync: type, async_: type) -> None:
    s, a = _public(sync), _public(async_)
    a.pop("aclose", None)
    assert set(s) == set(a)
    for name in s:
        sp, ap = s[name].parameters, a[name].parameters
        assert list(sp) == list(ap), name
        for p in sp:
            assert (sp[p].kind, sp[p].default) == (ap[p].kind, ap[p].default), (name, p)
        if name not in ("close", "__init__"):
            is_async = inspect.iscoroutinefunction(getattr(async_, name)) or inspect.isasyncgenfunction(
                getattr(async_, name)
            )
            assert is_async, name


@pytest.mark.parametrize(("sync", "async_"), [(Client, AsyncClient), (Job, AsyncJob)])
def test_sync_and_async_public_docstrings_match(sync: type, async_: type) -> None:
    """The twins say the same thing: a method documented on one and not the other, or worded
    differently, is a drift (issue 14)."""
    for name in _public(sync):
        if name == "__init__":
            continue
        doc_s, doc_a = inspect.getdoc(getattr(sync, name)), inspect.getdoc(getattr(async_, name))
        assert doc_s, f"{sync.__name__}.{name} has no docstring"
        assert doc_s == doc_a, name


def test_async_client_does_not_import_the_sync_client() -> None:
    import ast

    tree = ast.parse(Path(comfyctl.aio.__file__).read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module or "")
            imported |= {f"{node.module}.{alias.name}" for alias in node.names}
    assert "comfyctl._jobstate" in imported  # the walk sees the imports
    assert not {"comfyctl.client", "comfyctl.client.Client"} & imported, imported
    assert not any(n.startswith("comfyctl.client.") for n in imported), imported


def test_public_names_are_exported() -> None:
    for name in (
        "Client",
        "AsyncClient",
        "Job",
        "AsyncJob",
        "Result",
        "OutputFile",
        "Settings",
        "UploadedFile",
    ):
        assert name in comfyctl.__all__ and getattr(comfyctl, name)


def test_constructor_does_no_io() -> None:
    def boom(request: httpx.Request) -> httpx.Response:
        raise AssertionError("I/O in the constructor")

    c = Client("http://127.0.0.1:9", transport=httpx.MockTransport(boom), ws_connect=no_ws)
    assert c._tx is None and not c._hub.connected
    c.close()


# -- retries -----------------------------------------------------------------------------------------


def test_get_is_retried_on_connection_errors_and_502() -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        if len(calls) == 1:
            raise httpx.ConnectError("refused")
        if len(calls) == 2:
            return httpx.Response(502)
        return httpx.Response(200, json={"exec_info": {}} | {"queue_running": [], "queue_pending": []})

    with client(handler) as c:
        assert c.queue().pending == ()
    assert calls == ["GET", "GET", "GET"]


def test_post_is_not_retried_after_a_reset() -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        raise httpx.ReadError("connection reset")

    with client(handler) as c, pytest.raises(errors.TransportError):
        c.delete_history(["x"])  # retry=True only covers idempotent POSTs... this one is: see below
    assert len(calls) == 3  # delete is idempotent: retried
    calls.clear()
    with client(handler) as c, pytest.raises(errors.TransportError):
        c.interrupt()
    assert calls == ["/api/interrupt"]


def _submit_handler(landed: bool, posts: list[dict[str, Any]]) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/prompt":
            body = json.loads(request.content)
            posts.append(body)
            if len(posts) == 1:
                raise httpx.ReadTimeout("slow")
            return httpx.Response(200, json={"prompt_id": body["prompt_id"], "number": 3, "node_errors": {}})
        if request.url.path == "/api/queue":
            pending = [[7, posts[0]["prompt_id"], {}, {}, []]] if landed else []
            return httpx.Response(200, json={"queue_running": [], "queue_pending": pending})
        if request.url.path.startswith("/api/history/"):
            return httpx.Response(200, json={})
        raise AssertionError(request.url)

    return handler


def test_submit_timeout_that_landed_is_not_resent() -> None:
    posts: list[dict[str, Any]] = []
    with client(_submit_handler(True, posts)) as c:
        job = c.submit(WF, prompt_id="p1")
    assert len(posts) == 1 and job.prompt_id == "p1" and job.number == 7


def test_submit_timeout_that_did_not_land_is_resent_once_with_the_same_id() -> None:
    posts: list[dict[str, Any]] = []
    with client(_submit_handler(False, posts)) as c:
        job = c.submit(WF)
    assert len(posts) == 2 and posts[0]["prompt_id"] == posts[1]["prompt_id"] == job.prompt_id


async def test_async_submit_timeout_that_landed_is_not_resent() -> None:
    posts: list[dict[str, Any]] = []

    async def no_ws_async(url: str, *, headers: Any) -> Any:
        import websockets.exceptions as wse

        raise wse.InvalidURI(url, "blocked")

    async with AsyncClient(
        "http://127.0.0.1:9",
        transport=httpx.MockTransport(_submit_handler(True, posts)),
        ws_connect=no_ws_async,
    ) as c:
        job = await c.submit(WF, prompt_id="p2")
    assert len(posts) == 1 and job.number == 7


# -- error mapping and secrets -----------------------------------------------------------------------


def _answer(status: int, body: str, secret: str, ctype: str = "text/plain") -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/internal/logs":
            return httpx.Response(200, json=f"log line with {secret} inside\nlast line")
        return httpx.Response(status, text=body, headers={"content-type": ctype})

    return handler


@pytest.mark.parametrize(
    ("status", "body", "cls"),
    [
        (401, "401: Unauthorized", errors.AuthError),
        (403, "", errors.AuthError),
        (413, "Maximum request body size 104857600 exceeded.", errors.RequestTooLarge),
        (500, "500 Internal Server Error\n\nServer got itself in trouble", errors.ServerError),
        (404, "", errors.NotFound),
        (200, "<html>proxy login</html>", errors.HTTPError),
    ],
)
def test_errors_are_mapped_and_never_carry_secrets(
    status: int, body: str, cls: type[errors.ComfyError]
) -> None:
    url = f"http://alice:{PASSWORD}@127.0.0.1:9"
    cases: tuple[tuple[str, dict[str, Any]], ...] = (
        (TOKEN, {"token": TOKEN, "url": "http://127.0.0.1:9"}),
        (PASSWORD, {"url": url}),
    )
    for secret, kw in cases:
        # the server (or a proxy) echoes the secret back in its body and its log
        handler = _answer(status, body + secret, secret)
        with Client(kw.pop("url"), transport=httpx.MockTransport(handler), ws_connect=blocked_ws, **kw) as c:
            with pytest.raises(cls) as info:
                c.system_stats()
            err = info.value
            texts = [str(err), repr(err), json.dumps(err.to_dict()), repr(c), c.url, repr(c.settings)]
            for text in texts:
                assert secret not in text
            if status == 500:
                assert err.log_tail and "last line" in err.log_tail  # type: ignore[attr-defined]


def test_no_origin_header_and_auth_headers_are_sent() -> None:
    seen: list[httpx.Headers] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers)
        return httpx.Response(200, json=[])

    with client(handler, token=TOKEN, headers={"X-Team": "render"}) as c:
        c.embeddings()
    (h,) = seen
    assert "origin" not in h and h["authorization"] == f"Bearer {TOKEN}" and h["x-team"] == "render"


def test_prompt_rejected_and_partial_node_errors() -> None:
    body = {
        "error": {
            "type": "prompt_outputs_failed_validation",
            "message": "Prompt outputs failed validation",
            "details": "",
            "extra_info": {},
        },
        "node_errors": {
            "1": {
                "errors": [
                    {
                        "type": "value_smaller_than_min",
                        "message": "Value 0 smaller than min of 1",
                        "details": "width",
                        "extra_info": {"input_name": "width"},
                    }
                ],
                "dependent_outputs": ["2"],
                "class_type": "EmptyImage",
            }
        },
    }

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json=body)

    with client(handler) as c, pytest.raises(errors.PromptRejected) as info:
        c.submit({"1": {"class_type": "EmptyImage", "inputs": {"width": 0}}})
    assert info.value.body == body and info.value.problems[0]["input_name"] == "width"

    partial = {"prompt_id": "x", "number": 1, "node_errors": body["node_errors"]}
    with client(lambda r: httpx.Response(200, json=partial)) as c:
        job = c.submit(WF, prompt_id="x")
    assert job.node_errors == body["node_errors"]


# -- downloads ---------------------------------------------------------------------------------------


def _serve(data: bytes, *, fail_after: int | None = None) -> Handler:
    def chunks() -> Iterator[bytes]:
        sent = 0
        for i in range(0, len(data), 1000):
            if fail_after is not None and sent >= fail_after:
                raise httpx.ReadError("connection reset mid-download")
            sent += 1000
            yield data[i : i + 1000]

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=chunks())

    return handler


def test_hostile_names_from_a_server_are_written_inside(tmp_path: Path) -> None:
    dest = tmp_path / "a" / "b"
    with client(_serve(b"x" * 5000)) as c:
        for name, sub in (("../../../x.png", ""), ("/etc/passwd", "../.."), ("ok.png", "C:\\evil")):
            path = c.download(OutputFile(node_id="1", filename=name, subfolder=sub), dest)
            assert dest.resolve() in path.resolve().parents and path.read_bytes() == b"x" * 5000
        with pytest.raises(errors.UnsafePath):
            c.download(OutputFile(node_id="1", filename="a\x00.png"), dest)
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["ok.png", "passwd", "x.png"]


def test_interrupted_download_leaves_nothing_under_the_final_name(tmp_path: Path) -> None:
    (tmp_path / "out.png").write_bytes(b"old")
    with client(_serve(b"y" * 10_000, fail_after=3000)) as c:
        with pytest.raises(errors.TransportError):
            c.download(OutputFile(node_id="1", filename="new.png"), tmp_path)
        with pytest.raises(errors.TransportError):
            c.download(OutputFile(node_id="1", filename="out.png"), tmp_path, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png"]
    assert (tmp_path / "out.png").read_bytes() == b"old"


def test_view_to_file_path_and_folder(tmp_path: Path) -> None:
    with client(_serve(b"z" * 10)) as c:
        target = c.view_to("img.png", tmp_path / "chosen.png")
        assert target == tmp_path / "chosen.png" and target.read_bytes() == b"z" * 10
        again = c.view_to("img.png", tmp_path / "chosen.png")
        assert again.name == "chosen (1).png"
        with pytest.raises(errors.UsageError):  # ComfyUI answers a bare 400 for '..' in a file name
            c.view_to("sub/../img.png", tmp_path)
        assert c.view_to("img.png", f"{tmp_path}/new/") == tmp_path / "new" / "img.png"


def test_upload_arguments_are_checked(tmp_path: Path) -> None:
    bodies: list[bytes] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(request.read())
        return httpx.Response(200, json={"name": "up (1).png", "subfolder": "s", "type": "temp"})

    f = tmp_path / "up.png"
    f.write_bytes(b"PNGDATA")
    with client(handler) as c:
        up = c.upload(f, subfolder="s", type="temp", overwrite=True)
        assert up.ref == "s/up (1).png [temp]"
        with f.open("rb") as fh:
            c.upload(fh)
        bads: tuple[Callable[[], object], ...] = (
            lambda: c.upload(b"raw"),
            lambda: c.upload(tmp_path / "missing.png"),
            lambda: c.upload(f, type="bogus"),  # type: ignore[arg-type]
        )
        for bad in bads:
            with pytest.raises(errors.UsageError):
                bad()
    assert (
        b"PNGDATA" in bodies[0] and b'name="overwrite"' in bodies[0] and b'name="overwrite"' not in bodies[1]
    )


def test_polling_mode_job_when_websocket_is_refused() -> None:
    state = {"polls": 0}
    entry = json.loads((FIXTURES / "history/success.json").read_text())
    ((pid, hist),) = entry.items()

    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/api/prompt":
            return httpx.Response(200, json={"prompt_id": pid, "number": 1, "node_errors": {}})
        if path == "/api/queue":
            state["polls"] += 1
            pending = [[1, pid, {}, {}, []]] if state["polls"] < 3 else []
            return httpx.Response(200, json={"queue_running": [], "queue_pending": pending})
        if path == f"/api/history/{pid}":
            return httpx.Response(200, json={pid: hist} if state["polls"] >= 3 else {})
        raise AssertionError(path)

    with client(handler) as c:
        job = c.submit(WF, prompt_id=pid)
        kinds = [e.type for e in job.events()]
        assert kinds == ["queue_position"] and job.result().ok and state["polls"] == 3


# -- the default sync transport (httpx's own) -----------------------------------------------------------


def _one_shot_server(answers: int) -> tuple[str, threading.Thread]:
    """Answers each connection once, then closes it without saying so (like an idle timeout)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()

    def serve() -> None:
        for _ in range(answers):
            conn, _ = srv.accept()
            with conn:
                conn.recv(65536)
                body = b'{"queue_running": [], "queue_pending": []}'
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
                )
        srv.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return f"http://127.0.0.1:{srv.getsockname()[1]}", thread


def test_default_transport_never_reuses_a_connection_the_server_closed() -> None:
    url, thread = _one_shot_server(3)
    with Client(url, ws_connect=blocked_ws) as c:
        for _ in range(3):
            assert c.queue().pending == ()
    thread.join(5)


def test_default_transport_maps_refused_and_timeouts(unused_port: int) -> None:
    with (
        Client(f"http://127.0.0.1:{unused_port}", ws_connect=blocked_ws) as c,
        pytest.raises(errors.ServerUnreachable),
    ):
        c.queue()
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()  # accepts, never answers
    try:
        slow = Client(f"http://127.0.0.1:{srv.getsockname()[1]}", timeout=0.2, ws_connect=blocked_ws)
        with slow, pytest.raises(errors.RequestTimeout):
            slow.system_stats()
    finally:
        srv.close()


@pytest.fixture
def unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_server_ignoring_our_prompt_id_is_followed_by_its_own() -> None:
    entry = json.loads((FIXTURES / "history/success.json").read_text())
    ((pid, hist),) = entry.items()

    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/api/prompt":
            return httpx.Response(200, json={"prompt_id": pid, "number": 1, "node_errors": {}})
        if path == "/api/queue":
            return httpx.Response(200, json={"queue_running": [], "queue_pending": []})
        if path == f"/api/history/{pid}":
            return httpx.Response(200, json={pid: hist})
        raise AssertionError(path)

    with client(handler) as c:
        job = c.submit(WF, prompt_id="ours")
        assert job.prompt_id == pid and job.wait().prompt_id == pid


# -- review fixes: 408/429, close, proxies, WebSocket refusals, disk errors ----------------------------


def _limited(calls: list[str], retry_after: str, ok_after: int | None) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        if ok_after is not None and len(calls) > ok_after:
            return httpx.Response(200, json={"queue_running": [], "queue_pending": []})
        return httpx.Response(429, headers={"Retry-After": retry_after}, text="slow down")

    return handler


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_429_is_retried_after_retry_after_then_server_error(kind: str) -> None:
    for retry_after, ok_after, expected_calls in (("0", 1, 2), ("0", None, 3), ("3600", None, 1)):
        calls: list[str] = []
        tx = httpx.MockTransport(_limited(calls, retry_after, ok_after))
        try:
            if kind == "sync":
                with Client("http://127.0.0.1:9", transport=tx, ws_connect=blocked_ws) as c:
                    c.queue()
            else:
                async with AsyncClient("http://127.0.0.1:9", transport=tx) as ac:
                    await ac.queue()
        except errors.ServerError as err:
            assert ok_after is None and err.exit_code == 9 and err.status == 429
        else:
            assert ok_after is not None
        assert len(calls) == expected_calls  # a long Retry-After ends the retries, never a hang


def test_closed_clients_stay_closed() -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        return httpx.Response(200, json={"queue_running": [], "queue_pending": []})

    c = client(handler)
    c.queue()
    c.close()
    for call in (c.queue, c.system_stats, lambda: c.submit(WF)):
        with pytest.raises(errors.UsageError, match="closed"):
            call()
    assert calls == ["/api/queue"] and c._tx is None and not c._hub.connected


async def test_closed_async_client_stays_closed() -> None:
    tx = httpx.MockTransport(lambda r: httpx.Response(200, json={"queue_running": [], "queue_pending": []}))
    c = AsyncClient("http://127.0.0.1:9", transport=tx)
    await c.queue()
    await c.close()
    with pytest.raises(errors.UsageError, match="closed"):
        await c.queue()
    with pytest.raises(errors.UsageError, match="closed"):
        await c.submit(WF)
    assert c._http is None


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_socks_proxy_without_its_package_is_a_usage_error(
    kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "socksio", None)  # a plain `pip install comfyctl`: no socksio
    monkeypatch.setenv("ALL_PROXY", "socks5://127.0.0.1:1")
    with pytest.raises(errors.UsageError) as info:
        if kind == "sync":
            Client("http://127.0.0.1:9", timeout=1).queue()
        else:
            await AsyncClient("http://127.0.0.1:9", timeout=1).queue()
    assert "httpx[socks]" in info.value.hint


def _invalid_status(status: int) -> Exception:
    import websockets.exceptions as wse
    from websockets.datastructures import Headers
    from websockets.http11 import Response

    return wse.InvalidStatus(Response(status, "x", Headers()))


@pytest.mark.parametrize(
    ("failure", "kind"),
    [
        (lambda: _invalid_status(403), "blocked"),
        (lambda: _invalid_status(404), "blocked"),
        (lambda: _invalid_status(426), "blocked"),
        (lambda: _invalid_status(502), "transient"),
        (lambda: _invalid_status(500), "transient"),
        (lambda: TimeoutError("timed out during opening handshake"), "hung"),
    ],
)
def test_websocket_open_failures_are_told_apart(failure: Callable[[], Exception], kind: str) -> None:
    attempts: list[str] = []

    def ws_connect(url: str, *, headers: Any) -> Any:
        attempts.append(url)
        raise failure()

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/prompt":
            return httpx.Response(200, json={"prompt_id": "p", "number": 1, "node_errors": {}})
        return httpx.Response(200, json={"queue_running": [], "queue_pending": []})

    with client(handler, ws_connect=ws_connect) as c:
        for i in range(3):
            c.submit(WF, prompt_id=f"p{i}")
        assert c._hub.policy.last == kind
    # a refusal or a hang is not retried at every submit (a hang cost the open timeout each time);
    # a transient answer is retried after a short backoff
    assert len(attempts) == 1 if kind != "transient" else 1 <= len(attempts) <= 3


def test_download_write_errors_leave_no_temp_file(tmp_path: Path) -> None:
    import errno

    from comfyctl._files import Sink

    (tmp_path / "taken.png").mkdir()  # a folder already has the file's name
    sink = Sink(tmp_path, Path("taken.png"), overwrite=True)  # type: ignore[arg-type]
    sink.write(b"data")
    with pytest.raises(errors.UsageError, match="folder has that name"):
        sink.commit()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken.png"]

    class Full:
        def write(self, data: bytes) -> int:
            raise OSError(errno.ENOSPC, "No space left on device")

        def close(self) -> None:
            pass

    sink = Sink(tmp_path, Path("x.png"), overwrite=False)  # type: ignore[arg-type]
    real = sink.file
    sink.file = Full()  # type: ignore[assignment]
    with pytest.raises(errors.LocalIOError, match="No space left") as caught:
        sink.write(b"data")
    assert caught.value.exit_code == 10 and caught.value.details["errno"] == errno.ENOSPC
    real.close()
    sink.abort()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken.png"]
