"""``comfyctl inventory / check / offline / export / doctor``: what is installed, work kept offline, health.

The inventory cache lives in ``--state-dir`` (else ``$COMFYCTL_STATE_DIR``, else ``./state``); saved
workflows under ``./projects/`` (see :mod:`comfyctl.offline`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from comfyctl.cli._common import ComfyGroup, command, emit, info, state
from comfyctl.doctor import gib as _gib
from comfyctl.doctor import time_ago as _ago
from comfyctl.errors import ComfyError, TransportError, UsageError

__all__ = ["check", "doctor", "export", "inventory", "offline"]

F = TypeVar("F", bound=Callable[..., Any])


def _state_option(fn: F) -> F:
    return click.option(
        "--state-dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="Inventory cache folder [env COMFYCTL_STATE_DIR; default ./state].",
    )(fn)


def _max_age_option(fn: F) -> F:
    return click.option(
        "--max-age",
        type=click.FloatRange(min=0),
        default=3600.0,
        show_default=True,
        metavar="SECONDS",
        help="Use a cached inventory younger than this.",
    )(fn)


def _warn_stale(inv: Any) -> None:
    if inv.stale:
        info(f"warning: {inv.server} is unreachable; using the inventory taken {_ago(inv.age)}")


def _show_inventory(inv: Any) -> Callable[[], None]:
    def human() -> None:
        sysinfo = inv.system
        rows = [
            ("server", f"{inv.server} ({inv.mode}, taken {_ago(inv.age)}{', STALE' if inv.stale else ''})")
        ]
        versions = [f"ComfyUI {inv.comfyui_version or '?'}"]
        if sysinfo.get("os"):
            versions.append(str(sysinfo["os"]))
        if sysinfo.get("python_version"):
            versions.append(f"Python {str(sysinfo['python_version']).split()[0]}")
        if sysinfo.get("pytorch_version"):
            versions.append(f"PyTorch {sysinfo['pytorch_version']}")
        rows.append(("versions", " · ".join(versions)))
        for dev in inv.devices:
            rows.append(
                (
                    "device",
                    f"{dev.get('name')} ({dev.get('type')}) · VRAM {_gib(dev.get('vram_free'))} free "
                    f"of {_gib(dev.get('vram_total'))}",
                )
            )
        packages = inv.packages
        custom = sorted((p, len(c)) for p, c in packages.items() if p != "core")
        core = len(packages.get("core", []))
        plural = "" if len(custom) == 1 else "s"
        packs = f"{len(custom)} custom-node package{plural}"
        rows.append(("nodes", f"{len(inv.nodes)} classes ({core} core, {packs})"))
        rows.append(("embeddings", str(len(inv.embeddings))))
        if inv.mode == "online":
            rows.append(("extensions", f"{len(inv.extensions)} frontend scripts"))
        width = max(len(k) for k, _ in rows)
        for key, value in rows:
            click.echo(f"{key:<{width}}  {value}")
        if custom:
            click.echo("custom nodes:")
            for pkg, count in custom:
                click.echo(f"  {pkg} ({count} node{'' if count == 1 else 's'})")
        filled = {k: v for k, v in sorted(inv.models.items()) if v}
        empty = sorted(k for k, v in inv.models.items() if not v)
        click.echo("models:" if filled else "models: none")
        for folder, files in filled.items():
            click.echo(f"  {folder} ({len(files)})")
            for name in files:
                click.echo(f"    {name}")
        if empty:
            click.echo(f"  empty: {', '.join(empty)}")

    return human


@click.group("inventory", cls=ComfyGroup, invoke_without_command=True)
@click.option("--refresh", is_flag=True, help="Fetch again even if the cache is fresh.")
@_max_age_option
@_state_option
@click.pass_context
def inventory(ctx: click.Context, refresh: bool, max_age: float, state_dir: Path | None) -> None:
    """What the server has: system, node classes by package, models per folder, embeddings.

    Cached for an hour (--max-age); a stale cache is used, with a warning, when the server is
    down. Example: comfyctl inventory --refresh --json
    """
    if ctx.invoked_subcommand is not None:
        return
    from comfyctl.inventory import get_inventory

    inv = get_inventory(state().client, state=state_dir, max_age=max_age, refresh=refresh)
    _warn_stale(inv)
    emit(inv.to_dict(), _show_inventory(inv))


@inventory.command("scan")
@click.argument("comfyui_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--extra-model-paths",
    "extra",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="More extra_model_paths.yaml files (like ComfyUI's --extra-model-paths-config).",
)
@_state_option
def scan_cmd(comfyui_dir: Path, extra: tuple[Path, ...], state_dir: Path | None) -> None:
    """Inventory a ComfyUI folder on disk, no server needed (custom nodes are read, never run).

    Example: comfyctl inventory scan ~/ComfyUI --json
    """
    from comfyctl.inventory import save, scan

    inv = scan(comfyui_dir, extra_configs=extra)
    path = save(inv, state=state_dir)
    info(f"cached in {path}")
    emit(inv.to_dict(), _show_inventory(inv))


@command("check")
@click.argument("workflow", type=click.Path(path_type=Path))
@click.option(
    "--comfyui-dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Check against a ComfyUI folder on disk instead of the server.",
)
@click.option("--refresh", is_flag=True, help="Fetch the inventory again even if the cache is fresh.")
@_max_age_option
@_state_option
def check(
    workflow: Path, comfyui_dir: Path | None, refresh: bool, max_age: float, state_dir: Path | None
) -> None:
    """Does the server have what WORKFLOW (API or UI format) needs? Missing node types (and the
    package that provides them), missing model files (and their folder), low VRAM.

    Exit 0 when nothing is missing, 4 otherwise. Example: comfyctl check flow.json --json
    """
    from comfyctl import inventory as inv_mod
    from comfyctl.cli._workflows import read_workflow

    loaded = read_workflow(workflow)
    if comfyui_dir is not None:
        inv = inv_mod.scan(comfyui_dir)
        inv_mod.save(inv, state=state_dir)
    else:
        client = state().client
        inv = inv_mod.get_inventory(client, state=state_dir, max_age=max_age, refresh=refresh)
        _warn_stale(inv)
        if not inv.stale and inv.age > 5:
            # VRAM changes by the minute: read it now, the cached node/model lists are fine.
            try:
                stats = client.system_stats()
                devices = tuple(
                    {"name": d.name, "type": d.type, "vram_total": d.vram_total, "vram_free": d.vram_free}
                    for d in stats.devices
                )
                inv = dataclasses.replace(inv, devices=devices)
            except ComfyError:
                pass
    known = inv_mod.known_packages(inv_mod.cached_inventories(state=state_dir))
    report = inv_mod.check_workflow(loaded.data, inv, known_packages=known)
    doc = {"workflow": str(workflow), "format": loaded.format, **report.to_dict()}

    def human() -> None:
        missing = [p for p in report.problems if p.kind != "low_vram"]
        source = f"{inv.server}, inventory {_ago(inv.age)}"
        if not missing:
            click.echo(f"{workflow}: everything it needs is installed ({source})")
        else:
            click.echo(f"{workflow}: {len(missing)} missing ({source})")
        labels = {
            "missing_node": "missing node ",
            "missing_model": "missing model",
            "low_vram": "warning      ",
        }
        for p in report.problems:
            click.echo(f"  {labels[p.kind]}  {p.message}")

    emit(doc, human)
    if not report.ok:
        raise click.exceptions.Exit(4)


@click.group("offline", cls=ComfyGroup)
def offline() -> None:
    """Workflows saved while the server was down (by 'comfyctl run' or 'comfyctl export')."""


@offline.command("ls")
@click.option("--project", default=None, help="Only this project.")
@click.option("--submitted", "show_submitted", is_flag=True, help="Also list submitted (and rejected) ones.")
def offline_ls(project: str | None, show_submitted: bool) -> None:
    """List pending workflows, oldest first. Example: comfyctl offline ls --json"""
    from comfyctl.offline import OfflineStore

    store = OfflineStore()
    pending = store.pending(project)
    done = store.submitted(project) if show_submitted else []
    doc: dict[str, Any] = {"pending": [p.to_dict() for p in pending]}
    if show_submitted:
        doc["submitted"] = done

    def human() -> None:
        if not pending:
            click.echo("no pending workflows")
        for p in pending:
            note = f"  (submit started: {p.prompt_id})" if p.prompt_id else ""
            click.echo(f"{p.project}/{p.name}  {p.path}{note}")
        for row in done:
            click.echo(f"{row['project']}/{row['name']}  {row.get('status')}  {row.get('prompt_id')}")
            if row.get("exactly_once") is False:
                click.echo(f"  not exactly-once: {row.get('note')}")

    emit(doc, human)


@offline.command("submit")
@click.argument("names", nargs=-1, metavar="[NAME|PROJECT/NAME]...")
@click.option("--all", "submit_all", is_flag=True, help="Submit every pending workflow.")
@click.option("--project", default=None, help="Only this project.")
def offline_submit(names: tuple[str, ...], submit_all: bool, project: str | None) -> None:
    """Submit pending workflows, each exactly once (safe to rerun after a crash).

    Exit 4 when the server rejected one (it is marked rejected, the others still go).
    Example: comfyctl offline submit --all
    """
    from comfyctl.offline import OfflineStore

    if submit_all == bool(names):
        raise UsageError(
            "name the workflows to submit, or pass --all", hint="list them with 'comfyctl offline ls'"
        )
    done = OfflineStore().submit(state().client, list(names) if names else None, project=project)

    def human() -> None:
        if not done:
            click.echo("nothing pending")
        for s in done:
            extra = f": {s.error.get('message')}" if s.error else ""
            click.echo(f"{s.project}/{s.name}  {s.status}  {s.prompt_id}{extra}")
            if not s.exactly_once:
                info(f"warning: {s.project}/{s.name} is not exactly-once: {s.note}")

    emit({"submitted": [s.to_dict() for s in done]}, human)
    if any(s.status == "rejected" for s in done):
        raise click.exceptions.Exit(4)


@command("export")
@click.argument("workflow", type=click.Path(path_type=Path))
@click.option("--project", default="default", show_default=True, help="Project folder under ./projects/.")
@click.option("--name", default=None, help="Name to save under [default: the file name].")
@click.option(
    "--object-info",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Node definitions for converting a UI workflow [default: the server, else the inventory cache].",
)
@click.option("--overwrite", is_flag=True, help="Replace a saved workflow of that name (else NAME-2, ...).")
def export(workflow: Path, project: str, name: str | None, object_info: Path | None, overwrite: bool) -> None:
    """Save WORKFLOW to projects/PROJECT/workflows/NAME.json (API format, plus NAME.ui.json for a UI
    file) and mark it pending, exactly as 'comfyctl run' does when the server is down.

    Example: comfyctl export flow.json --project portraits --name night
    """
    from comfyctl.cli import _workflows as wf
    from comfyctl.offline import OfflineStore

    loaded = wf.read_workflow(workflow)
    if loaded.format == "api":
        api = loaded.data
    else:
        try:
            defs = wf.definitions(object_info, state().client)
        except TransportError as exc:
            raise type(exc)(
                f"{exc.message}; converting the UI workflow {workflow} needs node definitions",
                hint="pass --object-info FILE, or run 'comfyctl inventory' once while the server is up",
                details=exc.details,
            ) from exc
        api = wf.to_api(loaded, defs)
    saved = OfflineStore().export(
        api, project=project, name=name or loaded.name, ui=loaded.ui, overwrite=overwrite
    )

    def human() -> None:
        click.echo(str(saved.path))
        if saved.ui_path:
            click.echo(str(saved.ui_path))
        info(f"load it in ComfyUI by dragging {saved.ui_path or saved.path} onto the canvas")
        info(f"submit it later: comfyctl offline submit {saved.project}/{saved.name}")

    emit(saved.to_dict(), human)


@command("doctor")
@click.option(
    "--stuck-after",
    type=click.FloatRange(min=0),
    default=600.0,
    show_default=True,
    metavar="SECONDS",
    help="A prompt running longer than this counts as stuck.",
)
@click.option(
    "--sample",
    type=click.FloatRange(min=0),
    default=0.0,
    metavar="SECONDS",
    help="Read the queue twice, this far apart, to see whether it moves.",
)
@_max_age_option
@_state_option
def doctor(stuck_after: float, sample: float, max_age: float, state_dir: Path | None) -> None:
    """Check the server: reachable, versions, queue health, free VRAM, inventory age; one verdict.

    Exit 0 when it is usable (warnings allowed), else the failure's exit code (3 unreachable,
    8 auth, 9 server error). Example: comfyctl doctor --json
    """
    from comfyctl.doctor import check_health

    health = check_health(
        state().client, stuck_after=stuck_after, sample=sample, max_age=max_age, state_dir=state_dir
    )
    doc, failure = health.doc, health.failure
    checks, summary = doc["checks"], doc["summary"]

    def human() -> None:
        marks = {"ok": "ok  ", "warn": "WARN", "fail": "FAIL"}
        for c in checks:
            click.echo(f"{marks[c['status']]}  {c['name']:<10} {c['message']}")
            for step in (c["advice"] or {}).get("steps", [])[:3]:
                click.echo(f"              - {step}")
        click.echo(f"verdict: {summary}")

    emit(doc, human)
    if failure is not None:
        raise click.exceptions.Exit(failure.exit_code)
