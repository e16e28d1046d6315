"""Shared test setup: a clean environment for every test, the path to the captured fixtures."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from pg_cluster import PgCluster

ROOT = Path(__file__).resolve().parent.parent
#: Data captured from a real ComfyUI 0.8.0, kept in the repo (provenance: tests/data/fixtures/README.md).
FIXTURES = ROOT / "tests" / "data" / "fixtures"


def load_json(text: str) -> dict[str, Any]:
    """A JSON object from text (a fixture file's), typed for the tests."""
    value = json.loads(text)
    assert isinstance(value, dict), type(value)
    return value


_ENV_PREFIXES = ("COMFYUI_", "COMFYCTL_")
#: Read once at import, before the autouse fixture cleans the environment.
LIVE_URL = os.environ.get("COMFYUI_URL")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test sees the developer's COMFYUI_* settings or config file, except the live URL."""
    for key in list(os.environ):
        if key.startswith(_ENV_PREFIXES):
            monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))


@pytest.fixture
def fixtures_dir() -> Path:
    return FIXTURES


@pytest.fixture
def live_url() -> str:
    """The real ComfyUI named by COMFYUI_URL; live tests are skipped without it."""
    if not LIVE_URL:
        pytest.skip("set COMFYUI_URL to run live tests against a real ComfyUI")
    return LIVE_URL


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    """One throwaway PostgreSQL for the session (tests/pg_cluster.py), stopped at the end, also after
    Ctrl-C. Fails (never skips) with the package to install when the server binaries are missing."""
    from pg_cluster import PgCluster, PgUnavailable

    cluster = PgCluster()
    try:
        cluster.start()
    except PgUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def pg_dsn(pg_cluster: PgCluster) -> Iterator[str]:
    """The DSN of a fresh database ``test_<uuid>`` on the session's cluster, dropped after the test."""
    with pg_cluster.database() as dsn:
        yield dsn
