"""``comfyctl queue / history / cancel / interrupt``: manage what is waiting, running and done."""

from __future__ import annotations

import datetime as _dt
from typing import Any

import click

from comfyctl.cli._common import command, emit, info, state
from comfyctl.cli.server_cmds import DefaultGroup
from comfyctl.errors import UsageError

__all__ = ["cancel", "history", "interrupt", "queue"]


def _item(item: Any, position: int | None) -> dict[str, Any]:
    doc: dict[str, Any] = item.to_dict()
    doc["position"] = position
    return doc


@click.group("queue", cls=DefaultGroup)
def queue() -> None:
    """The queue in run order (running first); 'queue rm ID...' and 'queue clear'."""


@queue.command("ls", hidden=True)
def queue_ls() -> None:
    """List running and pending prompts, pending ones in the order they will run.

    Example: comfyctl queue --json
    """
    q = state().client.queue()
    doc = {
        "running": [_item(i, None) for i in q.running],
        "pending": [_item(i, n) for n, i in enumerate(q.pending)],
    }

    def human() -> None:
        if not q.running and not q.pending:
            click.echo("the queue is empty")
        for i in q.running:
            click.echo(f"running  {i.prompt_id}  ({len(i.prompt)} nodes)")
        for n, i in enumerate(q.pending):
            click.echo(f"{n:>7}  {i.prompt_id}  ({len(i.prompt)} nodes)")

    emit(doc, human)


@queue.command("rm")
@click.argument("prompt_ids", nargs=-1, required=True)
def queue_rm(prompt_ids: tuple[str, ...]) -> None:
    """Remove pending prompts from the queue (a running one needs 'comfyctl cancel').

    Example: comfyctl queue rm 3f2a… 9b1c…
    """
    client = state().client
    before = client.queue()
    pending = {i.prompt_id for i in before.pending}
    deleted = [p for p in prompt_ids if p in pending]
    missing = [p for p in prompt_ids if p not in pending]
    if not deleted:
        raise UsageError(
            f"none of {', '.join(missing)} is pending", hint="list the queue with 'comfyctl queue'"
        )
    client.delete_queued(deleted)
    doc = {"deleted": deleted, "not_pending": missing}

    def human() -> None:
        for p in deleted:
            click.echo(f"removed {p}")
        for p in missing:
            running = before.is_running(p)
            info(f"{p} is {'running (use comfyctl cancel)' if running else 'not pending'}")

    emit(doc, human)
    if missing and not deleted:
        raise UsageError(
            f"none of {', '.join(missing)} is pending", hint="list the queue with 'comfyctl queue'"
        )


@queue.command("clear")
def queue_clear() -> None:
    """Remove every pending prompt (every client's); the running one is left alone.

    Example: comfyctl queue clear
    """
    client = state().client
    n = len(client.queue().pending)
    client.clear_queue()
    emit({"cleared": n}, f"removed {n} pending prompt{'s' * (n != 1)}")


def _when(ms: int | None) -> str:
    if ms is None:
        return "?"
    return _dt.datetime.fromtimestamp(ms / 1000).strftime("%Y-%m-%d %H:%M:%S")


def _summary(result: Any) -> dict[str, Any]:
    return {
        "prompt_id": result.prompt_id,
        "status": result.status,
        "outputs": len(result.outputs),
        "timing": result.timing.to_dict(),
    }


@click.group("history", cls=DefaultGroup)
def history() -> None:
    """Finished prompts, oldest first; 'history show ID', 'history rm ID...', 'history clear'."""


@history.command("ls", hidden=True)
@click.option("-n", "--max-items", type=click.IntRange(min=1), help="Only the newest N.")
def history_ls(max_items: int | None) -> None:
    """List finished prompts (oldest first) with their status and output count.

    Example: comfyctl history -n 5
    """
    from comfyctl.results import Result

    client = state().client
    entries = client.history(max_items=max_items)
    items = [_summary(Result.from_history(pid, entry, client.url)) for pid, entry in entries.items()]

    def human() -> None:
        if not items:
            click.echo("the history is empty")
        for it in items:
            click.echo(
                f"{_when(it['timing']['finished'])}  {it['prompt_id']}  {it['status']:<11}  "
                f"{it['outputs']} output{'s' * (it['outputs'] != 1)}"
            )

    emit({"items": items}, human)


@history.command("show")
@click.argument("prompt_id")
def history_show(prompt_id: str) -> None:
    """One finished prompt: status, outputs, text outputs, error, timing.

    Example: comfyctl history show 3f2a… --json
    """
    from comfyctl.results import Result

    client = state().client
    entry = client.history_entry(prompt_id)
    if entry is None:
        raise UsageError(
            f"prompt {prompt_id} is not in the history (still queued, running, or unknown)",
            hint="list finished prompts with 'comfyctl history'",
        )
    result = Result.from_history(prompt_id, entry, client.url)
    doc = result.to_dict()

    def human() -> None:
        click.echo(f"{result.prompt_id}: {result.status}, finished {_when(result.timing.finished)}")
        if result.error:
            click.echo(
                f"  error in node {result.error.get('node_id')} ({result.error.get('node_type')}): "
                f"{result.error.get('exception_message', '')}".rstrip()
            )
        for out in result.outputs:
            where = f"{out.subfolder}/{out.filename}" if out.subfolder else out.filename
            click.echo(f"  node {out.node_id}: {where} [{out.type}, {out.kind}]")
        for node, texts in result.texts.items():
            for text in texts:
                click.echo(f"  node {node} text: {text}")

    emit(doc, human)


@history.command("rm")
@click.argument("prompt_ids", nargs=-1, required=True)
def history_rm(prompt_ids: tuple[str, ...]) -> None:
    """Delete finished prompts from the history.

    Example: comfyctl history rm 3f2a…
    """
    state().client.delete_history(list(prompt_ids))
    emit({"deleted": list(prompt_ids)}, lambda: click.echo("\n".join(f"deleted {p}" for p in prompt_ids)))


@history.command("clear")
def history_clear() -> None:
    """Delete the whole history (outputs stay on the server's disk).

    Example: comfyctl history clear
    """
    state().client.clear_history()
    emit({"cleared": True}, "history cleared")


_OUTCOME_TEXT = {
    "dequeued": "removed from the queue",
    "interrupted": "interrupted while running",
    "cleared": "already finished: its result was removed from the history",
}


@command("cancel")
@click.argument("prompt_id")
def cancel(prompt_id: str) -> None:
    """Cancel exactly PROMPT_ID: dequeue it if pending, interrupt it if running.

    Example: comfyctl cancel 3f2a…
    """
    outcome = state().client.cancel(prompt_id)
    if outcome == "not_found":
        raise UsageError(
            f"prompt {prompt_id} is not queued, running or in the history",
            hint="list prompts with 'comfyctl queue' and 'comfyctl history'",
        )
    emit({"prompt_id": prompt_id, "outcome": outcome}, f"{prompt_id}: {_OUTCOME_TEXT.get(outcome, outcome)}")


@command("interrupt")
def interrupt() -> None:
    """Interrupt whatever prompt is running now (pending prompts are untouched).

    Example: comfyctl interrupt
    """
    client = state().client
    running = [i.prompt_id for i in client.queue().running]
    client.interrupt()
    emit(
        {"interrupted": running[0] if running else None},
        f"interrupted {running[0]}" if running else "nothing was running",
    )
