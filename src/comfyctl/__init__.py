"""comfyctl: drive ComfyUI servers from Python, the shell and AI agents.

>>> from comfyctl import Client                                    # doctest: +SKIP
>>> with Client("http://127.0.0.1:8188") as comfy:                 # doctest: +SKIP
...     result = comfy.run(workflow)
...     comfy.download_all(result, "outputs")

Importing this package loads no I/O library; ``Client``/``AsyncClient`` load httpx and
websockets on first use; the CLI (click, rich), the sandbox
(aiohttp, Pillow) and the MCP SDK load when used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING as _TYPE_CHECKING
from typing import Any as _Any

from comfyctl.errors import (
    AuthError,
    ComfyError,
    ConversionError,
    ExecutionError,
    HTTPError,
    Interrupted,
    JobError,
    JobLost,
    LocalIOError,
    NotFound,
    ParameterError,
    PromptRejected,
    RequestTimeout,
    RequestTooLarge,
    ResponseTooLarge,
    ServerError,
    ServerUnreachable,
    TransportError,
    UnsafePath,
    UsageError,
    ValidationError,
    WaitTimeout,
    WorkflowError,
)

__version__ = "0.1.0"

if _TYPE_CHECKING:
    from comfyctl.aio import AsyncClient, AsyncJob
    from comfyctl.client import Client, Job
    from comfyctl.nodedefs import InputSpec, NodeDef, NodeDefs
    from comfyctl.results import (
        Device,
        OutputFile,
        QueueItem,
        QueueState,
        Result,
        SystemStats,
        Timing,
        UploadedFile,
    )
    from comfyctl.settings import Settings

# Everything but the errors loads on first use: httpx imports its own CLI (click, rich, pygments)
# when they are installed, and every module spared here is start-up time saved for `comfyctl`.
_LAZY = {
    "Client": "comfyctl.client",
    "Job": "comfyctl.client",
    "AsyncClient": "comfyctl.aio",
    "AsyncJob": "comfyctl.aio",
    "InputSpec": "comfyctl.nodedefs",
    "NodeDef": "comfyctl.nodedefs",
    "NodeDefs": "comfyctl.nodedefs",
    "Device": "comfyctl.results",
    "OutputFile": "comfyctl.results",
    "QueueItem": "comfyctl.results",
    "QueueState": "comfyctl.results",
    "Result": "comfyctl.results",
    "SystemStats": "comfyctl.results",
    "Timing": "comfyctl.results",
    "UploadedFile": "comfyctl.results",
    "Settings": "comfyctl.settings",
}


def __getattr__(name: str) -> _Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'comfyctl' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "AsyncClient",
    "AsyncJob",
    "AuthError",
    "Client",
    "ComfyError",
    "ConversionError",
    "Device",
    "ExecutionError",
    "HTTPError",
    "InputSpec",
    "Interrupted",
    "Job",
    "JobError",
    "JobLost",
    "LocalIOError",
    "NodeDef",
    "NodeDefs",
    "NotFound",
    "OutputFile",
    "ParameterError",
    "PromptRejected",
    "QueueItem",
    "QueueState",
    "RequestTimeout",
    "RequestTooLarge",
    "ResponseTooLarge",
    "Result",
    "ServerError",
    "ServerUnreachable",
    "Settings",
    "SystemStats",
    "Timing",
    "TransportError",
    "UnsafePath",
    "UploadedFile",
    "UsageError",
    "ValidationError",
    "WaitTimeout",
    "WorkflowError",
    "__version__",
]
