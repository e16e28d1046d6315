"""Inventory: offline scan of a ComfyUI folder, the cache, the online round trip, workflow checks."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from comfyctl import inventory as inv_mod
from comfyctl.client import Client
from comfyctl.errors import ServerUnreachable, UsageError, WorkflowError
from comfyctl.inventory import (
    Inventory,
    check_workflow,
    get_inventory,
    load_cached,
    load_node_defs,
    save,
    scan,
    scan_custom_node_package,
)


def _write(path: Path, text: str = "") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


@pytest.fixture
def comfy_dir(tmp_path: Path) -> Path:
    """A ComfyUI-shaped folder: models, extra_model_paths.yaml, custom node packages in several styles."""
    root = tmp_path / "ComfyUI"
    _write(root / "comfyui_version.py", '__version__ = "0.8.0"\n')
    _write(root / "main.py")
    for rel in (
        "models/checkpoints/sd15.safetensors",
        "models/checkpoints/sub/xl.ckpt",
        "models/checkpoints/readme.txt",  # not a model extension: not listed (like ComfyUI)
        "models/clip/t5xxl.safetensors",  # legacy name of text_encoders
        "models/unet/flux.sft",  # legacy name of diffusion_models
        "models/ipadapter/ip-plus.bin",  # a folder a custom node registers
        "models/configs/v1-inference.yaml",
        "output/loras/trained.safetensors",  # ComfyUI lists output/loras too
    ):
        _write(root / rel)
    shared = tmp_path / "shared-models"
    for rel in ("models/Lora/style.safetensors", "models/LyCORIS/lyco.safetensors", "sd/base.safetensors"):
        _write(shared / rel)
    _write(tmp_path / "elsewhere/vae/ae.safetensors")
    _write(tmp_path / "elsewhere/up/4x.pth")
    _write(tmp_path / "more_nodes/extra_pack/__init__.py", 'NODE_CLASS_MAPPINGS = {"ExtraNode": object}\n')
    _write(
        root / "extra_model_paths.yaml",
        """
        a111:
            base_path: ../shared-models
            is_default: true
            checkpoints: sd
            loras: |
                models/Lora
                models/LyCORIS
        other:
            vae: ../elsewhere/vae
            upscale_models: [../elsewhere/up]
            custom_nodes: ../more_nodes
        empty:
        """,
    )
    nodes = root / "custom_nodes"
    _write(
        nodes / "ComfyUI-Pack/__init__.py",
        """
        from .nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS
        __all__ = ["NODE_CLASS_MAPPINGS"]
        """,
    )
    _write(
        nodes / "ComfyUI-Pack/nodes.py",
        """
        base = {"PackSpread": object}
        NODE_CLASS_MAPPINGS = {"PackLiteral": object, "Pack Spaced Name": object, **base}
        NODE_CLASS_MAPPINGS.update({"PackUpdated": object})
        NODE_CLASS_MAPPINGS.update(PackKeyword=object)
        NODE_CLASS_MAPPINGS["PackSubscript"] = object
        NODE_DISPLAY_NAME_MAPPINGS = {"PackLiteral": "Pack literal"}
        """,
    )
    _write(
        nodes / "v3_pack/__init__.py",
        """
        from comfy_api.latest import ComfyExtension, io

        class MyNode(io.ComfyNode):
            @classmethod
            def define_schema(cls):
                return io.Schema(node_id="V3Node", display_name="V3", inputs=[], outputs=[])

        class Ext(ComfyExtension):
            async def get_node_list(self):
                return [MyNode]

        async def comfy_entrypoint():
            return Ext()
        """,
    )
    _write(
        nodes / "single_file.py", 'NODE_CLASS_MAPPINGS: dict = dict(SingleA=object, **{"SingleB": object})\n'
    )
    _write(
        nodes / "kj_style/__init__.py",
        """
        NODE_CONFIG = {"KJOne": {"class": object, "name": "One"}, "KJTwo": {"class": object}}

        def generate_node_mappings(config):
            return {k: v["class"] for k, v in config.items()}, {}

        NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS = generate_node_mappings(NODE_CONFIG)
        """,
    )
    _write(
        nodes / "tuple_style.py",
        'NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS = {"TupA": 1}, {"TupA": "A"}\n',
    )
    _write(nodes / "old.disabled/__init__.py", 'NODE_CLASS_MAPPINGS = {"Disabled": object}\n')
    _write(nodes / "broken/__init__.py", "def (:\n")
    marker = tmp_path / "EXECUTED"
    _write(
        nodes / "evil/__init__.py",
        f"open({str(marker)!r}, 'w').close()\nNODE_CLASS_MAPPINGS = {{'Evil': 1}}\n",
    )
    _write(nodes / "notes.txt", "not a package")
    return root


def test_offline_scan_reads_models_yaml_and_custom_nodes_without_running_them(comfy_dir: Path) -> None:
    inv = scan(comfy_dir)
    assert inv.mode == "offline" and inv.comfyui_version == "0.8.0"
    assert inv.server == comfy_dir.resolve().as_uri()
    assert inv.models["checkpoints"][0] != "readme.txt"
    assert set(inv.models["checkpoints"]) == {"sd15.safetensors", "sub/xl.ckpt", "base.safetensors"}
    assert inv.models["text_encoders"] == ("t5xxl.safetensors",)
    assert inv.models["diffusion_models"] == ("flux.sft",)
    assert inv.models["ipadapter"] == ("ip-plus.bin",)
    assert inv.models["configs"] == ("v1-inference.yaml",)
    assert set(inv.models["loras"]) == {"trained.safetensors", "style.safetensors", "lyco.safetensors"}
    assert inv.models["vae"] == ("ae.safetensors",)
    assert inv.models["upscale_models"] == ("4x.pth",)  # a YAML list works too
    pack = {cls for cls, mod in inv.nodes.items() if mod == "custom_nodes.ComfyUI-Pack"}
    assert pack == {
        "PackLiteral",
        "Pack Spaced Name",
        "PackSpread",
        "PackUpdated",
        "PackKeyword",
        "PackSubscript",
    }
    assert inv.nodes["V3Node"] == "custom_nodes.v3_pack"
    assert inv.custom_nodes["kj_style"]["nodes"] == ["KJOne", "KJTwo"]  # built from a config dict
    assert inv.custom_nodes["tuple_style"]["nodes"] == ["TupA"]
    assert inv.nodes["SingleA"] == inv.nodes["SingleB"] == "custom_nodes.single_file"
    assert inv.nodes["ExtraNode"] == "custom_nodes.extra_pack"  # custom_nodes path from the YAML
    assert inv.nodes["Evil"] == "custom_nodes.evil" and not (comfy_dir.parent / "EXECUTED").exists()
    assert "Disabled" not in inv.nodes and "old" not in inv.custom_nodes
    assert inv.custom_nodes["broken"]["nodes"] == []  # unparsable: listed, no classes
    assert "notes" not in inv.custom_nodes
    assert inv.packages["v3_pack"] == ["V3Node"]


def test_extra_model_paths_follow_comfyui_semantics(comfy_dir: Path) -> None:
    entries = inv_mod.extra_model_paths(comfy_dir / "extra_model_paths.yaml")
    shared = (comfy_dir.parent / "shared-models").resolve()
    assert ("checkpoints", shared / "sd", True) in entries
    assert ("loras", shared / "models/LyCORIS", True) in entries
    assert ("vae", (comfy_dir.parent / "elsewhere/vae").resolve(), False) in entries


def test_yaml_errors_are_ours(tmp_path: Path) -> None:
    bad = _write(tmp_path / "extra.yaml", "a: [unclosed\n")
    with pytest.raises(UsageError):
        inv_mod.extra_model_paths(bad)
    with pytest.raises(UsageError):
        scan(tmp_path / "missing")


def test_pyproject_version_when_no_version_file(tmp_path: Path) -> None:
    _write(
        tmp_path / "pyproject.toml",
        '[build-system]\nversion = "9"\n[project]\nname = "ComfyUI"\nversion = "0.7.1"\n',
    )
    assert scan(tmp_path).comfyui_version == "0.7.1"


def test_package_scan_of_a_single_file(tmp_path: Path) -> None:
    f = _write(tmp_path / "one.py", 'NODE_CLASS_MAPPINGS = {}\nNODE_CLASS_MAPPINGS |= {"Or": 1}\n')
    assert scan_custom_node_package(f) == ["Or"]


def test_cache_round_trip_several_servers_in_one_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COMFYCTL_STATE_DIR", str(tmp_path / "st"))
    a = Inventory(
        "online", "http://127.0.0.1:1", 1000.0, "0.8.0", nodes={"A": "nodes"}, models={"vae": ("v",)}
    )
    b = Inventory("offline", "file:///x", 2000.0, nodes={"B": "custom_nodes.p"})
    save(a, object_info={"A": {"python_module": "nodes"}})
    save(b)
    assert load_cached("http://127.0.0.1:1") == a
    assert load_cached("file:///x") == b
    data = json.loads((tmp_path / "st/inventory.json").read_text())
    assert set(data["servers"]) == {"http://127.0.0.1:1", "file:///x"}
    assert data["servers"]["file:///x"]["mode"] == "offline"
    assert load_cached("http://other") is None
    assert not [p for p in (tmp_path / "st").rglob("*.tmp")]


def test_get_inventory_round_trip_against_the_sandbox(sandbox: Any, tmp_path: Path) -> None:
    state = tmp_path / "state"
    (sandbox.root / "models/checkpoints").mkdir(parents=True, exist_ok=True)
    (sandbox.root / "models/checkpoints/first.safetensors").write_bytes(b"x")
    with Client(sandbox.url) as client:
        inv = get_inventory(client, state=state)
        assert inv.mode == "online" and not inv.stale
        assert inv.server == client.url and inv.comfyui_version
        assert "first.safetensors" in inv.models["checkpoints"]
        assert "custom_nodes" not in inv.models
        assert inv.nodes["KSampler"] == "nodes" and inv.devices and inv.system["python_version"]
        assert set(inv.nodes) == set(client.object_info())
        (sandbox.root / "models/checkpoints/second.safetensors").write_bytes(b"x")
        cached = get_inventory(client, state=state)  # fresh cache: not fetched again
        assert cached.created == inv.created and "second.safetensors" not in cached.models["checkpoints"]
        refreshed = get_inventory(client, state=state, refresh=True)
        assert "second.safetensors" in refreshed.models["checkpoints"]
        defs = load_node_defs(client, state=state)
        assert defs["KSampler"].python_module == "nodes"
        url = client.url
    sandbox.stop()
    with Client(url, timeout=2) as client:
        stale = get_inventory(client, state=state, max_age=0)
        assert stale.stale and stale.created == refreshed.created
        assert "KSampler" in load_node_defs(client, state=state, max_age=0)
        with pytest.raises(ServerUnreachable):
            get_inventory(client, state=tmp_path / "empty-state")


def _inventory(**kw: Any) -> Inventory:
    base: dict[str, Any] = {
        "mode": "online",
        "server": "http://127.0.0.1:8188",
        "created": 0.0,
        "nodes": {
            "CheckpointLoaderSimple": "nodes",
            "KSampler": "nodes",
            "VAELoader": "nodes",
            "SaveImage": "nodes",
            "LoraLoader": "nodes",
            "CLIPLoader": "nodes",
        },
        "models": {
            "checkpoints": ("sd15.safetensors",),
            "loras": (),
            "vae": ("ae.safetensors",),
            "text_encoders": (),
        },
    }
    base.update(kw)
    return Inventory(**base)


def test_check_names_missing_nodes_with_package_and_models_with_folder() -> None:
    api = {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sdxl.safetensors"}},
        "2": {
            "class_type": "LoraLoader",
            "inputs": {"lora_name": "sub\\detail.safetensors", "model": ["1", 0]},
        },
        "3": {"class_type": "VAELoader", "inputs": {"vae_name": "pixel_space"}},  # an option, not a file
        "4": {"class_type": "VHS_VideoCombine", "inputs": {}},
        "5": {"class_type": "VHS_VideoCombine", "inputs": {}},  # reported once
        "6": {"class_type": "MysteryNode", "inputs": {"model": "weird.safetensors"}},
        "7": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sd15.safetensors"}},
        "8": {"class_type": "CLIPLoader", "inputs": {"clip_name": "t5.safetensors", "type": "flux"}},
    }
    report = check_workflow(api, _inventory())
    assert not report.ok
    by_kind = {(p.kind, p.node_id): p for p in report.problems}
    assert by_kind[("missing_model", "1")].folder == "checkpoints"
    assert "models/checkpoints/" in by_kind[("missing_model", "1")].message
    assert by_kind[("missing_model", "2")].folder == "loras"
    assert by_kind[("missing_model", "8")].folder == "text_encoders"
    assert by_kind[("missing_node", "4")].package == "ComfyUI-VideoHelperSuite"
    assert "ComfyUI-VideoHelperSuite" in by_kind[("missing_node", "4")].message
    assert by_kind[("missing_node", "6")].package is None
    assert {k for k in by_kind} == {
        ("missing_model", "1"),
        ("missing_model", "2"),
        ("missing_model", "8"),
        ("missing_node", "4"),
        ("missing_node", "6"),
    }
    clean = check_workflow({"7": api["7"], "3": api["3"]}, _inventory())
    assert clean.ok and clean.problems == ()


def test_check_ui_workflow_uses_the_files_own_package_ids_and_widget_values() -> None:
    ui = {
        "nodes": [
            {"id": 4, "type": "CheckpointLoaderSimple", "widgets_values": ["missing.safetensors"]},
            {
                "id": 5,
                "type": "Power Lora Loader (rgthree)",
                "widgets_values": [{}, "x"],
                "properties": {"cnr_id": "rgthree-comfy", "aux_id": "rgthree/rgthree-comfy"},
            },
            {"id": 6, "type": "FancyNode", "properties": {"cnr_id": "comfyui-fancy", "ver": "1.0"}},
            {"id": 7, "type": "Reroute"},
            {"id": 8, "type": "UNETLoader", "widgets_values": ["flux.safetensors", "fp8_e4m3fn"]},
            {"id": 9, "type": "Fast Groups Bypasser (rgthree)"},  # frontend-only
            {"id": 13, "type": "BrandNewCoreNode", "properties": {"cnr_id": "comfy-core", "ver": "0.9.2"}},
            {"id": 10, "type": "MutedMissing", "mode": 2},  # muted: never sent
            {"id": 11, "type": "BypassedMissing", "mode": 4},
            {"id": 12, "type": "sub-uuid-1"},  # a subgraph instance
        ],
        "links": [],
        "definitions": {
            "subgraphs": [
                {"id": "sub-uuid-1", "nodes": [{"id": 1, "type": "InnerMissing", "widgets_values": []}]}
            ]
        },
    }
    report = check_workflow(ui, _inventory())
    found = {(p.kind, p.node_id): p for p in report.problems}
    assert found[("missing_model", "4")].folder == "checkpoints"
    assert found[("missing_node", "5")].repo == "rgthree/rgthree-comfy"
    assert found[("missing_node", "6")].package == "comfyui-fancy"
    assert ("missing_node", "7") not in found  # frontend-only node
    assert ("missing_node", "8") in found  # UNETLoader is not in this inventory
    assert ("missing_model", "8") not in found  # ...so its widgets are not checked as files
    assert {p.class_type for p in report.problems if p.kind == "missing_node"} == {
        "Power Lora Loader (rgthree)",
        "FancyNode",
        "UNETLoader",
        "InnerMissing",
        "BrandNewCoreNode",
    }
    core = found[("missing_node", "13")]
    assert core.package == "comfy-core" and "update ComfyUI" in core.message and "0.9.2" in core.message


def test_check_warns_about_low_vram_and_rejects_non_workflows() -> None:
    gpu = {"name": "cuda:0 RTX", "type": "cuda", "vram_total": 8 * 1024**3, "vram_free": 512 * 1024**2}
    report = check_workflow({}, _inventory(devices=(gpu,)))
    assert report.ok and [p.kind for p in report.problems] == ["low_vram"]
    cpu = dict(gpu, type="cpu")
    assert check_workflow({}, _inventory(devices=(cpu,))).problems == ()
    with pytest.raises(WorkflowError):
        check_workflow({"1": {"inputs": {}}}, _inventory())


def test_missing_pyyaml_is_a_clear_error(comfy_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "yaml", None)  # import yaml -> ImportError
    with pytest.raises(UsageError) as info:
        scan(comfy_dir)
    assert "PyYAML" in info.value.message and "comfyctl[yaml]" in info.value.hint
    (comfy_dir / "extra_model_paths.yaml").unlink()
    assert scan(comfy_dir).models["checkpoints"]  # no YAML file: no YAML needed


def test_malformed_workflows_and_cache_files_do_not_crash(tmp_path: Path) -> None:
    odd_api = {"1": {"class_type": "KSampler", "inputs": ["not", "a", "dict"]}}
    assert check_workflow(odd_api, _inventory()).ok
    odd_ui = {"nodes": [{"id": 1, "type": "VAELoader", "widgets_values": "x", "properties": []}, "junk"]}
    assert check_workflow(odd_ui, _inventory()).ok
    (tmp_path / "inventory.json").write_text("{not json")
    assert load_cached("http://127.0.0.1:1", state=tmp_path) is None  # ignored (and logged), refetched later
    save(Inventory("online", "http://127.0.0.1:1", 5.0), state=tmp_path)
    assert load_cached("http://127.0.0.1:1", state=tmp_path) is not None


def test_a_fresh_cache_costs_no_request(sandbox: Any, tmp_path: Path) -> None:
    import httpx

    seen: list[str] = []

    class Counting(httpx.HTTPTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            seen.append(request.url.path)
            return super().handle_request(request)

    with Client(sandbox.url, transport=Counting()) as client:
        get_inventory(client, state=tmp_path)
        assert "/api/object_info" in seen or "/object_info" in seen
        seen.clear()
        get_inventory(client, state=tmp_path)
        defs = load_node_defs(client, state=tmp_path)
        assert seen == [] and "KSampler" in defs  # /object_info fetched once, reused


def test_check_finds_missing_textual_inversion_embeddings() -> None:
    inv = _inventory(
        nodes={"CLIPTextEncode": "nodes"},
        models={"embeddings": ("present.safetensors", "sub/deep.pt")},
    )
    text = (
        "a cat, embedding:EasyNegative, (embedding:bad_hands:1.2)\n"
        "embedding:present noembedding:x embedding:sub/deep"
    )
    report = check_workflow({"6": {"class_type": "CLIPTextEncode", "inputs": {"text": text}}}, inv)
    missing = [(p.value, p.folder, p.input_name) for p in report.problems]
    assert missing == [("EasyNegative", "embeddings", "text"), ("bad_hands", "embeddings", "text")]
    assert "models/embeddings/" in report.problems[0].message


def test_scan_of_a_folder_that_is_not_comfyui_says_so(tmp_path: Path) -> None:
    (tmp_path / "photos").mkdir()
    with pytest.raises(UsageError, match="does not look like a ComfyUI folder"):
        scan(tmp_path / "photos")
    (tmp_path / "photos" / "models").mkdir()
    assert scan(tmp_path / "photos").mode == "offline"  # a bare models/ folder is enough
