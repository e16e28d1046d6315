"""Client and AsyncClient against the sandbox: every flow and every fault, run for both.

The sync client runs in a worker thread (``asyncio.to_thread``) so one async test body drives both;
nothing here measures time.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from comfyctl import AsyncClient, Client, errors
from comfyctl.events import (
    Executed,
    Executing,
    ExecutionStart,
    Preview,
    Progress,
    QueuePosition,
)
from comfyctl.results import OutputFile
from comfyctl.settings import Settings
from comfyctl.testing import Sandbox

WORKFLOW: dict[str, dict[str, Any]] = {
    "1": {"class_type": "EmptyImage", "inputs": {"width": 16, "height": 12, "batch_size": 1, "color": 255}},
    "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
    "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "t/out"}},
}


def workflow(color: int = 255) -> dict[str, Any]:
    """A fresh workflow (a new color defeats the execution cache)."""
    wf: dict[str, Any] = {
        k: {"class_type": v["class_type"], "inputs": dict(v["inputs"])} for k, v in WORKFLOW.items()
    }
    wf["1"]["inputs"]["color"] = color
    return wf


class Api:
    """The same calls on either client: sync calls run in a thread, async ones are awaited."""

    def __init__(self, client: Client | AsyncClient):
        self.client = client
        self.is_async = isinstance(client, AsyncClient)

    async def __call__(self, name: str, *args: Any, **kw: Any) -> Any:
        return await self.on(self.client, name, *args, **kw)

    async def on(self, obj: Any, name: str, *args: Any, **kw: Any) -> Any:
        if self.is_async:
            return await getattr(obj, name)(*args, **kw)
        return await asyncio.to_thread(getattr(obj, name), *args, **kw)

    async def events(self, job: Any, on_event: Callable[[Any], None] | None = None, **kw: Any) -> list[Any]:
        seen: list[Any] = []
        if self.is_async:
            async for event in job.events(**kw):
                seen.append(event)
                if on_event:
                    on_event(event)
            return seen

        def consume() -> list[Any]:
            for event in job.events(**kw):
                seen.append(event)
                if on_event:
                    on_event(event)
            return seen

        return await asyncio.to_thread(consume)

    async def close(self) -> None:
        if self.is_async:
            await self.client.close()  # type: ignore[misc]
        else:
            self.client.close()


def make_client(kind: str, url: str, **kw: Any) -> Client | AsyncClient:
    return AsyncClient(url, **kw) if kind == "async" else Client(url, **kw)


@pytest.fixture(params=["sync", "async"])
async def api(request: pytest.FixtureRequest, sandbox: Sandbox) -> AsyncIterator[Api]:
    a = Api(make_client(request.param, sandbox.url))
    yield a
    await a.close()


async def test_run_returns_outputs_and_downloads_match_view(api: Api, tmp_path: Path) -> None:
    result = await api("run", workflow())
    assert result.status == "success" and result.executed == ("1", "2", "3")
    (out,) = result.outputs
    assert (out.node_id, out.kind, out.type, out.subfolder) == ("3", "image", "output", "t")
    (path,) = await api("download_all", result, tmp_path)
    assert path == tmp_path / "t" / out.filename
    assert path.read_bytes() == await api("view", out.filename, subfolder="t")
    assert not list(tmp_path.rglob("*.part"))
    again = await api("download", out, tmp_path)
    assert again.name == Path(out.filename).stem + " (1).png"  # never overwritten unless asked
    assert await api("download", out, tmp_path, overwrite=True) == path


async def test_events_cover_the_run_with_progress_and_previews(api: Api, sandbox: Sandbox) -> None:
    sandbox.faults.node("2", steps=3)
    job = await api("submit", workflow(7))
    events = await api.events(job)
    types = [e.type for e in events]
    assert isinstance(events[0], ExecutionStart) and types.count("progress") == 3
    assert any(isinstance(e, Preview) and e.metadata and e.prompt_id == job.prompt_id for e in events)
    assert any(isinstance(e, Executed) and e.node == "3" for e in events)
    assert isinstance(events[-1], Executing) and events[-1].node is None
    assert types.index("execution_success") < len(types) - 1
    assert all(e.prompt_id in (None, job.prompt_id) for e in events)
    assert job.done and (await api.on(job, "result")).status == "success"
    assert await api.events(job) == []  # finished: nothing more


async def test_queue_position_while_pending_then_runs(api: Api, sandbox: Sandbox) -> None:
    sandbox.pause_worker()
    first = await api("submit", workflow(1))
    second = await api("submit", workflow(2))
    queue = await api("queue")
    assert [i.prompt_id for i in queue.pending][-2:] == [first.prompt_id, second.prompt_id]

    def resume_on_position(event: Any) -> None:
        if isinstance(event, QueuePosition):
            sandbox.resume_worker()

    events = await api.events(second, resume_on_position)
    positions = [e for e in events if isinstance(e, QueuePosition)]
    assert positions and positions[0].position == 1 and positions[0].remaining == 2
    assert (await api.on(first, "wait")).status == "success"


async def test_many_jobs_waited_in_any_order_share_one_socket(api: Api) -> None:
    jobs = [await api("submit", workflow(10 + i)) for i in range(5)]
    results = [await api.on(j, "wait") for j in reversed(jobs)]
    assert [r.prompt_id for r in results] == [j.prompt_id for j in reversed(jobs)]
    assert all(r.ok for r in results)


async def test_execution_error_carries_node_and_exception(api: Api, sandbox: Sandbox) -> None:
    sandbox.faults.node("2", error="boom at node 2", exception_type="torch.OutOfMemoryError")
    job = await api("submit", workflow(3))
    with pytest.raises(errors.ExecutionError) as info:
        await api.on(job, "wait")
    e = info.value
    assert (e.node_id, e.node_type, e.exception_type) == ("2", "ImageInvert", "torch.OutOfMemoryError")
    assert "boom at node 2" in str(e) and e.prompt_id == job.prompt_id and e.exit_code == 5
    assert "current_inputs" not in e.details


async def test_cancel_running_pending_finished_unknown(api: Api, sandbox: Sandbox) -> None:
    sandbox.faults.node("2", delay=30, steps=300)
    running = await api("submit", workflow(4))
    pending = await api("submit", workflow(5))
    done = threading.Event()

    def cancel_on_progress(event: Any) -> None:
        if isinstance(event, Progress) and not done.is_set():
            done.set()
            # cancel from another client, as a user would from another process
            with Client(api.client.url) as other:
                assert other.cancel(pending.prompt_id) == "dequeued"
                assert other.cancel(running.prompt_id) == "interrupted"

    with pytest.raises(errors.Interrupted):
        await api.events(running, cancel_on_progress)
        await api.on(running, "result")
    with pytest.raises(errors.JobLost):  # dequeued by another client: lost for this one
        await api.on(pending, "wait")
    sandbox.faults.clear()
    finished = await api("submit", workflow(6))
    await api.on(finished, "wait")
    assert await api("cancel", finished.prompt_id) == "cleared"
    assert await api("history_entry", finished.prompt_id) is None
    assert await api("cancel", "no-such-prompt") == "not_found"


async def test_cancel_own_pending_job_ends_as_interrupted(api: Api, sandbox: Sandbox) -> None:
    sandbox.pause_worker()
    job = await api("submit", workflow(8))
    assert await api.on(job, "cancel") == "dequeued"
    with pytest.raises(errors.Interrupted):
        await api.on(job, "wait")


async def test_interrupt_targets_only_the_named_prompt(api: Api, sandbox: Sandbox) -> None:
    sandbox.faults.node("2", delay=30, steps=300)
    job = await api("submit", workflow(9))

    def on_progress(event: Any) -> None:
        if isinstance(event, Progress) and event.value == 1:
            with Client(api.client.url) as other:
                other.interrupt("some-other-prompt")  # ignored by the server
                other.interrupt(job.prompt_id)

    with pytest.raises(errors.Interrupted):
        await api.events(job, on_progress)
        await api.on(job, "result")


async def test_socket_dropped_mid_job_reconnects_and_finishes(api: Api, sandbox: Sandbox) -> None:
    sandbox.faults.node("2", steps=2)
    sandbox.faults.drop_websockets(after_event="executing")
    job = await api("submit", workflow(11))
    result = await api.on(job, "wait")
    assert result.ok and result.outputs
    sandbox.faults.clear()
    assert (await api("run", workflow(12))).ok  # the client's socket works again


async def test_completion_while_disconnected_is_found_in_history(sandbox: Sandbox) -> None:
    """The socket drops mid-job and can only reconnect after the prompt finished: no event will
    ever say so, the client must find the result in the history."""
    from websockets.asyncio.client import connect as aconnect
    from websockets.sync.client import connect as sconnect

    def finished() -> bool:
        return any(sandbox.history())

    def sync_factory(url: str, *, headers: Any) -> Any:
        sync_factory.calls += 1  # type: ignore[attr-defined]
        while sync_factory.calls > 1 and not finished():  # type: ignore[attr-defined]
            threading.Event().wait(0.01)
        return sconnect(url, additional_headers=dict(headers)).__enter__()

    async def async_factory(url: str, *, headers: Any) -> Any:
        async_factory.calls += 1  # type: ignore[attr-defined]
        while async_factory.calls > 1 and not finished():  # type: ignore[attr-defined]
            await asyncio.sleep(0.01)
        return await aconnect(url, additional_headers=dict(headers))

    for kind, factory in (("sync", sync_factory), ("async", async_factory)):
        factory.calls = 0  # type: ignore[union-attr]
        api = Api(make_client(kind, sandbox.url, ws_connect=factory))
        sandbox.faults.node("2", delay=0.3, steps=3)
        sandbox.faults.drop_websockets(after_event="execution_start")
        job = await api("submit", workflow(70 if kind == "sync" else 71))
        result = await api.on(job, "wait")
        assert result.ok and result.prompt_id == job.prompt_id
        assert factory.calls == 2  # type: ignore[union-attr]
        await api.close()
        sandbox.faults.clear()
        with Client(sandbox.url) as c:
            c.clear_history()


async def test_history_written_late_is_waited_for(api: Api, sandbox: Sandbox) -> None:
    sandbox.faults.history_delay = 0.3  # execution_success long before the history entry
    assert (await api("run", workflow(13))).ok


async def test_attach_finished_running_and_unknown(api: Api, sandbox: Sandbox) -> None:
    finished = await api("submit", workflow(14))
    await api.on(finished, "wait")
    attached = await api("attach", finished.prompt_id)  # completion before any socket: result is there
    assert attached.done and await api.events(attached) == []
    assert (await api.on(attached, "result")).prompt_id == finished.prompt_id

    sandbox.faults.node("2", steps=4, delay=0.4)
    with Client(sandbox.url) as owner:  # submitted by "another process"
        running = owner.submit(workflow(15))
        job = await api("attach", running.prompt_id)
        events = await api.events(job)
    assert any(isinstance(e, Progress) for e in events)  # progress resumes on the attached job
    assert (await api.on(job, "result")).ok
    with pytest.raises(errors.JobLost):
        await api("attach", "never-submitted")


async def test_wait_timeout_then_wait_again(api: Api, sandbox: Sandbox) -> None:
    sandbox.faults.node("2", delay=30, steps=300)
    job = await api("submit", workflow(60))
    with pytest.raises(errors.WaitTimeout) as info:
        await api.on(job, "wait", 0.2)
    assert info.value.prompt_id == job.prompt_id and info.value.exit_code == 7
    assert await api.on(job, "cancel") == "interrupted"
    with pytest.raises(errors.Interrupted):
        await api.on(job, "wait")


async def test_server_gone_for_good_is_unreachable_not_a_hang(tmp_path: Path) -> None:
    for kind in ("sync", "async"):
        with Sandbox(root=tmp_path / kind) as sb:
            settings = dataclasses.replace(Settings.resolve(sb.url), reconnect_timeout=0.3)
            api = Api(make_client(kind, sb.url, settings=settings))
            sb.faults.node("2", delay=30, steps=300)
            job = await api("submit", workflow(61))
            sb.stop()
            with pytest.raises(errors.ServerUnreachable):
                await api.on(job, "wait")
            await api.close()


async def test_restart_losing_the_queue_is_job_lost_not_a_hang(api: Api, sandbox: Sandbox) -> None:
    sandbox.pause_worker()
    job = await api("submit", workflow(16))
    sandbox.restart()
    with pytest.raises(errors.JobLost) as info:
        await api.on(job, "wait")
    assert info.value.prompt_id == job.prompt_id


@pytest.mark.parametrize("refusal", [True, 403, 404])
async def test_websocket_blocked_falls_back_to_polling(
    api: Api, sandbox: Sandbox, refusal: bool | int
) -> None:
    sandbox.faults.block_websocket = refusal
    sandbox.pause_worker()
    job = await api("submit", workflow(17))
    events = await api.events(
        job, lambda e: sandbox.resume_worker() if isinstance(e, QueuePosition) else None
    )
    assert [e.type for e in events] == ["queue_position"]  # polling: positions, then the result
    assert (await api.on(job, "result")).ok
    assert (await api("run", workflow(18))).ok


async def test_500_maps_to_server_error_with_log_tail(api: Api, sandbox: Sandbox) -> None:
    await api("run", workflow(24))  # something in the server log
    sandbox.faults.route("/queue", status=500)
    with pytest.raises(errors.ServerError) as info:
        await api("queue")
    assert info.value.status == 500 and "Internal Server Error" in str(info.value)
    assert info.value.log_tail and "Prompt executed" in info.value.log_tail  # /internal/logs answered
    sandbox.faults.clear()
    sandbox.faults.route("/prompt", status=500, times=1)
    with pytest.raises(errors.ServerError):
        await api("submit", workflow(19))
    assert [i.prompt_id for i in (await api("queue")).pending] == []


async def test_reads_are_retried_on_503_posts_are_not(api: Api, sandbox: Sandbox) -> None:
    sandbox.faults.route("/queue", status=503, times=2, method="GET")
    assert (await api("queue")).pending == ()
    sandbox.faults.route("/free", status=502, times=1)
    await api("free")  # idempotent: repeated after the 502
    sandbox.faults.route("/interrupt", status=502, times=1)
    with pytest.raises(errors.ServerError):
        await api("interrupt")  # a global interrupt is not repeated


async def test_slow_response_times_out(sandbox: Sandbox, request: pytest.FixtureRequest) -> None:
    for kind in ("sync", "async"):
        api = Api(make_client(kind, sandbox.url, timeout=0.2))
        sandbox.faults.route("/system_stats", hang=True, times=1)
        with pytest.raises(errors.RequestTimeout):
            await api("system_stats")
        await api.close()


class LateFirstPost:
    """A transport whose first ``POST /prompt`` answer is lost: the request goes on in the
    background and lands late (the sandbox delays it), while the client sees a read timeout."""

    def __init__(self, is_async: bool):
        self.inner: Any = httpx.AsyncHTTPTransport() if is_async else httpx.HTTPTransport()
        self.landed = threading.Event()
        self.status: int | None = None
        self.posts = 0

    def _first_post(self, request: httpx.Request) -> bool:
        if request.method == "POST" and request.url.path.endswith("/prompt"):
            self.posts += 1
            return self.posts == 1
        return False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self._first_post(request):

            def late() -> None:
                resp = self.inner.handle_request(request)
                resp.read()
                self.status = resp.status_code
                self.landed.set()

            threading.Thread(target=late, daemon=True).start()
            raise httpx.ReadTimeout("timed out", request=request)
        response: httpx.Response = self.inner.handle_request(request)
        return response

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._first_post(request):

            async def late() -> None:
                resp = await self.inner.handle_async_request(request)
                await resp.aread()
                self.status = resp.status_code
                self.landed.set()

            self.task = asyncio.create_task(late())
            raise httpx.ReadTimeout("timed out", request=request)
        response: httpx.Response = await self.inner.handle_async_request(request)
        return response

    def close(self) -> None:
        self.inner.close()

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_submit_answer_lost_first_post_lands_late_runs_once(sandbox: Sandbox) -> None:
    """The dangerous case of re-sending: the first POST lands after the "did it land?" check.
    ComfyUI queues both copies (no id uniqueness check); the job removes the extra one."""
    for kind in ("sync", "async"):
        tx = LateFirstPost(kind == "async")
        cls = AsyncClient if kind == "async" else Client
        api = Api(cls(sandbox.url, transport=tx))  # type: ignore[arg-type]
        pid = f"once-{kind}"
        sandbox.pause_worker()
        sandbox.faults.route("/prompt", delay=0.5, times=1, method="POST")
        job = await api("submit", workflow(20 if kind == "sync" else 21), prompt_id=pid)
        assert job.prompt_id == pid and tx.posts == 2  # re-sent: the check found nothing yet
        await asyncio.to_thread(tx.landed.wait, 10)
        assert tx.status == 200  # the first copy did land, late

        copies: list[int] = []

        def on_event(event: Any, copies: list[int] = copies, pid: str = pid) -> None:
            if isinstance(event, QueuePosition) and not copies:
                queue = httpx.get(f"{sandbox.url}/api/queue").json()
                copies.append(sum(item[1] == pid for item in queue["queue_pending"]))
                sandbox.resume_worker()

        await api.events(job, on_event)
        assert copies == [1]
        assert (await api.on(job, "result")).status == "success"
        await api.close()
        queue = httpx.get(f"{sandbox.url}/api/queue").json()
        assert not any(item[1] == pid for item in queue["queue_pending"] + queue["queue_running"])
    assert sorted(k for k in sandbox.history() if k.startswith("once-")) == ["once-async", "once-sync"]


async def test_hostile_output_names_stay_inside_dest(api: Api, sandbox: Sandbox, tmp_path: Path) -> None:
    sandbox.faults.hostile_names = ["../../escape.png", "/etc/passwd_x"]
    wf = workflow(22)
    wf["4"] = {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "b"}}
    result = await api("run", wf)
    dest = tmp_path / "dest" / "inner"
    names = {o.filename for o in result.outputs}
    assert {"../../escape.png", "/etc/passwd_x"} <= names
    for output in result.outputs:
        try:
            path = await api("download", output, dest)
        except errors.HTTPError as exc:  # ComfyUI's /view itself refuses such names (400)
            assert exc.status == 400
        else:
            assert dest.resolve() in path.resolve().parents
    assert not (tmp_path / "escape.png").exists() and not (tmp_path / "dest" / "escape.png").exists()


async def test_upload_then_load_image(api: Api, sandbox: Sandbox, tmp_path: Path) -> None:
    src = await api("run", workflow(23))
    png = await api("view", src.outputs[0].filename, subfolder="t")
    file = tmp_path / "in.png"
    file.write_bytes(png)
    up = await api("upload", file, subfolder="sub")
    assert (up.name, up.subfolder, up.type, up.ref) == ("in.png", "sub", "input", "sub/in.png")
    same = await api("upload", png, filename="in.png", subfolder="sub")  # identical bytes: deduplicated
    assert same.name == "in.png"
    other = await api("upload", png + b"x", filename="in.png", subfolder="sub")
    assert other.name == "in (1).png"
    wf = {
        "1": {"class_type": "LoadImage", "inputs": {"image": up.ref}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "loaded"}},
    }
    assert (await api("run", wf)).ok
    mask = await api("upload", png, filename="mask.png", mask_for=up)
    assert mask.name == "mask.png"
    with pytest.raises(errors.UsageError):
        await api("upload", png, filename="x.png", type="bogus")


async def test_prompt_rejected_lists_problems(api: Api) -> None:
    wf = workflow()
    wf["1"]["inputs"]["width"] = 0
    with pytest.raises(errors.PromptRejected) as info:
        await api("submit", wf)
    assert info.value.problems and info.value.problems[0]["node_id"] == "1"
    assert (await api("queue")).pending == ()


async def test_queue_history_and_jobs_management(api: Api, sandbox: Sandbox) -> None:
    done = [await api("run", workflow(30 + i)) for i in range(3)]
    history = await api("history", max_items=2)
    assert list(history) == [r.prompt_id for r in done[1:]]
    assert list(await api("history", offset=2)) == [done[2].prompt_id]
    await api("delete_history", [done[0].prompt_id])
    assert done[0].prompt_id not in await api("history")
    jobs = await api("jobs", status=["completed"], limit=10)
    assert {j["id"] for j in jobs["jobs"]} == {r.prompt_id for r in done[1:]}
    assert (await api("job_info", done[1].prompt_id))["status"] == "completed"
    with pytest.raises(errors.NotFound):
        await api("job_info", "unknown")
    await api("clear_history")
    assert await api("history") == {}
    sandbox.pause_worker()
    a = await api("submit", workflow(40))
    b = await api("submit", workflow(41), front=True)
    assert [i.prompt_id for i in (await api("queue")).pending] == [b.prompt_id, a.prompt_id]
    await api("delete_queued", [a.prompt_id])
    assert [i.prompt_id for i in (await api("queue")).pending] == [b.prompt_id]
    await api("clear_queue")
    assert (await api("queue")).pending == ()


async def test_server_info_calls(api: Api) -> None:
    stats = await api("system_stats")
    assert stats.comfyui_version and stats.devices
    assert "max_upload_size" in await api("features")
    assert "EmptyImage" in await api("object_info", "EmptyImage")
    assert await api("object_info", "NoSuchNode") == {}
    defs = await api("node_defs")
    assert "SaveImage" in defs and (await api("node_defs")) is defs
    assert "checkpoints" in await api("models")
    assert isinstance(await api("models", "checkpoints"), list)
    with pytest.raises(errors.NotFound):
        await api("models", "no-such-folder")
    assert isinstance(await api("embeddings"), list)
    assert isinstance(await api("extensions"), list)
    assert isinstance(await api("logs"), str)
    await api("free", unload_models=True, free_memory=True)


async def test_auth_required_and_secrets_never_leak(tmp_path: Path) -> None:
    token = "tok-SECRET-123"
    with Sandbox(root=tmp_path / "s", token=token) as sb:
        for kind in ("sync", "async"):
            api = Api(make_client(kind, sb.url))
            with pytest.raises(errors.AuthError) as info:
                await api("queue")
            assert info.value.exit_code == 8 and info.value.status == 401
            await api.close()
            api = Api(make_client(kind, sb.url, token=token))
            result = await api("run", workflow(50 if kind == "sync" else 51))
            assert result.ok
            sb.faults.route("/queue", status=500, times=1)
            with pytest.raises(errors.ServerError) as err:
                await api("queue")
            for text in (
                str(err.value),
                repr(err.value),
                str(err.value.to_dict()),
                repr(api.client),
                repr(api.client.settings),
                api.client.url,
            ):
                assert token not in text
            await api.close()
    with Sandbox(root=tmp_path / "b", basic_auth=("alice", "pa55-word")) as sb:
        url = sb.url.replace("http://", "http://alice:pa55-word@")
        for kind in ("sync", "async"):
            api = Api(make_client(kind, url))
            assert (await api("run", workflow(52 if kind == "sync" else 53))).ok
            assert "pa55-word" not in repr(api.client) and "pa55-word" not in api.client.url
            await api.close()
            bad = Api(make_client(kind, url.replace("pa55-word", "wrong-pass")))
            with pytest.raises(errors.AuthError) as info:
                await bad("queue")
            assert "wrong-pass" not in str(info.value.to_dict())
            await bad.close()


async def test_unreachable_server(unused_port: int) -> None:
    for kind in ("sync", "async"):
        api = Api(make_client(kind, f"http://127.0.0.1:{unused_port}"))
        with pytest.raises(errors.ServerUnreachable) as info:
            await api("system_stats")
        assert info.value.exit_code == 3 and str(unused_port) in str(info.value)
        with pytest.raises(errors.ServerUnreachable):
            await api("submit", workflow())
        await api.close()


@pytest.fixture
def unused_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_download_rejects_non_outputs(sandbox: Sandbox, tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    with Client(sandbox.url) as c:
        with pytest.raises(errors.UsageError):
            c.download("x.png", dest)  # type: ignore[arg-type]
        with pytest.raises(errors.NotFound):
            c.download(OutputFile(node_id="1", filename="missing.png"), dest)
    assert not dest.exists() or not [p for p in dest.rglob("*") if p.is_file()]  # nothing left behind


def test_transport_seam_is_used() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        assert "origin" not in request.headers
        return httpx.Response(200, json={"queue_running": [], "queue_pending": []})

    with Client("http://example.invalid:1", transport=httpx.MockTransport(handler)) as c:
        assert c.queue().pending == ()
    assert seen == ["http://example.invalid:1/api/queue"]


def test_jobs_waited_from_several_threads(sandbox: Sandbox) -> None:
    import concurrent.futures

    with Client(sandbox.url) as c:
        jobs = [c.submit(workflow(80 + i)) for i in range(6)]
        with concurrent.futures.ThreadPoolExecutor(3) as pool:
            results = list(pool.map(lambda j: j.wait(), jobs))
    assert [r.prompt_id for r in results] == [j.prompt_id for j in jobs] and all(r.ok for r in results)


async def test_async_jobs_awaited_concurrently(sandbox: Sandbox) -> None:
    async with AsyncClient(sandbox.url) as c:
        jobs = [await c.submit(workflow(90 + i)) for i in range(6)]
        results = await asyncio.gather(*(j.wait() for j in reversed(jobs)))
    assert [r.prompt_id for r in results] == [j.prompt_id for j in reversed(jobs)] and all(
        r.ok for r in results
    )


def test_closing_the_client_closes_sockets_of_attached_jobs(sandbox: Sandbox) -> None:
    sandbox.faults.node("2", delay=30, steps=300)
    with Client(sandbox.url) as owner:
        running = owner.submit(workflow(95))
        watcher = Client(sandbox.url)
        job = watcher.attach(running.prompt_id)
        hub = job._hub
        assert hub is not None and hub.connected and hub.client_id == owner.client_id
        watcher.close()
        assert not hub.connected
        assert owner.cancel(running.prompt_id) == "interrupted"


# -- review fixes ------------------------------------------------------------------------------------


async def test_close_while_waiting_ends_the_wait_and_nothing_reopens(sandbox: Sandbox) -> None:
    sandbox.faults.node("2", delay=30, steps=300)
    for kind in ("sync", "async"):
        api = Api(make_client(kind, sandbox.url))
        job = await api("submit", workflow(100 if kind == "sync" else 101))
        waiting = asyncio.ensure_future(api.on(job, "wait", 20))
        await asyncio.sleep(0.2)  # let it block on the socket
        await api.close()
        with pytest.raises(errors.UsageError, match="closed"):
            await waiting
        with pytest.raises(errors.UsageError, match="closed"):
            await api("queue")
        c: Any = api.client
        assert not c._hub.connected and getattr(c, "_tx", None) is None and getattr(c, "_http", None) is None
    sandbox.interrupt()


def _browser(sandbox: Sandbox, client_id: str) -> tuple[Any, list[str]]:
    """A ComfyUI browser tab: a socket with its own client id, recording the event types it gets."""
    from websockets.sync.client import connect

    ws = connect(f"{sandbox.ws_url}?clientId={client_id}").__enter__()
    seen: list[str] = []

    def read() -> None:
        try:
            while True:
                frame = ws.recv()
                if isinstance(frame, str):
                    seen.append(json.loads(frame)["type"])
        except Exception:
            pass

    threading.Thread(target=read, daemon=True).start()
    return ws, seen


def _queue_as(sandbox: Sandbox, client_id: str, pid: str, color: int) -> None:
    body = {"prompt": workflow(color), "client_id": client_id, "prompt_id": pid}
    assert httpx.post(f"{sandbox.url}/api/prompt", json=body).status_code == 200


async def test_attach_leaves_a_browser_tab_its_socket(sandbox: Sandbox) -> None:
    """Taking over the owner's client id silenced the tab for good (ComfyUI keeps one socket per
    id and unregisters it when ours closes): attach listens on its own id unless asked."""
    ws, seen = _browser(sandbox, "browser-tab")
    try:
        for kind in ("sync", "async"):
            sandbox.faults.node("2", delay=0.4)
            _queue_as(sandbox, "browser-tab", f"tab-{kind}", 110 if kind == "sync" else 111)
            api = Api(make_client(kind, sandbox.url))
            job = await api("attach", f"tab-{kind}")
            assert await api.events(job) == []  # someone else's progress is not ours to take
            assert (await api.on(job, "result")).ok
            await api.close()
            sandbox.faults.clear()
            before = len(seen)
            _queue_as(sandbox, "browser-tab", f"tab-next-{kind}", 112 if kind == "sync" else 113)
            for _ in range(200):  # the tab still hears about its next prompt
                if "execution_success" in seen[before:]:
                    break
                await asyncio.sleep(0.02)
            assert "execution_success" in seen[before:]
    finally:
        ws.close()


async def test_attach_follow_progress_takes_the_owner_id_over(api: Api, sandbox: Sandbox) -> None:
    ws, _ = _browser(sandbox, "other-tab")
    try:
        sandbox.faults.node("2", delay=0.4, steps=4)
        _queue_as(sandbox, "other-tab", "followed", 114)
        job = await api("attach", "followed", follow_progress=True)
        events = await api.events(job)
        assert any(isinstance(e, Progress) for e in events) and (await api.on(job, "result")).ok
        assert api.client._attached_hubs == []  # its socket closed and forgotten once done
    finally:
        ws.close()


async def test_one_502_on_the_websocket_is_not_a_permanent_fallback(api: Api, sandbox: Sandbox) -> None:
    sandbox.faults.route("/ws", status=502, times=1)  # a reverse proxy while ComfyUI restarts
    assert (await api("run", workflow(115))).ok  # polled meanwhile
    sandbox.faults.node("2", steps=3, delay=0.6)
    job = await api("submit", workflow(116))
    events = await api.events(job)
    assert any(isinstance(e, Progress) for e in events)  # the socket is back, even mid-job
    assert api.client._hub.connected and (await api.on(job, "result")).ok


async def test_a_hanging_upgrade_is_waited_for_once(sandbox: Sandbox) -> None:
    sandbox.faults.route("/ws", hang=True)  # a proxy that swallows WebSocket upgrades
    for kind in ("sync", "async"):
        api = Api(make_client(kind, sandbox.url, timeout=0.5))
        for i in range(3):
            assert (await api("run", workflow(117 + 3 * (kind == "async") + i))).ok
        policy = api.client._hub.policy
        assert policy.failures == 1 and policy.hung  # not one open timeout per submit
        await api.close()
    sandbox.faults.clear()


class _Pipe:
    """A readable stream without seek, fileno or length (a pipe, a socket, a generator)."""

    name = "piped.png"

    def __init__(self, data: bytes):
        self._data = data

    def read(self, n: int = -1) -> bytes:
        chunk, self._data = (self._data, b"") if n < 0 else (self._data[:n], self._data[n:])
        return chunk


async def test_upload_from_a_stream_of_unknown_length(api: Api, sandbox: Sandbox) -> None:
    data = (sandbox.input_dir / "example.png").read_bytes()
    up = await api("upload", _Pipe(data), filename="piped.png")  # sent chunked
    assert (sandbox.input_dir / up.name).read_bytes() == data
    assert (await api("queue")).running == ()  # the connection is still usable


def test_file_descriptors_above_1024_do_not_break_requests(sandbox: Sandbox) -> None:
    import subprocess
    import sys

    script = (
        "import os, resource, sys\n"
        "soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (min(4096, hard), hard))\n"
        "held = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]\n"
        "from comfyctl import Client\n"
        "with Client(sys.argv[1]) as c:\n"
        "    c.queue(); c.queue()  # the second reuses the idle connection (fd > 1024)\n"
        "print('ok')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, sandbox.url], capture_output=True, text=True, timeout=60
    )
    assert out.stdout.strip() == "ok", out.stderr[-2000:]


async def test_view_to_onto_a_folder_is_a_usage_error_and_leaves_nothing(api: Api, tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    (dest / "example.png").mkdir(parents=True)  # a folder already has the file's name
    with pytest.raises(errors.UsageError, match="folder has that name"):
        await api("view_to", "example.png", f"{dest}/", type="input", overwrite=True)
    assert [p.name for p in dest.rglob("*")] == ["example.png"]  # no .part left behind


async def test_submit_once_never_queues_a_known_prompt_id_twice(api: Api, sandbox: Sandbox) -> None:
    """The one exactly-once rule (MCP, batches, offline submit): a known id is attached to."""
    pid = f"exactly-once-{api.is_async}"
    first = await api("submit_once", workflow(30 + api.is_async), prompt_id=pid)
    assert (await api.on(first, "wait")).ok
    again = await api("submit_once", workflow(40 + api.is_async), prompt_id=pid)  # finished: history
    assert again.done and (await api.on(again, "result")).prompt_id == pid

    sandbox.pause_worker()
    pending_id = f"exactly-once-pending-{api.is_async}"
    queued = await api("submit_once", workflow(50 + api.is_async), prompt_id=pending_id)
    twice = await api("submit_once", workflow(60 + api.is_async), prompt_id=pending_id)  # pending: queue
    queue = httpx.get(f"{sandbox.url}/api/queue").json()
    assert sum(item[1] == pending_id for item in queue["queue_pending"] + queue["queue_running"]) == 1
    sandbox.resume_worker()
    assert (await api.on(queued, "wait")).ok and (await api.on(twice, "wait")).ok
    assert [k for k in sandbox.history() if k.startswith("exactly-once")].count(pid) == 1
