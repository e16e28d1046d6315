"""What every tool call shares: the process's one :class:`comfyctl.AsyncClient`, built on first use.

Starting the server does no I/O against ComfyUI: the client is created (and its socket opened) only
when a tool needs it, so an agent host can start ``comfyctl mcp`` while ComfyUI is still down.

A few library helpers are written against the sync :class:`comfyctl.Client` methods (the inventory
fetch, the offline store's exactly-once submit, the doctor). :meth:`Runtime.call_sync` runs them in a
worker thread on a facade whose methods hand each call back to the event loop, onto the same
``AsyncClient``: one client, one client id, one socket, and no second implementation of those helpers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from comfyctl.settings import Settings

if TYPE_CHECKING:
    from comfyctl.aio import AsyncClient
    from comfyctl.nodedefs import NodeDefs
    from comfyctl.progress import JobProgress

__all__ = ["Runtime"]

T = TypeVar("T")


class _SyncFacade:
    """The sync ``Client`` surface over an ``AsyncClient``, for library code run in a worker thread."""

    def __init__(self, client: AsyncClient, loop: asyncio.AbstractEventLoop):
        self._client = client
        self._loop = loop

    @property
    def url(self) -> str:
        return self._client.url

    @property
    def settings(self) -> Settings:
        return self._client.settings

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._client, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            return asyncio.run_coroutine_threadsafe(attr(*args, **kwargs), self._loop).result()

        return call


class Runtime:
    """The state of one MCP server process.

    Args:
        settings: the resolved server settings (``--url``, ``--token``, ``COMFYUI_*``, config file:
            resolved by the CLI exactly as for every other command).
        root: the folder ``projects/`` (offline store) lives in, like the CLI's working directory.
        state_dir: the inventory cache folder (None: ``$COMFYCTL_STATE_DIR``, else ``./state``).
        client_factory: builds the client (tests pass one with a custom transport).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        root: str | Path = ".",
        state_dir: str | Path | None = None,
        client_factory: Callable[[Settings], AsyncClient] | None = None,
    ):
        self.settings = settings
        self.root = Path(root).absolute()  # results name absolute paths: the agent may be elsewhere
        self.state_dir = state_dir
        self._factory = client_factory
        self._client: AsyncClient | None = None
        #: the server's node definitions and when they were fetched (monotonic), see tools._definitions
        self.defs: NodeDefs | None = None
        self.defs_at = 0.0
        #: progress of prompts this server waited for, by prompt id (job_status reports it)
        self.progress: dict[str, JobProgress] = {}

    @property
    def client(self) -> AsyncClient:
        """The one client, created on first use (no I/O: the constructor does none)."""
        if self._client is None:
            if self._factory is not None:
                self._client = self._factory(self.settings)
            else:
                from comfyctl.aio import AsyncClient

                self._client = AsyncClient(settings=self.settings)
        return self._client

    @property
    def started(self) -> bool:
        """Whether a tool has needed the client yet."""
        return self._client is not None

    async def call_sync(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn(sync_client, *args, **kwargs)`` in a thread, its client calls on our AsyncClient."""
        facade = _SyncFacade(self.client, asyncio.get_running_loop())
        return await asyncio.to_thread(fn, facade, *args, **kwargs)

    def redact(self, text: str) -> str:
        """``text`` without the token or any other secret of the settings."""
        return self.settings.redact(text)

    async def aclose(self) -> None:
        """Close the client if one was made."""
        client, self._client = self._client, None
        if client is not None:
            await client.close()
