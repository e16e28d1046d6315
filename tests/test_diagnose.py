"""Every diagnosis rule, fed the server's own error shapes (captured fixtures and variants of them)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from comfyctl import _protocol
from comfyctl.diagnose import advise, model_folder, package_for, queue_advice
from comfyctl.errors import ExecutionError, JobLost, RequestTimeout, ServerUnreachable


def _load(fixtures_dir: Path, name: str) -> Any:
    return json.loads((fixtures_dir / name).read_text())


def _execution_error(fixtures_dir: Path, **changes: Any) -> ExecutionError:
    """The captured history/error.json execution_error payload, with the fields a variant changes."""
    [(prompt_id, entry)] = _load(fixtures_dir, "history/error.json").items()
    payload = copy.deepcopy(next(m[1] for m in entry["status"]["messages"] if m[0] == "execution_error"))
    payload.update(changes)
    return _protocol.execution_error(prompt_id, payload)


def _rejected(fixtures_dir: Path, name: str, mutate: Any = None) -> Any:
    case = copy.deepcopy(_load(fixtures_dir, f"errors/{name}.json"))
    if mutate:
        mutate(case)
    return _protocol.error_for_status(
        case["status"],
        method="POST",
        url="http://127.0.0.1:8188/prompt",
        body=json.dumps(case["response"]),
        content_type=case["content_type"],
        prompt=case["request_body"]["prompt"],
    )


def _ws_execution_error(fixtures_dir: Path) -> dict[str, Any]:
    for line in (fixtures_dir / "ws/error_runtime.jsonl").read_text().splitlines():
        rec = json.loads(line)
        msg = rec.get("msg")
        if isinstance(msg, dict) and msg.get("type") == "execution_error":
            return dict(msg["data"])
    raise AssertionError("no execution_error in the capture")


@pytest.mark.parametrize(
    ("exception_type", "message"),
    [
        ("torch.OutOfMemoryError", "Allocation on device 0 would exceed allowed memory. (out of memory)"),
        (
            "torch.cuda.OutOfMemoryError",
            "CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 8.00 GiB total)",
        ),
        ("RuntimeError", "[enforce fail at alloc_cpu.cpp:114] DefaultCPUAllocator: can't allocate memory"),
        ("RuntimeError", "MPS backend out of memory (MPS allocated: 17.2 GB)"),
    ],
)
def test_out_of_memory(fixtures_dir: Path, exception_type: str, message: str) -> None:
    advice = advise(
        _execution_error(
            fixtures_dir,
            exception_type=exception_type,
            exception_message=message,
            node_id="8",
            node_type="VAEDecode",
        )
    )
    assert advice is not None and advice.code == "out_of_memory"
    assert "node 8 (VAEDecode)" in advice.summary
    text = " ".join(advice.steps)
    assert "resolution" in text and "VAEDecodeTiled" in text and "comfyctl free --unload-models" in text


def test_out_of_memory_from_the_websocket_payload(fixtures_dir: Path) -> None:
    payload = _ws_execution_error(fixtures_dir)
    payload.update(exception_type="torch.OutOfMemoryError", exception_message="Allocation on device")
    advice = advise(_protocol.execution_error(payload["prompt_id"], payload))
    assert advice is not None and advice.code == "out_of_memory"


def test_raw_torch_out_of_memory_exception() -> None:
    class OutOfMemoryError(RuntimeError):  # what torch raises, by name
        pass

    advice = advise(OutOfMemoryError("CUDA out of memory."))
    assert advice is not None and advice.code == "out_of_memory"


@pytest.mark.parametrize(
    "message",
    [
        "Input type (c10::Half) and weight type (float) should be the same",
        "expected scalar type Float but found Half",
        "expected mat1 and mat2 to have the same dtype, but got: float != c10::BFloat16",
        "\"addmm_impl_cpu_\" not implemented for 'Half'",
    ],
)
def test_dtype_mismatch(fixtures_dir: Path, message: str) -> None:
    advice = advise(
        _execution_error(
            fixtures_dir,
            exception_type="RuntimeError",
            exception_message=message,
            node_id="3",
            node_type="KSampler",
        )
    )
    assert advice is not None and advice.code == "dtype_mismatch"
    assert any("--force-fp32" in s for s in advice.steps) and any("VAE" in s for s in advice.steps)


def test_architecture_mismatch(fixtures_dir: Path) -> None:
    message = "mat1 and mat2 shapes cannot be multiplied (154x2048 and 768x320)"
    advice = advise(_execution_error(fixtures_dir, exception_type="RuntimeError", exception_message=message))
    assert advice is not None and advice.code == "model_mismatch"


def test_missing_model_from_value_not_in_list(fixtures_dir: Path) -> None:
    def to_checkpoint(case: dict[str, Any]) -> None:
        case["request_body"]["prompt"]["2"] = {
            "class_type": "CheckpointLoaderSimple",
            "inputs": {"ckpt_name": "sdxl_base.safetensors"},
        }
        err = case["response"]["node_errors"]["2"]
        err["class_type"] = "CheckpointLoaderSimple"
        # > 20 options: the server sends no input_config and says "(list of length N)"
        err["errors"][0].update(
            details="ckpt_name: 'sdxl_base.safetensors' not in (list of length 25)",
            extra_info={
                "input_name": "ckpt_name",
                "input_config": None,
                "received_value": "sdxl_base.safetensors",
            },
        )

    advice = advise(_rejected(fixtures_dir, "value_not_in_list", to_checkpoint))
    assert advice is not None and advice.code == "missing_model"
    assert "sdxl_base.safetensors" in advice.summary and "CheckpointLoaderSimple" in advice.summary
    assert advice.details["folder"] == "checkpoints" and "models/checkpoints/" in advice.steps[0]


def test_a_plain_value_not_in_list_is_not_a_missing_model(fixtures_dir: Path) -> None:
    assert advise(_rejected(fixtures_dir, "value_not_in_list")) is None  # ImageScale upscale_method


def test_missing_model_file_at_run_time(fixtures_dir: Path) -> None:
    message = "[Errno 2] No such file or directory: '/srv/ComfyUI/models/vae/ae.safetensors'"
    advice = advise(
        _execution_error(fixtures_dir, exception_type="FileNotFoundError", exception_message=message)
    )
    assert advice is not None and advice.code == "missing_model"
    assert advice.details["path"] == "/srv/ComfyUI/models/vae/ae.safetensors"
    raw = advise(FileNotFoundError(2, "No such file or directory", "/m/loras/x.safetensors"))
    assert raw is not None and "/m/loras/x.safetensors" in raw.summary


def test_missing_input_file(fixtures_dir: Path) -> None:
    advice = advise(_rejected(fixtures_dir, "custom_validation_loadimage_missing_file"))
    assert advice is not None and advice.code == "missing_input_file"
    assert "comfyctl upload" in advice.steps[0]


def test_node_type_not_found_names_the_package(fixtures_dir: Path) -> None:
    def to_vhs(case: dict[str, Any]) -> None:
        case["request_body"]["prompt"]["1"]["class_type"] = "VHS_LoadVideo"
        case["response"]["error"]["message"] = "Cannot execute because node VHS_LoadVideo does not exist."

    advice = advise(_rejected(fixtures_dir, "missing_node_type", to_vhs))
    assert advice is not None and advice.code == "missing_node"
    assert advice.details["package"] == "ComfyUI-VideoHelperSuite"
    assert "Kosinkadink/ComfyUI-VideoHelperSuite" in advice.steps[0]
    plain = advise(_rejected(fixtures_dir, "missing_node_type"))  # DoesNotExist: no package known
    assert plain is not None and plain.code == "missing_node" and plain.details["package"] is None
    known = advise(_rejected(fixtures_dir, "missing_node_type"), known_packages={"DoesNotExist": "my-pack"})
    assert known is not None and known.details["package"] == "my-pack"


def test_server_500_says_restart_with_the_log_tail() -> None:
    err = _protocol.error_for_status(
        500,
        method="POST",
        url="http://127.0.0.1:8188/prompt",
        body="500 Internal Server Error\n\nServer got itself in trouble",
        content_type="text/plain",
        log_tail="2026-01-01 Traceback ...\nKeyError: 'prompt'",
    )
    advice = advise(err)
    assert advice is not None and advice.code == "server_error"
    assert advice.steps[0].startswith("restart ComfyUI") and "KeyError: 'prompt'" in advice.steps[1]
    assert advice.details["log_tail"].endswith("KeyError: 'prompt'")


def test_auth_and_origin_check() -> None:
    err = _protocol.error_for_status(403, method="GET", url="http://127.0.0.1:8188/queue", body="")
    advice = advise(err)
    assert advice is not None and advice.code == "auth" and any("--token" in s for s in advice.steps)


def test_unreachable_timeout_and_lost() -> None:
    unreachable = advise(ServerUnreachable("connection refused"))
    assert unreachable is not None and unreachable.code == "unreachable"
    assert any("offline submit" in s for s in unreachable.steps)
    timeout = advise(RequestTimeout("slow"))
    assert timeout is not None and timeout.code == "slow_server"
    lost = advise(JobLost("gone", prompt_id="p1"))
    assert lost is not None and lost.code == "job_lost"


def test_unrecognised_errors_get_no_made_up_advice(fixtures_dir: Path) -> None:
    unknown = _execution_error(fixtures_dir, exception_type="ValueError", exception_message="odd state")
    assert advise(unknown) is None
    assert advise(ValueError("x")) is None


def test_queue_stuck_from_the_captured_queue_shape(fixtures_dir: Path) -> None:
    state = _protocol.parse_queue(_load(fixtures_dir, "queue_sample.json"))
    created = state.running[0].extra_data["create_time"] / 1000
    assert queue_advice(state.running, state.pending, now=created + 60) is None
    advice = queue_advice(state.running, state.pending, now=created + 3600, previous_pending=0)
    assert advice is not None and advice.code == "queue_stuck"
    assert state.running[0].prompt_id in advice.steps[0] and "growing" in advice.summary
    assert "comfyctl free" in advice.steps[1]
    raw = _load(fixtures_dir, "queue_sample.json")
    assert queue_advice(raw["queue_running"], raw["queue_pending"], now=created + 3600) is not None


def test_model_folders_and_packages() -> None:
    assert model_folder("CLIPVisionLoader", "clip_name") == "clip_vision"
    assert model_folder("CLIPLoader", "clip_name") == "text_encoders"
    assert model_folder("SomeCustomLoader", "lora_name") == "loras"
    assert model_folder("CheckpointLoader", None, "v1-inference.yaml") == "configs"
    assert model_folder("KSampler", "sampler_name") is None
    expected = {
        "VHS_VideoCombine": "ComfyUI-VideoHelperSuite",
        "FaceDetailer": "ComfyUI-Impact-Pack",
        "IPAdapterAdvanced": "ComfyUI_IPAdapter_plus",
        "DWPreprocessor": "comfyui_controlnet_aux",
        "Power Lora Loader (rgthree)": "rgthree-comfy",
        "Image Blend by Mask": "was-node-suite-comfyui",
        "ImageResizeKJ": "ComfyUI-KJNodes",
        "KSampler (Efficient)": "efficiency-nodes-comfyui",
        "Image Resize +": "ComfyUI_essentials",
    }
    for cls, pkg in expected.items():
        hint = package_for(cls)
        assert hint is not None and hint.name == pkg, cls
    assert package_for("KSampler") is None
    assert package_for("SAMDetectorCombined").name == "ComfyUI-Impact-Pack"  # type: ignore[union-attr]


def test_no_core_node_is_attributed_to_a_custom_package(fixtures_dir: Path) -> None:
    info = _load(fixtures_dir, "object_info.json")
    core = [c for c, d in info.items() if not d["python_module"].startswith("custom_nodes.")]
    assert len(core) > 500
    assert [(c, package_for(c)) for c in core if package_for(c) is not None] == []


def test_offline_validation_problems_get_the_same_advice(fixtures_dir: Path) -> None:
    """Our own validator (before any POST) words problems its way: missing_model, each unknown type."""
    from comfyctl.errors import ValidationError
    from comfyctl.nodedefs import NodeDefs
    from comfyctl.workflow.validate import check

    defs = NodeDefs.from_file(fixtures_dir / "object_info.json")
    loader = {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "flux_dev.safetensors"}},
        "2": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
        "3": {"class_type": "VAEDecode", "inputs": {"samples": ["2", 0], "vae": ["1", 2]}},
        "4": {"class_type": "SaveImage", "inputs": {"images": ["3", 0], "filename_prefix": "x"}},
    }
    with pytest.raises(ValidationError) as info:
        check(loader, defs)
    advice = advise(info.value)
    assert advice is not None and advice.code == "missing_model"
    assert advice.details["folder"] == "checkpoints" and advice.details["value"] == "flux_dev.safetensors"
    unknown = {
        "1": {"class_type": "VHS_LoadVideo", "inputs": {}},
        "2": {"class_type": "IPAdapterUnifiedLoader", "inputs": {}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "x"}},
    }
    with pytest.raises(ValidationError) as info:
        check(unknown, defs)
    advice = advise(info.value)
    assert advice is not None and advice.code == "missing_node"
    assert {m["package"] for m in advice.details["missing"]} == {
        "ComfyUI-VideoHelperSuite",
        "ComfyUI_IPAdapter_plus",
    }
    assert len([s for s in advice.steps if s.startswith("install")]) == 2


def test_output_prefix_outside_the_output_folder(fixtures_dir: Path) -> None:
    # history/error.json is the captured SaveImage run with filename_prefix "../outside/escape".
    error = _execution_error(fixtures_dir)
    assert "outside the output folder" in (error.exception_message or "")
    advice = advise(error)
    assert advice is not None and advice.code == "output_outside_folder"
    assert "filename_prefix" in advice.summary and "node" in advice.summary


def test_execution_error_hint_points_at_the_servers_traceback(fixtures_dir: Path) -> None:
    # in API terms: the CLI's boundary names 'comfyctl history show ID --json' (test_library_hints)
    error = _execution_error(fixtures_dir)
    assert "history_entry(prompt_id)" in error.hint and "traceback" in error.hint


def test_server_rejections_get_a_hint_that_fits_the_problem(fixtures_dir: Path) -> None:
    no_outputs = _rejected(fixtures_dir, "no_outputs")
    assert "output node" in no_outputs.hint
    out_of_range = _rejected(fixtures_dir, "value_out_of_range")
    assert out_of_range.hint == type(out_of_range).default_hint
