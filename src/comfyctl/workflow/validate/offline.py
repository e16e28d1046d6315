"""Offline extras: what an offline tool can say beyond the server's own answer.

The server stops at the first unknown node type, never reaches nodes behind a failed link, answers
a dependency cycle with an empty ``node_errors`` and calls a missing model file "value not in list".
:func:`validate` reports all of those; :func:`check` raises them as one :class:`ValidationError`.
"""

from __future__ import annotations

from collections import ChainMap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ...errors import NodeProblem, ValidationError
from ...nodedefs import NodeDefs
from .nodes import FILE_LOADERS, MODEL_EXTENSIONS, Validator, file_validator, model_folder
from .rejection import (
    combo_choices,
    cycle_problem,
    describe_error,
    describe_rejection,
    find_cycles,
    nodes_of,
    short_value,
    summary_line,
    top_problems,
    workflow_order,
)
from .rules import (
    NodeFailed,
    PromptVerdict,
    ValidationRun,
    full_type_name,
    node_error,
    validate_prompt,
    working_copy,
)

__all__ = ["ValidationReport", "check", "hint_for", "validate"]


@dataclass(frozen=True)
class ValidationReport:
    """The offline verdict on a workflow: the server's own answer plus what only offline checks find.

    ``ok`` is True only when the server would accept the workflow and run every output (a 200
    that drops some outputs is not ok). ``problems`` are in workflow order.
    """

    ok: bool
    problems: tuple[NodeProblem, ...]
    outputs: tuple[str, ...]
    verdict: PromptVerdict
    summary: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form for ``--json`` and agents."""
        return {
            "ok": self.ok,
            "summary": self.summary,
            "status": self.verdict.status,
            "outputs": list(self.outputs),
            "problems": [dict(p) for p in self.problems],
        }


def _with_models(defs: NodeDefs, models: Mapping[str, Sequence[str]], prompt: Mapping[Any, Any]) -> NodeDefs:
    """The definitions with loader combos listing ``models[folder]`` instead of the snapshot's files."""
    patched: dict[str, Any] = {}
    for node in prompt.values():
        class_type = node.get("class_type") if isinstance(node, Mapping) else None
        if not isinstance(class_type, str) or class_type in patched or class_type not in defs:
            continue
        raw = defs[class_type].raw
        declared = raw.get("input") or {}
        sections: dict[str, Any] = {}
        for section in ("required", "optional"):
            specs = dict(declared.get(section) or {})
            for name, spec in specs.items():
                folder = model_folder(class_type, name)
                options = combo_choices(spec)
                if not folder or folder not in models or options is None:
                    continue
                # keep non-file entries the server adds (VAELoader's "pixel_space", "taesd", ...)
                extras = [o for o in options if not str(o).lower().endswith(MODEL_EXTENSIONS)]
                files = [*models[folder], *(o for o in extras if o not in models[folder])]
                opts = dict(spec[1]) if len(spec) > 1 and isinstance(spec[1], Mapping) else {}
                if spec[0] == "COMBO":
                    specs[name] = ["COMBO", {**opts, "options": files}]
                else:
                    specs[name] = [files, opts] if len(spec) > 1 else [files]
                sections[section] = specs
        if sections:
            patched[class_type] = {**raw, "input": {**declared, **sections}}
    if not patched:
        return defs
    return NodeDefs(ChainMap(patched, dict(defs.raw)))


def _file_validators(defs: NodeDefs, input_files: Sequence[str] | None) -> dict[str, Validator]:
    """Stand-ins for the file loaders' existence checks, against the input folder as ``defs`` lists it."""
    validators: dict[str, Validator] = {}
    for class_type, (name, kind) in FILE_LOADERS.items():
        if class_type not in defs:
            continue
        spec = defs[class_type].input(name)
        known = set(input_files) if input_files is not None else set(spec.choices or ()) if spec else set()

        def exists(value: str, known: set[str] = known) -> bool:
            # subfolders and [output]/[temp] annotations are not in the combo list: give them the benefit
            return value in known or "/" in value or "\\" in value or value.endswith("]")

        validators[class_type] = file_validator(kind, exists)
    return validators


def _reachable(prompt: Mapping[Any, Any], roots: Sequence[Any]) -> list[Any]:
    seen: dict[Any, None] = {}
    todo = list(roots)
    while todo:
        node_id = todo.pop()
        if node_id in seen or node_id not in prompt:
            continue
        seen[node_id] = None
        node = prompt[node_id]
        inputs = node.get("inputs") if isinstance(node, Mapping) else None
        if isinstance(inputs, Mapping):
            for value in inputs.values():
                if isinstance(value, list) and len(value) == 2 and isinstance(value[0], str):
                    todo.append(value[0])
    return list(seen)


def validate(
    workflow: Mapping[str, Any],
    defs: NodeDefs,
    *,
    models: Mapping[str, Sequence[str]] | None = None,
    input_files: Sequence[str] | None = None,
    partial_execution_targets: Sequence[str] | None = None,
) -> ValidationReport:
    """Validate an API-format workflow offline: the server's verdict, plus what it does not say.

    On top of :func:`validate_prompt`: every unknown node type (the server stops at the first),
    problems in nodes the server never reached because an earlier link failed, dependency cycles
    (``dependency_cycle``; the server answers them with an empty ``node_errors``), and missing
    model files called out as ``missing_model`` with the folder they belong in.

    Args:
        workflow: the API-format prompt.
        defs: the server's node definitions (fresh: combo lists of files are a snapshot).
        models: ``{folder: [files]}`` as ``/models/{folder}`` lists them; overrides the loaders'
            combo lists in ``defs``.
        input_files: names in the server's input folder (default: LoadImage's list in ``defs``).
        partial_execution_targets: validate only these outputs, as the server would.

    Returns:
        A :class:`ValidationReport`. Never raises for bad input.

    Example:
        >>> report = validate(api, defs, models={"checkpoints": client.models("checkpoints")})
        >>> for p in report.problems: print(p["text"])
    """
    prompt = workflow
    if models and isinstance(prompt, Mapping):
        defs = _with_models(defs, models, prompt)
    validators = _file_validators(defs, input_files)
    verdict = validate_prompt(
        prompt, defs, partial_execution_targets=partial_execution_targets, custom_validators=validators
    )
    if verdict.status == 200 and not verdict.body.get("node_errors"):
        return ValidationReport(True, (), verdict.outputs, verdict, "the workflow is valid")
    _, problems = describe_rejection(verdict.body, prompt, defs=defs)
    if isinstance(prompt, Mapping) and verdict.status != 500:
        problems = _offline_extras(prompt, defs, verdict, problems, validators, partial_execution_targets)
        problems.sort(key=workflow_order(prompt))
    problems = [_as_missing_model(p, prompt, defs, models) for p in problems]
    summary = summary_line(verdict.body, problems)
    return ValidationReport(False, tuple(problems), verdict.outputs, verdict, summary)


def _offline_extras(
    prompt: Mapping[Any, Any],
    defs: NodeDefs,
    verdict: PromptVerdict,
    problems: list[NodeProblem],
    validators: Mapping[str, Validator],
    targets: Sequence[str] | None,
) -> list[NodeProblem]:
    """Problems the server's answer leaves out: other unknown types, unreached nodes, cycles."""
    problems = list(problems)
    error = verdict.body.get("error") or {}
    if error.get("type") == "invalid_prompt":
        reported = {p.get("node_id") for p in problems}
        for node_id, node in prompt.items():
            class_type = node.get("class_type") if isinstance(node, Mapping) else None
            if node_id in reported or not isinstance(class_type, str) or class_type in defs:
                continue
            message = f"Cannot execute because node {class_type} does not exist."
            err = {"type": "invalid_prompt", "message": message, "details": f"Node ID '#{node_id}'"}
            problems += top_problems(err, {}, prompt)
        return problems
    outputs = [
        node_id
        for node_id, node in prompt.items()
        if isinstance(node, Mapping)
        and node.get("class_type") in defs
        and defs[node["class_type"]].raw.get("output_node") is True
        and (targets is None or node_id in targets)
    ]
    reachable = _reachable(prompt, outputs)
    # Nodes the server never reached (behind a failed link) are checked on a fresh copy, so the
    # verdict's coerced prompt stays exactly what the server would have stored.
    run = ValidationRun(working_copy(prompt), defs, validators)
    seen = {(p.get("node_id"), p.get("type"), p.get("input_name")) for p in problems}
    for node_id in reachable:
        if any(p.get("node_id") == node_id for p in problems):
            continue
        try:
            ok, errors = run.node(node_id)
        except NodeFailed as failed:
            ok, errors = (
                False,
                [
                    node_error(
                        "exception_during_validation",
                        "Exception when validating node",
                        str(failed.exc),
                        exception_type=full_type_name(failed.exc),
                        exception_message=str(failed.exc),
                    )
                ],
            )
        for err in errors if not ok else ():
            problem = describe_error(node_id, prompt[node_id].get("class_type"), err, prompt, defs)
            key = (problem.get("node_id"), problem.get("type"), problem.get("input_name"))
            if key not in seen:
                seen.add(key)
                problems.append(problem)
    reach = set(reachable)
    # describe_rejection lists every cycle in the prompt; keep those the outputs depend on
    problems = [p for p in problems if "cycle" not in p or reach.intersection(p["cycle"])]
    known = [p.get("cycle") for p in problems]
    for cycle in find_cycles(prompt):
        if reach.intersection(cycle) and cycle not in known:
            problems.append(cycle_problem(prompt, cycle))
    return problems


def _as_missing_model(
    problem: NodeProblem, prompt: Any, defs: NodeDefs, models: Mapping[str, Sequence[str]] | None
) -> NodeProblem:
    """A value_not_in_list on a model loader input becomes ``missing_model`` with its folder."""
    if problem.get("type") != "value_not_in_list":
        return problem
    node = nodes_of(prompt).get(problem.get("node_id"))
    name = problem.get("input_name")
    value = (
        node.get("inputs", {}).get(name)
        if isinstance(node, Mapping) and isinstance(node.get("inputs"), Mapping)
        else None
    )
    folder = model_folder(problem.get("class_type"), name, value)
    if folder is None:
        return problem
    place = f"models/{folder}/" if folder else "the server's models folder"
    available = len(models[folder]) if models and folder in models else None
    if available is None and folder and problem.get("class_type") in defs and isinstance(name, str):
        spec = defs[problem["class_type"]].input(name)
        available = len(spec.choices) if spec and spec.choices is not None else None
    if available is None:
        count = ""
    elif available == 0:
        count = " (that folder is empty on the server)"
    else:
        count = f" (the server has {available} other file{'s' if available != 1 else ''} there)"
    text = f"model file {short_value(value)} is not on the server: put it in {place}{count}"
    where = problem["text"].split(": ", 1)[0]
    return NodeProblem(
        {**problem, "type": "missing_model", "folder": folder or None, "text": f"{where}: {text}"}
    )


def check(
    workflow: Mapping[str, Any],
    defs: NodeDefs,
    *,
    models: Mapping[str, Sequence[str]] | None = None,
    input_files: Sequence[str] | None = None,
    partial_execution_targets: Sequence[str] | None = None,
) -> ValidationReport:
    """Like :func:`validate`, but raise :class:`ValidationError` (exit code 4) listing every problem.

    Raises:
        ValidationError: the workflow would be rejected or would not run every output.
    """
    report = validate(
        workflow,
        defs,
        models=models,
        input_files=input_files,
        partial_execution_targets=partial_execution_targets,
    )
    if not report.ok:
        raise ValidationError(
            report.summary,
            problems=list(report.problems),
            hint=hint_for(report.problems),
            details={"status": report.verdict.status, "outputs": list(report.outputs)},
        )
    return report


def hint_for(problems: Sequence[NodeProblem]) -> str | None:
    """What to do next, for the kind of problem that is most likely blocking (None: the default hint)."""
    kinds = {p.get("type") for p in problems}
    if kinds & {"prompt_no_outputs", "no_prompt", "malformed_prompt"} and len(kinds) == 1:
        if "prompt_no_outputs" in kinds:
            return "add an output node (SaveImage, PreviewImage, ...) that the rest of the graph feeds"
        return "pass an API-format workflow ({node id: {class_type, inputs}}) or a UI file saved by ComfyUI"
    if any("class_type must be" in p["text"] for p in problems):
        return 'set each class_type to the name of a node type the server has, such as "SaveImage"'
    if "invalid_prompt" in kinds and any("not installed" in p["text"] for p in problems):
        return "install the custom node packs that provide these node types, then restart ComfyUI"
    if "missing_model" in kinds:
        return (
            "put the model files in the folders named above, or pick installed ones: comfyctl models FOLDER"
        )
    if any("(upload it first)" in p["text"] for p in problems):
        return "upload the input files first ('comfyctl upload FILE'), then use the name the server returns"
    if "dependency_cycle" in kinds:
        return "break the cycle: a node cannot take its input from a node that depends on it"
    return None  # ValidationError's default hint
