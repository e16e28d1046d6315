"""Describing a rejection: a ``POST /prompt`` answer (real, or from the rules) as readable problems.

The server's answer names error types and raw details (``Value 0 smaller than min of 1``,
``KeyError: '9'``); :func:`describe_rejection` turns each into a :class:`~comfyctl.errors.NodeProblem`
whose ``text`` says which node and input, what is wrong and what would be right.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ...errors import NodeProblem
from ...nodedefs import NodeDefs
from .nodes import FILE_LOADERS, model_folder

__all__ = ["describe_rejection", "find_cycles"]


def short_value(value: Any, limit: int = 80) -> str:
    """A value as the user wrote it: strings quoted, containers as JSON, long ones cut."""
    if isinstance(value, str):
        text = repr(value)
    else:
        try:
            text = json.dumps(value, default=str)
        except (TypeError, ValueError):
            text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def combo_choices(config: Any) -> list[Any] | None:
    """The options of a combo ``input_config`` (legacy list or ``["COMBO", {"options": [...]}]``)."""
    if not isinstance(config, (list, tuple)) or not config:
        return None
    head = config[0]
    if isinstance(head, list):
        return head
    if head == "COMBO" and len(config) > 1 and isinstance(config[1], Mapping):
        options = config[1].get("options")
        return options if isinstance(options, list) else None
    return None


def _one_of(options: Sequence[Any], value: Any) -> str:
    shown = ", ".join(str(o) for o in options[:12])
    if len(options) > 12:
        shown += f", … ({len(options)} in all)"
    text = f"{short_value(value)} is not one of {shown}"
    close = difflib.get_close_matches(str(value), [str(o) for o in options], n=1, cutoff=0.6)
    if close:
        text += f" (did you mean {close[0]!r}?)"
    return text


def nodes_of(prompt: Any) -> Mapping[Any, Any]:
    return prompt if isinstance(prompt, Mapping) else {}


def _class_of(prompt: Any, node_id: Any) -> Any:
    node = nodes_of(prompt).get(node_id) if isinstance(node_id, str) else None
    return node.get("class_type") if isinstance(node, Mapping) else None


def _link_fault(
    prompt: Any, node_id: Any, exc_type: str, message: str, defs: NodeDefs | None
) -> tuple[str | None, str] | None:
    """Find the link in ``node_id``'s inputs that made the server's validation raise, and say why."""
    out_of_range: list[tuple[str, Any, int]] = []
    node = nodes_of(prompt).get(node_id)
    inputs = node.get("inputs") if isinstance(node, Mapping) else None
    if not isinstance(inputs, Mapping):
        return None
    nodes = nodes_of(prompt)
    for name, value in inputs.items():
        if not isinstance(value, list) or len(value) != 2:
            continue
        target, slot = value
        try:
            exists = target in nodes
        except TypeError:
            exists = False
        if not exists and exc_type in ("KeyError", "TypeError"):
            if isinstance(target, (int, float)) and str(target) in nodes:
                fixed = short_value([str(target), slot])
                return name, f"links to node {target} as a number; node ids in links are strings: {fixed}"
            if (exc_type == "KeyError" and message == repr(target)) or (
                exc_type == "TypeError" and "unhashable" in message
            ):
                shown = target if isinstance(target, str) else short_value(target)
                return name, f"links to node {shown}, which does not exist"
        if (
            exists
            and exc_type == "TypeError"
            and not isinstance(slot, int)
            and type(slot).__name__ in message
        ):
            return (
                name,
                f"output index {short_value(slot)} must be an integer (a link is [node_id, output_index])",
            )
        if exists and exc_type == "IndexError" and isinstance(slot, int) and not isinstance(slot, bool):
            out_of_range.append((name, target, slot))
    if out_of_range:
        # The server does not say which link; without definitions, blame the highest index.
        name, target, slot = max(out_of_range, key=lambda c: _slot_rank(c[1], c[2], prompt, defs))
        target_class = _class_of(prompt, target)
        owner = f"node {target} ({target_class})" if target_class else f"node {target}"
        return name, f"links to output {slot} of {owner}, which has no such output"
    return None


def _slot_rank(target: Any, slot: int, prompt: Any, defs: NodeDefs | None) -> tuple[bool, int]:
    class_type = _class_of(prompt, target)
    if defs is not None and isinstance(class_type, str) and class_type in defs:
        count = len(defs[class_type].raw.get("output") or ())
        return (not -count <= slot < count, abs(slot))
    return (True, abs(slot))


def _exception_text(
    prompt: Any, node_id: Any, class_type: Any, err: Mapping[str, Any], defs: NodeDefs | None
) -> tuple[str | None, str]:
    extra = _extra(err)
    exc_type = str(extra.get("exception_type") or "")
    message = str(extra.get("exception_message") or err.get("details") or "")
    found = _link_fault(prompt, node_id, exc_type, message, defs)
    if found is not None:
        return found
    if exc_type == "KeyError" and message == "'inputs'":
        return None, "has no 'inputs' object"
    missing = re.search(r"missing \d+ required positional arguments?: (.*)$", message)
    if exc_type == "TypeError" and missing:
        names = re.findall(r"'([^']+)'", missing.group(1))
        return (names[0] if len(names) == 1 else None), f"required input {', '.join(names)} is missing"
    if (
        exc_type == "AttributeError"
        and message.endswith("has no attribute 'endswith'")
        and class_type in FILE_LOADERS
    ):
        name = FILE_LOADERS[class_type][0]
        return name, "must be a file name typed in (a string), not a link or a number"
    guessing = not nodes_of(prompt)  # with the prompt at hand, _link_fault already found real link faults
    if guessing and exc_type == "KeyError" and re.fullmatch(r"'[\d:.]+'", message):
        return None, f"a link points to node {message[1:-1]}, which does not exist"
    if guessing and exc_type == "KeyError" and re.fullmatch(r"-?\d+(\.\d+)?", message):
        return None, f'a link names node {message} as a number; node ids in links are strings ("{message}")'
    if (
        guessing
        and exc_type == "TypeError"
        and re.search(r"indices must be integers or slices, not", message)
    ):
        return None, "a link's output index is not an integer (a link is [node_id, output_index])"
    if guessing and exc_type == "IndexError" and message.endswith("index out of range"):
        return None, "a link points to an output index the linked node does not have"
    return None, f"the server's validation raised {exc_type or 'an exception'}: {message}"


def _extra(err: Mapping[str, Any]) -> Mapping[str, Any]:
    extra = err.get("extra_info")
    return extra if isinstance(extra, Mapping) else {}


def describe_error(
    node_id: Any, class_type: Any, err: Mapping[str, Any], prompt: Any, defs: NodeDefs | None = None
) -> NodeProblem:
    """One server error dict as a :class:`NodeProblem` with a readable line."""
    kind = str(err.get("type") or "error")
    extra = _extra(err)
    name = extra.get("input_name")
    name = name if isinstance(name, str) else None
    details = str(err.get("details") or "")
    config = extra.get("input_config")
    value = extra.get("received_value")
    expected = config[0] if isinstance(config, (list, tuple)) and config else None
    if kind == "required_input_missing":
        text = "required input is missing"
    elif kind == "bad_linked_input":
        text = f'{short_value(value)} is not a link; a link is [node_id, output_index], e.g. ["4", 0]'
    elif kind == "return_type_mismatch":
        linked = extra.get("linked_node")
        source = linked[0] if isinstance(linked, list) and linked else "?"
        slot = linked[1] if isinstance(linked, list) and len(linked) > 1 else "?"
        source_class = _class_of(prompt, source)
        owner = f"node {source} ({source_class})" if source_class else f"node {source}"
        wanted = "a COMBO value" if isinstance(expected, list) else str(expected)
        text = f"output {slot} of {owner} is {extra.get('received_type')}, but this input takes {wanted}"
    elif kind == "invalid_input_type":
        wanted = expected if isinstance(expected, str) else "the expected type"
        text = f"{short_value(value)} is not a valid {wanted} ({extra.get('exception_message', details)})"
    elif kind in ("value_smaller_than_min", "value_bigger_than_max"):
        low = kind == "value_smaller_than_min"
        opts = config[1] if isinstance(config, (list, tuple)) and len(config) > 1 else {}
        bound = opts.get("min" if low else "max") if isinstance(opts, Mapping) else None
        if bound is None:
            bound = str(err.get("message", "")).rsplit(" ", 1)[-1]
        text = f"{short_value(value)} is {'below the minimum' if low else 'above the maximum'} {bound}"
    elif kind == "value_not_in_list":
        folder = model_folder(class_type, name, value)
        options = combo_choices(config)
        size = re.search(r"\(list of length (\d+)\)$", details)
        if folder is not None:
            where = f"the server's {folder} folder" if folder else "the server's model folders"
            text = f"model file {short_value(value)} is not in {where}"
        elif options is not None:
            text = _one_of(options, value)
        elif size:
            text = f"{short_value(value)} is not one of the {size.group(1)} choices the server offers"
        else:
            text = f"{short_value(value)} is not one of the allowed values"
    elif kind == "custom_validation_failed":
        reason = details[len(name) + 3 :] if name and details.startswith(f"{name} - ") else ""
        file_missing = re.fullmatch(r"Invalid (image|latent|audio|video) file: (.*)", reason, re.S)
        if file_missing:
            kind_, name_ = file_missing.groups()
            text = f"{kind_} file {name_!r} is not on the server (upload it first)"
        else:
            text = (
                f"rejected by the node's own check: {reason}"
                if reason
                else "rejected by the node's own check"
            )
    elif kind in ("exception_during_validation", "exception_during_inner_validation"):
        # The server's input_name on inner errors names the downstream input: find the real culprit.
        name, text = _exception_text(prompt, node_id, class_type, err, defs)
    else:
        text = f"{err.get('message', kind)}: {details}" if details else str(err.get("message", kind))
    return _make_problem(node_id, class_type, kind, err, name, text)


def _make_problem(
    node_id: Any, class_type: Any, kind: str, err: Mapping[str, Any], name: str | None, text: str, **more: Any
) -> NodeProblem:
    where = "" if node_id is None else f"node {node_id}" + (f" ({class_type})" if class_type else "")
    if name:
        where += f" input {name!r}"
    return NodeProblem(
        node_id=node_id,
        class_type=class_type,
        type=kind,
        message=str(err.get("message", "")),
        details=str(err.get("details", "")),
        input_name=name,
        text=f"{where}: {text}" if where else text,
        **more,
    )


def top_problems(error: Any, body: Mapping[str, Any], prompt: Any) -> list[NodeProblem]:
    """Problems for an answer whose node_errors say nothing (no_prompt, invalid_prompt, no outputs, crash)."""
    if not isinstance(error, Mapping):
        if "exception_type" in body:  # our 500 verdict: the real server would crash on this prompt
            return [_crash_problem(body, prompt)]
        text = str(error) if error else "the server rejected the workflow"
        return [_make_problem(None, None, "error", {"message": text}, None, text)]
    kind = str(error.get("type") or "error")
    message = str(error.get("message") or "")
    node = re.fullmatch(r"Node ID '#(.*)'", str(error.get("details") or ""), re.S)
    node_id = node.group(1) if node else None
    if kind == "no_prompt":
        return [
            _make_problem(
                None, None, kind, error, None, "the request has no 'prompt' (an API-format workflow)"
            )
        ]
    if kind == "invalid_prompt" and "missing the class_type" in message:
        hint = ""
        if _looks_like_ui(prompt):
            hint = " (a UI-format workflow? convert it first)"
        elif node_id == "prompt" and isinstance(nodes_of(prompt).get("prompt"), Mapping):
            hint = ' (a {"prompt": ...} request body? pass the value of its "prompt" key)'
        return [_make_problem(node_id, None, kind, error, None, f"the node has no class_type{hint}")]
    if kind == "invalid_prompt":
        node = nodes_of(prompt).get(node_id) if isinstance(node_id, str) else None
        if isinstance(node, Mapping) and not isinstance(node.get("class_type", ""), str):
            # The server looks up whatever it got (42, null, true) as a node type name.
            wrong = short_value(node["class_type"])
            text = f"class_type must be a node type name (a string), not {wrong}; the server says: {message}"
            return [_make_problem(node_id, None, kind, error, None, text)]
        unknown = re.fullmatch(r"Cannot execute because node (.*) does not exist\.", message, re.S)
        class_type = unknown.group(1) if unknown else _class_of(prompt, node_id)
        text = f"node type {class_type!r} is not installed on the server (a custom node pack is missing?)"
        return [_make_problem(node_id, class_type, kind, error, None, text)]
    if kind == "prompt_no_outputs":
        text = (
            "nothing to run: the workflow has no output node (such as SaveImage or PreviewImage), "
            "or none of the partial_execution_targets is one"
        )
        return [_make_problem(None, None, kind, error, None, text)]
    if kind == "prompt_outputs_failed_validation":
        lines = [line for line in str(error.get("details") or "").split("\n") if line]
        if lines:
            return [_make_problem(None, None, kind, error, None, line) for line in lines]
        cycles = find_cycles(prompt)
        if cycles:
            return [cycle_problem(prompt, cycle) for cycle in cycles]
        text = "no output passed validation and the server named no node (a dependency cycle between nodes?)"
        return [_make_problem(None, None, kind, error, None, text)]
    details = str(error.get("details") or "")
    return [_make_problem(node_id, None, kind, error, None, f"{message}: {details}" if details else message)]


def _looks_like_ui(prompt: Any) -> bool:
    return isinstance(prompt, Mapping) and "nodes" in prompt and "links" in prompt


def _crash_problem(body: Mapping[str, Any], prompt: Any) -> NodeProblem:
    err = {
        "message": "the server would fail with HTTP 500",
        "details": str(body.get("exception_message", "")),
    }
    if _looks_like_ui(prompt):
        return _make_problem(
            None, None, "malformed_prompt", err, None, "this is a UI-format workflow; convert it first"
        )
    if not isinstance(prompt, Mapping):
        text = f"the prompt must be an object of node id -> node, not {type(prompt).__name__}"
        return _make_problem(None, None, "malformed_prompt", err, None, text)
    for node_id, node in prompt.items():
        if not isinstance(node, Mapping):
            text = f"must be an object with class_type and inputs, not {short_value(node, 40)}"
            return _make_problem(node_id, None, "malformed_prompt", err, None, text)
        class_type = node.get("class_type")
        if class_type is not None and not isinstance(class_type, str):
            return _make_problem(node_id, None, "malformed_prompt", err, None, "class_type must be a string")
    text = f"the server would fail on this prompt (HTTP 500): {body.get('exception_type')}: {err['details']}"
    return _make_problem(None, None, "malformed_prompt", err, None, text)


def find_cycles(prompt: Any) -> list[list[str]]:
    """Dependency cycles among the prompt's links, as node ids along each (the first repeated last)."""
    nodes = nodes_of(prompt)
    edges: dict[Any, list[Any]] = {}
    for node_id, node in nodes.items():
        inputs = node.get("inputs") if isinstance(node, Mapping) else None
        targets = []
        if isinstance(inputs, Mapping):
            for value in inputs.values():
                if (
                    isinstance(value, list)
                    and len(value) == 2
                    and isinstance(value[0], str)
                    and value[0] in nodes
                ):
                    targets.append(value[0])
        edges[node_id] = targets
    # Tarjan's strongly connected components, iterative (graphs can be deep).
    index: dict[Any, int] = {}
    low: dict[Any, int] = {}
    on_stack: set[Any] = set()
    stack: list[Any] = []
    cycles: list[list[str]] = []
    for root in edges:
        if root in index:
            continue
        work = [(root, iter(edges[root]))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(edges[child])))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1 or node in edges[node]:
                        cycles.append(_cycle_path(edges, set(component)))
    return cycles


def _cycle_path(edges: Mapping[Any, list[Any]], members: set[Any]) -> list[str]:
    """One closed walk through a strongly connected component, from its first node back to it."""
    start = next(n for n in edges if n in members)
    path, seen = [start], {start}
    while True:
        nexts = [t for t in edges[path[-1]] if t in members]
        back = [t for t in nexts if t == start]
        if back:
            return [*path, start]
        fresh = [t for t in nexts if t not in seen]
        if not fresh:  # every step inside an SCC leads back eventually; go to any member
            return [*path, nexts[0]]
        path.append(fresh[0])
        seen.add(fresh[0])


def cycle_problem(prompt: Any, cycle: list[str]) -> NodeProblem:
    steps = " → ".join(f"{n} ({_class_of(prompt, n)})" for n in cycle)
    text = f"nodes depend on each other in a cycle, which ComfyUI cannot run: {steps}"
    err = {"message": "Dependency cycle", "details": " -> ".join(cycle)}
    return _make_problem(
        cycle[0], _class_of(prompt, cycle[0]), "dependency_cycle", err, None, text, cycle=cycle
    )


def describe_rejection(
    body: Mapping[str, Any], prompt: Mapping[str, Any] | None = None, *, defs: NodeDefs | None = None
) -> tuple[str, list[NodeProblem]]:
    """Turn a ``POST /prompt`` answer (real or from :func:`validate_prompt`) into one line plus problems.

    Args:
        body: the JSON answer: a 400 body, a 200 body carrying ``node_errors``, or the body of a
            500 :class:`PromptVerdict`. Anything else is described, never raised on.
        prompt: the prompt that was sent, when known: it names linked nodes' classes and finds the
            link at fault when the server only reports an exception.
        defs: the server's node definitions, when at hand: they tell which output index is out of range.

    Returns:
        ``(summary, problems)``: one problem per server error, each with a readable ``text`` such
        as ``node 7 (KSampler) input 'steps': 0 is below the minimum 1``.
    """
    if not isinstance(body, Mapping):
        text = f"the server rejected the workflow: {short_value(body, 200)}"
        return text, [_make_problem(None, None, "error", {"message": text}, None, text)]
    problems: list[NodeProblem] = []
    node_errors = body.get("node_errors")
    if isinstance(node_errors, Mapping):
        for node_id, entry in node_errors.items():
            if not isinstance(entry, Mapping):
                continue
            class_type = entry.get("class_type") or _class_of(prompt, node_id)
            deps = entry.get("dependent_outputs")
            for err in entry.get("errors") or ():
                if isinstance(err, Mapping):
                    problem = describe_error(node_id, class_type, err, prompt, defs)
                    if isinstance(deps, list):
                        problem["dependent_outputs"] = list(deps)
                    problems.append(problem)
    error = body.get("error")
    if not problems and (error is not None or "exception_type" in body):
        problems = top_problems(error, body, prompt)
    problems.sort(key=workflow_order(prompt))
    return summary_line(body, problems), problems


def workflow_order(prompt: Any) -> Callable[[NodeProblem], int]:
    """Problems in workflow order (the server's follow Python set order); workflow-wide ones last."""
    order = {node_id: i for i, node_id in enumerate(nodes_of(prompt))}
    return lambda p: order.get(p.get("node_id"), len(order))


def summary_line(body: Mapping[str, Any], problems: Sequence[NodeProblem]) -> str:
    accepted = "error" not in body and "exception_type" not in body
    if not problems:
        return "the workflow is valid" if accepted else "the server rejected the workflow"
    nodes = {p.get("node_id") for p in problems if p.get("node_id") is not None}
    first = problems[0]["text"]
    if accepted:
        skipped = sorted({o for p in problems for o in p.get("dependent_outputs", ())}, key=str)
        plural = "s" if len(skipped) != 1 else ""
        head = f"the server would accept it, but output{plural} {', '.join(map(str, skipped))} would not run"
    else:
        head = "the server would fail on this workflow" if "exception_type" in body else "workflow rejected"
    if len(problems) == 1:
        return f"{head}: {first}"
    where = f" on {len(nodes)} node{'s' if len(nodes) != 1 else ''}" if nodes else ""
    return f"{head}: {len(problems)} problems{where}; first: {first}"
