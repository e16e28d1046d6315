"""Server-supplied names can never escape the download folder."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import pytest
from hypothesis import given
from hypothesis import strategies as st

from comfyctl._safepath import free_name, safe_relpath
from comfyctl.errors import UnsafePath


@pytest.mark.parametrize(
    ("filename", "subfolder", "expected"),
    [
        ("x.png", "", "x.png"),
        ("x.png", "a/b", "a/b/x.png"),
        ("../../x.png", "", "x.png"),
        ("/etc/passwd", "", "passwd"),
        ("C:\\Windows\\evil.dll", "", "evil.dll"),
        ("x.png", "../../..", "x.png"),
        ("x.png", "/abs/./dir/../y", "abs/dir/y/x.png"),
        ("x.png", "D:\\sub\\dir", "sub/dir/x.png"),
        ("con.txt", "", "_con.txt"),
        ("ok.png.", "", "ok.png"),
    ],
)
def test_neutralised(filename: str, subfolder: str, expected: str) -> None:
    assert str(safe_relpath(filename, subfolder)) == expected


@pytest.mark.parametrize(
    ("filename", "subfolder"),
    [
        ("", ""),
        ("..", ""),
        ("/", ""),
        ("a\x00b.png", ""),
        ("x.png", "a\x00"),
        ("x\n.png", ""),
        ("a" * 300, ""),
    ],
)
def test_refused(filename: str, subfolder: str) -> None:
    with pytest.raises(UnsafePath):
        safe_relpath(filename, subfolder)


@given(st.text(max_size=40), st.text(max_size=40))
def test_any_name_stays_inside(filename: str, subfolder: str) -> None:
    try:
        rel = safe_relpath(filename, subfolder)
    except UnsafePath:
        return
    assert not rel.is_absolute() and ".." not in rel.parts and "" not in rel.parts
    root = Path("/tmp/root")
    assert root in (root / rel).parents


def test_free_name_never_reuses_a_taken_name() -> None:
    taken = {"a.png", "a (1).png"}
    assert free_name(PurePosixPath("a.png"), lambda p: str(p) in taken) == PurePosixPath("a (2).png")
    assert free_name(PurePosixPath("sub/b"), lambda p: False) == PurePosixPath("sub/b")
