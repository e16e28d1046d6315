"""Offline store: atomic no-clobber export, the pending ledger, exactly-once submit."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from comfyctl.errors import PromptRejected, ServerUnreachable, UsageError
from comfyctl.offline import OfflineStore

API = {
    "1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0}},
    "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "x"}},
}
UI = {"nodes": [{"id": 1, "type": "EmptyImage"}], "links": [], "version": 0.4}


class FakeServer:
    """Records posted prompt ids like ComfyUI's queue would (duplicates allowed, as the server does)."""

    def __init__(self) -> None:
        self.url = "http://127.0.0.1:1"
        self.posted: list[str] = []
        self.fail_after_post: BaseException | None = None
        self.reject: set[str] = set()
        self.down = False

    def submit(self, workflow: Any, *, prompt_id: str | None = None) -> Any:
        if self.down:
            raise ServerUnreachable("down")
        assert prompt_id
        if json.dumps(workflow, sort_keys=True) in self.reject:
            raise PromptRejected("rejected", body={"error": {"type": "invalid_prompt"}, "node_errors": {}})
        self.posted.append(prompt_id)
        if self.fail_after_post is not None:
            exc, self.fail_after_post = self.fail_after_post, None
            raise exc
        return SimpleNamespace(prompt_id=prompt_id, number=len(self.posted))

    def submit_once(self, workflow: Any, *, prompt_id: str) -> Any:
        """The library's exactly-once rule on this fake: attach to a known id, else submit it."""
        if self.down:
            raise ServerUnreachable("down")
        if prompt_id in self.posted:
            return SimpleNamespace(prompt_id=prompt_id, attached=True)
        return self.submit(workflow, prompt_id=prompt_id)

    def queue(self) -> Any:
        if self.down:
            raise ServerUnreachable("down")
        return SimpleNamespace(running=(), pending=tuple(SimpleNamespace(prompt_id=p) for p in self.posted))

    def history_entry(self, prompt_id: str) -> dict[str, Any] | None:
        return None


def test_export_writes_api_and_ui_atomically_and_records_pending(tmp_path: Path) -> None:
    store = OfflineStore(tmp_path)
    saved = store.export(API, name="portrait", ui=UI)
    assert saved.path == tmp_path / "projects/default/workflows/portrait.json"
    assert json.loads(saved.path.read_text()) == API
    assert saved.ui_path is not None and json.loads(saved.ui_path.read_text()) == UI
    [pending] = store.pending()
    assert (pending.project, pending.name, pending.prompt_id) == ("default", "portrait", None)
    assert not [p for p in saved.path.parent.iterdir() if p.name.startswith(".")]


def test_export_never_replaces_an_existing_workflow(tmp_path: Path) -> None:
    store = OfflineStore(tmp_path)
    first = store.export(API, project="p1", name="wf.json")
    second = store.export({"9": {"class_type": "X", "inputs": {}}}, project="p1", name="wf")
    third = store.export(API, project="p1", name="wf")
    assert [first.name, second.name, third.name] == ["wf", "wf-2", "wf-3"]
    assert json.loads(first.path.read_text()) == API
    again = store.export({"9": {"class_type": "Y", "inputs": {}}}, project="p1", name="wf", overwrite=True)
    assert again.name == "wf" and json.loads(again.path.read_text())["9"]["class_type"] == "Y"
    assert sorted(p.name for p in store.pending("p1")) == ["wf", "wf-2", "wf-3"]


@pytest.mark.parametrize("bad", ["", "../x", "a/b", "a\\b", "..", ".hidden", "x..y", "nul\x00", " pad"])
def test_names_and_projects_are_plain_file_names(tmp_path: Path, bad: str) -> None:
    store = OfflineStore(tmp_path)
    with pytest.raises(UsageError):
        store.export(API, name=bad)
    with pytest.raises(UsageError):
        store.export(API, project=bad, name="ok")
    assert not (tmp_path / "x").exists() and not list(tmp_path.rglob("*.json"))


def test_export_rejects_a_non_object_workflow(tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        OfflineStore(tmp_path).export([1, 2], name="x")  # type: ignore[arg-type]


def test_submit_posts_each_pending_once_and_moves_it_to_submitted(tmp_path: Path) -> None:
    store = OfflineStore(tmp_path)
    store.export(API, name="a")
    store.export(API, project="other", name="b")
    server = FakeServer()
    done = store.submit(server)
    assert [(d.project, d.name, d.status) for d in done] == [
        ("default", "a", "submitted"),
        ("other", "b", "submitted"),
    ]
    assert sorted(server.posted) == sorted(d.prompt_id for d in done)
    assert store.pending() == []
    assert store.submit(server) == [] and len(server.posted) == 2
    ledger = json.loads((tmp_path / "projects/default/ledger.json").read_text())
    assert ledger["workflows"]["a"]["status"] == "submitted"
    assert ledger["workflows"]["a"]["prompt_id"] == done[0].prompt_id


def test_a_crash_after_the_post_is_not_submitted_twice(tmp_path: Path) -> None:
    store = OfflineStore(tmp_path)
    store.export(API, name="a")
    store.export(API, name="b")
    server = FakeServer()
    server.fail_after_post = KeyboardInterrupt()  # killed between POST and the ledger update
    with pytest.raises(KeyboardInterrupt):
        store.submit(server)
    [reserved, _] = store.pending()
    assert reserved.prompt_id == server.posted[0]
    done = store.submit(server)
    assert [d.status for d in done] == ["already_submitted", "submitted"]
    assert len(server.posted) == 2 and len(set(server.posted)) == 2


def test_a_post_that_never_landed_is_sent_again_with_the_same_id(tmp_path: Path) -> None:
    store = OfflineStore(tmp_path)
    store.export(API, name="a")
    server = FakeServer()
    server.down = True
    with pytest.raises(ServerUnreachable):
        store.submit(server)
    [pending] = store.pending()
    assert pending.prompt_id  # reserved before the POST
    server.down = False
    [done] = store.submit(server)
    assert done.status == "submitted" and server.posted == [pending.prompt_id]


def test_rejected_workflows_leave_the_pending_list_with_the_reason(tmp_path: Path) -> None:
    store = OfflineStore(tmp_path)
    bad = {"1": {"class_type": "Nope", "inputs": {}}}
    store.export(bad, name="bad")
    store.export(API, name="good")
    server = FakeServer()
    server.reject.add(json.dumps(bad, sort_keys=True))
    done = store.submit(server)
    assert [(d.name, d.status) for d in done] == [("bad", "rejected"), ("good", "submitted")]
    assert done[0].error and done[0].error["code"] == "prompt_rejected"
    assert store.pending() == [] and [r["name"] for r in store.submitted()] == ["bad", "good"]


def test_submit_by_name_and_unknown_names(tmp_path: Path) -> None:
    store = OfflineStore(tmp_path)
    store.export(API, name="a")
    store.export(API, name="b")
    server = FakeServer()
    [done] = store.submit(server, ["default/b"])
    assert done.name == "b" and [p.name for p in store.pending()] == ["a"]
    with pytest.raises(UsageError):
        store.submit(server, ["zzz"])


def test_a_workflow_file_without_ledger_entry_counts_as_pending(tmp_path: Path) -> None:
    """Killed between the file and the ledger write: the file is complete, so it is pending."""
    store = OfflineStore(tmp_path)
    store.export(API, name="a")
    (tmp_path / "projects/default/ledger.json").unlink()
    assert [p.name for p in store.pending()] == ["a"]
    assert store.export(API, name="a").name == "a-2"  # and it is still never replaced


def test_an_unreadable_ledger_stops_everything_and_says_not_to_delete_it(tmp_path: Path) -> None:
    store = OfflineStore(tmp_path)
    store.export(API, name="a")
    store.export(API, name="b")
    server = FakeServer()
    store.submit(server, ["a"])
    ledger = tmp_path / "projects/default/ledger.json"
    for broken in ("{broken", "[]", '{"version": 1}'):
        ledger.write_text(broken)
        with pytest.raises(UsageError, match="ledger") as err:
            store.pending()
        assert err.value.hint and "do not delete" in err.value.hint and "remove" not in err.value.hint
        with pytest.raises(UsageError, match="ledger"):
            store.submit(server)  # refuses rather than guessing what is pending
        with pytest.raises(UsageError, match="ledger"):
            store.export(API, name="c")  # and never writes over it
        assert ledger.read_text() == broken
    assert len(server.posted) == 1


def test_a_lost_ledger_never_resurrects_submitted_workflows(tmp_path: Path) -> None:
    store = OfflineStore(tmp_path)
    store.export(API, name="sent", ui=UI)
    store.export({"1": {"class_type": "Nope", "inputs": {}}}, name="refused")
    store.export(API, name="later")
    server = FakeServer()
    server.reject.add(json.dumps({"1": {"class_type": "Nope", "inputs": {}}}, sort_keys=True))
    done = {d.name: d for d in store.submit(server, ["sent", "refused"])}
    base = tmp_path / "projects/default"
    assert done["sent"].path == base / "submitted/sent.json"  # files kept, out of workflows/
    assert json.loads((base / "submitted/sent.ui.json").read_text()) == UI
    assert done["refused"].path == base / "rejected/refused.json"
    rows = {r["name"]: r for r in store.submitted()}
    assert (rows["sent"]["file"], rows["sent"]["ui_file"]) == (
        "submitted/sent.json",
        "submitted/sent.ui.json",
    )
    (base / "ledger.json").unlink()
    assert [p.name for p in store.pending()] == ["later"]
    assert [d.name for d in store.submit(server)] == ["later"]
    assert len(server.posted) == 2  # "sent" went once, "refused" never came back
    assert store.export(API, name="sent").name == "sent-2"  # names stay unique across folders


def test_a_kill_between_moving_the_files_and_the_ledger_write_is_settled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from comfyctl import offline

    store = OfflineStore(tmp_path)
    store.export(API, name="a")
    server = FakeServer()
    writes = 0
    real = offline.atomic_write_json

    def dies_on_the_second_ledger_write(*args: Any, **kwargs: Any) -> None:
        nonlocal writes
        writes += 1
        if writes == 2:  # the first reserves the id, the second records the outcome
            raise KeyboardInterrupt
        real(*args, **kwargs)

    monkeypatch.setattr(offline, "atomic_write_json", dies_on_the_second_ledger_write)
    with pytest.raises(KeyboardInterrupt):
        store.submit(server)
    monkeypatch.undo()
    assert store.pending() == [] and store.submit(server) == []
    [row] = store.submitted()
    assert (row["status"], row["file"]) == ("submitted", "submitted/a.json")
    assert row["prompt_id"] == server.posted[0]
    assert len(server.posted) == 1


class IgnoresIds(FakeServer):
    """An older ComfyUI: takes the prompt but answers with an id of its own."""

    def submit(self, workflow: Any, *, prompt_id: str | None = None) -> Any:
        super().submit(workflow, prompt_id=prompt_id)
        self.posted[-1] = f"server-{len(self.posted)}"
        return SimpleNamespace(prompt_id=self.posted[-1], number=len(self.posted))


def test_a_server_that_ignores_our_prompt_id_gets_its_own_recorded(tmp_path: Path) -> None:
    store = OfflineStore(tmp_path)
    store.export(API, name="a")
    server = IgnoresIds()
    [done] = store.submit(server)
    assert done.prompt_id == "server-1" and done.exactly_once is False and done.note
    assert done.to_dict()["exactly_once"] is False
    [row] = store.submitted()
    assert row["prompt_id"] == "server-1"  # the id 'wait'/'download' can find on that server
    assert row["exactly_once"] is False and row["reserved_prompt_id"] != "server-1"
    assert "ignored the prompt id" in row["note"]
    store.export(API, name="b")
    [normal] = store.submit(FakeServer())
    assert normal.exactly_once is True and normal.note is None
    assert "exactly_once" not in {r["name"]: r for r in store.submitted()}["b"]


CHILD = textwrap.dedent(
    """
    import sys
    from comfyctl.offline import OfflineStore
    store = OfflineStore(sys.argv[1])
    big = {str(i): {"class_type": "Node%d" % i, "inputs": {"text": "x" * 2000}} for i in range(150)}
    print("ready", flush=True)
    while True:
        api = dict(big, name={"class_type": "Tag", "inputs": {}})
        saved = store.export(api, name="wf", ui={"nodes": [], "tag": 1})
        print(saved.name, flush=True)
    """
)


def test_sigkill_during_exports_never_leaves_partial_or_lost_files(tmp_path: Path) -> None:
    rng = random.Random(6)
    reported: set[str] = set()
    torn = 0  # kills that left a temp file behind (landed mid-write)
    for _ in range(12):
        proc = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(tmp_path)], stdout=subprocess.PIPE, text=True
        )
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        # let it finish a random number of exports, then kill it wherever it is
        for _ in range(rng.randrange(0, 4)):
            reported.add(proc.stdout.readline().strip())
        time.sleep(rng.uniform(0, 0.03))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        folder = tmp_path / "projects/default/workflows"
        torn += folder.is_dir() and any(p.name.endswith(".tmp") for p in folder.iterdir())
        reported.update(line.strip() for line in proc.stdout.read().splitlines())
        proc.stdout.close()
    reported.discard("")
    folder = tmp_path / "projects/default/workflows"
    visible = [p for p in folder.iterdir() if not p.name.startswith(".")]
    for path in visible:
        data = json.loads(path.read_text())  # never partial
        if path.name.endswith(".ui.json"):
            assert data == {"nodes": [], "tag": 1}
        else:
            assert len(data) == 151 and data["name"] == {"class_type": "Tag", "inputs": {}}
    names = {p.name[: -len(".json")] for p in visible if not p.name.endswith(".ui.json")}
    assert reported <= names  # nothing reported as saved is lost
    pending = {p.name for p in OfflineStore(tmp_path).pending()}
    assert names == pending  # every complete file is pending, ledger or not
    json.loads((tmp_path / "projects/default/ledger.json").read_text())
    leftovers = [p for p in folder.iterdir() if p.name.endswith(".tmp")]
    print(f"{len(names)} exports, {torn} kills mid-write, {len(leftovers)} temp files now")
    OfflineStore(tmp_path).export(API, name="after")
    assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]  # orphans of kills cleaned


def test_file_system_failures_are_our_errors(tmp_path: Path) -> None:
    from comfyctl.errors import LocalIOError
    from comfyctl.inventory import Inventory, save

    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    # a disk error, not a generic one (exit 1): the same class and exit code as a download's
    with pytest.raises(LocalIOError, match="cannot save workflow") as saved:
        OfflineStore(blocker).export(API, name="a")
    assert saved.value.exit_code == 10 and saved.value.details["errno"] is not None
    with pytest.raises(LocalIOError, match="inventory cache"):
        save(Inventory("online", "http://127.0.0.1:1", 0.0), state=blocker / "state")
    with pytest.raises(UsageError, match="JSON"):
        OfflineStore(tmp_path).export({"1": {"class_type": "X", "inputs": {"v": object()}}}, name="b")
    assert OfflineStore(tmp_path).pending() == []


_HOLD = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from comfyctl.offline import file_lock

    with file_lock(Path(sys.argv[1])):
        print("held", flush=True)
        sys.stdin.readline()  # hold the lock until the test says so
    """
)
_TRY = textwrap.dedent(
    """
    import sys
    from filelock import FileLock, Timeout

    try:
        FileLock(sys.argv[1], timeout=0).acquire()
    except Timeout:
        print("busy")
    else:
        print("free")
    """
)


def _try_lock(path: Path) -> str:
    done = subprocess.run([sys.executable, "-c", _TRY, str(path)], capture_output=True, text=True, check=True)
    return done.stdout.strip()


def test_the_ledger_lock_excludes_another_process(tmp_path: Path) -> None:
    """The project lock (file_lock) holds across processes, whichever one takes it first."""
    from comfyctl.offline import file_lock

    path = tmp_path / "projects" / "p" / ".lock"
    with file_lock(path):
        assert _try_lock(path) == "busy"
    assert _try_lock(path) == "free"

    with subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as holder:
        assert holder.stdout is not None and holder.stdin is not None
        assert holder.stdout.readline().strip() == "held"  # waits for the condition, no sleep
        assert _try_lock(path) == "busy"
        holder.stdin.write("\n")
        holder.stdin.flush()
        assert holder.wait(timeout=30) == 0
    assert _try_lock(path) == "free"
