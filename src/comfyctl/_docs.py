"""The public docstrings of the twins, written once: ``Client``/``AsyncClient`` and ``Job``/``AsyncJob``
have the same methods and the same behaviour, so they say the same thing (on the async twin each
call is awaited, and ``events()`` is an async iterator). :func:`documented` puts them on a class.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TypeVar

C = TypeVar("C", bound=type)

CLIENT: Mapping[str, str] = {
    "close": """Close the WebSocket and the HTTP connection pool, for good: waiting jobs and later
        calls raise :class:`UsageError`.""",
    "system_stats": "Versions, RAM and devices (``GET /system_stats``).",
    "features": "Server feature flags (``GET /features``).",
    "object_info": """Node definitions: all, or one class (``{}`` when the class is unknown).

        Raises:
            HTTPError: the answer, or one class's definition, is not an object.""",
    "node_defs": "All node definitions as :class:`NodeDefs` (fetched once per client).",
    "models": "Model folder names, or the files in one folder (:class:`NotFound` for an unknown one).",
    "embeddings": "Embedding names (without extension).",
    "extensions": "Frontend extension script URLs the server serves (``/extensions``).",
    "logs": "The server's recent log (``/internal/logs``, the frontend's own route).",
    "queue": "Running and pending prompts, pending in run order.",
    "delete_queued": "Remove pending prompts (running ones are untouched: use :meth:`cancel`).",
    "clear_queue": "Remove every pending prompt (every client's).",
    "history": "Finished prompts, oldest first (``max_items`` alone: the newest N).",
    "history_entry": """One history entry, or None while pending, running or unknown.

        Raises:
            HTTPError: the answer is neither ``{}`` nor this prompt's entry.""",
    "delete_history": "Remove finished prompts from the history (unknown ids are ignored by the server).",
    "clear_history": "Empty the whole history (every client's).",
    "jobs": "``GET /api/jobs`` (ComfyUI 0.8+): status, workflow_id, sort_by, sort_order, limit, offset.",
    "job_info": "``GET /api/jobs/{id}`` (:class:`NotFound` when unknown).",
    "submit": """Queue an API-format workflow; returns at once with its job.

        The WebSocket is opened before posting, and the prompt id is chosen here (or given), so no
        event can be missed. A POST that times out or is reset is re-sent once, with the same id,
        only after ``/queue`` and ``/history`` show it did not land. Every error raised once the id
        is chosen names it (``details["prompt_id"]``); when the check itself fails,
        ``details["landed"]`` is None: the prompt may be queued.

        Raises:
            PromptRejected: the server refused the workflow (400), with every problem listed.""",
    "attach": """A job for a prompt queued by anyone, from any process.

        For a finished prompt, ``events()`` yields nothing and the result is ready. For a pending
        or running one, the job listens on this client's own socket and finishes from ``/queue`` +
        ``/history``: progress events of someone else's prompt are not available that way, since
        ComfyUI sends them only to the client id that queued it. ``follow_progress=True`` takes
        that client id over to get them; the owner's socket then goes silent (a browser tab stays
        silent until reloaded). A prompt queued by comfyctl (client ids ``comfyctl-...``) is taken
        over by default: its owner is typically gone, and a live one still finishes from the history.

        Raises:
            JobLost: the prompt is in neither the queue nor the history.""",
    "submit_once": """Queue ``workflow`` under ``prompt_id`` unless the server already knows that id.

        The exactly-once rule every front-end shares (MCP, batches, offline submit): the caller
        decides the id and records it before calling; a prompt with that id in the server's history
        or queue is attached to (:meth:`attach`; the job's ``attached`` is True), never queued
        again. Only an id the server has never seen is submitted, with :meth:`submit`'s own
        re-send rule.""",
    "run": "Submit and wait: the successful :class:`Result`, or an exception saying what went wrong.",
    "interrupt": "Stop the running prompt; with ``prompt_id``, only if that prompt is the one running.",
    "cancel": """Cancel exactly this prompt: dequeue it when pending, interrupt it when a fresh queue
        read shows it running, clear its history when already finished.""",
    "free": "Ask the server to unload models / free memory after the current prompt.",
    "upload": """Upload an image (or, with ``mask_for``, a mask applied to that image's alpha).

        Returns the stored file: use ``.ref`` in a loader node (ComfyUI may rename the upload).""",
    "view": "A file's bytes (small files; use :meth:`download`/:meth:`view_to` for big ones).",
    "view_to": "Stream a server file to ``dest`` (a folder, or a file path); returns the written path.",
    "download": """Stream one output into ``dest_dir/subfolder/filename`` (names made safe; existing
        files kept unless ``overwrite``: a free ``name (n).ext`` is chosen). Returns the path written.

        Raises:
            LocalIOError: the file could not be written (disk full, permissions).
            UnsafePath: the server names a path outside its folder, or refused one (403).""",
    "download_all": """Every output file of a result (see :meth:`download`); an error names the
        prompt (``details["prompt_id"]``).""",
}

JOB: Mapping[str, str] = {
    "events": """Typed events for this prompt until it ends (``QueuePosition`` while it waits).

        The iterator ends after the terminal event; then :meth:`result` is ready. Raises
        :class:`WaitTimeout` after ``timeout`` seconds, :class:`JobLost` if the server forgets it.""",
    "wait": """Wait until the prompt ends; the :class:`Result` on success.

        Raises:
            ExecutionError: a node raised (node, class, exception, traceback).
            Interrupted: the prompt was interrupted or cancelled.
            JobLost: it vanished from queue and history (server restarted?).
            WaitTimeout: ``timeout`` seconds passed (the prompt may still run).""",
    "result": "The outcome (waits if needed, without limit unless the client has a wait timeout).",
    "cancel": "Cancel this prompt (see the client's ``cancel``).",
}


def documented(docs: Mapping[str, str]) -> Callable[[C], C]:
    """A class decorator giving each method named in ``docs`` its docstring (the one source)."""

    def apply(cls: C) -> C:
        for name, doc in docs.items():
            getattr(cls, name).__doc__ = doc
        return cls

    return apply
