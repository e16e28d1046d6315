"""The job state machine and event router, fed with captured WebSocket sequences."""

from __future__ import annotations

import json
from typing import Any

import pytest

from comfyctl import _protocol as proto
from comfyctl._jobstate import POLL_MAX, POLL_MIN, TICK, EventRouter, JobState
from comfyctl.events import Executing, Preview, Progress, Status, parse_event
from conftest import FIXTURES


def _main_socket_events(name: str) -> list[Any]:
    out = []
    for line in (FIXTURES / "ws" / f"{name}.jsonl").read_text().splitlines():
        rec = json.loads(line)
        if rec.get("socket") == "main" and rec.get("kind") == "text":
            out.append(parse_event(json.dumps(rec["msg"])))
    return out


def _prompt_id(events: list[Any]) -> str:
    return next(e.prompt_id for e in events if e.type == "execution_start")


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
    assert st.finished and st.outcome == outcome
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
    assert [e.type for e in (r.take("a"), r.take("a"))] == ["execution_start", "preview"]
    assert r.take("b").type == "progress"  # type: ignore[union-attr]
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
