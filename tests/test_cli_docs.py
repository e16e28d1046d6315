"""docs/cli.md is the machine contract: its examples must satisfy its own schemas."""

from __future__ import annotations

import re

import click
import pytest

from test_cli_support import DOC, doc_blocks, schema_errors

SCHEMAS, EXAMPLES = doc_blocks()


def test_every_schema_has_an_example() -> None:
    assert set(SCHEMAS) == set(EXAMPLES)
    assert len(SCHEMAS) >= 20


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_example_matches_schema(name: str) -> None:
    assert schema_errors(EXAMPLES[name], SCHEMAS[name]) == []


def test_validator_rejects_wrong_shapes() -> None:
    """The mini validator used against real outputs does catch mismatches."""
    status = dict(EXAMPLES["status"])
    del status["queue"]
    assert schema_errors(status, SCHEMAS["status"])
    bad = {**EXAMPLES["cancel"], "outcome": "not_found"}
    assert schema_errors(bad, SCHEMAS["cancel"])
    assert schema_errors({"running": [{"prompt_id": 1}], "pending": []}, SCHEMAS["queue"])
    doctor = {**EXAMPLES["doctor"], "checks": [{"name": "x", "status": "bad", "message": "", "advice": None}]}
    assert schema_errors(doctor, SCHEMAS["doctor"])
    rejected = EXAMPLES["offline_submit"]["submitted"][1]
    assert schema_errors({"submitted": [{**rejected, "error": {"code": "x"}}]}, SCHEMAS["offline_submit"])
    assert schema_errors({**EXAMPLES["inventory"], "nodes": {"KSampler": 1}}, SCHEMAS["inventory"])


def _command_paths() -> list[str]:
    """Every command and subcommand name that prints a result, e.g. ``offline submit`` (a group
    without ``invoke_without_command`` only prints its help)."""
    from comfyctl.cli.main import LAZY_COMMANDS, cli

    ctx = click.Context(cli)

    def walk(cmd: click.Command | None, path: str) -> list[str]:
        assert cmd is not None, f"{path}: command module missing"
        if not isinstance(cmd, click.Group):
            return [path]
        subs = [p for n in cmd.list_commands(ctx) for p in walk(cmd.get_command(ctx, n), f"{path} {n}")]
        return [path, *subs] if cmd.invoke_without_command else subs

    return [p for name in LAZY_COMMANDS for p in walk(cli.get_command(ctx, name), name)]


def test_every_command_is_documented() -> None:
    """A command added without its --json contract fails here (``sandbox`` prints no JSON: it serves)."""
    headings = DOC.read_text(encoding="utf-8").split("\n## ")[1:]
    named = {m for h in headings for m in re.findall(r"`([a-z][a-z ]*)`", h.splitlines()[0])}
    missing = [
        p
        for p in _command_paths()
        if p != "sandbox" and p not in named and not (p.endswith(" ls") and p[:-3] in named)
    ]
    assert missing == []
