"""The synchronous client: :class:`Client` and :class:`Job` (httpx models + websockets.sync).

A thin I/O layer: each method builds a request with :mod:`comfyctl._protocol`, sends it to an httpx
transport (the test seam; :mod:`comfyctl._http`'s keep-alive transport by default), and parses the
answer there; job progress is decided by :mod:`comfyctl._jobstate`. The asynchronous twin is
:mod:`comfyctl.aio` (same names and signatures; neither wraps the other).

One WebSocket per client (one client id): events are routed to waiting jobs by prompt id, so many
jobs can be submitted and waited for in any order without missing a completion.
"""

from __future__ import annotations

import json
import mimetypes
import os
import posixpath
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import IO, Any, BinaryIO, Literal

import httpx
import websockets.exceptions as ws_exc

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
    SocketFailure,
    Tick,
)
from comfyctl._protocol import closed_error
from comfyctl._safepath import free_name, safe_relpath
from comfyctl.errors import (
    ComfyError,
    JobLost,
    LocalIOError,
    NotFound,
    RequestTimeout,
    ServerUnreachable,
    TransportError,
    UsageError,
)
from comfyctl.events import (
    Event,
    feature_flags_message,
    parse_event,
)
from comfyctl.nodedefs import NodeDefs
from comfyctl.results import OutputFile, QueueState, Result, SystemStats, UploadedFile
from comfyctl.settings import Settings

__all__ = ["CancelOutcome", "Client", "Job"]

CancelOutcome = Literal["dequeued", "interrupted", "cleared", "not_found"]
FileType = Literal["input", "temp", "output"]
_CHUNK = 1 << 20
_WS_MAX_SIZE = 1 << 28
_LOG_TIMEOUT = 5.0
#: Small requests go out at once (httpx writes headers and body separately; Nagle would hold the body).
NODELAY = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]


class SocketLost(Exception):
    """Internal: the shared WebSocket closed under a waiting job."""


# -- helpers shared with comfyctl.aio ---------------------------------------------------------------


def ssl_context(verify: bool | str) -> ssl.SSLContext | bool:
    """httpx/websockets TLS setting: True (system/certifi), False, or a context for a CA bundle."""
    if verify is True:
        return True
    if verify is False:
        return _no_verify_context()
    try:
        return ssl.create_default_context(cafile=verify)
    except (OSError, ssl.SSLError) as exc:
        raise UsageError(f"cannot load the CA bundle {verify!r}: {exc}") from exc


def ws_ssl_context(verify: bool | str) -> ssl.SSLContext:
    """The WebSocket's TLS context: the same trust store as HTTP's (httpx: certifi, or
    ``SSL_CERT_FILE``/``SSL_CERT_DIR``), so https and wss never disagree about a certificate."""
    tls = ssl_context(verify)
    return tls if isinstance(tls, ssl.SSLContext) else httpx.create_ssl_context()


def env_proxy(settings: Settings) -> str | None:
    """The proxy the environment (HTTP(S)_PROXY, ALL_PROXY, NO_PROXY) names for this server."""
    import urllib.request
    from urllib.parse import urlsplit

    parts = urlsplit(settings.base_url)
    proxies = urllib.request.getproxies()
    proxy = proxies.get(parts.scheme) or proxies.get("all")
    if proxy and not urllib.request.proxy_bypass(parts.hostname or ""):
        return proxy
    return None


def default_transport(kind: Any, settings: Settings, verify: ssl.SSLContext | bool) -> Any:
    """The transport a client builds when none is given: through the environment's proxy (httpx's
    transport) if one applies; else :class:`~comfyctl._http.KeepAliveTransport` for the sync client
    and httpx's own with TCP_NODELAY for the async one. No CA loading for a plain-http server (it
    costs start-up time).

    Raises:
        UsageError: the proxy needs a package that is not installed (SOCKS: ``httpx[socks]``).
    """
    proxy = env_proxy(settings)
    if proxy is None and settings.base_url.startswith("http://"):
        verify = False  # no TLS on this connection: skip loading the CA store
    if proxy is None and kind is httpx.HTTPTransport:
        from comfyctl._http import KeepAliveTransport

        return KeepAliveTransport(verify)
    try:
        return kind(verify=verify, proxy=proxy, socket_options=NODELAY)
    except ImportError as exc:
        raise UsageError(
            f"the proxy {settings.redact(str(proxy))} from the environment needs a package that is "
            f"not installed: {exc}",
            hint="pip install 'httpx[socks]', or unset ALL_PROXY / set NO_PROXY for this server",
        ) from exc


def _no_verify_context() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


#: Answers that mean "no WebSocket here" (a proxy or auth layer in front), not "try again soon".
_NO_WEBSOCKET = frozenset({400, 401, 403, 404, 405, 426, 501})


def ws_failure(exc: BaseException) -> SocketFailure | None:
    """How a failed WebSocket open counts for :class:`SocketPolicy`; None: nothing answers at all.

    Raises:
        UsageError: the environment's proxy needs a missing package (SOCKS: python-socks).
    """
    if isinstance(exc, ImportError):
        raise UsageError(
            f"the WebSocket cannot go through the environment's proxy: {exc}",
            hint="pip install python-socks, or set NO_PROXY for this server",
        ) from exc
    if isinstance(exc, ws_exc.InvalidStatus):
        return "blocked" if exc.response.status_code in _NO_WEBSOCKET else "transient"
    if isinstance(exc, ws_exc.InvalidMessage):
        return "transient"  # a cut or garbled answer, e.g. from a server that is restarting
    if isinstance(exc, (ws_exc.InvalidHandshake, ws_exc.InvalidURI)):
        return "blocked"  # answered without an upgrade: something in front does not do WebSockets
    if isinstance(exc, TimeoutError) or type(exc).__name__ == "TimeoutError":
        return "hung"  # (Python 3.10's asyncio.TimeoutError is not the builtin one)
    return None


def _tls_refused(exc: Exception) -> str | None:
    """Why a TLS handshake failed for good ("version": TLS spoken to a plain-HTTP port; "certificate":
    not trusted), or None: a retry would meet the same server and the same certificate."""
    if not isinstance(exc, httpx.ConnectError):
        return None
    upper = str(exc).upper()
    if "WRONG_VERSION_NUMBER" in upper or "RECORD LAYER" in upper:
        return "version"
    if "CERTIFICATE" in upper or "SSL" in upper:
        return "certificate"
    return None


def error_retry_delay(exc: httpx.HTTPError, attempt: int, *, last: bool, idempotent: bool) -> float | None:
    """:func:`comfyctl._protocol.error_retry_delay` for an httpx error (a refused handshake is final)."""
    if _tls_refused(exc):
        return None
    return proto.error_retry_delay(
        attempt,
        last=last,
        idempotent=idempotent,
        sent=not isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout)),
        read_timeout=isinstance(exc, httpx.ReadTimeout),
    )


def transport_error(exc: Exception, method: str, url: str, timeout: float, settings: Settings) -> ComfyError:
    """Map an httpx exception to our tree (the message is redacted)."""
    text = settings.redact(str(exc) or type(exc).__name__)
    if isinstance(exc, httpx.TimeoutException):
        if isinstance(exc, httpx.ConnectTimeout):
            return ServerUnreachable(
                f"{method} {url}: could not connect within {timeout:g} s",
                hint=f"is ComfyUI running at {settings.url}?",
            )
        return RequestTimeout(f"{method} {url}: no answer within {timeout:g} s")
    if isinstance(exc, httpx.ConnectError):
        refused = _tls_refused(exc)
        if refused == "version":
            # TLS spoken to a plain-HTTP port (ComfyUI serves http unless started with --tls-*)
            hint = f"the server speaks plain HTTP: use http:// instead of https:// (now {settings.url})"
        elif refused == "certificate":
            hint = "check the certificate: COMFYUI_CA_BUNDLE, or COMFYUI_VERIFY=0 if self-signed"
        else:
            hint = f"start ComfyUI, or pass the right URL (now {settings.url})"
        return ServerUnreachable(f"ComfyUI is not reachable at {settings.url}: {text}", hint=hint)
    hint = "the server or a proxy dropped the connection; retry"
    if settings.base_url.startswith("http://"):
        # A TLS server (ComfyUI started with --tls-*) closes a plain-HTTP connection unanswered.
        hint += f", or use https:// if the server speaks TLS (now {settings.url})"
    return TransportError(f"{method} {url}: the connection failed: {text}", hint=hint)


def file_arg(file: str | Path | bytes | BinaryIO, filename: str | None) -> tuple[str, Any]:
    """Upload argument → (file name, content for httpx) without reading a path into memory."""
    if isinstance(file, (bytes, bytearray)):
        if not filename:
            raise UsageError("uploading bytes needs filename=")
        return filename, bytes(file)
    if isinstance(file, (str, Path)):
        path = Path(file)
        if not path.is_file():
            raise UsageError(f"no such file to upload: {path}")
        return filename or path.name, path
    name = filename or os.path.basename(str(getattr(file, "name", "") or ""))
    if not name:
        raise UsageError("uploading a file object without a name needs filename=")
    return name, file


def upload_form(
    name: str,
    subfolder: str,
    type: str,
    overwrite: bool,
    mask_for: OutputFile | UploadedFile | Mapping[str, Any] | None,
) -> tuple[str, dict[str, str]]:
    if type not in ("input", "temp", "output"):
        # ComfyUI answers 500 for any other type.
        raise UsageError(f"upload type must be input, temp or output, not {type!r}")
    if not name.strip():
        raise UsageError("the upload needs a non-empty file name")
    stored = posixpath.normpath(posixpath.join(subfolder.replace("\\", "/"), name.replace("\\", "/")))
    if stored.startswith(("/", "../")) or stored == "..":
        # ComfyUI answers a bare 400 for a path leaving its folder; say why instead
        raise UsageError(
            f"upload path {stored!r} leaves the server's {type} folder",
            hint="use a relative subfolder and file name without '..'",
        )
    data = {"type": type, "subfolder": subfolder}
    if overwrite:
        data["overwrite"] = "true"
    if mask_for is None:
        return "/upload/image", data
    if isinstance(mask_for, OutputFile):
        ref = {"filename": mask_for.filename, "subfolder": mask_for.subfolder, "type": mask_for.type}
    elif isinstance(mask_for, UploadedFile):
        ref = {"filename": mask_for.name, "subfolder": mask_for.subfolder, "type": mask_for.type}
    else:
        ref = {
            "filename": str(mask_for.get("filename") or mask_for.get("name") or ""),
            "subfolder": str(mask_for.get("subfolder") or ""),
            "type": str(mask_for.get("type") or "input"),
        }
    if not ref["filename"]:
        raise UsageError("mask_for must name the original image (filename)")
    data["original_ref"] = json.dumps(ref)
    return "/upload/mask", data


def original_params(data: Mapping[str, str]) -> dict[str, str]:
    """``/view`` parameters of a mask upload's original image (for a HEAD: does it exist?)."""
    ref = json.loads(data["original_ref"])
    return proto.view_params(ref["filename"], ref["subfolder"], ref["type"])


def missing_original(params: Mapping[str, str]) -> UsageError:
    # ComfyUI quirk: /upload/mask with a missing original stores nothing yet answers 200 + a name
    where = "/".join(p for p in (params["subfolder"], params["filename"]) if p)
    return UsageError(
        f"the original image {where!r} is not in the server's {params['type']} folder",
        hint="upload the original first ('comfyctl upload FILE'), then its mask with --mask NAME",
    )


def output_params(output: OutputFile | Mapping[str, Any]) -> tuple[str, str, str]:
    if isinstance(output, OutputFile):
        return output.filename, output.subfolder, output.type
    if isinstance(output, Mapping) and isinstance(output.get("filename"), str):
        return output["filename"], str(output.get("subfolder") or ""), str(output.get("type") or "output")
    raise UsageError("download() takes an OutputFile or a {filename, subfolder, type} mapping")


class Sink:
    """Writes a download to a temp file beside its target and renames it into place when complete.

    A failed download leaves no file under the final name; existing files are kept unless
    ``overwrite`` (then the rename replaces them atomically), otherwise ``name (1).ext`` is used.
    """

    def __init__(self, folder: Path, rel: PurePosixPath, overwrite: bool):
        self.target = folder.joinpath(*rel.parts)
        self.root = folder
        self.overwrite = overwrite
        try:
            self.target.parent.mkdir(parents=True, exist_ok=True)
            _check_inside(self.root, self.target.parent)
            from comfyctl.offline import create_temp

            fd, tmp = create_temp(self.target.parent, ".comfyctl-", ".part")
        except OSError as exc:
            raise LocalIOError(
                f"cannot write into {self.target.parent}: {exc.strerror or exc}",
                hint="choose another destination, or free space / fix permissions there",
                details={"path": str(self.target.parent), "errno": exc.errno},
            ) from exc
        self.tmp = Path(tmp)
        self.file: IO[bytes] = os.fdopen(fd, "wb")

    def write(self, chunk: bytes) -> None:
        try:
            self.file.write(chunk)
        except OSError as exc:  # disk full, quota, I/O error
            raise self._error(exc) from exc

    def commit(self) -> Path:
        """Move the complete file into place; the temp file is gone afterwards in every case."""
        try:
            self.file.close()  # flushes: a full disk may only show here
            return self._place()
        except OSError as exc:
            raise self._error(exc) from exc
        finally:
            self.abort()

    def _place(self) -> Path:
        if self.overwrite:
            os.replace(self.tmp, self.target)
            return self.target
        parent = self.target.parent
        tried: set[PurePosixPath] = set()

        def taken(name: PurePosixPath) -> bool:
            # lexists: a broken symlink with the name exists for os.link, not for exists()
            return name in tried or os.path.lexists(parent / str(name))

        while True:
            name = free_name(PurePosixPath(self.target.name), taken)
            tried.add(name)  # each name is tried once: a refusal never repeats the same attempt
            final = parent / str(name)
            try:
                os.link(self.tmp, final)  # fails if the name was taken meanwhile: never clobbers
            except FileExistsError:
                continue
            except OSError:  # no hard links on this file system
                if os.path.lexists(final):
                    continue
                os.rename(self.tmp, final)
                return final
            return final  # the temp name is removed by commit()

    def _error(self, exc: OSError) -> UsageError | LocalIOError:
        details = {"path": str(self.target), "errno": exc.errno}
        if isinstance(exc, IsADirectoryError):  # the destination asked for is a folder: usage
            return UsageError(
                f"cannot write {self.target}: a folder has that name",
                hint="choose another destination",
                details=details,
            )
        # a full disk, a quota, permissions: the same call works once the disk is fixed
        return LocalIOError(
            f"cannot write {self.target}: {exc.strerror or exc}",
            hint="free space or fix permissions there, or choose another destination",
            details=details,
        )

    def abort(self) -> None:
        try:
            self.file.close()
        except OSError:
            pass
        try:
            self.tmp.unlink()
        except OSError:
            pass


def _check_inside(root: Path, path: Path) -> None:
    from comfyctl.errors import UnsafePath

    real_root, real = root.resolve(), path.resolve()
    if real != real_root and real_root not in real.parents:
        raise UnsafePath(f"{path} resolves outside {root} (a symlink?)", details={"path": str(path)})


def view_target(dest: str | Path, filename: str) -> tuple[Path, PurePosixPath]:
    """``view_to`` destination: a folder (keep the server's safe name) or a file path."""
    as_dir = str(dest).endswith(("/", os.sep))  # "out/" names a folder even before it exists
    dest = Path(dest)
    if as_dir or dest.is_dir():
        return dest, safe_relpath(filename)
    return dest.parent, PurePosixPath(dest.name)


# -- the WebSocket hub ---------------------------------------------------------------------------


class _Hub(EventRouter):
    """One WebSocket for one client id; frames are routed to waiting jobs by prompt id.

    Whoever waits reads: a waiting job takes the read lock, reads one frame, files it under its
    prompt id and lets go, so jobs can be waited for from several threads in any order.
    """

    def __init__(self, client: Client, client_id: str):
        super().__init__()
        self.client = client
        self.client_id = client_id
        self.ws: Any = None
        self.read_lock = threading.Lock()
        self.connect_lock = threading.Lock()

    @property
    def connected(self) -> bool:
        return self.ws is not None

    def ensure(self) -> bool:
        """Open the socket if needed and :class:`SocketPolicy` allows; False: jobs poll for now.

        Raises:
            ServerUnreachable: nothing answers at all.
            UsageError: the client is closed.
        """
        with self.connect_lock:
            client = self.client
            if client._closed:
                raise closed_error()
            if self.ws is not None or not self.policy.may_try(time.monotonic()):
                return self.ws is not None
            url = f"{client.settings.ws_base}/ws?clientId={self.client_id}"
            budget = self.policy.open_timeout(client.settings.timeout)
            try:
                ws = client._ws_connect(url, headers=client.settings.request_headers(), open_timeout=budget)
            except Exception as exc:
                kind = ws_failure(exc)
                if kind is not None:
                    # HTTP may still work: poll now, try the socket again when the policy says.
                    self.policy.failed(kind, time.monotonic())
                    return False
                if isinstance(exc, (OSError, ws_exc.WebSocketException)):
                    raise ServerUnreachable(
                        f"ComfyUI is not reachable at {client.settings.url}: "
                        f"{client.settings.redact(str(exc) or type(exc).__name__)}",
                        hint="start ComfyUI, or pass the right URL",
                    ) from exc
                raise
            try:
                # ComfyUI honours feature flags only in the first message a client sends.
                ws.send(feature_flags_message())
            except Exception:
                _quiet_close(ws)
                self.policy.failed("transient", time.monotonic())
                return False
            if client._closed:  # closed while we were connecting
                _quiet_close(ws)
                raise closed_error()
            self.policy.opened()
            self.ws = ws
            return True

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
            got = self.take(prompt_id)
            if got is not None:
                return got
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
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


# -- Client ---------------------------------------------------------------------------------------


class Client:
    """A synchronous ComfyUI client.

    Settings are resolved once, here: explicit argument > environment variable (``COMFYUI_URL``,
    ``COMFYUI_TOKEN``, ``COMFYUI_HEADERS``, ``COMFYUI_VERIFY``/``COMFYUI_CA_BUNDLE``,
    ``COMFYUI_TIMEOUT``) > config file (``$XDG_CONFIG_HOME/comfyctl/config.toml``) > default
    (``http://127.0.0.1:8188``, 30 s per API call, no limit on waiting for a generation). See
    :mod:`comfyctl.settings`. The constructor does no I/O; connections open on first use.

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
        self.settings = settings or Settings.resolve(
            url, token=token, headers=headers, verify=verify, timeout=timeout, config_file=config_file
        )
        self.client_id = client_id or proto.new_id()
        self._transport = transport
        self._ws_factory = ws_connect
        self._ws_tls: ssl.SSLContext | None = None  # built on the first wss connect, kept for reconnects
        self._tx: httpx.BaseTransport | None = None
        self._headers: dict[str, str] = {}
        self._hub = _Hub(self, self.client_id)
        self._node_defs: NodeDefs | None = None
        self._attached_hubs: list[_Hub] = []
        self._cancelled = CancelledIds()  # dequeued here: their jobs end as Interrupted, not lost
        self._lock = threading.Lock()
        self._closed = False

    # -- plumbing ---------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The server URL with secrets redacted."""
        return self.settings.url

    def __repr__(self) -> str:
        return f"Client({self.url!r})"

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the WebSocket and the HTTP connection pool, for good: waiting jobs and later
        calls raise :class:`UsageError`."""
        self._closed = True
        self._hub.close()
        for hub in self._attached_hubs:
            hub.close()
        self._attached_hubs.clear()
        tx, self._tx = self._tx, None
        if tx is not None:
            tx.close()  # like httpx.Client: a transport given to the client is closed with it

    def _send(self, method: str, route: str, *, timeout: float | None = None, **kw: Any) -> httpx.Response:
        """One request straight to the transport (httpx models, no httpx.Client layer: nothing of
        it is used here, and it costs as much CPU as the request itself on a local server). The
        body is not read: the caller reads it (capped) and closes the response."""
        with self._lock:
            if self._closed:
                raise closed_error()
            if self._tx is None:
                verify = ssl_context(self.settings.verify)
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

    def _read(self, resp: httpx.Response, method: str, url: str, *, whole: bool = False) -> bytes | bytearray:
        """The body of ``resp`` (then closed): at most ``max_response_bytes`` unless ``whole``."""
        try:
            if whole:
                return resp.read()
            body = proto.CappedBody(
                self.settings.max_response_bytes,
                method=method,
                url=url,
                declared=resp.headers.get("content-length"),
            )
            for chunk in resp.iter_bytes():
                body.add(chunk)
            return body.buffer
        finally:
            resp.close()

    def _ws_connect(self, url: str, *, headers: Mapping[str, str], open_timeout: float) -> Any:
        if self._ws_factory is not None:
            return self._ws_factory(url, headers=headers)
        from websockets.sync.client import connect

        kw: dict[str, Any] = {}
        if url.startswith("wss:"):
            if self._ws_tls is None:  # loading a CA store is slow: not again at every reconnect
                self._ws_tls = ws_ssl_context(self.settings.verify)
            kw["ssl"] = self._ws_tls
        # No Origin header (websockets sends none unless asked): ComfyUI's Origin check would 403.
        # Entered like a context manager (websockets >= 17.1 warns on a bare connect()); close() ends it.
        return connect(
            url,
            additional_headers=dict(headers),
            open_timeout=open_timeout,
            max_size=_WS_MAX_SIZE,
            compression=None,
            **kw,
        ).__enter__()

    def _request(self, method: str, path: str, **kw: Any) -> httpx.Response:
        """:meth:`_fetch` for a request whose answer body does not matter (read, capped, dropped)."""
        return self._fetch(method, path, **kw)[0]

    def _fetch(
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
        """Send one request and read its answer; retries (backoff + jitter) only what is safe to
        repeat. Returns the (closed) response and its body, capped unless ``whole``.

        GETs (and ``retry=True`` requests) are retried after connection errors and
        408/429/502/503/504; other methods only when the connection could not be made.
        """
        route = proto.api(path)
        url = self.settings.base_url + route
        idempotent = method == "GET" if retry is None else retry
        attempts = self.settings.retries + 1
        for attempt in range(attempts):
            last = attempt == attempts - 1
            try:
                resp = self._send(method, route, timeout=timeout, **kw)
                delay = proto.answer_retry_delay(
                    attempt,
                    resp.status_code,
                    resp.headers.get("retry-after"),
                    last=last,
                    idempotent=idempotent,
                )
                if delay is None and resp.status_code < 400:
                    return resp, self._read(resp, method, url, whole=whole)
            except httpx.HTTPError as exc:
                delay = error_retry_delay(exc, attempt, last=last, idempotent=idempotent)
                if delay is not None:
                    time.sleep(delay)
                    continue
                raise transport_error(
                    exc, method, url, timeout or self.settings.timeout, self.settings
                ) from exc
            if delay is not None:
                resp.close()
                time.sleep(delay)
                continue
            raise self._status_error(resp, method, url, prompt)
        raise AssertionError("unreachable")  # pragma: no cover

    def _status_error(
        self, resp: httpx.Response, method: str, url: str, prompt: Mapping[str, Any] | None
    ) -> ComfyError:
        body = proto.CappedBody(self.settings.max_response_bytes, method=method, url=url, truncate=True)
        try:
            for chunk in resp.iter_bytes():
                if not body.add(chunk):
                    break
        except httpx.HTTPError:
            pass
        finally:
            resp.close()
        tail = None
        if resp.status_code >= 500 and not url.endswith("/internal/logs"):
            try:
                tail = proto.log_tail(self._json("GET", "/internal/logs", retry=False, timeout=_LOG_TIMEOUT))
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

    def _json(self, method: str, path: str, **kw: Any) -> Any:
        resp, body = self._fetch(method, path, **kw)
        return proto.decode_json(body, method=method, url=str(resp.request.url), redact=self.settings.redact)

    def _expect(self, path: str, kind: type, **kw: Any) -> Any:
        return proto.expect(
            self._json("GET", path, **kw), kind, method="GET", url=path, redact=self.settings.redact
        )

    # -- server info ------------------------------------------------------------------------------

    def system_stats(self) -> SystemStats:
        """Versions, RAM and devices (``GET /system_stats``)."""
        return proto.parse_system_stats(self._json("GET", "/system_stats"))

    def features(self) -> dict[str, Any]:
        """Server feature flags (``GET /features``)."""
        return dict(self._expect("/features", dict))

    def object_info(self, class_type: str | None = None) -> dict[str, Any]:
        """Node definitions: all, or one class (``{}`` when the class is unknown)."""
        path = "/object_info" if class_type is None else f"/object_info/{_seg(class_type)}"
        return proto.parse_object_info(self._json("GET", path), url=path, redact=self.settings.redact)

    def node_defs(self) -> NodeDefs:
        """All node definitions as :class:`NodeDefs` (fetched once per client)."""
        if self._node_defs is None:
            self._node_defs = NodeDefs(self.object_info())
        return self._node_defs

    def models(self, folder: str | None = None) -> list[str]:
        """Model folder names, or the files in one folder (:class:`NotFound` for an unknown one)."""
        path = "/models" if folder is None else f"/models/{_seg(folder)}"
        return [str(m) for m in self._expect(path, list)]

    def embeddings(self) -> list[str]:
        """Embedding names (without extension)."""
        return [str(m) for m in self._expect("/embeddings", list)]

    def extensions(self) -> list[str]:
        """Frontend extension script URLs the server serves (``/extensions``)."""
        return [str(m) for m in self._expect("/extensions", list)]

    def logs(self) -> str:
        """The server's recent log (``/internal/logs``, the frontend's own route)."""
        data = self._json("GET", "/internal/logs")
        return data if isinstance(data, str) else json.dumps(data)

    # -- queue and history ------------------------------------------------------------------------

    def queue(self) -> QueueState:
        """Running and pending prompts, pending in run order."""
        return proto.parse_queue(self._json("GET", "/queue"))

    def delete_queued(self, prompt_ids: Iterable[str]) -> None:
        """Remove pending prompts (running ones are untouched: use :meth:`cancel`)."""
        self._request("POST", "/queue", json={"delete": [str(p) for p in prompt_ids]}, retry=True)

    def clear_queue(self) -> None:
        """Remove every pending prompt (every client's)."""
        self._request("POST", "/queue", json={"clear": True}, retry=True)

    def history(self, max_items: int | None = None, offset: int | None = None) -> dict[str, dict[str, Any]]:
        """Finished prompts, oldest first (``max_items`` alone: the newest N)."""
        return dict(self._expect("/history", dict, params=proto.history_params(max_items, offset)))

    def history_entry(self, prompt_id: str) -> dict[str, Any] | None:
        """One history entry, or None while pending, running or unknown."""
        path = f"/history/{_seg(prompt_id)}"
        return proto.parse_history_entry(
            self._json("GET", path), prompt_id, url=path, redact=self.settings.redact
        )

    def delete_history(self, prompt_ids: Iterable[str]) -> None:
        """Remove finished prompts from the history (unknown ids are ignored by the server)."""
        self._request("POST", "/history", json={"delete": [str(p) for p in prompt_ids]}, retry=True)

    def clear_history(self) -> None:
        """Empty the whole history (every client's)."""
        self._request("POST", "/history", json={"clear": True}, retry=True)

    def jobs(self, **filters: Any) -> dict[str, Any]:
        """``GET /api/jobs`` (ComfyUI 0.8+): status, workflow_id, sort_by, sort_order, limit, offset."""
        params = {
            k: (",".join(v) if isinstance(v, (list, tuple)) else v)
            for k, v in filters.items()
            if v is not None
        }
        return dict(self._expect("/jobs", dict, params=params))

    def job_info(self, prompt_id: str) -> dict[str, Any]:
        """``GET /api/jobs/{id}`` (:class:`NotFound` when unknown)."""
        return dict(self._expect(f"/jobs/{_seg(prompt_id)}", dict))

    # -- work -------------------------------------------------------------------------------------

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
        """Queue an API-format workflow; returns at once with a :class:`Job`.

        The WebSocket is opened before posting, and the prompt id is chosen here, so no event can
        be missed. A POST that times out or is reset is re-sent once, with the same id, only after
        ``/queue`` and ``/history`` show it did not land.

        Raises:
            PromptRejected: the server refused the workflow (400), with every problem listed.
        """
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
            self._hub.ensure()  # the socket must listen before the prompt can finish
        except ServerUnreachable:
            pass  # a proxy may reset WebSocket upgrades only: the POST decides, the job then polls
        self._hub.register(pid)
        try:
            got_id, got_number, node_errors, resent = self._post_prompt(body, workflow)
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
        job = Job(self, got_id or pid, number=got_number, node_errors=node_errors, hub=self._hub)
        job._flow.state.resent = resent
        return job

    def _post_prompt(
        self, body: dict[str, Any], workflow: Mapping[str, Any]
    ) -> tuple[str | None, float | None, dict[str, Any], bool]:
        """POST the prompt: (prompt id, number, node_errors, re-sent?)."""
        pid = body["prompt_id"]
        for attempt in (0, 1):
            try:
                data = self._json("POST", "/prompt", json=body, retry=False, prompt=workflow)
                got = proto.parse_submit(data, method="POST", url="/prompt", redact=self.settings.redact)
                return (*got, attempt == 1)
            except (RequestTimeout, TransportError) as exc:
                if attempt or isinstance(exc, ServerUnreachable):
                    raise
                # The server does not check prompt id uniqueness: re-send only if it did not land.
                try:
                    item = proto.queued(self.queue(), pid)
                    entry = None if item is not None else self.history_entry(pid)
                except ComfyError as check:
                    raise proto.landing_unknown(check, pid, exc) from exc
                if item is not None:
                    return pid, item.number, {}, False
                if entry is not None:
                    return pid, None, {}, False
        raise AssertionError("unreachable")  # pragma: no cover

    def attach(self, prompt_id: str, *, follow_progress: bool = False) -> Job:
        """A :class:`Job` for a prompt queued by anyone, from any process.

        For a finished prompt, ``events()`` yields nothing and the result is ready. For a pending
        or running one, the job listens on this client's own socket and finishes from ``/queue`` +
        ``/history``: progress events of someone else's prompt are not available that way, since
        ComfyUI sends them only to the client id that queued it. ``follow_progress=True`` takes
        that client id over to get them; the owner's socket then goes silent (a browser tab stays
        silent until reloaded). A prompt queued by comfyctl (client ids ``comfyctl-...``) is taken
        over by default: its owner is typically gone (``run --no-wait``), and a live one still
        finishes from the history.

        Raises:
            JobLost: the prompt is in neither the queue nor the history.
        """
        pid = str(prompt_id)
        entry = self.history_entry(pid)
        if entry is not None:
            return Job(self, pid, hub=None, entry=entry)
        item = proto.queued(self.queue(), pid)
        if item is None:
            entry = self.history_entry(pid)  # it may have finished between the two reads
            if entry is None:
                raise proto.job_gone(pid)
            return Job(self, pid, hub=None, entry=entry)
        sock = self._hub
        if proto.attach_socket(item.client_id, self.client_id, follow_progress) == "owner":
            sock = _Hub(self, item.client_id or "")
            self._attached_hubs.append(sock)  # closed with the client if never waited for
        hub: _Hub | None = sock
        try:
            sock.ensure()
        except ServerUnreachable:
            hub = None
        else:
            sock.register(pid)
        return Job(
            self,
            pid,
            number=item.number,
            hub=hub,
            private=hub is not None and hub is not self._hub,
            foreign=item.client_id != sock.client_id,
            reconcile_first=True,
        )

    def submit_once(self, workflow: Mapping[str, Any], *, prompt_id: str, **submit_kwargs: Any) -> Job:
        """Queue ``workflow`` under ``prompt_id`` unless the server already knows that id.

        The exactly-once rule every front-end shares (MCP, batches, offline submit): the caller
        decides the id and records it before calling; a prompt with that id in the server's history
        or queue is attached to (:meth:`attach`), never queued again. Only an id the server has
        never seen is submitted, with :meth:`submit`'s own re-send rule.
        """
        try:
            return self.attach(prompt_id)
        except JobLost:
            return self.submit(workflow, prompt_id=prompt_id, **submit_kwargs)

    def run(
        self, workflow: Mapping[str, Any], *, timeout: float | None = None, **submit_kwargs: Any
    ) -> Result:
        """Submit and wait: the successful :class:`Result`, or an exception saying what went wrong."""
        return self.submit(workflow, **submit_kwargs).wait(timeout)

    def interrupt(self, prompt_id: str | None = None) -> None:
        """Stop the running prompt; with ``prompt_id``, only if that prompt is the one running."""
        kw: dict[str, Any] = {"json": {"prompt_id": prompt_id}} if prompt_id else {}
        self._request("POST", "/interrupt", retry=prompt_id is not None, **kw)

    def cancel(self, prompt_id: str) -> CancelOutcome:
        """Cancel exactly this prompt: dequeue it when pending, interrupt it when a fresh queue read
        shows it running, clear its history when already finished."""
        pid = str(prompt_id)
        queue = self.queue()
        if queue.position(pid) is not None:
            self.delete_queued([pid])
            self._cancelled.add(pid)
            if self.queue().is_running(pid):  # it started between the read and the delete
                self.interrupt(pid)
                return "interrupted"
            return "dequeued"
        if queue.is_running(pid):
            self.interrupt(pid)
            return "interrupted"
        if self.history_entry(pid) is not None:
            self.delete_history([pid])
            return "cleared"
        return "not_found"

    def free(self, *, unload_models: bool = False, free_memory: bool = False) -> None:
        """Ask the server to unload models / free memory after the current prompt."""
        self._request(
            "POST", "/free", json={"unload_models": unload_models, "free_memory": free_memory}, retry=True
        )

    # -- files ------------------------------------------------------------------------------------

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
        """Upload an image (or, with ``mask_for``, a mask applied to that image's alpha).

        Returns the stored file: use ``.ref`` in a loader node (ComfyUI may rename the upload).
        """
        name, content = file_arg(file, filename)
        route, data = upload_form(name, subfolder, type, overwrite, mask_for)
        if mask_for is not None:
            original = original_params(data)
            try:
                self._request("HEAD", "/view", params=original)
            except NotFound as exc:
                raise missing_original(original) from exc
        mime = mimetypes.guess_type(name)[0] or "application/octet-stream"
        if isinstance(content, Path):
            with content.open("rb") as fh:
                payload = self._json("POST", route, files={"image": (name, fh, mime)}, data=data, retry=False)
        else:
            payload = self._json(
                "POST", route, files={"image": (name, content, mime)}, data=data, retry=False
            )
        return proto.parse_upload(payload, method="POST", url=route, redact=self.settings.redact)

    def view(self, filename: str, *, subfolder: str = "", type: str = "output") -> bytes:
        """A file's bytes (small files; use :meth:`download`/:meth:`view_to` for big ones)."""
        params = proto.asked_view_params(filename, subfolder, type)
        return bytes(self._fetch("GET", "/view", params=params, whole=True)[1])

    def view_to(
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
        return self._stream(proto.asked_view_params(filename, subfolder, type), folder, rel, overwrite)

    def download(
        self, output: OutputFile | Mapping[str, Any], dest_dir: str | Path, *, overwrite: bool = False
    ) -> Path:
        """Stream one output into ``dest_dir/subfolder/filename`` (names made safe; existing files
        kept unless ``overwrite``: a free ``name (n).ext`` is chosen). Returns the path written."""
        filename, subfolder, ftype = output_params(output)
        rel = safe_relpath(filename, subfolder)
        return self._stream(proto.view_params(filename, subfolder, ftype), Path(dest_dir), rel, overwrite)

    def download_all(self, result: Result, dest_dir: str | Path, *, overwrite: bool = False) -> list[Path]:
        """Every output file of a result (see :meth:`download`); an error names the prompt
        (``details["prompt_id"]``)."""
        try:
            return [self.download(o, dest_dir, overwrite=overwrite) for o in result.outputs]
        except ComfyError as exc:
            proto.with_prompt(exc, result.prompt_id)
            raise

    def _stream(self, params: dict[str, str], folder: Path, rel: PurePosixPath, overwrite: bool) -> Path:
        route = proto.api("/view")
        url = self.settings.base_url + route
        for attempt in range(self.settings.retries + 1):
            last = attempt == self.settings.retries
            try:
                resp = self._send("GET", route, params=params)
                try:
                    delay = proto.answer_retry_delay(
                        attempt, resp.status_code, resp.headers.get("retry-after"), last=last, idempotent=True
                    )
                    if delay is not None:
                        time.sleep(delay)
                        continue
                    if resp.status_code >= 400:
                        raise self._status_error(resp, "GET", url, None)
                    sink = Sink(folder, rel, overwrite)
                    try:
                        for chunk in resp.iter_bytes(_CHUNK):
                            sink.write(chunk)
                    except BaseException:
                        sink.abort()
                        raise
                    return sink.commit()
                finally:
                    resp.close()
            except httpx.HTTPError as exc:
                # only a connection that never opened: a body cut off is not re-fetched
                delay = error_retry_delay(exc, attempt, last=last, idempotent=False)
                if delay is not None:
                    time.sleep(delay)
                    continue
                raise transport_error(exc, "GET", url, self.settings.timeout, self.settings) from exc
        raise AssertionError("unreachable")  # pragma: no cover


def _seg(value: str) -> str:
    from urllib.parse import quote

    return quote(str(value), safe="")


# -- Job -------------------------------------------------------------------------------------------


class Job(JobBase):
    """A submitted (or attached) prompt. Iterate :meth:`events`, or just :meth:`wait`.

    ``node_errors`` holds errors the server reported while accepting the prompt: outputs listed
    there were dropped and will not run (a 200 from ``/prompt`` can carry them).
    """

    _client: Client
    _hub: _Hub | None

    def events(self, *, timeout: float | None = None) -> Iterator[Event]:
        """Typed events for this prompt until it ends (``QueuePosition`` while it waits).

        The iterator ends after the terminal event; then :meth:`result` is ready. Raises
        :class:`WaitTimeout` after ``timeout`` seconds, :class:`JobLost` if the server forgets it.
        """
        yield from self._follow(timeout, positions=True)

    def wait(self, timeout: float | None = None) -> Result:
        """Block until the prompt ends; the :class:`Result` on success.

        Raises:
            ExecutionError: a node raised (node, class, exception, traceback).
            Interrupted: the prompt was interrupted or cancelled.
            JobLost: it vanished from queue and history (server restarted?).
            WaitTimeout: ``timeout`` seconds passed (the prompt may still run).
        """
        for _ in self._follow(timeout, positions=False):
            pass
        return self.result()

    def result(self) -> Result:
        """The outcome (waits if needed, without limit unless the client has a wait timeout)."""
        if self._flow.result is None:
            for _ in self._follow(None, positions=False):
                pass
        assert self._flow.result is not None
        return proto.raise_for_result(self._flow.result)

    def cancel(self) -> CancelOutcome:
        """Cancel this prompt (see :meth:`Client.cancel`)."""
        return self._client.cancel(self.prompt_id)

    # -- the loop ---------------------------------------------------------------------------------

    def _follow(self, timeout: float | None, *, positions: bool) -> Iterator[Event]:
        """:meth:`_drive`, its errors naming the prompt (``details["prompt_id"]``)."""
        try:
            yield from self._drive(timeout, positions=positions)
        except ComfyError as exc:
            proto.with_prompt(exc, self.prompt_id)
            raise

    def _drive(self, timeout: float | None, *, positions: bool) -> Iterator[Event]:
        """Run the :class:`JobFlow` loop: do each action it asks for, send back the answer."""
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
                answer = client.queue()
            elif isinstance(action, ReadHistory):
                answer = client.history_entry(pid)
            elif isinstance(action, Sleep):
                time.sleep(action.seconds)
            elif isinstance(action, Emit):
                yield action.event
            elif isinstance(action, DeleteQueued):
                client.delete_queued([pid] * action.count)
            else:
                assert hub is not None
                if isinstance(action, Receive):
                    try:
                        answer = hub.next(pid, action.timeout)
                    except SocketLost:
                        answer = LOST
                elif isinstance(action, Connect):
                    try:
                        answer = hub.ensure()
                    except ServerUnreachable as exc:
                        answer = exc
                else:
                    hub.close()
                    if hub in client._attached_hubs:  # done with: not kept until close()
                        client._attached_hubs.remove(hub)
