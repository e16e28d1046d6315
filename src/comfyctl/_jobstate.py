"""The job state machine (pure): feed it events and queue reads, ask "done? how? what next?".

Both clients drive one :class:`JobState` per waiting job; it never does I/O. The rules it encodes
(comfyui-api.md §8): completion is ``executing`` with node None for our prompt (history exists
then); ``execution_success`` arrives before the history entry, so it is not the end;
``execution_error`` / ``execution_interrupted`` say how it ended; a prompt in neither the queue
nor the history is lost; between events, a waiting client reconciles with ``/queue`` now and then
so a silent socket can never turn into a hang.

:class:`JobFlow` is the whole follow loop as a sans-IO driver: it yields actions (read the queue,
read the history entry, receive with a timeout, (re)connect, sleep, emit an event) and takes the
answers, so ``Job`` and ``AsyncJob`` (both built on :class:`JobBase`) only perform I/O.
"""

from __future__ import annotations

import time
import weakref
from collections import deque
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from comfyctl import _protocol as proto
from comfyctl.errors import WAIT_TIMEOUT_HINT, WaitTimeout
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
from comfyctl.results import QueueState, Result

__all__ = [
    "POLL_MAX",
    "POLL_MIN",
    "TICK",
    "CancelledIds",
    "EventRouter",
    "JobBase",
    "JobFlow",
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
#: After history shows the prompt, how long to drain its remaining events from the socket.
GRACE = 0.5

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

    def __init__(self, client_id: str = "") -> None:
        self.client_id = client_id
        #: the I/O layer's open socket (None: closed); opened by ``comfyctl._flows.open_socket``
        self.ws: Any = None
        self.queues: dict[str, deque[Event]] = {}
        self.previews: dict[str, int] = {}  # previews buffered per prompt (kept O(1) to count)
        self.status_seq = 0  # queue-change broadcasts seen; each job remembers the last it saw
        self.seen_seq: dict[str, int] = {}
        self.running: str | None = None
        self.server_flags: dict[str, Any] = {}
        self.policy = SocketPolicy()

    @property
    def connected(self) -> bool:
        """Whether the I/O layer has the socket open."""
        return self.ws is not None

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

    def ready(self, prompt_id: str, remaining: float) -> tuple[bool, Event | Tick | None]:
        """Before reading the socket: (True, what to return) when an event is buffered or the
        time is up, else (False, None)."""
        got = self.take(prompt_id)
        if got is not None or remaining <= 0:
            return True, got
        return False, None

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


# -- the job driver: the follow loop of both clients, as actions ----------------------------------


@dataclass(frozen=True)
class ReadQueue:
    """Answer with a fresh :class:`QueueState` (``GET /queue``)."""

    method: ClassVar[str] = "_do_read_queue"


@dataclass(frozen=True)
class ReadHistory:
    """Answer with the prompt's history entry, or None."""

    method: ClassVar[str] = "_do_read_history"


@dataclass(frozen=True)
class DeleteQueued:
    """Dequeue ``count`` pending copies of the prompt; answer None."""

    method: ClassVar[str] = "_do_delete_queued"

    count: int


@dataclass(frozen=True)
class Sleep:
    method: ClassVar[str] = "_do_sleep"
    seconds: float


@dataclass(frozen=True)
class Connect:
    """Open the socket if the policy allows (the hub's ``ensure``): answer its bool, or the
    :class:`ServerUnreachable` it raised."""

    method: ClassVar[str] = "_do_connect"


@dataclass(frozen=True)
class Receive:
    """Answer with the hub's next Event, TICK or None within ``timeout``, or LOST if it dropped."""

    method: ClassVar[str] = "_do_receive"

    timeout: float


@dataclass(frozen=True)
class Emit:
    """Hand ``event`` to the caller; answer None."""

    method: ClassVar[str] = "_do_emit"

    event: Event


@dataclass(frozen=True)
class CloseSocket:
    """The job is done with its private (attached) socket: close it."""

    method: ClassVar[str] = "_do_close_socket"


READ_QUEUE, READ_HISTORY, CONNECT, CLOSE_SOCKET = ReadQueue(), ReadHistory(), Connect(), CloseSocket()
#: The answer to :class:`Receive` when the socket closed under the job.
LOST = object()
Action = ReadQueue | ReadHistory | DeleteQueued | Sleep | Connect | Receive | Emit | CloseSocket
Flow = Generator[Action, Any, None]


class JobFlow:
    """Everything a waiting job decides, without I/O (the sans-IO driver both clients run).

    :meth:`follow` yields actions; the client performs each one and sends the answer back. So
    the sync and async jobs share one loop: socket first, ``/queue`` + ``/history`` as the
    safety net, polling while no socket is open, and the history entry as the final word.
    """

    def __init__(
        self,
        prompt_id: str,
        *,
        hub: EventRouter | None,
        cancelled: CancelledIds,
        closed: Callable[[], bool],
        clock: Callable[[], float],
        base_url: str,
        reconnect_timeout: float,
        entry: Mapping[str, Any] | None = None,
        private: bool = False,
        reconcile_first: bool = False,
        foreign: bool = False,
    ):
        self.prompt_id = prompt_id
        self.hub = hub
        self.cancelled = cancelled
        self.closed = closed
        self.clock = clock
        self.base_url = base_url
        self.reconnect_timeout = reconnect_timeout
        self.private = private
        self.state = JobState(prompt_id, foreign=foreign)
        # Just posted: the queue was as good as checked (no /queue read right after every submit).
        self.state.last_reconcile = clock()
        self.entry = entry
        self.result: Result | None = None
        self.reconcile_first = reconcile_first or hub is None
        self.cancel_seen = False
        if entry is not None:
            self.state.finished = True

    def follow(self, limit: float | None, *, positions: bool) -> Flow:
        """Until the result is known; ``limit`` seconds at most (None: no limit)."""
        st, hub, pid = self.state, self.hub, self.prompt_id
        st.want_positions = positions
        deadline = None if limit is None else self.clock() + limit
        polling = hub is None or not hub.connected
        # A watcher wants its queue position at once; wait() lets the socket speak first.
        force = self.reconcile_first or (positions and not st.started and st.last_position is None)
        first = True
        while not st.finished:
            if self.closed():
                raise proto.closed_error()
            now = self.clock()
            if polling and hub is not None and (hub.connected or hub.policy.may_try(now)):
                # The socket is back (or may be): follow it again, after a look at /queue.
                opened = yield CONNECT
                if not isinstance(opened, Exception):  # still unreachable: keep polling
                    polling = not opened
                force = force or not polling
            if deadline is not None and now >= deadline:
                raise WaitTimeout(
                    f"prompt {pid} did not finish within {limit:g} s",
                    prompt_id=pid,
                    hint=WAIT_TIMEOUT_HINT,
                )
            remaining = IDLE_RECONCILE if deadline is None else deadline - now
            if pid in self.cancelled and not self.cancel_seen:
                self.cancel_seen = force = True  # dequeued through this client: look now
            if polling or force or hub is None:
                if polling and not first:
                    yield Sleep(min(st.poll_interval, remaining))
                first = force = False
                changed = yield from self._reconcile()
                if polling:
                    st.next_poll(changed)
                continue
            if self.entry is not None:
                # History already has it: read what the socket still holds, up to executing(None).
                remaining = min(remaining, GRACE)
            got = yield Receive(min(IDLE_RECONCILE, remaining))
            if got is LOST:
                polling = not (yield from self._reconnect(deadline))
                force = True
                continue
            if self.entry is not None and not isinstance(got, Event):
                st.finished = got is None or st.finished
            elif isinstance(got, Tick) or got is None:
                force = st.should_reconcile(self.clock(), status_tick=got is TICK)
            elif st.feed(got, self.clock()):
                yield Emit(got)
        yield from self._finish(deadline)

    def _reconcile(self) -> Generator[Action, Any, bool]:
        """Ask /queue (and /history if it left the queue) where the prompt is; True on change."""
        st, pid = self.state, self.prompt_id
        before = (st.started, st.last_position)
        queue = yield READ_QUEUE
        extra = st.extra_copies(queue)
        if extra:  # the lost first POST landed after all: run the prompt once
            yield DeleteQueued(extra)
        verdict = st.on_queue(queue)
        st.reconciled(self.clock())
        if verdict == "absent":
            entry = yield READ_HISTORY
            if entry is None:
                yield Sleep(0.05)  # a server may write history an instant after the queue empties
                entry = yield READ_HISTORY
            if entry is None:
                raise proto.job_gone(pid, cancelled=pid in self.cancelled)
            self.entry = entry
            st.finished = self.hub is None or not self.hub.connected
            return True
        event = st.position_event(queue)
        changed = (st.started, st.last_position) != before
        if event is not None and st.want_positions:
            yield Emit(event)
        return changed

    def _reconnect(self, deadline: float | None) -> Generator[Action, Any, bool]:
        """Reopen a dropped socket with backoff; False when WebSockets are refused (poll)."""
        start = self.clock()
        attempt = 0
        while True:
            opened = yield CONNECT
            if not isinstance(opened, Exception):
                return bool(opened)
            if self.clock() - start >= self.reconnect_timeout:
                raise opened
            delay = proto.retry_delay(attempt, base=0.2, cap=2.0)
            if deadline is not None and self.clock() + delay >= deadline:
                raise WaitTimeout("gave up waiting while the server was unreachable") from None
            yield Sleep(delay)
            attempt += 1

    def _finish(self, deadline: float | None) -> Flow:
        if self.result is not None:
            return
        pid, entry = self.prompt_id, self.entry
        attempt = 0
        while entry is None:
            # executing(node=None) follows the history write; retry briefly for slower servers.
            entry = yield READ_HISTORY
            if entry is not None:
                break
            if attempt >= 8:
                if pid not in (yield READ_QUEUE):
                    raise proto.job_gone(pid, cancelled=pid in self.cancelled)
                attempt = 0
            if deadline is not None and self.clock() >= deadline:
                raise WaitTimeout(f"prompt {pid} finished but its history did not appear", prompt_id=pid)
            yield Sleep(proto.retry_delay(attempt, base=0.02, cap=0.5))
            attempt += 1
        self.entry = entry
        self.result = proto.result_from_history(pid, entry, self.base_url)
        if self.hub is not None:
            self.hub.unregister(pid)
            if self.private:
                yield CLOSE_SOCKET


class JobBase:
    """What :class:`comfyctl.Job` and :class:`comfyctl.AsyncJob` share: the prompt's identity and
    the :class:`JobFlow` that decides; each subclass only performs the flow's actions."""

    def __init__(
        self,
        client: Any,
        prompt_id: str,
        *,
        number: float | None = None,
        node_errors: Mapping[str, Any] | None = None,
        hub: Any = None,
        entry: Mapping[str, Any] | None = None,
        private: bool = False,
        reconcile_first: bool = False,
        foreign: bool = False,
        attached: bool = False,
        resent: bool = False,
    ):
        self.prompt_id = prompt_id
        self.number = number
        #: True when the prompt was already on the server (``attach``, or ``submit_once`` finding
        #: its id); False when this client queued it.
        self.attached = attached
        self.node_errors: dict[str, Any] = dict(node_errors or {})
        self._client = client
        self._hub = hub
        self._flow = JobFlow(
            prompt_id,
            hub=hub,
            cancelled=client._cancelled,
            closed=lambda: client._closed,
            clock=time.monotonic,
            base_url=client.settings.base_url,
            reconnect_timeout=client.settings.reconnect_timeout,
            entry=entry,
            private=private,
            reconcile_first=reconcile_first,
            foreign=foreign,
        )
        self._flow.state.resent = resent
        if hub is not None:
            weakref.finalize(self, hub.unregister, prompt_id)

    def _limit(self, timeout: float | None) -> float | None:
        """How long a wait may take: ``timeout``, else the client's ``wait_timeout``."""
        return timeout if timeout is not None else self._client.settings.wait_timeout

    def _outcome(self) -> Result:
        """The known result: returned on success, raised as ExecutionError / Interrupted."""
        assert self._flow.result is not None
        return proto.raise_for_result(self._flow.result)

    def __repr__(self) -> str:
        st = self._flow.state
        state = "done" if st.finished else ("running" if st.started else "queued")
        return f"{type(self).__name__}({self.prompt_id!r}, {state})"

    @property
    def done(self) -> bool:
        """True once the prompt finished (as far as this client has seen)."""
        return self._flow.state.finished
