"""The job state machine and event router, fed with captured WebSocket sequences."""

from __future__ import annotations

import json
from typing import Any

import pytest

from comfyctl import _protocol as proto
from comfyctl._jobstate import (
    POLL_MAX,
    POLL_MIN,
    SHORT_OPEN,
    SOCKET_RETRY,
    TICK,
    CancelledIds,
    EventRouter,
    JobState,
    SocketPolicy,
)
from comfyctl._protocol import parse_queue
from comfyctl.events import Executing, Preview, Progress, Status, parse_event
from comfyctl.results import QueueState
from conftest import FIXTURES


def _main_socket_events(name: str) -> list[Any]:
    out = []
    for line in (FIXTURES / "ws" / f"{name}.jsonl").read_text().splitlines():
        rec = json.loads(line)
        if rec.get("socket") == "main" and rec.get("kind") == "text":
            out.append(parse_event(json.dumps(rec["msg"])))
    return out


def _prompt_id(events: list[Any]) -> str:
    return str(next(e.prompt_id for e in events if e.type == "execution_start"))


@pytest.mark.parametrize(
    ("name", "outcome"),
    [
        ("success", "success"),
        ("success_cached", "success"),
        ("error_runtime", "error"),
        ("interrupt", "interrupted"),
        ("interrupt_targeted", "interrupted"),
    ],
)
def test_captured_sequences_finish_on_executing_none(name: str, outcome: str) -> None:
    events = _main_socket_events(name)
    st = JobState(_prompt_id(events))
    finished_at = None
    for i, e in enumerate(events):
        st.feed(e)
        if e.type == "execution_success":
            assert not st.finished  # history does not exist yet at execution_success
        if st.finished and finished_at is None:
            finished_at = i
    assert st.finished and st.outcome == outcome and finished_at is not None
    assert isinstance(events[finished_at], Executing) and events[finished_at].node is None


def test_events_of_other_prompts_are_not_ours() -> None:
    st = JobState("mine")
    assert not st.feed(Executing(node=None, prompt_id="other"))
    assert not st.finished
    assert st.feed(Progress(node="3", value=1, max=2, prompt_id="mine"))
    # The reconnect-time "executing" has no prompt id and no null node: ours while running.
    assert st.feed(Executing(node="4"))
    assert not st.feed(Executing(node=None))  # a node-less one without id must not end the job
    assert not st.finished


def test_execution_blocked_is_not_a_failure() -> None:
    st = JobState("p")
    st.feed(
        parse_event(
            json.dumps(
                {
                    "type": "execution_error",
                    "data": {"prompt_id": "p", "exception_type": "ExecutionBlocked", "node_id": "2"},
                }
            )
        )
    )
    assert st.outcome is None


def test_queue_verdicts_and_positions() -> None:
    q_pending = proto.parse_queue(
        {
            "queue_running": [[0, "r", {}, {}, []]],
            "queue_pending": [[5, "b", {}, {}, []], [2, "a", {}, {}, []]],
        }
    )
    st = JobState("b", want_positions=True)
    assert st.on_queue(q_pending) == "pending"
    pos = st.position_event(q_pending)
    assert pos is not None and (pos.position, pos.remaining, pos.prompt_id) == (1, 2, "b")
    assert st.position_event(q_pending) is None  # unchanged: not repeated
    q_next = proto.parse_queue(
        {"queue_running": [[2, "a", {}, {}, []]], "queue_pending": [[5, "b", {}, {}, []]]}
    )
    nxt = st.position_event(q_next)
    assert nxt is not None and nxt.position == 0
    assert (
        st.on_queue(proto.parse_queue({"queue_running": [[5, "b", {}, {}, []]]})) == "running" and st.started
    )
    assert st.on_queue(proto.parse_queue({})) == "absent"


def test_poll_interval_adapts_between_bounds() -> None:
    st = JobState("p")
    intervals = [st.next_poll(False) for _ in range(20)]
    assert intervals == sorted(intervals) and intervals[-1] == POLL_MAX and intervals[0] > POLL_MIN
    assert st.next_poll(True) == POLL_MIN


def test_reconcile_schedule() -> None:
    watcher = JobState("p", want_positions=True)
    assert watcher.should_reconcile(0.0, status_tick=True)  # never reconciled yet
    watcher.reconciled(10.0)
    assert not watcher.should_reconcile(10.05, status_tick=True)  # throttled
    assert watcher.should_reconcile(10.2, status_tick=True)
    waiter = JobState("p")
    waiter.reconciled(10.0)
    assert not waiter.should_reconcile(11.5, status_tick=True)  # broadcasts alone: no /queue read
    assert waiter.should_reconcile(12.5, status_tick=False)  # but silence is checked
    waiter.feed(Progress(node="1", value=1, max=3, prompt_id="p"), now=20.0)
    assert not waiter.should_reconcile(21.0, status_tick=False)  # recent activity
    assert waiter.should_reconcile(22.5, status_tick=False)


def test_router_files_events_by_prompt_and_ticks_on_status() -> None:
    r = EventRouter()
    r.register("a")
    r.register("b")
    r.dispatch(Status(queue_remaining=2))
    assert r.take("a") is TICK and r.take("a") is None and r.take("b") is TICK
    r.dispatch(parse_event(json.dumps({"type": "execution_start", "data": {"prompt_id": "a"}})))
    r.dispatch(Preview(image=b"x"))  # legacy preview: no prompt id → the running prompt
    r.dispatch(Progress(node="1", value=1, max=1, prompt_id="b"))
    r.dispatch(Progress(node="1", value=1, max=1, prompt_id="unregistered"))
    assert [getattr(e, "type", None) for e in (r.take("a"), r.take("a"))] == ["execution_start", "preview"]
    assert isinstance(r.take("b"), Progress)
    r.dispatch(Executing(node=None, prompt_id="a"))
    assert r.running is None
    r.unregister("a")
    r.dispatch(Progress(node="1", value=1, max=1, prompt_id="a"))
    assert r.take("a") is None


def test_router_bounds_unread_previews() -> None:
    r = EventRouter()
    r.register("a")
    for _ in range(500):
        r.dispatch(Preview(image=b"x" * 10, prompt_id="a"))
    assert sum(1 for e in r.queues["a"] if isinstance(e, Preview)) <= 64


def test_router_ticks_once_per_batch_of_broadcasts_and_not_before() -> None:
    r = EventRouter()
    r.register("a")
    assert r.take("a") is None  # no broadcast yet
    for _ in range(5):
        r.dispatch(Status(queue_remaining=1))
    assert r.take("a") is TICK and r.take("a") is None
    r.register("late")
    assert r.take("late") is None  # broadcasts before registering are not news to it


def test_router_keeps_the_newest_previews_and_every_other_event() -> None:
    r = EventRouter()
    r.register("a")
    for i in range(200):
        r.dispatch(Preview(image=bytes([i]), prompt_id="a"))
        if i % 50 == 0:
            r.dispatch(Progress(node="1", value=i, max=200, prompt_id="a"))
    kept = [e for e in r.queues["a"] if isinstance(e, Preview)]
    assert [e.image[0] for e in kept] == list(range(136, 200))  # the oldest were dropped
    assert [e.value for e in r.queues["a"] if isinstance(e, Progress)] == [0, 50, 100, 150]
    while r.take("a") is not None:  # reading frees room: the count follows
        pass
    r.dispatch(Preview(image=b"new", prompt_id="a"))
    assert list(r.queues["a"]) == [Preview(image=b"new", prompt_id="a")] and r.previews["a"] == 1


def test_socket_policy_tells_refusals_transients_and_hangs_apart() -> None:
    p = SocketPolicy()
    assert p.may_try(0.0) and p.open_timeout(30.0) == 30.0
    p.failed("transient", 0.0)
    assert not p.may_try(0.1) and p.may_try(0.2)  # backoff, polling meanwhile
    p.failed("transient", 1.0)
    assert not p.may_try(1.3) and p.may_try(1.4)
    p.failed("blocked", 2.0)
    assert not p.may_try(2.0 + SOCKET_RETRY - 1) and p.may_try(2.0 + SOCKET_RETRY)
    assert p.open_timeout(30.0) == 30.0
    p.failed("hung", 100.0)
    assert not p.may_try(101.0) and p.open_timeout(30.0) == SHORT_OPEN  # a short budget later
    p.opened()
    assert p.may_try(0.0) and p.open_timeout(30.0) == 30.0


def test_cancelled_ids_are_bounded_oldest_first() -> None:
    ids = CancelledIds(limit=3)
    for pid in "abcd":
        ids.add(pid)
    ids.add("b")  # seen again: now the newest
    ids.add("e")
    assert [p for p in "abcde" if p in ids] == ["b", "d", "e"] and len(ids) == 3


def _queue(running: list[str], pending: list[str]) -> QueueState:
    return parse_queue(
        {
            "queue_running": [[0, p, {}, {}, []] for p in running],
            "queue_pending": [[i + 1, p, {}, {}, []] for i, p in enumerate(pending)],
        }
    )


def test_extra_copies_only_for_a_resent_prompt() -> None:
    st = JobState("p")
    assert st.extra_copies(_queue([], ["p", "p"])) == 0  # never re-sent: not ours to touch
    st.resent = True
    assert st.extra_copies(_queue([], ["p"])) == 0
    assert st.extra_copies(_queue([], ["p", "x", "p"])) == 1
    assert st.extra_copies(_queue(["p"], ["p"])) == 1  # one runs: the pending copy goes
    assert st.extra_copies(_queue([], [])) == 0


def test_foreign_and_resent_jobs_look_at_the_queue_on_broadcasts() -> None:
    for flag in ("foreign", "resent"):
        st = JobState("p", started=True)
        st.reconciled(10.0)
        assert not st.should_reconcile(10.5, status_tick=True)  # our own events will tell us
        setattr(st, flag, True)
        assert st.should_reconcile(10.01, status_tick=True)  # each broadcast: it may be the end
        assert not st.should_reconcile(10.5, status_tick=False)


def _flow(hub: EventRouter | None, cancelled: CancelledIds | None = None) -> Any:
    from comfyctl._jobstate import JobFlow

    clock = iter(range(0, 10_000)).__next__  # one second per look at the clock
    return JobFlow(
        "p",
        hub=hub,
        cancelled=cancelled or CancelledIds(),
        closed=lambda: False,
        clock=lambda: float(clock()),
        base_url="http://x",
        reconnect_timeout=5.0,
    )


def test_flow_without_socket_polls_queue_then_history_for_the_result() -> None:
    from comfyctl._jobstate import READ_HISTORY, READ_QUEUE, Emit, Sleep

    entry = next(iter(json.loads((FIXTURES / "history" / "success.json").read_text()).values()))
    flow = _flow(None)
    gen = flow.follow(None, positions=True)
    assert next(gen) is READ_QUEUE
    emitted = gen.send(proto.parse_queue({"queue_pending": [[1, "p", {}, {}, []]]}))
    assert isinstance(emitted, Emit) and emitted.event.type == "queue_position"
    assert isinstance(gen.send(None), Sleep)  # polling backs off between reads
    assert gen.send(None) is READ_QUEUE
    assert gen.send(proto.parse_queue({})) is READ_HISTORY  # left the queue: history decides
    with pytest.raises(StopIteration):
        gen.send(entry)
    assert flow.result is not None and flow.result.prompt_id == "p" and flow.state.finished


def test_flow_raises_job_lost_or_interrupted_when_the_prompt_vanishes() -> None:
    from comfyctl._jobstate import READ_HISTORY, Sleep
    from comfyctl.errors import Interrupted, JobLost

    for cancelled, error in ((CancelledIds(), JobLost), (CancelledIds(), Interrupted)):
        if error is Interrupted:
            cancelled.add("p")
        gen = _flow(None, cancelled).follow(None, positions=False)
        next(gen)
        assert gen.send(proto.parse_queue({})) is READ_HISTORY
        assert isinstance(gen.send(None), Sleep)  # history may lag the queue by an instant
        assert gen.send(None) is READ_HISTORY
        with pytest.raises(error):
            gen.send(None)


def test_flow_reconnects_a_lost_socket_with_backoff_then_gives_up() -> None:
    from comfyctl._jobstate import CONNECT, LOST, Receive, Sleep
    from comfyctl.errors import ServerUnreachable

    class Open(EventRouter):
        connected = True

    gen = _flow(Open()).follow(None, positions=False)
    assert isinstance(next(gen), Receive)  # just posted: the socket speaks first
    assert gen.send(LOST) is CONNECT
    down = ServerUnreachable("down")
    waits = 0
    with pytest.raises(ServerUnreachable):
        while True:
            assert isinstance(gen.send(down), Sleep)
            waits += 1
            assert gen.send(None) is CONNECT
    assert waits >= 1  # retried before giving up after reconnect_timeout
