"""The progress model behind ``run``/``watch``: what the line says after each event (pure, fake clock)."""

from __future__ import annotations

import pytest

from comfyctl.cli.progress import JobProgress, ProgressDisplay, nodes_to_run
from comfyctl.events import (
    Executed,
    Executing,
    ExecutionCached,
    ExecutionStart,
    ExecutionSuccess,
    Progress,
    QueuePosition,
)

API = {
    "1": {"class_type": "EmptyLatentImage", "inputs": {}},
    "2": {"class_type": "KSampler", "inputs": {"latent_image": ["1", 0]}, "_meta": {"title": "Sampler"}},
    "3": {"class_type": "VAEDecode", "inputs": {"samples": ["2", 0]}},
    "4": {"class_type": "SaveImage", "inputs": {"images": ["3", 0]}},
    "9": {"class_type": "Note", "inputs": {}},  # not reachable from the output: never runs
}


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_nodes_to_run_counts_only_what_outputs_need() -> None:
    assert nodes_to_run(API, {"4"}) == 4
    assert nodes_to_run(API, None) == 5


def test_line_follows_queue_nodes_steps_cache_and_eta() -> None:
    clock = Clock()
    p = JobProgress(API, nodes_to_run(API, {"4"}), clock=clock)
    assert p.feed(QueuePosition(position=2, remaining=3))
    assert p.line().startswith("queued, 2 ahead")
    p.feed(QueuePosition(position=0, remaining=1))
    assert p.line().startswith("next in queue")
    clock.t += 1
    p.feed(ExecutionStart(prompt_id="p"))
    p.feed(ExecutionCached(nodes=("1",), prompt_id="p"))
    p.feed(Executing(node="2", display_node="2", prompt_id="p"))
    assert p.line().startswith("1/4 nodes · 1 cached · Sampler #2 · ")
    clock.t += 2
    p.feed(Progress(node="2", value=5, max=20, prompt_id="p"))
    line = p.line()
    assert "step 5/20" in line and "ETA" in line
    # 2 s for a quarter of one node's work, 3 nodes of real work: 24 s in all, 22 s left
    assert p.eta() == pytest.approx(22.0)
    clock.t += 6
    p.feed(Executing(node="3", display_node="3", prompt_id="p"))
    assert p.line().startswith("2/4 nodes · 1 cached · VAEDecode #3")
    p.feed(Executing(node="4", display_node="4", prompt_id="p"))
    p.feed(Executed(node="4", display_node="4", output={}, prompt_id="p"))
    p.feed(ExecutionSuccess(prompt_id="p"))
    assert p.line().startswith("4/4 nodes") and "ETA" not in p.line()


def test_plain_mode_prints_occasionally(capsys: pytest.CaptureFixture[str]) -> None:
    clock = Clock()
    p = JobProgress(API, 4, clock=clock)
    display = ProgressDisplay(p, "plain")
    display.update(ExecutionStart(prompt_id="p"))
    for i in range(50):  # a burst of steps within one second: one line at most
        clock.t += 0.01
        display.update(Progress(node="2", value=i, max=50, prompt_id="p"))
    display.update(Executing(node="3", display_node="3", prompt_id="p"))  # same second: skipped
    clock.t += 1.5
    display.update(Executing(node="4", display_node="4", prompt_id="p"))  # new node, 1 s later
    clock.t += 6
    display.update(Progress(node="4", value=1, max=2, prompt_id="p"))  # 5 s of silence: a line
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 3
    assert "SaveImage #4" in lines[1] and "step 1/2" in lines[2]


def test_off_mode_prints_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    display = ProgressDisplay(JobProgress(API, 4), "off")
    with display:
        display.update(ExecutionStart(prompt_id="p"))
        display.final("done")
    assert capsys.readouterr().err == ""


def test_watching_a_prompt_mid_run_counts_nodes_that_finished_before() -> None:
    from comfyctl.events import ProgressState

    clock = Clock()
    p = JobProgress(API, 4, clock=clock)
    # attach: no execution_start; the server's snapshot says 1 and 2 are finished, 3 runs
    nodes = {"1": {"state": "finished"}, "2": {"state": "finished"}, "3": {"state": "running"}}
    p.feed(ProgressState(nodes=nodes, prompt_id="p"))
    p.feed(Executing(node="3", display_node="3", prompt_id="p"))
    assert p.line().startswith("2/4 nodes")  # was 0/4: only nodes seen executing counted
    clock.t += 10
    p.feed(ProgressState(nodes={**nodes, "3": {"state": "finished"}}, prompt_id="p"))  # news, not past
    p.feed(Executing(node="4", display_node="4", prompt_id="p"))
    # 1 of the 2 nodes left after attaching took 10 s: 10 s to go (not skewed by 1 and 2)
    assert p.eta() == pytest.approx(10.0)
