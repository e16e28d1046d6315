"""Every parser of server JSON against wrong types: the captured answers of a real ComfyUI 0.8.0
(tests/data/fixtures/) with any one part replaced by any JSON value. A parser returns, or raises a
:class:`ComfyError`; never an AttributeError/TypeError/KeyError deep in a command."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from comfyctl import _protocol as proto
from comfyctl import errors
from comfyctl.events import parse_event
from comfyctl.nodedefs import NodeDefs
from conftest import FIXTURES

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=4),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=6,
)
CHECK = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def _paths(doc: Any, here: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield here
    if isinstance(doc, dict):
        for key, value in doc.items():
            yield from _paths(value, (*here, key))
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            yield from _paths(value, (*here, i))


def _replaced(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    copy = json.loads(json.dumps(doc))
    node = copy
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    return copy


def _mutants(doc: Any) -> st.SearchStrategy[Any]:
    """``doc`` with one part (any depth, the whole included) replaced by any JSON value."""
    paths = list(_paths(doc))
    return st.tuples(st.sampled_from(paths), JSON).map(lambda pv: _replaced(doc, *pv))


def _survives(call: Any, *args: Any, **kw: Any) -> Any:
    try:
        return call(*args, **kw)
    except errors.ComfyError:
        return None


_INFO = _load("object_info.json")
_CLASSES = {k: _INFO[k] for k in ("KSampler", "LoadImage", "CheckpointLoaderSimple", "SaveImage")}


def _exercise(defs: NodeDefs) -> None:
    for name in defs:
        node = defs[name]
        for spec in node.inputs:
            _ = (spec.is_combo, spec.is_widget, spec.is_link_only, spec.default, spec.min, spec.max)
            _ = (spec.types, spec.has_control_after_generate)
        _ = (node.hidden, node.outputs, node.output_names, node.output_is_list, node.is_output_node)
        _ = (node.display_name, node.category, node.python_module, node.package, node.deprecated)
        node.input("seed")


@CHECK
@given(_mutants(_CLASSES))
def test_object_info_definitions(info: Any) -> None:
    parsed = _survives(proto.parse_object_info, info, url="/object_info")
    if parsed is not None:
        _exercise(NodeDefs(parsed))


def test_a_non_object_definition_is_named() -> None:
    with pytest.raises(errors.HTTPError, match="'X' is a int"):
        proto.parse_object_info({"X": 42, **_CLASSES}, url="/object_info")


_HISTORY = {
    name: _load(f"history/{name}.json") for name in ("success", "error", "interrupted", "outputs_zoo")
}


@CHECK
@given(st.sampled_from(sorted(_HISTORY)).flatmap(lambda n: _mutants(_HISTORY[n])))
def test_history_entries(history: Any) -> None:
    for pid, entry in history.items() if isinstance(history, dict) else [("p", history)]:
        result = _survives(proto.result_from_history, str(pid), entry)
        if result is not None:
            json.dumps(result.to_dict(), default=str)
            _ = (result.ok, result.images, result.files("image"), result.timing.run_ms)
            _survives(proto.raise_for_result, result)
    got = _survives(proto.parse_history_entry, history, "p", url="/history/p")
    assert got is None or isinstance(got, dict)


@CHECK
@given(_mutants(_load("queue_sample.json")))
def test_queue(data: Any) -> None:
    state = _survives(proto.parse_queue, data)
    if state is not None:
        for item in (*state.running, *state.pending):
            json.dumps(item.to_dict(), default=str)
            _ = state.position(item.prompt_id), item.prompt_id in state


@CHECK
@given(_mutants(_load("system_stats.json")))
def test_system_stats(data: Any) -> None:
    stats = _survives(proto.parse_system_stats, data)
    if stats is not None:
        json.dumps(stats.to_dict(), default=str)


@CHECK
@given(_mutants({"prompt_id": "p", "number": 3, "node_errors": {}}))
def test_submit_answer(data: Any) -> None:
    _survives(proto.parse_submit, data, method="POST", url="/prompt")


@CHECK
@given(_mutants({"name": "x.png", "subfolder": "", "type": "input"}))
def test_upload_answer(data: Any) -> None:
    _survives(proto.parse_upload, data, method="POST", url="/upload/image")


def _frames() -> list[Any]:
    frames = []
    for path in sorted((FIXTURES / "ws").glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            if record.get("kind") == "text" and record.get("msg") not in frames:
                frames.append(record["msg"])
    return frames


_FRAMES = _frames()


@CHECK
@given(st.sampled_from(range(len(_FRAMES))).flatmap(lambda i: _mutants(_FRAMES[i])))
def test_websocket_messages(msg: Any) -> None:
    event = parse_event(json.dumps(msg))  # never raises, whatever the message holds
    json.dumps(event.to_dict(), default=str)
    _ = event.type, event.prompt_id


@CHECK
@given(JSON)
def test_log_tail(logs: Any) -> None:
    tail = proto.log_tail(logs)
    assert tail is None or isinstance(tail, str)
