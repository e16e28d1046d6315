"""``comfyctl mcp`` and ``comfyctl skill``: the two ways an agent host gets comfyctl.

``mcp`` serves every operation as an MCP tool (stdio, or streamable HTTP with ``--http``); it is
the only command that imports the MCP SDK. ``skill`` prints (or installs) the agent skill, the
SKILL.md that teaches an agent to drive ``comfyctl ... --json`` from a shell.
"""

from __future__ import annotations

from pathlib import Path

import click

from comfyctl.cli._common import command, emit, info, state
from comfyctl.errors import UsageError

__all__ = ["SKILL_FILE", "mcp", "skill"]

#: The one copy of the skill shipped in the package (skills/comfyui/SKILL.md is a checked copy).
SKILL_FILE = Path(__file__).with_name("SKILL.md")


def _http_address(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    try:
        number = int(port)
    except ValueError:
        raise click.BadParameter(
            "expected [HOST:]PORT, e.g. 8765 or 0.0.0.0:8765", param_hint="'--http'"
        ) from None
    if not 0 < number < 65536:
        raise click.BadParameter(f"port {number} is out of range", param_hint="'--http'")
    return host or "127.0.0.1", number


@command("mcp")
@click.option("--http", "http", metavar="[HOST:]PORT", help="Serve streamable HTTP at /mcp instead of stdio.")
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Inventory cache folder [env COMFYCTL_STATE_DIR; default ./state].",
)
def mcp(http: str | None, state_dir: Path | None) -> None:
    """Serve every comfyctl operation as an MCP tool, for agent hosts (needs the [mcp] extra).

    Server settings as for every command (--url, --token, COMFYUI_*, the config file). Nothing is
    sent to ComfyUI until a tool is called. Offline workflows go to ./projects/.

    Example (host configuration): {"command": "comfyctl", "args": ["mcp", "--url", "http://127.0.0.1:8188"]}
    """
    address = _http_address(http) if http else None
    try:
        import anyio

        from comfyctl.mcp.runtime import Runtime
        from comfyctl.mcp.server import build_server
    except ImportError as exc:
        raise UsageError(
            f"the MCP server needs the MCP SDK ({exc.name or exc} is missing)",
            hint="install it: pip install 'comfyctl[mcp]'",
        ) from exc
    runtime = Runtime(state().settings(), state_dir=state_dir)
    server = build_server(runtime)

    async def serve() -> None:
        try:
            if address is None:
                await server.run_stdio_async()
            else:
                host, port = address
                info(f"MCP server (streamable HTTP) at http://{host}:{port}/mcp")
                await server.run_streamable_http_async(host=host, port=port, streamable_http_path="/mcp")
        finally:
            await runtime.aclose()

    anyio.run(serve)


@command("skill")
@click.option(
    "--install",
    "install_dir",
    type=click.Path(file_okay=False, path_type=Path),
    metavar="DIR",
    help="Write DIR/comfyui/SKILL.md (e.g. ~/.claude/skills) instead of printing it.",
)
@click.option("--overwrite", is_flag=True, help="Replace an existing, different SKILL.md.")
def skill(install_dir: Path | None, overwrite: bool) -> None:
    """Print the agent skill (SKILL.md) that teaches an agent to use comfyctl, or install it.

    Example: comfyctl skill --install ~/.claude/skills
    """
    text = SKILL_FILE.read_text(encoding="utf-8")
    if install_dir is None:
        click.echo(text, nl=False)
        return
    from comfyctl.offline import atomic_write_bytes

    target = install_dir.expanduser() / "comfyui" / "SKILL.md"
    if target.exists() and not overwrite:
        try:
            same = target.read_text(encoding="utf-8") == text
        except (OSError, UnicodeDecodeError):
            same = False
        if not same:
            raise UsageError(f"{target} exists and differs", hint="pass --overwrite to replace it")
    try:
        atomic_write_bytes(target, text.encode("utf-8"))
    except OSError as exc:
        raise UsageError(f"cannot write {target}: {exc.strerror or exc}") from exc
    emit({"installed": str(target)}, str(target))
