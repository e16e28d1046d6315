"""Pure protocol functions on captured server answers: history → Result, queue order, errors."""

from __future__ import annotations

import json
from typing import Any

import pytest

from comfyctl import _protocol as proto
from comfyctl import errors
from conftest import FIXTURES


def _history(name: str) -> tuple[str, dict[str, Any]]:
    data = json.loads((FIXTURES / "history" / f"{name}.json").read_text())
    ((pid, entry),) = data.items()
    return pid, entry


def test_success_result_has_outputs_texts_executed_and_server_timing() -> None:
    pid, entry = _history("success")
    r = proto.result_from_history(pid, entry, "http://h:1")
    assert r.status == "success" and r.ok and r.error is None
    prompt = entry["prompt"][2]
    assert set(r.executed) <= set(prompt) and r.executed and not r.cached
    assert {o.node_id for o in r.outputs} == {k for k, v in entry["outputs"].items() if "images" in v}
    assert r.timing.started and r.timing.finished and r.timing.run_ms is not None and r.timing.run_ms >= 0
    assert all(o.url.startswith("http://h:1/api/view?filename=") for o in r.outputs)
    texts = {k: tuple(v["text"]) for k, v in entry["outputs"].items() if "text" in v}
    assert dict(r.texts) == texts
    json.dumps(r.to_dict())


def test_cached_rerun_lists_cached_nodes_and_executes_none() -> None:
    pid, entry = _history("success_cached")
    r = proto.result_from_history(pid, entry)
    assert r.cached == ("1", "2", "3", "4", "5", "6") and r.executed == ()
    assert r.outputs  # cached output nodes still report their files


def test_outputs_zoo_kinds() -> None:
    pid, entry = _history("outputs_zoo")
    r = proto.result_from_history(pid, entry)
    kinds = {(o.node_id, o.kind, o.animated, o.type) for o in r.outputs}
    assert ("10", "video", True, "output") in kinds  # SaveVideo reports under "images"
    assert ("13", "video", True, "output") in kinds  # SaveWEBM
    assert ("4", "image", True, "output") in kinds  # animated WEBP
    assert ("5", "image", True, "output") in kinds  # animated PNG
    assert ("7", "latent", False, "output") in kinds
    assert ("8", "image", False, "temp") in kinds  # MaskPreview with animated [false]
    assert r.texts == {"11": ("hello",)}
    assert len(r.outputs) == 7  # every file record; node 11 is text


def test_custom_output_keys_are_files_too() -> None:
    ui = {
        "gifs": [{"filename": "a.gif", "subfolder": "", "type": "output", "format": "image/gif"}],
        "audio": [{"filename": "s.flac", "subfolder": "x", "type": "temp"}],
        "3d": [{"filename": "m.glb", "type": "output"}],
        "whatever": [{"filename": "data.bin"}, {"no": "file"}, "str"],
        "animated": [True],
        "text": ["t", 3],
    }
    files, texts = proto.outputs_from_ui("9", ui)
    assert [(f.ui_key, f.kind) for f in files] == [
        ("gifs", "gif"),
        ("audio", "audio"),
        ("3d", "3d"),
        ("whatever", "file"),
    ]
    assert texts == ["t", "3"]


def test_error_and_interrupt_are_told_apart_by_the_last_message() -> None:
    pid, entry = _history("error")
    r = proto.result_from_history(pid, entry)
    assert r.status == "error" and r.executed == ("1", "2")
    assert r.error is not None and "current_inputs" not in r.error
    with pytest.raises(errors.ExecutionError) as info:
        proto.raise_for_result(r)
    e = info.value
    assert (e.node_id, e.node_type, e.exception_type) == ("3", "SaveImage", "Exception")
    assert e.traceback and "outside the output folder" in str(e)
    assert "current_inputs" not in json.dumps(e.to_dict())

    pid, entry = _history("interrupted")
    r = proto.result_from_history(pid, entry)
    assert r.status == "interrupted" and r.executed == ("3", "1", "2")
    with pytest.raises(errors.Interrupted):
        proto.raise_for_result(r)


def test_queue_pending_is_sorted_into_run_order() -> None:
    data = json.loads((FIXTURES / "queue_sample.json").read_text())
    q = proto.parse_queue(data)
    numbers = [i.number for i in q.pending]
    assert numbers == sorted(numbers) and len(q.pending) == len(data["queue_pending"])
    assert [i.prompt_id for i in q.running] == [r[1] for r in data["queue_running"]]
    assert q.running[0].client_id == "qtest" and q.is_running(q.running[0].prompt_id)
    first = q.pending[0].prompt_id
    assert q.position(first) == 0 and first in q and "nope" not in q
    heap = {
        "queue_running": [],
        "queue_pending": [
            [33, "c", {}, {}, []],
            [-1000.5, "a", {}, {}, []],
            [31, "b", {}, {}, []],
            [31, "a2", {}, {}, []],
        ],
    }
    assert [i.prompt_id for i in proto.parse_queue(heap).pending] == ["a", "a2", "b", "c"]


def test_prompt_body() -> None:
    body = proto.prompt_body(
        {"1": {}},
        client_id="c",
        prompt_id="p",
        front=True,
        extra_data={"k": 1},
        partial_execution_targets=[3],  # type: ignore[list-item]  # an int id is sent as a string
    )
    assert body == {
        "prompt": {"1": {}},
        "client_id": "c",
        "prompt_id": "p",
        "front": True,
        "extra_data": {"k": 1},
        "partial_execution_targets": ["3"],
    }
    assert "front" not in proto.prompt_body({"1": {}}, client_id="c", prompt_id="p", front=True, number=2)
    bad: Any
    for bad in ({}, [], {"nodes": [], "links": []}):
        with pytest.raises(errors.UsageError):
            proto.prompt_body(bad, client_id="c", prompt_id="p")


@pytest.mark.parametrize(
    "name",
    [
        "value_not_in_list",
        "required_input_missing",
        "missing_node_type",
        "no_outputs",
        "link_to_nonexistent_node_upstream",
    ],
)
def test_400_on_prompt_becomes_prompt_rejected(name: str) -> None:
    case = json.loads((FIXTURES / "errors" / f"{name}.json").read_text())
    err = proto.error_for_status(
        400,
        method="POST",
        url="u",
        body=json.dumps(case["response"]),
        content_type=case["content_type"],
        prompt=case["request_body"]["prompt"],
    )
    assert isinstance(err, errors.PromptRejected) and err.exit_code == 4
    assert err.body == case["response"]
    node_errors = case["response"]["node_errors"]
    assert {p["node_id"] for p in err.problems} >= set(node_errors)
    assert err.problems and all(p["text"] for p in err.problems)  # also when node_errors is empty
    assert err.problems[0]["text"] in err.message


def test_500_text_plain_is_mapped_with_log_tail() -> None:
    case = json.loads((FIXTURES / "errors" / "malformed_json_body.json").read_text())
    err = proto.error_for_status(
        500,
        method="POST",
        url="http://h/api/prompt",
        body=case["response"],
        content_type=case["content_type"],
        prompt={},
        log_tail="line1\nline2",
    )
    assert isinstance(err, errors.ServerError) and err.exit_code == 9
    assert "500 Internal Server Error" in err.message and err.details["log_tail"] == "line1\nline2"


@pytest.mark.parametrize(
    ("status", "body", "cls"),
    [
        (403, "", errors.AuthError),
        (401, "no", errors.AuthError),
        (404, "", errors.NotFound),
        (413, "Maximum request body size 104857600 exceeded.", errors.RequestTooLarge),
        (400, '{"error": "limit must be an integer"}', errors.HTTPError),
        (503, "", errors.ServerError),
        (418, "teapot", errors.HTTPError),
        (429, "slow down", errors.ServerError),  # a rate limiter in front: exit 9 like 5xx
        (408, "", errors.ServerError),
    ],
)
def test_status_mapping(status: int, body: str, cls: type[errors.HTTPError]) -> None:
    err = proto.error_for_status(status, method="GET", url="http://h/x", body=body)
    assert type(err) is cls and err.status == status and err.details["url"] == "http://h/x"
    if status == 403:
        assert "Origin" in err.message
    if status == 400:
        assert "limit must be an integer" in err.message


def test_decode_json_rejects_html_with_an_http_error() -> None:
    with pytest.raises(errors.HTTPError):
        proto.decode_json("<html>", method="GET", url="u")
    assert proto.decode_json("", method="GET", url="u") is None


def test_history_params_validation() -> None:
    assert proto.history_params(5, 0) == {"max_items": 5, "offset": 0}
    for bad in (-1, "3", True, 1.5):
        with pytest.raises(errors.UsageError):
            proto.history_params(bad, None)  # type: ignore[arg-type]


def test_log_tail_keeps_last_lines() -> None:
    logs = "\n".join(f"l{i}" for i in range(100))
    assert proto.log_tail(logs, lines=3) == "l97\nl98\nl99"
    assert proto.log_tail({"not": "text"}) is None


def test_retry_delay_grows_with_jitter_and_cap() -> None:
    for attempt in range(10):
        d = proto.retry_delay(attempt, base=0.1, cap=2.0)
        assert 0.5 * min(2.0, 0.1 * 2**attempt) <= d <= min(2.0, 0.1 * 2**attempt)


def test_reachable_nodes_follows_links_only() -> None:
    prompt = {
        "1": {"inputs": {}},
        "2": {"inputs": {"a": ["1", 0]}},
        "3": {"inputs": {"b": ["2", 0]}},
        "4": {"inputs": {"lit": ["x", "y", "z"]}},
        "9": {"inputs": {}},
    }
    assert proto.reachable_nodes(prompt, ["3"]) == ["1", "2", "3"]


def test_408_429_are_retried_honouring_a_small_retry_after() -> None:
    assert {408, 429} <= proto.RETRY_STATUSES
    assert proto.status_retry_delay(0, "2") == 2.0
    assert proto.status_retry_delay(0, "0") == 0.0
    assert proto.status_retry_delay(0, str(proto.MAX_RETRY_AFTER + 1)) is None  # give up, don't hang
    for header in (None, "Wed, 21 Oct 2015 07:28:00 GMT"):
        delay = proto.status_retry_delay(1, header)
        assert delay is not None and 0 < delay <= 0.2


@pytest.mark.parametrize(
    "entry",
    [
        {"outputs": ["x"]},
        {"status": "success"},
        {"status": {"messages": 5}},
        {"status": {"messages": [["execution_cached", {"nodes": 3}]]}},
        {"prompt": {"a": 1}},
        {"prompt": [1, "p", {"1": {"inputs": ["x"]}}, {}, ["1"]]},
        ["not", "a", "dict"],
    ],
)
def test_malformed_history_entries_are_http_errors(entry: Any) -> None:
    with pytest.raises(errors.HTTPError) as info:
        proto.result_from_history("p", entry)
    assert "malformed" in info.value.message and info.value.details["status"] == 200


def test_odd_but_readable_history_entries_are_read() -> None:
    odd = {"prompt": [1, "p", {}, {"create_time": "x"}, ["1"]], "outputs": {"1": {"images": "x"}}}
    result = proto.result_from_history("p", odd)
    assert result.outputs == () and result.timing.created is None
    assert proto.result_from_history("p", {"outputs": [], "status": {}}).status == "success"


def test_generated_client_ids_are_recognisable_and_attach_decides_the_socket() -> None:
    mine = proto.new_id()
    assert mine.startswith(proto.CLIENT_ID_PREFIX) and mine != proto.new_id()
    assert proto.attach_socket("browser-tab", "me", follow_progress=False) == "own"
    assert proto.attach_socket("browser-tab", "me", follow_progress=True) == "owner"
    assert proto.attach_socket("comfyctl-1234", "me", follow_progress=False) == "owner"
    assert proto.attach_socket("me", "me", follow_progress=True) == "own"
    assert proto.attach_socket(None, "me", follow_progress=True) == "own"


def test_error_retry_delay_repeats_only_what_is_safe() -> None:
    kw = {"last": False, "read_timeout": False}
    assert proto.error_retry_delay(0, idempotent=False, sent=False, **kw) is not None  # never left
    assert proto.error_retry_delay(0, idempotent=False, sent=True, **kw) is None  # a POST may have landed
    assert proto.error_retry_delay(0, idempotent=True, sent=True, **kw) is not None
    assert proto.error_retry_delay(0, idempotent=True, sent=True, last=False, read_timeout=True) is None
    assert proto.error_retry_delay(0, idempotent=True, sent=False, last=True, read_timeout=False) is None


def test_answer_retry_delay_honours_status_idempotence_and_retry_after() -> None:
    assert proto.answer_retry_delay(0, 503, "1", last=False, idempotent=True) == 1.0
    assert proto.answer_retry_delay(0, 503, None, last=False, idempotent=False) is None
    assert proto.answer_retry_delay(0, 500, None, last=False, idempotent=True) is None
    assert proto.answer_retry_delay(0, 503, None, last=True, idempotent=True) is None
    assert proto.answer_retry_delay(0, 429, "3600", last=False, idempotent=True) is None  # too long a pause
