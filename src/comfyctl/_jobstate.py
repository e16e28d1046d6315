"""The job state machine (pure): feed it events and queue reads, ask "done? how? what next?".

Both clients drive one :class:`JobState` per waiting job; it never does I/O. The rules it encodes
(comfyui-api.md §8): completion is ``executing`` with node None for our prompt (history exists
then); ``execution_success`` arrives before the history entry, so it is not the end;
``execution_error`` / ``execution_interrupted`` say how it ended; a prompt in neither the queue
nor the history is lost; between events, a waiting client reconciles with ``/queue`` now and then
so a silent socket can never turn into a hang.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal

from comfyctl.events import (
    Event,
    Executing,
    ExecutionCached,
    ExecutionFailed,
    ExecutionInterrupted,
    ExecutionStart,
    ExecutionSuccess,
    FeatureFlags,
    Logs,
    Preview,
    QueuePosition,
    Status,
)
from comfyctl.results import QueueState

__all__ = [
    "POLL_MAX",
    "POLL_MIN",
    "TICK",
    "CancelledIds",
    "EventRouter",
    "JobState",
    "QueueVerdict",
    "SocketFailure",
    "SocketPolicy",
    "Tick",
]

#: Polling interval bounds (seconds) when no WebSocket is available.
POLL_MIN = 0.05
POLL_MAX = 1.0
_POLL_GROWTH = 1.5
#: With a socket: reconcile with /queue after this much silence about our prompt (the safety net
#: that turns a deleted prompt or a silent socket into an answer)...
IDLE_RECONCILE = 2.0
#: ...and, for a watcher that wants queue positions, at most this often on queue broadcasts.
POSITION_RECONCILE = 0.1

QueueVerdict = Literal["pending", "running", "absent"]
#: How opening the WebSocket failed: refused for good by something in front ("no websocket here":
#: 400/401/403/404/405/426/501, no upgrade), a transient server answer (other 5xx, a garbled
#: answer), or no answer within the open timeout (a proxy that swallows upgrades).
SocketFailure = Literal["blocked", "transient", "hung"]
#: After a refusal or a hung upgrade, the socket is tried again this much later (at a submit or
#: while a job polls)...
SOCKET_RETRY = 30.0
#: ...with this open budget after a hang, so a proxy that swallows upgrades costs little.
SHORT_OPEN = 1.0


@dataclass
class JobState:
    """What is known about one prompt, from events and polls."""

    prompt_id: str
    want_positions: bool = False
    #: Its events go to another client's socket (attached without taking over): only queue
    #: broadcasts reach us, so each one is worth a look at /queue (the frontend does the same).
    foreign: bool = False
    #: Its POST was sent twice (the first answer was lost): the first copy may still land late.
    resent: bool = False
    started: bool = False
    finished: bool = False
    outcome: Literal["success", "error", "interrupted"] | None = None
    executed: list[str] = field(default_factory=list)
    cached: tuple[str, ...] = ()
    last_position: tuple[int, int] | None = None
    poll_interval: float = POLL_MIN
    last_reconcile: float = float("-inf")
    last_activity: float = 0.0

    def feed(self, event: Event, now: float = 0.0) -> bool:
        """Update from one event; True when the event belongs to this job (yield it)."""
        if event.prompt_id is not None and event.prompt_id != self.prompt_id:
            return False
        self.last_activity = now
        if isinstance(event, ExecutionStart):
            self.started = True
        elif isinstance(event, ExecutionCached):
            self.started = True
            self.cached = event.nodes
        elif isinstance(event, Executing):
            if event.node is None:
                if event.prompt_id is None:  # a node-less executing without id is not ours to trust
                    return False
                self.finished = True
                self.outcome = self.outcome or "success"
            else:
                self.started = True
                if event.node not in self.executed:
                    self.executed.append(event.node)
        elif isinstance(event, ExecutionSuccess):
            self.outcome = "success"
        elif isinstance(event, ExecutionFailed):
            # "ExecutionBlocked" is a node refusing to run one branch: the prompt goes on.
            if event.exception_type != "ExecutionBlocked":
                self.outcome = "error"
        elif isinstance(event, ExecutionInterrupted):
            self.outcome = "interrupted"
        return True

    # -- reconciliation with /queue ---------------------------------------------------------------

    def on_queue(self, queue: QueueState) -> QueueVerdict:
        """Where the prompt is according to a fresh ``/queue`` read ("absent": read the history)."""
        if queue.is_running(self.prompt_id):
            self.started = True
            return "running"
        if queue.position(self.prompt_id) is not None:
            return "pending"
        return "absent"

    def extra_copies(self, queue: QueueState) -> int:
        """Pending copies of a re-sent prompt beyond the one that should run: the first POST
        landed late after all (ComfyUI does not check prompt ids for uniqueness; each
        ``POST /queue {"delete": [id]}`` removes one pending copy)."""
        if not self.resent:
            return 0
        pending = sum(i.prompt_id == self.prompt_id for i in queue.pending)
        running = sum(i.prompt_id == self.prompt_id for i in queue.running)
        return min(pending, pending + running - 1) if pending + running > 1 else 0

    def position_event(self, queue: QueueState) -> QueuePosition | None:
        """A :class:`QueuePosition` when the prompt waits and its place changed since last time."""
        pos = queue.position(self.prompt_id)
        if pos is None or self.started:
            return None
        now = (pos, len(queue.pending))
        if now == self.last_position:
            return None
        self.last_position = now
        return QueuePosition(position=pos, remaining=len(queue.pending), prompt_id=self.prompt_id)

    def should_reconcile(self, now: float, *, status_tick: bool) -> bool:
        """With a socket open: is it time to check ``/queue`` (after a broadcast or silence)?"""
        if self.finished:
            return False
        if status_tick and (self.foreign or self.resent):
            return True  # our events go elsewhere, or a late copy may just have landed: look now
        if status_tick and not self.started and self.want_positions:
            return now - self.last_reconcile >= POSITION_RECONCILE
        # wait() alone: broadcasts are not worth a /queue read (a long queue makes it a big one).
        return now - max(self.last_activity, self.last_reconcile) >= IDLE_RECONCILE

    def reconciled(self, now: float) -> None:
        self.last_reconcile = now

    def next_poll(self, changed: bool) -> float:
        """Adaptive polling interval: back to ~50 ms on change, growing to ~1 s while nothing moves."""
        self.poll_interval = POLL_MIN if changed else min(POLL_MAX, self.poll_interval * _POLL_GROWTH)
        return self.poll_interval


@dataclass
class SocketPolicy:
    """When to try opening the WebSocket again, from how the last attempts failed (jobs poll
    meanwhile). A refusal or a hang waits :data:`SOCKET_RETRY`; transient failures back off
    from 0.2 s to 5 s; a success resets everything."""

    retry_at: float = float("-inf")
    failures: int = 0
    hung: bool = False
    last: SocketFailure | None = None

    def may_try(self, now: float) -> bool:
        return now >= self.retry_at

    def open_timeout(self, default: float) -> float:
        """The open budget for the next attempt: short once an upgrade hung."""
        return min(default, SHORT_OPEN) if self.hung else default

    def failed(self, kind: SocketFailure, now: float) -> None:
        self.last = kind
        self.failures += 1
        if kind == "transient":
            self.retry_at = now + min(5.0, 0.2 * 2 ** (self.failures - 1))
        else:
            self.hung = self.hung or kind == "hung"
            self.retry_at = now + SOCKET_RETRY

    def opened(self) -> None:
        self.retry_at, self.failures, self.hung, self.last = float("-inf"), 0, False, None


class CancelledIds:
    """Prompt ids dequeued through one client (their jobs end as Interrupted, not JobLost).

    Bounded: past ``limit`` the oldest are forgotten, so a long-lived client (an MCP server, a
    fleet coordinator) does not grow without end.
    """

    def __init__(self, limit: int = 1024) -> None:
        self._ids: dict[str, None] = {}
        self._limit = limit

    def add(self, prompt_id: str) -> None:
        self._ids.pop(prompt_id, None)
        self._ids[prompt_id] = None
        while len(self._ids) > self._limit:
            del self._ids[next(iter(self._ids))]

    def __contains__(self, prompt_id: object) -> bool:
        return prompt_id in self._ids

    def __len__(self) -> int:
        return len(self._ids)


class Tick:
    """What a router hands out after a queue-change broadcast: time to look at ``/queue``."""

    def __repr__(self) -> str:
        return "TICK"


TICK = Tick()
_MAX_BUFFERED = 4096
_MAX_PREVIEWS = 64


class EventRouter:
    """Files the events of one shared socket under the prompt they belong to.

    One WebSocket serves every job of a client (ComfyUI allows one socket per client id), so
    frames for other prompts are kept for their jobs. Events without a prompt id (legacy
    previews, node text, the reconnect-time ``executing``) go to the prompt that is running.
    Buffers are bounded: a job nobody waits for cannot grow memory without limit.
    """

    def __init__(self) -> None:
        self.queues: dict[str, deque[Event]] = {}
        self.previews: dict[str, int] = {}  # previews buffered per prompt (kept O(1) to count)
        self.status_seq = 0  # queue-change broadcasts seen; each job remembers the last it saw
        self.seen_seq: dict[str, int] = {}
        self.running: str | None = None
        self.server_flags: dict[str, Any] = {}

    def register(self, prompt_id: str) -> None:
        self.queues.setdefault(prompt_id, deque(maxlen=_MAX_BUFFERED))
        self.seen_seq.setdefault(prompt_id, self.status_seq)

    def unregister(self, prompt_id: str) -> None:
        self.queues.pop(prompt_id, None)
        self.previews.pop(prompt_id, None)
        self.seen_seq.pop(prompt_id, None)

    def dispatch(self, event: Event) -> None:
        if isinstance(event, Status):
            self.status_seq += 1
            return
        if isinstance(event, FeatureFlags):
            self.server_flags = dict(event.flags)
            return
        if isinstance(event, Logs):
            return
        pid = event.prompt_id
        if isinstance(event, ExecutionStart):
            self.running = pid
        if pid is None:
            pid = self.running
        if isinstance(event, Executing) and event.node is None and event.prompt_id == self.running:
            self.running = None
        queue = self.queues.get(pid) if pid is not None else None
        if queue is None or pid is None:
            return
        if isinstance(event, Preview):
            # Nobody reads fast enough: the newest picture matters, drop the oldest one.
            if self.previews.get(pid, 0) >= _MAX_PREVIEWS:
                queue.remove(next(e for e in queue if isinstance(e, Preview)))
            else:
                self.previews[pid] = self.previews.get(pid, 0) + 1
        if len(queue) == queue.maxlen and isinstance(queue[0], Preview):
            self.previews[pid] -= 1  # about to fall off the full buffer
        queue.append(event)

    def take(self, prompt_id: str) -> Event | Tick | None:
        """The next buffered event for ``prompt_id``, else TICK if a broadcast came, else None."""
        queue = self.queues.get(prompt_id)
        if queue:
            event = queue.popleft()
            if isinstance(event, Preview):
                self.previews[prompt_id] -= 1
            return event
        seen = self.seen_seq.get(prompt_id)
        if seen is not None and seen != self.status_seq:
            self.seen_seq[prompt_id] = self.status_seq
            return TICK
        return None
