"""Typed results of client calls: frozen dataclasses, no I/O.

Output files are references (node, filename, subfolder, type, URL); downloading is explicit
(``Client.download``). ``raw`` fields keep the server's JSON for anything not modelled here.
"""

from __future__ import annotations

import dataclasses
import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

__all__ = [
    "Device",
    "OutputFile",
    "QueueItem",
    "QueueState",
    "Result",
    "SystemStats",
    "Timing",
    "UploadedFile",
]

JobStatus = Literal["success", "error", "interrupted"]


_ANNOTATED_REF = re.compile(r"^(?P<name>.*?)\s*\[(?P<type>input|output|temp)\]$")


def parse_ref(ref: str) -> dict[str, str]:
    """``sub/name.png [output]`` -> ``{"filename", "subfolder", "type"}`` (the loader-node notation)."""
    m = _ANNOTATED_REF.match(ref.strip())
    name, kind = (m["name"], m["type"]) if m else (ref.strip(), "input")
    subfolder, _, filename = name.rpartition("/")
    return {"filename": filename, "subfolder": subfolder, "type": kind}


def file_ref(filename: str, subfolder: str = "", type: str = "input") -> str:
    """The value a loader node (LoadImage, ...) takes for a file: ``sub/name.png [output]``.

    ComfyUI reads a trailing `` [output]``/`` [temp]`` annotation to pick the folder; inputs need none.
    """
    name = f"{subfolder.strip('/')}/{filename}" if subfolder else filename
    return name if type == "input" else f"{name} [{type}]"


@dataclass(frozen=True)
class OutputFile:
    """One file a node reported in its UI output.

    ``kind`` is ``image``, ``video``, ``gif``, ``audio``, ``3d``, ``latent``, ``svg`` or ``file``
    (from the UI key and the extension: ComfyUI reports videos under ``images``); ``animated`` is
    the node's ``animated`` flag; ``url`` is the ``/view`` URL (no credentials in it).
    """

    node_id: str
    filename: str
    subfolder: str = ""
    type: str = "output"
    kind: str = "file"
    ui_key: str = "images"
    animated: bool = False
    url: str = ""

    @property
    def ref(self) -> str:
        """The value to feed this file back into a loader node (``name.png [output]``)."""
        return file_ref(self.filename, self.subfolder, self.type)

    def to_dict(self) -> dict[str, Any]:
        return {
            "node_id": self.node_id,
            "filename": self.filename,
            "subfolder": self.subfolder,
            "type": self.type,
            "kind": self.kind,
            "ui_key": self.ui_key,
            "animated": self.animated,
            "url": self.url,
        }


@dataclass(frozen=True)
class Timing:
    """Server timestamps in epoch milliseconds (None when the server did not report one)."""

    created: int | None = None
    started: int | None = None
    finished: int | None = None

    @property
    def queued_ms(self) -> int | None:
        """Time spent waiting in the queue."""
        if self.created is None or self.started is None:
            return None
        return max(0, self.started - self.created)

    @property
    def run_ms(self) -> int | None:
        """Execution time, from ``execution_start`` to the terminal message."""
        if self.started is None or self.finished is None:
            return None
        return max(0, self.finished - self.started)

    def to_dict(self) -> dict[str, Any]:
        return {
            "created": self.created,
            "started": self.started,
            "finished": self.finished,
            "queued_ms": self.queued_ms,
            "run_ms": self.run_ms,
        }


@dataclass(frozen=True)
class Result:
    """A finished prompt, built from its history entry (the truth; events are hints).

    ``error`` is the ``execution_error`` (or ``execution_interrupted``) payload without
    ``current_inputs``, or None on success.
    """

    prompt_id: str
    status: JobStatus
    outputs: tuple[OutputFile, ...] = ()
    texts: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    executed: tuple[str, ...] = ()
    cached: tuple[str, ...] = ()
    timing: Timing = field(default_factory=Timing)
    error: Mapping[str, Any] | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_history(cls, prompt_id: str, entry: Mapping[str, Any], base_url: str = "") -> Result:
        """The result stored in one ``/history`` entry (``Client.history()[id]`` or
        ``Client.history_entry(id)``); output URLs start with ``base_url``.

        Raises:
            HTTPError: the entry does not have the shape of ComfyUI's history.
        """
        from comfyctl._protocol import result_from_history  # _protocol builds on this module

        return result_from_history(prompt_id, entry, base_url)

    @property
    def ok(self) -> bool:
        return self.status == "success"

    @property
    def images(self) -> tuple[OutputFile, ...]:
        return tuple(o for o in self.outputs if o.kind == "image")

    def files(self, kind: str | None = None, *, node_id: str | None = None) -> tuple[OutputFile, ...]:
        """Outputs filtered by kind and/or node id."""
        return tuple(
            o
            for o in self.outputs
            if (kind is None or o.kind == kind) and (node_id is None or o.node_id == node_id)
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "prompt_id": self.prompt_id,
            "status": self.status,
            "outputs": [o.to_dict() for o in self.outputs],
            "texts": {k: list(v) for k, v in self.texts.items()},
            "executed": list(self.executed),
            "cached": list(self.cached),
            "timing": self.timing.to_dict(),
            "error": dict(self.error) if self.error else None,
        }


@dataclass(frozen=True)
class QueueItem:
    """One queued or running prompt. ``number`` is its priority (lower runs first)."""

    prompt_id: str
    number: float
    prompt: Mapping[str, Any] = field(default_factory=dict, repr=False)
    extra_data: Mapping[str, Any] = field(default_factory=dict, repr=False)
    outputs: tuple[str, ...] = ()
    running: bool = False

    @property
    def client_id(self) -> str | None:
        cid = self.extra_data.get("client_id")
        return None if cid is None else str(cid)

    def to_dict(self) -> dict[str, Any]:
        return {
            "prompt_id": self.prompt_id,
            "number": self.number,
            "running": self.running,
            "client_id": self.client_id,
            "outputs": list(self.outputs),
            "nodes": len(self.prompt),
        }


@dataclass(frozen=True)
class QueueState:
    """``running`` and ``pending`` prompts; ``pending`` is in RUN order (the server sends heap order)."""

    running: tuple[QueueItem, ...] = ()
    pending: tuple[QueueItem, ...] = ()

    def position(self, prompt_id: str) -> int | None:
        """0-based place among pending prompts (0 = runs next), None if not pending."""
        for i, item in enumerate(self.pending):
            if item.prompt_id == prompt_id:
                return i
        return None

    def is_running(self, prompt_id: str) -> bool:
        return any(item.prompt_id == prompt_id for item in self.running)

    def __contains__(self, prompt_id: object) -> bool:
        return any(item.prompt_id == prompt_id for item in (*self.running, *self.pending))

    def to_dict(self) -> dict[str, Any]:
        return {
            "running": [i.to_dict() for i in self.running],
            "pending": [i.to_dict() for i in self.pending],
        }


@dataclass(frozen=True)
class Device:
    """One compute device from ``/system_stats`` (VRAM in bytes; for CPU, system RAM)."""

    name: str
    type: str
    index: int | None = None
    vram_total: int | None = None
    vram_free: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "index": self.index,
            "vram_total": self.vram_total,
            "vram_free": self.vram_free,
        }


@dataclass(frozen=True)
class SystemStats:
    """``GET /system_stats``: versions, RAM and devices."""

    comfyui_version: str | None = None
    python_version: str | None = None
    pytorch_version: str | None = None
    os: str | None = None
    ram_total: int | None = None
    ram_free: int | None = None
    devices: tuple[Device, ...] = ()
    argv: tuple[str, ...] = ()
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.raw)


@dataclass(frozen=True)
class UploadedFile:
    """What ``/upload/image`` stored: use :attr:`ref` (or :attr:`name`) in the workflow.

    The server may rename the upload (``name (1).png``) or reuse an identical file.
    """

    name: str
    subfolder: str = ""
    type: str = "input"

    @property
    def ref(self) -> str:
        """The loader-node value: ``sub/name.png``, with `` [output]``/`` [temp]`` when not an input."""
        return file_ref(self.name, self.subfolder, self.type)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "subfolder": self.subfolder, "type": self.type, "ref": self.ref}


def jsonable(obj: Any) -> Any:
    """Turn results (frozen dataclasses, Paths, tuples, enums, bytes) into JSON-safe data."""
    if hasattr(obj, "to_dict") and callable(obj.to_dict):
        return jsonable(obj.to_dict())
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, bytes):
        return {"bytes": len(obj)}
    return obj
