"""comfyctl: drive ComfyUI servers from Python, the shell and AI agents.

>>> from comfyctl import Client                                    # doctest: +SKIP
>>> with Client("http://127.0.0.1:8188") as comfy:                 # doctest: +SKIP
...     result = comfy.run(workflow)
...     comfy.download_all(result, "outputs")

Importing this package loads httpx and websockets only; the CLI (click, rich), the sandbox
(aiohttp, Pillow) and the MCP SDK load when used.
"""

from __future__ import annotations

from comfyctl.errors import (
    AuthError,
    ComfyError,
    ConversionError,
    ExecutionError,
    HTTPError,
    Interrupted,
    JobError,
    JobLost,
    NotFound,
    ParameterError,
    PromptRejected,
    RequestTimeout,
    RequestTooLarge,
    ServerError,
    ServerUnreachable,
    TransportError,
    UnsafePath,
    UsageError,
    ValidationError,
    WaitTimeout,
    WorkflowError,
)
from comfyctl.nodedefs import InputSpec, NodeDef, NodeDefs

__version__ = "0.1.0"

__all__ = [
    "AuthError",
    "ComfyError",
    "ConversionError",
    "ExecutionError",
    "HTTPError",
    "InputSpec",
    "Interrupted",
    "JobError",
    "JobLost",
    "NodeDef",
    "NodeDefs",
    "NotFound",
    "ParameterError",
    "PromptRejected",
    "RequestTimeout",
    "RequestTooLarge",
    "ServerError",
    "ServerUnreachable",
    "TransportError",
    "UnsafePath",
    "UsageError",
    "ValidationError",
    "WaitTimeout",
    "WorkflowError",
    "__version__",
]
