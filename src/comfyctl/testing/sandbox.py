"""``Sandbox``: a ComfyUI 0.8.0 double running on its own thread and event loop.

Its own loop means sync clients (httpx.Client, websockets.sync) and async clients (in a test's loop) can
both talk to it from any thread. Constructing it does nothing; ``start()`` / ``with`` binds the port.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import ssl
import tempfile
import threading
from collections.abc import Coroutine, Mapping
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from comfyctl.errors import UsageError
from comfyctl.testing.faults import Faults

__all__ = ["Sandbox"]

T = TypeVar("T")


def default_object_info() -> dict[str, Any]:
    """The bundled ``/object_info`` snapshot of a real ComfyUI 0.8.0 (545 classes)."""
    with resources.files("comfyctl.testing").joinpath("data/object_info.json").open(encoding="utf-8") as fh:
        data: dict[str, Any] = json.load(fh)
    return data


class Sandbox:
    """A protocol-faithful ComfyUI double for tests and local development.

    Args:
        port: TCP port on ``host`` (0 picks a free one).
        root: folder holding ``input/``, ``output/``, ``temp/`` and ``models/``; a temporary folder
            (removed on stop) when None.
        object_info: node catalogue as a dict or a path to a saved ``/object_info`` JSON; the bundled
            real snapshot when None.
        token: require ``Authorization: Bearer <token>`` on every request (``/ws`` too).
        basic_auth: ``(user, password)`` to require HTTP basic auth instead / as well.
        ssl_context: serve ``https://`` and ``wss://`` with this server context (load a certificate
            chain into it), e.g. to test clients' TLS verification; plain http when None.

    Example::

        with Sandbox() as sb:
            sb.faults.node("3", delay=0.5, steps=5)
            httpx.post(sb.url + "/prompt", json={"prompt": workflow, "client_id": "me"})
    """

    def __init__(
        self,
        port: int = 0,
        root: str | Path | None = None,
        object_info: Mapping[str, Any] | str | Path | None = None,
        token: str | None = None,
        basic_auth: tuple[str, str] | None = None,
        host: str = "127.0.0.1",
        ssl_context: ssl.SSLContext | None = None,
    ):
        self.host = host
        self.ssl_context = ssl_context
        self.port = port
        self._root_arg = root
        self._object_info_arg = object_info
        self.token = token
        self.basic_auth = basic_auth
        self.faults = Faults(on_drop_now=self._drop_now)
        self.root: Path | None = None
        self._tmp: str | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: Any = None

    # -- lifecycle ----------------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """``http://host:port`` (``https://`` with an ``ssl_context``) of the running sandbox."""
        if self._server is None:
            raise _not_running()
        scheme = "https" if self.ssl_context is not None else "http"
        return f"{scheme}://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        """The ``/ws`` endpoint: ``ws://`` (``wss://`` with an ``ssl_context``)."""
        return "ws" + self.url[len("http") :] + "/ws"

    def start(self) -> Sandbox:
        """Bind the port and start serving (returns self)."""
        from comfyctl.testing.app import SandboxServer

        if self._server is not None:
            return self
        if self._root_arg is None:
            self._tmp = tempfile.mkdtemp(prefix="comfyctl-sandbox-")
            self.root = Path(self._tmp)
        else:
            self.root = Path(self._root_arg)
            self.root.mkdir(parents=True, exist_ok=True)
        info = self._object_info_arg
        if info is None:
            info = default_object_info()
        elif isinstance(info, (str, Path)):
            info = json.loads(Path(info).read_text(encoding="utf-8"))
        loop = asyncio.new_event_loop()
        self._loop = loop
        ready = threading.Event()
        self._thread = threading.Thread(
            target=self._serve, args=(loop, ready), name="comfyctl-sandbox", daemon=True
        )
        self._thread.start()
        ready.wait()

        async def make() -> Any:
            return SandboxServer(
                str(self.root), info, self.faults, token=self.token, basic_auth=self.basic_auth
            )

        server = self._call(make())
        try:
            self.port = self._call(server.start(self.host, self.port, self.ssl_context))
        except BaseException:
            self.stop()  # loop and temporary root go away; the bind error propagates
            raise
        self._server = server
        return self

    @staticmethod
    def _serve(loop: asyncio.AbstractEventLoop, ready: threading.Event) -> None:
        asyncio.set_event_loop(loop)
        loop.call_soon(ready.set)
        loop.run_forever()
        loop.close()

    def _call(self, coro: Coroutine[Any, Any, T], timeout: float | None = 30) -> T:
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def stop(self) -> None:
        """Stop serving, close every socket, remove the temporary root."""
        if self._server is not None:
            try:
                self._call(self._server.stop())
            finally:
                self._server = None
        self._shutdown_loop()
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    close = stop

    def _shutdown_loop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            if self._thread is not None:
                self._thread.join(10)
            self._loop = None
            self._thread = None

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- controls -----------------------------------------------------------------------------------------
    def pause_worker(self) -> None:
        """Keep new prompts pending (the one running finishes)."""
        self._on_loop(lambda s: s.engine.resumed.clear())

    def resume_worker(self) -> None:
        def resume(s: Any) -> None:
            s.engine.resumed.set()
            s.engine.wakeup.set()

        self._on_loop(resume)

    def restart(self) -> None:
        """Simulate a server restart: sockets cut, queue/history/cache/counter lost, same port."""
        server = self._server
        if server is None:
            raise _not_running()
        self._call(server.stop())
        self.port = self._call(server.start(self.host, self.port, self.ssl_context))

    def interrupt(self) -> None:
        self._on_loop(lambda s: s.engine.interrupt())

    def _drop_now(self) -> None:
        self._on_loop(lambda s: s.hub.drop_all())

    def _on_loop(self, fn: Any) -> None:
        server = self._server
        if server is None or self._loop is None:
            return

        async def run() -> None:
            fn(server)

        self._call(run())

    def _root(self) -> Path:
        if self.root is None:
            raise _not_running()
        return self.root

    # -- inspection helpers for tests ---------------------------------------------------------------------
    @property
    def input_dir(self) -> Path:
        return self._root() / "input"

    @property
    def output_dir(self) -> Path:
        return self._root() / "output"

    @property
    def temp_dir(self) -> Path:
        return self._root() / "temp"

    def history(self) -> dict[str, Any]:
        """A snapshot of the server's history (what GET /history answers)."""
        server = self._server
        if server is None:
            raise _not_running()

        async def snap() -> dict[str, Any]:
            return dict(server.engine.history)

        return self._call(snap())


def _not_running() -> UsageError:
    return UsageError("the sandbox is not running", hint="use it as a context manager or call start() first")
