"""docs/cli.md is the machine contract: its examples must satisfy its own schemas."""

from __future__ import annotations

import pytest

from test_cli_support import doc_blocks, schema_errors

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
