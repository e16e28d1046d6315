"""docs/mcp.md and the README describe the server that exists: every tool, valid examples, the config."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import jsonschema  # a dependency of the mcp SDK

from comfyctl.mcp.runtime import Runtime
from comfyctl.mcp.schemas import ErrorOut
from comfyctl.mcp.server import build_server, tool_names
from comfyctl.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
DOC = (ROOT / "docs" / "mcp.md").read_text()
README = (ROOT / "README.md").read_text()


def _schemas() -> dict[str, dict[str, Any]]:
    server = build_server(Runtime(Settings.resolve("http://127.0.0.1:9")))
    return {t.name: t.input_schema for t in asyncio.run(server.list_tools())}


def _tool_sections() -> dict[str, str]:
    tools_part = DOC.split("\n## Tools\n", 1)[1]
    parts = re.split(r"^### `([a-z_]+)`\n", tools_part, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def _json_blocks(text: str) -> list[Any]:
    return [json.loads(b) for b in re.findall(r"```json\n(.*?)\n```", text, flags=re.S)]


def test_docs_list_exactly_the_tools_of_the_server_in_order() -> None:
    assert list(_tool_sections()) == tool_names()


def test_every_tool_example_is_a_valid_call() -> None:
    schemas = _schemas()
    for name, section in _tool_sections().items():
        (example,) = _json_blocks(section)
        assert example["name"] == name
        jsonschema.validate(example["arguments"], schemas[name])
        assert section.split("```json")[0].strip(), f"{name}: no description"


def test_the_error_example_has_the_error_shape() -> None:
    errors = [b for b in _json_blocks(DOC.split("\n## Tools\n")[0]) if "code" in b]
    assert errors
    for doc in errors:
        ErrorOut.model_validate(doc)


def test_host_configuration_snippets_run_comfyctl_mcp() -> None:
    for text in (DOC, README):
        configs = [b for b in _json_blocks(text) if "mcpServers" in b]
        assert configs, "no host configuration snippet"
        for config in configs:
            (server,) = config["mcpServers"].values()
            assert server["command"] == "comfyctl" and server["args"][0] == "mcp"
    assert "comfyctl mcp" in README and "docs/mcp.md" in README
