"""ComfyUI 0.8.0's traceback lines for validation errors, so the sandbox answers as the real server.

The server sends ``traceback.format_tb()`` lines in ``extra_info["traceback"]``; the validator
(:mod:`comfyctl.workflow.validate.rules`) only records where the server's code raised (a
:data:`~comfyctl.workflow.validate.Frame`). This table names the same file, line, function and
source line as 0.8.0 does for each place; nothing outside the sandbox and its tests needs it.
"""

from __future__ import annotations

from comfyctl.workflow.validate import Frame

__all__ = ["TRACEBACK_ROOT", "format_frame"]

#: Where the install lives in our made-up tracebacks (a real server shows its own absolute path).
TRACEBACK_ROOT = "ComfyUI"

# site -> (file, line, function, source line, (failing expression, length of its "~" part) or None)
_SITES: dict[str, tuple[str, int, str, str, tuple[str, int] | None]] = {
    "prompt": (
        "execution.py",
        1043,
        "validate_prompt",
        "m = await validate_inputs(prompt_id, prompt, o, validated)",
        ("await validate_inputs(prompt_id, prompt, o, validated)", 0),
    ),
    "inner": (
        "execution.py",
        838,
        "validate_inputs",
        "r = await validate_inputs(prompt_id, prompt, o_id, validated)",
        ("await validate_inputs(prompt_id, prompt, o_id, validated)", 0),
    ),
    "inputs": (
        "execution.py",
        755,
        "validate_inputs",
        "inputs = prompt[unique_id]['inputs']",
        ("prompt[unique_id]['inputs']", 17),
    ),
    "finalize": (
        "execution.py",
        768,
        "validate_inputs",
        "class_inputs, _, v3_data = _io.get_finalized_class_inputs(class_inputs, inputs)",
        ("_io.get_finalized_class_inputs(class_inputs, inputs)", 0),
    ),
    "contains": ("execution.py", 786, "validate_inputs", "if x not in inputs:", ("x not in inputs", 0)),
    "value": ("execution.py", 800, "validate_inputs", "val = inputs[x]", ("inputs[x]", 6)),
    "link_node": (
        "execution.py",
        818,
        "validate_inputs",
        "o_class_type = prompt[o_id]['class_type']",
        ("prompt[o_id]", 6),
    ),
    "link_slot": ("execution.py", 820, "validate_inputs", "received_type = r[val[1]]", ("r[val[1]]", 1)),
    "min": (
        "execution.py",
        899,
        "validate_inputs",
        'if "min" in extra_info and val < extra_info["min"]:',
        ('val < extra_info["min"]', 0),
    ),
    "max": (
        "execution.py",
        912,
        "validate_inputs",
        'if "max" in extra_info and val > extra_info["max"]:',
        ('val > extra_info["max"]', 0),
    ),
    "input_data": (
        "execution.py",
        957,
        "validate_inputs",
        "input_data_all, _, v3_data = get_input_data(inputs, obj_class, unique_id)",
        ("get_input_data(inputs, obj_class, unique_id)", 0),
    ),
    "custom": (
        "execution.py",
        965,
        "validate_inputs",
        "ret = await _async_map_node_over_list(prompt_id, unique_id, obj_class, input_filtered, "
        "validate_function_name, v3_data=v3_data)",
        (
            "await _async_map_node_over_list(prompt_id, unique_id, obj_class, input_filtered, "
            "validate_function_name, v3_data=v3_data)",
            0,
        ),
    ),
    "map_empty": ("execution.py", 299, "_async_map_node_over_list", "await process_inputs({})", None),
    "map_each": (
        "execution.py",
        303,
        "_async_map_node_over_list",
        "await process_inputs(input_dict, i)",
        None,
    ),
    "call": ("execution.py", 291, "process_inputs", "result = f(**inputs)", ("f(**inputs)", 0)),
    "v3_call": (
        "comfy_api/internal/__init__.py",
        149,
        "wrapped_func",
        "return method(locked_class, **inputs)",
        ("method(locked_class, **inputs)", 0),
    ),
    "exists": (
        "folder_paths.py",
        272,
        "exists_annotated_filepath",
        "name, base_dir = annotated_filepath(name)",
        ("annotated_filepath(name)", 0),
    ),
    "endswith": (
        "folder_paths.py",
        244,
        "annotated_filepath",
        'if name.endswith("[output]"):',
        ("name.endswith", 0),
    ),
}


def format_frame(site: Frame) -> str:
    """One ``traceback.format_tb`` entry (Python 3.11 style, with its caret line when there is one)."""
    path, line, func, source, anchor = _SITES[site] if isinstance(site, str) else site
    text = f'  File "{TRACEBACK_ROOT}/{path}", line {line}, in {func}\n    {source}\n'
    if anchor is not None:
        expr, tildes = anchor
        text += " " * (4 + source.index(expr)) + "~" * tildes + "^" * (len(expr) - tildes) + "\n"
    return text
