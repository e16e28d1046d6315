"""What is known about a running prompt, folded from its events: shared by the CLI's progress line
and the MCP server's progress reports (no drawing here, no I/O)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["JobProgress", "nodes_to_run", "output_nodes"]


def output_nodes(api: Mapping[str, Any], defs: Any) -> set[str] | None:
    """The ids of ``api``'s output nodes per ``defs`` (None without definitions)."""
    if defs is None:
        return None
    return {
        nid
        for nid, node in api.items()
        if isinstance(node, Mapping)
        and node.get("class_type") in defs
        and defs[node["class_type"]].is_output_node
    }


def nodes_to_run(api: Mapping[str, Any], output_nodes: set[str] | None) -> int:
    """How many nodes the server will execute: those reachable from output nodes.

    ComfyUI runs only what output nodes need (execution.py); without node definitions we cannot
    tell output nodes apart, so every node counts.
    """
    if not output_nodes:
        return len(api)
    seen: set[str] = set()
    stack = [n for n in output_nodes if n in api]
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        inputs = (api.get(node) or {}).get("inputs") or {}
        for value in inputs.values() if isinstance(inputs, Mapping) else ():
            if isinstance(value, list) and len(value) == 2 and str(value[0]) in api:
                stack.append(str(value[0]))
    return len(seen) or len(api)


class JobProgress:
    """What is known about a running prompt, updated from its events."""

    def __init__(
        self,
        api: Mapping[str, Any] | None = None,
        total: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.api = api or {}
        self.total = total if total is not None else len(self.api)
        self.clock = clock
        self.t0 = clock()
        self.started_at: float | None = None
        self.queue_position: int | None = None
        self.done: set[str] = set()
        self.cached: set[str] = set()
        self.before: set[str] = set()  # finished before we started watching (attach): not in the ETA
        self.saw_start = False
        self.node: str | None = None
        self.node_started: float | None = None
        self.value = 0
        self.max = 0
        self.finished: str | None = None  # "success" / "error" / "interrupted"
        # rich redraws from its own thread while events arrive on ours
        self._lock = threading.Lock()

    def title(self, node: str | None) -> str:
        """``KSampler #3`` (or the node's title when it has one)."""
        if node is None:
            return ""
        info = self.api.get(node) or self.api.get(node.split(".")[0]) or {}
        title = (info.get("_meta") or {}).get("title") if isinstance(info, Mapping) else None
        name = title or (info.get("class_type") if isinstance(info, Mapping) else None) or "node"
        return f"{name} #{node}"

    def feed(self, event: Any) -> bool:
        """Apply one event; True when the display should change."""
        with self._lock:
            return self._feed(event)

    def _feed(self, event: Any) -> bool:
        kind = getattr(event, "type", "")
        now = self.clock()
        if kind == "queue_position":
            changed: bool = self.queue_position != event.position
            self.queue_position = event.position
            return changed
        if kind == "execution_start":
            self.saw_start = True
            self.started_at = now
            self.queue_position = None
            return True
        if kind == "execution_cached":
            self.cached.update(str(n) for n in event.nodes)
            self.done.update(str(n) for n in event.nodes)
            return bool(event.nodes)
        if kind == "executing":
            if self.started_at is None:
                self.started_at = now
                self.queue_position = None
            if self.node is not None:
                self.done.add(self.node)
            self.node = event.node
            self.node_started = now
            self.value = self.max = 0
            return True
        if kind == "progress":
            self.value, self.max = int(event.value), int(event.max)
            if event.node is not None and event.node != self.node:
                self.node = str(event.node)
                self.node_started = now
            return True
        if kind == "progress_state":
            # the server's snapshot of every started node: the only news of nodes that finished
            # before 'watch'/'wait' attached to a running prompt
            states = event.nodes or {}
            finished = {
                str(n)
                for n, st in states.items()
                if isinstance(st, Mapping)
                and st.get("state") == "finished"
                and (not self.api or n in self.api)
            } - self.done
            if not self.saw_start:  # the first snapshot of an attach: the past
                self.saw_start = True
                self.before.update(finished)
                if self.started_at is None:
                    self.started_at, self.queue_position = now, None
            self.done.update(finished)
            return bool(finished)
        if kind == "executed":
            if event.node is not None:
                self.done.add(str(event.node))
            return False
        if kind == "execution_success":
            if self.node is not None:
                self.done.add(self.node)
            self.finished, self.node = "success", None
            return True
        if kind in ("execution_error", "execution_interrupted"):
            self.finished = "error" if kind == "execution_error" else "interrupted"
            return True
        return False

    @property
    def elapsed(self) -> float:
        return self.clock() - self.t0

    def eta(self) -> float | None:
        """Seconds left, from the share of work done (nodes, plus the current node's steps)."""
        if self.started_at is None or self.total <= 0:
            return None
        fraction = len(self.done - self.cached - self.before) + (self.value / self.max if self.max else 0)
        work = self.total - len(self.cached | self.before)
        if fraction <= 0 or work <= 0:
            return None
        spent = self.clock() - self.started_at
        return max(0.0, spent / fraction * work - spent)

    def line(self) -> str:
        """One status line (no colours): what a person needs to see right now."""
        with self._lock:
            return self._line()

    def _line(self) -> str:
        elapsed = _fmt_secs(self.elapsed)
        if self.started_at is None:
            where = (
                "waiting"
                if self.queue_position is None
                else ("next in queue" if self.queue_position == 0 else f"queued, {self.queue_position} ahead")
            )
            return f"{where} · {elapsed}"
        parts = [f"{min(len(self.done), self.total)}/{self.total} nodes"]
        if self.cached:
            parts.append(f"{len(self.cached)} cached")
        if self.node is not None:
            parts.append(self.title(self.node))
        if self.max:
            parts.append(f"step {self.value}/{self.max}")
        parts.append(elapsed)
        eta = self.eta()
        if eta is not None and self.finished is None:
            parts.append(f"ETA {_fmt_secs(eta)}")
        return " · ".join(parts)


def _fmt_secs(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s"
