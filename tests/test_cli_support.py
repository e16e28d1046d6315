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
from jsonschema import Draft202012Validator
from jsonschema.validators import validator_for

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


def schema_errors(value: Any, schema: dict[str, Any]) -> list[str]:
    """Where ``value`` breaks ``schema`` (JSON Schema 2020-12, checked by jsonschema), as ``path: why``."""
    validator_class = validator_for(schema, default=Draft202012Validator)
    validator_class.check_schema(schema)  # a broken schema in docs/cli.md is an error, not a pass
    found = validator_class(schema).iter_errors(value)
    return [f"{e.json_path}: {e.message}" for e in sorted(found, key=lambda e: e.json_path)]


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
