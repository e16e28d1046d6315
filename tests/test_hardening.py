"""Issue 13 on the library, both clients: errors name the prompt, nothing spins, answers are capped,
bad server data is an error, a 403 from /view is not an auth failure."""

from __future__ import annotations

import asyncio
import dataclasses
import errno
import json
import os
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from comfyctl import AsyncClient, Client, errors
from comfyctl.results import OutputFile
from comfyctl.settings import Settings

WF = {"1": {"class_type": "SaveImage", "inputs": {}}}
Handler = Callable[[httpx.Request], httpx.Response]
IMAGE = {
    "1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 5}},
    "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "h"}},
}


def _blocked(url: str, *, headers: Any) -> Any:
    import websockets.exceptions as wse

    raise wse.InvalidURI(url, "blocked")


async def _ablocked(url: str, *, headers: Any) -> Any:
    _blocked(url, headers=headers)


def _settings(**kw: Any) -> Settings:
    return dataclasses.replace(Settings(base_url="http://127.0.0.1:9"), **kw)


def _run(kind: str, handler: Handler, call: Callable[[Any], Any], **settings: Any) -> Any:
    """``call(client)`` on a sync or async client over ``handler`` (awaited for the async one)."""
    tx: Any = httpx.MockTransport(handler)
    if kind == "sync":
        with Client(settings=_settings(**settings), transport=tx, ws_connect=_blocked) as c:
            return call(c)

    async def main() -> Any:
        async with AsyncClient(settings=_settings(**settings), transport=tx, ws_connect=_ablocked) as c:
            return await call(c)

    return asyncio.run(main())


KINDS = ["sync", "async"]


async def _await(value: Any) -> Any:
    return await value if asyncio.iscoroutine(value) else value


# -- point 2: the prompt id in every error after it was chosen ---------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_landing_check_that_times_out_names_the_prompt(kind: str) -> None:
    """The POST timed out after landing, then GET /queue timed out too: the error must say which
    prompt may now be queued (it said only 'GET /api/queue: no answer within 3 s')."""

    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    def call(c: Any) -> Any:
        return c.submit(WF, prompt_id="p-landed")

    with pytest.raises(errors.RequestTimeout) as caught:
        _run(kind, handler, call)
    exc = caught.value
    assert exc.details["prompt_id"] == "p-landed" and exc.details["landed"] is None
    assert "p-landed" in exc.message and "/prompt" in exc.message and "/queue" in exc.message
    assert "comfyctl" not in exc.hint  # library words: the CLI adds the command


@pytest.mark.parametrize("kind", KINDS)
def test_server_gone_mid_job_names_the_prompt(kind: str, sandbox: Any) -> None:
    sandbox.pause_worker()
    settings = dataclasses.replace(Settings.resolve(sandbox.url), reconnect_timeout=0.2, retries=0)

    def sync() -> None:
        with Client(settings=settings) as c:
            job = c.submit(IMAGE, prompt_id="p-gone")
            sandbox.stop()
            job.wait()

    async def main() -> None:
        async with AsyncClient(settings=settings) as c:
            job = await c.submit(IMAGE, prompt_id="p-gone")
            sandbox.stop()
            await job.wait()

    with pytest.raises(errors.TransportError) as caught:
        sync() if kind == "sync" else asyncio.run(main())
    assert caught.value.details["prompt_id"] == "p-gone"


@pytest.mark.parametrize("kind", KINDS)
def test_download_all_errors_name_the_prompt_and_are_local_io_errors(
    kind: str, sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from comfyctl._files import Sink  # the one Sink both clients write downloads with

    def full(self: Any, chunk: bytes) -> None:
        raise self._error(OSError(errno.ENOSPC, "No space left on device"))

    monkeypatch.setattr(Sink, "write", full)

    def sync() -> None:
        with Client(sandbox.url) as c:
            c.download_all(c.run(IMAGE, prompt_id="p-full"), tmp_path)

    async def main() -> None:
        async with AsyncClient(sandbox.url) as c:
            await c.download_all(await c.run(IMAGE, prompt_id="p-full"), tmp_path)

    with pytest.raises(errors.LocalIOError) as caught:
        sync() if kind == "sync" else asyncio.run(main())
    exc = caught.value
    assert exc.exit_code == 10 and exc.code == "local_io"  # not 'usage' (exit 2): the disk is full
    assert exc.details["prompt_id"] == "p-full" and exc.details["errno"] == errno.ENOSPC


# -- point 3: nothing spins ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_broken_symlink_with_the_outputs_name_gets_the_next_free_name(
    kind: str, sandbox: Any, tmp_path: Path
) -> None:
    """exists() is False for a broken symlink, os.link says the name is taken: the download
    retried the same name forever at 100% CPU."""
    with Client(sandbox.url) as c:
        result = c.run(IMAGE)
    out = result.outputs[0]
    os.symlink(tmp_path / "nowhere", tmp_path / out.filename)
    got: list[Path] = []

    def download() -> None:
        if kind == "sync":
            with Client(sandbox.url) as c:
                got.append(c.download(out, tmp_path))
        else:

            async def main() -> None:
                async with AsyncClient(sandbox.url) as c:
                    got.append(await c.download(out, tmp_path))

            asyncio.run(main())

    worker = threading.Thread(target=download, daemon=True)
    worker.start()
    worker.join(30)  # returns at once when fixed; the old loop never ended
    assert not worker.is_alive(), "download spins on a broken symlink"
    assert got and got[0].name == Path(out.filename).stem + " (1).png"
    assert (tmp_path / out.filename).is_symlink()  # left alone


def test_free_name_never_offers_a_name_twice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever the file system says, each attempt uses a new name (the loop always advances)."""
    from pathlib import PurePosixPath

    from comfyctl._files import Sink

    sink = Sink(tmp_path, PurePosixPath("a.png"), overwrite=False)
    sink.write(b"x")
    tried: list[str] = []
    real_link = os.link

    def refusing_link(src: Any, dst: Any) -> None:
        tried.append(Path(dst).name)
        if len(tried) < 3:
            raise FileExistsError(dst)  # as for a name that exists() does not see
        real_link(src, dst)

    monkeypatch.setattr(os, "link", refusing_link)
    path = sink.commit()
    assert tried == ["a.png", "a (1).png", "a (2).png"] and path.name == "a (2).png"


# -- point 4: bounded memory ----------------------------------------------------------------------------


class _Counted(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A body of ``chunks`` chunks of 64 KiB that counts how many were pulled."""

    def __init__(self, chunks: int, prefix: bytes = b'{"x": "') -> None:
        self.total, self.pulled, self.prefix = chunks, 0, prefix

    def _next(self) -> bytes:
        self.pulled += 1
        return self.prefix if self.pulled == 1 else b"a" * 65536

    def __iter__(self) -> Iterator[bytes]:
        while self.pulled < self.total:
            yield self._next()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while self.pulled < self.total:
            yield self._next()


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("path", ["/object_info", "/history", "/history/p1", "/queue"])
def test_json_answers_are_capped_while_reading(kind: str, path: str) -> None:
    """A 10 MiB answer with a 1 MiB cap: ResponseTooLarge after about 1 MiB read, not after all of
    it (the whole body used to be read, then parsed: about 3x its size in memory)."""
    body = _Counted(160)

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=body, headers={"content-type": "application/json"})

    def call(c: Any) -> Any:
        return {
            "/object_info": lambda: c.object_info(),
            "/history": lambda: c.history(),
            "/history/p1": lambda: c.history_entry("p1"),
            "/queue": lambda: c.queue(),
        }[path]()

    with pytest.raises(errors.ResponseTooLarge) as caught:
        _run(kind, handler, call, max_response_bytes=1 << 20)
    assert body.pulled <= 18 < body.total  # 1 MiB is 16 chunks
    assert caught.value.details["cap"] == 1 << 20 and caught.value.exit_code == 1


@pytest.mark.parametrize("kind", KINDS)
def test_declared_length_over_the_cap_reads_nothing(kind: str) -> None:
    body = _Counted(160)

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=body, headers={"content-length": str(160 * 65536)})

    with pytest.raises(errors.ResponseTooLarge, match="10485"):
        _run(kind, handler, lambda c: c.object_info(), max_response_bytes=1 << 20)
    assert body.pulled == 0


def test_the_cap_is_configurable_from_the_environment() -> None:
    assert Settings.resolve(env={}).max_response_bytes == 256 << 20  # a big /object_info fits
    assert Settings.resolve(env={"COMFYUI_MAX_RESPONSE_MB": "1.5"}).max_response_bytes == 3 << 19
    with pytest.raises(errors.UsageError, match="max_response_mb"):
        Settings.resolve(env={"COMFYUI_MAX_RESPONSE_MB": "lots"})


@pytest.mark.parametrize("kind", KINDS)
def test_a_history_answer_that_is_not_the_entry_is_read_once(kind: str) -> None:
    """/history/{id} answering something else than ``{}`` or ``{id: entry}`` used to be read 9
    times (and parsed each time) before the job ended as JobLost."""
    reads: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/api/prompt":
            return httpx.Response(200, json={"prompt_id": "p1", "number": 1, "node_errors": {}})
        if path == "/api/queue":
            return httpx.Response(200, json={"queue_running": [], "queue_pending": []})
        reads.append(path)
        return httpx.Response(200, json={"other": {"status": {}}, "filler": "x" * 1000})

    async def wait(job: Any) -> Any:
        return await _await(job.wait())

    def call(c: Any) -> Any:
        if isinstance(c, Client):
            return c.submit(WF, prompt_id="p1").wait()

        async def go() -> Any:
            return await wait(await c.submit(WF, prompt_id="p1"))

        return go()

    with pytest.raises(errors.HTTPError, match="not prompt p1's history entry"):
        _run(kind, handler, call)
    assert reads == ["/api/history/p1"]


# -- point 5: bad server data -----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_object_info_with_a_non_object_definition_is_an_error(kind: str) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"Good": {"input": {}}, "Broken": 42})

    with pytest.raises(errors.HTTPError, match="'Broken' is a int") as caught:
        _run(kind, handler, lambda c: c.node_defs())
    assert "custom node" in caught.value.hint


# -- point 6: the right words -----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_403_from_view_for_a_path_outside_the_folder_is_not_an_auth_failure(
    kind: str, sandbox: Any, tmp_path: Path
) -> None:
    """ComfyUI answers 403 to subfolder=../../..; it read as 'pass --token' (exit 8)."""
    hostile = OutputFile(node_id="9", filename="x.png", subfolder="../../..", type="output", kind="image")

    def sync() -> None:
        with Client(sandbox.url) as c:
            c.download(hostile, tmp_path / "out")

    async def main() -> None:
        async with AsyncClient(sandbox.url) as c:
            await c.download(hostile, tmp_path)

    with pytest.raises(errors.UnsafePath) as caught:
        sync() if kind == "sync" else asyncio.run(main())
    exc = caught.value
    assert exc.details["status"] == 403 and exc.details["path"] == "../../../x.png"
    assert "token" not in exc.hint and "leaves its output folder" in exc.message
    assert not (tmp_path / "out").exists()


def test_a_403_elsewhere_is_still_an_auth_failure() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(403)

    with pytest.raises(errors.AuthError):
        _run("sync", handler, lambda c: c.view("x.png", subfolder="ok"))


def test_protocol_error_mapping_reads_the_view_query() -> None:
    from comfyctl import _protocol as proto

    common: dict[str, Any] = {"method": "GET", "url": "http://h/api/view", "body": ""}
    inside = proto.error_for_status(403, query={"filename": "a.png", "subfolder": "x/../y"}, **common)
    outside = proto.error_for_status(403, query={"filename": "a.png", "subfolder": "x/../../y"}, **common)
    assert isinstance(inside, errors.AuthError) and isinstance(outside, errors.UnsafePath)
    assert json.dumps(outside.to_dict())  # JSON-safe for --json and agents
