"""The doctor: is a server usable? Reachability, versions, queue health, VRAM, inventory age, offline work.

One verdict (``healthy`` / ``degraded`` / ``down``) with a check per concern, each with advice from
:mod:`comfyctl.diagnose` when something is wrong. ``comfyctl doctor`` prints it; the MCP server's
``diagnose`` tool returns it. Works on any client with the sync :class:`comfyctl.Client` methods
(``system_stats``, ``queue``, ``url``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from comfyctl.errors import ComfyError

__all__ = ["Health", "check_health", "gib", "time_ago"]


def gib(n: Any) -> str:
    """Bytes as ``1.5 GiB`` (``?`` when unknown)."""
    return f"{n / 2**30:.1f} GiB" if isinstance(n, (int, float)) else "?"


def time_ago(seconds: float) -> str:
    """A human age: ``40 s ago``, ``12 min ago``, ``3.5 h ago``, ``4 days ago``."""
    if seconds < 90:
        return f"{seconds:.0f} s ago"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min ago"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h ago"
    return f"{seconds / 86400:.0f} days ago"


@dataclass(frozen=True)
class Health:
    """The doctor's answer: ``doc`` (verdict, url, summary, checks) and the failure that made it down."""

    doc: dict[str, Any]
    failure: ComfyError | None


def check_health(
    client: Any,
    *,
    stuck_after: float = 600.0,
    sample: float = 0.0,
    max_age: float = 3600.0,
    state_dir: str | Path | None = None,
    offline_root: str | Path = ".",
    sleep: Callable[[float], None] = time.sleep,
) -> Health:
    """Check the server behind ``client`` and return one verdict.

    ``sample`` reads the queue twice, that far apart, to see whether a running prompt moves.
    Never raises for a server condition: an unreachable server is a ``down`` verdict.
    """
    from comfyctl.diagnose import advise, queue_advice
    from comfyctl.inventory import LOW_VRAM, load_cached
    from comfyctl.offline import OfflineStore

    checks: list[dict[str, Any]] = []

    def add(name: str, status: str, message: str, advice: Any = None) -> None:
        checks.append(
            {
                "name": name,
                "status": status,
                "message": message,
                "advice": advice.to_dict() if advice else None,
            }
        )

    failure: ComfyError | None = None
    try:
        stats = client.system_stats()
    except ComfyError as exc:
        failure = exc
        add("reachable", "fail", exc.message, advise(exc))
    else:
        add("reachable", "ok", f"{client.url} answers")
        python = (stats.python_version or "?").split()[0]
        add(
            "versions",
            "ok" if stats.comfyui_version else "warn",
            f"ComfyUI {stats.comfyui_version or '?'} · Python {python}"
            f" · PyTorch {stats.pytorch_version or '?'}",
        )
        try:
            queue = client.queue()
        except ComfyError as exc:
            add("queue", "fail", exc.message, advise(exc))
        else:
            previous: int | None = None
            if sample and queue.running:
                first = queue
                sleep(sample)
                queue = client.queue()
                if [i.prompt_id for i in first.running] == [i.prompt_id for i in queue.running]:
                    previous = len(first.pending)  # same prompt still running: did the queue grow?
            stuck = queue_advice(
                queue.running, queue.pending, stuck_after=stuck_after, previous_pending=previous
            )
            text = f"{len(queue.running)} running, {len(queue.pending)} pending"
            if previous is not None:
                text += f" (same prompt running for {sample:g} s; pending {previous} → {len(queue.pending)})"
            add("queue", "warn" if stuck else "ok", stuck.summary if stuck else text, stuck)
        for dev in stats.devices:
            if dev.type == "cpu":
                add("memory", "ok", f"{dev.name}: CPU mode, {gib(dev.vram_free)} RAM free")
                continue
            low = isinstance(dev.vram_free, int) and dev.vram_free < LOW_VRAM
            add(
                "vram",
                "warn" if low else "ok",
                f"{dev.name}: {gib(dev.vram_free)} free of {gib(dev.vram_total)}"
                + ("; free it with: comfyctl free --unload-models" if low else ""),
            )
    cached = load_cached(client.url, state=state_dir)
    if cached is None:
        add("inventory", "warn", "no inventory cached for this server: run 'comfyctl inventory'")
    elif cached.age > max_age:
        age = time_ago(cached.age)
        add("inventory", "warn", f"inventory is {age} old: run 'comfyctl inventory --refresh'")
    else:
        add("inventory", "ok", f"inventory taken {time_ago(cached.age)}")
    try:
        waiting = OfflineStore(offline_root).pending()
    except ComfyError as exc:
        waiting = []
        add("offline", "warn", f"{exc.message}: {exc.hint}" if exc.hint else exc.message)
    if waiting:
        add("offline", "warn", f"{len(waiting)} saved workflow(s) waiting: comfyctl offline submit --all")
    statuses = {c["status"] for c in checks}
    verdict = "down" if failure else ("degraded" if statuses - {"ok"} else "healthy")
    summary = {
        "healthy": "healthy: ready for work",
        "degraded": "usable, with warnings (see above)",
        "down": f"not usable: {failure.message if failure else ''}",
    }[verdict]
    return Health({"verdict": verdict, "url": client.url, "summary": summary, "checks": checks}, failure)
