"""The asynchronous client: :class:`AsyncClient` and :class:`AsyncJob` (httpx + websockets.asyncio).

The twin of :mod:`comfyctl.client`: the same names, signatures, docstrings and behaviour, since
both run the flows of :mod:`comfyctl._flows` and only the actions differ (awaited here). Neither
wraps the other, and this module does not import the sync one: no ``asyncio.run`` anywhere, so
both work inside Jupyter, MCP servers and any running loop. A test compares the two APIs.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import httpx

from comfyctl import _docs, _flows, _transport
from comfyctl import _protocol as proto
from comfyctl._files import Sink
from comfyctl._jobstate import LOST, EventRouter, JobBase, Tick
from comfyctl._protocol import CancelOutcome, FileType
from comfyctl.errors import ServerUnreachable
from comfyctl.events import Event, parse_event
from comfyctl.nodedefs import NodeDefs
from comfyctl.results import OutputFile, QueueState, Result, SystemStats, UploadedFile
from comfyctl.settings import Settings

__all__ = ["AsyncClient", "AsyncJob"]

_CHUNK = 1 << 20
T = TypeVar("T")


class _SocketLost(Exception):
    """Internal: the shared WebSocket closed under a waiting job."""


class _AsyncHub(EventRouter):
    """One WebSocket for one client id; whoever waits reads (an asyncio lock), and the others
    wake on ``changed`` to look for their events."""

    def __init__(self, client: AsyncClient, client_id: str):
        super().__init__(client_id)
        self.client = client
        self.read_lock = asyncio.Lock()
        self.connect_lock = asyncio.Lock()
        self.changed = asyncio.Event()

    async def ensure(self) -> bool:
        """Open the socket if needed and the policy allows (:func:`comfyctl._flows.open_socket`)."""
        async with self.connect_lock:
            return await _flows.adrive(_flows.open_socket(self, self.client), self.client)

    async def drop(self, ws: Any) -> None:
        """Forget a dead socket, closing it first (ComfyUI quirk: a closing old socket with the
        same client id unregisters the new one)."""
        if self.ws is ws:
            self.ws = None
            self.running = None
        await _quiet_close(ws)

    async def next(self, prompt_id: str, timeout: float) -> Event | Tick | None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            changed = self.changed
            remaining = deadline - loop.time()
            done, got = self.ready(prompt_id, remaining)
            if done:
                return got
            if self.read_lock.locked():
                try:
                    await asyncio.wait_for(changed.wait(), remaining)
                except asyncio.TimeoutError:
                    return None
                continue
            async with self.read_lock:
                ws = self.ws
                if ws is None:
                    raise _SocketLost
                try:
                    frame = await asyncio.wait_for(ws.recv(), remaining)
                except asyncio.TimeoutError:
                    return None
                except Exception as exc:  # ConnectionClosed, or a transport error under it
                    await self.drop(ws)
                    self._wake()
                    raise _SocketLost from exc
                self.dispatch(parse_event(frame))
                self._wake()

    def _wake(self) -> None:
        changed, self.changed = self.changed, asyncio.Event()
        changed.set()

    async def close(self) -> None:
        ws, self.ws = self.ws, None
        if ws is not None:
            await _quiet_close(ws)


async def _quiet_close(ws: Any) -> None:
    try:
        await ws.close()
    except Exception:
        pass


@_docs.documented(_docs.CLIENT)
class AsyncClient(_flows.ClientBase):
    """The asynchronous twin of :class:`comfyctl.Client` (same arguments, same resolution order:
    argument > environment > config file > default; no I/O in the constructor). ``transport`` is
    an ``httpx.AsyncBaseTransport``; ``ws_connect`` an async factory.

    Example:
        >>> async with AsyncClient() as comfy:                         # doctest: +SKIP
        ...     job = await comfy.submit(workflow)
        ...     async for event in job.events():
        ...         print(event.type)
        ...     result = await job.result()
    """

    _hub_class = _AsyncHub
    _hub: _AsyncHub

    def __init__(
        self,
        url: str | None = None,
        *,
        token: str | None = None,
        headers: Mapping[str, str] | None = None,
        verify: bool | str | None = None,
        timeout: float | None = None,
        config_file: str | Path | None = None,
        client_id: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        ws_connect: Callable[..., Any] | None = None,
        settings: Settings | None = None,
    ):
        super().__init__(
            url, token, headers, verify, timeout, config_file, client_id, transport, ws_connect, settings
        )
        self._http: httpx.AsyncClient | None = None

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        self._closed = True
        await self._hub.close()
        for hub in self._attached_hubs:
            await hub.close()
        self._attached_hubs.clear()
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    aclose = close

    # -- the actions of the flows ---------------------------------------------------------------

    async def _run(self, flow: _flows.Flow[T]) -> T:
        return await _flows.adrive(flow, self)

    def _client(self) -> httpx.AsyncClient:
        if self._closed:
            raise proto.closed_error()
        if self._http is None:
            t = self.settings.timeout
            verify = _transport.ssl_context(self.settings.verify)
            self._http = httpx.AsyncClient(
                base_url=self.settings.base_url,
                headers=self.settings.request_headers(),
                timeout=httpx.Timeout(t, connect=t),
                verify=verify,
                transport=self._transport
                or _transport.default_transport(httpx.AsyncHTTPTransport, self.settings, verify),
                follow_redirects=False,
            )
        return self._http

    def _failed(self, exc: httpx.HTTPError, call: _flows.Call) -> _flows.Failed:
        url = self.settings.base_url + call.route
        return _transport.failure(exc, call.method, url, call.timeout or self.settings.timeout, self.settings)

    async def _do_send(self, a: _flows.Send) -> _flows.Answered | _flows.Failed:
        http = self._client()
        timeout = a.call.timeout if a.call.timeout is not None else httpx.USE_CLIENT_DEFAULT
        request = http.build_request(a.call.method, a.call.route, timeout=timeout, **a.call.kw)
        try:
            return _flows.answered(await http.send(request, stream=True))
        except httpx.HTTPError as exc:
            return self._failed(exc, a.call)

    async def _do_read(self, a: _flows.Read) -> _flows.Answered | _flows.Failed:
        resp = a.answered.response
        try:
            async for chunk in resp.aiter_bytes():
                if not a.body.add(chunk):
                    break
        except httpx.HTTPError as exc:
            return self._failed(exc, a.call)
        finally:
            await resp.aclose()
        return a.done()

    async def _do_discard(self, a: _flows.Discard) -> None:
        await a.answered.response.aclose()

    async def _do_sleep(self, a: Any) -> None:
        await asyncio.sleep(a.seconds)

    async def _do_save(self, a: _flows.Save) -> Path:
        resp = a.answered.response
        try:
            with Sink(a.folder, a.rel, a.overwrite) as sink:
                async for chunk in resp.aiter_bytes(_CHUNK):
                    sink.write(chunk)
            return sink.path
        except httpx.HTTPError as exc:  # a body cut off is not re-fetched
            raise _transport.cut_off(exc, a.answered.url, self.settings) from exc
        finally:
            await resp.aclose()

    async def _do_ensure_socket(self, a: _flows.EnsureSocket) -> bool | ServerUnreachable:
        try:
            return await a.hub.ensure()  # type: ignore[attr-defined,no-any-return]
        except ServerUnreachable as exc:
            return exc

    async def _do_new_hub(self, a: _flows.NewHub) -> _AsyncHub:
        hub = _AsyncHub(self, a.client_id)
        self._attached_hubs.append(hub)  # closed with the client if never waited for
        return hub

    async def _do_ws_open(self, a: _flows.WsOpen) -> Any:
        try:
            if self._ws_factory is not None:
                return await self._ws_factory(a.url, headers=a.headers)
            from websockets.asyncio.client import connect

            if a.url.startswith("wss:") and self._ws_tls is None:  # a CA store loads slowly: once
                self._ws_tls = _transport.ws_ssl_context(self.settings.verify)
            return await connect(
                a.url, **_transport.ws_connect_options(a.url, a.headers, a.timeout, self._ws_tls)
            )
        except Exception as exc:
            return _transport.ws_open_failed(exc, self.settings)

    async def _do_ws_send(self, a: _flows.WsSend) -> bool:
        try:
            await a.ws.send(a.text)
        except Exception:
            return False
        return True

    async def _do_ws_close(self, a: _flows.WsClose) -> None:
        await _quiet_close(a.ws)

    # -- server info ----------------------------------------------------------------------------

    async def system_stats(self) -> SystemStats:
        return await self._run(_flows.system_stats(self))

    async def features(self) -> dict[str, Any]:
        return await self._run(_flows.features(self))

    async def object_info(self, class_type: str | None = None) -> dict[str, Any]:
        return await self._run(_flows.object_info(self, class_type))

    async def node_defs(self) -> NodeDefs:
        return await self._run(_flows.node_defs(self))

    async def models(self, folder: str | None = None) -> list[str]:
        return await self._run(_flows.models(self, folder))

    async def embeddings(self) -> list[str]:
        return await self._run(_flows.names(self, "/embeddings"))

    async def extensions(self) -> list[str]:
        return await self._run(_flows.names(self, "/extensions"))

    async def logs(self) -> str:
        return await self._run(_flows.logs(self))

    # -- queue and history ----------------------------------------------------------------------

    async def queue(self) -> QueueState:
        return await self._run(_flows.queue(self))

    async def delete_queued(self, prompt_ids: Iterable[str]) -> None:
        await self._run(_flows.delete_queued(self, prompt_ids))

    async def clear_queue(self) -> None:
        await self._run(_flows.post(self, "/queue", {"clear": True}))

    async def history(
        self, max_items: int | None = None, offset: int | None = None
    ) -> dict[str, dict[str, Any]]:
        return await self._run(_flows.history(self, max_items, offset))

    async def history_entry(self, prompt_id: str) -> dict[str, Any] | None:
        return await self._run(_flows.history_entry(self, prompt_id))

    async def delete_history(self, prompt_ids: Iterable[str]) -> None:
        await self._run(_flows.post(self, "/history", {"delete": [str(p) for p in prompt_ids]}))

    async def clear_history(self) -> None:
        await self._run(_flows.post(self, "/history", {"clear": True}))

    async def jobs(self, **filters: Any) -> dict[str, Any]:
        return await self._run(_flows.jobs(self, filters))

    async def job_info(self, prompt_id: str) -> dict[str, Any]:
        return await self._run(_flows.job_info(self, prompt_id))

    # -- work -----------------------------------------------------------------------------------

    async def submit(
        self,
        workflow: Mapping[str, Any],
        *,
        prompt_id: str | None = None,
        front: bool = False,
        number: float | None = None,
        extra_data: Mapping[str, Any] | None = None,
        partial_execution_targets: Sequence[str] | None = None,
    ) -> AsyncJob:
        targets = partial_execution_targets
        flow = _flows.submit(
            self,
            workflow,
            prompt_id,
            front=front,
            number=number,
            extra_data=extra_data,
            partial_execution_targets=targets,
        )
        return AsyncJob(self, **(await self._run(flow)))

    async def attach(self, prompt_id: str, *, follow_progress: bool = False) -> AsyncJob:
        return AsyncJob(self, **(await self._run(_flows.attach(self, prompt_id, follow_progress))))

    async def submit_once(
        self, workflow: Mapping[str, Any], *, prompt_id: str, **submit_kwargs: Any
    ) -> AsyncJob:
        flow = _flows.submit_once(self, workflow, prompt_id, **submit_kwargs)
        return AsyncJob(self, **(await self._run(flow)))

    async def run(
        self, workflow: Mapping[str, Any], *, timeout: float | None = None, **submit_kwargs: Any
    ) -> Result:
        job = await self.submit(workflow, **submit_kwargs)
        return await job.wait(timeout)

    async def interrupt(self, prompt_id: str | None = None) -> None:
        await self._run(_flows.interrupt(self, prompt_id))

    async def cancel(self, prompt_id: str) -> CancelOutcome:
        return await self._run(_flows.cancel(self, prompt_id))

    async def free(self, *, unload_models: bool = False, free_memory: bool = False) -> None:
        body = {"unload_models": unload_models, "free_memory": free_memory}
        await self._run(_flows.post(self, "/free", body))

    # -- files ----------------------------------------------------------------------------------

    async def upload(
        self,
        file: str | Path | bytes | BinaryIO,
        *,
        filename: str | None = None,
        subfolder: str = "",
        type: FileType = "input",
        overwrite: bool = False,
        mask_for: OutputFile | UploadedFile | Mapping[str, Any] | None = None,
    ) -> UploadedFile:
        return await self._run(_flows.upload(self, file, filename, subfolder, type, overwrite, mask_for))

    async def view(self, filename: str, *, subfolder: str = "", type: str = "output") -> bytes:
        return await self._run(_flows.view(self, filename, subfolder, type))

    async def view_to(
        self,
        filename: str,
        dest: str | Path,
        *,
        subfolder: str = "",
        type: str = "output",
        overwrite: bool = False,
    ) -> Path:
        return await self._run(_flows.view_to(self, filename, dest, subfolder, type, overwrite))

    async def download(
        self, output: OutputFile | Mapping[str, Any], dest_dir: str | Path, *, overwrite: bool = False
    ) -> Path:
        return await self._run(_flows.download(self, output, dest_dir, overwrite))

    async def download_all(
        self, result: Result, dest_dir: str | Path, *, overwrite: bool = False
    ) -> list[Path]:
        return await self._run(_flows.download_all(self, result, dest_dir, overwrite))


@_docs.documented(_docs.JOB)
class AsyncJob(JobBase):
    """The asynchronous twin of :class:`comfyctl.Job`; ``events()`` is an async iterator."""

    _client: AsyncClient
    _hub: _AsyncHub | None

    async def events(self, *, timeout: float | None = None) -> AsyncIterator[Event]:
        async for event in self._follow(timeout, positions=True):
            yield event

    async def wait(self, timeout: float | None = None) -> Result:
        async for _ in self._follow(timeout, positions=False):
            pass
        return await self.result()

    async def result(self) -> Result:
        if self._flow.result is None:
            async for _ in self._follow(None, positions=False):
                pass
        return self._outcome()

    async def cancel(self) -> CancelOutcome:
        return await self._client.cancel(self.prompt_id)

    def _follow(self, timeout: float | None, *, positions: bool) -> AsyncIterator[Event]:
        flow = self._flow.follow(self._limit(timeout), positions=positions)
        return _flows.afollow(flow, self, self.prompt_id)

    # -- the actions of the job flow (awaited) --------------------------------------------------

    async def _do_read_queue(self, a: Any) -> QueueState:
        return await self._client.queue()

    async def _do_read_history(self, a: Any) -> dict[str, Any] | None:
        return await self._client.history_entry(self.prompt_id)

    async def _do_delete_queued(self, a: Any) -> None:
        await self._client.delete_queued([self.prompt_id] * a.count)

    async def _do_sleep(self, a: Any) -> None:
        await asyncio.sleep(a.seconds)

    async def _do_receive(self, a: Any) -> Any:
        assert self._hub is not None
        try:
            return await self._hub.next(self.prompt_id, a.timeout)
        except _SocketLost:
            return LOST

    async def _do_connect(self, a: Any) -> bool | ServerUnreachable:
        assert self._hub is not None
        try:
            return await self._hub.ensure()
        except ServerUnreachable as exc:
            return exc

    async def _do_close_socket(self, a: Any) -> None:
        assert self._hub is not None
        await self._hub.close()
        self._client._forget_hub(self._hub)
