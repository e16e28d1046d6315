"""pytest plugin (``pytest11`` entry point): the ``sandbox`` fixture, a fresh ComfyUI double per test.

Example::

    def test_run(sandbox):
        client = Client(sandbox.url)
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from comfyctl.testing.sandbox import Sandbox


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    """A running sandbox on a free port with its folders under the test's tmp_path."""
    from comfyctl.testing.sandbox import Sandbox

    with Sandbox(port=0, root=tmp_path / "comfyui") as sb:
        yield sb
