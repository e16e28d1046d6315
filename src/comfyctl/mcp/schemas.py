"""Output schemas of the tools: what ``structuredContent`` holds when a call succeeds.

The fields an agent branches on are typed (statuses are ``Literal``); the rest of each document is
the same JSON ``--json`` prints (docs/cli.md) and allowed through. A failed call carries
``ComfyError.to_dict()`` instead (``code``, ``message``, ``hint``, ``details``), see :class:`ErrorOut`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

__all__ = [
    "CancelOut",
    "ClearOut",
    "ConvertOut",
    "DiagnoseOut",
    "ErrorOut",
    "ExportOut",
    "FreeOut",
    "HistoryOut",
    "InterruptOut",
    "InventoryOut",
    "JobOut",
    "JobStatusOut",
    "ModelsOut",
    "NodeInfoOut",
    "NodesOut",
    "OfflineOut",
    "OutputsOut",
    "ParamsOut",
    "QueueOut",
    "StatusOut",
    "SubmitOfflineOut",
    "UploadOut",
    "ValidateOut",
]


class _Out(BaseModel):
    model_config = ConfigDict(extra="allow")


class ErrorOut(_Out):
    """An ``isError`` result's structured content (``ComfyError.to_dict()``)."""

    code: str
    message: str
    hint: str | None = None
    details: dict[str, Any]


class StatusOut(_Out):
    reachable: bool
    url: str
    comfyui_version: str | None = None
    queue: dict[str, int] | None = None
    error: dict[str, Any] | None = None


class NodesOut(_Out):
    nodes: list[dict[str, Any]]
    count: int
    offset: int
    limit: int
    next_offset: int | None


class NodeInfoOut(_Out):
    class_type: str
    inputs: list[dict[str, Any]]
    outputs: list[dict[str, Any]]


class ModelsOut(_Out):
    folder: str | None
    folders: list[str] | None
    files: list[str] | None


class InventoryOut(_Out):
    server: str
    mode: str


class ValidateOut(_Out):
    ok: bool
    summary: str
    problems: list[dict[str, Any]]
    format: Literal["api", "ui"]


class ConvertOut(_Out):
    format: Literal["api", "ui"]
    nodes: int
    api: dict[str, Any]


class ParamsOut(_Out):
    params: list[dict[str, Any]]


class JobOut(_Out):
    """run_workflow / wait_job: finished (success), or still pending/running with the next call."""

    prompt_id: str
    status: Literal["pending", "running", "success"]
    queue_position: int | None
    progress: dict[str, Any] | None
    outputs: list[dict[str, Any]]
    next: dict[str, Any] | None


class JobStatusOut(_Out):
    prompt_id: str
    status: Literal["pending", "running", "success", "error", "interrupted", "unknown"]
    queue_position: int | None
    progress: dict[str, Any] | None
    error: dict[str, Any] | None
    outputs: list[dict[str, Any]]
    next: dict[str, Any] | None


class OutputsOut(_Out):
    prompt_id: str
    status: Literal["success", "error", "interrupted"]
    outputs: list[dict[str, Any]]
    saved: list[str]
    thumbnails: list[dict[str, Any]]


class UploadOut(_Out):
    name: str
    subfolder: str
    type: str
    ref: str


class CancelOut(_Out):
    prompt_id: str
    outcome: Literal["dequeued", "interrupted", "cleared", "not_found"]


class InterruptOut(_Out):
    interrupted: str | None


class ClearOut(_Out):
    cleared: int


class FreeOut(_Out):
    unload_models: bool
    free_memory: bool


class QueueOut(_Out):
    running: list[dict[str, Any]]
    pending: list[dict[str, Any]]


class HistoryOut(_Out):
    items: list[dict[str, Any]]


class ExportOut(_Out):
    project: str
    name: str
    path: str
    ui_path: str | None


class OfflineOut(_Out):
    pending: list[dict[str, Any]]
    submitted: list[dict[str, Any]] | None


class SubmitOfflineOut(_Out):
    submitted: list[dict[str, Any]]


class DiagnoseOut(_Out):
    verdict: Literal["healthy", "degraded", "down"]
    url: str
    summary: str
    checks: list[dict[str, Any]]
    prompt: dict[str, Any] | None
