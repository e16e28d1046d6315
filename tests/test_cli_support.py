"""Helpers shared by the CLI tests: invoke the CLI, check JSON against docs/cli.md schemas.

(Named ``test_cli_*`` to sit with the CLI tests; it holds no tests itself.)
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from comfyctl.cli.main import cli

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "cli.md"
_BLOCK = re.compile(r"```json (schema|example)=(\w+)\n(.*?)```", re.S)


def doc_blocks() -> tuple[dict[str, Any], dict[str, Any]]:
    """(schemas, examples) from docs/cli.md, keyed by name."""
    schemas: dict[str, Any] = {}
    examples: dict[str, Any] = {}
    for kind, name, body in _BLOCK.findall(DOC.read_text(encoding="utf-8")):
        (schemas if kind == "schema" else examples)[name] = json.loads(body)
    return schemas, examples


_TYPES = {
    "object": dict,
    "array": list,
    "string": str,
    "boolean": bool,
    "null": type(None),
    "integer": int,
    "number": (int, float),
}


def schema_errors(
    value: Any, schema: dict[str, Any], root: dict[str, Any] | None = None, path: str = "$"
) -> list[str]:
    """A small JSON Schema subset (type, const, enum, required, properties, items,
    additionalProperties, oneOf, $ref to #/$defs): enough for docs/cli.md, no extra dependency."""
    root = root or schema
    if "$ref" in schema:
        name = schema["$ref"].removeprefix("#/$defs/")
        return schema_errors(value, root["$defs"][name], root, path)
    errors: list[str] = []
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        ok = any(
            isinstance(value, _TYPES[t]) and not (t in ("integer", "number") and isinstance(value, bool))
            for t in types
        )
        if not ok:
            return [f"{path}: {value!r} is not of type {types}"]
    if "const" in schema and value != schema["const"]:
        errors.append(f"{path}: {value!r} != {schema['const']!r}")
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{path}: {value!r} not in {schema['enum']}")
    if "oneOf" in schema:
        matches = [s for s in schema["oneOf"] if not schema_errors(value, s, root, path)]
        if len(matches) != 1:
            errors.append(f"{path}: matches {len(matches)} of oneOf")
    if isinstance(value, dict):
        for key in schema.get("required", []):
            if key not in value:
                errors.append(f"{path}: missing {key!r}")
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            if key in props:
                errors += schema_errors(item, props[key], root, f"{path}.{key}")
            elif isinstance(extra, dict):
                errors += schema_errors(item, extra, root, f"{path}.{key}")
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            errors += schema_errors(item, schema["items"], root, f"{path}[{i}]")
    return errors


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)

    def error_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.startswith("error:")]


def invoke(*args: Any, url: str | None = None, input: str | bytes | None = None) -> Outcome:
    """Run ``comfyctl [--url URL] ARGS`` in-process through the real error boundary."""
    argv = [str(a) for a in args]
    if url is not None:
        argv = ["--url", url, *argv]
    result = CliRunner().invoke(cli, argv, input=input, catch_exceptions=False)
    return Outcome(result.exit_code, result.stdout, result.stderr)


def assert_schema(value: Any, name: str) -> None:
    schemas, _ = doc_blocks()
    errors = schema_errors(value, schemas[name])
    assert not errors, f"{name}: {errors}\n{json.dumps(value, indent=2)[:2000]}"


def assert_error(outcome: Outcome, exit_code: int, code: str) -> dict[str, Any]:
    """A ``--json`` failure: the exit code, one error document on stdout (docs/cli.md), its code."""
    assert outcome.code == exit_code, (outcome.code, outcome.stdout, outcome.stderr)
    doc = outcome.json()
    assert_schema(doc, "error")
    assert doc["error"]["code"] == code, doc
    return dict(doc["error"])


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def closed_url() -> str:
    """A loopback URL nothing listens on."""
    return f"http://127.0.0.1:{_closed_port()}"
