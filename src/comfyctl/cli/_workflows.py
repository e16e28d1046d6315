"""Workflow plumbing shared by ``run``, ``demo`` and ``workflow ...``: read, convert, override, validate.

Thin glue over :mod:`comfyctl.workflow` (the logic lives there): where node definitions come from
(``--object-info`` file, else the server, else the inventory cache) and how ``--set``/``--seed``
strings reach the parameter and seed modules.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from comfyctl.cli._common import info
from comfyctl.errors import TransportError, UsageError, WorkflowError
from comfyctl.nodedefs import NodeDefs

__all__ = ["Loaded", "apply_overrides", "definitions", "read_workflow", "to_api"]


@dataclass
class Loaded:
    """A workflow file as read: ``format`` is ``api`` or ``ui``; ``ui`` holds the graph if any."""

    path: Path
    format: str
    data: dict[str, Any]
    ui: dict[str, Any] | None

    @property
    def name(self) -> str:
        """Default name for offline export: the file name without ``.json``/``.ui.json``."""
        from comfyctl.workflow.load import workflow_name

        return workflow_name(self.path)


def read_workflow(path: str | Path) -> Loaded:
    """Read and classify a workflow file (JSON, a ``{"prompt": ...}`` body, or a PNG/WebP ComfyUI saved);
    ``-`` reads standard input.

    Raises:
        WorkflowError: unreadable, empty, a directory, not JSON, neither API nor UI format.
    """
    from comfyctl.workflow.load import load

    p = Path(path)
    if str(path) == "-":  # a pipe: `... | comfyctl run -` (agents generate workflows on the fly)
        import sys

        from comfyctl.workflow.load import MAX_FILE_BYTES, _from_bytes  # load(bytes) says '<bytes>'

        p = Path("stdin")
        data = sys.stdin.buffer.read(MAX_FILE_BYTES + 1)
        if len(data) > MAX_FILE_BYTES:
            raise WorkflowError(f"stdin is over {MAX_FILE_BYTES >> 20} MiB: not a workflow")
        loaded = _from_bytes(data, "stdin")
    else:
        loaded = load(p)
    if loaded.api is not None:
        return Loaded(p, "api", dict(loaded.api), dict(loaded.ui) if loaded.ui else None)
    if loaded.ui is None:  # load() guarantees one of them; keep the promise explicit
        raise WorkflowError(f"{p} holds no workflow")
    return Loaded(p, "ui", dict(loaded.ui), dict(loaded.ui))


def definitions(object_info: str | Path | None, client: Any) -> NodeDefs:
    """Node definitions: the ``--object-info`` file, else the server (fresh: combo choices such as
    file lists change), else the inventory cache for that server.

    Raises:
        UsageError: the ``--object-info`` file is unreadable or not an object_info answer.
        TransportError: the server is unreachable and the inventory cache has nothing for it.
    """
    if object_info is not None:
        try:
            defs = NodeDefs.from_file(object_info)
        except (OSError, ValueError) as exc:
            raise UsageError(f"cannot read --object-info {object_info}: {exc}") from exc
        if not isinstance(defs.raw, Mapping):
            raise UsageError(f"--object-info {object_info} is not an /object_info JSON object")
        return defs
    try:
        result: NodeDefs = client.node_defs()
        return result
    except TransportError:
        from comfyctl import inventory

        # cached copy (possibly stale); raises the TransportError again when nothing is cached
        return inventory.load_node_defs(client)


def to_api(loaded: Loaded, defs: NodeDefs | None) -> dict[str, Any]:
    """The API-format workflow for ``loaded`` (UI graphs are converted with ``defs``)."""
    if loaded.format == "api":
        return dict(loaded.data)
    if defs is None:
        raise WorkflowError(
            f"{loaded.path} is a UI-format workflow and no node definitions are available to convert it",
            hint="start the server, or pass --object-info FILE (a saved /object_info answer)",
        )
    from comfyctl.workflow.convert import to_api as convert

    return dict(convert(loaded.data, defs))


def apply_overrides(
    api: dict[str, Any], sets: tuple[str, ...], seed: str | None, defs: NodeDefs | None
) -> dict[str, Any]:
    """Apply ``--set NODE.INPUT=VALUE`` (in order) and ``--seed random|N`` to an API workflow.

    Raises:
        ParameterError: unknown or ambiguous node/input, or a value of the wrong type.
    """
    from comfyctl.workflow.overrides import apply_overrides as apply

    api, warnings = apply(api, sets, seed, defs)
    for warning in warnings:
        info(warning)
    return api


def check(api: dict[str, Any], defs: NodeDefs) -> None:
    """Validate offline before submitting (raises ValidationError with every problem)."""
    from comfyctl.workflow import validate

    checker = getattr(validate, "check", None)
    if checker is not None:  # the server validates again anyway
        checker(api, defs)
