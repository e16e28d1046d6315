"""Loading workflows: format detection, images with embedded metadata, and one-line errors."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from PIL import Image, PngImagePlugin

from comfyctl.errors import WorkflowError
from comfyctl.workflow import LoadedWorkflow, image_metadata, load
from conftest import FIXTURES

API = {
    "1": {"class_type": "EmptyImage", "inputs": {"width": 8}},
    "2": {"class_type": "SaveImage", "inputs": {}},
}
UI = {"nodes": [{"id": 1, "type": "EmptyImage"}], "links": []}


def test_api_ui_and_wrapper_are_detected_from_every_kind_of_source(tmp_path: Path) -> None:
    path = tmp_path / "api.json"
    path.write_text(json.dumps(API))
    for source in (path, str(path), json.dumps(API), API, json.dumps(API).encode()):
        loaded = load(source)
        assert (loaded.format, loaded.api, loaded.ui) == ("api", API, None)
    assert load(path).source == str(path) and load(API).source == "<dict>"

    ui = load(json.dumps(UI))
    assert (ui.format, ui.api, ui.ui, ui.needs_conversion) == ("ui", None, UI, True)

    body = {"prompt": API, "client_id": "abc", "extra_data": {"extra_pnginfo": {"workflow": UI}}}
    wrapped = load(body)
    assert (wrapped.format, wrapped.api, wrapped.ui) == ("wrapper", API, UI)
    assert wrapped.extra == {"client_id": "abc", "extra_data": body["extra_data"]}
    side_by_side = load({"prompt": API, "workflow": UI})
    assert (side_by_side.format, side_by_side.api, side_by_side.ui) == ("wrapper", API, UI)


def test_shared_fixture_workflows_load() -> None:
    for path in sorted((FIXTURES / "ui2api").glob("*.ui.json"))[:5]:
        assert load(path).format == "ui"
    for path in sorted((FIXTURES / "ui2api").glob("*.api.json"))[:5]:
        assert load(path).format == "api"


def test_bom_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "bom.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(API).encode())
    assert load(path).api == API


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be"])
def test_utf16_with_bom_is_accepted(tmp_path: Path, encoding: str) -> None:
    # Windows PowerShell 5's Out-File / '>' write UTF-16 with a BOM
    path = tmp_path / "ps.json"
    bom = b"\xfe\xff" if encoding.endswith("be") else b""
    path.write_bytes(bom + json.dumps(API, indent=1).replace("\n", "\r\n").encode(encoding))
    assert load(path).api == API


def _png(texts: dict[str, str], *, compressed: bool = False) -> bytes:
    info = PngImagePlugin.PngInfo()
    for key, value in texts.items():
        if compressed:
            info.add_itxt(key, value, zip=True)
        else:
            info.add_text(key, value)
    buf = io.BytesIO()
    Image.new("RGB", (2, 2)).save(buf, "PNG", pnginfo=info)
    return buf.getvalue()


@pytest.mark.parametrize("compressed", [False, True])
def test_png_saved_by_comfyui(tmp_path: Path, compressed: bool) -> None:
    path = tmp_path / "out.png"
    path.write_bytes(_png({"prompt": json.dumps(API), "workflow": json.dumps(UI)}, compressed=compressed))
    loaded = load(path)
    assert (loaded.format, loaded.api, loaded.ui) == ("api", API, UI)
    only_ui = load(_png({"workflow": json.dumps(UI)}))
    assert (only_ui.format, only_ui.api, only_ui.ui) == ("ui", None, UI)


def test_webp_saved_by_comfyui(tmp_path: Path) -> None:
    # ComfyUI's SaveAnimatedWEBP: EXIF 0x0110 = "prompt:{...}", 0x010F = "workflow:{...}".
    image = Image.new("RGB", (2, 2))
    exif = image.getexif()
    exif[0x0110] = "prompt:" + json.dumps(API)
    exif[0x010F] = "workflow:" + json.dumps(UI)
    buf = io.BytesIO()
    image.save(buf, "WEBP", exif=exif)
    path = tmp_path / "out.webp"
    path.write_bytes(buf.getvalue())
    loaded = load(path)
    assert (loaded.api, loaded.ui) == (API, UI)
    assert set(image_metadata(buf.getvalue())) == {"prompt", "workflow"}


def test_image_without_metadata_says_so() -> None:
    with pytest.raises(WorkflowError, match="no ComfyUI workflow"):
        load(_png({"Software": "x"}))


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"", "is empty"),
        (b"  \n", "is empty"),
        (b"\x80\x00{", "not UTF-8"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "is a JPEG image"),
        (b'{"a": 1,\n  "b": }', "line 2, column 8"),
        (b"[1, 2]", "not a list"),
        (b"42", "not a number"),
        (b'"text"', "not a string"),
        (b"{}", "empty object"),
        (b'{"a": {"b": 1}}', "neither an API workflow"),
        (b'{"1": {"class_type": "X"}, "2": {"inputs": {}}}', "node(s) 2 have no 'class_type'"),
        (b'{"prompt": {"1": {"inputs": {}}}}', "'prompt' object"),
        (b'{"1": {"class_type": 42}, "2": {"inputs": {}}}', "node(s) 2 have no 'class_type'"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\x10tEXtab", "truncated"),
    ],
)
def test_bad_files_give_one_line_workflow_errors(tmp_path: Path, content: bytes, needle: str) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    with pytest.raises(WorkflowError) as info:
        load(path)
    assert needle in info.value.message
    assert "\n" not in info.value.message


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(WorkflowError, match="no such file"):
        load(tmp_path / "nope.json")
    with pytest.raises(WorkflowError, match="is a directory"):
        load(tmp_path)
    with pytest.raises(WorkflowError):
        load("")


def test_loaded_workflow_is_frozen() -> None:
    loaded = load(API)
    assert isinstance(loaded, LoadedWorkflow)
    with pytest.raises(AttributeError):
        loaded.format = "ui"  # type: ignore[misc]


def test_to_api_uses_the_embedded_prompt_or_converts_the_graph() -> None:
    from comfyctl.errors import ConversionError
    from comfyctl.nodedefs import NodeDefs

    assert load(API).to_api() == API
    ui = load(FIXTURES / "ui2api" / "edge_bypass.ui.json")
    with pytest.raises(ConversionError, match="node definitions are needed"):
        ui.to_api()
    defs = NodeDefs(json.loads((FIXTURES / "object_info.json").read_text()))
    assert ui.to_api(defs) == json.loads((FIXTURES / "ui2api" / "edge_bypass.api.json").read_text())


def test_endless_or_huge_input_is_refused_without_reading_it_all(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib
    import os

    load_mod = importlib.import_module("comfyctl.workflow.load")  # the package re-exports load()

    if not os.path.exists("/dev/zero"):
        pytest.skip("needs /dev/zero")
    monkeypatch.setattr(load_mod, "MAX_FILE_BYTES", 4096)
    with pytest.raises(WorkflowError, match="over"):  # was: read forever (`comfyctl run /dev/zero`)
        load("/dev/zero")
