"""UI-format graph → API-format prompt, exactly as the ComfyUI web frontend 1.35.9 does it.

The frontend's ``graphToPrompt`` builds live node objects from the saved graph, wraps each in an
"executable DTO" (subgraphs flattened to ids such as ``8:7:4``, legacy group nodes to ``6:0``),
skips virtual, muted (mode 2) and bypassed (mode 4) nodes, serialises every widget whose value
goes to the API, then resolves each input link through reroutes, bypassed nodes and subgraph
boundaries. We reproduce that model in plain data:

* widgets are rebuilt from the node definition in the frontend's order (``input_order``, then
  inputs the frontend's extensions add, such as the image-upload button), with the hidden
  ``control_after_generate`` / ``control_filter_list`` values after seed-like widgets, and
  ``widgets_values`` is assigned to them in sequence, skipping widgets that are not saved;
* a node's inputs are rebuilt in the frontend's constructor order (sockets, then one socket per
  widget; for a subgraph instance, one per subgraph input) and merged with the saved slots by
  name; a link is followed from the slot that holds it (``fixLinkInputSlots`` runs after every
  load, so a stale ``target_slot`` never matters), and resolved exactly like
  ``ExecutableNodeDTO.resolveInput`` / ``resolveOutput`` (bypass type matching included);
* before serialising, PrimitiveNodes push their value into their targets (``applyToGraph``) and
  subgraph instances copy promoted values into the inner widgets (``SubgraphNode.serialize``);
  values then go through the same transforms (dynamic prompts ``{a|b}`` and comment stripping,
  ``%date:…%`` / ``%Node.widget%`` in save-node prefixes, ``{"__value__": [...]}`` for lists);
* inputs that point at nodes left out of the prompt (muted) are removed at the end, as the
  frontend does.

What we deliberately do not reproduce: widget behaviours that run browser code at queue time
(webcam capture upload, 3D viewport snapshots) keep their saved value, and a custom node pack's
own JavaScript widgets are unknown to us (their inputs stay link-only).
"""

from __future__ import annotations

import copy
import math
import random
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from comfyctl.errors import ConversionError
from comfyctl.nodedefs import NodeDef, NodeDefs
from comfyctl.workflow.widgets import Widget, build_widgets, constructor_slots

__all__ = ["VIRTUAL_NODE_TYPES", "process_dynamic_prompt", "to_api"]

#: Node types the frontend itself registers as virtual (never sent to the server). Custom packs
#: add their own (rgthree, KJNodes Set/Get...): pass them with ``virtual_types=``.
VIRTUAL_NODE_TYPES = frozenset(
    {
        "Reroute",
        "PrimitiveNode",
        "Note",
        "MarkdownNote",
        # Widely used UI-only helpers from popular custom packs.
        "Fast Groups Bypasser (rgthree)",
        "Fast Groups Muter (rgthree)",
        "Fast Bypasser (rgthree)",
        "Fast Muter (rgthree)",
        "Bookmark (rgthree)",
        "Label (rgthree)",
        "Note Plus (mtb)",
    }
)

_MODE_NEVER = 2  # muted
_MODE_BYPASS = 4
_SUBGRAPH_INPUT_ID = "-10"  # SubgraphInputNode id in a subgraph's links
#: Save nodes whose ``filename_prefix`` gets %date:…% / %Node.widget% replaced (Comfy.SaveImageExtraOutput).
_TEXT_REPLACE_NODES = frozenset(
    {
        "SaveImage",
        "SaveVideo",
        "SaveAnimatedWEBP",
        "SaveWEBM",
        "SaveAudio",
        "SaveGLB",
        "SaveAnimatedPNG",
        "CLIPSave",
        "VAESave",
        "ModelSave",
        "LoraSave",
        "SaveLatent",
    }
)


def _key(value: Any) -> str:
    """Node and link ids are numbers in saved graphs and strings in prompts: compare as text."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


# --------------------------------------------------------------------------------------------
# Frontend text processing applied at serialisation time


def process_dynamic_prompt(text: str, rng: random.Random | None = None) -> str:
    """The frontend's dynamic prompts: strip ``/* */`` and ``//`` comments, pick one of ``{a|b}``.

    Applied to STRING widgets whose definition has ``dynamicPrompts: true`` (e.g. CLIPTextEncode).
    """
    rng = rng or random.Random()
    text = re.sub(r"/\*[\s\S]*?\*/|//.*", "", text)
    pos = 0

    def escape() -> str:
        nonlocal pos
        ch = text[pos] if pos < len(text) else "undefined"  # JS reads past the end as undefined
        pos += 1
        return "\\" + ch

    def choice_block() -> str:
        nonlocal pos
        options: list[str] = []
        current = ""
        depth = 0
        while pos < len(text):
            ch = text[pos]
            pos += 1
            if ch == "\\":
                current += escape()
                continue
            if ch == "{":
                depth += 1
            elif ch == "}":
                if not depth:
                    break
                depth -= 1
            elif ch == "|" and not depth:
                options.append(current)
                current = ""
                continue
            current += ch
        options.append(current)
        return process_dynamic_prompt(options[math.floor(rng.random() * len(options))], rng)

    out = ""
    while pos < len(text):
        ch = text[pos]
        pos += 1
        if ch == "\\":
            out += escape()
        elif ch == "{":
            out += choice_block()
        else:
            out += ch
    return re.sub(r"\\([{}|])", r"\1", out)


def _js_string(value: Any) -> str:
    """What a browser textarea shows for a value (String(v), CRLF normalised)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    if isinstance(value, str):
        return value.replace("\r\n", "\n").replace("\r", "\n")
    return str(value)


_DATE_PARTS = re.compile(r"dd?|MM?|hh?|mm?|ss?|yyy?y?")


def _format_date(fmt: str, now: datetime) -> str:
    def part(m: re.Match[str]) -> str:
        tok = m.group(0)
        if tok == "yy":
            return str(now.year)[2:]
        if tok == "yyyy":
            return str(now.year)
        getters = {"d": now.day, "M": now.month, "h": now.hour, "m": now.minute, "s": now.second}
        if tok[0] in getters:
            return str(getters[tok[0]]).rjust(len(tok), "0")
        return tok

    return _DATE_PARTS.sub(part, fmt)


# --------------------------------------------------------------------------------------------
# The graph model


@dataclass
class _Link:
    id: str
    origin_id: str
    origin_slot: int
    target_id: str
    target_slot: int
    type: Any


@dataclass
class _Graph:
    nodes: dict[str, Mapping[str, Any]]
    links: dict[str, _Link]
    definition: Mapping[str, Any] | None = None  # the subgraph definition (None for the root)


def _props(raw: Mapping[str, Any]) -> Mapping[str, Any]:
    props = raw.get("properties")
    return props if isinstance(props, Mapping) else {}


def _is_array_index(key: str) -> bool:
    """A canonical JS array index ("0", "42"; not "01", "-1" or "8:2")."""
    return (
        key.isdigit() and key.isascii() and (key == "0" or not key.startswith("0")) and int(key) < 2**32 - 1
    )


def _mode(raw: Mapping[str, Any]) -> int:
    mode = raw.get("mode")
    return mode if isinstance(mode, int) and not isinstance(mode, bool) else 0


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not float(value).is_integer():
        raise ConversionError(f"{what} is not an integer: {value!r}")
    return int(value)


def _parse_links(raw_links: Any, where: str) -> dict[str, _Link]:
    links: dict[str, _Link] = {}
    if raw_links is None:
        return links
    if isinstance(raw_links, Mapping):
        raw_links = list(raw_links.values())
    if not isinstance(raw_links, list):
        raise ConversionError(f"{where}: 'links' is not a list")
    for item in raw_links:
        if item is None:
            continue
        if isinstance(item, list):
            if len(item) < 5:
                raise ConversionError(f"{where}: malformed link {item!r}")
            lid, oid, oslot, tid, tslot = item[:5]
            ltype = item[5] if len(item) > 5 else None
        elif isinstance(item, Mapping):
            try:
                lid, oid, oslot = item["id"], item["origin_id"], item["origin_slot"]
                tid, tslot = item["target_id"], item["target_slot"]
            except KeyError as exc:
                raise ConversionError(f"{where}: link without {exc.args[0]!r}: {item!r}") from exc
            ltype = item.get("type")
        else:
            raise ConversionError(f"{where}: malformed link {item!r}")
        links[_key(lid)] = _Link(
            _key(lid),
            _key(oid),
            _int(oslot, f"{where}: link {lid} origin_slot"),
            _key(tid),
            _int(tslot, f"{where}: link {lid} target_slot"),
            ltype,
        )
    return links


def _parse_graph(raw: Mapping[str, Any], where: str, definition: Mapping[str, Any] | None = None) -> _Graph:
    nodes_raw = raw.get("nodes")
    if not isinstance(nodes_raw, list):
        raise ConversionError(f"{where}: 'nodes' is not a list")
    nodes: dict[str, Mapping[str, Any]] = {}
    for node in nodes_raw:
        if not isinstance(node, Mapping) or "id" not in node:
            raise ConversionError(f"{where}: a node is not an object with an 'id': {str(node)[:80]}")
        if not isinstance(node.get("type"), str):
            raise ConversionError(f"{where}: node {node['id']} has no 'type'")
        nodes[_key(node["id"])] = node
    return _Graph(nodes, _parse_links(raw.get("links"), where), definition)


def _slots(node: Mapping[str, Any], key: str) -> list[dict[str, Any]]:
    raw = node.get(key)
    if not isinstance(raw, list):
        return []
    return [dict(s) if isinstance(s, Mapping) else {} for s in raw]


def _type_match(a: Any, b: Any) -> bool:
    """LiteGraph.isValidConnection: '*' / '' match anything; comma unions match any member."""
    if a in ("", "*", None, 0):
        a = 0
    if b in ("", "*", None, 0):
        b = 0
    if not a or not b or a == b:
        return True
    sa, sb = str(a).lower(), str(b).lower()
    if "," not in sa and "," not in sb:
        return sa == sb
    return any(_type_match(x, y) for x in sa.split(",") for y in sb.split(","))


@dataclass
class _Exec:
    """One executable node (the frontend's ExecutableNodeDTO), after flattening."""

    id: str
    local_id: str
    path: tuple[str, ...]
    graph: _Graph
    raw: Mapping[str, Any]
    kind: str  # "node", "virtual", "subgraph", "group", or "unknown" (muted/bypassed, type unknown)
    mode: int
    title: str
    class_type: str | None = None
    node_def: NodeDef | None = None
    inputs: list[dict[str, Any]] = field(default_factory=list)
    outputs: list[dict[str, Any]] = field(default_factory=list)
    widgets: list[Widget] = field(default_factory=list)
    parent: _Exec | None = None  # the subgraph instance whose graph holds this node
    subgraph: _Graph | None = None  # for kind == "subgraph"
    group: _GroupNode | None = None


@dataclass
class _GroupNode:
    """A legacy group node instance (``extra.groupNodes``) expanded to inner nodes ``<id>:<index>``."""

    inner: list[_Exec]
    links: list[list[Any]]  # [origin_index|None, origin_slot, target_index, target_slot, ...]
    input_map: list[tuple[int, int]]  # instance link-input slot -> (inner index, inner input slot)
    output_map: list[tuple[int, int]]  # instance output slot -> (inner index, inner output slot)


Resolved = tuple[str, Any, Any]  # ("link", origin_id, slot) | ("value", value, None)


class _Converter:
    def __init__(
        self,
        ui: Mapping[str, Any],
        defs: NodeDefs,
        virtual_types: Iterable[str],
        rng: random.Random | None,
        now: datetime | None,
    ) -> None:
        self.defs = defs
        self.virtual = frozenset(virtual_types)
        self.rng = rng or random.Random()
        self.now = now
        self.subgraphs: dict[str, Mapping[str, Any]] = {}
        definitions = ui.get("definitions")
        if isinstance(definitions, Mapping):
            for sg in definitions.get("subgraphs") or []:
                if isinstance(sg, Mapping) and isinstance(sg.get("id"), str):
                    self.subgraphs[sg["id"]] = sg
        extra = ui.get("extra")
        groups = extra.get("groupNodes") if isinstance(extra, Mapping) else None
        self.group_defs: Mapping[str, Any] = groups if isinstance(groups, Mapping) else {}
        self.where = ""  # the node being processed, for errors about malformed data
        self.by_id: dict[str, _Exec] = {}
        self.order: list[_Exec] = []
        self.root = _parse_graph(ui, "workflow")
        self.parsed_subgraphs: dict[str, _Graph] = {}

    # ---- building --------------------------------------------------------------------------

    def _subgraph(self, sg_id: str) -> _Graph:
        graph = self.parsed_subgraphs.get(sg_id)
        if graph is None:
            sg = self.subgraphs[sg_id]
            graph = _parse_graph(sg, f"subgraph {sg.get('name') or sg_id}", sg)
            self.parsed_subgraphs[sg_id] = graph
        return graph

    def _group_def(self, node_type: str) -> Mapping[str, Any] | None:
        for sep in (">", "/"):
            if node_type.startswith("workflow" + sep):
                found = self.group_defs.get(node_type[len("workflow") + 1 :])
                if isinstance(found, Mapping):
                    return found
        return None

    def build(
        self, graph: _Graph, path: tuple[str, ...], parent: _Exec | None, stack: tuple[str, ...]
    ) -> None:
        for local_id, raw in graph.nodes.items():
            self._build_node(graph, local_id, raw, path, parent, stack)

    def _build_node(
        self,
        graph: _Graph,
        local_id: str,
        raw: Mapping[str, Any],
        path: tuple[str, ...],
        parent: _Exec | None,
        stack: tuple[str, ...],
    ) -> _Exec:
        node_type = raw["type"]
        exec_id = ":".join((*path, local_id))
        self.where = f"node {exec_id} ({node_type})"
        mode = _mode(raw)
        title = raw.get("title") if isinstance(raw.get("title"), str) and raw.get("title") else None
        inputs = _slots(raw, "inputs")
        outputs = _slots(raw, "outputs")
        node = _Exec(
            exec_id,
            local_id,
            path,
            graph,
            raw,
            "node",
            mode,
            title or node_type,
            inputs=inputs,
            outputs=outputs,
            parent=parent,
        )
        if node_type in self.subgraphs:
            if node_type in stack:
                raise ConversionError(f"subgraph {node_type} contains itself (node {exec_id})")
            node.kind = "subgraph"
            node.subgraph = self._subgraph(node_type)
            node.inputs = self._instance_inputs(node.subgraph, inputs)
            node.title = title or str(self.subgraphs[node_type].get("name") or node_type)
            node.widgets = self._promoted_widgets(node)
            self._register(node)
            self.build(node.subgraph, (*path, local_id), node, (*stack, node_type))
            return node
        group = self._group_def(node_type)
        if group is not None:
            node.kind = "group"
            node.title = title or node_type.split(">", 1)[-1]
            self._register(node)
            node.group = self._build_group(node, group)
            return node
        if node_type in self.defs:
            node.node_def = self.defs[node_type]
            node.class_type = node_type
            node.title = title or node.node_def.display_name
            node.widgets = build_widgets(node.node_def, raw.get("widgets_values"))
            self._complete_inputs(node)
        elif node_type in self.virtual:
            node.kind = "virtual"
            values = raw.get("widgets_values")
            node.widgets = [Widget("value", values[0])] if isinstance(values, list) and values else []
        elif mode in (_MODE_NEVER, _MODE_BYPASS):
            # Never sent; a bypass still routes through its saved slots.
            node.kind = "unknown"
        else:
            shown = f"{exec_id} ({title})" if title else exec_id
            raise ConversionError(
                f"node {shown} has type {node_type!r}, which the node definitions do not know",
                hint="install the custom node that provides it, or use definitions from a server that has it",
                details={"node_id": exec_id, "class_type": node_type},
            )
        self._register(node)
        return node

    def _register(self, node: _Exec) -> None:
        self.by_id[node.id] = node
        self.order.append(node)

    @staticmethod
    def _complete_inputs(node: _Exec) -> None:
        """ComfyNode.configure: the inputs are the definition's sockets, then one socket per widget,
        each merged with the saved slot of that name (links), then saved slots it did not know."""
        assert node.node_def is not None
        ctor = constructor_slots(node.node_def)
        saved = {s.get("name"): s for s in node.inputs if isinstance(s.get("name"), str)}
        merged = []
        for slot in ctor:
            old = saved.get(slot["name"])
            if old is None:
                merged.append({k: v for k, v in slot.items() if k != "dynamic"})
                continue
            picked = {k: v for k, v in slot.items() if k in ("name", "type", "widget")}
            if slot.get("dynamic") and old.get("type"):
                picked.pop("type")  # a match-type socket takes the type of what is connected
            merged.append({**old, **picked})
        names = {slot["name"] for slot in ctor}
        node.inputs = merged + [s for s in node.inputs if s.get("name") not in names]

    @staticmethod
    def _instance_inputs(subgraph: _Graph, saved: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The live inputs of a subgraph instance: one per subgraph input, in the definition's order,
        each merged with the saved slot of the same name (the registered ComfyNode's configure);
        saved slots the definition lacks are appended."""
        by_name = {s.get("name"): s for s in saved if isinstance(s.get("name"), str)}
        live: list[dict[str, Any]] = []
        for slot in (subgraph.definition or {}).get("inputs") or []:
            if not isinstance(slot, Mapping):
                continue
            base = {"name": slot.get("name"), "type": slot.get("type"), "link": None}
            old = by_name.pop(slot.get("name"), None)
            live.append({**old, "name": base["name"], "type": base["type"]} if old else base)
        return live + [s for s in saved if s.get("name") in by_name]

    def _promoted_widgets(self, node: _Exec) -> list[Widget]:
        """SubgraphNode: inputs that feed a widget inside become widgets of the instance node."""
        assert node.subgraph is not None
        definition = node.subgraph.definition or {}
        sg_inputs = [s for s in definition.get("inputs") or [] if isinstance(s, Mapping)]
        widgets: list[Widget] = []
        for slot in node.inputs:
            sg_slot = next((s for s in sg_inputs if s.get("name") == slot.get("name")), None)
            if sg_slot is None:
                continue
            for link_id in sg_slot.get("linkIds") or []:
                link = node.subgraph.links.get(_key(link_id))
                target = node.subgraph.nodes.get(link.target_id) if link else None
                if link is None or target is None:
                    continue
                t_input = next((i for i in _slots(target, "inputs") if _key(i.get("link")) == link.id), None)
                if not t_input or not isinstance(t_input.get("widget"), Mapping):
                    continue
                wname = t_input["widget"].get("name")
                inner_value = self._inner_widget_value(target, wname)
                if inner_value is _MISSING:
                    continue
                widgets.append(Widget(str(slot.get("name")), inner_value))
                slot["widget"] = {"name": slot.get("name")}
                break
        values = node.raw.get("widgets_values")
        if isinstance(values, list):
            for w, v in zip(widgets, values, strict=False):
                w.value = v
            props = node.raw.get("properties")
            proxies = props.get("proxyWidgets") if isinstance(props, Mapping) else None
            if isinstance(proxies, list):
                # Widget promotion (proxyWidgets): value i belongs to entry i when it is ["-1", name].
                for entry, value in zip(proxies, values, strict=False):
                    if (
                        isinstance(entry, list)
                        and len(entry) == 2
                        and str(entry[0]) == "-1"
                        and value is not None
                    ):
                        for w in widgets:
                            if w.name == entry[1]:
                                w.value = value
        return widgets

    def _inner_widget_value(self, raw: Mapping[str, Any], wname: Any) -> Any:
        node_type = raw.get("type")
        if isinstance(node_type, str) and node_type in self.defs:
            for w in build_widgets(self.defs[node_type], raw.get("widgets_values")):
                if w.name == wname:
                    return w.value
            return _MISSING
        if isinstance(node_type, str) and node_type in self.subgraphs:
            values = raw.get("widgets_values")
            names = [s.get("name") for s in _slots(raw, "inputs") if isinstance(s.get("widget"), Mapping)]
            if isinstance(values, list) and wname in names and names.index(wname) < len(values):
                return values[names.index(wname)]
        return _MISSING

    def _build_group(self, node: _Exec, group: Mapping[str, Any]) -> _GroupNode:
        inner_raw = [n for n in group.get("nodes") or [] if isinstance(n, Mapping)]
        links = [list(link) for link in group.get("links") or [] if isinstance(link, list) and len(link) >= 4]
        external = {(e[0], e[1]) for e in group.get("external") or [] if isinstance(e, list) and len(e) >= 2}
        internal_targets = {(lk[2], lk[3]) for lk in links if lk[0] is not None}
        values = (
            list(node.raw.get("widgets_values") or [])
            if isinstance(node.raw.get("widgets_values"), list)
            else []
        )
        inner: list[_Exec] = []
        input_map: list[tuple[int, int]] = []
        output_map: list[tuple[int, int]] = []
        for index, raw in enumerate(inner_raw):
            node_type = raw.get("type")
            sub_id = f"{node.id}:{index}"
            if not isinstance(node_type, str) or node_type not in self.defs:
                raise ConversionError(
                    f"group node {node.id}: inner node {index} has unknown type {node_type!r}",
                    details={"node_id": sub_id, "class_type": node_type},
                )
            node_def = self.defs[node_type]
            widgets = build_widgets(node_def, None)
            for w in widgets:
                if w.saved and values:
                    w.value = values.pop(0)
            slots = _slots(raw, "inputs")
            for slot_index, slot in enumerate(slots):
                if slot.get("widget") is None and (index, slot_index) not in internal_targets:
                    input_map.append((index, slot_index))
            for out_index, _ in enumerate(_slots(raw, "outputs") or [{} for _ in node_def.outputs]):
                linked_inside = any(lk[0] == index and lk[1] == out_index for lk in links)
                if (index, out_index) in external or not linked_inside:
                    output_map.append((index, out_index))
            title = raw.get("title") if isinstance(raw.get("title"), str) and raw.get("title") else None
            inner_mode = _mode(raw)
            exec_node = _Exec(
                sub_id,
                str(index),
                (node.id,),
                node.graph,
                raw,
                "node",
                inner_mode,
                title or node_def.display_name,
                node_type,
                node_def,
                inputs=[{**s, "link": None} for s in slots],
                outputs=_slots(raw, "outputs"),
                widgets=widgets,
            )
            inner.append(exec_node)
            self._register(exec_node)
        return _GroupNode(inner, links, input_map, output_map)

    # ---- primitives ------------------------------------------------------------------------

    def apply_primitives(self) -> None:
        """PrimitiveNode.applyToGraph: push the primitive's value into each target widget."""
        for node in list(self.order):
            if node.kind != "virtual" or node.raw.get("type") != "PrimitiveNode" or not node.widgets:
                continue
            value = node.widgets[0].value
            props = node.raw.get("properties")
            if value and isinstance(props, Mapping) and props.get("Run widget replace on values"):
                value = self._replace_text(str(value))
            out = node.outputs[0] if node.outputs else {}
            for link_id in out.get("links") or []:
                link = node.graph.links.get(_key(link_id))
                if link is None:
                    continue
                target = self.by_id.get(":".join((*node.path, link.target_id)))
                if target is None or link.target_slot >= len(target.inputs):
                    continue
                # fixLinkInputSlots: the slot is the one holding the link, whatever target_slot says.
                slot = next(
                    (s for s in target.inputs if _key(s.get("link")) == link.id),
                    target.inputs[link.target_slot],
                )
                widget = slot.get("widget")
                if not isinstance(widget, Mapping):
                    continue
                for w in target.widgets:
                    if w.name == widget.get("name"):
                        w.value = value

    def copy_promoted_values(self) -> None:
        """SubgraphNode.serialize (run by graphToPrompt) writes promoted values into the inner widgets.

        Outer instances first, as serialisation goes; it matters when the instance input is linked
        to something that resolves to nothing (a PrimitiveNode): the inner widget value is sent.
        """
        for node in self.order:
            if node.kind != "subgraph" or node.subgraph is None:
                continue
            sg_inputs = [
                s for s in (node.subgraph.definition or {}).get("inputs") or [] if isinstance(s, Mapping)
            ]
            for w in node.widgets:
                slot = next((s for s in sg_inputs if s.get("name") == w.name), None)
                for link_id in (slot or {}).get("linkIds") or []:
                    link = node.subgraph.links.get(_key(link_id))
                    target = self._dto((*node.path, node.local_id), link.target_id) if link else None
                    if link is None or target is None:
                        continue
                    for inp in target.inputs:
                        widget = inp.get("widget")
                        if _key(inp.get("link")) == link.id and isinstance(widget, Mapping):
                            for tw in target.widgets:
                                if tw.name == widget.get("name"):
                                    tw.value = w.value

    # ---- resolution (ExecutableNodeDTO) ----------------------------------------------------

    def _dto(self, path: tuple[str, ...], local_id: str) -> _Exec | None:
        return self.by_id.get(":".join((*path, local_id)))

    def resolve_input(self, node: _Exec, slot: int, seen: set[str], type_hint: Any = None) -> Resolved | None:
        key = f"{node.id}[I]{slot}"
        if key in seen:
            raise ConversionError(f"circular link while resolving input {slot} of node {node.id}")
        seen.add(key)
        if node.kind == "group" and node.group is not None:
            return self._resolve_group_input(node, slot, seen)
        if slot >= len(node.inputs) or slot < 0:
            return None
        inp = node.inputs[slot]
        link_id = inp.get("link")
        if link_id is None:
            return None
        name = inp.get("name")
        link = node.graph.links.get(_key(link_id))
        if link is None:
            raise self._dangling(node, name, f"link {link_id} is not in the workflow's links")
        parent = node.parent
        if parent is not None and link.origin_id == _SUBGRAPH_INPUT_ID:
            if link.origin_slot >= len(parent.inputs):
                raise self._dangling(node, name, f"the subgraph has no input {link.origin_slot}")
            outer_slot = parent.inputs[link.origin_slot]
            if outer_slot.get("link") is None:
                widget = outer_slot.get("widget")
                if isinstance(widget, Mapping):
                    for w in parent.widgets:
                        if w.name == widget.get("name"):
                            return ("value", w.value, None)
                return None
            if parent.graph.links.get(_key(outer_slot["link"])) is None:
                raise self._dangling(parent, outer_slot.get("name"), f"link {outer_slot['link']} is missing")
            # fixLinkInputSlots (after every load) makes a link's target_slot the index of the input
            # holding it, so the outer link is followed from this very slot.
            return self.resolve_input(parent, link.origin_slot, seen)
        origin = self._dto(node.path, link.origin_id)
        if origin is None:
            raise self._dangling(node, name, f"it is linked to node {link.origin_id}, which does not exist")
        return self.resolve_output(
            origin, link.origin_slot, type_hint if type_hint is not None else inp.get("type"), seen
        )

    def resolve_output(self, node: _Exec, slot: int, want: Any, seen: set[str]) -> Resolved | None:
        key = f"{node.id}[O]{slot}"
        if key in seen:
            raise ConversionError(f"circular link while resolving output {slot} of node {node.id}")
        seen.add(key)
        if node.mode == _MODE_BYPASS:
            if node.kind == "group":
                types = [s.get("type") for s in node.inputs]
                order = [slot, *range(len(types))]
                index = next((i for i in order if 0 <= i < len(types) and types[i] == want), None)
                return None if index is None else self.resolve_input(node, index, seen)
            index = self._bypass_input(node, slot, want)
            return None if index < 0 else self.resolve_input(node, index, seen)
        if node.kind == "subgraph":
            return self._resolve_subgraph_output(node, slot, want, seen)
        if node.kind == "group" and node.group is not None:
            if slot >= len(node.group.output_map):
                return None
            index, out_slot = node.group.output_map[slot]
            return ("link", node.group.inner[index].id, out_slot)
        if node.kind == "virtual":
            # Reroute and other virtual nodes pass their input of the same index through.
            if slot < len(node.inputs) and node.inputs[slot].get("link") is not None:
                return self.resolve_input(node, slot, seen, want)
            return None
        return ("link", node.id, slot)

    def _bypass_input(self, node: _Exec, slot: int, want: Any) -> int:
        """ExecutableNodeDTO's bypass rule: same slot when the types fit, else first input of the type."""
        inputs = node.inputs
        if want in ("*", ""):
            return slot if len(inputs) > slot else 0
        out_type = node.outputs[slot].get("type") if slot < len(node.outputs) else None
        same = inputs[slot] if slot < len(inputs) else None
        if (
            same is not None
            and _type_match(same.get("type"), out_type)
            and _type_match(same.get("type"), want)
        ):
            return slot
        for i, inp in enumerate(inputs):
            if inp.get("type") == want:
                return i
        for i, inp in enumerate(inputs):
            if _type_match(inp.get("type"), out_type) and _type_match(inp.get("type"), want):
                return i
        return -1

    def _resolve_subgraph_output(self, node: _Exec, slot: int, want: Any, seen: set[str]) -> Resolved | None:
        assert node.subgraph is not None
        outputs = [s for s in (node.subgraph.definition or {}).get("outputs") or [] if isinstance(s, Mapping)]
        if slot >= len(outputs):
            raise ConversionError(
                f"subgraph node {node.id} has no output {slot}", details={"node_id": node.id}
            )
        link_ids = outputs[slot].get("linkIds") or []
        if not link_ids:
            return None
        link = node.subgraph.links.get(_key(link_ids[0]))
        if link is None:
            return None
        inner = self._dto((*node.path, node.local_id), link.origin_id)
        if inner is None:
            raise ConversionError(
                f"subgraph node {node.id}: output {slot} comes from a missing inner node {link.origin_id}",
                details={"node_id": node.id},
            )
        return self.resolve_output(inner, link.origin_slot, want, seen)

    def _resolve_group_input(self, node: _Exec, slot: int, seen: set[str]) -> Resolved | None:
        if slot >= len(node.inputs):
            return None
        inp = node.inputs[slot]
        if inp.get("link") is None:
            return None
        link = node.graph.links.get(_key(inp["link"]))
        if link is None:
            raise self._dangling(node, inp.get("name"), f"link {inp['link']} is not in the workflow's links")
        origin = self._dto(node.path, link.origin_id)
        if origin is None:
            raise self._dangling(
                node, inp.get("name"), f"it is linked to node {link.origin_id}, which does not exist"
            )
        return self.resolve_output(origin, link.origin_slot, inp.get("type"), seen)

    def _dangling(self, node: _Exec, input_name: Any, why: str) -> ConversionError:
        label = f"{node.id} ({node.title})" if node.title else node.id
        return ConversionError(
            f"node {label} input {input_name!r} has a dangling link: {why}",
            hint="reconnect or remove that link in the editor, then save the workflow again",
            details={"node_id": node.id, "input_name": input_name, "class_type": node.class_type},
        )

    # ---- group-node inner links ------------------------------------------------------------

    def _group_inner_inputs(self, node: _Exec, seen_base: set[str]) -> dict[str, dict[str, Resolved | None]]:
        assert node.group is not None
        group = node.group
        result: dict[str, dict[str, Resolved | None]] = {n.id: {} for n in group.inner}
        for lk in group.links:
            origin, oslot, target, tslot = lk[0], lk[1], lk[2], lk[3]
            if origin is None or not isinstance(target, int) or target >= len(group.inner):
                continue
            tnode = group.inner[target]
            if not isinstance(tslot, int) or tslot >= len(tnode.inputs) or not isinstance(origin, int):
                continue
            if origin >= len(group.inner):
                continue
            src = group.inner[origin]
            name = str(tnode.inputs[tslot].get("name"))
            resolved: Resolved | None = ("link", src.id, oslot)
            if src.mode == _MODE_BYPASS:
                resolved = None
            result[tnode.id][name] = resolved
        for outer_slot, (index, in_slot) in enumerate(s for s in group.input_map):
            link_slots = [i for i, s in enumerate(node.inputs) if not isinstance(s.get("widget"), Mapping)]
            if outer_slot >= len(link_slots):
                break
            tnode = group.inner[index]
            name = str(tnode.inputs[in_slot].get("name"))
            result[tnode.id][name] = self.resolve_input(node, link_slots[outer_slot], set(seen_base))
        return result

    # ---- serialisation ---------------------------------------------------------------------

    def _replace_text(self, text: str) -> str:
        """applyTextReplacements: ``%date:FMT%`` and ``%Node.widget%`` (the node found by its
        "Node name for S&R" property first, then by title, anywhere in the workflow)."""

        def sub(m: re.Match[str]) -> str:
            body = m.group(1)
            parts = body.split(".")
            if len(parts) != 2:
                if parts[0].startswith("date:"):
                    return _format_date(parts[0][5:], self.now or datetime.now())
                return m.group(0)
            name, wname = parts
            found = [n for n in self.order if _props(n.raw).get("Node name for S&R") == name]
            found = found or [n for n in self.order if n.title == name]
            if not found:
                return m.group(0)
            for w in found[0].widgets:
                if w.name == wname:
                    value = "" if w.value is None else _js_string(w.value)
                    return re.sub(r'[/?<>\\:*|"\x00-\x1f\x7f]', "_", value)
            return m.group(0)

        return re.sub(r"%([^%]+)%", sub, text)

    def _widget_value(self, node: _Exec, w: Widget) -> Any:
        value = w.value
        if w.multiline:
            value = _js_string(value)
        if w.dynamic_prompts and isinstance(value, str):
            value = process_dynamic_prompt(value, self.rng)
        if w.name == "filename_prefix" and node.class_type in _TEXT_REPLACE_NODES and isinstance(value, str):
            value = self._replace_text(value)
        if isinstance(value, (list, dict)):
            value = copy.deepcopy(value)  # the prompt must not share objects with the UI graph
        return {"__value__": value} if isinstance(value, list) else value

    def execution_order(self) -> list[_Exec]:
        """``self.order`` with the top-level nodes in LGraph.computeExecutionOrder order.

        The prompt's node order then matches the frontend's (each subgraph instance or group node
        followed by its inner nodes, as graphToPrompt collects them).
        """
        blocks: dict[str, list[_Exec]] = {}
        for node in self.order:
            blocks.setdefault(node.path[0] if node.path else node.local_id, []).append(node)
        graph = self.root
        pending = {
            nid: sum(1 for s in (self.by_id[nid].inputs if nid in self.by_id else _slots(raw, "inputs"))
                     if s.get("link") is not None)
            for nid, raw in graph.nodes.items()
        }  # fmt: skip
        queue = [nid for nid, count in pending.items() if count == 0]
        done: list[str] = []
        seen_links: set[str] = set()
        while queue:
            nid = queue.pop(0)
            done.append(nid)
            pending.pop(nid, None)
            for out in _slots(graph.nodes[nid], "outputs"):
                for link_id in out.get("links") or []:
                    link = graph.links.get(_key(link_id))
                    if link is None or link.id in seen_links:
                        continue
                    seen_links.add(link.id)
                    if link.target_id in pending:
                        pending[link.target_id] -= 1
                        if pending[link.target_id] == 0:
                            queue.append(link.target_id)
        # Nodes never reached (cycles, stale links) follow in id order, as JS iterates integer keys.
        done += sorted(pending, key=lambda k: (0, int(k)) if k.lstrip("-").isdigit() else (1, 0))
        return [node for nid in done for node in blocks.get(nid, [])]

    def serialise(self) -> dict[str, Any]:
        output: dict[str, Any] = {}
        group_links: dict[str, dict[str, Resolved | None]] = {}
        for node in self.order:
            if (
                node.kind == "group"
                and node.group is not None
                and node.mode not in (_MODE_NEVER, _MODE_BYPASS)
            ):
                group_links.update(self._group_inner_inputs(node, set()))
        for node in self.execution_order():
            if node.kind != "node" or node.mode in (_MODE_NEVER, _MODE_BYPASS):
                continue
            self.where = f"node {node.id} ({node.class_type})"
            inputs: dict[str, Any] = {}
            for w in node.widgets:
                if w.to_api and w.name:
                    inputs[w.name] = self._widget_value(node, w)
            if node.id in group_links:
                resolved_by_name = group_links[node.id]
                for name, resolved in resolved_by_name.items():
                    if resolved is not None:
                        inputs[name] = self._as_input(resolved)
            else:
                for index, inp in enumerate(node.inputs):
                    resolved = self.resolve_input(node, index, set())
                    if resolved is not None:
                        inputs[str(inp.get("name"))] = self._as_input(resolved)
            output[node.id] = {
                "inputs": inputs,
                "class_type": node.class_type,
                "_meta": {"title": node.title},
            }
        # Remove inputs connected to nodes left out (muted), as graphToPrompt does.
        for entry in output.values():
            for name, value in list(entry["inputs"].items()):
                if isinstance(value, list) and len(value) == 2 and value[0] not in output:
                    del entry["inputs"][name]
        # A JS object lists integer-like keys first, ascending, then the others in insertion order:
        # that is the order the frontend's JSON has ("3", "10", ..., then "8:2", "8:7:4").
        index_keys = sorted((k for k in output if _is_array_index(k)), key=int)
        return {k: output[k] for k in index_keys + [k for k in output if not _is_array_index(k)]}

    @staticmethod
    def _as_input(resolved: Resolved) -> Any:
        kind, a, b = resolved
        if kind == "value":
            a = copy.deepcopy(a) if isinstance(a, (list, dict)) else a
            return {"__value__": a} if isinstance(a, list) else a
        return [str(a), int(b)]


_MISSING: Any = object()


def to_api(
    ui: Mapping[str, Any],
    defs: NodeDefs | Mapping[str, Any],
    *,
    virtual_types: Iterable[str] = (),
    rng: random.Random | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Convert a UI-format workflow to the API format POST /prompt takes, like the frontend.

    Args:
        ui: the saved graph (``nodes``, ``links``, optional ``definitions.subgraphs`` and
            ``extra.groupNodes``).
        defs: node definitions (``/object_info``, as :class:`NodeDefs` or the raw answer) of the
            server that will run it.
        virtual_types: extra UI-only node types to drop (besides Reroute, PrimitiveNode, Note,
            MarkdownNote and a few well-known custom ones in :data:`VIRTUAL_NODE_TYPES`).
        rng: random source for ``{a|b}`` dynamic prompts (seed it for reproducible output).
        now: the time used for ``%date:…%`` in save-node filename prefixes.

    Returns:
        ``{node_id: {"inputs": {...}, "class_type": str, "_meta": {"title": str}}}``; subgraph
        nodes flattened to ids like ``"8:7:4"``, group-node members to ``"6:0"``.

    Raises:
        ConversionError: a node type the definitions do not know (naming the type and node), a
            dangling link (naming the node and input), a circular link or a malformed graph.

    Example:
        >>> api = to_api(json.load(open("workflow.json")), client.node_defs())  # doctest: +SKIP
    """
    if not isinstance(ui, Mapping):
        raise ConversionError(f"a UI workflow must be a JSON object, not {type(ui).__name__}")
    node_defs = defs if isinstance(defs, NodeDefs) else NodeDefs(defs)  # or a raw /object_info answer
    conv: _Converter | None = None
    try:
        conv = _Converter(ui, node_defs, VIRTUAL_NODE_TYPES | set(virtual_types), rng, now)
        conv.build(conv.root, (), None, ())
        conv.apply_primitives()
        conv.copy_promoted_values()
        return conv.serialise()
    except ConversionError:
        raise
    except RecursionError as exc:
        raise ConversionError("the workflow nests subgraphs or links too deeply to convert") from exc
    except (TypeError, ValueError, KeyError, IndexError, AttributeError) as exc:
        # Hand-edited or corrupt saves put unexpected types anywhere; say where, not a traceback.
        where = f" at {conv.where}" if conv is not None and conv.where else ""
        raise ConversionError(
            f"the workflow is malformed{where}: {type(exc).__name__}: {exc}",
            hint="re-save it from the ComfyUI editor",
            details={"where": where.strip(), "error": f"{type(exc).__name__}: {exc}"},
        ) from exc
