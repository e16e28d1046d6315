"""The asynchronous client: :class:`AsyncClient` and :class:`AsyncJob` (httpx + websockets.asyncio).

The same names, signatures and behaviour as :mod:`comfyctl.client`, written against asyncio (it
does not wrap the sync client, and the sync client does not wrap it: no ``asyncio.run`` anywhere,
so both work inside Jupyter, MCP servers and any running loop). A test compares the two APIs.
"""

from __future__ import annotations

import asyncio
import json
import mimetypes
import ssl
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

import httpx

from comfyctl import _protocol as proto
from comfyctl._jobstate import (
    LOST,
    CancelledIds,
    Connect,
    DeleteQueued,
    Emit,
    EventRouter,
    JobBase,
    ReadHistory,
    ReadQueue,
    Receive,
    Sleep,
    Tick,
)
from comfyctl._safepath import safe_relpath
from comfyctl.client import (
    CancelOutcome,
    FileType,
    Sink,
    SocketLost,
    closed_error,
    default_transport,
    error_retry_delay,
    file_arg,
    missing_original,
    original_params,
    output_params,
    ssl_context,
    transport_error,
    upload_form,
    view_target,
    ws_failure,
    ws_ssl_context,
)
from comfyctl.errors import (
    ComfyError,
    JobLost,
    NotFound,
    RequestTimeout,
    ServerUnreachable,
    TransportError,
)
from comfyctl.events import Event, feature_flags_message, parse_event
from comfyctl.nodedefs import NodeDefs
from comfyctl.results import OutputFile, QueueState, Result, SystemStats, UploadedFile
from comfyctl.settings import Settings

__all__ = ["AsyncClient", "AsyncJob"]

_CHUNK = 1 << 20
_WS_MAX_SIZE = 1 << 28
_LOG_TIMEOUT = 5.0


class _AsyncHub(EventRouter):
    """One WebSocket for one client id (see ``comfyctl.client._Hub``); whoever waits reads."""

    def __init__(self, client: AsyncClient, client_id: str):
        super().__init__()
        self.client = client
        self.client_id = client_id
        self.ws: Any = None
        self.read_lock = asyncio.Lock()
        self.connect_lock = asyncio.Lock()
        self.changed = asyncio.Event()

    @property
    def connected(self) -> bool:
        return self.ws is not None

    async def ensure(self) -> bool:
        """See ``comfyctl.client._Hub.ensure``: the same :class:`SocketPolicy` decides."""
        async with self.connect_lock:
            client = self.client
            if client._closed:
                raise closed_error()
            if self.ws is not None or not self.policy.may_try(time.monotonic()):
                return self.ws is not None
            settings = client.settings
            url = f"{settings.ws_base}/ws?clientId={self.client_id}"
            budget = self.policy.open_timeout(settings.timeout)
            try:
                ws = await client._ws_connect(url, headers=settings.request_headers(), open_timeout=budget)
            except Exception as exc:
                kind = ws_failure(exc)
                if kind is not None:
                    # HTTP may still work: poll now, try the socket again when the policy says.
                    self.policy.failed(kind, time.monotonic())
                    return False
                if isinstance(exc, OSError) or type(exc).__module__.startswith("websockets"):
                    raise ServerUnreachable(
                        f"ComfyUI is not reachable at {settings.url}: "
                        f"{settings.redact(str(exc) or type(exc).__name__)}",
                        hint="start ComfyUI, or pass the right URL",
                    ) from exc
                raise
            try:
                # ComfyUI honours feature flags only in the first message a client sends.
                await ws.send(feature_flags_message())
            except Exception:
                await _quiet_close(ws)
                self.policy.failed("transient", time.monotonic())
                return False
            if client._closed:  # closed while we were connecting
                await _quiet_close(ws)
                raise closed_error()
            self.policy.opened()
            self.ws = ws
            return True

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
            got = self.take(prompt_id)
            if got is not None:
                return got
            remaining = deadline - loop.time()
            if remaining <= 0:
                return None
            if self.read_lock.locked():
                try:
                    await asyncio.wait_for(changed.wait(), remaining)
                except asyncio.TimeoutError:
                    return None
                continue
            async with self.read_lock:
                ws = self.ws
                if ws is None:
                    raise SocketLost
                try:
                    frame = await asyncio.wait_for(ws.recv(), remaining)
                except asyncio.TimeoutError:
                    return None
                except Exception as exc:  # ConnectionClosed, or a transport error under it
                    await self.drop(ws)
                    self._wake()
                    raise SocketLost from exc
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


class AsyncClient:
    """The asynchronous twin of :class:`comfyctl.Client` (same arguments, same resolution order:
    argument > environment > config file > default; no I/O in the constructor).

    Example:
        >>> async with AsyncClient() as comfy:                         # doctest: +SKIP
        ...     job = await comfy.submit(workflow)
        ...     async for event in job.events():
        ...         print(event.type)
        ...     result = await job.result()
    """

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
        self.settings = settings or Settings.resolve(
            url, token=token, headers=headers, verify=verify, timeout=timeout, config_file=config_file
        )
        self.client_id = client_id or proto.new_id()
        self._transport = transport
        self._ws_factory = ws_connect
        self._ws_tls: ssl.SSLContext | None = None  # built on the first wss connect, kept for reconnects
        self._http: httpx.AsyncClient | None = None
        self._hub = _AsyncHub(self, self.client_id)
        self._node_defs: NodeDefs | None = None
        self._attached_hubs: list[_AsyncHub] = []
        self._cancelled = CancelledIds()  # dequeued here: their jobs end as Interrupted, not lost
        self._closed = False

    # -- plumbing ---------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The server URL with secrets redacted."""
        return self.settings.url

    def __repr__(self) -> str:
        return f"AsyncClient({self.url!r})"

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the WebSocket and the HTTP connection pool, for good: waiting jobs and later
        calls raise :class:`UsageError`."""
        self._closed = True
        await self._hub.close()
        for hub in self._attached_hubs:
            await hub.close()
        self._attached_hubs.clear()
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    aclose = close

    def _client(self) -> httpx.AsyncClient:
        if self._closed:
            raise closed_error()
        if self._http is None:
            t = self.settings.timeout
            verify = ssl_context(self.settings.verify)
            self._http = httpx.AsyncClient(
                base_url=self.settings.base_url,
                headers=self.settings.request_headers(),
                timeout=httpx.Timeout(t, connect=t),
                verify=verify,
                transport=self._transport
                or default_transport(httpx.AsyncHTTPTransport, self.settings, verify),
                follow_redirects=False,
            )
        return self._http

    async def _ws_connect(self, url: str, *, headers: Mapping[str, str], open_timeout: float) -> Any:
        if self._ws_factory is not None:
            return await self._ws_factory(url, headers=headers)
        from websockets.asyncio.client import connect

        kw: dict[str, Any] = {}
        if url.startswith("wss:"):
            if self._ws_tls is None:  # loading a CA store is slow: not again at every reconnect
                self._ws_tls = ws_ssl_context(self.settings.verify)
            kw["ssl"] = self._ws_tls
        # No Origin header (websockets sends none unless asked): ComfyUI's Origin check would 403.
        return await connect(
            url,
            additional_headers=dict(headers),
            open_timeout=open_timeout,
            max_size=_WS_MAX_SIZE,
            compression=None,
            **kw,
        )

    async def _request(self, method: str, path: str, **kw: Any) -> httpx.Response:
        """:meth:`_fetch` for a request whose answer body does not matter (read, capped, dropped)."""
        return (await self._fetch(method, path, **kw))[0]

    async def _read(
        self, resp: httpx.Response, method: str, url: str, *, whole: bool = False
    ) -> bytes | bytearray:
        """The body of ``resp`` (then closed): at most ``max_response_bytes`` unless ``whole``."""
        try:
            if whole:
                return await resp.aread()
            body = proto.CappedBody(
                self.settings.max_response_bytes,
                method=method,
                url=url,
                declared=resp.headers.get("content-length"),
            )
            async for chunk in resp.aiter_bytes():
                body.add(chunk)
            return body.buffer
        finally:
            await resp.aclose()

    async def _fetch(
        self,
        method: str,
        path: str,
        *,
        retry: bool | None = None,
        prompt: Mapping[str, Any] | None = None,
        timeout: float | None = None,
        whole: bool = False,
        **kw: Any,
    ) -> tuple[httpx.Response, bytes | bytearray]:
        """See ``Client._fetch``: the same retry rules and the same cap."""
        http = self._client()
        route = proto.api(path)
        url = self.settings.base_url + route
        idempotent = method == "GET" if retry is None else retry
        attempts = self.settings.retries + 1
        for attempt in range(attempts):
            last = attempt == attempts - 1
            try:
                request = http.build_request(
                    method, route, timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT, **kw
                )
                resp = await http.send(request, stream=True)
                delay = proto.answer_retry_delay(
                    attempt,
                    resp.status_code,
                    resp.headers.get("retry-after"),
                    last=last,
                    idempotent=idempotent,
                )
                if delay is None and resp.status_code < 400:
                    return resp, await self._read(resp, method, url, whole=whole)
            except httpx.HTTPError as exc:
                delay = error_retry_delay(exc, attempt, last=last, idempotent=idempotent)
                if delay is not None:
                    await asyncio.sleep(delay)
                    continue
                raise transport_error(
                    exc, method, url, timeout or self.settings.timeout, self.settings
                ) from exc
            if delay is not None:
                await resp.aclose()
                await asyncio.sleep(delay)
                continue
            raise await self._status_error(resp, method, url, prompt)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _status_error(
        self, resp: httpx.Response, method: str, url: str, prompt: Mapping[str, Any] | None
    ) -> ComfyError:
        body = proto.CappedBody(self.settings.max_response_bytes, method=method, url=url, truncate=True)
        try:
            async for chunk in resp.aiter_bytes():
                if not body.add(chunk):
                    break
        except httpx.HTTPError:
            pass
        finally:
            await resp.aclose()
        tail = None
        if resp.status_code >= 500 and not url.endswith("/internal/logs"):
            try:
                tail = proto.log_tail(
                    await self._json("GET", "/internal/logs", retry=False, timeout=_LOG_TIMEOUT)
                )
            except ComfyError:
                tail = None
        return proto.error_for_status(
            resp.status_code,
            method=method,
            url=url,
            body=self.settings.redact(body.buffer.decode("utf-8", "replace")),
            content_type=resp.headers.get("content-type", ""),
            prompt=prompt,
            log_tail=self.settings.redact(tail) if tail else None,
            authenticated="Authorization" in self.settings.request_headers(),
            query=dict(resp.request.url.params),
        )

    async def _json(self, method: str, path: str, **kw: Any) -> Any:
        resp, body = await self._fetch(method, path, **kw)
        return proto.decode_json(body, method=method, url=str(resp.request.url), redact=self.settings.redact)

    async def _expect(self, path: str, kind: type, **kw: Any) -> Any:
        return proto.expect(
            await self._json("GET", path, **kw), kind, method="GET", url=path, redact=self.settings.redact
        )

    # -- server info ------------------------------------------------------------------------------

    async def system_stats(self) -> SystemStats:
        """Versions, RAM and devices (``GET /system_stats``)."""
        return proto.parse_system_stats(await self._json("GET", "/system_stats"))

    async def features(self) -> dict[str, Any]:
        """Server feature flags (``GET /features``)."""
        return dict(await self._expect("/features", dict))

    async def object_info(self, class_type: str | None = None) -> dict[str, Any]:
        """Node definitions: all, or one class (``{}`` when the class is unknown)."""
        path = "/object_info" if class_type is None else f"/object_info/{_seg(class_type)}"
        return proto.parse_object_info(await self._json("GET", path), url=path, redact=self.settings.redact)

    async def node_defs(self) -> NodeDefs:
        """All node definitions as :class:`NodeDefs` (fetched once per client)."""
        if self._node_defs is None:
            self._node_defs = NodeDefs(await self.object_info())
        return self._node_defs

    async def models(self, folder: str | None = None) -> list[str]:
        """Model folder names, or the files in one folder."""
        path = "/models" if folder is None else f"/models/{_seg(folder)}"
        return [str(m) for m in await self._expect(path, list)]

    async def embeddings(self) -> list[str]:
        """Embedding names (without extension)."""
        return [str(m) for m in await self._expect("/embeddings", list)]

    async def extensions(self) -> list[str]:
        """Frontend extension script URLs the server serves (``/extensions``)."""
        return [str(m) for m in await self._expect("/extensions", list)]

    async def logs(self) -> str:
        """The server's recent log (``/internal/logs``)."""
        data = await self._json("GET", "/internal/logs")
        return data if isinstance(data, str) else json.dumps(data)

    # -- queue and history ------------------------------------------------------------------------

    async def queue(self) -> QueueState:
        """Running and pending prompts, pending in run order."""
        return proto.parse_queue(await self._json("GET", "/queue"))

    async def delete_queued(self, prompt_ids: Iterable[str]) -> None:
        """Remove pending prompts (running ones are untouched: use :meth:`cancel`)."""
        await self._request("POST", "/queue", json={"delete": [str(p) for p in prompt_ids]}, retry=True)

    async def clear_queue(self) -> None:
        """Remove every pending prompt (every client's)."""
        await self._request("POST", "/queue", json={"clear": True}, retry=True)

    async def history(
        self, max_items: int | None = None, offset: int | None = None
    ) -> dict[str, dict[str, Any]]:
        """Finished prompts, oldest first (``max_items`` alone: the newest N)."""
        return dict(await self._expect("/history", dict, params=proto.history_params(max_items, offset)))

    async def history_entry(self, prompt_id: str) -> dict[str, Any] | None:
        """One history entry, or None while pending, running or unknown."""
        path = f"/history/{_seg(prompt_id)}"
        data = await self._json("GET", path)
        return proto.parse_history_entry(data, prompt_id, url=path, redact=self.settings.redact)

    async def delete_history(self, prompt_ids: Iterable[str]) -> None:
        """Remove finished prompts from the history (unknown ids are ignored by the server)."""
        await self._request("POST", "/history", json={"delete": [str(p) for p in prompt_ids]}, retry=True)

    async def clear_history(self) -> None:
        """Empty the whole history (every client's)."""
        await self._request("POST", "/history", json={"clear": True}, retry=True)

    async def jobs(self, **filters: Any) -> dict[str, Any]:
        """``GET /api/jobs`` (ComfyUI 0.8+)."""
        params = {
            k: (",".join(v) if isinstance(v, (list, tuple)) else v)
            for k, v in filters.items()
            if v is not None
        }
        return dict(await self._expect("/jobs", dict, params=params))

    async def job_info(self, prompt_id: str) -> dict[str, Any]:
        """``GET /api/jobs/{id}``."""
        return dict(await self._expect(f"/jobs/{_seg(prompt_id)}", dict))

    # -- work -------------------------------------------------------------------------------------

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
        """Queue an API-format workflow (see :meth:`comfyctl.Client.submit`)."""
        pid = str(prompt_id) if prompt_id is not None else proto.new_prompt_id()
        body = proto.prompt_body(
            workflow,
            client_id=self.client_id,
            prompt_id=pid,
            front=front,
            number=number,
            extra_data=extra_data,
            partial_execution_targets=partial_execution_targets,
        )
        try:
            await self._hub.ensure()  # the socket must listen before the prompt can finish
        except ServerUnreachable:
            pass  # a proxy may reset WebSocket upgrades only: the POST decides, the job then polls
        self._hub.register(pid)
        try:
            got_id, got_number, node_errors, resent = await self._post_prompt(body, workflow)
        except ComfyError as exc:
            self._hub.unregister(pid)
            proto.with_prompt(exc, pid)
            raise
        except BaseException:
            self._hub.unregister(pid)
            raise
        if got_id and got_id != pid:
            # Servers older than client-chosen ids ignore ours: follow the id they gave.
            self._hub.unregister(pid)
            self._hub.register(got_id)
        job = AsyncJob(self, got_id or pid, number=got_number, node_errors=node_errors, hub=self._hub)
        job._flow.state.resent = resent
        return job

    async def _post_prompt(
        self, body: dict[str, Any], workflow: Mapping[str, Any]
    ) -> tuple[str | None, float | None, dict[str, Any], bool]:
        """POST the prompt: (prompt id, number, node_errors, re-sent?)."""
        pid = body["prompt_id"]
        for attempt in (0, 1):
            try:
                data = await self._json("POST", "/prompt", json=body, retry=False, prompt=workflow)
                got = proto.parse_submit(data, method="POST", url="/prompt", redact=self.settings.redact)
                return (*got, attempt == 1)
            except (RequestTimeout, TransportError) as exc:
                if attempt or isinstance(exc, ServerUnreachable):
                    raise
                # The server does not check prompt id uniqueness: re-send only if it did not land.
                try:
                    item = proto.queued(await self.queue(), pid)
                    entry = None if item is not None else await self.history_entry(pid)
                except ComfyError as check:
                    raise proto.landing_unknown(check, pid, exc) from exc
                if item is not None:
                    return pid, item.number, {}, False
                if entry is not None:
                    return pid, None, {}, False
        raise AssertionError("unreachable")  # pragma: no cover

    async def attach(self, prompt_id: str, *, follow_progress: bool = False) -> AsyncJob:
        """A job for a prompt queued by anyone (see :meth:`comfyctl.Client.attach`)."""
        pid = str(prompt_id)
        entry = await self.history_entry(pid)
        if entry is not None:
            return AsyncJob(self, pid, hub=None, entry=entry)
        item = proto.queued(await self.queue(), pid)
        if item is None:
            entry = await self.history_entry(pid)
            if entry is None:
                raise proto.job_gone(pid)
            return AsyncJob(self, pid, hub=None, entry=entry)
        sock = self._hub
        if proto.attach_socket(item.client_id, self.client_id, follow_progress) == "owner":
            sock = _AsyncHub(self, item.client_id or "")
            self._attached_hubs.append(sock)  # closed with the client if never waited for
        hub: _AsyncHub | None = sock
        try:
            await sock.ensure()
        except ServerUnreachable:
            hub = None
        else:
            sock.register(pid)
        return AsyncJob(
            self,
            pid,
            number=item.number,
            hub=hub,
            private=hub is not None and hub is not self._hub,
            foreign=item.client_id != sock.client_id,
            reconcile_first=True,
        )

    async def submit_once(
        self, workflow: Mapping[str, Any], *, prompt_id: str, **submit_kwargs: Any
    ) -> AsyncJob:
        """Queue ``workflow`` under ``prompt_id`` unless the server already knows that id (see
        :meth:`comfyctl.Client.submit_once`)."""
        try:
            return await self.attach(prompt_id)
        except JobLost:
            return await self.submit(workflow, prompt_id=prompt_id, **submit_kwargs)

    async def run(
        self, workflow: Mapping[str, Any], *, timeout: float | None = None, **submit_kwargs: Any
    ) -> Result:
        """Submit and wait: the successful :class:`Result`, or an exception."""
        job = await self.submit(workflow, **submit_kwargs)
        return await job.wait(timeout)

    async def interrupt(self, prompt_id: str | None = None) -> None:
        """Stop the running prompt; with ``prompt_id``, only if that prompt is the one running."""
        kw: dict[str, Any] = {"json": {"prompt_id": prompt_id}} if prompt_id else {}
        await self._request("POST", "/interrupt", retry=prompt_id is not None, **kw)

    async def cancel(self, prompt_id: str) -> CancelOutcome:
        """Cancel exactly this prompt (see :meth:`comfyctl.Client.cancel`)."""
        pid = str(prompt_id)
        queue = await self.queue()
        if queue.position(pid) is not None:
            await self.delete_queued([pid])
            self._cancelled.add(pid)
            if (await self.queue()).is_running(pid):
                await self.interrupt(pid)
                return "interrupted"
            return "dequeued"
        if queue.is_running(pid):
            await self.interrupt(pid)
            return "interrupted"
        if await self.history_entry(pid) is not None:
            await self.delete_history([pid])
            return "cleared"
        return "not_found"

    async def free(self, *, unload_models: bool = False, free_memory: bool = False) -> None:
        """Ask the server to unload models / free memory after the current prompt."""
        await self._request(
            "POST", "/free", json={"unload_models": unload_models, "free_memory": free_memory}, retry=True
        )

    # -- files ------------------------------------------------------------------------------------

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
        """Upload an image or mask (see :meth:`comfyctl.Client.upload`)."""
        name, content = file_arg(file, filename)
        route, data = upload_form(name, subfolder, type, overwrite, mask_for)
        if mask_for is not None:
            original = original_params(data)
            try:
                await self._request("HEAD", "/view", params=original)
            except NotFound as exc:
                raise missing_original(original) from exc
        mime = mimetypes.guess_type(name)[0] or "application/octet-stream"
        if isinstance(content, Path):
            # httpx's async multipart reads sync file objects; a local file read is brief.
            with content.open("rb") as fh:
                payload = await self._json(
                    "POST", route, files={"image": (name, fh, mime)}, data=data, retry=False
                )
        else:
            payload = await self._json(
                "POST", route, files={"image": (name, content, mime)}, data=data, retry=False
            )
        return proto.parse_upload(payload, method="POST", url=route, redact=self.settings.redact)

    async def view(self, filename: str, *, subfolder: str = "", type: str = "output") -> bytes:
        """A file's bytes (small files; use :meth:`download`/:meth:`view_to` for big ones)."""
        params = proto.asked_view_params(filename, subfolder, type)
        return bytes((await self._fetch("GET", "/view", params=params, whole=True))[1])

    async def view_to(
        self,
        filename: str,
        dest: str | Path,
        *,
        subfolder: str = "",
        type: str = "output",
        overwrite: bool = False,
    ) -> Path:
        """Stream a server file to ``dest`` (a folder, or a file path); returns the written path."""
        folder, rel = view_target(dest, filename)
        return await self._stream(proto.asked_view_params(filename, subfolder, type), folder, rel, overwrite)

    async def download(
        self, output: OutputFile | Mapping[str, Any], dest_dir: str | Path, *, overwrite: bool = False
    ) -> Path:
        """Stream one output to disk (see :meth:`comfyctl.Client.download`)."""
        filename, subfolder, ftype = output_params(output)
        rel = safe_relpath(filename, subfolder)
        return await self._stream(
            proto.view_params(filename, subfolder, ftype), Path(dest_dir), rel, overwrite
        )

    async def download_all(
        self, result: Result, dest_dir: str | Path, *, overwrite: bool = False
    ) -> list[Path]:
        """Every output file of a result (see :meth:`comfyctl.Client.download_all`)."""
        try:
            return [await self.download(o, dest_dir, overwrite=overwrite) for o in result.outputs]
        except ComfyError as exc:
            proto.with_prompt(exc, result.prompt_id)
            raise

    async def _stream(
        self, params: dict[str, str], folder: Path, rel: PurePosixPath, overwrite: bool
    ) -> Path:
        route = proto.api("/view")
        url = self.settings.base_url + route
        http = self._client()
        for attempt in range(self.settings.retries + 1):
            last = attempt == self.settings.retries
            try:
                async with http.stream("GET", route, params=params) as resp:
                    delay = proto.answer_retry_delay(
                        attempt, resp.status_code, resp.headers.get("retry-after"), last=last, idempotent=True
                    )
                    if delay is not None:
                        await asyncio.sleep(delay)
                        continue
                    if resp.status_code >= 400:
                        raise await self._status_error(resp, "GET", url, None)
                    sink = Sink(folder, rel, overwrite)
                    try:
                        async for chunk in resp.aiter_bytes(_CHUNK):
                            sink.write(chunk)
                    except BaseException:
                        sink.abort()
                        raise
                    return sink.commit()
            except httpx.HTTPError as exc:
                # only a connection that never opened: a body cut off is not re-fetched
                delay = error_retry_delay(exc, attempt, last=last, idempotent=False)
                if delay is not None:
                    await asyncio.sleep(delay)
                    continue
                raise transport_error(exc, "GET", url, self.settings.timeout, self.settings) from exc
        raise AssertionError("unreachable")  # pragma: no cover


def _seg(value: str) -> str:
    from urllib.parse import quote

    return quote(str(value), safe="")


class AsyncJob(JobBase):
    """The asynchronous twin of :class:`comfyctl.Job`."""

    _client: AsyncClient
    _hub: _AsyncHub | None

    async def events(self, *, timeout: float | None = None) -> AsyncIterator[Event]:
        """Typed events until the prompt ends (see :meth:`comfyctl.Job.events`)."""
        async for event in self._follow(timeout, positions=True):
            yield event

    async def wait(self, timeout: float | None = None) -> Result:
        """Wait for the end; the :class:`Result` on success (see :meth:`comfyctl.Job.wait`)."""
        async for _ in self._follow(timeout, positions=False):
            pass
        return await self.result()

    async def result(self) -> Result:
        """The outcome (waits if needed)."""
        if self._flow.result is None:
            async for _ in self._follow(None, positions=False):
                pass
        assert self._flow.result is not None
        return proto.raise_for_result(self._flow.result)

    async def cancel(self) -> CancelOutcome:
        """Cancel this prompt (see :meth:`comfyctl.Client.cancel`)."""
        return await self._client.cancel(self.prompt_id)

    async def _follow(self, timeout: float | None, *, positions: bool) -> AsyncIterator[Event]:
        """:meth:`_drive`, its errors naming the prompt (``details["prompt_id"]``)."""
        try:
            async for event in self._drive(timeout, positions=positions):
                yield event
        except ComfyError as exc:
            proto.with_prompt(exc, self.prompt_id)
            raise

    async def _drive(self, timeout: float | None, *, positions: bool) -> AsyncIterator[Event]:
        """Run the :class:`JobFlow` loop (see ``comfyctl.Job._drive``)."""
        client, hub, pid = self._client, self._hub, self.prompt_id
        limit = timeout if timeout is not None else client.settings.wait_timeout
        flow = self._flow.follow(limit, positions=positions)
        answer: Any = None
        while True:
            try:
                action = flow.send(answer)
            except StopIteration:
                return
            answer = None
            if isinstance(action, ReadQueue):
                answer = await client.queue()
            elif isinstance(action, ReadHistory):
                answer = await client.history_entry(pid)
            elif isinstance(action, Sleep):
                await asyncio.sleep(action.seconds)
            elif isinstance(action, Emit):
                yield action.event
            elif isinstance(action, DeleteQueued):
                await client.delete_queued([pid] * action.count)
            else:
                assert hub is not None
                if isinstance(action, Receive):
                    try:
                        answer = await hub.next(pid, action.timeout)
                    except SocketLost:
                        answer = LOST
                elif isinstance(action, Connect):
                    try:
                        answer = await hub.ensure()
                    except ServerUnreachable as exc:
                        answer = exc
                else:
                    await hub.close()
                    if hub in client._attached_hubs:  # done with: not kept until close()
                        client._attached_hubs.remove(hub)
