"""Package-level promises: a light import, a complete public API."""

from __future__ import annotations

import subprocess
import sys

import comfyctl

HEAVY = ("click", "rich", "mcp", "aiohttp", "PIL", "comfyctl.testing", "comfyctl.cli")


def test_import_loads_no_cli_server_or_agent_dependencies() -> None:
    code = f"import sys, comfyctl; print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_all_is_complete_and_resolvable() -> None:
    for name in comfyctl.__all__:
        assert hasattr(comfyctl, name), name
    public = {n for n in dir(comfyctl) if not n.startswith("_") and n[0].isupper()}
    assert public <= set(comfyctl.__all__), public - set(comfyctl.__all__)


def test_the_console_script_needs_no_extra() -> None:
    """`pip install comfyctl` gives a working `comfyctl`: what the CLI imports is a core dependency."""
    import re
    from importlib.metadata import requires

    core = {re.split(r"[<>=\[; ]", r)[0] for r in requires("comfyctl") or [] if "extra ==" not in r}
    assert {"click", "rich", "httpx", "websockets"} <= core


def test_only_the_mcp_command_loads_the_mcp_sdk(tmp_path: object) -> None:
    """`comfyctl --help` and the other commands start without the MCP SDK; `comfyctl mcp` needs it."""
    probe = (
        "import sys\n"
        "from comfyctl.cli.main import cli\n"
        "try:\n"
        "    cli.main(args=sys.argv[1:], prog_name='comfyctl')\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = ('mcp', 'comfyctl.mcp', 'pydantic')\n"
        "sys.stderr.write('MODULES:' + ','.join(m for m in heavy if m in sys.modules))\n"
    )
    for args in (
        ["--help"],
        ["skill"],
        ["status", "--url", "http://127.0.0.1:9", "--json"],
        ["mcp", "--help"],
    ):
        out = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True, text=True, timeout=60)
        assert out.stderr.rsplit("MODULES:", 1)[1] == "", (args, out.stderr[-500:])
    from comfyctl.cli.main import LAZY_COMMANDS

    assert LAZY_COMMANDS["mcp"][0] == "comfyctl.cli.agent_cmds:mcp"
