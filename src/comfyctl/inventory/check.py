"""Checking a workflow against an inventory: missing node types (and their package), models, low VRAM."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from comfyctl.diagnose import looks_like_model_file, model_folder, package_for
from comfyctl.errors import WorkflowError

from .record import Inventory, package_of

__all__ = ["LOW_VRAM", "CheckProblem", "CheckReport", "check_workflow", "known_packages"]

#: Less free VRAM than this (bytes) on a GPU gets a warning from :func:`check_workflow`.
LOW_VRAM = 2 * 1024**3


@dataclass(frozen=True)
class CheckProblem:
    """One thing a workflow needs that the inventory lacks.

    ``kind``: ``missing_node`` (``package``/``repo`` say where it likely comes from),
    ``missing_model`` (``folder`` says where it belongs), ``low_vram``.
    """

    kind: Literal["missing_node", "missing_model", "low_vram"]
    message: str
    node_id: str | None = None
    class_type: str | None = None
    input_name: str | None = None
    value: Any = None
    folder: str | None = None
    package: str | None = None
    repo: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass(frozen=True)
class CheckReport:
    """:func:`check_workflow`'s answer; ``ok`` when nothing is missing (warnings allowed)."""

    problems: tuple[CheckProblem, ...]
    server: str
    inventory_age: float
    stale: bool = False

    @property
    def ok(self) -> bool:
        return not any(p.kind != "low_vram" for p in self.problems)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "server": self.server,
            "inventory_age": round(self.inventory_age, 1),
            "stale": self.stale,
            "problems": [p.to_dict() for p in self.problems],
        }


def _ui_nodes(workflow: Mapping[str, Any]) -> Iterator[tuple[str, str, list[Any], Mapping[str, Any]]]:
    """(id, type, widgets_values, properties) of UI-format nodes, subgraph definitions included."""
    graphs = [workflow, *((workflow.get("definitions") or {}).get("subgraphs") or [])]
    subgraph_ids = {g.get("id") for g in graphs[1:] if isinstance(g, Mapping)}
    for graph in graphs:
        if not isinstance(graph, Mapping):
            continue
        for node in graph.get("nodes") or []:
            if not isinstance(node, Mapping) or not isinstance(node.get("type"), str):
                continue
            if node["type"] in subgraph_ids:
                continue  # an instance of a subgraph: its inner nodes are listed in the definition
            if node.get("mode") in (2, 4):
                continue  # muted / bypassed: never sent to the server
            wv = node.get("widgets_values")
            values = (
                list(wv.values()) if isinstance(wv, Mapping) else list(wv) if isinstance(wv, list) else []
            )
            props = node.get("properties")
            yield str(node.get("id")), node["type"], values, props if isinstance(props, Mapping) else {}


_FILE_EXT = re.compile(r"\.[A-Za-z][A-Za-z0-9]{1,11}$")


# ComfyUI's tokenizer (comfy/sd1_clip.py): "embedding:NAME" at the start of the text or after a
# space/newline; "(embedding:NAME:1.2)" after weight parsing; NAME is one word, trailing commas
# dropped; the file is NAME or NAME + .safetensors/.pt/.bin in an embeddings folder.
_EMBEDDING = re.compile(r"(?:^|[\s(])embedding:(\S+)")


def _embedding_names(text: str) -> list[str]:
    if "embedding:" not in text:
        return []
    names = []
    for raw in _EMBEDDING.findall(text):
        name = re.sub(r"(:[0-9.]+)?\)*$", "", raw.rstrip(",")).rstrip(",")
        if name and name not in names:
            names.append(name)
    return names


def _has_embedding(inventory: Inventory, name: str) -> bool:
    name = name.replace("\\", "/")
    files = {f.replace("\\", "/") for f in inventory.models.get("embeddings", ())}
    candidates = {name, *(name + ext for ext in (".safetensors", ".pt", ".bin"))}
    if files & candidates:
        return True
    return name in inventory.embeddings or os.path.splitext(name)[0] in inventory.embeddings


def _virtual_types() -> frozenset[str]:
    """Frontend-only node types of a UI workflow (never in /object_info, even when installed)."""
    from comfyctl.workflow.convert import VIRTUAL_NODE_TYPES

    # KJNodes' Set/Get and group nodes are drawn by frontend extensions too.
    return VIRTUAL_NODE_TYPES | {"SetNode", "GetNode", "Comfy.GroupNode"}


def check_workflow(
    workflow: Mapping[str, Any],
    inventory: Inventory,
    *,
    known_packages: Mapping[str, str] | None = None,
    low_vram: int = LOW_VRAM,
) -> CheckReport:
    """Compare an API- or UI-format workflow with ``inventory``.

    Missing node types get the package that likely provides them (the UI file's own ``cnr_id`` /
    ``aux_id`` node properties, then ``known_packages``, then the built-in map of popular
    packages); missing model files get their folder (loader inputs, values that look like model
    files, ``embedding:NAME`` in prompt texts); a GPU with less than ``low_vram`` bytes free gives
    a ``low_vram`` warning. Muted, bypassed and frontend-only UI nodes are skipped.

    Raises:
        WorkflowError: ``workflow`` is neither format.
    """
    is_ui = isinstance(workflow.get("nodes"), list)
    entries: list[tuple[str, str, list[tuple[str | None, Any]], Mapping[str, Any]]] = []
    if is_ui:
        for node_id, cls, values, props in _ui_nodes(workflow):
            entries.append((node_id, cls, [(None, v) for v in values], props))
    else:
        for node_id, node in workflow.items():
            if not isinstance(node, Mapping) or not isinstance(node.get("class_type"), str):
                raise WorkflowError(
                    f"node {node_id!r} has no class_type: not an API-format workflow",
                    hint="pass an API-format or UI-format workflow JSON",
                )
            inputs = node.get("inputs")
            items = list(inputs.items()) if isinstance(inputs, Mapping) else []
            entries.append((str(node_id), node["class_type"], items, {}))
    problems: list[CheckProblem] = []
    virtual = _virtual_types() if is_ui else frozenset()
    all_files = {f.replace("\\", "/") for files in inventory.models.values() for f in files}
    seen_types: set[str] = set()
    for node_id, cls, values, props in entries:
        if cls not in inventory.nodes and cls not in virtual:
            if cls in seen_types:
                continue
            seen_types.add(cls)
            cnr, aux = props.get("cnr_id"), props.get("aux_id")
            hint = package_for(cls, known_packages)
            package = hint.name if hint else None
            repo = hint.repo if hint else None
            if isinstance(cnr, str) and cnr and cnr != "comfy-core":
                package, repo = cnr, aux if isinstance(aux, str) else repo
            where = (
                f": install {package}" + (f" (https://github.com/{repo})" if repo else "") if package else ""
            )
            if cnr == "comfy-core":  # the UI saved it as a core node: the server's ComfyUI is older
                package, repo = "comfy-core", None
                ver = props.get("ver")
                where = f": a core node of ComfyUI {ver or 'newer'}; update ComfyUI" + (
                    f" (the server runs {inventory.comfyui_version})" if inventory.comfyui_version else ""
                )
            problems.append(
                CheckProblem(
                    "missing_node",
                    f"node {node_id}: type {cls!r} is not installed{where or ' (package unknown)'}",
                    node_id,
                    cls,
                    package=package,
                    repo=repo,
                )
            )
            continue
        for input_name, value in values:
            if not isinstance(value, str) or isinstance(value, bool):
                continue
            for name in _embedding_names(value):
                if not _has_embedding(inventory, name):
                    problems.append(
                        CheckProblem(
                            "missing_model",
                            f"node {node_id} ({cls})"
                            + (f" input {input_name!r}" if input_name else "")
                            + f": embedding {name!r} is missing: put it in models/embeddings/",
                            node_id,
                            cls,
                            input_name,
                            name,
                            folder="embeddings",
                        )
                    )
            folder = model_folder(cls, input_name, value)
            if not (looks_like_model_file(value) or (folder is not None and _FILE_EXT.search(value))):
                continue  # not a file name (a loader's "pixel_space", a dtype or type combo)
            norm = value.replace("\\", "/")
            listed = inventory.models.get(folder) if folder else None
            present = (
                norm in {f.replace("\\", "/") for f in listed} if listed is not None else norm in all_files
            )
            if present:
                continue
            where = f"models/{folder}/" if folder else "a model folder"
            problems.append(
                CheckProblem(
                    "missing_model",
                    f"node {node_id} ({cls})"
                    + (f" input {input_name!r}" if input_name else "")
                    + f": model file {value!r} is missing: put it in {where}",
                    node_id,
                    cls,
                    input_name,
                    value,
                    folder=folder,
                )
            )
    for dev in inventory.devices:
        free = dev.get("vram_free")
        if str(dev.get("type")) != "cpu" and isinstance(free, int) and free < low_vram:
            problems.append(
                CheckProblem(
                    "low_vram",
                    f"{dev.get('name')}: only {free / 1024**3:.1f} GiB VRAM free; large models may run "
                    "out of memory (comfyctl free --unload-models)",
                )
            )
    return CheckReport(tuple(problems), inventory.server, inventory.age, inventory.stale)


def known_packages(inventories: Iterable[Inventory]) -> dict[str, str]:
    """Class type → custom-node package, merged from inventories (e.g. every cached one)."""
    result: dict[str, str] = {}
    for inv in inventories:
        for cls, module in inv.nodes.items():
            pkg = package_of(module)
            if pkg != "core":
                result.setdefault(cls, pkg)
    return result
