"""``comfyctl workflow convert / validate / params``: work on workflow files, offline when possible.

Node definitions come from ``--object-info FILE``, else the server, else the inventory cache.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from comfyctl.cli._common import ComfyGroup, emit, info, jsonable, state
from comfyctl.errors import UsageError, ValidationError

__all__ = ["workflow"]

_IN = click.Path(dir_okay=True, path_type=Path)  # directories are refused by read_workflow, exit 2
_OBJECT_INFO = click.option(
    "--object-info",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Node definitions file (a saved /object_info) [default: the server, else the inventory cache].",
)


def _defs(object_info: Path | None) -> Any:
    from comfyctl.cli import _workflows as wf

    return wf.definitions(object_info, state().client)


@click.group("workflow", cls=ComfyGroup)
def workflow() -> None:
    """Convert UI workflows to API format, validate them, list their parameters."""


@workflow.command("convert")
@click.argument("path", metavar="IN", type=_IN)
@_OBJECT_INFO
@click.option(
    "-o",
    "--output",
    "out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the API JSON here [default: stdout].",
)
def convert(path: Path, object_info: Path | None, out: Path | None) -> None:
    """Convert a UI-format workflow (or a PNG ComfyUI saved) to API format.

    Example: comfyctl workflow convert my_graph.json --object-info object_info.json -o api.json
    """
    from comfyctl.cli import _workflows as wf

    loaded = wf.read_workflow(path)
    if loaded.format == "api":
        info(f"{path} is already in API format")
        api = loaded.data
    else:
        api = wf.to_api(loaded, _defs(object_info))
    text = json.dumps(api, indent=2, ensure_ascii=False)
    if out is None:
        click.echo(text)
        return
    from comfyctl.offline import atomic_write_bytes

    try:  # parents created like --out folders; a failed write leaves no half file
        atomic_write_bytes(out, (text + "\n").encode())
    except OSError as exc:
        raise UsageError(f"cannot write {out}: {exc.strerror or exc}") from exc
    emit({"path": str(out), "format": loaded.format, "nodes": len(api)}, str(out))


@workflow.command("validate")
@click.argument("path", metavar="IN", type=_IN)
@_OBJECT_INFO
def validate_cmd(path: Path, object_info: Path | None) -> None:
    """Check a workflow offline the way the server would: exit 0 valid, 4 invalid, 2 unreadable.

    Example: comfyctl workflow validate flow.json --object-info object_info.json --json
    """
    from comfyctl.cli import _workflows as wf

    loaded = wf.read_workflow(path)
    defs = _defs(object_info)
    api = wf.to_api(loaded, defs)
    try:
        wf.check(api, defs)
    except ValidationError as exc:
        if not state().json:
            raise
        emit(
            {
                "valid": False,
                "format": loaded.format,
                "nodes": len(api),
                "message": exc.message,
                "problems": jsonable(exc.problems),
            }
        )
        raise click.exceptions.Exit(exc.exit_code) from None
    emit(
        {"valid": True, "format": loaded.format, "nodes": len(api), "message": "valid", "problems": []},
        f"{path}: valid ({len(api)} nodes)",
    )


@workflow.command("params")
@click.argument("path", metavar="IN", type=_IN)
@_OBJECT_INFO
def params_cmd(path: Path, object_info: Path | None) -> None:
    """List a workflow's editable parameters as NODE.INPUT = VALUE (the names --set takes).

    Example: comfyctl workflow params flow.json
    """
    from comfyctl.cli import _workflows as wf
    from comfyctl.workflow.params import list_params

    loaded = wf.read_workflow(path)
    defs = _defs(object_info) if loaded.format == "ui" or object_info else _maybe_defs()
    api = wf.to_api(loaded, defs)
    items = [jsonable(p) for p in list_params(api, defs)]

    def human() -> None:
        for p in items:
            title = p.get("title") or p.get("class_type")
            click.echo(
                f"{p['node_id']}.{p['input']} = {json.dumps(p['value'], ensure_ascii=False)}"
                f"  ({title}, {p.get('type') or '?'})"
            )

    emit({"params": items}, human)


def _maybe_defs() -> Any:
    """Definitions if the server or the cache has them; an API workflow can be listed without."""
    from comfyctl.errors import TransportError

    try:
        return _defs(None)
    except TransportError:
        return None
