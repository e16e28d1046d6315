"""Live checks of Client and AsyncClient against a real ComfyUI (``COMFYUI_URL=... pytest -m live``).

Workloads are tiny (a shared CPU server): 16-64 px images, and for a "running" prompt a modest
RepeatImageBatch feeding SaveImageWebsocket, which reports progress per image and so stops
promptly on an interrupt. Nothing here clears the shared queue or history: only our own prompt ids
are deleted.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from comfyctl import AsyncClient, Client, errors
from comfyctl.events import Executing, ExecutionStart, Preview, Progress

pytestmark = pytest.mark.live


def small(color: int, prefix: str = "comfyctl_live/run") -> dict[str, Any]:
    return {
        "1": {
            "class_type": "EmptyImage",
            "inputs": {"width": 24, "height": 16, "batch_size": 1, "color": color},
        },
        "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": prefix}},
    }


def progress_run(amount: int) -> dict[str, Any]:
    """SaveImageWebsocket reports one progress update (and one preview) per image."""
    return {
        "1": {
            "class_type": "EmptyImage",
            "inputs": {"width": 32, "height": 32, "batch_size": 1, "color": fresh_color()},
        },
        "2": {"class_type": "RepeatImageBatch", "inputs": {"image": ["1", 0], "amount": amount}},
        "3": {"class_type": "SaveImageWebsocket", "inputs": {"images": ["2", 0]}},
    }


def slow(blurs: int = 8) -> dict[str, Any]:
    """A chain of cheap blurs (~0.3 s each on a small CPU): interruptible at every node start."""
    wf: dict[str, Any] = {
        "1": {
            "class_type": "EmptyImage",
            "inputs": {"width": 256, "height": 256, "batch_size": 4, "color": fresh_color()},
        }
    }
    for i in range(2, blurs + 2):
        wf[str(i)] = {
            "class_type": "ImageBlur",
            "inputs": {"image": [str(i - 1), 0], "blur_radius": 15, "sigma": 1.0},
        }
    wf["99"] = {"class_type": "PreviewImage", "inputs": {"images": [str(blurs + 1), 0]}}
    return wf


def started(event: Any) -> bool:
    """True on the first blur node starting: the prompt is surely running."""
    return isinstance(event, Executing) and event.node == "2"


def fresh_color() -> int:
    return uuid.uuid4().int % 2**24  # defeats the execution cache


def test_status_and_server_info(live_url: str) -> None:
    with Client(live_url) as c:
        stats = c.system_stats()
        assert stats.comfyui_version and stats.devices
        assert "max_upload_size" in c.features()
        assert "EmptyImage" in c.object_info("EmptyImage") and c.object_info("NoSuchNode") == {}
        assert "checkpoints" in c.models()
        assert isinstance(c.embeddings(), list) and isinstance(c.extensions(), list)
        assert isinstance(c.logs(), str)
        assert isinstance(c.jobs(limit=1)["jobs"], list)


def test_run_with_events_and_byte_identical_downloads(live_url: str, tmp_path: Path) -> None:
    with Client(live_url) as c:
        job = c.submit(small(fresh_color()))
        events = list(job.events())
        assert any(isinstance(e, ExecutionStart) for e in events)
        assert isinstance(events[-1], Executing) and events[-1].node is None
        result = job.result()
        assert result.ok and result.executed == ("1", "2", "3") and result.timing.run_ms is not None
        (out,) = result.outputs
        (path,) = c.download_all(result, tmp_path)
        assert path.read_bytes() == c.view(out.filename, subfolder=out.subfolder, type=out.type)
        assert c.history_entry(job.prompt_id) is not None
        c.delete_history([job.prompt_id])
        assert c.history_entry(job.prompt_id) is None


def test_progress_events_and_previews(live_url: str) -> None:
    with Client(live_url) as c:
        job = c.submit(progress_run(6))
        events = list(job.events())
        progress = [e for e in events if isinstance(e, Progress)]
        # SaveImageWebsocket reports one update per image (values 0..n-1, max n)
        assert len(progress) == 6 and {p.max for p in progress} == {6}
        assert any(isinstance(e, Preview) and e.metadata and e.prompt_id == job.prompt_id for e in events)
        assert job.result().ok
        c.delete_history([job.prompt_id])


def test_upload_then_load_image(live_url: str, tmp_path: Path) -> None:
    with Client(live_url) as c:
        src = c.run(small(fresh_color(), prefix="comfyctl_live/src"))
        png = c.view(src.outputs[0].filename, subfolder=src.outputs[0].subfolder)
        name = f"comfyctl_live_{uuid.uuid4().hex[:8]}.png"
        up = c.upload(png, filename=name, subfolder="comfyctl_live")
        assert up.ref == f"comfyctl_live/{name}"
        wf = {
            "1": {"class_type": "LoadImage", "inputs": {"image": up.ref}},
            "2": {
                "class_type": "SaveImage",
                "inputs": {"images": ["1", 0], "filename_prefix": "comfyctl_live/ld"},
            },
        }
        result = c.run(wf)
        assert result.ok and result.outputs
        reused = {
            "1": {"class_type": "LoadImage", "inputs": {"image": src.outputs[0].ref}},
            "2": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}},
        }
        assert c.run(reused).outputs[0].type == "temp"
        c.delete_history([src.prompt_id, result.prompt_id])


def test_non_ascii_file_names_round_trip(live_url: str, tmp_path: Path) -> None:
    """ComfyUI's /view names the file in Content-Disposition as UTF-8: both clients' transports
    must take it (the sync one once raised UnicodeEncodeError on it)."""
    name = f"猫 ünï {uuid.uuid4().hex[:6]}.png"
    with Client(live_url) as c:
        src = c.run(small(fresh_color(), prefix="comfyctl_live/src"))
        png = c.view(src.outputs[0].filename, subfolder=src.outputs[0].subfolder)
        up = c.upload(png, filename=name, subfolder="comfyctl_live")
        assert up.name == name
        assert c.view(name, subfolder="comfyctl_live", type="input") == png
        ref = {"node_id": "0", "filename": name, "subfolder": "comfyctl_live", "type": "input"}
        path = c.download(ref, tmp_path / "sync")
        assert path.name == name and path.read_bytes() == png
        c.delete_history([src.prompt_id])

    async def same() -> None:
        async with AsyncClient(live_url) as a:
            path = await a.download(ref, tmp_path / "async")
            assert path.name == name and path.read_bytes() == png

    asyncio.run(same())


def test_cancel_pending_then_running_and_interrupt(live_url: str) -> None:
    with Client(live_url) as c:
        running = c.submit(slow())
        pending = c.submit(small(fresh_color()))
        seen_progress = False
        with pytest.raises(errors.Interrupted):
            for event in running.events():
                if started(event) and not seen_progress:
                    seen_progress = True
                    assert c.cancel(pending.prompt_id) == "dequeued"
                    assert c.cancel(running.prompt_id) == "interrupted"
            running.result()
        assert seen_progress
        with pytest.raises(errors.Interrupted):  # dequeued by us: cancelled, not lost
            pending.wait()
        assert running.prompt_id not in c.queue() and pending.prompt_id not in c.queue()
        # plain interrupt, targeted: ignored for another id, effective for ours
        job = c.submit(slow())
        with pytest.raises(errors.Interrupted):
            for event in job.events():
                if started(event):
                    c.interrupt("not-this-one")
                    c.interrupt(job.prompt_id)
            job.result()
        assert c.cancel(running.prompt_id) == "cleared"
        assert c.cancel(job.prompt_id) == "cleared"
        assert c.cancel("comfyctl-never-submitted") == "not_found"


def test_queue_and_history_management(live_url: str) -> None:
    """Independent of other users of a shared server: the blocker may already have finished or
    another user's prompt may run first, so only what the server guarantees is checked (a
    ``front=True`` prompt gets a lower queue number, whatever has started)."""
    with Client(live_url) as c:
        blocker = c.submit(slow())
        a = c.submit(small(fresh_color()))
        b = c.submit(small(fresh_color()), front=True)
        assert a.number is not None and b.number is not None and b.number < a.number
        queue = c.queue()
        mine = [i.prompt_id for i in queue.pending if i.prompt_id in (a.prompt_id, b.prompt_id)]
        assert mine in ([b.prompt_id, a.prompt_id], [a.prompt_id], [])  # b before a while both wait
        for job in (a, b, blocker):
            outcome = c.cancel(job.prompt_id)
            assert outcome in ("dequeued", "interrupted", "cleared")
            assert c.queue().position(job.prompt_id) is None
            if outcome != "cleared":  # cleared: it had finished already
                with pytest.raises(errors.Interrupted):
                    job.wait()
        done = c.run(small(fresh_color()))
        assert c.history_entry(done.prompt_id) is not None  # not history(max_items=5): others add too
        c.delete_history([done.prompt_id, a.prompt_id, b.prompt_id, blocker.prompt_id])
        assert c.history_entry(done.prompt_id) is None
        c.free(unload_models=False, free_memory=False)


def test_attach_from_another_client(live_url: str) -> None:
    with Client(live_url) as owner, Client(live_url) as other:
        job = owner.submit(slow(blurs=3))
        attached = other.attach(job.prompt_id)
        assert attached.wait().ok
        assert other.attach(job.prompt_id).done
        with pytest.raises(errors.JobLost):
            other.attach("comfyctl-never-submitted")
        owner.delete_history([job.prompt_id])


def test_attach_leaves_a_browser_tab_its_socket(live_url: str) -> None:
    """Real ComfyUI keeps one socket per client id and unregisters the id when a socket closes:
    attach() must not take a foreign owner's id over (that silenced a browser tab for good)."""
    import json
    import threading

    from websockets.sync.client import connect

    tab_id = f"live-tab-{uuid.uuid4().hex[:8]}"
    ws_url = live_url.replace("http", "ws", 1).rstrip("/") + f"/ws?clientId={tab_id}"
    seen: list[tuple[str, Any]] = []
    with connect(ws_url) as tab, Client(live_url, client_id=tab_id) as poster:

        def read() -> None:
            try:
                while True:
                    frame = tab.recv()
                    if isinstance(frame, str):
                        msg = json.loads(frame)
                        seen.append((msg["type"], (msg.get("data") or {}).get("prompt_id")))
            except Exception:
                pass

        threading.Thread(target=read, daemon=True).start()
        # posted as the tab does (a Client's submit would open a socket with the tab's id)
        first = httpx.post(
            f"{live_url}/api/prompt", json={"prompt": slow(blurs=3), "client_id": tab_id}
        ).json()
        with Client(live_url) as other:
            job = other.attach(first["prompt_id"])
            assert job.wait(timeout=120).ok
        second = httpx.post(
            f"{live_url}/api/prompt", json={"prompt": small(fresh_color()), "client_id": tab_id}
        ).json()
        with Client(live_url) as other:
            other.attach(second["prompt_id"]).wait(timeout=120)
        for _ in range(100):  # the tab hears about its next prompt
            if ("execution_success", second["prompt_id"]) in seen:
                break
            threading.Event().wait(0.05)
        assert ("execution_success", second["prompt_id"]) in seen
        poster.delete_history([first["prompt_id"], second["prompt_id"]])


def test_async_client_same_flows(live_url: str, tmp_path: Path) -> None:
    async def main() -> None:
        async with AsyncClient(live_url) as c:
            assert (await c.system_stats()).comfyui_version
            job = await c.submit(small(fresh_color()))
            types = [e.type async for e in job.events()]
            assert types[-1] == "executing" and "execution_success" in types
            result = await job.result()
            (path,) = await c.download_all(result, tmp_path)
            out = result.outputs[0]
            assert path.read_bytes() == await c.view(out.filename, subfolder=out.subfolder)
            running = await c.submit(slow())
            outcomes: list[Any] = []
            with pytest.raises(errors.Interrupted):
                async for event in running.events():
                    if started(event) and not outcomes:
                        outcomes.append(await running.cancel())
                await running.result()
            assert outcomes == ["interrupted"]
            await c.delete_history([job.prompt_id, running.prompt_id])

    asyncio.run(main())
