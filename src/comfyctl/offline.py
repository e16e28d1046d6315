"""Offline mode: never lose a workflow while the server is down, submit it exactly once later.

Layout under the store's root (the current directory by default)::

    projects/{project}/workflows/{name}.json      API format (what gets submitted)
    projects/{project}/workflows/{name}.ui.json   the UI graph, when the input was UI format
                                                  (drag it into ComfyUI to load it)
    projects/{project}/submitted/{name}.json      ...moved here once the server accepted it
    projects/{project}/rejected/{name}.json       ...or here when it refused it (400)
    projects/{project}/ledger.json                {"workflows": {name: {status, prompt_id, ...}}}

Crash safety: every file is written to a temporary file in the same folder, fsynced, then put in
place with ``os.link`` (refuses to replace an existing file) or ``os.replace``; a killed process
leaves at most a hidden ``.*.tmp`` file that the next export in that project removes. The API file
is linked last, so its presence means the export is complete; a workflow file the ledger does not
know yet (killed between the file and the ledger write) counts as pending.

Exactly-once submit: before posting, a client-chosen prompt id is written to the ledger; a rerun
that finds such an id asks the server (``/queue`` and ``/history``) whether it landed before
posting again. Once the server has answered, the files move out of ``workflows/`` *before* the
ledger records the outcome, so only ``workflows/`` is ever pending: a lost ledger cannot make a
submitted workflow pending again. An unreadable ledger stops every operation of its project
(nothing is treated as pending on a guess). A server that ignores client-chosen prompt ids (older
ComfyUI) gets its own id recorded, with ``exactly_once: false``: a submit interrupted between the
POST and the ledger write cannot be detected there. Writers of one project serialise on
``projects/{project}/.lock`` (``filelock``: flock on POSIX, msvcrt on Windows).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from comfyctl._files import atomic_write_bytes, atomic_write_json, file_lock, io_errors
from comfyctl._files import create_temp as create_temp  # re-exported: the CLI probes --out with it
from comfyctl._files import fsync_dir as _fsync_dir
from comfyctl.errors import PromptRejected, UsageError

__all__ = [
    "Exported",
    "OfflineStore",
    "Pending",
    "Submitted",
    "atomic_write_bytes",
    "atomic_write_json",
    "file_lock",
    "io_errors",
]

_BAD_NAME = re.compile(r'[\x00-\x1f/\\<>:"|?*]')
_LEDGER_VERSION = 1
_DONE = {"submitted": "submitted", "rejected": "rejected"}  # final status -> folder


class _SubmitClient(Protocol):
    """The part of ``Client`` the store needs (duck-typed so tests and fleets can pass their own)."""

    @property
    def url(self) -> str: ...

    def submit(self, workflow: Mapping[str, Any], *, prompt_id: str | None = None) -> Any: ...
    def submit_once(self, workflow: Mapping[str, Any], *, prompt_id: str) -> Any: ...


@dataclass(frozen=True)
class Exported:
    """Where :meth:`OfflineStore.export` put a workflow. ``name`` may differ from the one asked for."""

    project: str
    name: str
    path: Path
    ui_path: Path | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "name": self.name,
            "path": str(self.path),
            "ui_path": str(self.ui_path) if self.ui_path else None,
        }


@dataclass(frozen=True)
class Pending:
    """A saved workflow not yet known to be on a server.

    ``prompt_id`` is set when a submit was started but not confirmed (the next submit checks the
    server for it before posting again).
    """

    project: str
    name: str
    path: Path
    ui_path: Path | None
    created: float
    prompt_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "name": self.name,
            "path": str(self.path),
            "ui_path": str(self.ui_path) if self.ui_path else None,
            "created": self.created,
            "prompt_id": self.prompt_id,
        }


@dataclass(frozen=True)
class Submitted:
    """The outcome of submitting one pending workflow.

    ``status``: ``submitted`` (posted now), ``already_submitted`` (an earlier, interrupted run had
    posted it: found on the server by its prompt id) or ``rejected`` (the server refused it with a
    400; ``error`` holds the reason, the workflow moves to ``rejected/`` and leaves the pending list).
    ``exactly_once`` is False (and ``note`` says why) when the server ignored the prompt id chosen
    here: ``prompt_id`` is then the server's.
    """

    project: str
    name: str
    prompt_id: str
    status: Literal["submitted", "already_submitted", "rejected"]
    submitted_at: float
    path: Path
    error: dict[str, Any] | None = None
    exactly_once: bool = True
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "name": self.name,
            "prompt_id": self.prompt_id,
            "status": self.status,
            "submitted_at": self.submitted_at,
            "path": str(self.path),
            "error": self.error,
            "exactly_once": self.exactly_once,
            "note": self.note,
        }


def _check_part(value: str, what: str) -> str:
    if (
        not isinstance(value, str)
        or not value.strip()
        or value != value.strip()
        or value.startswith(".")
        or ".." in value
        or _BAD_NAME.search(value)
        or len(value) > 200
    ):
        raise UsageError(
            f"invalid {what} {value!r}: use letters, digits, '-', '_' or '.' (no path separators, "
            "no leading '.', no '..')",
            details={what: value},
        )
    return value


class OfflineStore:
    """Saved workflows under ``{root}/projects/{project}/``, with a pending/submitted ledger.

    Example::

        store = OfflineStore()
        saved = store.export(api, name="portrait")          # server down: keep it
        ...
        with Client() as comfy:
            for s in store.submit(comfy):                    # server back: each exactly once
                print(s.name, s.prompt_id)
    """

    def __init__(self, root: str | Path = Path(".")):
        self.root = Path(root)

    # -- paths ---------------------------------------------------------------------------------

    def project_dir(self, project: str) -> Path:
        return self.root / "projects" / _check_part(project, "project")

    def _ledger_path(self, project: str) -> Path:
        return self.project_dir(project) / "ledger.json"

    def _lock(self, project: str) -> contextlib.AbstractContextManager[None]:
        return file_lock(self.project_dir(project) / ".lock")

    def _read_ledger(self, project: str) -> dict[str, Any]:
        path = self._ledger_path(project)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            data = exc
        entries = data.get("workflows") if isinstance(data, dict) else None
        if not isinstance(entries, dict):
            # Never guess: treating every file as pending would send submitted ones again.
            raise UsageError(
                f"the offline ledger {path} is unreadable"
                + (f": {data}" if isinstance(data, Exception) else ": not a ledger document"),
                hint="restore it from a backup or repair its JSON; do not delete it: it holds the "
                "prompt ids of submits in progress, without which those workflows could be sent twice",
                details={"path": str(path)},
            ) from (data if isinstance(data, Exception) else None)
        return self._settled(project, entries)

    def _settled(self, project: str, entries: dict[str, Any]) -> dict[str, Any]:
        """Finish, in the view, a submit killed between moving its files and writing the ledger.

        The move happens only after the server's answer, so a ``submitting`` entry whose file is
        in ``submitted/`` or ``rejected/`` (and no longer in ``workflows/``) has that outcome.
        """
        base = self.project_dir(project)
        for name, entry in entries.items():
            if not isinstance(entry, dict) or entry.get("status") != "submitting":
                continue
            if (base / "workflows" / f"{name}.json").exists():
                continue
            for status, folder in _DONE.items():
                moved = base / folder / f"{name}.json"
                if moved.exists():
                    entry.update(status=status, file=f"{folder}/{name}.json")
                    entry.setdefault("submitted_at", moved.stat().st_ctime)  # the rename's time
                    break
        return entries

    def _write_ledger(self, project: str, entries: dict[str, Any]) -> None:
        with io_errors("write the offline ledger"):
            atomic_write_json(self._ledger_path(project), {"version": _LEDGER_VERSION, "workflows": entries})

    def projects(self) -> list[str]:
        base = self.root / "projects"
        if not base.is_dir():
            return []
        return sorted(p.name for p in base.iterdir() if p.is_dir() and not p.name.startswith("."))

    # -- export --------------------------------------------------------------------------------

    def export(
        self,
        api: Mapping[str, Any],
        *,
        project: str = "default",
        name: str,
        ui: Mapping[str, Any] | None = None,
        overwrite: bool = False,
    ) -> Exported:
        """Save an API-format workflow for later submission and record it as pending.

        Writes ``{root}/projects/{project}/workflows/{name}.json`` (the API workflow) and, when
        ``ui`` is given, ``{name}.ui.json`` beside it (the UI graph, loadable by dragging it into
        ComfyUI). Each file is written atomically (temp file in the same folder, fsync, then
        ``os.link``/``os.replace``): a crash never leaves a partial file under either name, and
        the API file appears last. Then the project's ledger records the workflow as pending.

        An existing workflow is never replaced unless ``overwrite`` is True: the name gets a
        suffix instead (``name-2``, ``name-3``, ...), so read the name actually used from the
        returned :class:`Exported`. With ``overwrite``, the old files and ledger entry (even a
        submitted one) are replaced and the workflow is pending again. A trailing ``.json`` in
        ``name`` is dropped. Prints nothing.

        Raises:
            UsageError: ``project`` or ``name`` is not a plain file name (separators, ``..``,
                leading dot), or ``api`` is not a dict.
        """
        if not isinstance(api, Mapping):
            raise UsageError("the workflow to export must be a JSON object (API format)")
        if isinstance(name, str) and name.endswith(".json"):
            name = name[: -len(".json")]
        if isinstance(name, str) and name.endswith(".ui"):
            name = name[: -len(".ui")]
        _check_part(name, "name")
        folder = self.project_dir(project) / "workflows"
        try:
            api_bytes = (json.dumps(api, indent=2, ensure_ascii=False) + "\n").encode()
            ui_bytes = (
                (json.dumps(ui, indent=2, ensure_ascii=False) + "\n").encode() if ui is not None else None
            )
        except (TypeError, ValueError) as exc:
            raise UsageError(f"the workflow cannot be saved as JSON: {exc}") from exc
        with io_errors(f"save workflow {name!r} in {folder}"), self._lock(project):
            folder.mkdir(parents=True, exist_ok=True)
            self._remove_orphan_temps(folder)
            entries = self._read_ledger(project)
            chosen = name
            if not overwrite:
                n = 1
                base = folder.parent
                while chosen in entries or any(
                    (base / sub / f"{chosen}{ext}").exists()
                    for sub in ("workflows", *_DONE.values())
                    for ext in (".json", ".ui.json")
                ):
                    n += 1
                    chosen = f"{name}-{n}"
            path = folder / f"{chosen}.json"
            ui_path = folder / f"{chosen}.ui.json" if ui_bytes is not None else None
            if ui_path is not None and ui_bytes is not None:
                atomic_write_bytes(ui_path, ui_bytes, overwrite=overwrite)
            elif overwrite:
                with contextlib.suppress(FileNotFoundError):
                    (folder / f"{chosen}.ui.json").unlink()
            atomic_write_bytes(path, api_bytes, overwrite=overwrite)
            entries[chosen] = {
                "status": "pending",
                "file": f"workflows/{chosen}.json",
                "ui_file": f"workflows/{chosen}.ui.json" if ui_path else None,
                "created": time.time(),
            }
            self._write_ledger(project, entries)
        return Exported(project, chosen, path, ui_path)

    @staticmethod
    def _remove_orphan_temps(folder: Path) -> None:
        """Temp files left by a killed writer (safe: every writer holds the project lock)."""
        for tmp in folder.glob(".*.tmp"):
            with contextlib.suppress(OSError):
                tmp.unlink()

    # -- pending -------------------------------------------------------------------------------

    def _pending_in(self, project: str) -> list[Pending]:
        folder = self.project_dir(project) / "workflows"
        entries = self._read_ledger(project)
        result: list[Pending] = []
        if folder.is_dir():
            for path in folder.glob("*.json"):
                if path.name.endswith(".ui.json") or path.name.startswith("."):
                    continue
                name = path.name[: -len(".json")]
                entry = entries.get(name) or {}
                if entry.get("status", "pending") not in ("pending", "submitting"):
                    continue  # submitted by a version that left the files in workflows/
                ui_path = folder / f"{name}.ui.json"
                created = entry.get("created")
                if not isinstance(created, (int, float)):
                    created = path.stat().st_mtime
                result.append(
                    Pending(
                        project,
                        name,
                        path,
                        ui_path if ui_path.exists() else None,
                        float(created),
                        entry.get("prompt_id"),
                    )
                )
        return sorted(result, key=lambda p: (p.created, p.name))

    def pending(self, project: str | None = None) -> list[Pending]:
        """Workflows saved but not yet on a server, oldest first (all projects when None)."""
        projects = [project] if project is not None else self.projects()
        result = [p for proj in projects for p in self._pending_in(proj)]
        return sorted(result, key=lambda p: (p.created, p.project, p.name))

    def submitted(self, project: str | None = None) -> list[dict[str, Any]]:
        """Ledger entries of workflows already submitted (or rejected), for listings."""
        projects = [project] if project is not None else self.projects()
        rows = []
        for proj in projects:
            for name, entry in sorted(self._read_ledger(proj).items()):
                if isinstance(entry, dict) and entry.get("status") in _DONE:
                    rows.append({"project": proj, "name": name, **entry})
        return rows

    # -- submit --------------------------------------------------------------------------------

    def submit(
        self,
        client: _SubmitClient,
        names: Iterable[str] | None = None,
        *,
        project: str | None = None,
    ) -> list[Submitted]:
        """Submit pending workflows (all, or those named), each exactly once, oldest first.

        For each one, under the project lock: a prompt id already reserved by an interrupted run
        is looked up in ``/queue`` and ``/history`` first (found → ``already_submitted``, no new
        POST); otherwise a fresh id is written to the ledger *before* the POST. After the server
        accepts it, the ledger marks it submitted with its prompt id and time. A 400 marks it
        ``rejected`` and moves on. A server that cannot be reached (or fails with 5xx) stops the
        loop with that error; what was done so far is recorded, and a rerun continues safely.

        ``names`` match ``name`` or ``project/name``.

        Raises:
            UsageError: a name in ``names`` is not pending.
            ComfyError: the server could not be reached or failed (see above).
        """
        todo = self.pending(project)
        if names is not None:
            wanted = list(names)
            by_key = {f"{p.project}/{p.name}": p for p in todo}
            selected: list[Pending] = []
            for want in wanted:
                hits = [by_key[want]] if want in by_key else [p for p in todo if p.name == want]
                if not hits:
                    raise UsageError(
                        f"no pending workflow named {want!r}",
                        hint="list them with 'comfyctl offline ls'",
                        details={"name": want},
                    )
                selected += [h for h in hits if h not in selected]
            todo = selected
        return [r for item in todo if (r := self._submit_one(client, item)) is not None]

    def _submit_one(self, client: _SubmitClient, item: Pending) -> Submitted | None:
        with self._lock(item.project):
            entries = self._read_ledger(item.project)
            entry = dict(entries.get(item.name) or {})
            if entry.get("status") in ("submitted", "rejected") or not item.path.exists():
                return None  # another process finished it while we waited for the lock
            try:
                api = json.loads(item.path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise UsageError(f"cannot read saved workflow {item.path}: {exc}") from exc
            prompt_id = entry.get("prompt_id")
            reserved = bool(prompt_id)
            if not prompt_id:
                prompt_id = str(uuid.uuid4())
                entry.update(status="submitting", prompt_id=prompt_id, server=client.url)
                entry.setdefault("file", f"workflows/{item.name}.json")
                entry.setdefault("created", item.created)
                entries[item.name] = entry
                self._write_ledger(item.project, entries)  # recorded BEFORE the POST
            try:
                # A reserved id may have landed before a crash: the library's one exactly-once
                # rule decides (attach when the server knows it). A fresh id cannot be there.
                if reserved:
                    job = client.submit_once(api, prompt_id=prompt_id)
                else:
                    job = client.submit(api, prompt_id=prompt_id)
            except PromptRejected as exc:
                return self._mark(item, entries, entry, prompt_id, "rejected", error=exc.to_dict())
            if getattr(job, "attached", False) is True:
                return self._mark(item, entries, entry, prompt_id, "already_submitted")
            got = getattr(job, "prompt_id", None)
            if isinstance(got, str) and got and got != prompt_id:
                # Older ComfyUI ignores client-chosen ids: only the server's id can be waited
                # for, and a rerun after a crash here could not find ours on the server.
                entry.update(
                    exactly_once=False,
                    reserved_prompt_id=prompt_id,
                    note=f"the server ignored the prompt id chosen here ({prompt_id}) and gave "
                    f"{got}: a submit interrupted before this ledger write would be sent again",
                )
                prompt_id = got
            return self._mark(item, entries, entry, prompt_id, "submitted")

    def _mark(
        self,
        item: Pending,
        entries: dict[str, Any],
        entry: dict[str, Any],
        prompt_id: str,
        status: Literal["submitted", "already_submitted", "rejected"],
        error: dict[str, Any] | None = None,
    ) -> Submitted:
        now = time.time()
        final = "rejected" if status == "rejected" else "submitted"
        path, ui_path = self._move_out(item, _DONE[final])
        root = path.parent.parent
        entry.update(
            status=final,
            prompt_id=prompt_id,
            submitted_at=now,
            file=str(path.relative_to(root).as_posix()),
            ui_file=str(ui_path.relative_to(root).as_posix()) if ui_path else None,
        )
        if error is not None:
            entry["error"] = error
        entries[item.name] = entry
        self._write_ledger(item.project, entries)
        return Submitted(
            item.project,
            item.name,
            prompt_id,
            status,
            now,
            path,
            error,
            entry.get("exactly_once", True) is not False,
            entry.get("note"),
        )

    def _move_out(self, item: Pending, folder: str) -> tuple[Path, Path | None]:
        """Move a workflow's files from ``workflows/`` to ``folder`` (its outcome is now known).

        The API file goes first: once it has left ``workflows/``, nothing can list it as pending,
        ledger or not. Same file system, so each ``os.replace`` is atomic.
        """
        dest = item.path.parent.parent / folder
        with io_errors(f"move {item.name!r} to {dest}"):
            dest.mkdir(exist_ok=True)
            path = dest / item.path.name
            os.replace(item.path, path)
            ui_src = item.path.with_name(f"{item.name}.ui.json")
            ui_path: Path | None = None
            if ui_src.exists():
                ui_path = dest / ui_src.name
                os.replace(ui_src, ui_path)
            _fsync_dir(dest)
            _fsync_dir(item.path.parent)
        return path, ui_path
