"""The synchronous client: :class:`Client` and :class:`Job` (httpx models + websockets.sync).

A thin I/O layer: every public method runs one flow of :mod:`comfyctl._flows` (where what to send,
when to retry, how to read an answer and what an error means are decided, once for both twins)
and performs the actions it asks for: requests straight to an httpx transport (the test seam;
:mod:`comfyctl._http`'s keep-alive transport by default), the WebSocket with websockets.sync,
sleeps with :func:`time.sleep`. The asynchronous twin is :mod:`comfyctl.aio` (same names,
signatures and docstrings; neither wraps the other).

One WebSocket per client (one client id): events are routed to waiting jobs by prompt id, so many
jobs can be submitted and waited for in any order, from several threads, without missing one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import httpx

from comfyctl import _docs, _flows, _transport
from comfyctl import _protocol as proto
from comfyctl._files import Sink
from comfyctl._jobstate import LOST, EventRouter, JobBase, Tick
from comfyctl._protocol import CancelOutcome, FileType
from comfyctl._transport import default_transport, error_retry_delay
from comfyctl.errors import ServerUnreachable
from comfyctl.events import Event, parse_event
from comfyctl.nodedefs import NodeDefs
from comfyctl.results import OutputFile, QueueState, Result, SystemStats, UploadedFile
from comfyctl.settings import Settings

__all__ = ["CancelOutcome", "Client", "Job"]
# kept importable from here: tests and callers of the transport seam use them
_REEXPORTED = (Sink, default_transport, error_retry_delay)

_CHUNK = 1 << 20
T = TypeVar("T")


class SocketLost(Exception):
    """Internal: the shared WebSocket closed under a waiting job."""


class _Hub(EventRouter):
    """One WebSocket for one client id; frames are routed to waiting jobs by prompt id.

    Whoever waits reads: a waiting job takes the read lock, reads one frame, files it under its
    prompt id and lets go, so jobs can be waited for from several threads in any order.
    """

    def __init__(self, client: Client, client_id: str):
        super().__init__(client_id)
        self.client = client
        self.read_lock = threading.Lock()
        self.connect_lock = threading.Lock()

    def ensure(self) -> bool:
        """Open the socket if needed and the policy allows (:func:`comfyctl._flows.open_socket`)."""
        with self.connect_lock:
            return _flows.drive(_flows.open_socket(self, self.client), self.client)

    def drop(self, ws: Any) -> None:
        """Forget a dead socket (closing it first: ComfyUI unregisters a client id when its old
        socket closes, which would silence a new socket opened with the same id)."""
        with self.connect_lock:
            if self.ws is ws:
                self.ws = None
                self.running = None
        _quiet_close(ws)

    def next(self, prompt_id: str, timeout: float) -> Event | Tick | None:
        """The next event for ``prompt_id``, TICK after a queue broadcast, None after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            done, got = self.ready(prompt_id, remaining)
            if done:
                return got
            # Short slices: while another thread reads, our events land in our queue meanwhile.
            if not self.read_lock.acquire(timeout=min(remaining, 0.05)):
                continue
            try:
                got = self.take(prompt_id)
                if got is not None:
                    return got
                ws = self.ws
                if ws is None:
                    raise SocketLost
                try:
                    frame = ws.recv(timeout=max(0.0, deadline - time.monotonic()))
                except TimeoutError:
                    return None
                except Exception as exc:  # ConnectionClosed, or a transport error under it
                    self.drop(ws)
                    raise SocketLost from exc
                self.dispatch(parse_event(frame))
            finally:
                self.read_lock.release()

    def close(self) -> None:
        ws, self.ws = self.ws, None
        if ws is not None:
            _quiet_close(ws)


def _quiet_close(ws: Any) -> None:
    try:
        ws.close()
    except Exception:
        pass


@_docs.documented(_docs.CLIENT)
class Client(_flows.ClientBase):
    """A synchronous ComfyUI client.

    Settings are resolved once, here: explicit argument > environment variable (``COMFYUI_URL``,
    ``COMFYUI_TOKEN``, ``COMFYUI_HEADERS``, ``COMFYUI_VERIFY``/``COMFYUI_CA_BUNDLE``,
    ``COMFYUI_TIMEOUT``, ``COMFYUI_MAX_RESPONSE_MB``) > config file
    (``$XDG_CONFIG_HOME/comfyctl/config.toml``) > default (``http://127.0.0.1:8188``, 30 s per API
    call, no limit on waiting for a generation). See :mod:`comfyctl.settings`. The constructor
    does no I/O; connections open on first use.

    Args:
        url: server URL; basic auth may be given in it (``https://user:pass@host``).
        token: bearer token for an auth proxy.
        headers: extra headers for every request (never ``Origin``: ComfyUI refuses mismatches).
        verify: TLS verification: True, False, or a CA bundle path.
        timeout: seconds for each API call (connect and read).
        config_file: a TOML config file to read instead of the default one.
        client_id: the WebSocket client id (default: a fresh one per client).
        transport: an httpx transport (tests, proxies, ASGI apps).
        ws_connect: a factory ``(url, *, headers) -> connection`` for the WebSocket.
        settings: a ready :class:`Settings` (then url/token/... are ignored).

    Example:
        >>> with Client("http://127.0.0.1:8188") as comfy:           # doctest: +SKIP
        ...     result = comfy.run(workflow)
        ...     paths = comfy.download_all(result, "outputs")
    """

    _hub_class = _Hub
    _hub: _Hub

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
        transport: httpx.BaseTransport | None = None,
        ws_connect: Callable[..., Any] | None = None,
        settings: Settings | None = None,
    ):
        super().__init__(
            url, token, headers, verify, timeout, config_file, client_id, transport, ws_connect, settings
        )
        self._tx: httpx.BaseTransport | None = None
        self._headers: dict[str, str] = {}
        self._lock = threading.Lock()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._closed = True
        self._hub.close()
        for hub in self._attached_hubs:
            hub.close()
        self._attached_hubs.clear()
        tx, self._tx = self._tx, None
        if tx is not None:
            tx.close()  # like httpx.Client: a transport given to the client is closed with it

    # -- the actions of the flows ---------------------------------------------------------------

    def _run(self, flow: _flows.Flow[T]) -> T:
        return _flows.drive(flow, self)

    def _send(self, method: str, route: str, *, timeout: float | None = None, **kw: Any) -> httpx.Response:
        """One request straight to the transport (httpx models, no httpx.Client layer: nothing of
        it is used here, and it costs as much CPU as the request itself on a local server). The
        body is left unread."""
        with self._lock:
            if self._closed:
                raise proto.closed_error()
            if self._tx is None:
                verify = _transport.ssl_context(self.settings.verify)
                self._tx = self._transport or default_transport(httpx.HTTPTransport, self.settings, verify)
                self._headers = {
                    "Accept": "*/*",
                    "Accept-Encoding": "gzip, deflate",
                    **self.settings.request_headers(),
                }
            tx = self._tx
        t = timeout if timeout is not None else self.settings.timeout
        request = httpx.Request(
            method,
            self.settings.base_url + route,
            headers=self._headers,
            extensions={"timeout": {"connect": t, "read": t, "write": t, "pool": t}},
            **kw,
        )
        response = tx.handle_request(request)
        response.request = request
        return response

    def _failed(self, exc: httpx.HTTPError, call: _flows.Call) -> _flows.Failed:
        url = self.settings.base_url + call.route
        return _transport.failure(exc, call.method, url, call.timeout or self.settings.timeout, self.settings)

    def _do_send(self, a: _flows.Send) -> _flows.Answered | _flows.Failed:
        try:
            return _flows.answered(
                self._send(a.call.method, a.call.route, timeout=a.call.timeout, **a.call.kw)
            )
        except httpx.HTTPError as exc:
            return self._failed(exc, a.call)

    def _do_read(self, a: _flows.Read) -> _flows.Answered | _flows.Failed:
        resp = a.answered.response
        try:
            for chunk in resp.iter_bytes():
                if not a.body.add(chunk):
                    break
        except httpx.HTTPError as exc:
            return self._failed(exc, a.call)
        finally:
            resp.close()
        return a.done()

    def _do_discard(self, a: _flows.Discard) -> None:
        a.answered.response.close()

    def _do_sleep(self, a: Any) -> None:
        time.sleep(a.seconds)

    def _do_save(self, a: _flows.Save) -> Path:
        resp = a.answered.response
        try:
            with Sink(a.folder, a.rel, a.overwrite) as sink:
                for chunk in resp.iter_bytes(_CHUNK):
                    sink.write(chunk)
            return sink.path
        except httpx.HTTPError as exc:  # a body cut off is not re-fetched
            raise _transport.cut_off(exc, a.answered.url, self.settings) from exc
        finally:
            resp.close()

    def _do_ensure_socket(self, a: _flows.EnsureSocket) -> bool | ServerUnreachable:
        try:
            return a.hub.ensure()  # type: ignore[attr-defined,no-any-return]
        except ServerUnreachable as exc:
            return exc

    def _do_new_hub(self, a: _flows.NewHub) -> _Hub:
        hub = _Hub(self, a.client_id)
        self._attached_hubs.append(hub)  # closed with the client if never waited for
        return hub

    def _do_ws_open(self, a: _flows.WsOpen) -> Any:
        try:
            if self._ws_factory is not None:
                return self._ws_factory(a.url, headers=a.headers)
            from websockets.sync.client import connect

            if a.url.startswith("wss:") and self._ws_tls is None:  # a CA store loads slowly: once
                self._ws_tls = _transport.ws_ssl_context(self.settings.verify)
            options = _transport.ws_connect_options(a.url, a.headers, a.timeout, self._ws_tls)
            # Entered like a context manager (websockets >= 17.1 warns on a bare connect()).
            return connect(a.url, **options).__enter__()
        except Exception as exc:
            return _transport.ws_open_failed(exc, self.settings)

    def _do_ws_send(self, a: _flows.WsSend) -> bool:
        try:
            a.ws.send(a.text)
        except Exception:
            return False
        return True

    def _do_ws_close(self, a: _flows.WsClose) -> None:
        _quiet_close(a.ws)

    # -- server info ----------------------------------------------------------------------------

    def system_stats(self) -> SystemStats:
        return self._run(_flows.system_stats(self))

    def features(self) -> dict[str, Any]:
        return self._run(_flows.features(self))

    def object_info(self, class_type: str | None = None) -> dict[str, Any]:
        return self._run(_flows.object_info(self, class_type))

    def node_defs(self) -> NodeDefs:
        return self._run(_flows.node_defs(self))

    def models(self, folder: str | None = None) -> list[str]:
        return self._run(_flows.models(self, folder))

    def embeddings(self) -> list[str]:
        return self._run(_flows.names(self, "/embeddings"))

    def extensions(self) -> list[str]:
        return self._run(_flows.names(self, "/extensions"))

    def logs(self) -> str:
        return self._run(_flows.logs(self))

    # -- queue and history ----------------------------------------------------------------------

    def queue(self) -> QueueState:
        return self._run(_flows.queue(self))

    def delete_queued(self, prompt_ids: Iterable[str]) -> None:
        self._run(_flows.delete_queued(self, prompt_ids))

    def clear_queue(self) -> None:
        self._run(_flows.post(self, "/queue", {"clear": True}))

    def history(self, max_items: int | None = None, offset: int | None = None) -> dict[str, dict[str, Any]]:
        return self._run(_flows.history(self, max_items, offset))

    def history_entry(self, prompt_id: str) -> dict[str, Any] | None:
        return self._run(_flows.history_entry(self, prompt_id))

    def delete_history(self, prompt_ids: Iterable[str]) -> None:
        self._run(_flows.post(self, "/history", {"delete": [str(p) for p in prompt_ids]}))

    def clear_history(self) -> None:
        self._run(_flows.post(self, "/history", {"clear": True}))

    def jobs(self, **filters: Any) -> dict[str, Any]:
        return self._run(_flows.jobs(self, filters))

    def job_info(self, prompt_id: str) -> dict[str, Any]:
        return self._run(_flows.job_info(self, prompt_id))

    # -- work -----------------------------------------------------------------------------------

    def submit(
        self,
        workflow: Mapping[str, Any],
        *,
        prompt_id: str | None = None,
        front: bool = False,
        number: float | None = None,
        extra_data: Mapping[str, Any] | None = None,
        partial_execution_targets: Sequence[str] | None = None,
    ) -> Job:
        options: dict[str, Any] = {"front": front, "number": number, "extra_data": extra_data}
        flow = _flows.submit(
            self, workflow, prompt_id, partial_execution_targets=partial_execution_targets, **options
        )
        return Job(self, **self._run(flow))

    def attach(self, prompt_id: str, *, follow_progress: bool = False) -> Job:
        return Job(self, **self._run(_flows.attach(self, prompt_id, follow_progress)))

    def submit_once(self, workflow: Mapping[str, Any], *, prompt_id: str, **submit_kwargs: Any) -> Job:
        return Job(self, **self._run(_flows.submit_once(self, workflow, prompt_id, **submit_kwargs)))

    def run(
        self, workflow: Mapping[str, Any], *, timeout: float | None = None, **submit_kwargs: Any
    ) -> Result:
        return self.submit(workflow, **submit_kwargs).wait(timeout)

    def interrupt(self, prompt_id: str | None = None) -> None:
        self._run(_flows.interrupt(self, prompt_id))

    def cancel(self, prompt_id: str) -> CancelOutcome:
        return self._run(_flows.cancel(self, prompt_id))

    def free(self, *, unload_models: bool = False, free_memory: bool = False) -> None:
        self._run(_flows.post(self, "/free", {"unload_models": unload_models, "free_memory": free_memory}))

    # -- files ----------------------------------------------------------------------------------

    def upload(
        self,
        file: str | Path | bytes | BinaryIO,
        *,
        filename: str | None = None,
        subfolder: str = "",
        type: FileType = "input",
        overwrite: bool = False,
        mask_for: OutputFile | UploadedFile | Mapping[str, Any] | None = None,
    ) -> UploadedFile:
        return self._run(_flows.upload(self, file, filename, subfolder, type, overwrite, mask_for))

    def view(self, filename: str, *, subfolder: str = "", type: str = "output") -> bytes:
        return self._run(_flows.view(self, filename, subfolder, type))

    def view_to(
        self,
        filename: str,
        dest: str | Path,
        *,
        subfolder: str = "",
        type: str = "output",
        overwrite: bool = False,
    ) -> Path:
        return self._run(_flows.view_to(self, filename, dest, subfolder, type, overwrite))

    def download(
        self, output: OutputFile | Mapping[str, Any], dest_dir: str | Path, *, overwrite: bool = False
    ) -> Path:
        return self._run(_flows.download(self, output, dest_dir, overwrite))

    def download_all(self, result: Result, dest_dir: str | Path, *, overwrite: bool = False) -> list[Path]:
        return self._run(_flows.download_all(self, result, dest_dir, overwrite))


# -- Job -------------------------------------------------------------------------------------------


@_docs.documented(_docs.JOB)
class Job(JobBase):
    """A submitted (or attached) prompt. Iterate :meth:`events`, or just :meth:`wait`.

    ``node_errors`` holds errors the server reported while accepting the prompt: outputs listed
    there were dropped and will not run (a 200 from ``/prompt`` can carry them). ``attached`` is
    True when the prompt was already on the server (:meth:`Client.attach`, ``submit_once``).
    """

    _client: Client
    _hub: _Hub | None

    def events(self, *, timeout: float | None = None) -> Iterator[Event]:
        yield from self._follow(timeout, positions=True)

    def wait(self, timeout: float | None = None) -> Result:
        for _ in self._follow(timeout, positions=False):
            pass
        return self.result()

    def result(self) -> Result:
        if self._flow.result is None:
            for _ in self._follow(None, positions=False):
                pass
        return self._outcome()

    def cancel(self) -> CancelOutcome:
        return self._client.cancel(self.prompt_id)

    def _follow(self, timeout: float | None, *, positions: bool) -> Iterator[Event]:
        """The :class:`JobFlow` loop as events, this job performing its actions."""
        flow = self._flow.follow(self._limit(timeout), positions=positions)
        return _flows.follow(flow, self, self.prompt_id)

    # -- the actions of the job flow ------------------------------------------------------------

    def _do_read_queue(self, a: Any) -> QueueState:
        return self._client.queue()

    def _do_read_history(self, a: Any) -> dict[str, Any] | None:
        return self._client.history_entry(self.prompt_id)

    def _do_delete_queued(self, a: Any) -> None:
        self._client.delete_queued([self.prompt_id] * a.count)

    def _do_sleep(self, a: Any) -> None:
        time.sleep(a.seconds)

    def _do_receive(self, a: Any) -> Any:
        assert self._hub is not None
        try:
            return self._hub.next(self.prompt_id, a.timeout)
        except SocketLost:
            return LOST

    def _do_connect(self, a: Any) -> bool | ServerUnreachable:
        assert self._hub is not None
        try:
            return self._hub.ensure()
        except ServerUnreachable as exc:
            return exc

    def _do_close_socket(self, a: Any) -> None:
        assert self._hub is not None
        self._hub.close()
        self._client._forget_hub(self._hub)
