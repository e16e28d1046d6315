"""Programmable faults: what a test asks the sandbox to get wrong, and when.

Set from the test's thread and read on the sandbox's event loop; every field is a plain value swapped
atomically, so no lock is needed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["Faults", "NodeFault", "RouteFault"]


@dataclass
class NodeFault:
    """Slow down or break one node (by node id or class_type)."""

    delay: float = 0.0
    steps: int = 0
    error: str | None = None
    exception_type: str = "RuntimeError"
    preview: bool = True
    step_delay: float = 0.0


@dataclass
class RouteFault:
    """Answer a route (and its /api twin) with a status, late, or never."""

    path: str
    status: int | None = None
    delay: float = 0.0
    hang: bool = False
    times: int | None = None
    method: str | None = None

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method.upper() != method:
            return False
        wanted = self.path.rstrip("/") or "/"
        twin = wanted[4:] if wanted.startswith("/api/") else "/api" + wanted
        return path in (wanted, twin)


class Faults:
    """The sandbox's fault switchboard (``sandbox.faults``).

    Example::

        sb.faults.node("3", delay=0.5, steps=5)          # progress + previews, interruptible per step
        sb.faults.node("SaveImage", error="boom", exception_type="RuntimeError")
        sb.faults.route("/prompt", status=500, times=1)  # also /api/prompt; delay=, hang=True
        sb.faults.block_websocket = True                 # /ws answers 503
        sb.faults.drop_websockets(after_event="executing")
        sb.faults.hostile_names = ["../../x.png", "/etc/passwd"]
        sb.faults.history_delay = 0.5                    # widen the execution_success → history race
    """

    def __init__(self, on_drop_now: Callable[[], None] | None = None) -> None:
        self._on_drop_now = on_drop_now
        self.clear()

    def clear(self) -> None:
        """Remove every fault."""
        self.nodes: dict[str, NodeFault] = {}
        self.routes: list[RouteFault] = []
        self.block_websocket: bool | int = False
        self.drop_after: str | None = None
        self.hostile_names: list[Any] = []
        self.history_delay: float = 0.0
        self._hostile_index = 0

    def node(
        self,
        key: str,
        *,
        delay: float = 0.0,
        steps: int = 0,
        error: str | None = None,
        exception_type: str = "RuntimeError",
        preview: bool = True,
        step_delay: float = 0.0,
    ) -> NodeFault:
        """Fault for a node id or a class_type (the id wins when both match).

        ``delay`` seconds are spread over ``steps`` progress updates (each one checks for an interrupt and
        sends a preview, like a sampler); with no steps the node just sleeps and, like a real node without a
        progress bar, cannot be interrupted. ``error`` makes the node raise after the delay, reported with
        ``exception_type`` (a qualified name such as ``"torch.OutOfMemoryError"``). ``step_delay`` sleeps
        on each progress update the node makes itself (e.g. SaveImageWebsocket), to make it slow.
        """
        fault = NodeFault(delay, steps, error, exception_type, preview, step_delay)
        self.nodes[str(key)] = fault
        return fault

    def route(
        self,
        path: str,
        *,
        status: int | None = None,
        delay: float = 0.0,
        hang: bool = False,
        times: int | None = None,
        method: str | None = None,
    ) -> RouteFault:
        """Fault for an HTTP route, matched on the path with or without ``/api``.

        ``status=500`` answers with ComfyUI's own text/plain 500 body. ``delay`` answers late, ``hang``
        never answers (until the sandbox stops). ``times`` limits how many requests are hit.
        """
        fault = RouteFault(path, status, delay, hang, times, method)
        self.routes.append(fault)
        return fault

    def drop_websockets(self, after_event: str | None = None) -> None:
        """Cut every WebSocket (no close frame) now, or right after the next message of this type."""
        if after_event is None:
            self.drop_after = None
            if self._on_drop_now is not None:
                self._on_drop_now()
        else:
            self.drop_after = after_event

    # -- read by the server ------------------------------------------------------------------------------
    def for_node(self, node_id: str, class_type: str) -> NodeFault | None:
        return self.nodes.get(node_id) or self.nodes.get(class_type)

    def take_route(self, method: str, path: str) -> RouteFault | None:
        """The first matching route fault, counting one use of it."""
        for fault in list(self.routes):
            if fault.matches(method, path):
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times <= 0:
                        self.routes.remove(fault)
                return fault
        return None

    def next_hostile_name(self) -> Any:
        if not self.hostile_names:
            return None
        name = self.hostile_names[self._hostile_index % len(self.hostile_names)]
        self._hostile_index += 1
        return name
