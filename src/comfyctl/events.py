"""Typed WebSocket events, decoded from ComfyUI's text and binary frames (pure, no I/O).

:func:`parse_event` turns one frame into one event. Every known message type has its own frozen
dataclass; anything else, including malformed frames, becomes :class:`UnknownEvent`, so a message
a future server or a custom node sends never crashes a client. Events are hints: the history entry
is the truth about a prompt.

Each event has ``.type`` (the wire type; ``preview`` and ``node_text`` for binary frames, which
have none; ``queue_position`` for the client-made one) and ``.prompt_id`` (or None), and
``to_dict()`` for NDJSON output (a :class:`Preview` carries its size there, not its bytes).
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

__all__ = [
    "Event",
    "Executed",
    "Executing",
    "ExecutionCached",
    "ExecutionFailed",
    "ExecutionInterrupted",
    "ExecutionStart",
    "ExecutionSuccess",
    "FeatureFlags",
    "Logs",
    "NodeText",
    "Preview",
    "Progress",
    "ProgressState",
    "QueuePosition",
    "Status",
    "UnknownEvent",
    "feature_flags_message",
    "parse_event",
]

# Binary frame types (ComfyUI server.py BinaryEventTypes).
PREVIEW_IMAGE = 1
TEXT = 3
PREVIEW_IMAGE_WITH_METADATA = 4
_IMAGE_FORMATS = {1: "jpeg", 2: "png"}


class _Base:
    """to_dict() for every event: the wire type plus the dataclass fields."""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type}  # type: ignore[attr-defined]
        for f in fields(self):  # type: ignore[arg-type]
            if f.name != "type":
                out[f.name] = _jsonable(getattr(self, f.name))
        return out


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, bytes):
        return len(value)
    return value


@dataclass(frozen=True, kw_only=True)
class Status(_Base):
    """Queue size changed (broadcast), or the greeting on connect (then ``sid`` is set)."""

    type: ClassVar[str] = "status"
    queue_remaining: int | None = None
    sid: str | None = None
    prompt_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class ExecutionStart(_Base):
    """The prompt left the queue and started (server timestamp in ms)."""

    type: ClassVar[str] = "execution_start"
    prompt_id: str | None = None
    timestamp: int | None = None


@dataclass(frozen=True, kw_only=True)
class ExecutionCached(_Base):
    """Nodes whose results are reused: they get no ``executing``, output nodes still get ``executed``."""

    type: ClassVar[str] = "execution_cached"
    nodes: tuple[str, ...] = ()
    prompt_id: str | None = None
    timestamp: int | None = None


@dataclass(frozen=True, kw_only=True)
class Executing(_Base):
    """A node started; ``node`` None means the prompt finished and its history entry exists."""

    type: ClassVar[str] = "executing"
    node: str | None = None
    display_node: str | None = None
    prompt_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class Progress(_Base):
    """A node's progress bar moved (sampler steps, images saved, ...)."""

    type: ClassVar[str] = "progress"
    node: str | None = None
    value: int = 0
    max: int = 0
    prompt_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class ProgressState(_Base):
    """Snapshot of every started node: ``{node_id: {value, max, state, ...}}``."""

    type: ClassVar[str] = "progress_state"
    nodes: Mapping[str, Any] = field(default_factory=dict)
    prompt_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class Executed(_Base):
    """A node returned UI data (``output``: images, text, ...; may be None for cached nodes)."""

    type: ClassVar[str] = "executed"
    node: str | None = None
    display_node: str | None = None
    output: Mapping[str, Any] | None = None
    prompt_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class ExecutionSuccess(_Base):
    """Sent *before* the history entry exists (ComfyUI quirk): wait for ``Executing(node=None)``."""

    type: ClassVar[str] = "execution_success"
    prompt_id: str | None = None
    timestamp: int | None = None


@dataclass(frozen=True, kw_only=True)
class ExecutionFailed(_Base):
    """The wire ``execution_error``: a node raised. ``current_inputs`` is dropped (it can hold secrets)."""

    type: ClassVar[str] = "execution_error"
    node_id: str | None = None
    node_type: str | None = None
    exception_type: str | None = None
    exception_message: str | None = None
    traceback: tuple[str, ...] = ()
    executed: tuple[str, ...] = ()
    prompt_id: str | None = None
    timestamp: int | None = None


@dataclass(frozen=True, kw_only=True)
class ExecutionInterrupted(_Base):
    """The prompt was interrupted; ``node_id`` is where it stopped."""

    type: ClassVar[str] = "execution_interrupted"
    node_id: str | None = None
    node_type: str | None = None
    executed: tuple[str, ...] = ()
    prompt_id: str | None = None
    timestamp: int | None = None


@dataclass(frozen=True, kw_only=True)
class FeatureFlags(_Base):
    """The server's answer to our feature-flags handshake (same object as ``GET /features``)."""

    type: ClassVar[str] = "feature_flags"
    flags: Mapping[str, Any] = field(default_factory=dict)
    prompt_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class Logs(_Base):
    """Server log lines (only for sockets subscribed via ``/internal/logs/subscribe``)."""

    type: ClassVar[str] = "logs"
    entries: tuple[Mapping[str, Any], ...] = ()
    size: Mapping[str, Any] | None = None
    prompt_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class Preview(_Base):
    """A binary preview image (type 1 legacy, or type 4 with ``metadata`` naming node and prompt)."""

    type: ClassVar[str] = "preview"
    image: bytes = field(default=b"", repr=False)
    format: str = "png"
    metadata: Mapping[str, Any] | None = None
    node: str | None = None
    prompt_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "format": self.format,
            "size": len(self.image),
            "metadata": self.metadata,
            "node": self.node,
            "prompt_id": self.prompt_id,
        }


@dataclass(frozen=True, kw_only=True)
class NodeText(_Base):
    """Binary type 3: status text a node shows (e.g. GetImageSize)."""

    type: ClassVar[str] = "node_text"
    node_id: str | None = None
    text: str = ""
    prompt_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class QueuePosition(_Base):
    """Client-made while a prompt waits: 0 = next to run; ``remaining`` = items pending in total."""

    type: ClassVar[str] = "queue_position"
    position: int = 0
    remaining: int = 0
    prompt_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class UnknownEvent(_Base):
    """Anything this client does not know (``type`` is ``binary:<n>`` for unknown binary frames)."""

    type: str
    data: Any = None
    prompt_id: str | None = None


Event = (
    Status
    | ExecutionStart
    | ExecutionCached
    | Executing
    | Progress
    | ProgressState
    | Executed
    | ExecutionSuccess
    | ExecutionFailed
    | ExecutionInterrupted
    | FeatureFlags
    | Logs
    | Preview
    | NodeText
    | QueuePosition
    | UnknownEvent
)


def feature_flags_message() -> str:
    """The first message we send on every socket: ask for type-4 previews (prompt id in metadata).

    ComfyUI honours feature flags only in the first client message.
    """
    return json.dumps({"type": "feature_flags", "data": {"supports_preview_metadata": True}})


def parse_event(frame: str | bytes) -> Event:
    """Decode one WebSocket frame; never raises."""
    if isinstance(frame, (bytes, bytearray, memoryview)):
        return _parse_binary(bytes(frame))
    try:
        msg = json.loads(frame)
    except (ValueError, TypeError):
        return UnknownEvent(type="invalid", data=str(frame)[:200])
    if not isinstance(msg, dict) or not isinstance(msg.get("type"), str):
        return UnknownEvent(type="invalid", data=msg)
    kind, data = msg["type"], msg.get("data")
    parser = _PARSERS.get(kind)
    if parser is None or not isinstance(data, dict):
        return UnknownEvent(type=kind, data=data, prompt_id=_pid(data))
    try:
        return parser(data)
    except (TypeError, ValueError, AttributeError):
        return UnknownEvent(type=kind, data=data, prompt_id=_pid(data))


def _pid(data: Any) -> str | None:
    if isinstance(data, dict) and data.get("prompt_id") is not None:
        return str(data["prompt_id"])
    return None


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _strs(value: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in value) if isinstance(value, (list, tuple)) else ()


def _status(d: dict[str, Any]) -> Event:
    exec_info = (d.get("status") or {}).get("exec_info") or {}
    remaining = exec_info.get("queue_remaining")
    return Status(
        queue_remaining=int(remaining) if remaining is not None else None, sid=_opt_str(d.get("sid"))
    )


def _failed(d: dict[str, Any]) -> Event:
    return ExecutionFailed(
        node_id=_opt_str(d.get("node_id")),
        node_type=_opt_str(d.get("node_type")),
        exception_type=_opt_str(d.get("exception_type")),
        exception_message=_opt_str(d.get("exception_message")),
        traceback=_strs(d.get("traceback")),
        executed=_strs(d.get("executed")),
        prompt_id=_pid(d),
        timestamp=d.get("timestamp"),
    )


_PARSERS: dict[str, Callable[[dict[str, Any]], Event]] = {
    "status": _status,
    "execution_start": lambda d: ExecutionStart(prompt_id=_pid(d), timestamp=d.get("timestamp")),
    "execution_cached": lambda d: ExecutionCached(
        nodes=_strs(d.get("nodes")), prompt_id=_pid(d), timestamp=d.get("timestamp")
    ),
    "executing": lambda d: Executing(
        node=_opt_str(d.get("node")), display_node=_opt_str(d.get("display_node")), prompt_id=_pid(d)
    ),
    "progress": lambda d: Progress(
        node=_opt_str(d.get("node")),
        value=int(d.get("value") or 0),
        max=int(d.get("max") or 0),
        prompt_id=_pid(d),
    ),
    "progress_state": lambda d: ProgressState(nodes=dict(d.get("nodes") or {}), prompt_id=_pid(d)),
    "executed": lambda d: Executed(
        node=_opt_str(d.get("node")),
        display_node=_opt_str(d.get("display_node")),
        output=d.get("output") if isinstance(d.get("output"), dict) else None,
        prompt_id=_pid(d),
    ),
    "execution_success": lambda d: ExecutionSuccess(prompt_id=_pid(d), timestamp=d.get("timestamp")),
    "execution_error": _failed,
    "execution_interrupted": lambda d: ExecutionInterrupted(
        node_id=_opt_str(d.get("node_id")),
        node_type=_opt_str(d.get("node_type")),
        executed=_strs(d.get("executed")),
        prompt_id=_pid(d),
        timestamp=d.get("timestamp"),
    ),
    "feature_flags": lambda d: FeatureFlags(flags=d),
    "logs": lambda d: Logs(
        entries=tuple(e for e in d.get("entries") or () if isinstance(e, dict)),
        size=d.get("size") if isinstance(d.get("size"), dict) else None,
    ),
}


def _parse_binary(buf: bytes) -> Event:
    if len(buf) < 4:
        return UnknownEvent(type="binary", data={"size": len(buf)})
    (kind,) = struct.unpack(">I", buf[:4])
    try:
        if kind == PREVIEW_IMAGE:
            (fmt,) = struct.unpack(">I", buf[4:8])
            return Preview(image=buf[8:], format=_IMAGE_FORMATS.get(fmt, f"unknown:{fmt}"))
        if kind == PREVIEW_IMAGE_WITH_METADATA:
            (n,) = struct.unpack(">I", buf[4:8])
            if 8 + n > len(buf):
                raise ValueError("metadata longer than frame")
            meta = json.loads(buf[8 : 8 + n].decode("utf-8"))
            if not isinstance(meta, dict):
                raise ValueError("metadata is not an object")
            mime = str(meta.get("image_type") or "image/png")
            return Preview(
                image=buf[8 + n :],
                format=mime.split("/")[-1],
                metadata=meta,
                node=_opt_str(meta.get("display_node_id") or meta.get("node_id")),
                prompt_id=_pid(meta),
            )
        if kind == TEXT:
            (n,) = struct.unpack(">I", buf[4:8])
            if 8 + n > len(buf):
                raise ValueError("node id longer than frame")
            return NodeText(
                node_id=buf[8 : 8 + n].decode("utf-8"), text=buf[8 + n :].decode("utf-8", "replace")
            )
    except (struct.error, ValueError, UnicodeDecodeError):
        return UnknownEvent(type=f"binary:{kind}", data={"size": len(buf), "malformed": True})
    return UnknownEvent(type=f"binary:{kind}", data={"size": len(buf)})
