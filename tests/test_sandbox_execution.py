"""The sandbox runs workflows like ComfyUI 0.8.0: real Pillow files, order, cache, errors, interrupts."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from PIL import Image

from comfyctl.testing import Sandbox
from sandbox_helpers import HTTP, Socket, submit, types, workflow

SEVEN = {  # the seven real nodes, end to end
    "1": {"class_type": "LoadImage", "inputs": {"image": "example.png"}},
    "2": {
        "class_type": "ImageScale",
        "inputs": {
            "image": ["1", 0],
            "upscale_method": "bilinear",
            "width": 64,
            "height": 32,
            "crop": "center",
        },
    },
    "3": {"class_type": "ImageInvert", "inputs": {"image": ["2", 0]}},
    "4": {"class_type": "ImageBlur", "inputs": {"image": ["3", 0], "blur_radius": 2, "sigma": 1.0}},
    "5": {"class_type": "SaveImage", "inputs": {"images": ["4", 0], "filename_prefix": "seven/out"}},
    "6": {
        "class_type": "EmptyImage",
        "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0xFF0000},
    },
    "7": {"class_type": "PreviewImage", "inputs": {"images": ["6", 0]}},
}


def run(
    sb: Sandbox, prompt: dict[str, Any], client_id: str = "t", **body: Any
) -> tuple[str, list[dict[str, Any]]]:
    with Socket(sb.url, client_id) as ws:
        ws.recv()
        prompt_id = submit(sb.url, prompt, client_id=client_id, **body)["prompt_id"]
        return prompt_id, ws.until_done(prompt_id)


def executed(frames: list[dict[str, Any]]) -> dict[str, Any]:
    return {f["data"]["node"]: f["data"]["output"] for f in frames if f["type"] == "executed"}


def test_seven_real_nodes_write_viewable_images(sandbox: Sandbox) -> None:
    prompt_id, frames = run(sandbox, SEVEN)
    outputs = executed(frames)
    saved = outputs["5"]["images"][0]
    assert saved == {"filename": "out_00001_.png", "subfolder": "seven", "type": "output"}
    png = HTTP.get(sandbox.url + "/view", params=saved).content
    with Image.open(io.BytesIO(png)) as img:
        assert img.size == (64, 32)
        assert json.loads(img.text["prompt"])["5"]["class_type"] == "SaveImage"  # metadata embedded
    preview = outputs["7"]["images"][0]
    assert preview["type"] == "temp" and preview["filename"].startswith("ComfyUI_temp_")
    with Image.open(sandbox.temp_dir / preview["filename"]) as img:
        assert img.getpixel((0, 0)) == (255, 0, 0)
    entry = HTTP.get(f"{sandbox.url}/history/{prompt_id}").json()[prompt_id]
    assert entry["outputs"]["5"] == outputs["5"]
    assert entry["status"]["status_str"] == "success" and entry["status"]["completed"] is True
    assert [m[0] for m in entry["status"]["messages"]] == [
        "execution_start",
        "execution_cached",
        "execution_success",
    ]
    assert entry["meta"]["5"] == {
        "node_id": "5",
        "display_node": "5",
        "parent_node": None,
        "real_node_id": "5",
    }


def test_counter_continues_per_prefix(sandbox: Sandbox) -> None:
    changed = json.loads(json.dumps(SEVEN))
    run(sandbox, SEVEN)
    changed["4"]["inputs"]["blur_radius"] = 3  # a change upstream of SaveImage: it runs again
    _, frames = run(sandbox, changed)
    assert executed(frames)["5"]["images"][0]["filename"] == "out_00002_.png"


def test_execution_order_outputs_first_like_the_executor(sandbox: Sandbox) -> None:
    _, frames = run(sandbox, workflow("success"))
    order = [f["data"]["node"] for f in frames if f["type"] == "executing" and f["data"]["node"]]
    assert order == ["1", "4", "2", "3", "5", "6"]  # the order ComfyUI chose in ws/success.jsonl


def test_identical_resubmission_is_cached(sandbox: Sandbox) -> None:
    _, first = run(sandbox, workflow("success"))
    _, second = run(sandbox, workflow("success"))
    cached = next(f for f in second if f["type"] == "execution_cached")
    assert sorted(cached["data"]["nodes"]) == ["1", "2", "3", "4", "5", "6"]
    assert not [f for f in second if f["type"] == "executing" and f["data"]["node"] is not None]
    assert executed(second) == executed(first)  # same files reported, none re-written
    assert len(list((sandbox.output_dir / "apiref").iterdir())) == 2


def test_runtime_error_for_prefix_escaping_output(sandbox: Sandbox) -> None:
    prompt_id, frames = run(sandbox, workflow("runtime_error"))
    error = next(f["data"] for f in frames if f["type"] == "execution_error")
    assert (
        error["node_id"] == "3"
        and error["node_type"] == "SaveImage"
        and error["exception_type"] == "Exception"
    )
    assert error["exception_message"].startswith(
        "**** ERROR: Saving image outside the output folder is not allowed."
    )
    assert sorted(error["executed"]) == ["1", "2"]
    assert set(error) >= {"traceback", "current_inputs", "current_outputs", "timestamp"}
    # declared inputs in order, then the hidden ones the server fills in, values str-ified in lists
    assert list(error["current_inputs"]) == ["images", "filename_prefix", "prompt", "extra_pnginfo"]
    assert error["current_inputs"]["filename_prefix"] == ["../outside/escape"]
    assert error["current_inputs"]["extra_pnginfo"] == [None]
    assert error["current_inputs"]["prompt"][0].startswith("{'1': {'class_type': 'EmptyImage'")
    assert sorted(error["current_outputs"]) == ["1", "2", "3"]
    assert types(frames)[-3:] == ["execution_error", "status", "executing"]
    entry = HTTP.get(f"{sandbox.url}/history/{prompt_id}").json()[prompt_id]
    assert entry["status"]["status_str"] == "error" and entry["status"]["completed"] is False
    assert entry["outputs"] == {}


def test_injected_node_error_uses_requested_type(sandbox: Sandbox) -> None:
    sandbox.faults.node("ImageInvert", error="CUDA out of memory", exception_type="torch.OutOfMemoryError")
    prompt = workflow("runtime_error")
    prompt["2"]["inputs"]["not_an_input"] = 5  # unknown inputs are ignored, never passed to the node
    _, frames = run(sandbox, prompt)
    error = next(f["data"] for f in frames if f["type"] == "execution_error")
    assert (error["node_id"], error["exception_type"]) == ("2", "torch.OutOfMemoryError")
    assert error["exception_message"] == "CUDA out of memory\n"
    assert list(error["current_inputs"]) == ["image"]


def test_every_node_class_runs_as_placeholder(sandbox: Sandbox) -> None:
    prompt = workflow("outputs_zoo")
    prompt["1"]["inputs"]["image"] = "example.png"
    prompt["2"]["inputs"]["image"] = "example.png"
    _prompt_id, frames = run(sandbox, prompt)
    out = executed(frames)
    assert out["4"]["animated"] == [True] and out["4"]["images"][0]["filename"].endswith(".webp")
    assert out["10"]["images"][0]["filename"].endswith(".mp4") and out["10"]["animated"] == [True]
    assert out["13"]["images"][0]["filename"].endswith(".webm")
    assert out["7"]["latents"][0]["filename"] == "latent_00001_.latent"
    assert out["11"] == {"text": ["hello"]}
    assert out["8"]["animated"] == [False]
    # counters are per prefix and ignore the extension: anim_00001_.x then anim_00002_.y
    names = [out["4"]["images"][0]["filename"], out["5"]["images"][0]["filename"]]
    assert sorted(n.rsplit(".", 1)[0] for n in names) == ["anim_00001_", "anim_00002_"]
    with Image.open(sandbox.output_dir / "apiref" / names[0]) as img:
        assert img.format == "WEBP"


def test_placeholder_outputs_for_model_workflow(sandbox: Sandbox) -> None:
    prompt = {
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "x.safetensors"}},
        "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a cat", "clip": ["4", 1]}},
        "3": {
            "class_type": "KSampler",
            "inputs": {
                "model": ["4", 0],
                "positive": ["6", 0],
                "negative": ["6", 0],
                "latent_image": ["5", 0],
                "seed": 1,
                "steps": 2,
                "cfg": 7.0,
                "sampler_name": "euler",
                "scheduler": "normal",
                "denoise": 1.0,
            },
        },
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
        "9": {"class_type": "SaveImage", "inputs": {"images": ["8", 0], "filename_prefix": "ComfyUI"}},
    }
    # ckpt_name is a combo of the server's files: the sandbox lists its own models/ folder at request time
    assert HTTP.post(sandbox.url + "/prompt", json={"prompt": prompt}).status_code == 400
    assert sandbox.root is not None
    (sandbox.root / "models" / "checkpoints" / "x.safetensors").parent.mkdir(parents=True, exist_ok=True)
    (sandbox.root / "models" / "checkpoints" / "x.safetensors").write_bytes(b"")
    _, frames = run(sandbox, prompt, extra_data={"preview_method": "auto"})
    assert executed(frames)["9"]["images"][0]["filename"] == "ComfyUI_00001_.png"
    # the sampler reports its steps like a real one, with latent previews when a preview method is on
    steps = [
        (f["data"]["node"], f["data"]["value"], f["data"]["max"]) for f in frames if f["type"] == "progress"
    ]
    assert steps == [("3", 1, 2), ("3", 2, 2)]
    assert [f["format"] for f in frames if f["type"] == "binary"] == [1, 1]  # JPEG, legacy type 1


def test_interrupt_lands_on_progress_update(sandbox: Sandbox) -> None:
    sandbox.faults.node("2", delay=3.0, steps=30)
    with Socket(sandbox.url, "t") as ws:
        ws.recv()
        prompt_id = submit(sandbox.url, workflow("runtime_error"), client_id="t")["prompt_id"]
        ws.until(lambda f: f["type"] == "progress")
        HTTP.post(sandbox.url + "/interrupt", json={"prompt_id": "someone-else"})  # not running: ignored
        ws.until(lambda f: f["type"] == "progress" and f["data"]["value"] >= 3)
        HTTP.post(sandbox.url + "/interrupt", json={"prompt_id": prompt_id})
        frames = ws.until_done(prompt_id)
    interrupted = next(f["data"] for f in frames if f["type"] == "execution_interrupted")
    assert interrupted["node_id"] == "2" and interrupted["executed"] == ["1"]
    assert max(f["data"]["value"] for f in ws.frames if f["type"] == "progress") < 30
    entry = HTTP.get(f"{sandbox.url}/history/{prompt_id}").json()[prompt_id]
    assert (
        entry["status"]["messages"][-1][0] == "execution_interrupted"
        and entry["status"]["completed"] is False
    )


def test_interrupt_without_progress_waits_for_next_node(sandbox: Sandbox) -> None:
    sandbox.faults.node("2", delay=0.3)  # no progress bar: the node cannot be stopped
    with Socket(sandbox.url, "t") as ws:
        ws.recv()
        prompt_id = submit(sandbox.url, workflow("runtime_error"), client_id="t")["prompt_id"]
        ws.until(lambda f: f["type"] == "executing" and f["data"]["node"] == "2")
        HTTP.post(sandbox.url + "/interrupt")
        frames = ws.until_done(prompt_id)
    interrupted = next(f["data"] for f in frames if f["type"] == "execution_interrupted")
    assert interrupted["node_id"] == "3" and sorted(interrupted["executed"]) == ["1", "2"]
    assert next(f["data"]["node"] for f in frames if f["type"] == "executing") == "3"  # announced, raised


def test_progress_and_previews_legacy_vs_metadata(sandbox: Sandbox) -> None:
    sandbox.faults.node("2", steps=2)
    with Socket(sandbox.url, "legacy") as legacy:
        legacy.recv()
        prompt_id = submit(sandbox.url, workflow("runtime_error"), client_id="legacy")["prompt_id"]
        frames = legacy.until_done(prompt_id)
    seq = types(frames)
    i = seq.index("progress")
    assert seq[i : i + 4] == ["progress", "bin1", "progress", "bin1"]  # legacy: progress, then type 1
    with Socket(sandbox.url, "modern", flags=True) as modern:
        assert modern.recv()["type"] == "status"
        assert modern.recv()["type"] == "feature_flags"
        sandbox.faults.node("2", steps=2)
        prompt = workflow("runtime_error")
        prompt["2"]["inputs"]["image"] = ["1", 0]
        prompt["1"]["inputs"]["color"] = 1  # not cached: runs again
        prompt_id = submit(sandbox.url, prompt, client_id="modern")["prompt_id"]
        frames = modern.until_done(prompt_id)
    seq = types(frames)
    i = seq.index("bin4")
    assert seq[i : i + 4] == ["bin4", "progress", "bin4", "progress"]  # negotiated: type 4 first
    meta = next(f for f in frames if f["type"] == "binary")["metadata"]
    assert meta == {
        "node_id": "2",
        "prompt_id": prompt_id,
        "display_node_id": "2",
        "parent_node_id": None,
        "real_node_id": "2",
        "image_type": "image/jpeg",
    }


def test_save_image_websocket_sends_png_previews(sandbox: Sandbox) -> None:
    _, frames = run(sandbox, workflow("binary_small"))
    previews = [f for f in frames if f["type"] == "binary"]
    assert [p["event"] for p in previews] == [1, 1] and previews[0]["format"] == 2
    with Image.open(io.BytesIO(previews[0]["image"])) as img:
        assert img.size == (16, 16)
    assert [f["data"]["value"] for f in frames if f["type"] == "progress"] == [0, 1]
    assert not executed(frames)  # no UI: no executed


def test_get_image_size_text_frame_is_broadcast(sandbox: Sandbox) -> None:
    with Socket(sandbox.url, "observer") as observer:
        observer.recv()
        prompt_id, _ = run(sandbox, workflow("success"))
        text = observer.until(lambda f: f["type"] == "binary")[-1]
    assert (text["event"], text["node_id"], text["text"]) == (3, "5", "width: 64, height: 48\n batch size: 2")
    assert prompt_id


@pytest.mark.parametrize("free", [False, True])
def test_free_memory_drops_the_cache(sandbox: Sandbox, free: bool) -> None:
    run(sandbox, workflow("success"))
    if free:
        assert HTTP.post(sandbox.url + "/free", json={"free_memory": True}).status_code == 200
        run(
            sandbox, {"1": {"class_type": "PreviewAny", "inputs": {"source": "x"}}}
        )  # flags apply after a prompt
    _, frames = run(sandbox, workflow("success"))
    cached = next(f for f in frames if f["type"] == "execution_cached")["data"]["nodes"]
    assert (cached == []) is free
