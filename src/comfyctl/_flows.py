"""What both clients decide, written once (sans-IO, like :class:`comfyctl._jobstate.JobFlow`).

Every public method of :class:`comfyctl.Client` and :class:`comfyctl.AsyncClient` is a flow here:
a generator that yields *actions* (send one HTTP attempt, read its body under the cap, sleep, open
the WebSocket, save a download...) and takes the answers back. The retry loop, ``submit``'s
re-send rule and landing check, ``attach``'s choice of socket, ``cancel``'s reads and the status →
error mapping are decided here; the twins only perform actions (their ``_do_<what>`` methods) with
httpx/websockets, threads or asyncio. An exception raised while performing an action is thrown
into the flow at its ``yield``, so a flow meets I/O failures where it asked for the I/O.

No httpx, websockets or asyncio here (``adrive`` is an ``async def`` that awaits only the twin).
"""

from __future__ import annotations

import json
import mimetypes
import time
from collections.abc import AsyncIterator, Generator, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar, TypeVar

from comfyctl import _protocol as proto
from comfyctl._files import readable, upload_source, view_target
from comfyctl._jobstate import CancelledIds, Emit, EventRouter, Sleep
from comfyctl._safepath import safe_relpath
from comfyctl.errors import ComfyError, JobLost, NotFound, RequestTimeout, ServerUnreachable, TransportError
from comfyctl.events import Event, feature_flags_message
from comfyctl.nodedefs import NodeDefs
from comfyctl.results import OutputFile, QueueState, Result, SystemStats, UploadedFile
from comfyctl.settings import Settings

T = TypeVar("T")
Flow = Generator[Any, Any, T]
_LOG_TIMEOUT = 5.0


# -- actions ---------------------------------------------------------------------------------------


@dataclass(slots=True)
class Call:
    """One request as the flows describe it; ``kw`` goes to httpx (json, params, files, data)."""

    method: str
    path: str
    retry: bool | None = None  # None: GETs are repeated, others are not
    prompt: Mapping[str, Any] | None = None  # POST /prompt: a 400 becomes PromptRejected
    timeout: float | None = None
    whole: bool = False  # read the body without the cap (view)
    stream: bool = False  # leave the body unread (download)
    kw: Mapping[str, Any] = field(default_factory=dict)

    @property
    def route(self) -> str:
        return proto.api(self.path)

    @property
    def idempotent(self) -> bool:
        return self.method == "GET" if self.retry is None else self.retry


@dataclass(slots=True)
class Answered:
    """An HTTP answer: status and headers read, the body in ``body`` once read."""

    status: int
    retry_after: str | None
    response: Any = field(repr=False)
    body: bytes | bytearray = b""

    @property
    def content_type(self) -> str:
        return str(self.response.headers.get("content-type", ""))

    @property
    def url(self) -> str:
        return str(self.response.request.url)

    @property
    def query(self) -> Mapping[str, str]:
        """The request's query (read only for an error: parsing it costs on every answer)."""
        return dict(self.response.request.url.params)


@dataclass(slots=True)
class Failed:
    """An attempt that got no answer: our error, and what the retry rule needs to know."""

    error: ComfyError
    sent: bool  # the request may have reached the server
    read_timeout: bool
    final: bool  # a refused TLS handshake: the same server would refuse again


def answered(response: Any) -> Answered:
    """An httpx response (headers read, body not yet) as an :class:`Answered`."""
    return Answered(
        status=response.status_code,
        retry_after=response.headers.get("retry-after"),
        response=response,
    )


@dataclass(slots=True)
class Send:
    """Send ``call`` once: answer :class:`Answered` (body unread) or :class:`Failed`."""

    method: ClassVar[str] = "_do_send"
    call: Call


@dataclass(slots=True)
class Read:
    """Read the body into ``body`` (a :class:`~comfyctl._protocol.CappedBody`) and close the
    response: answer :meth:`done`, or :class:`Failed` when the body breaks off."""

    method: ClassVar[str] = "_do_read"
    answered: Answered
    call: Call
    body: proto.CappedBody

    def done(self) -> Answered:
        a = self.answered  # not dataclasses.replace: this runs for every answer
        return Answered(a.status, a.retry_after, a.response, self.body.buffer)


@dataclass(slots=True)
class Discard:
    """Close an answer that will not be used (a retry follows)."""

    method: ClassVar[str] = "_do_discard"
    answered: Answered


@dataclass(slots=True)
class Save:
    """Stream the answer's body to ``folder/rel`` through a Sink: answer the path written."""

    method: ClassVar[str] = "_do_save"
    answered: Answered
    folder: Path
    rel: PurePosixPath
    overwrite: bool


@dataclass(slots=True)
class EnsureSocket:
    """``hub.ensure()``: answer its bool, or the :class:`ServerUnreachable` it raised."""

    method: ClassVar[str] = "_do_ensure_socket"
    hub: EventRouter


@dataclass(slots=True)
class NewHub:
    """A socket hub of the client's own kind for ``client_id`` (kept until used or closed)."""

    method: ClassVar[str] = "_do_new_hub"
    client_id: str


@dataclass(slots=True)
class WsOpen:
    """Open a WebSocket: answer the connection, or how it failed (a ``SocketFailure``)."""

    method: ClassVar[str] = "_do_ws_open"
    url: str
    headers: Mapping[str, str]
    timeout: float


@dataclass(slots=True)
class WsSend:
    """Send one text frame: answer True, or False when the socket failed."""

    method: ClassVar[str] = "_do_ws_send"
    ws: Any
    text: str


@dataclass(slots=True)
class WsClose:
    method: ClassVar[str] = "_do_ws_close"
    ws: Any


# -- drivers ---------------------------------------------------------------------------------------


class _Done:
    """The flow's result: what ``send``/``throw`` gave instead of an action."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


def _step(flow: Flow[Any], answer: Any, error: BaseException | None) -> Any:
    """The flow's next action, or :class:`_Done` with its result."""
    try:
        return flow.throw(error) if error is not None else flow.send(answer)
    except StopIteration as stop:
        return _Done(stop.value)


def drive(flow: Flow[T], doer: Any) -> T:
    """Run ``flow`` to its end, ``doer`` performing each action (the sync twins)."""
    answer, error = None, None
    while not isinstance(step := _step(flow, answer, error), _Done):
        try:
            answer, error = getattr(doer, step.method)(step), None
        except BaseException as exc:  # thrown into the flow, where the I/O was asked for
            answer, error = None, exc
    result: T = step.value
    return result


async def adrive(flow: Flow[T], doer: Any) -> T:
    """:func:`drive` for the async twins: ``doer``'s methods are awaited."""
    answer, error = None, None
    while not isinstance(step := _step(flow, answer, error), _Done):
        try:
            answer, error = await getattr(doer, step.method)(step), None
        except BaseException as exc:
            answer, error = None, exc
    result: T = step.value
    return result


def follow(flow: Flow[None], doer: Any, prompt_id: str) -> Iterator[Event]:
    """A job's :class:`JobFlow` as events (sync); its errors name the prompt."""
    answer, error = None, None
    try:
        while not isinstance(step := _step(flow, answer, error), _Done):
            if isinstance(step, Emit):
                answer, error = None, None
                yield step.event
                continue
            try:
                answer, error = getattr(doer, step.method)(step), None
            except BaseException as exc:
                answer, error = None, exc
    except ComfyError as exc:
        proto.with_prompt(exc, prompt_id)
        raise


async def afollow(flow: Flow[None], doer: Any, prompt_id: str) -> AsyncIterator[Event]:
    """:func:`follow` for the async job."""
    answer, error = None, None
    try:
        while not isinstance(step := _step(flow, answer, error), _Done):
            if isinstance(step, Emit):
                answer, error = None, None
                yield step.event
                continue
            try:
                answer, error = await getattr(doer, step.method)(step), None
            except BaseException as exc:
                answer, error = None, exc
    except ComfyError as exc:
        proto.with_prompt(exc, prompt_id)
        raise


# -- the twins' shared state -----------------------------------------------------------------------


class ClientBase:
    """What :class:`comfyctl.Client` and :class:`comfyctl.AsyncClient` hold in common: resolved
    settings, the client id, the socket hubs, the ids cancelled here. No I/O (constructors do none)."""

    _hub_class: ClassVar[Any]

    def __init__(
        self,
        url: str | None,
        token: str | None,
        headers: Mapping[str, str] | None,
        verify: bool | str | None,
        timeout: float | None,
        config_file: Any,
        client_id: str | None,
        transport: Any,
        ws_connect: Any,
        settings: Settings | None,
    ):
        self.settings = settings or Settings.resolve(
            url, token=token, headers=headers, verify=verify, timeout=timeout, config_file=config_file
        )
        self.client_id = client_id or proto.new_id()
        self._transport = transport
        self._ws_factory = ws_connect
        self._ws_tls: Any = None  # built on the first wss connect, kept for reconnects
        self._hub = self._hub_class(self, self.client_id)
        self._node_defs: NodeDefs | None = None
        self._attached_hubs: list[Any] = []
        self._cancelled = CancelledIds()  # dequeued here: their jobs end as Interrupted, not lost
        self._closed = False

    @property
    def url(self) -> str:
        """The server URL with secrets redacted."""
        return self.settings.url

    def _forget_hub(self, hub: Any) -> None:
        """An attached job is done with its private socket: not kept until ``close()``."""
        if hub in self._attached_hubs:
            self._attached_hubs.remove(hub)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"


# -- requests: the retry loop, the cap, status → error -----------------------------------------------


def request(call: Call, settings: Settings) -> Flow[Answered]:
    """Send ``call``, repeating only what is safe (backoff + jitter): GETs and ``retry=True`` calls
    after connection errors and 408/429/502/503/504, any call when the connection could not be
    made (nothing was sent). The body is read with the cap unless ``whole`` or ``stream``.

    Raises:
        ComfyError: the mapped transport error, or the error for the answer's status.
    """
    attempts = settings.retries + 1
    url = settings.base_url + call.route
    for attempt in range(attempts):
        last = attempt == attempts - 1
        got = yield Send(call)
        if isinstance(got, Answered) and got.status < 400 and not call.stream:
            # RETRY_STATUSES are all >= 400: a body worth reading is the answer itself
            cap = None if call.whole else settings.max_response_bytes
            body = proto.CappedBody(cap, method=call.method, url=url, declared=_length(got))
            got = yield Read(got, call, body)
        if isinstance(got, Failed):
            retry_errors = call.idempotent and not call.stream  # a body cut off is not re-fetched
            delay = None if got.final else _error_delay(got, attempt, last, retry_errors)
            if delay is None:
                raise got.error
        else:
            delay = proto.answer_retry_delay(
                attempt, got.status, got.retry_after, last=last, idempotent=call.idempotent
            )
            if delay is None:
                if got.status >= 400:
                    raise (yield from status_error(call, got, settings))
                done: Answered = got
                return done
            yield Discard(got)
        yield Sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover


def _length(got: Answered) -> str | None:
    return got.response.headers.get("content-length") if got.response is not None else None


def _error_delay(got: Failed, attempt: int, last: bool, idempotent: bool) -> float | None:
    return proto.error_retry_delay(
        attempt, last=last, idempotent=idempotent, sent=got.sent, read_timeout=got.read_timeout
    )


def status_error(call: Call, got: Answered, settings: Settings) -> Flow[ComfyError]:
    """The error for an unexpected status: its body (read up to the cap, only quoted) and, for a
    5xx, the last lines of the server's log."""
    url = settings.base_url + call.route
    body = proto.CappedBody(settings.max_response_bytes, method=call.method, url=url, truncate=True)
    read = yield Read(got, call, body)
    text = body.buffer.decode("utf-8", "replace") if isinstance(read, Answered) else ""
    tail = None
    if got.status >= 500 and not call.path.endswith("/internal/logs"):
        logs = Call("GET", "/internal/logs", retry=False, timeout=_LOG_TIMEOUT)
        try:
            tail = proto.log_tail((yield from json_call(logs, settings)))
        except ComfyError:
            tail = None
    return proto.error_for_status(
        got.status,
        method=call.method,
        url=url,
        body=settings.redact(text),
        content_type=got.content_type,
        prompt=call.prompt,
        log_tail=settings.redact(tail) if tail else None,
        authenticated="Authorization" in settings.request_headers(),
        query=got.query,
    )


def json_call(call: Call, settings: Settings) -> Flow[Any]:
    """:func:`request` and the answer's JSON (a non-JSON 2xx is a server fault, not a crash)."""
    got = yield from request(call, settings)
    return proto.decode_json(got.body, method=call.method, url=got.url, redact=settings.redact)


def _expect(path: str, kind: type, settings: Settings, **kw: Any) -> Flow[Any]:
    data = yield from json_call(Call("GET", path, kw=kw), settings)
    return proto.expect(data, kind, method="GET", url=path, redact=settings.redact)


def _seg(value: str) -> str:
    from urllib.parse import quote

    return quote(str(value), safe="")


# -- server info ---------------------------------------------------------------------------------------


def system_stats(client: ClientBase) -> Flow[SystemStats]:
    return proto.parse_system_stats((yield from json_call(Call("GET", "/system_stats"), client.settings)))


def features(client: ClientBase) -> Flow[dict[str, Any]]:
    return dict((yield from _expect("/features", dict, client.settings)))


def object_info(client: ClientBase, class_type: str | None) -> Flow[dict[str, Any]]:
    path = "/object_info" if class_type is None else f"/object_info/{_seg(class_type)}"
    data = yield from json_call(Call("GET", path), client.settings)
    return proto.parse_object_info(data, url=path, redact=client.settings.redact)


def node_defs(client: ClientBase) -> Flow[NodeDefs]:
    if client._node_defs is None:
        client._node_defs = NodeDefs((yield from object_info(client, None)))
    return client._node_defs


def names(client: ClientBase, path: str) -> Flow[list[str]]:
    """A JSON list of names (``/models``, ``/models/{folder}``, ``/embeddings``, ``/extensions``)."""
    return [str(m) for m in (yield from _expect(path, list, client.settings))]


def models(client: ClientBase, folder: str | None) -> Flow[list[str]]:
    return (yield from names(client, "/models" if folder is None else f"/models/{_seg(folder)}"))


def logs(client: ClientBase) -> Flow[str]:
    data = yield from json_call(Call("GET", "/internal/logs"), client.settings)
    return data if isinstance(data, str) else json.dumps(data)


# -- queue and history -------------------------------------------------------------------------------


def queue(client: ClientBase) -> Flow[QueueState]:
    return proto.parse_queue((yield from json_call(Call("GET", "/queue"), client.settings)))


def post(client: ClientBase, path: str, body: Mapping[str, Any], *, retry: bool = True) -> Flow[None]:
    """A POST whose answer does not matter (queue/history delete and clear, free, interrupt)."""
    yield from request(
        Call("POST", path, retry=retry, kw={"json": dict(body)} if body else {}), client.settings
    )


def delete_queued(client: ClientBase, prompt_ids: Iterable[str]) -> Flow[None]:
    yield from post(client, "/queue", {"delete": [str(p) for p in prompt_ids]})


def history(client: ClientBase, max_items: int | None, offset: int | None) -> Flow[dict[str, dict[str, Any]]]:
    params = proto.history_params(max_items, offset)
    return dict((yield from _expect("/history", dict, client.settings, params=params)))


def history_entry(client: ClientBase, prompt_id: str) -> Flow[dict[str, Any] | None]:
    path = f"/history/{_seg(prompt_id)}"
    data = yield from json_call(Call("GET", path), client.settings)
    entry: dict[str, Any] | None = proto.parse_history_entry(
        data, prompt_id, url=path, redact=client.settings.redact
    )
    return entry


def jobs(client: ClientBase, filters: Mapping[str, Any]) -> Flow[dict[str, Any]]:
    params = {
        k: (",".join(v) if isinstance(v, (list, tuple)) else v) for k, v in filters.items() if v is not None
    }
    return dict((yield from _expect("/jobs", dict, client.settings, params=params)))


def job_info(client: ClientBase, prompt_id: str) -> Flow[dict[str, Any]]:
    return dict((yield from _expect(f"/jobs/{_seg(prompt_id)}", dict, client.settings)))


# -- work: submit (with the re-send rule), attach, submit_once, cancel --------------------------------


def submit(
    client: ClientBase,
    workflow: Mapping[str, Any],
    prompt_id: str | None,
    *,
    front: bool = False,
    number: float | None = None,
    extra_data: Mapping[str, Any] | None = None,
    partial_execution_targets: Sequence[str] | None = None,
) -> Flow[dict[str, Any]]:
    """Queue ``workflow``; returns the keyword arguments of its job.

    The id is chosen here and the socket opened before the POST, so no event can be missed. A
    POST that times out or is reset is re-sent once, with the same id, only after ``/queue`` and
    ``/history`` show it did not land; every error from here on names the prompt.
    """
    pid = str(prompt_id) if prompt_id is not None else proto.new_prompt_id()
    body = proto.prompt_body(
        workflow,
        client_id=client.client_id,
        prompt_id=pid,
        front=front,
        number=number,
        extra_data=extra_data,
        partial_execution_targets=partial_execution_targets,
    )
    hub = client._hub
    # the socket must listen before the prompt can finish; unreachable: the POST decides, then polls
    yield EnsureSocket(hub)
    hub.register(pid)
    try:
        got_id, got_number, node_errors, resent = yield from _post_prompt(client.settings, body, workflow)
    except ComfyError as exc:
        hub.unregister(pid)
        proto.with_prompt(exc, pid)
        raise
    except BaseException:
        hub.unregister(pid)
        raise
    if got_id and got_id != pid:
        # Servers older than client-chosen ids ignore ours: follow the id they gave.
        hub.unregister(pid)
        hub.register(got_id)
    return {
        "prompt_id": got_id or pid,
        "number": got_number,
        "node_errors": node_errors,
        "hub": hub,
        "resent": resent,
    }


def _post_prompt(
    settings: Settings, body: dict[str, Any], workflow: Mapping[str, Any]
) -> Flow[tuple[str | None, float | None, dict[str, Any], bool]]:
    """POST the prompt: (prompt id, number, node_errors, re-sent?)."""
    pid = body["prompt_id"]
    call = Call("POST", "/prompt", retry=False, prompt=workflow, kw={"json": body})
    for attempt in (0, 1):
        try:
            data = yield from json_call(call, settings)
            got = proto.parse_submit(data, method="POST", url="/prompt", redact=settings.redact)
            return (*got, attempt == 1)
        except (RequestTimeout, TransportError) as exc:
            if attempt or isinstance(exc, ServerUnreachable):
                raise
            # The server does not check prompt id uniqueness: re-send only if it did not land.
            try:
                item = proto.queued(
                    proto.parse_queue((yield from json_call(Call("GET", "/queue"), settings))), pid
                )
                entry = None if item is not None else (yield from _entry(pid, settings))
            except ComfyError as check:
                raise proto.landing_unknown(check, pid, exc) from exc
            if item is not None:
                return pid, item.number, {}, False
            if entry is not None:
                return pid, None, {}, False
    raise AssertionError("unreachable")  # pragma: no cover


def _entry(prompt_id: str, settings: Settings) -> Flow[Any]:
    path = f"/history/{_seg(prompt_id)}"
    data = yield from json_call(Call("GET", path), settings)
    return proto.parse_history_entry(data, prompt_id, url=path, redact=settings.redact)


def attach(client: ClientBase, prompt_id: str, follow_progress: bool = False) -> Flow[dict[str, Any]]:
    """The keyword arguments of a job for a prompt queued by anyone (see ``Client.attach``).

    Raises:
        JobLost: the prompt is in neither the queue nor the history.
    """
    pid = str(prompt_id)
    try:
        entry = yield from history_entry(client, pid)
        if entry is not None:
            return {"prompt_id": pid, "hub": None, "entry": entry, "attached": True}
        item = proto.queued((yield from queue(client)), pid)
        if item is None:
            entry = yield from history_entry(client, pid)  # it may have finished between the two reads
            if entry is None:
                raise proto.job_gone(pid)
            return {"prompt_id": pid, "hub": None, "entry": entry, "attached": True}
    except ComfyError as exc:
        proto.with_prompt(exc, pid)
        raise
    sock = client._hub
    if proto.attach_socket(item.client_id, client.client_id, follow_progress) == "owner":
        sock = yield NewHub(item.client_id or "")
    opened = yield EnsureSocket(sock)
    hub = None if isinstance(opened, ServerUnreachable) else sock
    if hub is not None:
        hub.register(pid)
    return {
        "prompt_id": pid,
        "number": item.number,
        "hub": hub,
        "private": hub is not None and hub is not client._hub,
        "foreign": item.client_id != sock.client_id,
        "reconcile_first": True,
        "attached": True,
    }


def submit_once(
    client: ClientBase, workflow: Mapping[str, Any], prompt_id: str, **kw: Any
) -> Flow[dict[str, Any]]:
    """The exactly-once rule: attach when the server's history or queue knows ``prompt_id``,
    else submit under that id (with :func:`submit`'s own re-send rule)."""
    try:
        return (yield from attach(client, prompt_id))
    except JobLost:
        return (yield from submit(client, workflow, prompt_id, **kw))


def interrupt(client: ClientBase, prompt_id: str | None) -> Flow[None]:
    yield from post(
        client, "/interrupt", {"prompt_id": prompt_id} if prompt_id else {}, retry=prompt_id is not None
    )


def cancel(client: ClientBase, prompt_id: str) -> Flow[proto.CancelOutcome]:
    """Dequeue when pending, interrupt when a fresh queue read shows it running, clear its
    history when finished; ``not_found`` otherwise."""
    pid = str(prompt_id)
    state = yield from queue(client)
    if state.position(pid) is not None:
        yield from delete_queued(client, [pid])
        client._cancelled.add(pid)
        if (yield from queue(client)).is_running(pid):  # it started between the read and the delete
            yield from interrupt(client, pid)
            return "interrupted"
        return "dequeued"
    if state.is_running(pid):
        yield from interrupt(client, pid)
        return "interrupted"
    if (yield from history_entry(client, pid)) is not None:
        yield from post(client, "/history", {"delete": [pid]})
        return "cleared"
    return "not_found"


# -- files -------------------------------------------------------------------------------------------


def upload(
    client: ClientBase,
    file: Any,
    filename: str | None,
    subfolder: str,
    type: str,
    overwrite: bool,
    mask_for: OutputFile | UploadedFile | Mapping[str, Any] | None,
) -> Flow[UploadedFile]:
    """POST an upload; a mask's original is checked first (``HEAD /view``): ComfyUI quirk, a
    missing original stores nothing yet answers 200. A local file is opened for the request only
    (the one local I/O of the flows; httpx's async multipart reads sync file objects too)."""
    settings = client.settings
    name, content = upload_source(file, filename)
    route, data = proto.upload_form(name, subfolder, type, overwrite, mask_for)
    if mask_for is not None:
        original = proto.original_params(data)
        try:
            yield from request(Call("HEAD", "/view", kw={"params": original}), settings)
        except NotFound as exc:
            raise proto.missing_original(original) from exc
    mime = mimetypes.guess_type(name)[0] or "application/octet-stream"
    with readable(content) as body:
        call = Call("POST", route, retry=False, kw={"files": {"image": (name, body, mime)}, "data": data})
        payload = yield from json_call(call, settings)
    return proto.parse_upload(payload, method="POST", url=route, redact=settings.redact)


def view(client: ClientBase, filename: str, subfolder: str, type: str) -> Flow[bytes]:
    params = proto.asked_view_params(filename, subfolder, type)
    got = yield from request(Call("GET", "/view", whole=True, kw={"params": params}), client.settings)
    return bytes(got.body)


def save(
    client: ClientBase, params: dict[str, str], folder: Path, rel: PurePosixPath, overwrite: bool
) -> Flow[Path]:
    """Stream one ``/view`` file into ``folder/rel`` (a connection that never opened is retried,
    a body cut off is not)."""
    got = yield from request(Call("GET", "/view", stream=True, kw={"params": params}), client.settings)
    path: Path = yield Save(got, folder, rel, overwrite)
    return path


def view_to(
    client: ClientBase, filename: str, dest: str | Path, subfolder: str, type: str, overwrite: bool
) -> Flow[Path]:
    folder, rel = view_target(dest, filename)
    return (
        yield from save(client, proto.asked_view_params(filename, subfolder, type), folder, rel, overwrite)
    )


def download(
    client: ClientBase, output: OutputFile | Mapping[str, Any], dest_dir: str | Path, overwrite: bool
) -> Flow[Path]:
    filename, subfolder, ftype = proto.output_params(output)
    rel = safe_relpath(filename, subfolder)
    return (
        yield from save(client, proto.view_params(filename, subfolder, ftype), Path(dest_dir), rel, overwrite)
    )


def download_all(
    client: ClientBase, result: Result, dest_dir: str | Path, overwrite: bool
) -> Flow[list[Path]]:
    """Every output of ``result``; an error names the prompt (``details["prompt_id"]``)."""
    paths: list[Path] = []
    try:
        for output in result.outputs:
            paths.append((yield from download(client, output, dest_dir, overwrite)))
    except ComfyError as exc:
        proto.with_prompt(exc, result.prompt_id)
        raise
    return paths


# -- the WebSocket -------------------------------------------------------------------------------------


def open_socket(hub: EventRouter, client: ClientBase) -> Flow[bool]:
    """Open ``hub``'s socket if needed and :class:`SocketPolicy` allows; False: jobs poll for now.

    Raises:
        ServerUnreachable: nothing answers at all (from the twin's ``_do_ws_open``).
        UsageError: the client is closed.
    """
    if client._closed:
        raise proto.closed_error()
    if hub.ws is not None or not hub.policy.may_try(time.monotonic()):
        return hub.ws is not None
    settings = client.settings
    url = f"{settings.ws_base}/ws?clientId={hub.client_id}"
    ws = yield WsOpen(url, settings.request_headers(), hub.policy.open_timeout(settings.timeout))
    if isinstance(ws, str):  # refused, transient or hung: HTTP may still work, poll meanwhile
        hub.policy.failed(ws, time.monotonic())  # type: ignore[arg-type]  # a SocketFailure
        return False
    # ComfyUI honours feature flags only in the first message a client sends.
    if not (yield WsSend(ws, feature_flags_message())):
        yield WsClose(ws)
        hub.policy.failed("transient", time.monotonic())
        return False
    if client._closed:  # closed while we were connecting
        yield WsClose(ws)
        raise proto.closed_error()
    hub.policy.opened()
    hub.ws = ws
    return True
